//! The job queue, on SQLite and on PostgreSQL alike: idempotent enqueueing, concurrent workers
//! each taking different jobs, leases that expire and are taken over, retries and giving up,
//! and a completion that writes its measurements, blobs and result together or not at all —
//! each change with its audit event, the trail verified at the end.

mod common;

use bytes::Bytes;
use common::{Fixture, Kind, TRIAL};
use corelab_core::{Sha256Digest, TrialFile};
use corelab_store::audit::canonical_json;
use corelab_store::{Enqueued, JobDone, NewJob, NewMeasurement, Store, StoreError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const T: &str = "MS-PHASE2-001";
const MINUTE: Duration = Duration::from_secs(60);

async fn trial_with_subject(f: &Fixture) {
    let file = TrialFile::parse(TRIAL).unwrap();
    f.store.create_trial("test", &file, TRIAL).await.unwrap();
    f.store
        .ensure_subject("test", T, "S01", "SUBJ-1")
        .await
        .unwrap();
}

fn new_job(key: &str, max_attempts: i64) -> NewJob {
    NewJob {
        trial: T.into(),
        algorithm_id: "neuro.lesion-volume".into(),
        algorithm_version: "1.2.0".into(),
        fingerprint: "f".repeat(64),
        lock_version: 1,
        params: json!({"threshold": 0.5, "alpha": [1, 2]}),
        inputs: json!({"flair": "1.2.3.4"}),
        subject: "SUBJ-1".into(),
        visit: "W24".into(),
        idempotency_key: key.into(),
        max_attempts,
    }
}

async fn enqueue(s: &Store, key: &str, max_attempts: i64) -> i64 {
    match s
        .enqueue_job("test:engine", &new_job(key, max_attempts))
        .await
        .unwrap()
    {
        Enqueued::Created(id) => id,
        other => panic!("{other:?}"),
    }
}

/// `(action, object_id, details)` of every job event, in order.
async fn job_events(s: &Store) -> Vec<(String, String, Value)> {
    s.audit_events(None, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("job."))
        .map(|e| {
            let payload: Value = serde_json::from_str(&e.payload).unwrap();
            (e.action, e.object_id, payload["details"].clone())
        })
        .collect()
}

async fn event_count(s: &Store) -> i64 {
    s.status().await.unwrap().audit_events
}

async fn blob_rows(s: &Store, sha: &Sha256Digest) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE sha256 = $1")
        .bind(sha.to_hex())
        .fetch_one(s.db.pool())
        .await
        .unwrap()
}

fn measurement(name: &str, value: f64, unit: &str) -> NewMeasurement {
    NewMeasurement {
        name: name.into(),
        value,
        unit: unit.into(),
        series_instance_uid: Some("1.2.3.4".into()),
        provenance: r#"{"algorithm":"neuro.lesion-volume@1.2.0"}"#.into(),
    }
}

both_backends! {
    async fn enqueue_is_idempotent_by_trial_and_key(kind: Kind) {
        let f = Fixture::new(kind).await;
        trial_with_subject(&f).await;
        let id = enqueue(&f.store, "SUBJ-1/W24/neuro.lesion-volume", 3).await;
        let before = event_count(&f.store).await;
        let again = f.store.enqueue_job("test:engine", &new_job("SUBJ-1/W24/neuro.lesion-volume", 3)).await.unwrap();
        assert_eq!(again, Enqueued::Existing { id, state: "queued".into() });
        assert_eq!(again.id(), id);
        assert_eq!(event_count(&f.store).await, before, "a repeated enqueue writes nothing");

        let jobs = f.store.jobs(T).await.unwrap();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job, &f.store.job(T, id).await.unwrap());
        assert_eq!((job.state.as_str(), job.attempts, job.max_attempts), ("queued", 0, 3));
        assert_eq!((job.subject.as_str(), job.visit.as_str(), job.lock_version), ("SUBJ-1", "W24", 1));
        assert_eq!(job.params, json!({"alpha": [1, 2], "threshold": 0.5}));
        assert_eq!(job.run_after.as_deref(), Some(job.created_at.as_str()), "due at once");
        assert!(job.worker.is_none() && job.lease_until.is_none() && job.result.is_none());

        let events = job_events(&f.store).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!((events[0].0.as_str(), events[0].1.clone()), ("job.enqueue", format!("{T}/{id}")));
        assert_eq!(events[0].2["algorithm"], "neuro.lesion-volume@1.2.0");

        // the same key in the database twice is refused by the unique index itself
        let e = sqlx::query(
            "INSERT INTO jobs (trial_id, algorithm_id, algorithm_version, params, inputs, idempotency_key, created_at) \
             SELECT trial_id, algorithm_id, algorithm_version, params, inputs, idempotency_key, created_at FROM jobs",
        )
        .execute(f.store.db.pool())
        .await
        .unwrap_err();
        assert!(e.as_database_error().unwrap().is_unique_violation(), "{e}");

        let other = enqueue(&f.store, "another key", 1).await;
        assert!(other > id);
        let bad = |key: &str, subject: &str, max: i64| {
            let mut j = new_job(key, max);
            j.subject = subject.into();
            j
        };
        let e = f.store.enqueue_job("t", &bad("k", "NOBODY", 3)).await.unwrap_err();
        assert_eq!(e.to_string(), format!("trial {T} has no subject NOBODY"));
        let e = f.store.enqueue_job("t", &bad(" ", "SUBJ-1", 3)).await.unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        let e = f.store.enqueue_job("t", &bad("k", "SUBJ-1", 0)).await.unwrap_err();
        assert!(e.to_string().contains("max_attempts must be at least 1"), "{e}");
        let mut nope = new_job("k", 3);
        nope.trial = "NOPE".into();
        assert_eq!(f.store.enqueue_job("t", &nope).await.unwrap_err().to_string(), "no trial NOPE");
        assert_eq!(f.store.jobs("NOPE").await.unwrap_err().to_string(), "no trial NOPE");
        assert_eq!(f.store.measurements("NOPE").await.unwrap_err().to_string(), "no trial NOPE");
        let e = f.store.job(T, 999).await.unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)), "{e}");
        assert_eq!(e.to_string(), format!("trial {T} has no job 999"));
        assert_eq!(f.store.jobs(T).await.unwrap().len(), 2);
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}

both_backends! {
    async fn concurrent_workers_claim_every_job_exactly_once(kind: Kind) {
        let f = Fixture::new(kind).await;
        trial_with_subject(&f).await;
        for i in 0..20 {
            enqueue(&f.store, &format!("job-{i:02}"), 3).await;
        }
        // Four workers, each with its own connections as separate processes would have, all
        // opened before any starts claiming.
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(f.reopen().await);
        }
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let mut tasks = Vec::new();
        for (w, store) in stores.into_iter().enumerate() {
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                let worker = format!("worker-{w}");
                start.wait().await;
                let mut mine = Vec::new();
                while let Some(job) = store.claim_job(&worker, MINUTE, Some(T)).await.unwrap() {
                    assert_eq!(job.worker.as_deref(), Some(worker.as_str()));
                    assert_eq!((job.state.as_str(), job.attempts), ("running", 1));
                    mine.push(job.id);
                }
                (worker, mine)
            }));
        }
        let mut claimed: BTreeMap<i64, String> = BTreeMap::new();
        for t in tasks {
            let (worker, mine) = t.await.unwrap();
            for id in mine {
                if let Some(other) = claimed.insert(id, worker.clone()) {
                    panic!("job {id} handed to {other} and to {worker}");
                }
            }
        }
        assert_eq!(claimed.len(), 20);
        // On PostgreSQL the workers take jobs side by side (SKIP LOCKED); SQLite's single
        // writer may let one of them take nearly all.
        let workers: BTreeSet<&String> = claimed.values().collect();
        if matches!(kind, Kind::Postgres) {
            assert!(workers.len() >= 2, "the workers ran one after another: {workers:?}");
        }
        let jobs = f.store.jobs(T).await.unwrap();
        for j in &jobs {
            assert_eq!((j.state.as_str(), j.attempts), ("running", 1), "{j:?}");
            assert_eq!(j.worker.as_ref(), claimed.get(&j.id));
        }
        let starts: Vec<String> = job_events(&f.store).await.into_iter()
            .filter(|e| e.0 == "job.start").map(|e| e.1).collect();
        assert_eq!(starts.len(), 20);
        assert_eq!(starts.iter().collect::<BTreeSet<_>>().len(), 20, "one start per job");
        assert!(f.store.claim_job("late", MINUTE, None).await.unwrap().is_none());
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}

both_backends! {
    async fn an_expired_lease_is_taken_over_and_the_first_worker_is_refused(kind: Kind) {
        let f = Fixture::new(kind).await;
        trial_with_subject(&f).await;
        let id = enqueue(&f.store, "k", 3).await;
        let first = f.store.claim_job("w1", Duration::ZERO, None).await.unwrap().unwrap();
        assert_eq!((first.id, first.attempts), (id, 1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = f.store.claim_job("w2", MINUTE, Some(T)).await.unwrap().unwrap();
        assert_eq!((second.id, second.attempts, second.worker.as_deref()), (id, 2, Some("w2")));
        let start = job_events(&f.store).await.pop().unwrap();
        assert_eq!(start.0, "job.start");
        assert_eq!((start.2["attempt"].clone(), start.2["worker"].clone()), (json!(2), json!("w2")));
        assert_eq!(start.2["previous_worker"], "w1");

        assert!(!f.store.heartbeat_job(id, "w1", MINUTE).await.unwrap());
        let events = event_count(&f.store).await;
        assert!(f.store.heartbeat_job(id, "w2", 2 * MINUTE).await.unwrap());
        let renewed = f.store.job(T, id).await.unwrap();
        assert!(renewed.lease_until > second.lease_until, "{renewed:?}");
        assert_eq!(event_count(&f.store).await, events, "a heartbeat is not audited");

        let blob = f.store.blobs.put(Bytes::from_static(b"w1's mask")).await.unwrap();
        let done = JobDone {
            result: json!({"volume_ml": 1.5}),
            measurements: vec![measurement("lesion_volume", 1.5, "mL")],
            blobs: vec![(blob.sha256, blob.size as i64, "application/x-nifti".into())],
        };
        let e = f.store.complete_job(id, "w1", &done).await.unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&format!("job {id} of trial {T} is held by worker w2")), "{msg}");
        let e = f.store.fail_job(id, "w1", "too late", None).await.unwrap_err();
        assert!(e.to_string().contains("held by worker w2"), "{e}");
        assert_eq!(event_count(&f.store).await, events, "nothing written");
        assert!(f.store.measurements(T).await.unwrap().is_empty());
        assert_eq!(blob_rows(&f.store, &blob.sha256).await, 0);
        assert_eq!(f.store.job(T, id).await.unwrap(), renewed);

        let ok = f.store.complete_job(id, "w2", &done).await.unwrap();
        assert_eq!((ok.state.as_str(), ok.worker.as_deref(), ok.attempts), ("succeeded", Some("w2"), 2));
        assert_eq!(f.store.measurements(T).await.unwrap().len(), 1);
        assert!(!f.store.heartbeat_job(id, "w2", MINUTE).await.unwrap(), "finished");
        let e = f.store.complete_job(id, "w2", &done).await.unwrap_err();
        assert!(e.to_string().contains("is succeeded"), "{e}");
        let e = f.store.complete_job(id + 100, "w2", &done).await.unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)), "{e}");

        // A job whose workers keep dying is failed, not handed out again, once its attempts
        // are spent.
        let dying = enqueue(&f.store, "dies", 2).await;
        for w in ["d1", "d2"] {
            let j = f.store.claim_job(w, Duration::ZERO, None).await.unwrap().unwrap();
            assert_eq!(j.id, dying);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(f.store.claim_job("d3", MINUTE, None).await.unwrap().is_none());
        let dead = f.store.job(T, dying).await.unwrap();
        assert_eq!((dead.state.as_str(), dead.attempts), ("failed", 2));
        assert_eq!(dead.error.as_deref(), Some("lease expired 2 times: the worker died each time"));
        assert!(dead.finished_at.is_some());
        let last = job_events(&f.store).await.pop().unwrap();
        assert_eq!((last.0.as_str(), last.1.clone()), ("job.fail", format!("{T}/{dying}")));
        assert_eq!(last.2["previous_worker"], "d2");
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}

both_backends! {
    async fn a_failed_job_is_retried_until_its_attempts_are_spent(kind: Kind) {
        let f = Fixture::new(kind).await;
        trial_with_subject(&f).await;
        let id = enqueue(&f.store, "retried", 3).await;
        for attempt in 1..=3 {
            let j = f.store.claim_job("w", MINUTE, Some(T)).await.unwrap()
                .unwrap_or_else(|| panic!("attempt {attempt} not claimable"));
            assert_eq!((j.id, j.attempts), (id, attempt));
            let after = f.store.fail_job(id, "w", &format!("boom {attempt}"), Some(Duration::ZERO)).await.unwrap();
            assert_eq!(after.error.as_deref(), Some(format!("boom {attempt}").as_str()));
            if attempt < 3 {
                assert_eq!((after.state.as_str(), after.lease_until.as_deref()), ("queued", None));
                assert!(after.finished_at.is_none());
            } else {
                assert_eq!((after.state.as_str(), after.attempts), ("failed", 3));
                assert!(after.finished_at.is_some());
            }
        }
        assert!(f.store.claim_job("w", MINUTE, None).await.unwrap().is_none());
        let actions: Vec<String> = job_events(&f.store).await.into_iter().map(|e| e.0).collect();
        assert_eq!(actions, ["job.enqueue", "job.start", "job.retry", "job.start", "job.retry", "job.start", "job.fail"]);

        // A retry an hour away is not claimable now.
        let later = enqueue(&f.store, "later", 3).await;
        f.store.claim_job("w", MINUTE, None).await.unwrap().unwrap();
        let j = f.store.fail_job(later, "w", "scanner busy", Some(Duration::from_secs(3600))).await.unwrap();
        assert_eq!(j.state, "queued");
        assert!(j.run_after.as_deref().unwrap() > corelab_store::time::now_text().as_str());
        assert!(f.store.claim_job("w", MINUTE, None).await.unwrap().is_none());

        // No retry asked: failed at once, attempts left or not.
        let once = enqueue(&f.store, "once", 3).await;
        f.store.claim_job("w", MINUTE, None).await.unwrap().unwrap();
        let j = f.store.fail_job(once, "w", "bad input", None).await.unwrap();
        assert_eq!((j.state.as_str(), j.attempts, j.error.as_deref()), ("failed", 1, Some("bad input")));
        let e = f.store.fail_job(once, "w", "again", None).await.unwrap_err();
        assert!(e.to_string().contains("is failed"), "{e}");
        let last = job_events(&f.store).await.pop().unwrap();
        assert_eq!((last.0.as_str(), last.2["error"].clone()), ("job.fail", json!("bad input")));
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}

both_backends! {
    async fn a_completion_writes_measurements_blobs_and_result_together_or_not_at_all(kind: Kind) {
        let f = Fixture::new(kind).await;
        trial_with_subject(&f).await;
        let id = enqueue(&f.store, "done", 3).await;
        f.store.claim_job("w", MINUTE, None).await.unwrap().unwrap();
        let mask = f.store.blobs.put(Bytes::from_static(b"mask")).await.unwrap();
        let report = f.store.blobs.put(Bytes::from_static(b"report")).await.unwrap();
        let result = json!({"outputs": [{"role": "mask", "sha256": mask.sha256.to_hex()}], "b": 1});
        let done = JobDone {
            result: result.clone(),
            measurements: vec![
                measurement("lesion_volume", 12.25, "mL"),
                NewMeasurement { series_instance_uid: None, ..measurement("lesion_count", 3.0, "{count}") },
            ],
            blobs: vec![
                (report.sha256, report.size as i64, "application/json".into()),
                (mask.sha256, mask.size as i64, "application/x-nifti".into()),
            ],
        };
        let job = f.store.complete_job(id, "w", &done).await.unwrap();
        assert_eq!((job.state.as_str(), job.result.as_ref()), ("succeeded", Some(&result)));
        assert!(job.finished_at.is_some() && job.lease_until.is_none());
        assert_eq!(f.store.job(T, id).await.unwrap(), job);

        let ms = f.store.measurements(T).await.unwrap();
        let named: Vec<(&str, f64, &str, Option<&str>)> = ms.iter()
            .map(|m| (m.name.as_str(), m.value, m.unit.as_str(), m.series_instance_uid.as_deref()))
            .collect();
        assert_eq!(named, [("lesion_count", 3.0, "{count}", None), ("lesion_volume", 12.25, "mL", Some("1.2.3.4"))]);
        for m in &ms {
            assert_eq!((m.job_id, m.subject.as_str(), m.visit.as_str()), (id, "SUBJ-1", "W24"));
            assert_eq!(m.algorithm, "neuro.lesion-volume@1.2.0");
            assert_eq!(m.provenance, r#"{"algorithm":"neuro.lesion-volume@1.2.0"}"#);
        }
        for b in [&mask, &report] {
            assert_eq!(blob_rows(&f.store, &b.sha256).await, 1);
        }
        let events: Vec<_> = f.store.audit_events(None, None).await.unwrap();
        let tail: Vec<&str> = events.iter().rev().take(3).rev().map(|e| e.action.as_str()).collect();
        assert_eq!(tail, ["blob.put", "blob.put", "job.succeed"]);
        let succeed = job_events(&f.store).await.pop().unwrap();
        let sha = Sha256Digest::of(canonical_json(&result).as_bytes()).to_hex();
        assert_eq!((succeed.2["result_sha256"].clone(), succeed.2["measurements"].clone()), (json!(sha), json!(2)));

        // A measurement without a unit is refused by the database, and nothing of that
        // completion is written: no measurement, no blob, no event; the job stays running.
        let id2 = enqueue(&f.store, "no unit", 3).await;
        f.store.claim_job("w", MINUTE, None).await.unwrap().unwrap();
        let seg = f.store.blobs.put(Bytes::from_static(b"seg")).await.unwrap();
        let bad = JobDone {
            result: json!({"ok": true}),
            measurements: vec![measurement("lesion_volume", 1.0, "mL"), measurement("unitless", 2.0, "")],
            blobs: vec![(seg.sha256, seg.size as i64, "application/dicom".into())],
        };
        let before = event_count(&f.store).await;
        let e = f.store.complete_job(id2, "w", &bad).await.unwrap_err();
        assert!(matches!(e, StoreError::Db { .. }), "{e}");
        assert!(e.to_string().contains(&format!("job {id2}: recording measurement \"unitless\"")), "{e}");
        assert_eq!(event_count(&f.store).await, before);
        assert_eq!(f.store.measurements(T).await.unwrap().len(), 2);
        assert_eq!(blob_rows(&f.store, &seg.sha256).await, 0);
        let still = f.store.job(T, id2).await.unwrap();
        assert_eq!((still.state.as_str(), still.result.as_ref(), still.finished_at.as_ref()), ("running", None, None));

        // Not even tried: a value that is not a number, a provenance that is not JSON.
        let nan = JobDone { measurements: vec![measurement("x", f64::NAN, "mL")], ..bad.clone() };
        assert!(f.store.complete_job(id2, "w", &nan).await.unwrap_err().to_string().contains("not a finite number"));
        let prov = JobDone {
            measurements: vec![NewMeasurement { provenance: "id@1".into(), ..measurement("x", 1.0, "mL") }],
            ..bad.clone()
        };
        assert!(f.store.complete_job(id2, "w", &prov).await.unwrap_err().to_string().contains("is not JSON"));
        assert_eq!(event_count(&f.store).await, before);

        // Fixed, it completes.
        let good = JobDone { measurements: vec![measurement("lesion_volume", 1.0, "mL")], ..bad };
        assert_eq!(f.store.complete_job(id2, "w", &good).await.unwrap().state, "succeeded");
        assert_eq!(blob_rows(&f.store, &seg.sha256).await, 1);
        assert_eq!(f.store.measurements(T).await.unwrap().len(), 3);
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}
