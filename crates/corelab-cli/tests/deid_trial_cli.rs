//! `corelab deid --trial T --site S`: the trial's rules, subjects from the catalogue with their
//! sealed links, the Clinical Trial modules, and `corelab subject assign | reveal`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn corelab(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("USER", "coordinator")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

fn shared(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance/pydicom_test_files")
        .join(rel)
}

const TRIAL: &str = r#"
[trial]
id = "ONC-3"
sponsor = "Example Pharma"
protocol = "EXP-2026-07"
phase = "III"

[[sites]]
id = "S01"
name = "University Hospital A"

[deid]
options = ["retain-long-modified-dates", "retain-safe-private"]
subject_id = "{site}-{seq:3}"
"#;

/// A fresh installation with the trial created from `toml`, and an empty input folder.
fn lab_with_trial(toml: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lab");
    ok(&corelab(&data, &["init"]));
    let trial = dir.path().join("trial.toml");
    std::fs::write(&trial, toml).unwrap();
    ok(&corelab(
        &data,
        &["trial", "create", trial.to_str().unwrap()],
    ));
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    (dir, data, input)
}

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_matches(['\0', ' '])
        .to_owned()
}

#[test]
fn a_trial_deid_links_subjects_fills_the_modules_and_reveals_only_on_record() {
    use dicom_dictionary_std::tags;
    let (dir, data, input) = lab_with_trial(TRIAL);
    std::fs::copy(shared("CT_small.dcm"), input.join("ct.dcm")).unwrap();
    std::fs::copy(shared("MR_small.dcm"), input.join("mr.dcm")).unwrap();
    let out = dir.path().join("out");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());

    // The site pre-assigns one patient; the other is named by the trial's rule.
    let mr = dicom_object::open_file(input.join("mr.dcm")).unwrap();
    let mr_patient = text(&mr, tags::PATIENT_ID);
    ok(&corelab(
        &data,
        &[
            "subject",
            "assign",
            "ONC-3",
            "--site",
            "S01",
            "--patient-id",
            &mr_patient,
            "--subject",
            "S01-900",
        ],
    ));
    // Options come from the trial, not the command line; --site is required; the site must exist.
    let r = corelab(
        &data,
        &[
            "deid",
            i,
            o,
            "--trial",
            "ONC-3",
            "--site",
            "S01",
            "--option",
            "clean-graphics",
        ],
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("drop --option"));
    let r = corelab(&data, &["deid", i, o, "--trial", "ONC-3"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("needs --site"));
    let r = corelab(&data, &["deid", i, o, "--trial", "ONC-3", "--site", "S09"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("no site \"S09\""));
    assert!(!out.exists());

    let summary = ok(&corelab(
        &data,
        &[
            "--json",
            "deid",
            i,
            o,
            "--trial",
            "ONC-3",
            "--site",
            "S01",
            "--time-point",
            "BASELINE",
        ],
    ));
    assert_eq!(summary["processed"], 2, "{summary}");
    let ct = dicom_object::open_file(out.join("ct.dcm")).unwrap();
    let mr_out = dicom_object::open_file(out.join("mr.dcm")).unwrap();
    assert_eq!(text(&ct, tags::PATIENT_ID), "S01-002"); // 1 taken by the assignment
    assert_eq!(text(&mr_out, tags::PATIENT_ID), "S01-900");
    for (tag, want) in [
        (tags::CLINICAL_TRIAL_SUBJECT_ID, "S01-002"),
        (tags::CLINICAL_TRIAL_SPONSOR_NAME, "Example Pharma"),
        (tags::CLINICAL_TRIAL_PROTOCOL_ID, "EXP-2026-07"),
        (tags::CLINICAL_TRIAL_SITE_ID, "S01"),
        (tags::CLINICAL_TRIAL_SITE_NAME, "University Hospital A"),
        (tags::CLINICAL_TRIAL_TIME_POINT_ID, "BASELINE"),
    ] {
        assert_eq!(text(&ct, tag), want, "{tag}");
    }
    let methods = ct
        .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap();
    assert_eq!(
        methods.items().unwrap().len(),
        3,
        "profile + the trial's two options"
    );

    // A second run finds the same subjects; the verifier, with the trial's rules, finds nothing.
    let again = dir.path().join("again");
    ok(&corelab(
        &data,
        &[
            "deid",
            i,
            again.to_str().unwrap(),
            "--trial",
            "ONC-3",
            "--site",
            "S01",
        ],
    ));
    let ct2 = dicom_object::open_file(again.join("ct.dcm")).unwrap();
    assert_eq!(text(&ct2, tags::PATIENT_ID), "S01-002");
    assert_eq!(
        text(&ct2, tags::STUDY_INSTANCE_UID),
        text(&ct, tags::STUDY_INSTANCE_UID)
    );
    let v = ok(&corelab(
        &data,
        &[
            "--json",
            "deid",
            "--verify",
            o,
            "--against",
            i,
            "--trial",
            "ONC-3",
        ],
    ));
    assert_eq!(v["ok"], true, "{v}");

    // Revealing needs a reason and names the original; it is on record.
    let r = corelab(&data, &["subject", "reveal", "ONC-3", "S01-002"]);
    assert_eq!(r.status.code(), Some(2), "--reason is required");
    let revealed = ok(&corelab(
        &data,
        &[
            "--json",
            "subject",
            "reveal",
            "ONC-3",
            "S01-002",
            "--reason",
            "SAE follow-up",
        ],
    ));
    let ct_in = dicom_object::open_file(input.join("ct.dcm")).unwrap();
    assert_eq!(
        revealed[0]["original"]["patient_id"],
        text(&ct_in, tags::PATIENT_ID)
    );
    let actions = common::audit_actions(&data);
    assert_eq!(common::count(&actions, "subject.create"), 2, "{actions:?}");
    assert_eq!(actions.last().map(String::as_str), Some("subject.reveal"));
    ok(&corelab(&data, &["audit", "verify"]));
}

fn shared_data(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance/pydicom_data")
        .join(rel)
}

#[test]
fn the_trials_blackout_and_private_rules_reach_every_file() {
    use dicom_dictionary_std::tags;
    let (dir, data, input) = lab_with_trial(
        &(TRIAL.replace("ONC-3", "US-1")
            + "keep_private = [\"GEMS_ACQU_01\"]\n\n[[deid.blackout]]\nmodality = \"US\"\nrectangles = [[0, 0, 40, 10]]\n"),
    );
    std::fs::copy(shared_data("US1_UNCI.dcm"), input.join("us-native.dcm")).unwrap();
    std::fs::copy(shared_data("US1_J2KI.dcm"), input.join("us-j2k.dcm")).unwrap();
    std::fs::copy(shared("CT_small.dcm"), input.join("ct-gems.dcm")).unwrap();
    let out = dir.path().join("out");
    let r = corelab(
        &data,
        &[
            "--json",
            "deid",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "--trial",
            "US-1",
            "--site",
            "S01",
        ],
    );
    assert_eq!(r.status.code(), Some(1), "two files refused");
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(summary["processed"], 1, "{summary}");
    let failed = summary["failed"].as_array().unwrap();
    let reason = |name: &str| {
        failed
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .map(|f| f["reason"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(reason("us-j2k.dcm").contains("compressed"), "{summary}");
    assert!(reason("ct-gems.dcm").contains("GEMS_ACQU_01"), "{summary}");
    assert!(!out.join("us-j2k.dcm").exists() && !out.join("ct-gems.dcm").exists());
    // The native one: the rectangle is black in every frame, the rest untouched.
    let original = dicom_object::open_file(input.join("us-native.dcm")).unwrap();
    let clean = dicom_object::open_file(out.join("us-native.dcm")).unwrap();
    let cols = original
        .element(tags::COLUMNS)
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let spp = original
        .element(tags::SAMPLES_PER_PIXEL)
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let before = original
        .element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap();
    let after = clean.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    assert_eq!(before.len(), after.len());
    let mut changed_outside = 0;
    for (i, (b, a)) in before.iter().zip(after.iter()).enumerate() {
        let pixel = i / spp;
        let (x, y) = (
            pixel % cols,
            (pixel / cols)
                % original
                    .element(tags::ROWS)
                    .unwrap()
                    .to_int::<usize>()
                    .unwrap(),
        );
        if x < 40 && y < 10 {
            assert_eq!(*a, 0, "pixel {x},{y} not cleared");
        } else if a != b {
            changed_outside += 1;
        }
    }
    assert_eq!(changed_outside, 0);
    let flags = summary["flags"].as_array().unwrap();
    let flag = flags
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("us-native.dcm"))
        .unwrap();
    assert!(
        flag["reason"]
            .as_str()
            .unwrap()
            .contains("blacked out by rule deid.blackout[0]"),
        "{flag}"
    );
}
