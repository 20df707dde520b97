//! `corelab serve --dicom` against pynetdicom (tests/scu.py): the conformance corpus over the
//! network, each object stored or quarantined with a failure status that says why; sites told
//! apart by the called AE title; a gateway shared by two trials routed by Clinical Trial attributes.
//! pynetdicom comes from PyPI (`.ci/run` installs it).

mod common;

use common::{audit_actions, corelab, corpus, count, json, lab_with_trial, serve};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs tests/scu.py; one JSON value per line it printed.
fn scu(port: &str, calling: &str, called: &str, args: &[&str], files: &[PathBuf]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scu.py");
    let out = Command::new("python3")
        .arg(script)
        .args([port, calling, called])
        .args(args)
        .args(files)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "scu.py failed (pynetdicom from PyPI; .ci/run installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else if !matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("txt" | "csv" | "md")
        ) {
            out.push(p);
        }
    }
}

const TRIAL: &str = r#"
[trial]
id = "PYN-1"
sponsor = "Example Pharma"
protocol = "EXP-1"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

#[test]
fn pynetdicom_sends_the_corpus_and_each_object_is_stored_or_quarantined_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let server = serve(&data);
    let mut files = Vec::new();
    files_under(&corpus(""), &mut files);
    files.sort();
    let mut results = scu(&server.port, "S01PACS", "CORELAB", &[], &files);
    assert_eq!(results.len(), files.len());
    // The corpus's one deflated object has no Patient ID (so it is quarantined above); given one,
    // it is stored.
    results.extend(scu(
        &server.port,
        "S01PACS",
        "CORELAB",
        &["--set", "0010,0020=PAT-DFL"],
        &[corpus("pydicom_test_files/image_dfl.dcm")],
    ));

    // Every transfer syntax the issue names is received and stored (encapsulated pixel data as
    // received). Some appear in the corpus only in partial test objects (quarantined above for a
    // missing attribute): those are sent again with the attributes they lack.
    let syntaxes = [
        ("1.2.840.10008.1.2", "implicit VR little endian"),
        ("1.2.840.10008.1.2.1", "explicit VR little endian"),
        ("1.2.840.10008.1.2.2", "explicit VR big endian"),
        (
            "1.2.840.10008.1.2.1.99",
            "deflated explicit VR little endian",
        ),
        ("1.2.840.10008.1.2.4.50", "JPEG baseline"),
        ("1.2.840.10008.1.2.4.51", "JPEG extended"),
        ("1.2.840.10008.1.2.4.70", "JPEG lossless SV1"), // the corpus has no other lossless JPEG
        ("1.2.840.10008.1.2.4.80", "JPEG-LS lossless"),
        ("1.2.840.10008.1.2.4.81", "JPEG-LS near-lossless"),
        ("1.2.840.10008.1.2.4.90", "JPEG 2000 lossless"),
        ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
        ("1.2.840.10008.1.2.5", "RLE lossless"),
    ];
    let stored_as = |results: &[Value], ts: &str| {
        results
            .iter()
            .any(|r| r["transfer_syntax"] == ts && r["status"] == 0)
    };
    let mut completed = Vec::new();
    for (ts, _) in syntaxes {
        if stored_as(&results, ts) {
            continue;
        }
        let partial: Vec<PathBuf> = results
            .iter()
            .filter(|r| {
                r["transfer_syntax"] == ts
                    && r["comment"]
                        .as_str()
                        .is_some_and(|c| c.contains(": missing ("))
            })
            .map(|r| PathBuf::from(r["file"].as_str().unwrap()))
            .collect();
        completed.extend(scu(
            &server.port,
            "S01PACS",
            "CORELAB",
            &["--fill"],
            &partial,
        ));
    }
    for (ts, name) in syntaxes {
        assert!(
            stored_as(&results, ts) || stored_as(&completed, ts),
            "no {name} ({ts}) object was stored over the network"
        );
    }
    results.extend(completed);
    drop(server);
    let (mut stored, mut quarantined, mut other_failures, mut unsent) = (0, 0, 0, 0);
    for r in &results {
        match r["status"].as_u64() {
            Some(0) => stored += 1,
            Some(status) => {
                let comment = r["comment"].as_str().unwrap_or_default();
                assert!(
                    !comment.is_empty(),
                    "a failure status without an Error Comment: {r}"
                );
                // Failure statuses from PS3.4 B.2.3: A7xx refused, A9xx data set does not
                // match the SOP class, Cxxx cannot understand; 0122 SOP class not supported.
                assert!(
                    matches!(status >> 8, 0xA7 | 0xA9 | 0xC0) || status == 0x0122,
                    "{r}"
                );
                if comment.starts_with("quarantined ") {
                    quarantined += 1;
                } else {
                    other_failures += 1;
                }
            }
            None => {
                assert!(r["accepted"] != false, "association rejected: {r}");
                unsent += 1;
            }
        }
    }
    // Most of the corpus is well-formed; what pynetdicom cannot read itself is not sent.
    assert!(stored > 120, "stored {stored} of {}", files.len());
    assert!(quarantined > 0 && unsent > 0, "{quarantined} {unsent}");
    let listed = json(&corelab(&data, &["--json", "quarantine", "list"]));
    assert_eq!(
        listed.as_array().unwrap().len(),
        quarantined,
        "every quarantined answer is in quarantine: {listed}"
    );
    let actions = audit_actions(&data);
    let acknowledged = count(&actions, "instance.store")
        + count(&actions, "instance.duplicate")
        + count(&actions, "instance.conflict");
    assert_eq!(
        acknowledged, stored,
        "one audit event per acknowledged object"
    );
    assert_eq!(count(&actions, "quarantine.hold"), quarantined);
    eprintln!(
        "{} objects: {stored} stored, {quarantined} quarantined, {other_failures} refused, {unsent} not sent by the client",
        results.len()
    );
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}

const GATEWAY: &str = r#"
[trial]
id = "GW-A"
sponsor = "Example Pharma"
protocol = "PROTO-A"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"
ae_titles = ["GATEWAY"]

[[sites]]
id = "S02"
name = "Hospital B"
ae_titles = ["GATEWAY"]
called_ae_title = "CORELAB_S02"

[ingest]
clinical_trial_routing = true

[deid]
subject_id = "{site}-{hash:8}"
"#;

fn instances_by_site(data: &Path, trial: &str) -> Vec<(String, u64)> {
    let tree = json(&corelab(data, &["--json", "trial", "show", trial]));
    tree["sites"]
        .as_array()
        .unwrap_or_else(|| panic!("{tree}"))
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["instances"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn sites_behind_one_gateway_are_routed_by_called_ae_title_and_clinical_trial_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), GATEWAY);
    let other = dir.path().join("b.toml");
    std::fs::write(
        &other,
        GATEWAY
            .replace("GW-A", "GW-B")
            .replace("PROTO-A", "PROTO-B"),
    )
    .unwrap();
    assert!(
        corelab(&data, &["trial", "create", other.to_str().unwrap()])
            .status
            .success()
    );
    let server = serve(&data);
    let port = server.port.as_str();
    let ct = corpus("pydicom_test_files/CT_small.dcm");

    // An unknown called AE title is turned away, naming the titles the gateway may call.
    let wrong = scu(port, "GATEWAY", "SOMEONE", &["--echo"], &[]);
    assert_eq!(wrong[0]["accepted"], false, "{wrong:?}");

    // S01 (the node's own title) in both trials: each object goes where its Clinical Trial
    // Protocol ID and Site ID say.
    let set = |protocol: &str, site: &str| {
        vec![
            "--set".to_owned(),
            format!("0012,0020={protocol}"),
            "--set".to_owned(),
            format!("0012,0030={site}"),
        ]
    };
    let send_file = |called: &str, args: Vec<String>, file: &PathBuf| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        scu(port, "GATEWAY", called, &args, std::slice::from_ref(file))[0].clone()
    };
    let send = |called: &str, args: Vec<String>| send_file(called, args, &ct);
    assert_eq!(send("CORELAB", set("PROTO-A", "S01"))["status"], 0);
    assert_eq!(
        send("CORELAB", set("GW-B", "S01"))["status"],
        0,
        "the trial id works too"
    );
    // Another patient's object (this CT's study is GW-B's S01 subject's now).
    let mr = corpus("pydicom_test_files/MR_small.dcm");
    assert_eq!(
        send_file("CORELAB_S02", set("PROTO-B", "S02"), &mr)["status"],
        0
    );
    // Called as S02 but naming S01: no site fits, so it is quarantined, saying why.
    let misrouted = send("CORELAB_S02", set("PROTO-A", "S01"));
    assert_ne!(misrouted["status"], 0, "{misrouted}");
    assert!(
        misrouted["comment"]
            .as_str()
            .unwrap()
            .starts_with("quarantined"),
        "{misrouted}"
    );
    drop(server);

    assert_eq!(
        instances_by_site(&data, "GW-A"),
        vec![("S01".to_owned(), 1), ("S02".to_owned(), 0)]
    );
    assert_eq!(
        instances_by_site(&data, "GW-B"),
        vec![("S01".to_owned(), 1), ("S02".to_owned(), 1)]
    );
    let held = json(&corelab(&data, &["--json", "quarantine", "list"]));
    let reason = held[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("(0012,0030) \"S01\"") && reason.contains("GW-A/S02, GW-B/S02"),
        "{reason}"
    );
    let actions = audit_actions(&data);
    assert_eq!(count(&actions, "dimse.reject"), 1, "{actions:?}");
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}
