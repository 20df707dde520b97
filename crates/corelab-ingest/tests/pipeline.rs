//! The ingest pipeline on SQLite and PostgreSQL: every file of the shared conformance corpus lands
//! or is quarantined with a reason; duplicates are acknowledged once; changed content becomes a
//! new version; quarantined originals are sealed and can be released or discarded, on record.

use bytes::Bytes;
use corelab_core::TrialFile;
use corelab_ingest::{Ingestor, Outcome, Source};
use corelab_store::{Overrides, Store};
use corelab_testkit::PgDb;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const TRIAL: &str = r#"
[trial]
id = "ING-1"
sponsor = "Example Pharma"
protocol = "EXP-9"
phase = "II"

[[sites]]
id = "S01"
name = "University Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates", "retain-safe-private"]
subject_id = "{site}-{seq:3}"
"#;

struct Lab {
    ingestor: Ingestor,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
    _pg: Option<PgDb>,
}

async fn lab(postgres: bool) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let pg = if postgres {
        Some(PgDb::create().await)
    } else {
        None
    };
    let over = Overrides {
        database: pg.as_ref().map(|p| p.url.clone()),
        ..Default::default()
    };
    let store = Store::init(&dir.path().join("lab"), &over, "test:init")
        .await
        .unwrap();
    store
        .create_trial("test", &TrialFile::parse(TRIAL).unwrap(), TRIAL)
        .await
        .unwrap();
    let store = Arc::new(store);
    Lab {
        ingestor: Ingestor::new(store.clone(), "test:ingest"),
        store,
        _dir: dir,
        _pg: pg,
    }
}

fn source(origin: &str) -> Source {
    Source {
        trial: "ING-1".into(),
        site: "S01".into(),
        origin: origin.into(),
        subject: None,
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom_conformance")
}

fn corpus_files() -> Vec<PathBuf> {
    let text = std::fs::read_to_string(corpus().join("inventory.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| corpus().join(l.split(',').next().unwrap()))
        .collect()
}

async fn the_corpus_lands_or_is_quarantined_with_a_reason(postgres: bool) {
    let lab = lab(postgres).await;
    let mut stored = 0;
    let mut quarantined = Vec::new();
    let mut skipped = 0;
    for file in corpus_files() {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.strip_prefix(corpus()).unwrap().display().to_string();
        match lab
            .ingestor
            .ingest(&source(&format!("import:{name}")), Bytes::from(bytes))
            .await
            .unwrap()
        {
            Outcome::Stored { .. } | Outcome::Duplicate { .. } | Outcome::Conflict { .. } => {
                stored += 1
            }
            Outcome::Quarantined { reason, .. } => {
                assert!(
                    reason.len() > 20,
                    "{name}: a reason that says little: {reason}"
                );
                quarantined.push(format!("{name}: {reason}"));
            }
            Outcome::Skipped { .. } => skipped += 1,
            Outcome::Refused { reason } => panic!("{name}: refused on first arrival: {reason}"),
        }
    }
    eprintln!(
        "{stored} stored, {skipped} skipped, {} quarantined:",
        quarantined.len()
    );
    for q in &quarantined {
        eprintln!("  {q}");
    }
    assert!(stored >= 150, "only {stored} stored");
    assert_eq!(stored + skipped + quarantined.len(), corpus_files().len());
    let status = lab.store.status().await.unwrap();
    assert_eq!(status.quarantined as usize, quarantined.len());
    assert!(status.instances as usize <= stored);
    let report = lab.store.verify_audit().await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn the_corpus_lands_or_is_quarantined_sqlite() {
    the_corpus_lands_or_is_quarantined_with_a_reason(false).await;
}

#[tokio::test]
async fn the_corpus_lands_or_is_quarantined_postgres() {
    the_corpus_lands_or_is_quarantined_with_a_reason(true).await;
}

async fn duplicates_and_versions(postgres: bool) {
    let lab = lab(postgres).await;
    let ct = std::fs::read(corpus().join("pydicom_test_files/CT_small.dcm")).unwrap();
    let first = lab
        .ingestor
        .ingest(&source("import:a"), Bytes::from(ct.clone()))
        .await
        .unwrap();
    let Outcome::Stored {
        sop_instance_uid,
        subject,
        version: 1,
        ..
    } = &first
    else {
        panic!("{first:?}")
    };
    assert_eq!(subject, "S01-001");
    assert!(sop_instance_uid.starts_with("2.25."));
    let again = lab
        .ingestor
        .ingest(&source("import:b"), Bytes::from(ct.clone()))
        .await
        .unwrap();
    assert_eq!(
        again,
        Outcome::Duplicate {
            sop_instance_uid: sop_instance_uid.clone(),
            version: 1
        }
    );
    // A change the profile removes (Image Comments) leaves the de-identified object identical:
    // still a duplicate. A change to a kept attribute (the window) is a new version.
    let mut obj = corelab_dicom::read::read_bytes(&ct).unwrap();
    obj.dataset.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::IMAGE_COMMENTS,
        dicom_core::VR::LT,
        dicom_core::PrimitiveValue::from("corrected by Dr Who"),
    ));
    let commented =
        corelab_dicom::deid::encode_part10(obj.dataset.clone(), &obj.transfer_syntax).unwrap();
    let dup = lab
        .ingestor
        .ingest(&source("import:comment"), Bytes::from(commented))
        .await
        .unwrap();
    assert!(matches!(dup, Outcome::Duplicate { .. }), "{dup:?}");
    obj.dataset.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::WINDOW_CENTER,
        dicom_core::VR::DS,
        dicom_core::PrimitiveValue::from("55"),
    ));
    let changed = corelab_dicom::deid::encode_part10(obj.dataset, &obj.transfer_syntax).unwrap();
    let third = lab
        .ingestor
        .ingest(&source("import:c"), Bytes::from(changed))
        .await
        .unwrap();
    assert_eq!(
        third,
        Outcome::Conflict {
            sop_instance_uid: sop_instance_uid.clone(),
            version: 2
        }
    );
    let status = lab.store.status().await.unwrap();
    assert_eq!((status.studies, status.series, status.instances), (1, 1, 2));
    let events = lab.store.audit_events(None, None).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for a in ["instance.store", "instance.duplicate", "instance.conflict"] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
    // What is stored is the de-identified object: no original identifier in its bytes.
    let stored = lab
        .store
        .instance_bytes("ING-1", sop_instance_uid)
        .await
        .unwrap();
    let original = corelab_dicom::read::read_bytes(&ct).unwrap();
    let pid =
        corelab_ingest::checks::text(&original.dataset, dicom_dictionary_std::tags::PATIENT_ID)
            .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&pid));
    assert!(lab.store.verify_audit().await.unwrap().ok);
}

#[tokio::test]
async fn duplicates_are_acknowledged_once_and_changes_become_versions_sqlite() {
    duplicates_and_versions(false).await;
}

#[tokio::test]
async fn duplicates_are_acknowledged_once_and_changes_become_versions_postgres() {
    duplicates_and_versions(true).await;
}

#[tokio::test]
async fn quarantine_seals_the_original_and_release_and_discard_are_on_record() {
    let lab = lab(false).await;
    let ct = std::fs::read(corpus().join("pydicom_test_files/CT_small.dcm")).unwrap();
    // An unknown site: held with the reason, the original sealed.
    let wrong = Source {
        site: "S99".into(),
        ..source("dimse:UNKNOWN@10.0.0.9")
    };
    let Outcome::Quarantined { id, reason } = lab
        .ingestor
        .ingest(&wrong, Bytes::from(ct.clone()))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(reason.contains("no site \"S99\""), "{reason}");
    let entries = lab.store.quarantine_list(false).await.unwrap();
    assert_eq!(entries.len(), 1);
    let sealed = lab
        .store
        .blobs
        .get(&entries[0].blob_sha256.parse().unwrap())
        .await
        .unwrap();
    assert!(
        !sealed.windows(4).any(|w| w == b"DICM"),
        "stored in the clear"
    );
    let (_, original) = lab.store.quarantine_get(id).await.unwrap();
    assert_eq!(original, ct);
    // Release into the right site: stored, and marked released.
    let outcome = lab
        .ingestor
        .retry(&source("quarantine"), Bytes::from(original))
        .await
        .unwrap();
    assert!(outcome.is_stored(), "{outcome:?}");
    lab.store
        .quarantine_resolve(
            "test:dm",
            id,
            "released",
            "site S01 confirmed",
            serde_json::json!(null),
        )
        .await
        .unwrap();
    assert!(lab.store.quarantine_list(false).await.unwrap().is_empty());
    // Not DICOM: held; a retry still fails and holds nothing new; discard needs a reason.
    let Outcome::Quarantined { id, reason } = lab
        .ingestor
        .ingest(
            &source("import:notes.txt"),
            Bytes::from_static(b"not dicom at all"),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(reason.contains("not a DICOM file"), "{reason}");
    let retry = lab
        .ingestor
        .retry(&source("retry"), Bytes::from_static(b"not dicom at all"))
        .await
        .unwrap();
    assert!(matches!(retry, Outcome::Refused { .. }));
    assert_eq!(lab.store.quarantine_list(false).await.unwrap().len(), 1);
    assert!(
        lab.store
            .quarantine_resolve("test:dm", id, "discarded", " ", serde_json::json!(null))
            .await
            .is_err()
    );
    lab.store
        .quarantine_resolve(
            "test:dm",
            id,
            "discarded",
            "a text file",
            serde_json::json!(null),
        )
        .await
        .unwrap();
    let actions: Vec<String> = lab
        .store
        .audit_events(None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "quarantine.hold",
        "quarantine.release",
        "quarantine.discard",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
    }
    assert!(lab.store.verify_audit().await.unwrap().ok);
}

/// A test trial with de-identification off: what lands is byte-for-byte what was sent.
#[tokio::test]
async fn a_test_trial_without_de_identification_round_trips_every_stored_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("lab"), &Overrides::default(), "test:init")
        .await
        .unwrap();
    let text = TRIAL
        .replace("ING-1", "RT-1")
        .replace("phase = \"II\"", "phase = \"II\"\ntest = true")
        .replace("[deid]\n", "[deid]\nprofile = \"none\"\n");
    store
        .create_trial("test", &TrialFile::parse(&text).unwrap(), &text)
        .await
        .unwrap();
    let store = Arc::new(store);
    let ingestor = Ingestor::new(store.clone(), "test:ingest");
    let mut round_trips = 0;
    for file in corpus_files() {
        let bytes = std::fs::read(&file).unwrap();
        let source = Source {
            trial: "RT-1".into(),
            ..source("import")
        };
        match ingestor
            .ingest(&source, Bytes::from(bytes.clone()))
            .await
            .unwrap()
        {
            Outcome::Stored {
                sop_instance_uid, ..
            }
            | Outcome::Conflict {
                sop_instance_uid, ..
            } => {
                let stored = store
                    .instance_bytes("RT-1", &sop_instance_uid)
                    .await
                    .unwrap();
                assert!(stored == bytes, "{}: not byte-for-byte", file.display());
                round_trips += 1;
            }
            _ => {}
        }
    }
    assert!(round_trips >= 150, "only {round_trips} round trips");
    assert!(store.verify_audit().await.unwrap().ok);
}

#[tokio::test]
async fn the_same_patient_id_at_two_sites_under_a_template_without_site_is_quarantined_saying_why()
{
    let lab = lab(false).await;
    let two_sites = r#"
[trial]
id = "ING-2"
sponsor = "Example Pharma"
protocol = "EXP-10"
phase = "II"

[[sites]]
id = "S01"
name = "A"

[[sites]]
id = "S02"
name = "B"
"#;
    lab.store
        .create_trial("test", &TrialFile::parse(two_sites).unwrap(), two_sites)
        .await
        .unwrap();
    let ct = Bytes::from(std::fs::read(corpus().join("pydicom_test_files/CT_small.dcm")).unwrap());
    let from = |site: &str| Source {
        trial: "ING-2".into(),
        site: site.into(),
        origin: format!("test:{site}"),
        subject: None,
    };
    let first = lab.ingestor.ingest(&from("S01"), ct.clone()).await.unwrap();
    assert!(first.is_stored(), "{first:?}");
    // The default SUBJ-{hash:12} hashes the Patient ID alone, so the same Patient ID at another
    // site (another person, or the same one) gets the taken ID: not a retryable failure.
    match lab.ingestor.ingest(&from("S02"), ct.clone()).await.unwrap() {
        Outcome::Quarantined { reason, .. } => assert!(
            reason.contains("is already taken") && reason.contains("corelab subject assign"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    // Named as another subject, the object's study is already filed under the first one: it is
    // not filed under two subjects, and not made a "version" of the first one's image.
    let named = Source {
        subject: Some("B-001".into()),
        ..from("S02")
    };
    match lab.ingestor.ingest(&named, ct).await.unwrap() {
        Outcome::Quarantined { reason, .. } => {
            assert!(reason.contains("is filed under subject SUBJ-"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let status = lab.store.status().await.unwrap();
    assert_eq!((status.instances, status.quarantined), (1, 2));
}
