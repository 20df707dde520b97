//! The store suite, run on SQLite and on PostgreSQL alike.

mod common;

use common::{Fixture, Kind, TRIAL};
use corelab_core::TrialFile;
use corelab_store::{Overrides, Store, StoreError};

both_backends! {
    async fn a_new_installation_holds_one_verified_event(kind: Kind) {
        let f = Fixture::new(kind).await;
        let s = f.reopen().await;
        let status = s.status().await.unwrap();
        assert_eq!(status.audit_events, 1);
        assert_eq!((status.studies, status.series, status.instances, status.quarantined), (0, 0, 0, 0));
        let ev = &s.audit_events(None, None).await.unwrap()[0];
        assert_eq!((ev.seq, ev.action.as_str(), ev.actor.as_str()), (1, "installation.init", "test:init"));
        let report = s.verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.events, 1);
    }
}

both_backends! {
    async fn creating_a_trial_stores_sites_ae_titles_the_file_and_one_event_per_change(kind: Kind) {
        let f = Fixture::new(kind).await;
        let file = TrialFile::parse(TRIAL).unwrap();
        let t = f.store.create_trial("test:analyst", &file, TRIAL).await.unwrap();
        assert_eq!((t.id.as_str(), t.sites, t.phase.as_str()), ("MS-PHASE2-001", 2, "IIb"));
        let sites = f.store.sites("MS-PHASE2-001").await.unwrap();
        assert_eq!(sites[0].ae_titles, vec!["S01MR", "S01PACS"]);
        assert_eq!(sites[1].country.as_deref(), Some("DE"));
        // the trial file is a blob whose content reads back exactly
        let text = f.store.blobs.get(&t.config_sha256.parse().unwrap()).await.unwrap();
        assert_eq!(text.as_ref(), TRIAL.as_bytes());
        let events = f.store.audit_events(None, None).await.unwrap();
        let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["installation.init", "blob.put", "trial.create"]);
        assert_eq!(events[2].actor, "test:analyst");
        let payload: serde_json::Value = serde_json::from_str(&events[2].payload).unwrap();
        assert!(payload["after_sha256"].as_str().unwrap().len() == 64);
        assert!(payload["before_sha256"].is_null());
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}

both_backends! {
    async fn a_duplicate_trial_is_refused_and_writes_nothing(kind: Kind) {
        let f = Fixture::new(kind).await;
        let file = TrialFile::parse(TRIAL).unwrap();
        f.store.create_trial("test", &file, TRIAL).await.unwrap();
        let before = f.store.status().await.unwrap();
        let err = f.store.create_trial("test", &file, TRIAL).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(err.to_string(), "trial MS-PHASE2-001 already exists");
        let after = f.store.status().await.unwrap();
        assert_eq!(before.audit_events, after.audit_events);
        assert_eq!(after.trials.len(), 1);
    }
}

async fn expect_rejected(f: &Fixture, sql: &str, what: &str) {
    let r = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(f.store.db.pool())
        .await;
    assert!(r.is_err(), "the database accepted {what}: {sql}");
}

both_backends! {
    async fn the_database_itself_enforces_uniqueness_and_references(kind: Kind) {
        let f = Fixture::new(kind).await;
        let file = TrialFile::parse(TRIAL).unwrap();
        let t = f.store.create_trial("test", &file, TRIAL).await.unwrap();
        let blob = &t.config_sha256;
        let now = "2026-01-01T00:00:00.000000Z";
        // A site of a trial that does not exist.
        expect_rejected(&f, &format!("INSERT INTO sites (trial_id, site_key, name, created_at) VALUES (999, 'X', 'x', '{now}')"), "a dangling trial reference").await;
        // The same AE title twice in one trial.
        expect_rejected(&f, "INSERT INTO site_ae_titles (trial_id, site_id, ae_title) SELECT trial_id, site_id, 'S01PACS' FROM site_ae_titles LIMIT 1", "a duplicate AE title").await;
        // An AE title of one trial's site attached to a site of another trial.
        expect_rejected(&f, "INSERT INTO site_ae_titles (trial_id, site_id, ae_title) SELECT trial_id + 1, site_id, 'OTHER' FROM site_ae_titles LIMIT 1", "a site from another trial").await;
        // One SOP Instance UID per trial and version.
        f.sql(&format!("INSERT INTO subjects (trial_id, site_id, subject_key, created_at) SELECT trial_id, id, 'SUBJ1', '{now}' FROM sites WHERE site_key = 'S01'")).await;
        f.sql(&format!("INSERT INTO studies (trial_id, subject_id, study_instance_uid, created_at) SELECT trial_id, id, '1.2.3', '{now}' FROM subjects")).await;
        f.sql(&format!("INSERT INTO series (study_id, series_instance_uid, modality, created_at) SELECT id, '1.2.3.4', 'MR', '{now}' FROM studies")).await;
        let instance = |version: i64| format!(
            "INSERT INTO instances (trial_id, series_id, sop_instance_uid, sop_class_uid, version, blob_sha256, transfer_syntax, received_at) \
             SELECT st.trial_id, se.id, '1.2.3.4.5', '1.2.840.10008.5.1.4.1.1.4', {version}, '{blob}', '1.2.840.10008.1.2.1', '{now}' FROM series se JOIN studies st ON st.id = se.study_id");
        f.sql(&instance(1)).await;
        expect_rejected(&f, &instance(1), "the same SOP Instance UID twice at one version").await;
        f.sql(&instance(2)).await; // a correction is a new version
        // An instance whose blob is not catalogued.
        expect_rejected(&f, &instance(3).replace(blob.as_str(), &"0".repeat(64)), "a dangling blob reference").await;
        // Unknown states and roles.
        expect_rejected(&f, &format!("INSERT INTO users (username, display_name, role, created_at) VALUES ('u', 'U', 'god', '{now}')"), "an unknown role").await;
        expect_rejected(&f, &format!("INSERT INTO quarantine (source, reason, blob_sha256, state, received_at) VALUES ('x', 'y', '{blob}', 'lost', '{now}')"), "an unknown quarantine state").await;
        // A measurement without a unit.
        expect_rejected(&f, &format!("INSERT INTO measurements (algorithm, name, value, unit, provenance, created_at) VALUES ('a@1', 'v', 1.0, '', '{{}}', '{now}')"), "a measurement without a unit").await;
        let status = f.store.status().await.unwrap();
        assert_eq!((status.studies, status.series, status.instances), (1, 1, 2));
    }
}

both_backends! {
    async fn a_schema_newer_than_the_binary_is_refused_with_the_versions(kind: Kind) {
        let f = Fixture::new(kind).await;
        f.sql("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', TRUE, X'00', 1)".replace("X'00'", match kind { Kind::Sqlite => "X'00'", Kind::Postgres => "'\\x00'::bytea" }).as_str()).await;
        let before = f.store.status().await.unwrap().audit_events;
        let err = Store::open(&f.lab(), &Overrides::default()).await.unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { found: 9999, known: 10, .. }), "{err}");
        assert!(err.to_string().contains("newer than this corelab knows"), "{err}");
        assert_eq!(f.store.status().await.unwrap().audit_events, before);
    }
}

both_backends! {
    async fn concurrent_writers_keep_one_unbroken_chain(kind: Kind) {
        let f = Fixture::new(kind).await;
        let store = std::sync::Arc::new(f.reopen().await);
        let mut tasks = Vec::new();
        for w in 0..4 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let mut tx = s.begin(&format!("test:w{w}")).await.unwrap();
                    tx.record(corelab_store::NewEvent::new("test.concurrent", "thing", &format!("{w}-{i}"))).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }));
        }
        for t in tasks { t.await.unwrap(); }
        let report = store.verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.events, 101);
    }
}

#[tokio::test]
async fn a_directory_that_is_not_an_installation_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let err = Store::open(dir.path(), &Overrides::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().display().to_string())
            && msg.contains("not a corelab installation"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "open changed the directory"
    );
}

#[tokio::test]
async fn init_refuses_a_non_empty_directory_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.docx"), "precious").unwrap();
    let err = Store::init(dir.path(), &Overrides::default(), "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("thesis.docx")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn init_against_an_unreachable_database_fails_clearly_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    let over = Overrides {
        database: Some("postgres://corelab:secret@127.0.0.1:9/none".into()),
        ..Default::default()
    };
    let err = Store::init(&lab, &over, "t").await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot connect to database postgres://corelab:***@127.0.0.1:9/none"),
        "{msg}"
    );
    assert!(!msg.contains("secret"), "password leaked: {msg}");
    assert!(!lab.exists(), "init left a half-made installation");
}

#[tokio::test]
async fn opening_with_a_database_of_another_installation_is_refused() {
    let pg = corelab_testkit::PgDb::create().await;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let over = Overrides {
        database: Some(pg.url.clone()),
        ..Default::default()
    };
    Store::init(&a.path().join("lab"), &over, "t")
        .await
        .unwrap();
    let err = Store::init(&b.path().join("lab"), &over, "t")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already belongs to installation"),
        "{err}"
    );
    assert!(!b.path().join("lab").exists());
    let sqlite_lab = b.path().join("lab2");
    Store::init(&sqlite_lab, &Overrides::default(), "t")
        .await
        .unwrap();
    let err = Store::open(&sqlite_lab, &over).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongInstallation { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_out_pair_postgres_and_s3_holds_blobs_and_audit_anchors_in_s3() {
    let pg = corelab_testkit::PgDb::create().await;
    let s3 = corelab_testkit::S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    let over = Overrides {
        database: Some(pg.url.clone()),
        store: Some(s3.url("corelab")),
        s3_settings: s3.env(),
    };
    let store = Store::init(&lab, &over, "t").await.unwrap();
    assert!(
        !lab.join("blobs").exists(),
        "no local blob folder when the store is S3"
    );
    let file = TrialFile::parse(TRIAL).unwrap();
    let t = store.create_trial("t", &file, TRIAL).await.unwrap();
    store.checkpoint().await.unwrap().unwrap();
    let on_s3 = s3.root.path().join(&s3.bucket).join("corelab");
    let hex = &t.config_sha256;
    assert!(
        on_s3
            .join(format!("sha256/{}/{}/{hex}", &hex[..2], &hex[2..4]))
            .is_file()
    );
    assert!(
        on_s3
            .join("audit-anchors")
            .join(store.installation.id())
            .is_dir()
    );
    // Reopened from corelab.toml alone (S3 settings from the caller), it verifies with the anchor.
    let reopened = Store::open(
        &lab,
        &Overrides {
            s3_settings: s3.env(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let r = reopened.verify_audit().await.unwrap();
    assert!(r.ok && r.anchors == 1, "{r:?}");
}

both_backends! {
    async fn locks_count_up_from_one_with_amendments_audited_and_the_file_they_came_from(kind: Kind) {
        let f = Fixture::new(kind).await;
        let file = TrialFile::parse(TRIAL).unwrap();
        let t = f.store.create_trial("test", &file, TRIAL).await.unwrap();
        let trial = "MS-PHASE2-001";
        let sha = |c: char| std::iter::repeat_n(c, 64).collect::<String>();
        // An amendment before any lock is refused.
        let e = f.store.record_lock("test", trial, "{}", &sha('a'), Some((TRIAL, "why"))).await.unwrap_err();
        assert_eq!(e.to_string(), "trial MS-PHASE2-001 has no lock to amend; lock it first (corelab trial lock)");
        let first = f.store.record_lock("test:lead", trial, r#"{"v":1}"#, &sha('a'), None).await.unwrap();
        assert_eq!((first.version, first.config_sha256.as_str()), (1, t.config_sha256.as_str()));
        // Locking again is refused: change comes through an amendment.
        let e = f.store.record_lock("test", trial, "{}", &sha('b'), None).await.unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        let amended = format!("{TRIAL}\n# amended\n");
        let second = f
            .store
            .record_lock("test:lead", trial, r#"{"v":2}"#, &sha('b'), Some((&amended, "new threshold per DMC")))
            .await
            .unwrap();
        assert_eq!(second.version, 2);
        assert_ne!(second.config_sha256, t.config_sha256);
        let now = f.store.trial(trial).await.unwrap().unwrap();
        assert_eq!(now.config_sha256, second.config_sha256, "the amended file is the trial's file");
        let locks = f.store.trial_locks(trial).await.unwrap();
        assert_eq!(locks.iter().map(|l| l.version).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(locks[1].reason.as_deref(), Some("new threshold per DMC"));
        assert_eq!(locks[0].lock_json, r#"{"v":1}"#);
        let actions: Vec<String> = f.store.audit_events(None, None).await.unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(actions.iter().filter(|a| *a == "trial.lock").count(), 1);
        assert_eq!(actions.iter().filter(|a| *a == "trial.amend").count(), 1);
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}
