//! The site gateway (issue 10): the site's PACS sends 500 instances to the gateway with
//! storescu while the hub is killed (SIGKILL) and restarted; the gateway de-identifies and keeps
//! every instance, forwards by STOW-RS, waits out the hub's absence, and in the end every
//! instance is at the hub exactly once and the gateway's outbox is empty. The hub serves HTTPS
//! with a certificate the gateway is told to trust (`--hub-ca`).

mod common;

use common::{corelab, json, lab_with_trial, start};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TRIAL: &str = r#"
[trial]
id = "GW-1"
sponsor = "Example Pharma"
protocol = "EXP-GW"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

fn hub(data: &Path, port: u16, cert: &Path, key: &Path) -> Child {
    let (child, line) = start(
        data,
        &[],
        &[
            "serve",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(line.starts_with("https: listening on"), "{line:?}");
    child
}

fn instances(data: &Path) -> i64 {
    json(&corelab(data, &["--json", "status"]))["instances"]
        .as_i64()
        .unwrap()
}

#[test]
fn every_instance_reaches_the_hub_once_though_the_hub_dies_mid_send() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["hub", "gw", "send"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let hub_data = lab_with_trial(&dir.path().join("hub"), TRIAL);
    let gw_data = lab_with_trial(&dir.path().join("gw"), TRIAL);
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "gateway password\n").unwrap();
    let token = dir.path().join("gw.token");
    for args in [
        vec![
            "user",
            "add",
            "gw",
            "--name",
            "Site gateway",
            "--grant",
            "site@GW-1/S01",
            "--password-file",
            pw.to_str().unwrap(),
        ],
        vec![
            "user",
            "token",
            "gw",
            "--name",
            "gateway",
            "--out",
            token.to_str().unwrap(),
        ],
    ] {
        let o = corelab(&hub_data, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("hub.pem"), dir.path().join("hub.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let mut the_hub = hub(&hub_data, port, &cert, &key);
    let (mut gateway, line) = start(
        &gw_data,
        &[],
        &[
            "gateway",
            "--hub",
            &format!("https://localhost:{port}"),
            "--hub-ca",
            cert.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
            "--dicom",
            "127.0.0.1:0",
            "--aet",
            "GW",
            "--max-backoff",
            "2",
        ],
    );
    let gw_port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();

    let mut files = Vec::new();
    for (patient, study) in [("MRN-1", 1), ("MRN-2", 2)] {
        for (i, bytes) in corelab_dicom::synthetic::ct_series(patient, "Doe^Jane", study, 250)
            .into_iter()
            .enumerate()
        {
            let f = dir
                .path()
                .join("send")
                .join(format!("{patient}-{i:03}.dcm"));
            std::fs::write(&f, bytes).unwrap();
            files.push(f);
        }
    }
    assert_eq!(files.len(), 500);
    let sender = Command::new("/usr/bin/storescu")
        .args(["-aet", "S01PACS", "-aec", "GW", "127.0.0.1", &gw_port])
        .args(&files)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/storescu (Debian package dcmtk; .ci/run installs it)");

    // Once the hub has some of them, it dies; it stays down while the gateway keeps receiving.
    let deadline = Instant::now() + Duration::from_secs(120);
    while instances(&hub_data) < 20 {
        assert!(Instant::now() < deadline, "nothing reached the hub");
        std::thread::sleep(Duration::from_millis(50));
    }
    the_hub.kill().unwrap(); // SIGKILL
    the_hub.wait().unwrap();
    let at_kill = instances(&hub_data);
    std::thread::sleep(Duration::from_secs(3));
    let out = sender.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the gateway refused instances: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(instances(&gw_data), 500, "all kept at the gateway");
    assert!(
        at_kill < 500,
        "the hub died before the send was over ({at_kill})"
    );
    let pending = json(&corelab(&gw_data, &["--json", "gateway", "status"]));
    assert!(pending["pending"].as_i64().unwrap() > 0, "{pending}");

    // The hub comes back on the same address; the gateway empties its outbox.
    let mut the_hub = hub(&hub_data, port, &cert, &key);
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        let s = json(&corelab(&gw_data, &["--json", "gateway", "status"]));
        if s["pending"] == 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "the outbox did not empty: {s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["sent"], 500, "{status}");
    assert_eq!(status["failed"], serde_json::json!([]), "{status}");
    for p in [&mut the_hub, &mut gateway] {
        p.kill().unwrap();
        p.wait().unwrap();
    }

    // Exactly once at the hub: 500 instances, none a second version.
    assert_eq!(instances(&hub_data), 500);
    let log = json(&corelab(&hub_data, &["--json", "audit", "log"]));
    let count = |a: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == a)
            .count()
    };
    assert_eq!(count("instance.store"), 500);
    assert_eq!(count("instance.conflict"), 0);
    for d in [&hub_data, &gw_data] {
        let v = json(&corelab(d, &["--json", "audit", "verify"]));
        assert_eq!(v["ok"], true, "{v}");
    }
    let st = json(&corelab(&hub_data, &["--json", "status"]));
    assert_eq!(st["studies"], 2, "{st}");
    // PHI never left the site: neither the hub's store nor the gateway's holds an original
    // Patient ID or name (the gateway de-identified before storing).
    for d in [&hub_data, &gw_data] {
        let mut found = Vec::new();
        scan(&d.join("blobs"), &mut found);
        assert!(found.is_empty(), "PHI in {found:?}");
    }
}

fn scan(dir: &Path, found: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scan(&p, found);
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        for needle in [&b"MRN-1"[..], b"MRN-2", b"Doe^Jane"] {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(format!(
                    "{}: {}",
                    p.display(),
                    String::from_utf8_lossy(needle)
                ));
            }
        }
    }
}

#[test]
fn a_gateway_without_what_it_needs_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let gw = lab_with_trial(dir.path(), TRIAL);
    let empty = dir.path().join("empty.token");
    std::fs::write(&empty, "\n").unwrap();
    let token = dir.path().join("ok.token");
    std::fs::write(&token, "abc\n").unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let (e, t, c) = (
        empty.to_str().unwrap(),
        token.to_str().unwrap(),
        not_pem.to_str().unwrap(),
    );
    let missing = dir.path().join("missing.token");
    let m = missing.to_str().unwrap();
    for (args, why) in [
        (vec!["gateway", "--hub", "https://hub"], "--token-file"),
        (
            vec![
                "gateway",
                "--hub",
                "https://hub",
                "--token-file",
                e,
                "--dicom",
                "127.0.0.1:0",
            ],
            "the token is empty",
        ),
        (
            vec![
                "gateway",
                "--hub",
                "https://hub",
                "--token-file",
                m,
                "--dicom",
                "127.0.0.1:0",
            ],
            "missing.token",
        ),
        (
            vec![
                "gateway",
                "--hub",
                "ftp://hub",
                "--token-file",
                t,
                "--dicom",
                "127.0.0.1:0",
            ],
            "http:// or https://",
        ),
        (
            vec![
                "gateway",
                "--hub",
                "https://hub",
                "--hub-ca",
                c,
                "--token-file",
                t,
                "--dicom",
                "127.0.0.1:0",
            ],
            "CA",
        ),
    ] {
        let o = corelab(&gw, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
    // Nothing was received, so nothing is pending.
    let s = json(&corelab(&gw, &["--json", "gateway", "status"]));
    assert_eq!(
        (s["pending"].as_i64(), s["sent"].as_i64()),
        (Some(0), Some(0))
    );
}
