//! `corelab results` (issue 14, endpoint datasets): a locked MS phantom trial run as jobs, then
//! its endpoint dataset as CSV, JSON and Parquet (read back with pyarrow), every row with its
//! unit, algorithm@version, lock version, job, provenance entity and QC status, the data
//! dictionary beside each file, and each export in the audit trail.

mod common;

use common::{audit_actions, corelab, count, json, lab_with_trial, make_phantom};
use serde_json::Value;
use std::path::Path;

fn trial_text() -> String {
    common::ms_trial(
        "MS-RES",
        "\n[[algorithms]]\nid = \"image.bias-n4\"\nversion = \"^1.0\"\n\
         params = { levels = 2, iterations = 20 }\ninputs = { image = \"T1w\" }\n",
    )
}

fn ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The Parquet file's rows and column descriptions, as pyarrow reads them.
fn pyarrow_read(path: &Path) -> Value {
    let script = "import json, sys\n\
        import pyarrow.parquet as pq\n\
        t = pq.read_table(sys.argv[1])\n\
        meta = {f.name: (f.metadata or {}).get(b'description', b'').decode() for f in t.schema}\n\
        kv = {k.decode(): v.decode() for k, v in (pq.read_metadata(sys.argv[1]).metadata or {}).items()}\n\
        print(json.dumps({'rows': t.to_pylist(), 'descriptions': meta, 'kv': kv}))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .expect("python3 runs (CI installs pyarrow: pip install pyarrow)");
    assert!(
        out.status.success(),
        "pyarrow could not read {}: {} (pip install pyarrow)",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn results_are_every_measurement_with_its_lock_provenance_and_qc_in_three_formats() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("phantom");
    make_phantom(
        dir.path(),
        "ms-lesions",
        &phantom,
        &["--subjects", "2", "--voxel-mm", "3"],
    );
    let data = lab_with_trial(dir.path(), &trial_text());
    for (site, subject) in [("S01", "MS-001"), ("S02", "MS-002")] {
        ok(&corelab(
            &data,
            &[
                "import",
                "MS-RES",
                "--site",
                site,
                phantom.join(subject).to_str().unwrap(),
            ],
        ));
    }
    ok(&corelab(&data, &["trial", "lock", "MS-RES"]));
    ok(&corelab(&data, &["run", "MS-RES", "--wait"]));
    let jobs = json(&corelab(&data, &["--json", "jobs", "MS-RES"]));
    let jobs = jobs.as_array().unwrap();
    let expected: usize = jobs
        .iter()
        .map(|j| j["result"]["measurements"].as_array().unwrap().len())
        .sum();
    assert!(expected >= 4, "{jobs:#?}");

    // CSV on standard output: the dictionary's columns, one row per measurement.
    let csv = corelab(&data, &["results", "MS-RES"]);
    ok(&csv);
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("trial,site,subject,visit,visit_date,series_instance_uid,source"),
        "{header}"
    );
    assert_eq!(lines.count(), expected);

    // JSON to a file, with its dictionary beside it.
    let out = dir.path().join("endpoints.json");
    let doc = json(&corelab(
        &data,
        &[
            "--json",
            "results",
            "MS-RES",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(doc["rows"], expected, "{doc:#}");
    let dictionary = std::fs::read_to_string(dir.path().join("endpoints.dictionary.csv")).unwrap();
    assert!(dictionary.starts_with("name,type,nullable,description\ntrial,string,false,"));
    let file: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let rows = file["rows"].as_array().unwrap();
    assert_eq!(rows.len(), expected);
    for r in rows {
        let job = jobs.iter().find(|j| j["id"] == r["job_id"]).unwrap();
        assert_eq!(r["source"], "algorithm");
        assert_eq!(r["algorithm"], "image.bias-n4@1.0.0");
        assert_eq!(r["lock_version"], 1, "{r:#}");
        assert_eq!(r["qc_status"], "pass", "{r:#}");
        assert_eq!(r["subject"], job["subject"]);
        assert_eq!(r["visit"], job["visit"]);
        assert!(
            ["S01", "S02"].contains(&r["site"].as_str().unwrap()),
            "{r:#}"
        );
        assert!(r["visit_date"].as_str().unwrap().len() == 10, "{r:#}");
        let m = job["result"]["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == r["measure"])
            .unwrap();
        assert_eq!(r["value"], m["value"]);
        assert_eq!(r["unit"], m["unit"]);
        // The provenance entity is the one the job's PROV record holds.
        let prov = json(&corelab(
            &data,
            &["provenance", "MS-RES", &job["id"].to_string()],
        ));
        let entity = r["provenance_id"].as_str().unwrap();
        assert!(
            prov["entity"].as_object().unwrap().contains_key(entity),
            "{entity} not in {prov:#}"
        );
    }

    // Parquet: the same rows through pyarrow, column descriptions in the schema.
    let pq = dir.path().join("endpoints.parquet");
    ok(&corelab(
        &data,
        &[
            "results",
            "MS-RES",
            "--format",
            "parquet",
            "--out",
            pq.to_str().unwrap(),
        ],
    ));
    let read = pyarrow_read(&pq);
    assert_eq!(read["rows"].as_array().unwrap(), rows);
    assert!(
        read["descriptions"]["unit"]
            .as_str()
            .unwrap()
            .contains("UCUM")
    );
    assert_eq!(read["kv"]["corelab.trial"], "MS-RES");

    // Each export is audited; the trail verifies.
    assert_eq!(count(&audit_actions(&data), "results.export"), 2);
    assert_eq!(
        json(&corelab(&data, &["--json", "audit", "verify"]))["ok"],
        true
    );

    // Refusals say what is wrong.
    let r = corelab(&data, &["results", "MS-RES", "--format", "parquet"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--out"));
    let r = corelab(&data, &["results", "NO-SUCH-TRIAL"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("NO-SUCH-TRIAL"));
}
