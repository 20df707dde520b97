//! ComBat against neuroCombat (PyPI) on the same synthetic multi-site data: three sites with
//! additive and multiplicative effects, a categorical and a continuous covariate, every option.
//! `.ci/run` installs neuroCombat and pandas.

use super::combat::*;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::process::Command;

struct Case {
    data: DMatrix<f64>,
    batch: Vec<String>,
    sex: Vec<String>,
    age: Vec<f64>,
}

fn case(seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (features, per_site) = (12, [9, 14, 11]);
    let n: usize = per_site.iter().sum();
    let mut batch = Vec::new();
    for (s, k) in per_site.iter().enumerate() {
        batch.extend(std::iter::repeat_n(format!("site{}", s + 1), *k));
    }
    let sex: Vec<String> = (0..n)
        .map(|_| if rng.random_bool(0.5) { "F" } else { "M" }.into())
        .collect();
    let age: Vec<f64> = (0..n).map(|_| rng.random_range(40.0..80.0)).collect();
    let shift = [0.0, 1.5, -0.8];
    let scale = [1.0, 2.0, 0.6];
    let data = DMatrix::from_fn(features, n, |f, c| {
        let site = batch[c]
            .trim_start_matches("site")
            .parse::<usize>()
            .unwrap()
            - 1;
        let noise: f64 = (0..6).map(|_| rng.random::<f64>()).sum::<f64>() - 3.0;
        100.0
            + 10.0 * f as f64
            + 0.3 * age[c]
            + if sex[c] == "F" { 4.0 } else { 0.0 }
            + shift[site] * (1.0 + f as f64 * 0.2)
            + scale[site] * noise * (1.0 + 0.1 * f as f64)
    });
    Case {
        data,
        batch,
        sex,
        age,
    }
}

fn reference(c: &Case, dir: &Path, parametric: bool, eb: bool, mean_only: bool) -> DMatrix<f64> {
    let data = dir.join("data.csv");
    let covars = dir.join("covars.csv");
    let out = dir.join("out.csv");
    let rows: Vec<String> = c
        .data
        .row_iter()
        .map(|r| {
            r.iter()
                .map(|v| format!("{v:e}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    std::fs::write(&data, rows.join("\n")).unwrap();
    let mut cov = String::from("batch,sex,age\n");
    for i in 0..c.batch.len() {
        cov.push_str(&format!("{},{},{:e}\n", c.batch[i], c.sex[i], c.age[i]));
    }
    std::fs::write(&covars, cov).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/stats/neurocombat_reference.py"
    );
    let flag = |b: bool| if b { "1" } else { "0" };
    let run = Command::new("python3")
        .arg(script)
        .args([&data, &covars, &out])
        .args([flag(parametric), flag(eb), flag(mean_only)])
        .output()
        .expect("python3");
    assert!(
        run.status.success(),
        "neuroCombat failed (pip install neuroCombat pandas): {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    DMatrix::from_fn(rows.len(), rows[0].len(), |r, c| rows[r][c])
}

fn check(parametric: bool, eb: bool, mean_only: bool) {
    let c = case(7);
    let dir = tempfile::tempdir().unwrap();
    // The data as the CSV carries them, so both sides start from the same numbers.
    let want = reference(&c, dir.path(), parametric, eb, mean_only);
    let covariates = [
        Covariate::Categorical("sex".into(), c.sex.clone()),
        Covariate::Continuous("age".into(), c.age.clone()),
    ];
    let options = Options {
        empirical_bayes: eb,
        parametric,
        mean_only,
    };
    let got = combat(&c.data, &c.batch, &covariates, options).unwrap();
    let worst = (&got.data - &want).abs().max();
    assert!(
        worst < 1e-6,
        "parametric {parametric}, eb {eb}, mean only {mean_only}: largest difference {worst:e}"
    );
    // And the sites' differences are gone: site means of the first feature within 1 of each other.
    let means: Vec<f64> = got
        .batches
        .iter()
        .map(|b| {
            let cols: Vec<usize> = (0..c.batch.len()).filter(|i| &c.batch[*i] == b).collect();
            cols.iter().map(|i| got.data[(0, *i)]).sum::<f64>() / cols.len() as f64
        })
        .collect();
    let spread = means.iter().cloned().fold(f64::MIN, f64::max)
        - means.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 2.0, "{means:?}");
}

#[test]
fn parametric_combat_matches_neurocombat() {
    check(true, true, false);
}

#[test]
fn non_parametric_combat_matches_neurocombat() {
    check(false, true, false);
}

#[test]
fn mean_only_and_plain_location_scale_match_neurocombat() {
    check(true, true, true);
    check(true, false, false);
}

#[test]
fn bad_designs_are_refused_with_their_reason() {
    let c = case(3);
    let one = vec!["a".to_string(); c.batch.len() - 1]
        .into_iter()
        .chain(["b".to_string()])
        .collect::<Vec<_>>();
    assert_eq!(
        combat(&c.data, &one, &[], Options::default()).unwrap_err(),
        CombatError::SmallBatch("b".into(), 1)
    );
    // A covariate identical to the site is confounded with it.
    let confounded = [Covariate::Categorical("site again".into(), c.batch.clone())];
    assert!(matches!(
        combat(&c.data, &c.batch, &confounded, Options::default()),
        Err(CombatError::Singular(_))
    ));
    let mut nan = c.data.clone();
    nan[(2, 5)] = f64::NAN;
    assert!(matches!(
        combat(&nan, &c.batch, &[], Options::default()),
        Err(CombatError::NotFinite {
            feature: 2,
            sample: 5,
            ..
        })
    ));
}

#[test]
fn a_fitted_model_harmonises_the_training_samples_as_fitted_and_new_ones_alike() {
    let c = case(7);
    let covariates = [
        Covariate::Categorical("sex".into(), c.sex.clone()),
        Covariate::Continuous("age".into(), c.age.clone()),
    ];
    let fitted = combat(&c.data, &c.batch, &covariates, Options::default()).unwrap();
    let again = apply(&fitted.model, &c.data, &c.batch, &covariates).unwrap();
    let worst = (&again - &fitted.data).abs().max();
    assert!(
        worst < 1e-9,
        "the training samples through the model: {worst:e}"
    );
    // The model survives JSON.
    let json = serde_json::to_string(&fitted.model).unwrap();
    let model: CombatModel = serde_json::from_str(&json).unwrap();
    assert_eq!(model, fitted.model);

    // New subjects of the same sites (new noise, new ages): harmonised with the training
    // estimates, their site means (age and sex effects taken out) agree and the age effect (0.3
    // per year) stays. neuroCombat's own neuroCombatFromTraining cannot be the reference: it is
    // marked "under development", replaces each new sample's covariate effect by the training
    // average, and raises a TypeError under NumPy 2.
    // Eight cohorts' worth, so that the site means below are not noise.
    let cohorts: Vec<Case> = (8..16).map(case).collect();
    let new = Case {
        data: DMatrix::from_fn(
            cohorts[0].data.nrows(),
            8 * cohorts[0].batch.len(),
            |r, c| {
                let n = cohorts[0].batch.len();
                cohorts[c / n].data[(r, c % n)]
            },
        ),
        batch: cohorts.iter().flat_map(|c| c.batch.clone()).collect(),
        sex: cohorts.iter().flat_map(|c| c.sex.clone()).collect(),
        age: cohorts.iter().flat_map(|c| c.age.clone()).collect(),
    };
    let new_covariates = [
        Covariate::Categorical("sex".into(), new.sex.clone()),
        Covariate::Continuous("age".into(), new.age.clone()),
    ];
    let out = apply(&model, &new.data, &new.batch, &new_covariates).unwrap();
    let site_mean = |m: &DMatrix<f64>, site: &str| {
        let cols: Vec<usize> = (0..new.batch.len())
            .filter(|&i| new.batch[i] == site)
            .collect();
        cols.iter()
            .map(|&i| m[(3, i)] - 0.3 * new.age[i] - if new.sex[i] == "F" { 4.0 } else { 0.0 })
            .sum::<f64>()
            / cols.len() as f64
    };
    let before = site_mean(&new.data, "site2") - site_mean(&new.data, "site1");
    let after = site_mean(&out, "site2") - site_mean(&out, "site1");
    assert!(
        before > 1.5 && after.abs() < 1.0,
        "site 2 - site 1: {before} before, {after} after"
    );
    let (a, y): (Vec<f64>, Vec<f64>) = (0..new.batch.len())
        .map(|i| (new.age[i], out[(3, i)]))
        .unzip();
    let (ma, my) = (
        a.iter().sum::<f64>() / a.len() as f64,
        y.iter().sum::<f64>() / y.len() as f64,
    );
    let slope = a
        .iter()
        .zip(&y)
        .map(|(x, v)| (x - ma) * (v - my))
        .sum::<f64>()
        / a.iter().map(|x| (x - ma).powi(2)).sum::<f64>();
    assert!((slope - 0.3).abs() < 0.1, "age slope {slope}");

    // What the model cannot take is refused by name.
    let mut odd = new.batch.clone();
    odd[0] = "site9".into();
    let e = apply(&model, &new.data, &odd, &new_covariates)
        .unwrap_err()
        .to_string();
    assert!(e.contains("site9") && e.contains("training"), "{e}");
    let mut sex = new.sex.clone();
    sex[0] = "X".into();
    let e = apply(
        &model,
        &new.data,
        &new.batch,
        &[
            Covariate::Categorical("sex".into(), sex),
            Covariate::Continuous("age".into(), new.age.clone()),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("level \"X\""), "{e}");
    assert!(
        apply(&model, &new.data, &new.batch, &[])
            .unwrap_err()
            .to_string()
            .contains("2")
    );
}
