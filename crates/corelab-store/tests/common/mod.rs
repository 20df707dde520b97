//! Shared fixtures: one installation per test, on SQLite or on a fresh PostgreSQL database.
#![allow(dead_code)]

use corelab_store::{NewEvent, Overrides, Store};
use corelab_testkit::PgDb;
use serde_json::json;

/// An installation under test and what keeps its backing alive.
pub struct Fixture {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDb>,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Fixture {
    pub async fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pg = match kind {
            Kind::Sqlite => None,
            Kind::Postgres => Some(PgDb::create().await),
        };
        let over = Overrides {
            database: pg.as_ref().map(|p| p.url.clone()),
            ..Default::default()
        };
        let store = Store::init(&dir.path().join("lab"), &over, "test:init")
            .await
            .unwrap();
        Fixture { store, dir, pg }
    }

    pub fn lab(&self) -> std::path::PathBuf {
        self.dir.path().join("lab")
    }

    /// Reopens the installation (as a new process would).
    pub async fn reopen(&self) -> Store {
        Store::open(&self.lab(), &Overrides::default())
            .await
            .unwrap()
    }

    /// Appends `n` events in transactions of `batch`.
    pub async fn append(&self, n: i64, batch: i64) {
        let mut done = 0;
        while done < n {
            let mut tx = self.store.begin("test:writer").await.unwrap();
            for _ in 0..batch.min(n - done) {
                done += 1;
                tx.record(
                    NewEvent::new("test.event", "thing", &format!("T{done}"))
                        .after(&json!({"n": done}))
                        .details(json!({"n": done})),
                )
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    }

    /// Runs one raw statement against the database (as a tamperer with database access would).
    pub async fn sql(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.store.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Generates `#[tokio::test]`s named `sqlite` and `postgres` in a module named after the test.
#[macro_export]
macro_rules! both_backends {
    ($(#[$m:meta])* async fn $name:ident($k:ident: Kind) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$m])*
            async fn run($k: Kind) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run(Kind::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run(Kind::Postgres).await }
        }
    };
}

pub const TRIAL: &str = r#"
[trial]
id = "MS-PHASE2-001"
sponsor = "Example Pharma"
protocol = "EXP-2026-01"
phase = "IIb"

[[sites]]
id = "S01"
name = "University Hospital A"
ae_titles = ["S01PACS", "S01MR"]

[[sites]]
id = "S02"
name = "Clinic B"
country = "DE"
ae_titles = ["S02PACS"]
"#;
