//! Audit append throughput (events/s) on SQLite and PostgreSQL, side by side with a baseline: the
//! same rows inserted into a plain table without the chain (no canonical hashing, no head row,
//! no checkpoints). The ratio is the price of tamper evidence. Variants run interleaved, three
//! repetitions each, and the medians are reported.
//!
//! `cargo run --release -p corelab-bench --bin audit-append [-- --reps 3 --single 1000 --batched 20000]`
//! PostgreSQL: `CORELAB_TEST_PG` (default postgres://postgres@127.0.0.1:5432/postgres); a fresh
//! database is created and dropped.

use anyhow::Result;
use corelab_store::{NewEvent, Overrides, Store};
use serde_json::json;
use std::time::Instant;

struct Args {
    reps: usize,
    single: i64,
    batched: i64,
    batch: i64,
}

fn args() -> Args {
    let mut a = Args {
        reps: 3,
        single: 1000,
        batched: 20_000,
        batch: 100,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        let n = w.get(1).and_then(|x| x.parse().ok());
        match (w[0].as_str(), n) {
            ("--reps", Some(n)) => a.reps = n as usize,
            ("--single", Some(n)) => a.single = n,
            ("--batched", Some(n)) => a.batched = n,
            ("--batch", Some(n)) => a.batch = n,
            _ => eprintln!("ignored argument {:?}", w),
        }
    }
    a
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Chain,
    Plain,
}

async fn run(
    store: &Store,
    variant: Variant,
    n: i64,
    per_tx: i64,
    offset: &mut i64,
) -> Result<f64> {
    let t = Instant::now();
    let mut done = 0;
    while done < n {
        let mut tx = store.begin("bench").await?;
        for _ in 0..per_tx.min(n - done) {
            done += 1;
            *offset += 1;
            let details =
                json!({"n": *offset, "series": "1.2.826.0.1.3680043.2.1125.1", "instances": 42});
            match variant {
                Variant::Chain => {
                    tx.record(
                        NewEvent::new("bench.event", "series", &format!("S{}", *offset))
                            .after(&details)
                            .details(details),
                    )
                    .await?;
                }
                Variant::Plain => {
                    sqlx::query(
                        "INSERT INTO bench_plain (id, at, actor, action, object_type, object_id, payload) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(*offset)
                    .bind(corelab_store::time::now_text())
                    .bind("bench")
                    .bind("bench.event")
                    .bind("series")
                    .bind(format!("S{}", *offset))
                    .bind(details.to_string())
                    .execute(tx.conn())
                    .await?;
                }
            }
        }
        tx.commit().await?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args();
    let dir = tempfile::tempdir()?;
    let pg = corelab_testkit::PgDb::create().await;
    let sqlite = Store::init(&dir.path().join("sqlite"), &Overrides::default(), "bench").await?;
    let postgres = Store::init(
        &dir.path().join("pg"),
        &Overrides {
            database: Some(pg.url.clone()),
            ..Default::default()
        },
        "bench",
    )
    .await?;
    for s in [&sqlite, &postgres] {
        sqlx::query("CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, at TEXT, actor TEXT, action TEXT, object_type TEXT, object_id TEXT, payload TEXT)")
            .execute(s.db.pool())
            .await?;
    }
    let mut rows = Vec::new();
    for (name, store) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        let mut offset_plain = 0;
        let mut offset_chain = 0;
        for (mode, n, per_tx) in [
            ("1 event per transaction", a.single, 1),
            ("batches of N per transaction", a.batched, a.batch),
        ] {
            let mut chain = Vec::new();
            let mut plain = Vec::new();
            for _ in 0..a.reps {
                // interleaved, so that drift on a noisy machine hits both alike
                chain.push(run(store, Variant::Chain, n, per_tx, &mut offset_chain).await?);
                plain.push(run(store, Variant::Plain, n, per_tx, &mut offset_plain).await?);
            }
            let (c, p) = (median(chain), median(plain));
            let mode = mode.replace('N', &a.batch.to_string());
            rows.push(format!(
                "| {name} | {mode} | {n} | {c:.0} | {p:.0} | {:.2} |",
                c / p
            ));
        }
    }
    let report = sqlite.verify_audit().await?;
    let report_pg = postgres.verify_audit().await?;
    anyhow::ensure!(
        report.ok && report_pg.ok,
        "the benchmark's own chains do not verify"
    );
    println!(
        "| database | transactions | events per run | corelab audit append (events/s, median of {}) | plain insert, no chain (events/s) | ratio |",
        a.reps
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nchains verified afterwards: SQLite {} events, PostgreSQL {} events",
        report.events, report_pg.events
    );
    postgres.db.close().await;
    Ok(())
}
