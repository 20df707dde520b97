//! Every file of the shared conformance corpus (../shared/data/dicom_conformance): well-formed ones
//! de-identify, re-open, carry the pseudonym and no trace of the original patient identifiers;
//! malformed ones are refused with a reason naming the file, and nothing is written for them.

use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{
    Deidentifier, FileError, OriginalPhi, TrialSecret, deidentify_file, read_dicom, verify_dataset,
};
use dicom_dictionary_std::tags;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom_conformance")
}

fn inventory() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus().join("inventory.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let strict = header.iter().position(|h| *h == "read_strict").unwrap();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (
                cells[0].to_owned(),
                cells.get(strict).copied().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn text_of(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .and_then(|e| {
            e.value()
                .to_str()
                .ok()
                .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' ').to_owned())
        })
        .unwrap_or_default()
}

/// The corpus's malformed files and the problem each refusal must name.
const EXPECTED_REFUSALS: &[(&str, &str)] = &[
    (
        "MR_truncated.dcm",
        "truncated: the file ends inside element (7FE0,0010)",
    ),
    (
        "rtplan_truncated.dcm",
        "truncated: the file ends inside element (300A,00B0)",
    ),
    ("SC_rgb_jpeg.dcm", "the data set is encoded implicit VR"),
    (
        "meta_missing_tsyntax.dcm",
        "no Transfer Syntax UID (0002,0010)",
    ),
    ("no_meta.dcm", "not a DICOM file"),
    (
        "emri_small_jpeg_2k_lossless_too_short.dcm",
        "ends inside sequence (7FE0,0010) before its delimiter",
    ),
    (
        "DICOMDIR-nooffset",
        "sequence (0004,1220): an item declares 248 bytes but only 224 remain",
    ),
    ("README", "not a DICOM file"),
];

#[test]
fn the_conformance_corpus_de_identifies_or_is_refused_with_a_reason() {
    // Retain Safe Private too, so the safe list meets real vendors' private blocks.
    let d = Deidentifier::new(
        [
            ProfileOption::RetainLongModifiedDates,
            ProfileOption::RetainSafePrivate,
        ],
        TrialSecret::from_bytes([9; 32]),
        -3650..=-365,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut ok = 0;
    let mut with_safe_private = 0;
    let mut refused = Vec::new();
    for (i, (rel, _strict)) in inventory().iter().enumerate() {
        let input = corpus().join(rel);
        let output = out.path().join(format!("{i}.dcm"));
        let started = std::time::Instant::now();
        let result = deidentify_file(&d, &input, &output);
        if std::env::var_os("CORELAB_TIMING").is_some() {
            eprintln!("{:>8.2}s {rel}", started.elapsed().as_secs_f64());
        }
        match result {
            Ok(outcome) => {
                ok += 1;
                if rel.ends_with("UN_sequence.dcm") {
                    // Well-formed (PS3.5 §6.2.2) but beyond dicom-rs: read with the UN sequence cut out.
                    assert_eq!(
                        outcome.removed_unread.len(),
                        1,
                        "{:?}",
                        outcome.removed_unread
                    );
                }
                with_safe_private += usize::from(!outcome.private_kept.is_empty());
                let (original, _) = read_dicom(&input).unwrap();
                let clean = dicom_object::open_file(&output).unwrap_or_else(|e| {
                    let mut chain = e.to_string();
                    let mut s = std::error::Error::source(&e);
                    while let Some(i) = s {
                        chain.push_str(&format!(": {i}"));
                        s = i.source();
                    }
                    let bytes = std::fs::read(&output).unwrap();
                    panic!(
                        "{rel}: output does not re-open: {chain}; head {:?}",
                        String::from_utf8_lossy(&bytes[128..bytes.len().min(400)])
                    )
                });
                assert_eq!(text_of(&clean, tags::PATIENT_ID), outcome.subject, "{rel}");
                assert_eq!(
                    text_of(&clean, tags::PATIENT_IDENTITY_REMOVED),
                    "YES",
                    "{rel}"
                );
                let bytes = String::from_utf8_lossy(&std::fs::read(&output).unwrap()).into_owned();
                // Identifiers that can appear nowhere else in a clean object. (Institution names can
                // legitimately equal a kept Manufacturer, so they are checked by attribute below.)
                for tag in [
                    tags::PATIENT_ID,
                    tags::PATIENT_NAME,
                    tags::ACCESSION_NUMBER,
                    tags::REFERRING_PHYSICIAN_NAME,
                ] {
                    let v = text_of(&original, tag);
                    if v.len() >= 4
                        && !v
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '^' || c == ' ')
                    {
                        assert!(
                            !bytes.contains(v.as_str()),
                            "{rel}: {tag} value {v:?} survives in the output"
                        );
                    }
                }
                for tag in [
                    tags::INSTITUTION_NAME,
                    tags::INSTITUTION_ADDRESS,
                    tags::STATION_NAME,
                    tags::OPERATORS_NAME,
                ] {
                    assert_eq!(text_of(&clean, tag), "", "{rel}: {tag} kept");
                }
                let mut phi = OriginalPhi::default();
                phi.collect(&original, &d);
                let findings = verify_dataset(&clean, &d, Some(&phi));
                assert!(
                    findings.is_empty(),
                    "{rel}: the verifier finds {findings:#?}"
                );
                let sop = text_of(&original, tags::SOP_INSTANCE_UID);
                if !sop.is_empty() {
                    assert_ne!(
                        text_of(&clean, tags::SOP_INSTANCE_UID),
                        sop,
                        "{rel}: SOP Instance UID kept"
                    );
                    assert_eq!(
                        clean.meta().media_storage_sop_instance_uid(),
                        text_of(&clean, tags::SOP_INSTANCE_UID),
                        "{rel}"
                    );
                }
            }
            Err(e) => {
                assert!(!output.exists(), "{rel}: output written despite {e}");
                let msg = e.to_string();
                assert!(msg.contains(rel.as_str()), "{msg}");
                assert!(matches!(e, FileError::Read { .. }), "{rel}: {msg}");
                let name = rel.rsplit('/').next().unwrap_or(rel);
                let Some((_, problem)) = EXPECTED_REFUSALS.iter().find(|(f, _)| *f == name) else {
                    panic!("{rel} refused, but it is not a known malformed file: {msg}");
                };
                assert!(
                    msg.contains(problem),
                    "{rel}: the reason should name {problem:?}: {msg}"
                );
                refused.push(msg);
            }
        }
    }
    eprintln!(
        "{ok} de-identified ({with_safe_private} keeping safe private attributes), {} refused:",
        refused.len()
    );
    assert!(
        with_safe_private > 0,
        "no file kept a safe private attribute"
    );
    for r in &refused {
        eprintln!("  {r}");
    }
    assert_eq!(
        refused.len(),
        EXPECTED_REFUSALS.len(),
        "every malformed file is refused"
    );
    assert!(ok >= 245, "only {ok} files de-identified");
    assert_eq!(
        std::fs::read_dir(out.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
            .count(),
        0,
        "temporary files left"
    );
}
