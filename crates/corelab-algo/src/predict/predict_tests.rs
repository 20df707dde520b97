//! Prediction models against references and against the truth of simulated cohorts: the
//! elastic-net logistic fit against scikit-learn and the Cox fit against statsmodels (PyPI, run
//! by `glmnet_reference.py`; `.ci/run` installs both), every kind's cross-validated AUC against
//! the oracle's (the generating probabilities themselves), and a saved model scoring as it did
//! before saving.

use super::data::{Dataset, OutcomeSpec};
use super::glmnet::{self, Penalty};
use super::models::Kind;
use super::{Artifact, TrainSpec, card};

/// [`super::train`] with the spec's fields as arguments.
#[allow(clippy::too_many_arguments)]
fn train(
    name: &str,
    kind: Kind,
    csv: &str,
    source: &str,
    id: Option<&str>,
    outcome: OutcomeSpec,
    features: Option<&[String]>,
    folds: usize,
    seed: u64,
) -> Result<Artifact, String> {
    let spec = TrainSpec {
        name: name.into(),
        kind,
        id: id.map(str::to_owned),
        outcome,
        features: features.map(<[String]>::to_vec),
        folds,
        seed,
    };
    super::train(&spec, csv, source)
}
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::process::Command;

/// A cohort of `n` subjects, `p` features (standard normal, the first three informative), a
/// binary outcome drawn from the logistic model and an exponential time to event with random
/// censoring; with each subject's true probability of the outcome.
fn cohort(n: usize, p: usize, seed: u64) -> (String, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut csv = String::from("subject");
    for j in 0..p {
        csv.push_str(&format!(",x{j}"));
    }
    csv.push_str(",y,time,event\n");
    let mut truth = Vec::new();
    for i in 0..n {
        let x: Vec<f64> = (0..p)
            .map(|_| (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0)
            .collect();
        let eta = 1.2 * x[0] - 0.9 * x[1] + 0.6 * x[2] * x[2] - 0.4;
        let prob = 1.0 / (1.0 + (-eta).exp());
        truth.push(prob);
        let y = rng.random::<f64>() < prob;
        let t = -(1.0 - rng.random::<f64>()).ln() / (0.8 * x[0] - 0.5 * x[1]).exp();
        let c = rng.random::<f64>() * 4.0;
        csv.push_str(&format!("s{i:03}"));
        for v in &x {
            csv.push_str(&format!(",{v}"));
        }
        csv.push_str(&format!(
            ",{},{:.4},{}\n",
            u8::from(y),
            t.min(c),
            u8::from(t <= c)
        ));
    }
    (csv, truth)
}

fn reference(kind: &str, csv: &str, pen: &Penalty) -> (f64, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.csv");
    std::fs::write(&path, csv).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/predict/glmnet_reference.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(kind)
        .arg(&path)
        .arg(pen.lambda.to_string())
        .arg(pen.alpha.to_string())
        .output()
        .expect("python3 with scikit-learn and statsmodels (.ci/run installs them)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["intercept"].as_f64().unwrap(),
        v["beta"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_f64().unwrap())
            .collect(),
    )
}

fn xs(data: &Dataset) -> Vec<Vec<f64>> {
    data.features.rows.clone()
}

#[test]
fn elastic_net_logistic_matches_scikit_learn() {
    let (csv, _) = cohort(250, 6, 1);
    let spec = OutcomeSpec::Binary { column: "y".into() };
    let names: Vec<String> = (0..6).map(|j| format!("x{j}")).collect();
    let data = Dataset::from_csv(&csv, "cohort", Some("subject"), &spec, Some(&names)).unwrap();
    let super::data::Outcome::Binary(y) = &data.outcome else {
        unreachable!()
    };
    for (pen, tol) in [
        (Penalty::none(), 1e-6),
        (
            Penalty {
                lambda: 0.02,
                alpha: 0.5,
            },
            1e-6,
        ),
        (
            Penalty {
                lambda: 0.05,
                alpha: 1.0,
            },
            1e-6,
        ),
    ] {
        let ours = glmnet::logistic(&xs(&data), y, &pen).unwrap();
        let (b0, beta) = reference("logistic", &csv, &pen);
        assert!(
            (ours.intercept - b0).abs() < tol,
            "{pen:?}: {} vs {b0}",
            ours.intercept
        );
        for (a, b) in ours.beta.iter().zip(&beta) {
            assert!((a - b).abs() < tol, "{pen:?}: {:?} vs {beta:?}", ours.beta);
        }
    }
}

#[test]
fn elastic_net_cox_matches_statsmodels() {
    let (csv, _) = cohort(250, 5, 2);
    let spec = OutcomeSpec::Survival {
        time: "time".into(),
        event: "event".into(),
    };
    let names: Vec<String> = (0..5).map(|j| format!("x{j}")).collect();
    let data = Dataset::from_csv(&csv, "cohort", Some("subject"), &spec, Some(&names)).unwrap();
    let super::data::Outcome::Survival { time, event } = &data.outcome else {
        unreachable!()
    };
    // statsmodels' penalised solver stops at its own tolerance, looser than its likelihood
    // maximisation: the tolerances say which agreement each gives.
    for (pen, tol) in [
        (Penalty::none(), 1e-6),
        (
            Penalty {
                lambda: 0.02,
                alpha: 0.5,
            },
            1e-4,
        ),
        (
            Penalty {
                lambda: 0.03,
                alpha: 1.0,
            },
            1e-4,
        ),
    ] {
        let ours = glmnet::cox(&xs(&data), time, event, &pen).unwrap();
        let (_, beta) = reference("cox", &csv, &pen);
        for (a, b) in ours.beta.iter().zip(&beta) {
            assert!((a - b).abs() < tol, "{pen:?}: {:?} vs {beta:?}", ours.beta);
        }
    }
}

#[test]
fn every_kind_cross_validates_near_the_oracle_and_scores_the_same_once_saved() {
    let (csv, truth) = cohort(300, 8, 3);
    let data = Dataset::from_csv(
        &csv,
        "cohort",
        Some("subject"),
        &OutcomeSpec::Binary { column: "y".into() },
        Some(&(0..8).map(|j| format!("x{j}")).collect::<Vec<_>>()),
    )
    .unwrap();
    let super::data::Outcome::Binary(y) = &data.outcome else {
        unreachable!()
    };
    let oracle = super::metrics::auc(&truth, y).unwrap();
    let features: Vec<String> = (0..8).map(|j| format!("x{j}")).collect();
    for (kind, floor) in [
        ("random-forest", 0.85),
        ("svm", 0.85),
        ("knn", 0.8),
        ("logistic", 0.8),
    ] {
        let k = Kind::parse(kind, &BTreeMap::new()).unwrap();
        let a = train(
            &format!("test-{kind}"),
            k,
            &csv,
            "cohort.csv",
            Some("subject"),
            OutcomeSpec::Binary { column: "y".into() },
            Some(&features),
            5,
            7,
        )
        .unwrap();
        let auc = a.validation.auc.unwrap();
        // The oracle's AUC bounds what any model can reach; a good one comes close. The
        // quadratic term is invisible to the linear model, hence its lower floor.
        assert!(
            auc > floor * oracle && auc <= oracle + 0.05,
            "{kind}: AUC {auc} (oracle {oracle})"
        );
        assert_eq!(a.validation.auc_by_fold.len(), 5);
        let saved = a.to_json().unwrap();
        let back = Artifact::from_json(&saved, "saved").unwrap();
        assert_eq!(
            back.to_json().unwrap(),
            saved,
            "{kind}: the file round-trips"
        );
        let before = a.score(&data.features).unwrap();
        let after = back.score(&data.features).unwrap();
        assert_eq!(before, after, "{kind}: scores change once saved");
        assert!(
            before.iter().all(|p| (0.0..=1.0).contains(p)),
            "{kind}: not probabilities"
        );
        let c = card(&a);
        assert!(
            c.contains("ROC AUC") && c.contains(&a.training.sha256),
            "{c}"
        );
        // The same table and seed give the same model, byte for byte.
        let again = train(
            &format!("test-{kind}"),
            Kind::parse(kind, &BTreeMap::new()).unwrap(),
            &csv,
            "cohort.csv",
            Some("subject"),
            OutcomeSpec::Binary { column: "y".into() },
            Some(&features),
            5,
            7,
        )
        .unwrap();
        assert_eq!(again.to_json().unwrap(), saved, "{kind}: not reproducible");
    }
    // Cox on the time to event: x0 raises the hazard, x1 lowers it.
    let a = train(
        "test-cox",
        Kind::parse("cox", &BTreeMap::new()).unwrap(),
        &csv,
        "cohort.csv",
        Some("subject"),
        OutcomeSpec::Survival {
            time: "time".into(),
            event: "event".into(),
        },
        Some(&features),
        5,
        7,
    )
    .unwrap();
    let c = a.validation.c_index.unwrap();
    assert!(c > 0.65, "Harrell's C {c}");
    let super::models::Trained::Linear { fit, .. } = &a.model else {
        panic!("cox is linear")
    };
    assert!(fit.beta[0] > 0.3 && fit.beta[1] < -0.2, "{fit:?}");
}

#[test]
fn bad_tables_and_impossible_requests_are_named() {
    let spec = OutcomeSpec::Binary { column: "y".into() };
    let e =
        Dataset::from_csv("id,a,y\n1,2,1\n2,x,0\n", "t.csv", Some("id"), &spec, None).unwrap_err();
    assert!(e.contains("t.csv, line 3") && e.contains("\"a\""), "{e}");
    let e = Dataset::from_csv(
        "id,a,y\n1,2,1\n2,3,maybe\n",
        "t.csv",
        Some("id"),
        &spec,
        None,
    )
    .unwrap_err();
    assert!(e.contains("line 3") && e.contains("maybe"), "{e}");
    let e =
        Dataset::from_csv("id,a,y\n1,2,1\n2,3,1\n", "t.csv", Some("id"), &spec, None).unwrap_err();
    assert!(e.contains("only one class"), "{e}");
    let e = Dataset::from_csv(
        "id,a,y\n1,2,1\n",
        "t.csv",
        Some("id"),
        &OutcomeSpec::Binary { column: "z".into() },
        None,
    )
    .unwrap_err();
    assert!(e.contains("no column \"z\""), "{e}");
    let (csv, _) = cohort(20, 3, 4);
    let e = train(
        "m",
        Kind::parse("logistic", &BTreeMap::new()).unwrap(),
        &csv,
        "c.csv",
        Some("subject"),
        spec.clone(),
        Some(&["x0".into()]),
        50,
        1,
    )
    .unwrap_err();
    assert!(e.contains("50 folds"), "{e}");
    let e = train(
        "M!",
        Kind::parse("knn", &BTreeMap::new()).unwrap(),
        &csv,
        "c.csv",
        None,
        spec.clone(),
        None,
        2,
        1,
    )
    .unwrap_err();
    assert!(e.contains("model name"), "{e}");
    let e = train(
        "m",
        Kind::parse("cox", &BTreeMap::new()).unwrap(),
        &csv,
        "c.csv",
        Some("subject"),
        spec,
        Some(&["x0".into()]),
        2,
        1,
    )
    .unwrap_err();
    assert!(e.contains("time to event"), "{e}");
    assert!(
        Artifact::from_json("{\"format\": \"other/2\"}", "m.json")
            .unwrap_err()
            .contains("corelab-model/1")
    );
    assert!(
        Artifact::from_json("not json", "m.json")
            .unwrap_err()
            .contains("m.json: not JSON")
    );
}
