//! The metadata database: one code base over SQLite (embedded default) and PostgreSQL
//! (scale-out), through sqlx's `Any` driver with runtime queries and `$N` placeholders.
//!
//! Only four things differ by backend, and all live here: the migration folder (DDL differs),
//! how a write transaction starts (SQLite takes its single write lock up front with
//! `BEGIN IMMEDIATE`, so two writers never deadlock on a lock upgrade), connection set-up, and
//! how a queue row is taken ([`Backend::skip_locked`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! nothing on SQLite, whose write transaction already excludes every other writer).

use crate::error::{Result, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Transaction};
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, or an error naming the URL.
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::DbUnreachable {
                url: redact(url),
                why: "expected a sqlite://… or postgres://… URL".into(),
            })
        }
    }

    /// The clause that ends a `SELECT` of one queue row to take inside a write transaction:
    /// on PostgreSQL the row is locked, and rows other transactions hold are skipped, so that
    /// concurrent takers each get a different row without waiting; on SQLite nothing (the
    /// `BEGIN IMMEDIATE` write transaction already runs alone).
    pub fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// A database URL with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A pool of connections to the metadata database, migrated to this binary's schema.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

impl Db {
    /// Connects to `url`, applies pending migrations, and refuses a schema newer than this binary.
    ///
    /// `create_sqlite` allows a missing SQLite file to be created (only `init` does that).
    pub async fn connect(url: &str, create_sqlite: bool) -> Result<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::of_url(url)?;
        let shown = redact(url);
        let unreachable = |e: &dyn std::fmt::Display| StoreError::DbUnreachable {
            url: shown.clone(),
            why: e.to_string(),
        };
        let mut connect_url = url.to_owned();
        if backend == Backend::Sqlite {
            let path = sqlite_path(url);
            if !create_sqlite && !std::path::Path::new(&path).exists() {
                return Err(unreachable(&format!("database file {path} does not exist")));
            }
            if create_sqlite && !url.contains("mode=") {
                connect_url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        let options = AnyConnectOptions::from_str(&connect_url).map_err(|e| unreachable(&e))?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // foreign_keys is per connection; synchronous=FULL makes every commit
                        // durable before it returns (invariant 1).
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 30000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| unreachable(&e))?;
        if backend == Backend::Sqlite {
            // WAL is a property of the file: readers never block the single writer.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| unreachable(&e))?;
        }
        let db = Db {
            pool,
            backend,
            url: shown,
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<()> {
        let migrator = self.backend.migrator();
        let known = self.known_version();
        if let Some(found) = self.applied_version().await?
            && found > known
        {
            return Err(StoreError::SchemaTooNew {
                url: self.url.clone(),
                found,
                known,
            });
        }
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration {
                url: self.url.clone(),
                why: e.to_string(),
            })
    }

    /// The highest migration version applied, or `None` on an empty database.
    pub async fn applied_version(&self) -> Result<Option<i64>> {
        let exists_sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let n: i64 = sqlx::query_scalar(exists_sql)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("reading the schema version"))?;
        if n == 0 {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::db("reading the schema version"))
    }

    /// The highest migration this binary knows.
    pub fn known_version(&self) -> i64 {
        self.backend
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(StoreError::db("starting a write transaction"))
    }

    /// The connection pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL, password removed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The file path in a `sqlite://PATH[?…]` URL.
pub fn sqlite_path(url: &str) -> String {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.split('?').next().unwrap_or(rest).to_owned()
}

/// The `sqlite://` URL of a file.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}
