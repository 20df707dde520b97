//! Stratified k-fold cross-validation: each fold holds out a share of every stratum (the
//! responders and non-responders, or the subjects with and without the event), the scaler and
//! model are fitted on the rest, and the held-out subjects scored; the metrics are of the
//! out-of-fold scores, pooled, and per fold.

use super::data::{Dataset, Outcome, Scaler};
use super::metrics::{self, Calibration};
use super::models::{self, Kind};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// What cross-validation measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Folds.
    pub folds: usize,
    /// The seed of the fold assignment (and of the models).
    pub seed: u64,
    /// ROC AUC of the pooled out-of-fold probabilities (binary outcome).
    pub auc: Option<f64>,
    /// ROC AUC within each fold.
    pub auc_by_fold: Vec<f64>,
    /// Brier score of the pooled out-of-fold probabilities.
    pub brier: Option<f64>,
    /// Their calibration.
    pub calibration: Option<Calibration>,
    /// Harrell's C of the pooled out-of-fold risk scores (time to event). Scores of different
    /// folds' models are pooled as they are; the per-fold values do not pool.
    pub c_index: Option<f64>,
    /// Harrell's C within each fold.
    pub c_index_by_fold: Vec<f64>,
    /// Each subject's out-of-fold score, in the table's row order.
    pub scores: Vec<f64>,
}

/// The fold of each row: the rows of each stratum shuffled with `seed` and dealt in turn.
pub fn assign(strata: &[bool], folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; strata.len()];
    let mut next = 0;
    for s in [true, false] {
        let mut rows: Vec<usize> = (0..strata.len()).filter(|&i| strata[i] == s).collect();
        rows.shuffle(&mut rng);
        for i in rows {
            fold[i] = next % folds;
            next += 1;
        }
    }
    fold
}

/// Cross-validates `kind` on `data` with `folds` folds.
pub fn cross_validate(
    kind: &Kind,
    data: &Dataset,
    folds: usize,
    seed: u64,
) -> Result<Validation, String> {
    let strata = data.outcome.strata();
    let smaller = strata
        .iter()
        .filter(|&&s| s)
        .count()
        .min(if kind.is_survival() {
            usize::MAX
        } else {
            strata.iter().filter(|&&s| !s).count()
        });
    if folds < 2 {
        return Err(format!("{folds} folds: cross-validation needs at least 2"));
    }
    if folds > smaller {
        return Err(format!(
            "{folds} folds but only {smaller} subjects in the smaller outcome group: every fold needs one (use fewer folds)"
        ));
    }
    let fold = assign(&strata, folds, seed);
    let n = strata.len();
    let mut scores = vec![0.0; n];
    let (mut auc_by_fold, mut c_by_fold) = (Vec::new(), Vec::new());
    for k in 0..folds {
        let train: Vec<usize> = (0..n).filter(|&i| fold[i] != k).collect();
        let test: Vec<usize> = (0..n).filter(|&i| fold[i] == k).collect();
        let tx = data.features.subset(&train);
        let scaler = Scaler::fit(&tx.rows);
        let model = models::train(
            kind,
            &scaler.apply_all(&tx.rows),
            &data.outcome.subset(&train),
            seed,
        )
        .map_err(|e| format!("fold {}: {e}", k + 1))?;
        let held = data.features.subset(&test);
        let s = model.score(&scaler.apply_all(&held.rows))?;
        for (&i, v) in test.iter().zip(&s) {
            scores[i] = *v;
        }
        match data.outcome.subset(&test) {
            Outcome::Binary(y) => auc_by_fold.extend(metrics::auc(&s, &y)),
            Outcome::Survival { time, event } => {
                c_by_fold.extend(metrics::c_index(&s, &time, &event));
            }
        }
    }
    let mut v = Validation {
        folds,
        seed,
        auc: None,
        auc_by_fold,
        brier: None,
        calibration: None,
        c_index: None,
        c_index_by_fold: c_by_fold,
        scores: Vec::new(),
    };
    match &data.outcome {
        Outcome::Binary(y) => {
            v.auc = metrics::auc(&scores, y);
            v.brier = Some(metrics::brier(&scores, y));
            v.calibration = Some(metrics::calibration(&scores, y));
        }
        Outcome::Survival { time, event } => v.c_index = metrics::c_index(&scores, time, event),
    }
    v.scores = scores;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_reproducible() {
        let strata: Vec<bool> = (0..53).map(|i| i % 4 == 0).collect();
        let f = assign(&strata, 5, 9);
        assert_eq!(f, assign(&strata, 5, 9));
        assert_ne!(f, assign(&strata, 5, 10));
        for k in 0..5 {
            let pos = (0..53).filter(|&i| f[i] == k && strata[i]).count();
            let all = (0..53).filter(|&i| f[i] == k).count();
            assert!((2..=3).contains(&pos), "fold {k}: {pos} positives");
            assert!((10..=11).contains(&all), "fold {k}: {all} rows");
        }
    }
}
