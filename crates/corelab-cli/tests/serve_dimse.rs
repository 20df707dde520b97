//! `corelab serve --dicom` against dcmtk's echoscu and storescu: routing by calling AE title,
//! rejections audited, objects stored through the ingest pipeline before success is answered,
//! failures quarantined with a failure status, many associations at once, a clean stop.

mod common;

use common::{audit_actions, corelab, corpus as shared, count, json, lab_with_trial, serve};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const TRIAL: &str = r#"
[trial]
id = "NET-1"
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

fn dcmtk(tool: &str, aet: &str, port: &str, files: &[PathBuf]) -> Output {
    Command::new(format!("/usr/bin/{tool}"))
        .args(["-aet", aet, "-aec", "CORELAB", "127.0.0.1", port])
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("/usr/bin/{tool} (Debian package dcmtk; .ci/run installs it): {e}")
        })
}

#[test]
fn dcmtk_clients_echo_and_store_and_unknown_callers_are_turned_away() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let mut server = serve(&data);
    let port = server.port.clone();

    assert!(dcmtk("echoscu", "S01PACS", &port, &[]).status.success());
    let unknown = dcmtk("echoscu", "STRANGER", &port, &[]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("Calling AE Title Not Recognized"));

    let ct = shared("pydicom_test_files/CT_small.dcm");
    let mr = shared("pydicom_test_files/MR_small.dcm");
    let stored = dcmtk("storescu", "S01PACS", &port, &[ct.clone(), mr]);
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    // An object that cannot be linked to a subject (no Patient ID): a failure status, quarantined.
    let no_patient = dcmtk(
        "storescu",
        "S01PACS",
        &port,
        &[shared("pydicom_data/emri_small.dcm")],
    );
    assert!(
        !no_patient.status.success(),
        "a failure status makes storescu fail"
    );
    // 64 associations at once (the default limit), each sending the CT again: all acknowledged,
    // stored once.
    let clients: Vec<_> = (0..64)
        .map(|_| {
            Command::new("/usr/bin/storescu")
                .args(["-aet", "S01PACS", "-aec", "CORELAB", "127.0.0.1", &port])
                .arg(&ct)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in clients {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Hostile or broken peers: garbage instead of a PDU, an A-ASSOCIATE-RQ cut short, a
    // connection dropped at once. The server answers or drops them and keeps serving.
    use std::io::Write;
    for junk in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01], // A-ASSOCIATE-RQ claiming 4 GB
        vec![0x01, 0x00, 0x00, 0x00, 0x00, 0x44, 0x00, 0x01, 0x00, 0x00], // cut short
        Vec::new(),
    ] {
        let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        let _ = s.write_all(&junk);
        drop(s);
    }
    assert!(
        dcmtk("echoscu", "S01PACS", &port, &[]).status.success(),
        "still serving"
    );

    // A trial created while the server runs is routed at once.
    let second = dir.path().join("second.toml");
    std::fs::write(
        &second,
        TRIAL
            .replace("NET-1", "NET-2")
            .replace("S01PACS", "S02PACS"),
    )
    .unwrap();
    assert!(
        corelab(&data, &["trial", "create", second.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        dcmtk("echoscu", "S02PACS", &port, &[]).status.success(),
        "new site routed"
    );

    // A clean stop on SIGTERM.
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(server.child.wait().unwrap().success());

    let status = json(&corelab(&data, &["--json", "status"]));
    assert_eq!(status["instances"], 2, "{status}");
    assert_eq!(status["quarantined"], 1, "{status}");
    let actions = audit_actions(&data);
    assert_eq!(count(&actions, "dimse.reject"), 1, "{actions:?}");
    assert_eq!(count(&actions, "instance.duplicate"), 64, "{actions:?}");
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}
