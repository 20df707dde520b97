//! `corelab user`: accounts with grants from the command line, refused grants named, the
//! password never printed or stored in the clear, and a token written once to a private file.

mod common;

use common::json;
use std::path::Path;
use std::process::{Command, Output};

fn corelab(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

const TRIAL: &str = "[trial]\nid = \"T1\"\nsponsor = \"S\"\nprotocol = \"P\"\nphase = \"II\"\n\n[[sites]]\nid = \"S01\"\nname = \"A\"\n";

#[test]
fn users_are_added_listed_disabled_and_given_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    assert!(corelab(&lab, &["init"]).status.success());
    let trial = dir.path().join("t.toml");
    std::fs::write(&trial, TRIAL).unwrap();
    assert!(
        corelab(&lab, &["trial", "create", trial.to_str().unwrap()])
            .status
            .success()
    );
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a long enough secret\n").unwrap();
    let pw = pw.to_str().unwrap();
    let add = corelab(
        &lab,
        &[
            "--json",
            "user",
            "add",
            "s01",
            "--name",
            "Site One",
            "--grant",
            "site@T1/S01",
            "--password-file",
            pw,
        ],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    assert_eq!(json(&add)["grants"][0]["site"], "S01");
    // Grants that make no sense, or name what does not exist, are refused by name.
    for (grant, why) in [
        ("site@T1", "site@TRIAL/SITE"),
        ("qc@T9", "no trial T9"),
        ("boss", "unknown role"),
    ] {
        let o = corelab(
            &lab,
            &[
                "user",
                "add",
                "x",
                "--name",
                "X",
                "--grant",
                grant,
                "--password-file",
                pw,
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{grant}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{grant}: {err}");
    }
    let again = corelab(
        &lab,
        &[
            "user",
            "add",
            "s01",
            "--name",
            "S",
            "--grant",
            "admin",
            "--password-file",
            pw,
        ],
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = dir.path().join("short");
    std::fs::write(&short, "short\n").unwrap();
    let o = corelab(
        &lab,
        &[
            "user",
            "add",
            "y",
            "--name",
            "Y",
            "--grant",
            "admin",
            "--password-file",
            short.to_str().unwrap(),
        ],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("at least 8 characters"));

    let token = dir.path().join("s01.token");
    let t = corelab(
        &lab,
        &[
            "user",
            "token",
            "s01",
            "--name",
            "gateway",
            "--days",
            "30",
            "--out",
            token.to_str().unwrap(),
        ],
    );
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let secret = std::fs::read_to_string(&token).unwrap();
    assert_eq!(secret.trim().len(), 43, "256 bits, base64url");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!String::from_utf8_lossy(&t.stdout).contains(secret.trim()));

    assert!(corelab(&lab, &["user", "disable", "s01"]).status.success());
    let list = json(&corelab(&lab, &["--json", "user", "list"]));
    assert_eq!(list[0]["username"], "s01");
    assert_eq!(list[0]["disabled"], true);
    // Nothing in the database or the audit trail holds the password or the token in the clear.
    let mut db = std::fs::read(lab.join("corelab.db")).unwrap();
    db.extend(std::fs::read(lab.join("corelab.db-wal")).unwrap_or_default());
    for needle in ["a long enough secret", secret.trim()] {
        assert!(
            !db.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle}"
        );
    }
    let log = json(&corelab(&lab, &["--json", "audit", "log"]));
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["user.add", "user.token", "user.disable"] {
        assert!(actions.contains(&a), "{a}: {actions:?}");
    }
}
