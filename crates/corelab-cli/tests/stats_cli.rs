//! `corelab validate`, `corelab harmonise` and `radiomics.ibsi` through `algo run`: reports and
//! tables written whole, bad input refused by name with nothing written.

mod common;

use common::{corelab, json};
use std::path::PathBuf;

fn radiomics(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/radiomics")
        .join(rel)
}

#[test]
fn validate_writes_a_json_and_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("truth.csv");
    let measured = dir.path().join("algo.csv");
    std::fs::write(
        &reference,
        "subject,volume_ml,response\ns1,10,PR\ns2,20,SD\ns3,30,PD\ns4,40,SD\n",
    )
    .unwrap();
    std::fs::write(
        &measured,
        "subject,volume_ml,response,dice\ns1,10.5,PR,0.91\ns1,10.7,PR,0.9\ns2,19,SD,0.85\ns3,31,PD,0.8\ns4,41,SD,0.88\n",
    )
    .unwrap();
    let out = dir.path().join("report");
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "validate",
            "--reference",
            reference.to_str().unwrap(),
            "--measured",
            measured.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    assert_eq!(doc["cases"], 4);
    assert_eq!(doc["measures"][0]["name"], "volume_ml");
    assert!(doc["measures"][0]["bland_altman"]["bias"].as_f64().unwrap() > 0.0);
    assert!(doc["measures"][0]["repeatability"]["rc"].as_f64().is_some());
    assert_eq!(doc["measures"][1]["agreement"], 1.0);
    assert_eq!(doc["distributions"][0]["name"], "dice");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("volume_ml"));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(saved, doc);

    // A ragged row is refused with its line; the folder is not created.
    std::fs::write(&measured, "subject,volume_ml\ns1,10\ns2\n").unwrap();
    let again = dir.path().join("again");
    let r = corelab(
        dir.path(),
        &[
            "validate",
            "--reference",
            reference.to_str().unwrap(),
            "--measured",
            measured.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ],
    );
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("algo.csv, line 3"));
    assert!(!again.exists());
}

#[test]
fn harmonise_removes_a_site_shift_and_keeps_the_other_columns() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("features.csv");
    let mut text = String::from("subject,site,sex,age,f1,f2,note\n");
    for i in 0..24 {
        let site = ["A", "B", "C"][i % 3];
        let shift = [0.0, 5.0, -3.0][i % 3];
        let sex = if i % 2 == 0 { "F" } else { "M" };
        let age = 40 + i;
        let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
        text += &format!(
            "s{i},{site},{sex},{age},{},{},\"x, {i}\"\n",
            100.0 + shift + noise + 0.1 * age as f64,
            50.0 - shift * 0.5 + noise * 2.0
        );
    }
    std::fs::write(&table, &text).unwrap();
    let out = dir.path().join("harmonised.csv");
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "harmonise",
            table.to_str().unwrap(),
            "--batch",
            "site",
            "--categorical",
            "sex",
            "--continuous",
            "age",
            "--save-model",
            dir.path().join("combat.json").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    assert_eq!(doc["features"], serde_json::json!(["f1", "f2"]));
    assert_eq!(doc["batches"], serde_json::json!(["A", "B", "C"]));
    let written = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<&str> = written.lines().collect();
    assert_eq!(rows.len(), 25);
    assert!(
        rows[1].starts_with("s0,A,F,40,") && rows[1].ends_with("\"x, 0\""),
        "{}",
        rows[1]
    );
    // Site means of f1 (age is balanced across sites by construction) now within 1.
    let mut sums = [0.0; 3];
    for (i, row) in rows[1..].iter().enumerate() {
        let f1: f64 = row.split(',').nth(4).unwrap().parse().unwrap();
        sums[i % 3] += f1 / 8.0;
    }
    let spread = sums.iter().cloned().fold(f64::MIN, f64::max)
        - sums.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 1.0, "{sums:?}");

    // The saved estimates harmonise the same table to the same values, and a later table of the
    // same sites; a site the model has not seen is refused by name.
    let again = dir.path().join("again.csv");
    let model = dir.path().join("combat.json");
    let apply = |table: &std::path::Path, out: &std::path::Path| {
        corelab(
            dir.path(),
            &[
                "harmonise",
                table.to_str().unwrap(),
                "--batch",
                "site",
                "--model",
                model.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    let r = apply(&table, &again);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let value = |text: &str, row: usize, col: usize| -> f64 {
        text.lines()
            .nth(row)
            .unwrap()
            .split(',')
            .nth(col)
            .unwrap()
            .parse()
            .unwrap()
    };
    let again_text = std::fs::read_to_string(&again).unwrap();
    for row in 1..25 {
        assert!((value(&again_text, row, 4) - value(&written, row, 4)).abs() < 1e-9);
    }
    let later = dir.path().join("later.csv");
    std::fs::write(
        &later,
        "subject,site,sex,age,f1,f2\nn1,B,M,50,110,47\nn2,D,F,52,104,50\n",
    )
    .unwrap();
    let none = dir.path().join("none.csv");
    let r = apply(&later, &none);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("batch \"D\""));
    assert!(!none.exists());

    // An unknown batch column is refused by name; nothing written.
    let bad = dir.path().join("bad.csv");
    let r = corelab(
        dir.path(),
        &[
            "harmonise",
            table.to_str().unwrap(),
            "--batch",
            "scanner",
            "--out",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("no column \"scanner\""));
    assert!(!bad.exists());
}

#[test]
fn radiomics_runs_on_nrrd_files_and_writes_its_feature_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let image = radiomics("pyradiomics/breast1_image.nrrd");
    let mask = radiomics("pyradiomics/breast1_label.nrrd");
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "algo",
            "run",
            "radiomics.ibsi",
            "--input",
            &format!("image={}", image.display()),
            "--input",
            &format!("mask={}", mask.display()),
            "--param",
            "discretisation=fbs",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let csv = std::fs::read_to_string(out.join("features.csv")).unwrap();
    assert!(csv.starts_with("family,tag,ibsi_id,name,aggregation,value\n"));
    assert!(csv.contains("glcm,cm_joint_max_3D_avg,GYBY,"));
    assert!(
        json(&r)["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "features" && m["value"].as_f64().unwrap() > 200.0)
    );
}

/// A cohort whose outcome follows two of its four features (a fixed pseudo-random sequence).
fn cohort(n: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("subject,age,volume,texture,noise,response\n");
    for i in 0..n {
        let x: Vec<f64> = (0..4).map(|_| next() * 2.0 - 1.0).collect();
        let p = 1.0 / (1.0 + (-(3.0 * x[1] - 2.5 * x[2])).exp());
        let y = u8::from(next() < p);
        csv.push_str(&format!(
            "S{i:03},{:.3},{:.3},{:.3},{:.3},{y}\n",
            60.0 + 10.0 * x[0],
            x[1] * 50.0 + 100.0,
            x[2],
            x[3]
        ));
    }
    csv
}

#[test]
fn a_model_is_trained_saved_with_its_card_and_scores_subjects_as_an_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("cohort.csv");
    std::fs::write(&table, cohort(160)).unwrap();
    let models = dir.path().join("models");
    let train = |name: &str| {
        corelab(
            dir.path(),
            &[
                "--json",
                "model",
                "train",
                table.to_str().unwrap(),
                "--kind",
                "logistic",
                "--name",
                name,
                "--outcome",
                "response",
                "--id",
                "subject",
                "--set",
                "lambda=0.01",
                "--out",
                models.to_str().unwrap(),
            ],
        )
    };
    let r = train("response-risk");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report = json(&r);
    assert!(report["auc"].as_f64().unwrap() > 0.75, "{report}");
    assert_eq!(report["features"], 4);
    let model = models.join("response-risk.model.json");
    let card = std::fs::read_to_string(models.join("response-risk.card.md")).unwrap();
    assert!(
        card.contains("ROC AUC") && card.contains("`volume`"),
        "{card}"
    );
    // A saved model is never replaced.
    let again = train("response-risk");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not replaced"));

    let scores = dir.path().join("scores.csv");
    let r = corelab(
        dir.path(),
        &[
            "model",
            "predict",
            model.to_str().unwrap(),
            table.to_str().unwrap(),
            "--id",
            "subject",
            "--out",
            scores.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(text.lines().count(), 161);
    let s007: f64 = text
        .lines()
        .find(|l| l.starts_with("S007,"))
        .and_then(|l| l.split(',').nth(1))
        .unwrap()
        .parse()
        .unwrap();

    // The same subject through the algorithm predict.model, its features in another order.
    let row = cohort(160).lines().nth(8).unwrap().to_owned();
    let c: Vec<&str> = row.split(',').collect();
    let one = dir.path().join("s007.csv");
    std::fs::write(
        &one,
        format!(
            "noise,texture,volume,age\n{},{},{},{}\n",
            c[4], c[3], c[2], c[1]
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "algo",
            "run",
            "predict.model",
            "--input",
            &format!("model={}", model.display()),
            "--input",
            &format!("features={}", one.display()),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let m = &json(&r)["measurements"][0];
    assert_eq!(m["name"], "score");
    assert!(
        (m["value"].as_f64().unwrap() - s007).abs() < 1e-12,
        "{m} vs {s007}"
    );

    // A table without one of the model's features: refused by name, nothing written.
    let partial = dir.path().join("partial.csv");
    std::fs::write(&partial, "subject,age,volume,noise\nS1,60,100,0\n").unwrap();
    let none = dir.path().join("none.csv");
    let r = corelab(
        dir.path(),
        &[
            "model",
            "predict",
            model.to_str().unwrap(),
            partial.to_str().unwrap(),
            "--out",
            none.to_str().unwrap(),
        ],
    );
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("\"texture\""));
    assert!(!none.exists());
}
