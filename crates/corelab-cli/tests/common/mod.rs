//! Helpers shared by the command-line tests: run `corelab` on an installation, read its JSON,
//! find the shared corpus, and run `corelab serve --dicom` on a free port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// `corelab --data DATA ARGS…`.
pub fn corelab(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

/// [`corelab`] with environment variables (an S3 server's credentials).
pub fn corelab_env(data: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// Asserts that a command succeeded, with its stderr in the message.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Starts `corelab --data DATA ARGS…` (with `env`) and returns it with the first line it prints
/// (a server's address); what it prints later is read and dropped, so it never blocks. Its log
/// (stderr) is dropped too, unless `CORELAB_TEST_LOGS` names a folder to keep it in, one file per
/// process (`serve-<nanoseconds>.log`), for a test that fails only now and then.
pub fn start(data: &Path, env: &[(String, String)], args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(match std::env::var_os("CORELAB_TEST_LOGS") {
            Some(d) => Stdio::from(
                std::fs::File::create(std::path::Path::new(&d).join(format!(
                    "{}-{}.log",
                    args[0],
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos()
                )))
                .unwrap(),
            ),
            None => Stdio::null(),
        })
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    (child, line)
}

/// The command's stdout as JSON (with its output in the panic message when it is not).
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// A path in `../shared/data/dicom_conformance`.
pub fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance")
        .join(rel)
}

/// A new installation in `dir/lab` with the trial of `toml` created.
pub fn lab_with_trial(dir: &Path, toml: &str) -> PathBuf {
    let data = dir.join("lab");
    assert!(corelab(&data, &["init"]).status.success());
    let trial = dir.join("trial.toml");
    std::fs::write(&trial, toml).unwrap();
    let created = corelab(&data, &["trial", "create", trial.to_str().unwrap()]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    data
}

/// `corelab serve --dicom 127.0.0.1:0 --aet CORELAB`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the storage SCP on a free port and reads the port from its first line.
pub fn serve(data: &Path) -> Server {
    serve_with(data, &[])
}

/// [`serve`] with more options.
pub fn serve_with(data: &Path, options: &[&str]) -> Server {
    let mut args = vec!["serve", "--dicom", "127.0.0.1:0", "--aet", "CORELAB"];
    args.extend_from_slice(options);
    let (child, line) = start(data, &[], &args);
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Server { child, port }
}

/// The actions of the installation's audit trail, oldest first.
pub fn audit_actions(data: &Path) -> Vec<String> {
    json(&corelab(data, &["--json", "audit", "log"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// How many times `action` occurs in `actions`.
pub fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

/// The MS trial of the QC and run tests: three sites, baseline / M12 / M24 with their windows,
/// T1w and FLAIR roles with requirements; `{ID}` is the trial's id.
const MS_TRIAL: &str = r#"
[trial]
id = "{ID}"
sponsor = "Example Pharma"
protocol = "EXP-MS-01"
phase = "IIb"
indication = "Relapsing multiple sclerosis"

[[sites]]
id = "S01"
name = "University Hospital A"

[[sites]]
id = "S02"
name = "Clinique du Parc B"

[[sites]]
id = "S03"
name = "Regional Medical Center C"

[deid]
options = ["retain-long-modified-dates", "clean-descriptors"]

[[visits]]
name = "baseline"
day = 0
window_days = 3
required = ["T1w", "FLAIR"]

[[visits]]
name = "M12"
day = 365
window_days = 14
required = ["T1w", "FLAIR"]

[[visits]]
name = "M24"
day = 730
window_days = 14
required = ["T1w", "FLAIR"]

[roles.T1w]
description = "3-D T1-weighted gradient echo, sagittal"
[roles.T1w.match]
modality = ["MR"]
description = ["*T1*", "*BRAVO*", "*TFE*"]
exclude_description = ["*FLAIR*", "*dark-fluid*"]
mr_acquisition_type = "3D"
[roles.T1w.require]
field_strength_t = [1.5, 3.0]
slice_thickness_mm = { max = 3.5 }
pixel_spacing_mm = { max = 3.5 }
orientation = "sagittal"
coverage_mm = { min = 150 }

[roles.FLAIR]
description = "2-D T2 FLAIR, axial"
[roles.FLAIR.match]
modality = ["MR"]
description = ["*FLAIR*", "*dark-fluid*"]
scanning_sequence = ["IR"]
[roles.FLAIR.require]
field_strength_t = [1.5, 3.0]
slice_thickness_mm = { max = 6.5 }
ti_ms = [1800, 3000]
orientation = "axial"
"#;

/// [`MS_TRIAL`] as trial `id`, with `extra` appended (e.g. `[[algorithms]]`).
pub fn ms_trial(id: &str, extra: &str) -> String {
    format!("{}{extra}", MS_TRIAL.replace("{ID}", id))
}

/// `corelab phantom KIND --out OUT --subsamples 1 ARGS…` (in a scratch installation beside it),
/// which must succeed.
pub fn make_phantom(dir: &Path, kind: &str, out: &Path, args: &[&str]) {
    let mut all = vec![
        "phantom",
        kind,
        "--out",
        out.to_str().unwrap(),
        "--subsamples",
        "1",
    ];
    all.extend_from_slice(args);
    let made = corelab(&dir.join("scratch"), &all);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}
