//! `corelab run` end to end (issue 7, jobs): a locked MS phantom trial's algorithm runs as jobs
//! on every visit that passed QC, once however often `run` is repeated, with its outputs,
//! measurements and provenance stored; a second installation with two workers makes the same
//! bytes.

mod common;

use common::{corelab, json, lab_with_trial, make_phantom};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn trial_text() -> String {
    common::ms_trial(
        "MS-RUN",
        "\n[[algorithms]]\nid = \"image.bias-n4\"\nversion = \"^1.0\"\n\
         params = { levels = 2, iterations = 20 }\ninputs = { image = \"T1w\" }\n",
    )
}

/// A lab with the trial, the phantom imported site by site.
fn lab(dir: &Path, phantom: &Path) -> std::path::PathBuf {
    let data = lab_with_trial(dir, &trial_text());
    for (site, subject) in [("S01", "MS-001"), ("S02", "MS-002")] {
        let r = corelab(
            &data,
            &[
                "--json",
                "import",
                "MS-RUN",
                "--site",
                site,
                phantom.join(subject).to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    data
}

/// `(site, visit) -> (corrected image sha256, field-cv)` of the succeeded jobs.
fn outputs(data: &Path) -> BTreeMap<(String, String), (String, f64)> {
    let report = json(&corelab(data, &["--json", "qc", "MS-RUN", "--last"]));
    let site_of: BTreeMap<String, String> = report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["subject"].as_str().unwrap().to_owned(),
                s["site"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let jobs = json(&corelab(data, &["--json", "jobs", "MS-RUN"]));
    jobs.as_array()
        .unwrap()
        .iter()
        .map(|j| {
            assert_eq!(j["state"], "succeeded", "{j:#}");
            let images = j["result"]["images"].as_array().unwrap();
            let corrected = images.iter().find(|i| i["role"] == "corrected").unwrap();
            let cv = j["result"]["measurements"][0]["value"].as_f64().unwrap();
            (
                (
                    site_of[j["subject"].as_str().unwrap()].clone(),
                    j["visit"].as_str().unwrap().to_owned(),
                ),
                (corrected["sha256"].as_str().unwrap().to_owned(), cv),
            )
        })
        .collect()
}

#[test]
fn run_enqueues_each_passed_visit_once_and_stores_outputs_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("phantom");
    make_phantom(
        dir.path(),
        "ms-lesions",
        &phantom,
        &["--subjects", "2", "--voxel-mm", "3"],
    );
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    let data = lab(&dir.path().join("a"), &phantom);

    let unlocked = corelab(&data, &["run", "MS-RUN"]);
    assert_eq!(unlocked.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unlocked.stderr).contains("corelab trial lock MS-RUN"));
    assert!(
        corelab(&data, &["trial", "lock", "MS-RUN"])
            .status
            .success()
    );

    let r = corelab(&data, &["--json", "run", "MS-RUN", "--wait"]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let doc = json(&r);
    // Two subjects × baseline and M12 passed; M24 is pending: no job.
    assert_eq!(doc["enqueued"], 4, "{doc:#}");
    assert_eq!(doc["jobs"]["succeeded"], 4, "{doc:#}");
    let first = outputs(&data);
    assert_eq!(first.len(), 4);
    for (_, cv) in first.values() {
        assert!(*cv > 0.0 && *cv < 0.5, "field CV {cv}");
    }

    // Again: nothing new, nothing run twice.
    let again = json(&corelab(&data, &["--json", "run", "MS-RUN", "--wait"]));
    assert_eq!(
        (
            again["enqueued"].as_u64(),
            again["already_queued_or_done"].as_u64()
        ),
        (Some(0), Some(4))
    );
    assert_eq!(outputs(&data), first);

    // Each output's provenance: the input series by hash, the locked algorithm, the outputs.
    let prov: Value = json(&corelab(&data, &["provenance", "MS-RUN", "1"]));
    let text = prov.to_string();
    assert!(text.contains("image.bias-n4@1.0.0"), "{text}");
    assert!(
        text.contains("corelab:input") && text.contains("corelab:output"),
        "{text}"
    );
    let missing = corelab(&data, &["provenance", "MS-RUN", "99"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("99"));

    let audit = json(&corelab(&data, &["--json", "audit", "verify"]));
    assert_eq!(audit["ok"], true);

    // Reproducibility: another installation, two workers, the same bytes and measurements.
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let other = lab(&dir.path().join("b"), &phantom);
    assert!(
        corelab(&other, &["trial", "lock", "MS-RUN"])
            .status
            .success()
    );
    let r = corelab(
        &other,
        &["--json", "run", "MS-RUN", "--wait", "--workers", "2"],
    );
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(
        outputs(&other),
        first,
        "byte-identical outputs with 1 and 2 workers"
    );
}

#[test]
fn serve_with_workers_runs_a_locked_trials_jobs_as_its_series_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("phantom");
    make_phantom(
        dir.path(),
        "ms-lesions",
        &phantom,
        &["--subjects", "1", "--voxel-mm", "3"],
    );
    let data = lab_with_trial(dir.path(), &trial_text());
    assert!(
        corelab(&data, &["trial", "lock", "MS-RUN"])
            .status
            .success()
    );
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(&data)
        .args(["serve", "--workers", "1", "--plan-every", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The site sends its baseline, then its follow-up: each is run once it has passed QC.
    let first = phantom.join("MS-001");
    let r = corelab(
        &data,
        &[
            "import",
            "MS-RUN",
            "--site",
            "S01",
            first.join("V1").to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let wait_for = |n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let jobs = json(&corelab(&data, &["--json", "jobs", "MS-RUN"]));
            let done = jobs
                .as_array()
                .unwrap()
                .iter()
                .filter(|j| j["state"] == "succeeded")
                .count();
            if done == n {
                return jobs;
            }
            assert!(std::time::Instant::now() < deadline, "{jobs:#}");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    };
    let jobs = wait_for(1);
    assert_eq!(jobs[0]["visit"], "baseline");
    let r = corelab(
        &data,
        &[
            "import",
            "MS-RUN",
            "--site",
            "S01",
            first.join("V2").to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let jobs = wait_for(2);
    assert_eq!(
        jobs.as_array().unwrap().len(),
        2,
        "each visit once: {jobs:#}"
    );
    assert_eq!(jobs[1]["visit"], "M12");
    let _ = serve.kill();
    let _ = serve.wait();
    let audit = json(&corelab(&data, &["--json", "audit", "verify"]));
    assert_eq!(audit["ok"], true);
}
