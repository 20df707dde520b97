//! The two migration folders stay in step: the same migrations, and the same tables and columns
//! once applied.

use corelab_store::Db;
use std::collections::BTreeSet;

fn names(folder: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn both_backends_have_the_same_migration_files() {
    let (s, p) = (names("sqlite"), names("postgres"));
    assert!(!s.is_empty());
    assert_eq!(s, p);
}

async fn columns(db: &Db, sql: &str) -> BTreeSet<(String, String)> {
    sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .filter(|(t, _)| !t.starts_with("_sqlx") && !t.starts_with("sqlite_"))
        .collect()
}

#[tokio::test]
async fn migrations_define_the_same_tables_and_columns_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Db::connect(&format!("sqlite://{}/x.db", dir.path().display()), true)
        .await
        .unwrap();
    let pg_db = corelab_testkit::PgDb::create().await;
    let pg = Db::connect(&pg_db.url, false).await.unwrap();
    let s = columns(&sqlite, "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'").await;
    let p = columns(&pg, "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema()").await;
    assert!(s.len() > 100, "{}", s.len());
    assert_eq!(s, p);
    assert_eq!(
        sqlite.applied_version().await.unwrap(),
        pg.applied_version().await.unwrap()
    );
    pg.close().await;
}
