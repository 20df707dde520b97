//! Job throughput (jobs/s) of corelab's queue with 1 and 2 workers on SQLite and PostgreSQL, side
//! by side with a baseline: a bare queue table claimed the same way (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, an exclusive transaction on SQLite) without audit events, leases, results or
//! measurements. The algorithm is trivial (one measurement, computed instantly), so the figure is
//! the queue's own cost per job: claim (audited), complete (result, measurement, audited).
//! Variants run interleaved, three repetitions each; medians reported.
//!
//! `cargo run --release -p corelab-bench --bin jobs [-- --jobs 300 --reps 3]`
//! PostgreSQL: `CORELAB_TEST_PG` (default postgres://postgres@127.0.0.1:5432/postgres); a fresh
//! database is created and dropped.

use anyhow::Result;
use corelab_core::TrialFile;
use corelab_store::{JobDone, NewJob, NewMeasurement, Overrides, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TRIAL: &str = r#"
[trial]
id = "BENCH"
sponsor = "S"
protocol = "P"
phase = "II"

[[sites]]
id = "S01"
name = "A"
"#;

fn args() -> (i64, usize) {
    let (mut jobs, mut reps) = (300, 3);
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        match (w[0].as_str(), w.get(1).and_then(|x| x.parse::<i64>().ok())) {
            ("--jobs", Some(n)) => jobs = n,
            ("--reps", Some(n)) => reps = n as usize,
            _ => eprintln!("ignored argument {w:?}"),
        }
    }
    (jobs, reps)
}

async fn enqueue(store: &Store, n: i64, round: &str) -> Result<()> {
    for i in 0..n {
        store
            .enqueue_job(
                "bench",
                &NewJob {
                    trial: "BENCH".into(),
                    algorithm_id: "bench.trivial".into(),
                    algorithm_version: "1.0.0".into(),
                    fingerprint: "f".repeat(64),
                    lock_version: 1,
                    params: json!({}),
                    inputs: json!({"image": {"series_instance_uid": format!("1.2.{i}")}}),
                    subject: "SUBJ-BENCH".into(),
                    visit: "baseline".into(),
                    idempotency_key: format!("{round}-{i}"),
                    max_attempts: 3,
                },
            )
            .await?;
        sqlx::query("INSERT INTO bench_queue (id, round, state) VALUES ($1, $2, 'queued')")
            .bind(i)
            .bind(round)
            .execute(store.db.pool())
            .await?;
    }
    Ok(())
}

async fn corelab_worker(store: Arc<Store>, name: String) -> Result<()> {
    while let Some(job) = store
        .claim_job(&name, Duration::from_secs(60), Some("BENCH"))
        .await?
    {
        let done = JobDone {
            result: json!({"measurements": [{"name": "x", "value": 1.0, "unit": "1"}]}),
            measurements: vec![NewMeasurement {
                name: "x".into(),
                value: job.id as f64,
                unit: "1".into(),
                series_instance_uid: None,
                provenance: "{}".into(),
            }],
            blobs: vec![],
        };
        store.complete_job(job.id, &name, &done).await?;
    }
    Ok(())
}

async fn plain_worker(store: Arc<Store>, name: String, round: String, pg: bool) -> Result<()> {
    let select = if pg {
        "SELECT id FROM bench_queue WHERE round = $1 AND state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
    } else {
        "SELECT id FROM bench_queue WHERE round = $1 AND state = 'queued' ORDER BY id LIMIT 1"
    };
    loop {
        let mut tx = store.begin(&name).await?;
        let id: Option<i64> = sqlx::query_scalar(select)
            .bind(&round)
            .fetch_optional(tx.conn())
            .await?;
        let Some(id) = id else { return Ok(()) };
        sqlx::query(
            "UPDATE bench_queue SET state = 'running', worker = $1 WHERE id = $2 AND round = $3",
        )
        .bind(&name)
        .bind(id)
        .bind(&round)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        sqlx::query("UPDATE bench_queue SET state = 'succeeded', result = '{}' WHERE id = $1 AND round = $2")
            .bind(id)
            .bind(&round)
            .execute(store.db.pool())
            .await?;
    }
}

async fn timed(
    dir: &Path,
    over: &Overrides,
    workers: usize,
    plain: Option<(&str, bool)>,
) -> Result<f64> {
    let mut stores = Vec::new();
    for _ in 0..workers {
        stores.push(Arc::new(Store::open(dir, over).await?));
    }
    let t = Instant::now();
    let mut handles = Vec::new();
    for (n, store) in stores.into_iter().enumerate() {
        let name = format!("w{n}");
        handles.push(match plain {
            None => tokio::spawn(corelab_worker(store, name)),
            Some((round, pg)) => tokio::spawn(plain_worker(store, name, round.to_owned(), pg)),
        });
    }
    for h in handles {
        h.await??;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let (n, reps) = args();
    let tmp = tempfile::tempdir()?;
    let pg = corelab_testkit::PgDb::create().await;
    let backends: [(&str, PathBuf, Overrides, bool); 2] = [
        (
            "SQLite",
            tmp.path().join("sqlite"),
            Overrides::default(),
            false,
        ),
        (
            "PostgreSQL",
            tmp.path().join("pg"),
            Overrides {
                database: Some(pg.url.clone()),
                ..Default::default()
            },
            true,
        ),
    ];
    let mut rows = Vec::new();
    for (name, dir, over, is_pg) in &backends {
        let store = Store::init(dir, over, "bench").await?;
        let file = TrialFile::parse(TRIAL)?;
        store.create_trial("bench", &file, TRIAL).await?;
        store
            .ensure_subject("bench", "BENCH", "S01", "SUBJ-BENCH")
            .await?;
        sqlx::query("CREATE TABLE bench_queue (id BIGINT, round TEXT, state TEXT, worker TEXT, result TEXT, PRIMARY KEY (round, id))")
            .execute(store.db.pool())
            .await?;
        for workers in [1, 2] {
            let (mut ours, mut base) = (Vec::new(), Vec::new());
            for r in 0..reps {
                let round = format!("{name}-{workers}-{r}");
                enqueue(&store, n, &round).await?;
                // interleaved: corelab's queue, then the bare one, on the same jobs
                ours.push(n as f64 / timed(dir, over, workers, None).await?);
                base.push(n as f64 / timed(dir, over, workers, Some((&round, *is_pg))).await?);
            }
            let (c, b) = (median(ours), median(base));
            rows.push(format!(
                "| {name} | {workers} | {n} | {c:.0} | {b:.0} | {:.2} |",
                c / b
            ));
        }
        let failed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'succeeded'")
                .fetch_one(store.db.pool())
                .await?;
        assert_eq!(failed, 0, "every job succeeded");
        assert!(store.verify_audit().await?.ok, "audit chain intact");
    }
    println!(
        "| database | workers | jobs per run | corelab queue (jobs/s, median of {reps}) | bare SKIP LOCKED queue (jobs/s) | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
