//! Scale-out on PostgreSQL and S3 (issue 7): two `corelab worker` processes share one queue; the
//! first is killed with SIGKILL in the middle of a job, and the second takes the job over when
//! its lease expires and completes it — every job completed exactly once, the audit trail whole.

mod common;

use common::{corelab_env, json, ok};
use corelab_testkit::{PgDb, S3Server};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TRIAL: &str = r#"
[trial]
id = "MS-SCALE"
sponsor = "Example Pharma"
protocol = "EXP-MS-02"
phase = "II"

[[sites]]
id = "S01"
name = "University Hospital A"

[[sites]]
id = "S02"
name = "Clinique du Parc B"

[deid]
options = ["retain-long-modified-dates", "clean-descriptors"]

[[visits]]
name = "baseline"
day = 0
window_days = 3
required = ["T1w"]

[[visits]]
name = "M12"
day = 365
window_days = 14
required = ["T1w"]

[qc]
unmatched = "ignore"      # the FLAIR series are not this trial's

[roles.T1w.match]
modality = ["MR"]
mr_acquisition_type = "3D"

[[algorithms]]
id = "image.bias-n4"
version = "^1.0"
params = { shrink = 4, levels = 3, iterations = 50, convergence = 0.0 }
inputs = { image = "T1w" }
"#;

fn worker(data: &Path, env: &[(String, String)], name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args([
            "worker",
            "--trial",
            "MS-SCALE",
            "--name",
            name,
            "--lease-secs",
            "2",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn jobs(data: &Path, env: &[(String, String)]) -> Vec<Value> {
    json(&corelab_env(data, env, &["--json", "jobs", "MS-SCALE"]))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_worker_killed_mid_job_leaves_the_job_to_another_that_completes_it_once() {
    let pg = PgDb::create_blocking();
    let s3 = S3Server::start();
    let env = s3.env();
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("phantom");
    ok(&corelab_env(
        &dir.path().join("scratch"),
        &[],
        &[
            "phantom",
            "ms-lesions",
            "--out",
            phantom.to_str().unwrap(),
            "--subjects",
            "2",
            "--voxel-mm",
            "2",
            "--subsamples",
            "1",
        ],
    ));
    let lab = dir.path().join("lab");
    ok(&corelab_env(
        &lab,
        &env,
        &["init", "--database", &pg.url, "--store", &s3.url("scale")],
    ));
    let file = dir.path().join("trial.toml");
    std::fs::write(&file, TRIAL).unwrap();
    ok(&corelab_env(
        &lab,
        &env,
        &["trial", "create", file.to_str().unwrap()],
    ));
    for (site, subject) in [("S01", "MS-001"), ("S02", "MS-002")] {
        ok(&corelab_env(
            &lab,
            &env,
            &[
                "import",
                "MS-SCALE",
                "--site",
                site,
                phantom.join(subject).to_str().unwrap(),
            ],
        ));
    }
    ok(&corelab_env(&lab, &env, &["trial", "lock", "MS-SCALE"]));
    let planned = json(&corelab_env(&lab, &env, &["--json", "run", "MS-SCALE"]));
    assert_eq!(planned["enqueued"], 4, "{planned:#}");

    // Worker A takes a job; it is killed while the job runs.
    let mut a = worker(&lab, &env, "A");
    let deadline = Instant::now() + Duration::from_secs(120);
    let taken = loop {
        assert!(Instant::now() < deadline, "worker A never started a job");
        if let Some(j) = jobs(&lab, &env)
            .into_iter()
            .find(|j| j["state"] == "running" && j["worker"] == "A")
        {
            break j["id"].as_i64().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let left = jobs(&lab, &env);
    let job = left.iter().find(|j| j["id"] == taken).unwrap();
    assert_eq!(job["state"], "running", "killed mid-job: {job:#}");

    // Worker B finishes the queue, taking over A's job once its lease has expired.
    let mut b = worker(&lab, &env, "B");
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let all = jobs(&lab, &env);
        if all.iter().all(|j| j["state"] == "succeeded") {
            break all;
        }
        assert!(
            Instant::now() < deadline && all.iter().all(|j| j["state"] != "failed"),
            "{all:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    b.kill().unwrap();
    b.wait().unwrap();
    let job = done.iter().find(|j| j["id"] == taken).unwrap();
    assert_eq!(
        (job["worker"].as_str(), job["attempts"].as_i64()),
        (Some("B"), Some(2)),
        "{job:#}"
    );

    // Each job succeeded once: one job.succeed each, A's start and B's takeover of the job.
    let log = json(&corelab_env(&lab, &env, &["--json", "audit", "log"]));
    let events: Vec<&Value> = log.as_array().unwrap().iter().collect();
    let of = |action: &str, id: i64| {
        events
            .iter()
            .filter(|e| e["action"] == action && e["object_id"] == format!("MS-SCALE/{id}"))
            .count()
    };
    for j in &done {
        assert_eq!(of("job.succeed", j["id"].as_i64().unwrap()), 1, "{j:#}");
    }
    assert_eq!(of("job.start", taken), 2);
    let verify = json(&corelab_env(&lab, &env, &["--json", "audit", "verify"]));
    assert_eq!(verify["ok"], true, "{verify:#}");
}
