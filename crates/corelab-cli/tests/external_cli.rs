//! External algorithms (issue 7): a trial declares a program by path, SHA-256, argument template,
//! timeout and outputs; corelab runs it as a job on every passed visit in a scratch folder holding
//! only its inputs, and records it in provenance. A changed executable, a hang past the timeout,
//! a crash and malformed output each fail the job with the reason, and the worker goes on.

mod common;

use common::{corelab, json, lab_with_trial, make_phantom};
use corelab_core::Sha256Digest;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const GOOD: &str = r#"#!/bin/sh
# tool.sh INPUT OUTDIR FACTOR: reports the input's size and the factor it was given.
size=$(wc -c < "$1")
ls > "$2/listing.txt"
printf '{"measurements":[{"name":"input-bytes","value":%s,"unit":"By"},{"name":"factor","value":%s,"unit":"1"}]}' "$size" "$3" > "$2/result.json"
"#;

fn trial(id: &str, path: &Path, sha256: &str) -> String {
    format!(
        r#"
[trial]
id = "{id}"
sponsor = "Example Pharma"
protocol = "EXT-1"
phase = "II"

[[sites]]
id = "S01"
name = "A"

[deid]
options = ["retain-long-modified-dates", "clean-descriptors"]

[[visits]]
name = "baseline"
day = 0
required = ["T1w"]

[[visits]]
name = "M12"
day = 365
window_days = 14
required = ["T1w"]

[qc]
unmatched = "ignore"

[roles.T1w.match]
modality = ["MR"]
mr_acquisition_type = "3D"

[[algorithms]]
id = "ext.size"
version = "1.0.0"
params = {{ factor = "2.5" }}
inputs = {{ image = "T1w" }}

[algorithms.program]
path = "{}"
sha256 = "{sha256}"
args = ["{{input:image}}", "{{output}}", "{{param:factor}}"]
timeout_s = 2
measurements = [{{ name = "input-bytes", unit = "By" }}, {{ name = "factor", unit = "1" }}]
"#,
        path.display()
    )
}

/// A trial running `script` (locked with the hash of `locked_as`), through `run --wait`.
fn scenario(
    dir: &Path,
    phantom: &Path,
    id: &str,
    locked_as: &str,
    script: &str,
) -> (Vec<Value>, Value) {
    let tool = dir.join(format!("{id}.sh"));
    std::fs::write(&tool, locked_as).unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sha = Sha256Digest::of(locked_as.as_bytes()).to_hex();
    let sub = dir.join(id);
    std::fs::create_dir_all(&sub).unwrap();
    let data = lab_with_trial(&sub, &trial(id, &tool, &sha));
    let r = corelab(
        &data,
        &["import", id, "--site", "S01", phantom.to_str().unwrap()],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(corelab(&data, &["trial", "lock", id]).status.success());
    std::fs::write(&tool, script).unwrap();
    let r = corelab(&data, &["--json", "run", id, "--wait"]);
    let doc = json(&r);
    let jobs = json(&corelab(&data, &["--json", "jobs", id]));
    let prov = if jobs[0]["state"] == "succeeded" {
        json(&corelab(&data, &["provenance", id, "1"]))
    } else {
        Value::Null
    };
    assert_eq!(doc["enqueued"], 2, "{doc:#}");
    (jobs.as_array().unwrap().clone(), prov)
}

#[test]
fn an_external_program_runs_as_a_locked_job_and_each_way_it_can_go_wrong_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("phantom");
    make_phantom(
        dir.path(),
        "ms-lesions",
        &phantom,
        &["--subjects", "1", "--voxel-mm", "4"],
    );
    let subject = phantom.join("MS-001");

    let (jobs, prov) = scenario(dir.path(), &subject, "EXT-OK", GOOD, GOOD);
    for j in &jobs {
        assert_eq!(j["state"], "succeeded", "{j:#}");
        let m = j["result"]["measurements"].as_array().unwrap();
        assert_eq!(
            (m[0]["name"].as_str(), m[1]["value"].as_f64()),
            (Some("input-bytes"), Some(2.5))
        );
        assert!(m[0]["value"].as_f64().unwrap() > 1000.0, "{m:?}");
    }
    // Provenance names the executable by its hash among what the run used.
    let text = prov.to_string();
    let sha = Sha256Digest::of(GOOD.as_bytes()).to_hex();
    assert!(
        text.contains(&format!("sha256:{sha}")) && text.contains("ext.size@1.0.0"),
        "{text}"
    );

    let changed = format!("{GOOD}# patched after the lock\n");
    let (jobs, _) = scenario(dir.path(), &subject, "EXT-HASH", GOOD, &changed);
    let expect = |jobs: &[Value], why: &str| {
        for j in jobs {
            assert_eq!(j["state"], "failed", "{j:#}");
            assert!(j["error"].as_str().unwrap().contains(why), "{j:#}");
            assert_eq!(j["attempts"], 1, "not retried: {j:#}");
        }
    };
    expect(&jobs, "refused");
    let hang = "#!/bin/sh\nsleep 30\n";
    let (jobs, _) = scenario(dir.path(), &subject, "EXT-HANG", hang, hang);
    expect(&jobs, "timeout of 2 s");
    let crash = "#!/bin/sh\necho 'segmentation fault (core dumped)' >&2\nexit 139\n";
    let (jobs, _) = scenario(dir.path(), &subject, "EXT-CRASH", crash, crash);
    expect(&jobs, "segmentation fault");
    let garbage = "#!/bin/sh\necho '{\"measurements\": [{\"name\": \"factor\", \"value\": 1, \"unit\": \"mm\"}]}' > \"$2/result.json\"\n";
    let (jobs, _) = scenario(dir.path(), &subject, "EXT-BAD", garbage, garbage);
    expect(&jobs, "malformed output");
}
