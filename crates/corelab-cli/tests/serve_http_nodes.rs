//! Stateless API nodes (issue 10): two `corelab serve --http` processes and a `corelab worker`
//! on one PostgreSQL database and one S3 store serve one trial. A site sends its images with
//! STOW-RS to node A; its session, made on A, works on node B, which finds them with QIDO-RS;
//! the core lab starts the run on B; the worker runs the jobs; A shows the measurements; the
//! audit trail is whole.

mod common;

use common::{corelab_env, json, ok};
use corelab_testkit::{PgDb, S3Server};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Child;

const TRIAL: &str = r#"
[trial]
id = "MS-NODES"
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

/// A `corelab serve --http` node on a free port; returns it and its base URL.
fn node(data: &Path, env: &[(String, String)]) -> (Child, String) {
    let (child, line) = common::start(data, env, &["serve", "--http", "127.0.0.1:0"]);
    let addr = line
        .trim()
        .strip_prefix("http: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, format!("http://{addr}"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.extension().is_some_and(|x| x == "dcm") {
            out.push(p);
        }
    }
    out.sort();
    out
}

async fn login(c: &reqwest::Client, base: &str, user: &str) -> String {
    let r = c
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"username": user, "password": "node test password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {user}");
    let v: Value = r.json().await.unwrap();
    v["session"].as_str().unwrap().to_owned()
}

async fn get(c: &reqwest::Client, url: String, token: &str) -> Value {
    let r = c.get(&url).bearer_auth(token).send().await.unwrap();
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_nodes_and_a_worker_on_postgres_and_s3_serve_one_trial() {
    let pg = PgDb::create().await;
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
            "1",
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
        &["init", "--database", &pg.url, "--store", &s3.url("nodes")],
    ));
    let file = dir.path().join("trial.toml");
    std::fs::write(&file, TRIAL).unwrap();
    ok(&corelab_env(
        &lab,
        &env,
        &["trial", "create", file.to_str().unwrap()],
    ));
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "node test password\n").unwrap();
    for (user, grant) in [
        ("admin", "admin"),
        ("site1", "site@MS-NODES/S01"),
        ("qc", "qc@MS-NODES"),
    ] {
        ok(&corelab_env(
            &lab,
            &env,
            &[
                "user",
                "add",
                user,
                "--name",
                user,
                "--grant",
                grant,
                "--password-file",
                pw.to_str().unwrap(),
            ],
        ));
    }
    let (mut a, url_a) = node(&lab, &env);
    let (mut b, url_b) = node(&lab, &env);
    let c = reqwest::Client::new();

    // The site sends its subject's images to node A, 40 objects a request.
    let site = login(&c, &url_a, "site1").await;
    let objects = files(&phantom.join("MS-001"));
    assert!(objects.len() > 40, "{}", objects.len());
    for chunk in objects.chunks(40) {
        let boundary = "nodes-test-boundary";
        let mut body = Vec::new();
        for f in chunk {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(&std::fs::read(f).unwrap());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let r = c
            .post(format!("{url_a}/dicomweb/MS-NODES/studies"))
            .bearer_auth(&site)
            .header(
                "content-type",
                format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.headers().get("warning"));
    }
    // The session made on A works on B, which finds what A stored.
    let studies = get(&c, format!("{url_b}/dicomweb/MS-NODES/studies"), &site).await;
    assert_eq!(studies.as_array().unwrap().len(), 2, "baseline and M12");
    let stored: i64 = studies
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["00201208"]["Value"][0].as_i64().unwrap())
        .sum();
    assert_eq!(stored as usize, objects.len());

    // The core lab locks the trial and starts the run on B; a worker runs the jobs.
    ok(&corelab_env(&lab, &env, &["trial", "lock", "MS-NODES"]));
    let qc = login(&c, &url_b, "qc").await;
    let r = c
        .post(format!("{url_b}/api/v1/trials/MS-NODES/run"))
        .bearer_auth(&qc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let planned: Value = r.json().await.unwrap();
    assert_eq!(planned["enqueued"], 2, "{planned:#}");
    let lab2 = lab.clone();
    let env2 = env.clone();
    let worker = tokio::task::spawn_blocking(move || {
        corelab_env(
            &lab2,
            &env2,
            &["worker", "--trial", "MS-NODES", "--name", "W", "--once"],
        )
    })
    .await
    .unwrap();
    ok(&worker);

    // Node A shows the jobs and measurements.
    let jobs = get(&c, format!("{url_a}/api/v1/trials/MS-NODES/jobs"), &qc).await;
    let items = jobs["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|j| j["state"] == "succeeded"), "{jobs:#}");
    let m = get(
        &c,
        format!("{url_a}/api/v1/trials/MS-NODES/measurements"),
        &qc,
    )
    .await;
    assert!(m["total"].as_i64().unwrap() >= 2, "{m:#}");
    assert!(
        m["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| !x["unit"].as_str().unwrap().is_empty())
    );
    // The site may not see results.
    let r = c
        .get(format!("{url_b}/api/v1/trials/MS-NODES/measurements"))
        .bearer_auth(&site)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let admin = login(&c, &url_a, "admin").await;
    let v = get(&c, format!("{url_b}/api/v1/audit/verify"), &admin).await;
    assert_eq!(v["ok"], true, "{v:#}");
    for n in [&mut a, &mut b] {
        n.kill().unwrap();
        n.wait().unwrap();
    }
    let verify = json(&corelab_env(&lab, &env, &["--json", "audit", "verify"]));
    assert_eq!(verify["ok"], true, "{verify:#}");
}
