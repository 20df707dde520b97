//! The QC rules on real objects from `../shared/data/dicom_conformance`: a Toshiba MR, a GE CT
//! with contrast, and an MR that carries no geometry, each judged by a small protocol with the
//! verdict each rule should give.

use bytes::Bytes;
use corelab_core::TrialFile;
use corelab_engine::evaluate::{SeriesFacts, judge, measure};
use corelab_engine::report::{SeriesQc, Status};
use corelab_store::CatalogSeries;
use std::path::Path;

const PROTOCOL: &str = r#"
[trial]
id = "CORPUS"
sponsor = "S"
protocol = "P"
phase = "II"

[[visits]]
name = "baseline"
day = 0
window_days = 0
optional = ["T2w", "CT_CHEST"]

[roles.T2w.match]
modality = ["MR"]
scanning_sequence = ["SE"]
tr_ms = { min = 2000 }
[roles.T2w.require]
slice_thickness_mm = { max = 1.0 }
tr_ms = [3000, 5000]
te_ms = [80, 120]
field_strength_t = [1.5, 3.0]

[roles.CT_CHEST.match]
modality = ["CT"]
contrast = true
[roles.CT_CHEST.require]
slice_thickness_mm = { max = 2.5 }
kernel = ["STANDARD", "B*"]
contrast = true
"#;

fn corpus(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance")
        .join(rel)
}

fn facts(rel: &str, modality: &str) -> SeriesFacts {
    let bytes = Bytes::from(std::fs::read(corpus(rel)).unwrap());
    let catalog = CatalogSeries {
        site: "S01".into(),
        subject: "SUBJ-1".into(),
        study_instance_uid: format!("1.2.3.{}", rel.len()),
        study_date: Some("20260101".into()),
        series_instance_uid: rel.into(),
        modality: modality.into(),
        description: None,
        series_number: Some(1),
        instances: vec![("1".into(), "0".repeat(64))],
    };
    measure(catalog, vec![(rel.to_owned(), bytes)])
}

fn judged(rel: &str, modality: &str) -> SeriesQc {
    let file = TrialFile::parse(PROTOCOL).unwrap();
    let r = judge("CORPUS", "x", &file, &[facts(rel, modality)], &[]);
    r.subjects[0].visits[0].series[0].clone()
}

fn status_of(s: &SeriesQc, item: &str) -> Status {
    s.checks
        .iter()
        .find(|c| c.item == item)
        .unwrap_or_else(|| panic!("no check {item}: {:#?}", s.checks))
        .status
}

#[test]
fn toshiba_mr_is_classified_and_its_missing_field_strength_is_a_review() {
    let s = judged("pydicom_test_files/MR_small.dcm", "MR");
    assert_eq!(s.role.as_deref(), Some("T2w"), "{s:#?}");
    assert_eq!(status_of(&s, "slice_thickness_mm"), Status::Pass); // 0.8 mm
    assert_eq!(status_of(&s, "tr_ms"), Status::Pass); // 4000 ms
    assert_eq!(status_of(&s, "te_ms"), Status::Fail); // 240 ms
    let b0 = s
        .checks
        .iter()
        .find(|c| c.item == "field_strength_t")
        .unwrap();
    assert_eq!(b0.status, Status::Review);
    assert!(
        b0.note.as_deref().unwrap().contains("(0018,0087)"),
        "{b0:?}"
    );
    // No Series Description at all: said so.
    assert_eq!(status_of(&s, "series_description"), Status::Review);
    assert_eq!(s.computed_status, Status::Fail);
}

#[test]
fn ge_ct_with_contrast_is_checked_for_thickness_and_kernel() {
    let s = judged("pydicom_test_files/CT_small.dcm", "CT");
    assert_eq!(s.role.as_deref(), Some("CT_CHEST"), "{s:#?}");
    assert_eq!(status_of(&s, "contrast"), Status::Pass); // ISOVUE300/100
    assert_eq!(status_of(&s, "kernel"), Status::Pass); // STANDARD
    let thick = s
        .checks
        .iter()
        .find(|c| c.item == "slice_thickness_mm")
        .unwrap();
    assert_eq!(
        (thick.measured.as_deref(), thick.status),
        (Some("5 mm"), Status::Fail)
    );
}

#[test]
fn an_mr_without_geometry_is_a_review_naming_why() {
    let s = judged("pydicom_data/emri_small.dcm", "MR");
    let v = s.checks.iter().find(|c| c.item == "volume").unwrap();
    assert_eq!(v.status, Status::Review, "{v:?}");
    assert!(!v.note.as_deref().unwrap_or("").is_empty());
}

#[test]
fn an_unreadable_object_is_a_review_not_a_crash() {
    let s = judged("pydicom_test_files/MR_truncated.dcm", "MR");
    assert!(s.computed_status >= Status::Review, "{s:#?}");
    let header = s
        .checks
        .iter()
        .find(|c| c.item == "header" || c.item == "volume");
    assert!(header.is_some(), "{:#?}", s.checks);
}

/// A stored report with the decisions made since applied (`QcReport::redecide`, what the web UI
/// shows before the next evaluation) is exactly the report judged with those decisions, through a
/// JSON round trip as the store keeps it.
#[test]
fn a_stored_report_redecided_is_the_report_judged_with_the_decisions() {
    let file = TrialFile::parse(PROTOCOL).unwrap();
    let all = [
        facts("pydicom_test_files/MR_small.dcm", "MR"),
        facts("pydicom_test_files/CT_small.dcm", "CT"),
    ];
    let stored = judge("CORPUS", "x", &file, &all, &[]);
    let decision = |id: i64, target: &str, status: &str| corelab_store::QcDecision {
        id,
        target: target.into(),
        status: status.into(),
        reason: format!("decided {id}"),
        actor: "test".into(),
        created_at: format!("2026-12-04T10:00:0{id}Z"),
    };
    let decisions = [
        decision(1, "series:pydicom_test_files/MR_small.dcm", "fail"),
        decision(2, "series:pydicom_test_files/MR_small.dcm", "pass"),
        decision(3, "series:pydicom_test_files/CT_small.dcm", "fail"),
    ];
    let judged = judge("CORPUS", "x", &file, &all, &decisions);
    let round: corelab_engine::report::QcReport =
        serde_json::from_value(serde_json::to_value(&stored).unwrap()).unwrap();
    let decided = corelab_engine::evaluate::latest_decisions(&decisions);
    let redecided = round.redecide(&|t| decided.get(t).cloned());
    assert_eq!(redecided, judged);
    let series = &judged.subjects[0].visits[0].series;
    let mr = series.iter().find(|s| s.modality == "MR").unwrap();
    assert_eq!(
        (mr.computed_status, mr.status),
        (Status::Fail, Status::Pass),
        "the latest decision wins"
    );
    assert_eq!(
        judged.subjects[0].visits[0].status,
        Status::Fail,
        "the rejected CT fails the visit"
    );
}
