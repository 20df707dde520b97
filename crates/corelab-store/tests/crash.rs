//! Crash consistency: a writer process is killed with SIGKILL, at random moments, in the middle
//! of its transactions; afterwards the database and the audit chain must agree, every change the
//! writer saw committed must be there, and `audit verify` must pass.

mod common;

use common::{Fixture, Kind};
use corelab_store::{NewEvent, Overrides, Store};
use serde_json::json;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CHILD_ENV: &str = "CORELAB_CRASH_CHILD_LAB";
const CHILD_TEST: &str = "crash_child_writer";

/// The writer. Not a test of its own: the crash tests run it in a child process.
#[tokio::test]
#[ignore = "run as a child process by the crash tests"]
async fn crash_child_writer() {
    let Ok(lab) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&lab), &Overrides::default())
        .await
        .unwrap();
    let pid = std::process::id();
    for i in 0u64.. {
        let fake = corelab_core::Sha256Digest::of(format!("{pid}-{i}").as_bytes());
        println!("begin {}", fake.to_hex());
        let mut tx = store.begin("test:crash-writer").await.unwrap();
        // the change …
        sqlx::query("INSERT INTO blobs (sha256, size, media_type, created_at) VALUES ($1, $2, 'test/crash', '2026-01-01T00:00:00.000000Z')")
            .bind(fake.to_hex())
            .bind(i as i64)
            .execute(tx.conn())
            .await
            .unwrap();
        // … a moment inside the transaction, so that kills land mid-transaction …
        tokio::time::sleep(Duration::from_millis(5)).await;
        // … and its event, committed together.
        tx.record(NewEvent::new("blob.put", "blob", &fake.to_hex()).after(&json!({"i": i})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        println!("committed {}", fake.to_hex());
    }
}

fn pseudo_random_ms(i: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let x = (nanos ^ (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    150 + (x >> 33) % 500
}

async fn kill_writers_repeatedly(kind: Kind) {
    let f = Fixture::new(kind).await;
    let lab = f.lab();
    // Sign every 10 events so that kills also land between a commit and its anchor.
    let cfg = lab.join("corelab.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("checkpoint_every = 1000", "checkpoint_every = 10"),
    )
    .unwrap();
    let db_url = f.store.db.url().to_owned();
    if let Some(pg) = &f.pg {
        // corelab.toml has the PostgreSQL URL already; make sure it is the fixture's.
        assert!(std::fs::read_to_string(&cfg).unwrap().contains(&pg.url));
    }
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged = Vec::new();
    let mut rolled_back = 0;
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                CHILD_TEST,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &lab)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let out = child.stdout.take().unwrap();
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        // Let it start and write for a random while, then kill it without warning.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("committed "))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(pseudo_random_ms(round)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let seen = lines.lock().unwrap().clone();
        let committed: Vec<String> = seen
            .iter()
            .filter_map(|l| l.strip_prefix("committed "))
            .map(str::to_owned)
            .collect();
        assert!(
            !committed.is_empty(),
            "round {round}: the writer committed nothing before it was killed"
        );
        acknowledged.extend(committed.iter().cloned());
        // The change the writer had begun when it died, if it never said it committed it.
        let in_flight = seen
            .last()
            .and_then(|l| l.strip_prefix("begin "))
            .map(str::to_owned);

        // A new process opens the installation: consistent, nothing acknowledged lost.
        let store = Store::open(&lab, &Overrides::default()).await.unwrap();
        assert_eq!(store.db.url(), db_url);
        let report = store.verify_audit().await.unwrap();
        assert!(report.ok, "round {round}: {report:?}");
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT sha256 FROM blobs WHERE media_type = 'test/crash' ORDER BY sha256",
        )
        .fetch_all(store.db.pool())
        .await
        .unwrap();
        let mut events: Vec<String> = sqlx::query_scalar("SELECT object_id FROM audit_events WHERE action = 'blob.put' AND actor = 'test:crash-writer'")
            .fetch_all(store.db.pool()).await.unwrap();
        events.sort();
        assert_eq!(
            rows, events,
            "round {round}: a change without its event, or an event without its change"
        );
        for sha in &acknowledged {
            assert!(
                rows.binary_search(sha).is_ok(),
                "round {round}: acknowledged change {sha} was lost"
            );
        }
        if let Some(sha) = in_flight
            && rows.binary_search(&sha).is_err()
        {
            rolled_back += 1; // killed inside the transaction, and nothing of it remains
        }
        store.db.close().await;
    }
    eprintln!(
        "{kind:?}: 6 kills ({rolled_back} inside a transaction), {} acknowledged changes, all present with their events",
        acknowledged.len()
    );
    // Each transaction spends most of its time between its change and its commit, so nearly
    // every kill lands inside one (all six missing has odds of about one in a million).
    assert!(
        rolled_back >= 1,
        "no kill landed inside a transaction; the test proved nothing"
    );
}

both_backends! {
    async fn a_writer_killed_mid_transaction_leaves_database_and_chain_consistent(kind: Kind) {
        kill_writers_repeatedly(kind).await;
    }
}
