//! What QC stores, on SQLite and on PostgreSQL alike: evaluations kept whole and never
//! overwritten, people's decisions, and queries moving open → answered → closed, each change
//! with its audit event and nothing changed by a refused step.

mod common;

use common::{Fixture, Kind, TRIAL};
use corelab_core::TrialFile;
use corelab_store::{QueryStep, StoreError};
use serde_json::json;

both_backends! {
    async fn evaluations_decisions_and_queries_are_kept_and_audited(kind: Kind) {
        let f = Fixture::new(kind).await;
        let file = TrialFile::parse(TRIAL).unwrap();
        let t = f.store.create_trial("test", &file, TRIAL).await.unwrap();
        let (sha, text) = f.store.trial_file_text("MS-PHASE2-001").await.unwrap();
        assert_eq!((sha.as_str(), text.as_str()), (t.config_sha256.as_str(), TRIAL));
        assert!(f.store.trial_series("MS-PHASE2-001").await.unwrap().is_empty());
        assert!(f.store.latest_qc_evaluation("MS-PHASE2-001").await.unwrap().is_none());

        let first = f.store
            .record_qc_evaluation("test:qc", "MS-PHASE2-001", &sha, &json!({"b": 1, "a": [2]}), json!({"fail": 0}))
            .await
            .unwrap();
        assert_eq!(first.report_json, r#"{"a":[2],"b":1}"#, "canonical JSON");
        let second = f.store
            .record_qc_evaluation("test:qc", "MS-PHASE2-001", &sha, &json!({"a": 3}), json!({"fail": 1}))
            .await
            .unwrap();
        assert!(second.id > first.id);
        let latest = f.store.latest_qc_evaluation("MS-PHASE2-001").await.unwrap().unwrap();
        assert_eq!(latest, second);

        let d = f.store
            .record_qc_decision("test:analyst", "MS-PHASE2-001", "visit:SUBJ-1/W24", "pass", "reviewed")
            .await
            .unwrap();
        assert_eq!((d.status.as_str(), d.actor.as_str()), ("pass", "test:analyst"));
        for (status, reason) in [("maybe", "r"), ("fail", "  ")] {
            let e = f.store
                .record_qc_decision("test", "MS-PHASE2-001", "series:1.2", status, reason)
                .await
                .unwrap_err();
            assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        }
        assert_eq!(f.store.qc_decisions("MS-PHASE2-001").await.unwrap(), vec![d]);

        let q = f.store
            .raise_query("test:analyst", "MS-PHASE2-001", "series:1.2", "slice thickness 8 mm?")
            .await
            .unwrap();
        assert_eq!(q.state, "open");
        let e = f.store
            .step_query("test", "MS-PHASE2-001", q.id + 100, QueryStep::Answer, "x")
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)), "{e}");
        let a = f.store
            .step_query("test:site", "MS-PHASE2-001", q.id, QueryStep::Answer, "protocol error; rescanned")
            .await
            .unwrap();
        assert_eq!((a.state.as_str(), a.answered_by.as_deref()), ("answered", Some("test:site")));
        let again = f.store
            .step_query("test:site", "MS-PHASE2-001", q.id, QueryStep::Answer, "again")
            .await
            .unwrap_err();
        assert!(again.to_string().contains("is answered"), "{again}");
        let c = f.store
            .step_query("test:analyst", "MS-PHASE2-001", q.id, QueryStep::Close, "rescan received")
            .await
            .unwrap();
        assert_eq!((c.state.as_str(), c.resolution.as_deref()), ("closed", Some("rescan received")));
        assert!(f.store.queries("MS-PHASE2-001", false).await.unwrap().is_empty());
        assert_eq!(f.store.queries("MS-PHASE2-001", true).await.unwrap(), vec![c]);

        let actions: Vec<String> = f.store.audit_events(None, None).await.unwrap()
            .into_iter().map(|e| e.action).collect();
        let qc: Vec<&str> = actions.iter().map(String::as_str)
            .filter(|a| a.starts_with("qc.") || a.starts_with("query.")).collect();
        assert_eq!(qc, ["qc.evaluate", "qc.evaluate", "qc.decide", "query.raise", "query.answer", "query.close"]);
        assert!(f.store.verify_audit().await.unwrap().ok);
        let e = f.store.trial_series("NOPE").await.unwrap_err();
        assert_eq!(e.to_string(), "no trial NOPE");
    }
}

both_backends! {
    async fn the_audit_trail_is_searched_by_actor_action_object_and_text(kind: Kind) {
        let f = Fixture::new(kind).await;
        let file = TrialFile::parse(TRIAL).unwrap();
        f.store.create_trial("test", &file, TRIAL).await.unwrap();
        let d = f.store
            .record_qc_decision("http:analyst", "MS-PHASE2-001", "series:1.2", "fail", "motion 100%_bad")
            .await
            .unwrap();
        f.store
            .record_qc_decision("http:other", "MS-PHASE2-001", "series:3.4", "pass", "fine")
            .await
            .unwrap();
        let search = |filter: corelab_store::AuditFilter| {
            let store = &f.store;
            async move { store.search_audit(&filter, 100, 0).await.unwrap() }
        };
        let all = f.store.audit_events(None, None).await.unwrap();
        let by_action = search(corelab_store::AuditFilter { action: Some("qc.decide".into()), ..Default::default() }).await;
        assert_eq!(by_action.len(), 2);
        let mine = search(corelab_store::AuditFilter {
            action: Some("qc.decide".into()),
            actor: Some("http:analyst".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].reason.as_deref(), Some(d.reason.as_str()));
        // One object's history; a text with LIKE's metacharacters matched literally.
        let object = search(corelab_store::AuditFilter {
            object_type: Some(mine[0].object_type.clone()),
            object_id: Some(mine[0].object_id.clone()),
            ..Default::default()
        })
        .await;
        assert_eq!(object, mine);
        let text = search(corelab_store::AuditFilter { text: Some("100%_b".into()), ..Default::default() }).await;
        assert_eq!(text, mine);
        assert!(search(corelab_store::AuditFilter { text: Some("100%%".into()), ..Default::default() }).await.is_empty());
        // Newest first, paged.
        let newest = f.store
            .search_audit(&corelab_store::AuditFilter { newest_first: true, ..Default::default() }, 2, 1)
            .await
            .unwrap();
        assert_eq!(newest.len(), 2);
        assert_eq!(newest[0].seq, all[all.len() - 2].seq);
        assert_eq!(newest[1].seq, all[all.len() - 3].seq);
    }
}
