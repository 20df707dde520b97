//! QIDO-RS latency as the catalogue grows: p50 and p99 of the study-level searches by PatientID
//! and by StudyDate, the series of a study and the instances of a series, at 10⁴ and 10⁶
//! instances (synthetic catalogue rows) on SQLite and PostgreSQL, through `Store::search_*` (the
//! queries the DICOMweb handlers run; HTTP and JSON are not in the figure). The baseline is the
//! same catalogue and queries with the QIDO indexes of migration 0008 dropped: what the index
//! buys. Interleaved per query; one catalogue per size and backend.
//!
//! `cargo run --release -p corelab-bench --bin qido [-- --sizes 10000,1000000 --queries 200]`
//! PostgreSQL: `CORELAB_TEST_PG` (default postgres://postgres@127.0.0.1:5432/postgres); a fresh
//! database is created and dropped.

use anyhow::Result;
use corelab_core::TrialFile;
use corelab_store::dicomweb::{InstanceKeys, Match, SeriesKeys, StudyKeys, Within};
use corelab_store::{Overrides, Store};
use std::time::{Duration, Instant};

const TRIAL: &str = r#"
[trial]
id = "QIDO"
sponsor = "S"
protocol = "P"
phase = "III"

[[sites]]
id = "S01"
name = "A"

[[sites]]
id = "S02"
name = "B"
"#;

/// Instances per series, series per study, studies per subject.
const PER_SERIES: i64 = 50;
const PER_STUDY: i64 = 2;
const PER_SUBJECT: i64 = 2;

const INDEXES: &[(&str, &str)] = &[
    ("studies_by_date", "studies (trial_id, study_date)"),
    ("studies_by_patient", "studies (trial_id, patient_id)"),
    ("studies_by_subject", "studies (subject_id)"),
    (
        "instances_by_series",
        "instances (series_id, instance_number)",
    ),
    ("instances_by_supersedes", "instances (supersedes_id)"),
];

fn args() -> (Vec<i64>, usize) {
    let (mut sizes, mut queries) = (vec![10_000, 1_000_000], 200);
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        match (w[0].as_str(), w.get(1)) {
            ("--sizes", Some(s)) => sizes = s.split(',').filter_map(|x| x.parse().ok()).collect(),
            ("--queries", Some(n)) => queries = n.parse().unwrap_or(queries),
            _ => eprintln!("ignored argument {w:?}"),
        }
    }
    (sizes, queries)
}

async fn exec(store: &Store, sql: String) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(store.db.pool())
        .await?;
    Ok(())
}

/// Fills the catalogue with `n` instances: subjects, studies (a date each), series, instances.
async fn fill(store: &Store, n: i64) -> Result<()> {
    let trial: i64 = sqlx::query_scalar("SELECT id FROM trials WHERE trial_key = 'QIDO'")
        .fetch_one(store.db.pool())
        .await?;
    let sites: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM sites WHERE trial_id = $1 ORDER BY id")
            .bind(trial)
            .fetch_all(store.db.pool())
            .await?;
    let blob = "0".repeat(64);
    exec(store, format!(
        "INSERT INTO blobs (sha256, size, media_type, created_at) VALUES ('{blob}', 0, 'application/dicom', 'now') ON CONFLICT DO NOTHING"
    )).await?;
    let subjects = n / (PER_SERIES * PER_STUDY * PER_SUBJECT);
    let at = "2026-01-01T00:00:00.000000Z";
    let mut rows = Vec::new();
    for j in 1..=subjects {
        let site = sites[(j % 2) as usize];
        rows.push(format!("({j}, {trial}, {site}, 'SUBJ-{j:07}', '{at}')"));
    }
    for c in rows.chunks(1000) {
        exec(
            store,
            format!(
                "INSERT INTO subjects (id, trial_id, site_id, subject_key, created_at) VALUES {}",
                c.join(",")
            ),
        )
        .await?;
    }
    let mut studies = Vec::new();
    let mut series = Vec::new();
    let mut study_id = 0;
    let mut series_id = 0;
    for j in 1..=subjects {
        for s in 0..PER_SUBJECT {
            study_id += 1;
            // Dates spread over ten years, one per study.
            let day = (j * 7 + s * 180) % 3650;
            let date = chrono_date(day);
            studies.push(format!(
                "({study_id}, {trial}, {j}, '1.2.826.0.1.{study_id}', '{date}', '093000', 'SUBJ-{j:07}', 'SUBJ-{j:07}', 'CT CHEST', '{at}')"
            ));
            for k in 0..PER_STUDY {
                series_id += 1;
                series.push(format!(
                    "({series_id}, {study_id}, '1.2.826.0.1.{study_id}.{k}', 'CT', {k}, '{at}')"
                ));
            }
        }
    }
    for c in studies.chunks(1000) {
        exec(store, format!("INSERT INTO studies (id, trial_id, subject_id, study_instance_uid, study_date, study_time, patient_id, patient_name, description, created_at) VALUES {}", c.join(","))).await?;
    }
    for c in series.chunks(1000) {
        exec(store, format!("INSERT INTO series (id, study_id, series_instance_uid, modality, series_number, created_at) VALUES {}", c.join(","))).await?;
    }
    let mut batch = Vec::with_capacity(2000);
    let mut id = 0;
    for se in 1..=series_id {
        for i in 1..=PER_SERIES {
            id += 1;
            batch.push(format!(
                "({id}, {trial}, {se}, '1.2.826.0.2.{se}.{i}', '1.2.840.10008.5.1.4.1.1.2', '{blob}', '1.2.840.10008.1.2.1', '{at}', {i}, '{{\"00280010\":{{\"vr\":\"US\",\"Value\":[512]}}}}')"
            ));
            if batch.len() == 2000 {
                exec(store, insert_instances(&batch)).await?;
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        exec(store, insert_instances(&batch)).await?;
    }
    // Statistics for the planner, as a live installation would have them.
    exec(store, "ANALYZE".into()).await?;
    Ok(())
}

fn insert_instances(rows: &[String]) -> String {
    format!(
        "INSERT INTO instances (id, trial_id, series_id, sop_instance_uid, sop_class_uid, blob_sha256, transfer_syntax, received_at, instance_number, attributes) VALUES {}",
        rows.join(",")
    )
}

/// `YYYYMMDD` of day `d` after 2016-01-01 (months of 30 days: the dates only need to differ).
fn chrono_date(d: i64) -> String {
    format!(
        "{:04}{:02}{:02}",
        2016 + d / 360,
        1 + (d % 360) / 30,
        1 + d % 30
    )
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// Times `queries` runs of each search; returns (name, p50 ms, p99 ms) per search.
async fn measure(store: &Store, n: i64, queries: usize) -> Result<Vec<(&'static str, f64, f64)>> {
    let within = Within {
        trial: "QIDO".into(),
        sites: None,
        limit: 100,
        offset: 0,
    };
    let subjects = n / (PER_SERIES * PER_STUDY * PER_SUBJECT);
    let studies = subjects * PER_SUBJECT;
    let mut t: [Vec<Duration>; 4] = Default::default();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |m: i64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m as u64) as i64 + 1
    };
    for _ in 0..queries {
        let j = next(subjects);
        let by_patient = StudyKeys {
            patient_id: Some(Match::Exact(format!("SUBJ-{j:07}"))),
            ..StudyKeys::default()
        };
        let s = Instant::now();
        let r = store.search_studies(&within, &by_patient).await?;
        t[0].push(s.elapsed());
        assert_eq!(r.len() as i64, PER_SUBJECT);
        let date = chrono_date((next(subjects) * 7) % 3650);
        let by_date = StudyKeys {
            study_date: Some(Match::Exact(date)),
            ..StudyKeys::default()
        };
        let s = Instant::now();
        let r = store.search_studies(&within, &by_date).await?;
        t[1].push(s.elapsed());
        assert!(!r.is_empty());
        let st = next(studies);
        let study = StudyKeys {
            study_uid: Some(Match::Exact(format!("1.2.826.0.1.{st}"))),
            ..StudyKeys::default()
        };
        let s = Instant::now();
        let r = store
            .search_series(&within, &study, &SeriesKeys::default())
            .await?;
        t[2].push(s.elapsed());
        assert_eq!(r.len() as i64, PER_STUDY);
        let series = SeriesKeys {
            series_uid: Some(Match::Exact(format!("1.2.826.0.1.{st}.0"))),
            ..SeriesKeys::default()
        };
        let s = Instant::now();
        let r = store
            .search_instances(&within, &study, &series, &InstanceKeys::default())
            .await?;
        t[3].push(s.elapsed());
        assert_eq!(r.len() as i64, PER_SERIES);
    }
    let names = [
        "studies by PatientID",
        "studies by StudyDate",
        "series of a study",
        "instances of a series",
    ];
    Ok(names
        .into_iter()
        .zip(t)
        .map(|(name, v)| (name, pct(v.clone(), 0.5), pct(v, 0.99)))
        .collect())
}

#[tokio::main]
async fn main() -> Result<()> {
    let (sizes, queries) = args();
    println!(
        "| database | instances | query | corelab p50 (ms) | corelab p99 (ms) | no QIDO indexes p50 (ms) | no QIDO indexes max of 5 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for pg in [false, true] {
        for &n in &sizes {
            let dir = tempfile::tempdir()?;
            let pgdb = if pg {
                Some(corelab_testkit::PgDb::create().await)
            } else {
                None
            };
            let over = Overrides {
                database: pgdb.as_ref().map(|p| p.url.clone()),
                ..Overrides::default()
            };
            let store = Store::init(&dir.path().join("lab"), &over, "bench").await?;
            store
                .create_trial("bench", &TrialFile::parse(TRIAL)?, TRIAL)
                .await?;
            let s = Instant::now();
            fill(&store, n).await?;
            eprintln!(
                "{}: {n} instances filled in {:.1} s",
                if pg { "PostgreSQL" } else { "SQLite" },
                s.elapsed().as_secs_f64()
            );
            let with = measure(&store, n, queries).await?;
            let db = if pg { "PostgreSQL" } else { "SQLite" };
            // Without indexes every search scans, and counting a study's latest instances scans
            // once per instance: past 10⁵ instances a run takes hours, so the baseline stops there.
            let without = if n <= 100_000 {
                for (name, _) in INDEXES {
                    exec(&store, format!("DROP INDEX {name}")).await?;
                }
                exec(&store, "ANALYZE".into()).await?;
                // A few runs tell enough (p99 is then their maximum).
                let w = measure(&store, n, queries.min(5)).await?;
                for (name, def) in INDEXES {
                    exec(&store, format!("CREATE INDEX {name} ON {def}")).await?;
                }
                Some(w)
            } else {
                None
            };
            for (i, (q, p50, p99)) in with.iter().enumerate() {
                let base = match &without {
                    Some(w) => format!("{:.1} | {:.1}", w[i].1, w[i].2),
                    None => "not run | not run".to_owned(),
                };
                println!("| {db} | {n} | {q} | {p50:.2} | {p99:.2} | {base} |");
            }
            drop(store);
            drop(pgdb);
        }
    }
    Ok(())
}
