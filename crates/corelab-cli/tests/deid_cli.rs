//! `corelab deid` as a site coordinator runs it: a folder in, a mirrored folder out, one summary.

use std::path::Path;
use std::process::{Command, Output};

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn corelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corelab"))
        .args(args)
        .output()
        .unwrap()
}

fn shared(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance")
        .join(rel)
}

fn setup() -> (tempfile::TempDir, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("visit1")).unwrap();
    std::fs::copy(
        shared("pydicom_test_files/CT_small.dcm"),
        input.join("visit1/ct.dcm"),
    )
    .unwrap();
    std::fs::copy(
        shared("pydicom_test_files/MR_small.dcm"),
        input.join("mr.dcm"),
    )
    .unwrap();
    std::fs::copy(
        shared("pydicom_test_files/MR_truncated.dcm"),
        input.join("broken.dcm"),
    )
    .unwrap();
    std::fs::write(input.join("notes.txt"), "not dicom").unwrap();
    let secret = dir.path().join("secret.hex");
    std::fs::write(&secret, SECRET).unwrap();
    let out = dir.path().join("out").display().to_string();
    (
        dir,
        input.display().to_string(),
        out,
        secret.display().to_string(),
    )
}

#[test]
fn a_folder_is_mirrored_and_every_file_is_accounted_for() {
    let (_dir, input, out, secret) = setup();
    let r = corelab(&[
        "deid",
        &input,
        &out,
        "--secret-file",
        &secret,
        "--option",
        "retain-long-modified-dates",
        "--json",
    ]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "two inputs fail, so the command reports an error"
    );
    let s: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(s["processed"], 2);
    let failed = s["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().any(|f| {
        f["path"].as_str().unwrap().ends_with("broken.dcm")
            && f["reason"]
                .as_str()
                .unwrap()
                .contains("not readable as DICOM")
    }));
    assert!(
        failed
            .iter()
            .any(|f| f["path"].as_str().unwrap().ends_with("notes.txt"))
    );
    assert!(Path::new(&out).join("visit1/ct.dcm").is_file());
    assert!(Path::new(&out).join("mr.dcm").is_file());
    assert!(
        !Path::new(&out).join("broken.dcm").exists(),
        "nothing written for a failed file"
    );
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "temporary files left: {names:?}"
    );
    let original = std::fs::read(shared("pydicom_test_files/CT_small.dcm")).unwrap();
    let clean = std::fs::read(Path::new(&out).join("visit1/ct.dcm")).unwrap();
    assert_ne!(original, clean);
    assert!(
        !String::from_utf8_lossy(&clean).contains("CompressedSamples^CT1"),
        "patient name survived"
    );
}

#[test]
fn the_same_secret_gives_the_same_uids_on_a_second_run() {
    let (dir, input, out, secret) = setup();
    let out2 = dir.path().join("out2").display().to_string();
    corelab(&["deid", &input, &out, "--secret-file", &secret]);
    corelab(&["deid", &input, &out2, "--secret-file", &secret]);
    let a = std::fs::read(Path::new(&out).join("mr.dcm")).unwrap();
    let b = std::fs::read(Path::new(&out2).join("mr.dcm")).unwrap();
    assert_eq!(
        a, b,
        "de-identification is deterministic for one trial secret"
    );
}

#[test]
fn bad_arguments_are_one_clear_error_and_write_nothing() {
    let (dir, input, out, secret) = setup();
    let r = corelab(&["deid", &input, &out]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--secret-file"));
    let r = corelab(&[
        "deid",
        &input,
        &out,
        "--secret-file",
        &secret,
        "--option",
        "retain-everything",
    ]);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("retain-long-modified-dates"),
        "valid names are listed"
    );
    let r = corelab(&[
        "deid",
        &input,
        &format!("{input}/inside"),
        "--secret-file",
        &secret,
    ]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("must not be inside"));
    let short = dir.path().join("short.hex");
    std::fs::write(&short, "abcd").unwrap();
    let r = corelab(&[
        "deid",
        &input,
        &out,
        "--secret-file",
        short.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("64 hexadecimal characters"));
    let r = corelab(&[
        "deid",
        &input,
        &out,
        "--secret-file",
        &secret,
        "--option",
        "retain-long-full-dates,retain-long-modified-dates",
    ]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("contradict"));
    assert!(!Path::new(&out).exists());
}

#[test]
fn verify_passes_clean_output_and_exits_3_naming_file_and_tag_for_residue() {
    let (dir, input, out, secret) = setup();
    corelab(&[
        "deid",
        &input,
        &out,
        "--secret-file",
        &secret,
        "--option",
        "retain-long-modified-dates",
    ]);
    let ok = corelab(&[
        "deid",
        "--verify",
        &out,
        "--against",
        &input,
        "--option",
        "retain-long-modified-dates",
        "--json",
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(doc, serde_json::json!({"ok": true, "findings": []}));

    // An original slips into the output folder.
    std::fs::copy(
        Path::new(&input).join("mr.dcm"),
        Path::new(&out).join("visit1/leaked.dcm"),
    )
    .unwrap();
    let bad = corelab(&[
        "deid",
        "--verify",
        &out,
        "--against",
        &input,
        "--option",
        "retain-long-modified-dates",
        "--json",
    ]);
    assert_eq!(bad.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|f| f["path"].as_str().unwrap().ends_with("leaked.dcm")),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|f| f["tag"] == "(0010,0010)"
            && f["why"]
                .as_str()
                .unwrap()
                .contains("original identifying value")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["why"] == "PatientIdentityRemoved is not YES")
    );
    drop(dir);
}
