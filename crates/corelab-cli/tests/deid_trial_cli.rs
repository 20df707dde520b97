//! `corelab deid --trial T --site S`: the trial's rules, subjects from the catalogue with their
//! sealed links, the Clinical Trial modules, and `corelab subject assign | reveal`.

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
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lab");
    ok(&corelab(&data, &["init"]));
    let trial = dir.path().join("trial.toml");
    std::fs::write(&trial, TRIAL).unwrap();
    ok(&corelab(
        &data,
        &["trial", "create", trial.to_str().unwrap()],
    ));
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
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
    let log = ok(&corelab(&data, &["--json", "audit", "log"]));
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "subject.create").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(actions.last(), Some(&"subject.reveal"));
    ok(&corelab(&data, &["audit", "verify"]));
}
