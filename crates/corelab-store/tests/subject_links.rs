//! Trial subjects and their sealed links, on SQLite and PostgreSQL: named by the trial's rule or
//! assigned by the site, stable for a returning patient, never in the clear in the database, and
//! revealed only with the trial key, as an audited act.

mod common;

use common::{Fixture, Kind, TRIAL};
use corelab_core::{SubjectIdRule, TrialFile};
use corelab_store::{OriginalIdentity, StoreError};

fn jane() -> OriginalIdentity {
    OriginalIdentity {
        patient_id: "MRN-0042".into(),
        patient_name: "Doe^Jane".into(),
        issuer: "HOSP-A".into(),
        birth_date: "19610412".into(),
    }
}

fn john() -> OriginalIdentity {
    OriginalIdentity {
        patient_id: "MRN-0043".into(),
        patient_name: "Roe^John".into(),
        ..Default::default()
    }
}

async fn with_trial(kind: Kind) -> Fixture {
    let f = Fixture::new(kind).await;
    let file = TrialFile::parse(TRIAL).unwrap();
    f.store.create_trial("test", &file, TRIAL).await.unwrap();
    f
}

both_backends! {
    async fn the_rule_names_subjects_and_a_returning_patient_keeps_his(kind: Kind) {
        let f = with_trial(kind).await;
        let seq: SubjectIdRule = "{site}-{seq:3}".parse().unwrap();
        let a = f.store.subject_for("test", "MS-PHASE2-001", "S01", &jane(), &seq).await.unwrap();
        assert_eq!((a.subject.as_str(), a.created), ("S01-001", true));
        let b = f.store.subject_for("test", "MS-PHASE2-001", "S01", &john(), &seq).await.unwrap();
        assert_eq!(b.subject, "S01-002");
        let again = f.store.subject_for("test", "MS-PHASE2-001", "S01", &jane(), &seq).await.unwrap();
        assert_eq!((again.subject.as_str(), again.created), ("S01-001", false));
        // The same patient ID at another site is another person.
        let other = f.store.subject_for("test", "MS-PHASE2-001", "S02", &jane(), &seq).await.unwrap();
        assert_eq!(other.subject, "S02-001");
        // The default rule is the keyed hash a site gateway computes from the same trial key.
        let hashed = f.store.subject_for("test", "MS-PHASE2-001", "S02", &john(), &SubjectIdRule::default()).await.unwrap();
        let secret = f.store.trial_secret("MS-PHASE2-001").unwrap();
        assert_eq!(hashed.subject, SubjectIdRule::default().render(&secret, "", 0, "MRN-0043"));
        assert_eq!(f.store.status().await.unwrap().trials[0].subjects, 4);
    }
}

both_backends! {
    async fn nothing_identifying_is_stored_in_the_clear(kind: Kind) {
        let f = with_trial(kind).await;
        f.store.subject_for("test", "MS-PHASE2-001", "S01", &jane(), &SubjectIdRule::default()).await.unwrap();
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT lookup, sealed FROM subject_links")
            .fetch_all(f.store.db.pool()).await.unwrap();
        assert_eq!(rows.len(), 1);
        let events = f.store.audit_events(None, None).await.unwrap();
        let everything = format!("{rows:?} {events:?}");
        for phi in ["MRN-0042", "Doe", "Jane", "19610412", "HOSP-A"] {
            assert!(!everything.contains(phi), "{phi} stored in the clear");
        }
        // The key lives in the data directory, readable by its owner only.
        let key = f.lab().join("trial-keys/MS-PHASE2-001.key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

both_backends! {
    async fn revealing_needs_the_key_and_a_reason_and_is_audited(kind: Kind) {
        let f = with_trial(kind).await;
        let s = f.store.subject_for("test", "MS-PHASE2-001", "S01", &jane(), &SubjectIdRule::default()).await.unwrap();
        let err = f.store.reveal_subjects("test:dm", "MS-PHASE2-001", Some(&s.subject), " ").await.unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
        let r = f.store.reveal_subjects("test:dm", "MS-PHASE2-001", Some(&s.subject), "SAE report 12").await.unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].original, jane());
        assert_eq!((r[0].site.as_str(), r[0].origin.as_str()), ("S01", "rule"));
        let last = f.store.audit_events(None, None).await.unwrap().pop().unwrap();
        assert_eq!((last.action.as_str(), last.actor.as_str()), ("subject.reveal", "test:dm"));
        assert!(last.payload.contains("SAE report 12"));
        // A sealed record moved to another row does not open.
        f.store.subject_for("test", "MS-PHASE2-001", "S01", &john(), &SubjectIdRule::default()).await.unwrap();
        f.sql("UPDATE subject_links SET sealed = (SELECT sealed FROM subject_links WHERE id = 1) WHERE id = 2").await;
        let err = f.store.reveal_subjects("test:dm", "MS-PHASE2-001", None, "audit").await.unwrap_err();
        assert!(err.to_string().contains("does not open"), "{err}");
        // Without the key file, nothing can be named or revealed.
        std::fs::remove_file(f.lab().join("trial-keys/MS-PHASE2-001.key")).unwrap();
        let err = f.store.reveal_subjects("test:dm", "MS-PHASE2-001", Some(&s.subject), "x").await.unwrap_err();
        assert!(matches!(err, StoreError::Key { .. }), "{err}");
    }
}

both_backends! {
    async fn a_site_assignment_wins_and_conflicts_are_refused(kind: Kind) {
        let f = with_trial(kind).await;
        let a = f.store.assign_subject("test:site", "MS-PHASE2-001", "S01", &jane(), "101-001").await.unwrap();
        assert_eq!((a.subject.as_str(), a.created), ("101-001", true));
        // Images arriving later find the site's ID, whatever the rule.
        let found = f.store.subject_for("test", "MS-PHASE2-001", "S01", &jane(), &SubjectIdRule::default()).await.unwrap();
        assert_eq!((found.subject.as_str(), found.created), ("101-001", false));
        // Assigning the same again is a no-op; another ID for the same patient, or a taken ID, is refused.
        assert!(!f.store.assign_subject("test:site", "MS-PHASE2-001", "S01", &jane(), "101-001").await.unwrap().created);
        let err = f.store.assign_subject("test:site", "MS-PHASE2-001", "S01", &jane(), "101-009").await.unwrap_err();
        assert!(err.to_string().contains("already subject 101-001"), "{err}");
        let err = f.store.assign_subject("test:site", "MS-PHASE2-001", "S01", &john(), "101-001").await.unwrap_err();
        assert!(err.to_string().contains("already taken"), "{err}");
        let err = f.store.assign_subject("test:site", "MS-PHASE2-001", "S01", &john(), "a\\b").await.unwrap_err();
        assert!(err.to_string().contains("not usable"), "{err}");
        let err = f.store.assign_subject("test:site", "MS-PHASE2-001", "S99", &john(), "x-1").await.unwrap_err();
        assert!(err.to_string().contains("no site S99"), "{err}");
        assert!(f.store.verify_audit().await.unwrap().ok);
    }
}

both_backends! {
    async fn concurrent_first_sightings_of_one_patient_make_one_subject(kind: Kind) {
        let f = with_trial(kind).await;
        let rule: SubjectIdRule = "{site}-{seq:3}".parse().unwrap();
        let store = &f.store;
        let who = jane();
        let tasks = (0..8).map(|_| store.subject_for("test", "MS-PHASE2-001", "S01", &who, &rule));
        let results = futures::future::join_all(tasks).await;
        let ids: std::collections::BTreeSet<_> = results.into_iter().map(|r| r.unwrap().subject).collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(f.store.status().await.unwrap().trials[0].subjects, 1);
    }
}
