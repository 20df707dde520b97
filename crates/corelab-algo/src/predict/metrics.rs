//! How well scores predict outcomes: discrimination (ROC AUC for a binary outcome, Harrell's
//! concordance index for a time to event), accuracy of probabilities (Brier score) and their
//! calibration (a calibration table by deciles of predicted risk, and the calibration intercept
//! and slope of Cox 1958 / Van Calster et al. 2019).

use serde::Serialize;

/// The area under the ROC curve: the probability that a positive outranks a negative, ties
/// counting one half (the Mann-Whitney U statistic over the product of the class sizes). `None`
/// when a class is empty.
pub fn auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mid-ranks of tied scores.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let (np, nn) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

/// Harrell's concordance index of risk scores (higher: earlier event): over the pairs where
/// the shorter time is an event, the share where that subject has the higher risk, ties in
/// risk counting one half; pairs with equal times are not comparable. `None` without a
/// comparable pair.
pub fn c_index(risk: &[f64], time: &[f64], event: &[bool]) -> Option<f64> {
    let (mut concordant, mut comparable) = (0.0, 0_u64);
    for i in 0..time.len() {
        if !event[i] {
            continue;
        }
        for j in 0..time.len() {
            if time[i] < time[j] {
                comparable += 1;
                if risk[i] > risk[j] {
                    concordant += 1.0;
                } else if risk[i] == risk[j] {
                    concordant += 0.5;
                }
            }
        }
    }
    (comparable > 0).then(|| concordant / comparable as f64)
}

/// The Brier score: the mean squared difference between predicted probability and outcome.
pub fn brier(p: &[f64], y: &[bool]) -> f64 {
    p.iter()
        .zip(y)
        .map(|(p, &y)| (p - f64::from(u8::from(y))).powi(2))
        .sum::<f64>()
        / p.len().max(1) as f64
}

/// One group of a calibration table.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CalibrationBin {
    /// Subjects in the group.
    pub n: usize,
    /// Their mean predicted probability.
    pub predicted: f64,
    /// The share of them with the outcome.
    pub observed: f64,
}

/// Calibration of predicted probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Groups by quantile of predicted probability (at most 10, each at least 1 subject).
    pub bins: Vec<CalibrationBin>,
    /// `a` of the logistic recalibration `logit P(y) = a + b logit(p)`: 0 when calibrated.
    pub intercept: Option<f64>,
    /// `b` of that model: 1 when calibrated, below 1 when predictions are too extreme.
    pub slope: Option<f64>,
}

/// The calibration of probabilities `p` against outcomes `y`: decile groups and the logistic
/// recalibration intercept and slope (`None` when that fit does not converge, e.g. when the
/// probabilities separate the outcomes perfectly).
pub fn calibration(p: &[f64], y: &[bool]) -> Calibration {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let groups = p.len().clamp(1, 10);
    let mut bins = Vec::with_capacity(groups);
    for g in 0..groups {
        let (lo, hi) = (g * p.len() / groups, (g + 1) * p.len() / groups);
        if hi <= lo {
            continue;
        }
        let idx = &order[lo..hi];
        let n = idx.len();
        bins.push(CalibrationBin {
            n,
            predicted: idx.iter().map(|&i| p[i]).sum::<f64>() / n as f64,
            observed: idx.iter().filter(|&&i| y[i]).count() as f64 / n as f64,
        });
    }
    let logits: Vec<Vec<f64>> = p
        .iter()
        .map(|&v| {
            let v = v.clamp(1e-9, 1.0 - 1e-9);
            vec![(v / (1.0 - v)).ln()]
        })
        .collect();
    let fit = super::glmnet::logistic(&logits, y, &super::glmnet::Penalty::none());
    let (intercept, slope) = match fit {
        Ok(f) => (Some(f.intercept), Some(f.beta[0])),
        Err(_) => (None, None),
    };
    Calibration {
        bins,
        intercept,
        slope,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_half_and_equals_brute_force() {
        // Hanley & McNeil (Radiology 1982) table I: ratings 1-5 of 58 normal and 51 abnormal
        // CT images; their area is 0.893.
        let normal = [33, 6, 6, 11, 2];
        let abnormal = [3, 2, 2, 11, 33];
        let (mut s, mut y) = (Vec::new(), Vec::new());
        for (rating, (&n, &a)) in normal.iter().zip(&abnormal).enumerate() {
            for _ in 0..n {
                s.push(rating as f64);
                y.push(false);
            }
            for _ in 0..a {
                s.push(rating as f64);
                y.push(true);
            }
        }
        let a = auc(&s, &y).unwrap();
        assert!((a - 0.893).abs() < 5e-4, "{a}");
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for i in 0..s.len() {
            for j in 0..s.len() {
                if y[i] && !y[j] {
                    pairs += 1.0;
                    wins += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        assert!((a - wins / pairs).abs() < 1e-12);
        assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn c_index_of_a_worked_example() {
        // Times 1..5, events at 1, 3 and 4 (2 and 5 censored). Comparable pairs (i event,
        // t_i < t_j): (1,2) (1,3) (1,4) (1,5) (3,4) (3,5) (4,5) = 7. Risks 5,4,3,3,1: (1,*) all
        // concordant (4), (3,4) tied (0.5), (3,5) and (4,5) concordant (2): 6.5 / 7.
        let c = c_index(
            &[5.0, 4.0, 3.0, 3.0, 1.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[true, false, true, true, false],
        )
        .unwrap();
        assert!((c - 6.5 / 7.0).abs() < 1e-12, "{c}");
        // Reversed risks: 0.5 / 7.
        let c = c_index(
            &[1.0, 2.0, 3.0, 3.0, 5.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[true, false, true, true, false],
        )
        .unwrap();
        assert!((c - 0.5 / 7.0).abs() < 1e-12, "{c}");
    }

    #[test]
    fn calibrated_probabilities_have_slope_one_and_intercept_zero() {
        // Outcomes drawn exactly at the predicted rates: 1 in 10 at 0.1, … 9 in 10 at 0.9.
        let (mut p, mut y) = (Vec::new(), Vec::new());
        for k in 1..10 {
            for i in 0..100 {
                p.push(k as f64 / 10.0);
                y.push(i < k * 10);
            }
        }
        let c = calibration(&p, &y);
        assert!(c.intercept.unwrap().abs() < 1e-8, "{c:?}");
        assert!((c.slope.unwrap() - 1.0).abs() < 1e-8, "{c:?}");
        assert_eq!(c.bins.len(), 10);
        assert!((brier(&[1.0, 0.0], &[true, true]) - 0.5).abs() < 1e-12);
    }
}
