//! `corelab qc` end to end (issue 6): an MS phantom trial from three sites is imported with
//! four planted protocol deviations — a wrong slice thickness at one site, a missing FLAIR, a
//! follow-up 20 days out of window and a scanner change — and QC finds exactly those, nothing
//! else; then a person's decision, a query to the site, and the audit trail.

mod common;

use common::{corelab, json, lab_with_trial, make_phantom};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn trial_text() -> String {
    common::ms_trial("MS-QC", "")
}

/// Sets `tag` to `value` in every DICOM file under `dir`.
fn set_all(dir: &Path, edits: &[(Tag, VR, &str)]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let mut obj = dicom_object::open_file(&path).unwrap();
        for (tag, vr, value) in edits {
            obj.put(DataElement::new(*tag, *vr, PrimitiveValue::from(*value)));
        }
        obj.write_to_file(&path).unwrap();
    }
}

/// YYYYMMDD plus `days`.
fn shifted(date: &str, days: i64) -> String {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").unwrap();
    (d + chrono::Duration::days(days))
        .format("%Y%m%d")
        .to_string()
}

fn study_date(dir: &Path) -> String {
    let first = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let obj = dicom_object::open_file(first).unwrap();
    obj.element(tags::STUDY_DATE)
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .to_owned()
}

/// `(site, visit, role or "-", item, status)` of every check that is not a pass.
fn findings(report: &Value) -> BTreeSet<(String, String, String, String, String)> {
    let mut out = BTreeSet::new();
    for s in report["subjects"].as_array().unwrap() {
        let site = s["site"].as_str().unwrap().to_owned();
        for v in s["visits"].as_array().unwrap() {
            let visit = v["visit"].as_str().unwrap().to_owned();
            let mut add = |role: &str, checks: &Value| {
                for c in checks.as_array().unwrap() {
                    let status = c["status"].as_str().unwrap();
                    if status != "pass" {
                        out.insert((
                            site.clone(),
                            visit.clone(),
                            role.to_owned(),
                            c["item"].as_str().unwrap().to_owned(),
                            status.to_owned(),
                        ));
                    }
                }
            };
            add("-", &v["checks"]);
            for series in v["series"].as_array().unwrap() {
                add(series["role"].as_str().unwrap_or("?"), &series["checks"]);
            }
        }
    }
    out
}

fn visit_status(report: &Value, site: &str, visit: &str) -> String {
    let s = report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == site)
        .unwrap();
    let v = s["visits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["visit"] == visit)
        .unwrap();
    v["status"].as_str().unwrap().to_owned()
}

#[test]
fn qc_finds_exactly_the_planted_protocol_deviations() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), &trial_text());
    let phantom = dir.path().join("phantom");
    make_phantom(
        dir.path(),
        "ms-lesions",
        &phantom,
        &["--subjects", "3", "--voxel-mm", "3"],
    );

    // 1. S02 sends its baseline FLAIR with 8 mm slices.
    set_all(
        &phantom.join("MS-002/V1/FLAIR"),
        &[(tags::SLICE_THICKNESS, VR::DS, "8")],
    );
    // 2. S01's follow-up has no FLAIR.
    std::fs::remove_dir_all(phantom.join("MS-001/V2/FLAIR")).unwrap();
    // 3. S03's follow-up is 20 days beyond its ±14-day window (day 365 + 34).
    let late = shifted(&study_date(&phantom.join("MS-003/V2/T1w")), 34);
    for series in ["T1w", "FLAIR"] {
        set_all(
            &phantom.join("MS-003/V2").join(series),
            &[
                (tags::STUDY_DATE, VR::DA, &late),
                (tags::SERIES_DATE, VR::DA, &late),
                (tags::ACQUISITION_DATE, VR::DA, &late),
                (tags::CONTENT_DATE, VR::DA, &late),
            ],
        );
    }
    // 4. S02's follow-up is scanned on another model with other software.
    for series in ["T1w", "FLAIR"] {
        set_all(
            &phantom.join("MS-002/V2").join(series),
            &[
                (tags::MANUFACTURER_MODEL_NAME, VR::LO, "SIGNA Premier"),
                (tags::SOFTWARE_VERSIONS, VR::LO, "RX29.1"),
            ],
        );
    }
    for (site, subject) in [("S01", "MS-001"), ("S02", "MS-002"), ("S03", "MS-003")] {
        let r = corelab(
            &data,
            &[
                "--json",
                "import",
                "MS-QC",
                "--site",
                site,
                phantom.join(subject).to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert_eq!(json(&r)["quarantined"], 0);
    }

    let r = corelab(&data, &["--json", "qc", "MS-QC"]);
    assert_eq!(r.status.code(), Some(3), "problems found: exit 3");
    let report = json(&r);
    let s = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        (
            a.to_owned(),
            b.to_owned(),
            c.to_owned(),
            d.to_owned(),
            e.to_owned(),
        )
    };
    let expected = BTreeSet::from([
        s("S02", "baseline", "FLAIR", "slice_thickness_mm", "fail"),
        s("S01", "M12", "-", "completeness", "fail"),
        s("S03", "M12", "-", "window", "fail"),
        s("S02", "M12", "-", "scanner.model", "review"),
        s("S02", "M12", "-", "scanner.software_versions", "review"),
    ]);
    assert_eq!(findings(&report), expected, "{report:#}");
    // Image quality of heads: the noise is σ 18 (T1w) and 20 (FLAIR) under tissue of about 600
    // and 400, no ghost (docs/algorithms/qc-metrics.md).
    for series in report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["visits"].as_array().unwrap())
        .flat_map(|v| v["series"].as_array().unwrap())
    {
        let q = &series["quality"];
        let snr = q["snr_dietrich"].as_f64().unwrap();
        assert!((15.0..40.0).contains(&snr), "{series:#}");
        assert!(q["ghost_ratio"].as_f64().unwrap() < 0.02, "{series:#}");
        assert!(q["fber"].as_f64().unwrap() > 100.0, "{series:#}");
    }
    // Every series was classified into its role; statuses roll up to the visits.
    assert_eq!(report["series"]["pass"], 10, "{:#}", report["series"]);
    assert_eq!(report["series"]["fail"], 1);
    for (site, visit, status) in [
        ("S01", "baseline", "pass"),
        ("S01", "M12", "fail"),
        ("S01", "M24", "pending"),
        ("S02", "baseline", "fail"),
        ("S02", "M12", "review"),
        ("S03", "baseline", "pass"),
        ("S03", "M12", "fail"),
    ] {
        assert_eq!(visit_status(&report, site, visit), status, "{site} {visit}");
    }
    let s03 = &report["subjects"].as_array().unwrap()[2];
    let m12 = &s03["visits"][1];
    assert_eq!(
        (m12["day"].as_i64(), m12["in_window"].as_bool()),
        (Some(399), Some(false))
    );

    // The text report names each problem by target.
    let text = corelab(&data, &["qc", "MS-QC"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("visit out of window by 20 days"), "{out}");
    assert!(out.contains("required FLAIR not received"), "{out}");

    // A person judges the scanner change harmless: the decision stands, audited.
    let s02 = report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == "S02")
        .unwrap();
    let target = format!("visit:{}/M12", s02["subject"].as_str().unwrap());
    let d = corelab(
        &data,
        &[
            "qc",
            "MS-QC",
            "decide",
            "--target",
            &target,
            "--status",
            "pass",
            "--reason",
            "same field strength and vendor; reviewed phantom data",
        ],
    );
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let again = json(&corelab(&data, &["--json", "qc", "MS-QC"]));
    assert_eq!(visit_status(&again, "S02", "M12"), "pass");
    let visit = &again["subjects"].as_array().unwrap()[1]["visits"][1];
    assert_eq!(visit["computed_status"], "review");
    assert_eq!(visit["decision"]["status"], "pass");
    let last = corelab(&data, &["--json", "qc", "MS-QC", "--last"]);
    assert_eq!(json(&last), again, "--last prints the stored evaluation");

    // A query to S01 about the missing FLAIR: raised, answered, closed.
    let s01 = report["subjects"].as_array().unwrap()[0]["subject"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = json(&corelab(
        &data,
        &[
            "--json",
            "query",
            "raise",
            "MS-QC",
            "--target",
            &format!("visit:{s01}/M12"),
            "--text",
            "FLAIR missing at M12: please send it or confirm it was not acquired",
        ],
    ));
    let id = q["id"].as_i64().unwrap().to_string();
    assert_eq!(q["state"], "open");
    let answered = json(&corelab(
        &data,
        &[
            "--json",
            "query",
            "answer",
            "MS-QC",
            &id,
            "--text",
            "sent again today",
        ],
    ));
    assert_eq!(answered["state"], "answered");
    let twice = corelab(&data, &["query", "answer", "MS-QC", &id, "--text", "again"]);
    assert_eq!(
        twice.status.code(),
        Some(1),
        "an answered query is not answered again"
    );
    assert!(String::from_utf8_lossy(&twice.stderr).contains("answered"));
    let closed = json(&corelab(
        &data,
        &[
            "--json", "query", "close", "MS-QC", &id, "--text", "received",
        ],
    ));
    assert_eq!(closed["state"], "closed");
    let open = json(&corelab(&data, &["--json", "query", "list", "MS-QC"]));
    assert_eq!(open.as_array().unwrap().len(), 0);

    let bad = corelab(
        &data,
        &[
            "qc", "MS-QC", "decide", "--target", "visit:x", "--status", "pass", "--reason", "r",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("visit:SUBJECT/VISIT"));

    let audit = json(&corelab(&data, &["--json", "audit", "verify"]));
    assert_eq!(audit["ok"], true);
    let log = corelab(&data, &["--json", "audit", "log"]);
    let log = String::from_utf8_lossy(&log.stdout);
    for action in [
        "qc.evaluate",
        "qc.decide",
        "query.raise",
        "query.answer",
        "query.close",
    ] {
        assert!(log.contains(action), "{action} audited");
    }
}

#[test]
fn qc_of_an_unknown_trial_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), &trial_text());
    let r = corelab(&data, &["qc", "NOPE"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("NOPE"));
}

#[test]
fn trial_create_reports_every_protocol_error_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lab");
    assert!(corelab(&data, &["init"]).status.success());
    let broken = trial_text()
        .replace(
            "window_days = 14\nrequired = [\"T1w\", \"FLAIR\"]\n\n[[visits]]\nname = \"M24\"",
            "window_days = -14\nrequired = [\"T1w\", \"DWI\"]\n\n[[visits]]\nname = \"M24\"",
        )
        .replace(
            "slice_thickness_mm = { max = 6.5 }",
            "slice_thickness_mm = [6.5, 1]",
        );
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, &broken).unwrap();
    let r = corelab(&data, &["trial", "create", path.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    for expect in [
        "3 problems",
        "line 33, column 15 (`window_days = -14`): visits[1].window_days: must be 0 or more",
        "line 34, column 20 (`required = [\"T1w\", \"DWI\"]`): visits[1].required[1]: role \"DWI\" is not defined",
        "line 64, column 22 (`slice_thickness_mm = [6.5, 1]`): roles.FLAIR.require.slice_thickness_mm: min 6.5 is above max 1",
    ] {
        assert!(err.contains(expect), "{expect}: {err}");
    }
    let listed = json(&corelab(&data, &["--json", "trial", "list"]));
    assert_eq!(listed.as_array().unwrap().len(), 0, "nothing created");
}

/// The thresholds between the phantom's truths: the midpoint of the widest gap between two
/// subjects' values, so the verdicts are known from truth.json alone.
fn split(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let (gap, mid) = v
        .windows(2)
        .map(|w| (w[1] - w[0], (w[0] + w[1]) / 2.0))
        .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
    (mid, gap)
}

#[test]
fn qc_phantom_image_quality_gives_the_verdicts_its_truth_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("qa");
    make_phantom(
        dir.path(),
        "qc",
        &phantom,
        &["--subjects", "3", "--voxel-mm", "2", "--seed", "2"],
    );
    let truth: Value =
        serde_json::from_slice(&std::fs::read(phantom.join("truth.json")).unwrap()).unwrap();
    let qc: Vec<&Value> = truth["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["visits"][0]["qc"])
        .collect();
    let of = |key: &str| -> Vec<f64> { qc.iter().map(|q| q[key].as_f64().unwrap()).collect() };
    let (snr, snr_truth) = (split(&of("snr")), of("snr"));
    let (ghost, ghost_truth) = (split(&of("ghost_amplitude")), of("ghost_amplitude"));
    let (fd_max, fd_mean) = (
        of("max_framewise_displacement_mm"),
        of("mean_framewise_displacement_mm"),
    );
    // The seed is chosen so that each split leaves room for the metrics' measured accuracy
    // (docs/algorithms/qc-metrics.md): SNR within 1 %, ghost within 0.1 points. Every subject
    // has a jerk of 3–5 mm framewise displacement and a mean of about 1.5 mm, so a 2 mm limit on
    // the largest fails them all and a 3 mm limit on the mean passes them all.
    assert!(snr.1 > 0.1 * snr.0 && ghost.1 > 0.004, "{snr:?} {ghost:?}");
    assert!(
        fd_max.iter().all(|f| *f > 3.0) && fd_mean.iter().all(|f| *f < 2.0),
        "{fd_max:?} {fd_mean:?}"
    );
    let trial = format!(
        r#"
[trial]
id = "QA"
sponsor = "Example Pharma"
protocol = "QA-1"
phase = "III"

[[sites]]
id = "S01"
name = "A"

[[sites]]
id = "S02"
name = "B"

[[sites]]
id = "S03"
name = "C"

[deid]
options = ["clean-descriptors"]

[[visits]]
name = "qa"
day = 0
required = ["SNR", "GHOST", "MOTION"]

[roles.SNR]
match = {{ modality = ["MR"], description = ["*SE SNR*"] }}
quality = {{ snr_dietrich = {{ min = {} }} }}

[roles.GHOST]
match = {{ modality = ["MR"], description = ["*GHOST*"] }}
quality = {{ ghost_ratio = {{ max = {} }} }}

[roles.MOTION]
match = {{ modality = ["MR"], description = ["*BOLD*"], scanning_sequence = ["EP"] }}
quality = {{ fd_max_mm = {{ max = 2.0 }}, fd_mean_mm = {{ max = 3.0 }}, cnr = {{ min = 1 }} }}
"#,
        snr.0, ghost.0
    );
    std::fs::create_dir_all(dir.path().join("t")).unwrap();
    let data = lab_with_trial(&dir.path().join("t"), &trial);
    for (n, site) in ["S01", "S02", "S03"].iter().enumerate() {
        let subject = phantom.join(format!("QC-{:03}", n + 1));
        let r = corelab(
            &data,
            &[
                "--json",
                "import",
                "QA",
                "--site",
                site,
                subject.to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let report = json(&corelab(&data, &["--json", "qc", "QA"]));
    for (n, site) in ["S01", "S02", "S03"].iter().enumerate() {
        let s = report["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["site"] == *site)
            .unwrap();
        let series = s["visits"][0]["series"].as_array().unwrap();
        let role = |r: &str| series.iter().find(|x| x["role"] == r).unwrap();
        let check = |r: &str, item: &str| -> (String, f64) {
            let c = role(r)["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["item"] == item)
                .unwrap_or_else(|| panic!("{site} {r}: no {item}"));
            let measured = c["measured"].as_str().map(|m| m.parse::<f64>().unwrap());
            (
                c["status"].as_str().unwrap().to_owned(),
                measured.unwrap_or(f64::NAN),
            )
        };
        let verdict = |pass: bool| if pass { "pass" } else { "fail" }.to_owned();

        let (status, value) = check("SNR", "quality.snr_dietrich");
        assert!(
            (value / snr_truth[n] - 1.0).abs() < 0.03,
            "{site}: SNR {value} vs {}",
            snr_truth[n]
        );
        assert_eq!(status, verdict(snr_truth[n] >= snr.0), "{site} SNR");

        let (status, value) = check("GHOST", "quality.ghost_ratio");
        assert!(
            (value - ghost_truth[n]).abs() < 0.003,
            "{site}: ghost {value} vs {}",
            ghost_truth[n]
        );
        assert_eq!(status, verdict(ghost_truth[n] <= ghost.0), "{site} ghost");

        // Through DICOM, the largest framewise displacement reads up to 20 % high (the volumes
        // after the jerk register less well; docs/algorithms/qc-metrics.md).
        let (status, value) = check("MOTION", "quality.fd_max_mm");
        assert!(
            (value / fd_max[n] - 1.0).abs() < 0.25,
            "{site}: FD {value} vs {}",
            fd_max[n]
        );
        assert_eq!(status, "fail", "{site} FD max");
        let (status, value) = check("MOTION", "quality.fd_mean_mm");
        assert!(
            (value - fd_mean[n]).abs() < 0.35,
            "{site}: mean FD {value} vs {}",
            fd_mean[n]
        );
        assert_eq!(status, "pass", "{site} FD mean");

        // A metric QC cannot measure is a review saying why, never a silent pass.
        let c = role("MOTION")["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["item"] == "quality.cnr")
            .unwrap()
            .clone();
        assert_eq!(c["status"], "review");
        assert!(c["note"].as_str().unwrap().contains("masks"), "{c}");
        // The other metrics are reported too.
        let q = &role("SNR")["quality"];
        for m in ["snr", "efc", "fber"] {
            assert!(q[m].as_f64().is_some(), "{site}: {m} in {q}");
        }
    }
}

#[test]
fn pet_uptake_and_suv_computability_are_checked_against_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("pet");
    make_phantom(
        dir.path(),
        "pet",
        &phantom,
        &["--subjects", "1", "--voxel-mm", "8"],
    );
    let truth: Value =
        serde_json::from_slice(&std::fs::read(phantom.join("truth.json")).unwrap()).unwrap();
    let pet = &truth["subjects"][0]["visits"][0]["pet"];
    let uptake_min = pet["uptake_s"].as_f64().unwrap() / 60.0;
    let dose_mbq = pet["dose_bq"].as_f64().unwrap() / 1e6;
    // Two trials: one keeps the patient's weight (SUV computable), one does not.
    for (name, options, suv) in [
        (
            "PET-A",
            r#"["retain-long-modified-dates", "retain-patient-characteristics"]"#,
            "pass",
        ),
        ("PET-B", r#"["retain-long-modified-dates"]"#, "fail"),
    ] {
        let trial = format!(
            r#"
[trial]
id = "{name}"
sponsor = "Example Pharma"
protocol = "ONC-PET"
phase = "II"

[[sites]]
id = "S01"
name = "A"

[deid]
options = {options}

[[visits]]
name = "baseline"
day = 0
required = ["PET_FDG"]

[roles.PET_FDG]
match = {{ modality = ["PT"] }}
require = {{ uptake_min = [50, 75], dose_mbq = {{ max = {} }}, radiopharmaceutical = ["fludeoxyglucose", "FDG"] }}
"#,
            (dose_mbq - 1.0).floor()
        );
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let data = lab_with_trial(&sub, &trial);
        let r = corelab(
            &data,
            &[
                "--json",
                "import",
                name,
                "--site",
                "S01",
                phantom.join("PET-001").to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let report = json(&corelab(&data, &["--json", "qc", name]));
        let series = &report["subjects"][0]["visits"][0]["series"][0];
        assert_eq!(series["role"], "PET_FDG", "{series:#}");
        let check = |item: &str| -> Value {
            series["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["item"] == item)
                .unwrap_or_else(|| panic!("{name}: no {item} in {series:#}"))
                .clone()
        };
        let uptake = check("uptake_min");
        let measured: f64 = uptake["measured"]
            .as_str()
            .unwrap()
            .trim_end_matches(" min")
            .parse()
            .unwrap();
        let suv_check = check("suv");
        assert_eq!(suv_check["status"], suv, "{name}: {suv_check}");
        // The uptake time from the injection and scan-start times, exactly as sent (shifted
        // dates keep intervals), whether SUV can be computed or not.
        assert!(
            (measured - uptake_min).abs() < 1e-3,
            "{measured} vs {uptake_min}"
        );
        assert_eq!(uptake["status"], "pass");
        if suv == "fail" {
            assert!(
                suv_check["note"]
                    .as_str()
                    .unwrap()
                    .contains("Patient's Weight"),
                "{suv_check}"
            );
        }
        // The dose limit is set 1 MBq under the injected dose: a fail naming the value.
        let dose = check("dose_mbq");
        assert_eq!(dose["status"], "fail", "{dose}");
        assert_eq!(check("radiopharmaceutical")["status"], "pass");
    }
}
