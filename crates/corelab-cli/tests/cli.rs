//! The `corelab` binary as a user or a script meets it: exit codes, one JSON document with
//! --json, one clear error line on bad input, and nothing changed when a command fails.

use corelab_testkit::{PgDb, S3Server};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const TRIAL: &str = "[trial]\nid = \"T-001\"\nsponsor = \"Sp\"\nprotocol = \"P-1\"\nphase = \"III\"\n\n[[sites]]\nid = \"S01\"\nname = \"Site one\"\nae_titles = [\"S01PACS\"]\n";

fn corelab(data: &Path, args: &[&str]) -> Output {
    corelab_env(data, args, &[])
}

fn corelab_env(data: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("CORELAB_DATABASE")
        .env_remove("CORELAB_STORE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {text:?}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn init(dir: &Path) -> std::path::PathBuf {
    let lab = dir.join("lab");
    let out = corelab(&lab, &["init"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    lab
}

/// Writes the test trial file into `dir`.
fn trial_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("trial.toml");
    std::fs::write(&file, TRIAL).unwrap();
    file
}

fn audit_events(lab: &Path) -> i64 {
    json(&corelab(lab, &["status", "--json"]))["audit_events"]
        .as_i64()
        .unwrap()
}

#[test]
fn status_json_has_the_contract_fields() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let out = corelab(&lab, &["status", "--json"]);
    assert_eq!(code(&out), 0);
    let s = json(&out);
    for k in [
        "studies",
        "series",
        "instances",
        "quarantined",
        "audit_events",
    ] {
        assert!(s[k].is_i64(), "{k} missing: {s}");
    }
    assert_eq!(s["audit_events"], 1);
    assert_eq!(s["trials"], serde_json::json!([]));
}

#[test]
fn a_trial_is_created_listed_shown_and_its_file_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let file = trial_file(dir.path());
    let out = corelab(
        &lab,
        &[
            "trial",
            "create",
            file.to_str().unwrap(),
            "--json",
            "--actor",
            "analyst:ann",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["id"], "T-001");
    let list = json(&corelab(&lab, &["trial", "list", "--json"]));
    assert_eq!(list[0]["sites"], 1);
    let show = json(&corelab(&lab, &["trial", "show", "T-001", "--json"]));
    assert_eq!(
        show["sites"][0]["ae_titles"],
        serde_json::json!(["S01PACS"])
    );
    let text = corelab(&lab, &["trial", "show", "T-001", "--file"]);
    assert_eq!(
        String::from_utf8(text.stdout).unwrap().trim_end(),
        TRIAL.trim_end()
    );
    let log = json(&corelab(&lab, &["audit", "log", "--json"]));
    let last = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("trial.create"), Some("analyst:ann"))
    );
    assert!(last["payload"]["after_sha256"].is_string());
    let status = json(&corelab(&lab, &["status", "--json"]));
    assert_eq!(status["trials"][0]["id"], "T-001");
}

#[test]
fn a_bad_trial_file_is_one_error_line_naming_file_and_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, TRIAL.replace("\"III\"", "\"3\"")).unwrap();
    let out = corelab(&lab, &["trial", "create", file.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("bad.toml") && err.contains("phase"),
        "{err}"
    );
    assert_eq!(audit_events(&lab), 1);
    let missing = corelab(&lab, &["trial", "create", "/no/such/trial.toml"]);
    assert_eq!(code(&missing), 1);
    assert!(stderr(&missing).contains("/no/such/trial.toml"));
}

#[test]
fn a_directory_that_is_not_an_installation_gets_exit_1_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x"), "x").unwrap();
    for args in [&["status"][..], &["audit", "verify"], &["trial", "list"]] {
        let out = corelab(dir.path(), args);
        assert_eq!(code(&out), 1, "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("is not a corelab installation")
                && err.contains(&dir.path().display().to_string()),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_damaged_installation_file_or_missing_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let cfg = lab.join("corelab.toml");
    let good = std::fs::read(&cfg).unwrap();
    std::fs::write(&cfg, "[installation]\nid = 3\n").unwrap();
    let out = corelab(&lab, &["status"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("corelab.toml: not a corelab installation file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    std::fs::write(&cfg, good).unwrap();
    std::fs::rename(
        lab.join("audit-signing-key.pem"),
        dir.path().join("key.pem"),
    )
    .unwrap();
    let out = corelab(&lab, &["audit", "verify"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("audit-signing-key.pem"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(code(&corelab(dir.path(), &["frobnicate"])), 2);
    assert_eq!(code(&corelab(dir.path(), &["audit"])), 2);
}

#[tokio::test]
async fn audit_verify_exits_3_naming_the_first_bad_event() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let file = trial_file(dir.path());
    corelab(&lab, &["trial", "create", file.to_str().unwrap()]);
    let ok = corelab(&lab, &["audit", "verify", "--json"]);
    assert_eq!(code(&ok), 0);
    let r = json(&ok);
    assert_eq!(
        (
            r["ok"].as_bool(),
            r["events"].as_i64(),
            r["first_bad"].is_null()
        ),
        (Some(true), Some(3), true)
    );

    let url = format!("sqlite://{}/corelab.db", lab.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let bad = corelab(&lab, &["audit", "verify", "--json"]);
    assert_eq!(code(&bad), 3);
    let r = json(&bad);
    assert_eq!(r["ok"], false);
    assert_eq!(r["first_bad"]["seq"], 2);
    assert!(
        r["first_bad"]["why"]
            .as_str()
            .unwrap()
            .contains("a field was changed")
    );
    let text = corelab(&lab, &["audit", "verify"]);
    assert_eq!(code(&text), 3);
    assert!(String::from_utf8_lossy(&text.stdout).contains("BROKEN at event 2"));
}

#[tokio::test]
async fn removing_the_last_command_s_events_is_found_because_every_command_signs_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let file = trial_file(dir.path());
    corelab(&lab, &["trial", "create", file.to_str().unwrap()]);
    // A tamperer with database access removes the trial's events, its checkpoint, and fixes the head.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/corelab.db", lab.display()))
        .await
        .unwrap();
    for sql in [
        "DELETE FROM audit_checkpoints WHERE seq > 1",
        "DELETE FROM audit_events WHERE seq > 1",
        "UPDATE audit_head SET seq = 1, hash = (SELECT hash FROM audit_events WHERE seq = 1)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let out = corelab(&lab, &["audit", "verify", "--json"]);
    assert_eq!(code(&out), 3);
    let r = json(&out);
    assert_eq!(r["first_bad"]["seq"], 2);
    assert!(
        r["first_bad"]["why"]
            .as_str()
            .unwrap()
            .contains("anchored in the blob store")
    );
}

#[test]
fn a_corrupted_blob_is_an_error_naming_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let file = trial_file(dir.path());
    let t = json(&corelab(
        &lab,
        &["trial", "create", file.to_str().unwrap(), "--json"],
    ));
    let sha = t["config_sha256"].as_str().unwrap();
    let path = lab
        .join("blobs/sha256")
        .join(&sha[..2])
        .join(&sha[2..4])
        .join(sha);
    std::fs::write(&path, TRIAL.replace("Site one", "Site 0ne")).unwrap();
    let out = corelab(&lab, &["trial", "show", "T-001", "--file"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("is corrupt") && err.contains(sha), "{err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn a_newer_schema_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/corelab.db", lab.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (42, 'future', 1, X'00', 1)")
        .execute(&pool).await.unwrap();
    pool.close().await;
    let out = corelab(&lab, &["status"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("schema version 42, newer than this corelab knows (up to 10)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let out = corelab(
        &lab,
        &["status", "--database", "postgres://u:pw@127.0.0.1:9/db"],
    );
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect to database postgres://u:***@127.0.0.1:9/db")
            && !err.contains("pw@"),
        "{err}"
    );
}

#[test]
fn urls_of_unknown_kinds_are_refused_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    let out = corelab(&lab, &["init", "--database", "mysql://h/db"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("mysql://h/db: expected a sqlite://… or postgres://… URL"),
        "{}",
        stderr(&out)
    );
    let out = corelab(&lab, &["init", "--store", "ftp://h/x"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("blob store URL \"ftp://h/x\": unknown scheme"),
        "{}",
        stderr(&out)
    );
    assert!(!lab.exists(), "a refused init left files behind");
}

#[test]
fn init_twice_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let before = std::fs::read(lab.join("corelab.toml")).unwrap();
    let out = corelab(&lab, &["init"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("already a corelab installation"));
    assert_eq!(std::fs::read(lab.join("corelab.toml")).unwrap(), before);
}

#[test]
fn the_key_file_is_private_and_audit_key_prints_its_public_half() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let mode = std::fs::metadata(lab.join("audit-signing-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = corelab(&lab, &["audit", "key"]);
    let key = String::from_utf8(out.stdout).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn postgres_and_s3_through_the_command_line() {
    let pg = PgDb::create_blocking();
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    let env = s3.env();
    let out = corelab_env(
        &lab,
        &[
            "init",
            "--database",
            &pg.url,
            "--store",
            &s3.url("cli"),
            "--json",
        ],
        &env,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["store"], s3.url("cli"));
    let file = trial_file(dir.path());
    let out = corelab_env(&lab, &["trial", "create", file.to_str().unwrap()], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&corelab_env(&lab, &["audit", "checkpoint"], &env)), 0);
    let v = json(&corelab_env(&lab, &["audit", "verify", "--json"], &env));
    assert_eq!(
        (
            v["ok"].as_bool(),
            v["events"].as_i64(),
            v["anchors"].as_i64()
        ),
        // init and trial create each sign their head; the explicit checkpoint finds it signed
        (Some(true), Some(3), Some(2))
    );
    // Without the S3 settings the store cannot be reached: one clear line, exit 1.
    let out = corelab(&lab, &["status"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains(&s3.url("cli")), "{}", stderr(&out));
}

/// The workspace's root (the UI's sources and `target/ui-screenshots` are there).
fn workspace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `corelab demo --serve`: the demo runs end to end and prints its JSON document, then serves the
/// installation with the web UI and one login per role; the UI's end-to-end test
/// (`ui/e2e/run.mjs`, headless Chromium through playwright-core) drives it as each role and saves
/// screenshots under `target/ui-screenshots/`. One demo serves both checks: it takes minutes.
#[test]
fn demo_runs_end_to_end_then_serves_the_web_ui() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let ui = workspace().join("ui");
    assert!(
        ui.join("dist/index.html").is_file() && ui.join("node_modules/playwright-core").is_dir(),
        "the web UI is not built: run `npm ci && npm run build` in ui/ (.ci/run does)"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_corelab"))
        .args(["demo", "--json", "--out"])
        .arg(&data)
        .args(["--serve", "127.0.0.1:0", "--http", "127.0.0.1:0", "--ui"])
        .arg(ui.join("dist"))
        .env_remove("CORELAB_DATABASE")
        .env_remove("CORELAB_STORE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let child = Kill(child);
    // The document, then `http: listening on ADDR` once it serves.
    let mut lines = BufReader::new(stdout).lines();
    let mut text = String::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the demo ended before it served")
            .unwrap();
        if let Some(a) = line.strip_prefix("http: listening on ") {
            break a.to_owned();
        }
        text.push_str(&line);
        text.push('\n');
    };
    std::thread::spawn(move || for _ in lines {});
    let d: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the demo's stdout is not one JSON document ({e}): {text:?}"));
    // Every export, written into the demo's folder (issue 14).
    let exports = &d["exports"]["written"];
    let folder = data.join("exports");
    for trial in ["DEMO-MS-001", "DEMO-DLB-002"] {
        let t = &exports[trial];
        assert!(t["endpoints.csv"]["rows"].as_u64().unwrap() > 0, "{t:#}");
        for f in [
            "endpoints.csv",
            "endpoints.json",
            "endpoints.parquet",
            "endpoints.dictionary.csv",
            "sdtm/nv.xpt",
            "sdtm/define.xml",
            "reports/qc.pdf",
        ] {
            assert!(folder.join(trial).join(f).is_file(), "{trial}/{f}");
        }
        assert!(t["dicom"]["objects"].as_u64().unwrap() > 0, "{t:#}");
        assert!(t["reports"].as_array().unwrap().len() > 1, "{t:#}");
    }
    // The DaT SPECT is a multi-frame NM object, which the SEG/SR writers do not take: listed.
    let left_out = exports["DEMO-DLB-002"]["dicom"]["not_exported"]
        .as_array()
        .unwrap();
    assert!(
        !left_out.is_empty()
            && left_out.iter().all(|s| {
                s["algorithm"]
                    .as_str()
                    .unwrap()
                    .starts_with("neuro.dat-sbr@")
                    && s["why"].as_str().unwrap().contains("multi-frame")
            }),
        "{left_out:#?}"
    );
    for study in ["DEMO-ONC", "DEMO-RANO"] {
        for f in ["tu.xpt", "tr.xpt", "rs.xpt", "define.xml"] {
            assert!(
                folder.join(study).join("sdtm").join(f).is_file(),
                "{study}/{f}"
            );
        }
    }
    let shots = workspace().join("target/ui-screenshots");
    let e2e = Command::new("node")
        .current_dir(&ui)
        .arg("e2e/run.mjs")
        .arg(format!("http://{addr}"))
        .arg(data.join("demo-logins.json"))
        .arg(&shots)
        .output()
        .expect("node (Node.js) runs the UI's end-to-end test");
    assert!(
        e2e.status.success(),
        "ui/e2e/run.mjs failed:\n{}\n{}",
        String::from_utf8_lossy(&e2e.stdout),
        String::from_utf8_lossy(&e2e.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&e2e.stdout));
    for page in [
        "dashboard",
        "viewer",
        "qc-review",
        "audit",
        "results-ms",
        "read",
        "adjudication",
    ] {
        assert!(shots.join(format!("{page}.png")).is_file(), "{page}.png");
    }
    // The reads the browser made, as the command line sees them: six reads (three subjects, two
    // readers each) and one adjudication; two reads and the adjudication signed, every signature
    // valid (the QC rejection's too); the adjudicated case's accepted read flagged.
    let reads = |what: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_corelab"))
            .args(["--json", "--data"])
            .arg(&data)
            .args(["reads", what, "DEMO-MS-001"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reads {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let list = reads("list");
    let tasks = list.as_array().unwrap();
    assert_eq!(tasks.len(), 7, "{list:#}");
    assert_eq!(
        tasks.iter().filter(|t| t["state"] == "signed").count(),
        3,
        "{list:#}"
    );
    assert_eq!(
        tasks.iter().filter(|t| t["accepted"] == true).count(),
        1,
        "{list:#}"
    );
    // Signed: the two reads, the adjudication, and the analyst's QC rejection.
    let signatures = reads("signatures");
    assert_eq!(signatures.as_array().unwrap().len(), 4, "{signatures:#}");
    assert!(
        signatures
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["valid"] == true)
    );
    let stats = reads("stats");
    assert_eq!(stats["adjudications"], 1, "{stats:#}");
    assert_eq!(stats["pairs"][0]["subjects"], 1, "{stats:#}");
    drop(child);
    check_demo_document(&d);
    // The demo planned the MS trial's reads: three subjects, two readers each.
    assert_eq!(
        d["trials"][0]["reads"]["tasks"], 6,
        "{:#}",
        d["trials"][0]["reads"]
    );
}

/// What the demo's JSON document must say: every chain's results next to its phantom's truth.
fn check_demo_document(d: &Value) {
    assert_eq!(d["audit_ok"], true);
    assert_eq!(d["outputs_sha256"].as_str().unwrap().len(), 64);
    // The oncology chain: every time point's response as the phantom's truth, the sums of
    // diameters within 2 mm per target (lesion-seg 1.1.0 and later read long axes about half a millimetre
    // long: the demo measured +2.8 to +5.4 mm over five or six targets).
    let onco = d["oncology"]["subjects"].as_array().unwrap();
    assert_eq!(onco.len(), 3);
    for s in onco {
        for p in s["time_points"].as_array().unwrap() {
            assert_eq!(p["agrees"], true, "{s}");
            let (found, truth) = (
                p["sum_mm"].as_f64().unwrap(),
                p["truth_sum_mm"].as_f64().unwrap(),
            );
            assert!((found - truth).abs() <= 10.0, "{s}");
        }
        let folder = std::path::PathBuf::from(s["files"].as_str().unwrap());
        assert!(folder.join("rs.csv").exists() && folder.join("lesions.json").exists());
        // Lesion tracking: each baseline lesion matched at a follow-up exactly when the phantom
        // still has it.
        let tracking = s["tracking"].as_array().unwrap();
        assert_eq!(tracking.len(), 2, "{s}");
        for v in tracking {
            assert_eq!(v["agrees"], true, "{v}");
        }
    }
    // The neuro-oncology chain (RANO on the glioma phantom): every time point's response as the
    // truth's, each lesion's perpendicular diameters within a voxel (2 mm), and the best responses
    // of the three courses: a confirmed PR; SD before the progression; SD, the one PR being
    // unconfirmed.
    let rano = d["neuro_oncology"]["subjects"].as_array().unwrap();
    assert_eq!(rano.len(), 3);
    for s in rano {
        for p in s["time_points"].as_array().unwrap() {
            assert_eq!(p["agrees"], true, "{s}");
        }
        for l in s["lesions"].as_array().unwrap() {
            for (found, truth) in [("long_mm", "truth_long_mm"), ("short_mm", "truth_short_mm")] {
                let e = l[found].as_f64().unwrap() - l[truth].as_f64().unwrap();
                assert!(e.abs() <= 2.0, "{l}");
            }
        }
        let folder = std::path::PathBuf::from(s["files"].as_str().unwrap());
        assert!(folder.join("rs.csv").exists() && folder.join("lesions.json").exists());
    }
    let best: Vec<&str> = rano
        .iter()
        .map(|s| s["best_overall_response"].as_str().unwrap())
        .collect();
    assert_eq!(best, ["PR", "SD", "SD"], "{rano:?}");
    // PET: SUVpeak within 3 % of each lesion's SUV; cardiac: EF within 2 points of the truth.
    let lesions = d["pet"]["lesions"].as_array().unwrap();
    assert!(!lesions.is_empty());
    for l in lesions {
        let (peak, suv) = (
            l["suv_peak"].as_f64().unwrap(),
            l["truth_suv"].as_f64().unwrap(),
        );
        assert!((peak / suv - 1.0).abs() < 0.03, "{l}");
    }
    // PERCIST: a partial metabolic response and a progression, as the exact SULs give them.
    let percist = d["pet"]["percist"]["followups"].as_array().unwrap();
    let responses: Vec<&str> = percist
        .iter()
        .map(|r| r["response"].as_str().unwrap())
        .collect();
    assert_eq!(responses, ["PMR", "PMD"], "{percist:?}");
    assert!(percist.iter().all(|r| r["agrees"] == true), "{percist:?}");
    for s in d["cardiac"]["subjects"].as_array().unwrap() {
        let (ef, truth) = (
            s["ef_percent"].as_f64().unwrap(),
            s["truth_ef_percent"].as_f64().unwrap(),
        );
        assert!((ef - truth).abs() <= 2.0, "{s}");
        // LGE by FWHM within 2 points of the scar's share (docs/algorithms/cardiac.lge.md).
        let (lge, truth) = (
            s["lge_percent_fwhm"].as_f64().unwrap(),
            s["truth_lge_percent"].as_f64().unwrap(),
        );
        assert!((lge - truth).abs() <= 2.0, "{s}");
    }
    let (ms, dlb) = (&d["trials"][0], &d["trials"][1]);
    assert_eq!(
        (ms["trial"].as_str(), dlb["trial"].as_str()),
        (Some("DEMO-MS-001"), Some("DEMO-DLB-002"))
    );
    for t in d["status"]["trials"].as_array().unwrap() {
        assert_eq!(
            (t["sites"].as_u64(), t["subjects"].as_u64()),
            (Some(3), Some(3)),
            "{t}"
        );
    }
    // The phantoms of three sites went through the ingest pipeline over DICOM, de-identified;
    // the MS trial's object without a Patient ID was quarantined.
    let stored = ms["ingest"]["stored"].as_u64().unwrap();
    assert!(stored > 100, "{d:#}");
    assert_eq!(ms["ingest"]["quarantined"], 1);
    // Each DLB subject: an amyloid PET (one file per slice) and one multi-frame NM SPECT.
    let nuclear = dlb["ingest"]["stored"].as_u64().unwrap();
    assert_eq!(dlb["ingest"]["quarantined"], 0);
    assert_eq!(d["status"]["instances"].as_u64(), Some(stored + nuclear));
    // QC passed every series and visit. MS: each visit's T1w got N4, brain extraction and tissue
    // segmentation, its FLAIR (with the T1w) lesion segmentation by the classical detector, and
    // (alone) by the reference network; each follow-up the lesion change and the brain volume
    // change against the baseline: 6 × 5 + 3 × 2 locked jobs. DLB: each screening visit's
    // amyloid PET and DaT SPECT: 3 × 2.
    for (t, visits, jobs) in [(ms, 6, 36), (dlb, 3, 6)] {
        assert_eq!(
            (
                t["qc"]["visits"]["pass"].as_u64(),
                t["qc"]["problems"].as_u64()
            ),
            (Some(visits), Some(0)),
            "{t:#}"
        );
        assert_eq!(
            (
                t["jobs"]["succeeded"].as_u64(),
                t["jobs"]["failed"].as_u64()
            ),
            (Some(jobs), Some(0)),
            "{t:#}"
        );
    }
    // MS: 6 visits × (field-cv, 2 brain extraction, 4 tissue, 2 lesion measures by each of the
    // two lesion algorithms) + 3 × 3 follow-up. DLB: 3 subjects × (SUVR, Centiloid, positivity,
    // 4 SBRs, putamen asymmetry).
    assert_eq!(
        ms["endpoints"].as_array().unwrap().len(),
        6 * 11 + 3 * 3,
        "{ms:#}"
    );
    assert_eq!(dlb["endpoints"].as_array().unwrap().len(), 3 * 8, "{dlb:#}");
    let endpoints = ms["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .chain(dlb["endpoints"].as_array().unwrap());
    for e in endpoints {
        // Each next to the phantom's truth, with its error.
        let (value, truth) = (e["value"].as_f64().unwrap(), e["truth"].as_f64().unwrap());
        assert!(
            (e["error"].as_f64().unwrap() - (value - truth)).abs() < 1e-12,
            "{e}"
        );
        let algorithm = e["algorithm"].as_str().unwrap();
        match e["measure"].as_str().unwrap() {
            "field-cv" => {
                assert_eq!(
                    (algorithm, e["unit"].as_str()),
                    ("image.bias-n4@1.0.0", Some("1"))
                );
                assert!(value > 0.0 && truth > 0.0 && truth < 0.2, "{e}");
            }
            // The targets that the demo's phantoms check.
            "new-lesions" | "enlarging-lesions" | "positive" => assert_eq!(value, truth, "{e}"),
            "pbvc" => assert!((value - truth).abs() <= 0.3, "{e}"),
            // The reference network's volumes: within 20 % (its held-out accuracy,
            // docs/algorithms/dl.flair-lesions.md), its count within 2.
            "lesion-volume" if algorithm.starts_with("dl.flair-lesions@") => {
                assert!((value - truth).abs() <= 0.2 * truth, "{e}")
            }
            "lesion-count" if algorithm.starts_with("dl.flair-lesions@") => {
                assert!((value - truth).abs() <= 2.0, "{e}")
            }
            "brain-volume" | "wm-volume" | "lesion-volume" => {
                assert!((value - truth).abs() <= 0.1 * truth, "{e}")
            }
            // Amyloid and DaT against the region-mean truth (docs/algorithms/neuro.*.md).
            "suvr" => assert!((value / truth - 1.0).abs() <= 0.03, "{e}"),
            "centiloid" => assert!((value - truth).abs() <= 6.0, "{e}"),
            m if m.starts_with("sbr-") => assert!((value / truth - 1.0).abs() <= 0.1, "{e}"),
            "asymmetry-putamen" => assert!((value - truth).abs() <= 12.0, "{e}"),
            _ => assert!(value.is_finite(), "{e}"),
        }
    }
}

#[test]
fn serve_and_worker_refuse_what_they_cannot_do_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path());
    let out = corelab(&lab, &["serve"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("--dicom ADDR, --workers N"),
        "{}",
        stderr(&out)
    );
    // A UI folder that holds no built UI is refused before anything is served.
    let empty = dir.path().join("no-ui");
    std::fs::create_dir_all(&empty).unwrap();
    let out = corelab(
        &lab,
        &[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--ui",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no index.html there"),
        "{}",
        stderr(&out)
    );
    let out = corelab(&lab, &["worker", "--lease-secs", "0"]);
    assert_eq!(code(&out), 2, "a lease of 0 s is a usage error");
    assert!(stderr(&out).contains("--lease-secs"), "{}", stderr(&out));
    let out = corelab(&lab, &["run", "NOPE"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no trial NOPE"), "{}", stderr(&out));
    let out = corelab(&lab, &["jobs", "NOPE"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no trial NOPE"), "{}", stderr(&out));
}
