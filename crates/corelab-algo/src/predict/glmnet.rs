//! Elastic-net penalised logistic and Cox regression by cyclic coordinate descent on the
//! quadratic approximation of the log-likelihood (Friedman, Hastie & Tibshirani, J Stat Softw
//! 2010;33(1); Simon, Friedman, Hastie & Tibshirani, J Stat Softw 2011;39(5): glmnet's
//! method). Written by hand: smartcore's logistic regression has a ridge penalty only and no
//! Cox model, and linfa (elastic net for the Gaussian family only) is on another ndarray.
//!
//! The objective is `-(1/n) log L(β) + λ [(1 - α)/2 ‖β‖² + α ‖β‖₁]`, the intercept of the
//! logistic model unpenalised; the partial likelihood of the Cox model takes tied event times
//! by Breslow's method. Each outer step solves the penalised weighted least-squares problem of
//! the current quadratic approximation to convergence, and is halved while it does not lower
//! the objective, so the iteration never moves uphill.

use serde::{Deserialize, Serialize};

/// The penalty: `lambda` its strength, `alpha` the share of it that is L1 (lasso) rather than
/// L2 (ridge).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Penalty {
    /// λ ≥ 0.
    pub lambda: f64,
    /// α in [0, 1]: 1 is the lasso, 0 ridge regression.
    pub alpha: f64,
}

impl Penalty {
    /// No penalty: maximum likelihood.
    pub fn none() -> Self {
        Self {
            lambda: 0.0,
            alpha: 0.0,
        }
    }

    fn value(&self, beta: &[f64]) -> f64 {
        let l2: f64 = beta.iter().map(|b| b * b).sum();
        let l1: f64 = beta.iter().map(|b| b.abs()).sum();
        self.lambda * ((1.0 - self.alpha) / 2.0 * l2 + self.alpha * l1)
    }
}

/// A fitted linear predictor `intercept + x·beta`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// The intercept (0 for the Cox model, whose baseline hazard absorbs it).
    pub intercept: f64,
    /// One coefficient per feature.
    pub beta: Vec<f64>,
    /// Outer iterations taken.
    pub iterations: usize,
}

impl Fit {
    /// The linear predictor of one row.
    pub fn eta(&self, row: &[f64]) -> f64 {
        self.intercept + row.iter().zip(&self.beta).map(|(x, b)| x * b).sum::<f64>()
    }
}

const MAX_OUTER: usize = 200;
const MAX_INNER: usize = 10_000;
const TOL: f64 = 1e-12;

/// The per-row gradient `g` and curvature `w` of the log-likelihood with respect to the linear
/// predictor, and the objective's likelihood part, `-(1/n) log L`.
trait Family {
    fn intercept(&self) -> bool;
    fn derivatives(&self, eta: &[f64]) -> (Vec<f64>, Vec<f64>);
    fn loss(&self, eta: &[f64]) -> f64;
}

struct Binomial<'a> {
    y: &'a [bool],
}

/// The logistic function, without overflow for large |e|.
pub fn sigmoid(e: f64) -> f64 {
    if e >= 0.0 {
        1.0 / (1.0 + (-e).exp())
    } else {
        let z = e.exp();
        z / (1.0 + z)
    }
}

impl Family for Binomial<'_> {
    fn intercept(&self) -> bool {
        true
    }
    fn derivatives(&self, eta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        eta.iter()
            .zip(self.y)
            .map(|(&e, &y)| {
                let p = sigmoid(e);
                (f64::from(u8::from(y)) - p, (p * (1.0 - p)).max(1e-10))
            })
            .unzip()
    }
    fn loss(&self, eta: &[f64]) -> f64 {
        // log(1 + e^η) - yη, computed without overflow.
        let n = eta.len() as f64;
        eta.iter()
            .zip(self.y)
            .map(|(&e, &y)| e.max(0.0) + (-e.abs()).exp().ln_1p() - if y { e } else { 0.0 })
            .sum::<f64>()
            / n
    }
}

/// The Cox partial likelihood (Breslow): rows sorted by time, and the groups of equal times.
struct Cox {
    order: Vec<usize>,
    /// (start, end) in `order` of each run of equal times, ascending.
    groups: Vec<(usize, usize)>,
    /// Events in each group.
    deaths: Vec<f64>,
    event: Vec<bool>,
}

impl Cox {
    fn new(time: &[f64], event: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..time.len()).collect();
        order.sort_by(|&a, &b| time[a].total_cmp(&time[b]));
        let (mut groups, mut deaths) = (Vec::new(), Vec::new());
        let mut s = 0;
        while s < order.len() {
            let mut e = s + 1;
            while e < order.len() && time[order[e]] == time[order[s]] {
                e += 1;
            }
            groups.push((s, e));
            deaths.push(order[s..e].iter().filter(|&&i| event[i]).count() as f64);
            s = e;
        }
        Self {
            order,
            groups,
            deaths,
            event: event.to_vec(),
        }
    }

    /// For each group, the risk-set sum `Σ_{t_j ≥ t} exp(η_j)`, and the shift used for
    /// numerical safety (every exponent is taken of `η - shift`).
    fn risk_sums(&self, eta: &[f64]) -> (Vec<f64>, f64) {
        let shift = eta.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut suffix = vec![0.0; self.order.len() + 1];
        for k in (0..self.order.len()).rev() {
            suffix[k] = suffix[k + 1] + (eta[self.order[k]] - shift).exp();
        }
        (self.groups.iter().map(|&(s, _)| suffix[s]).collect(), shift)
    }
}

impl Family for Cox {
    fn intercept(&self) -> bool {
        false
    }
    fn derivatives(&self, eta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (sums, shift) = self.risk_sums(eta);
        let n = eta.len();
        let (mut g, mut w) = (vec![0.0; n], vec![0.0; n]);
        // A subject at risk at every event time up to its own: running sums of d/S and d/S².
        let (mut a, mut b) = (0.0, 0.0);
        for (k, &(s, e)) in self.groups.iter().enumerate() {
            a += self.deaths[k] / sums[k];
            b += self.deaths[k] / (sums[k] * sums[k]);
            for &i in &self.order[s..e] {
                let r = (eta[i] - shift).exp();
                g[i] = f64::from(u8::from(self.event[i])) - r * a;
                w[i] = (r * a - r * r * b).max(1e-10);
            }
        }
        (g, w)
    }
    fn loss(&self, eta: &[f64]) -> f64 {
        let (sums, shift) = self.risk_sums(eta);
        let mut ll = 0.0;
        for (k, &(s, e)) in self.groups.iter().enumerate() {
            for &i in &self.order[s..e] {
                if self.event[i] {
                    ll += eta[i] - shift - sums[k].ln();
                }
            }
        }
        -ll / eta.len() as f64
    }
}

/// Fits the elastic-net logistic regression of `y` on the rows `x`.
pub fn logistic(x: &[Vec<f64>], y: &[bool], penalty: &Penalty) -> Result<Fit, String> {
    fit(x, &Binomial { y }, penalty)
}

/// Fits the elastic-net Cox regression of the times `time` and events `event` on the rows `x`.
pub fn cox(x: &[Vec<f64>], time: &[f64], event: &[bool], penalty: &Penalty) -> Result<Fit, String> {
    fit(x, &Cox::new(time, event), penalty)
}

fn fit(x: &[Vec<f64>], family: &dyn Family, penalty: &Penalty) -> Result<Fit, String> {
    let n = x.len();
    let p = x.first().map_or(0, Vec::len);
    if n == 0 {
        return Err("no rows".into());
    }
    if !(penalty.lambda >= 0.0 && (0.0..=1.0).contains(&penalty.alpha)) {
        return Err(format!(
            "the penalty needs lambda ≥ 0 and alpha in [0, 1], not {penalty:?}"
        ));
    }
    let nf = n as f64;
    let objective = |b0: f64, beta: &[f64]| {
        let eta: Vec<f64> = x
            .iter()
            .map(|r| b0 + r.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>())
            .collect();
        family.loss(&eta) + penalty.value(beta)
    };
    let (l1, l2) = (
        penalty.lambda * penalty.alpha,
        penalty.lambda * (1.0 - penalty.alpha),
    );
    let (mut b0, mut beta) = (0.0, vec![0.0; p]);
    let mut current = objective(b0, &beta);
    for outer in 1..=MAX_OUTER {
        let eta: Vec<f64> = x
            .iter()
            .map(|r| b0 + r.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>())
            .collect();
        let (g, w) = family.derivatives(&eta);
        // Penalised weighted least squares of the working response: r holds w·(z - η_new).
        let (mut nb0, mut nbeta) = (b0, beta.clone());
        let mut r = g.clone();
        let v: Vec<f64> = (0..p)
            .map(|j| {
                x.iter()
                    .zip(&w)
                    .map(|(row, wi)| wi * row[j] * row[j])
                    .sum::<f64>()
                    / nf
            })
            .collect();
        let wsum: f64 = w.iter().sum::<f64>() / nf;
        for _ in 0..MAX_INNER {
            let mut change: f64 = 0.0;
            if family.intercept() {
                let d = r.iter().sum::<f64>() / nf / wsum;
                if d != 0.0 {
                    nb0 += d;
                    for (ri, wi) in r.iter_mut().zip(&w) {
                        *ri -= wi * d;
                    }
                    change = change.max(d.abs());
                }
            }
            for j in 0..p {
                if v[j] == 0.0 {
                    continue;
                }
                let u = x.iter().zip(&r).map(|(row, ri)| row[j] * ri).sum::<f64>() / nf
                    + v[j] * nbeta[j];
                let new = soft(u, l1) / (v[j] + l2);
                let d = new - nbeta[j];
                if d != 0.0 {
                    for ((ri, wi), row) in r.iter_mut().zip(&w).zip(x) {
                        *ri -= wi * row[j] * d;
                    }
                    nbeta[j] = new;
                    change = change.max(d.abs() * v[j].sqrt());
                }
            }
            if change < TOL {
                break;
            }
        }
        // Step halving: never accept a step that raises the objective.
        let mut step = 1.0;
        let (mut cb0, mut cbeta) = (nb0, nbeta.clone());
        let mut next = objective(cb0, &cbeta);
        while (next.is_nan() || next > current + 1e-15) && step > 1e-6 {
            step /= 2.0;
            cb0 = b0 + step * (nb0 - b0);
            cbeta = beta
                .iter()
                .zip(&nbeta)
                .map(|(o, nw)| o + step * (nw - o))
                .collect();
            next = objective(cb0, &cbeta);
        }
        let moved = (cb0 - b0).abs().max(
            beta.iter()
                .zip(&cbeta)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max),
        );
        if !next.is_finite() {
            return Err("the fit diverged (the outcome may be separable by the features)".into());
        }
        let improvement = current - next;
        b0 = cb0;
        beta = cbeta;
        current = next;
        if beta.iter().any(|b| b.abs() > 1e4) || b0.abs() > 1e4 {
            return Err(
                "the coefficients grow without bound: the outcome is separable by the features; add a penalty (lambda > 0)"
                    .into(),
            );
        }
        if moved < 1e-10 || improvement.abs() < 1e-15 {
            return Ok(Fit {
                intercept: b0,
                beta,
                iterations: outer,
            });
        }
    }
    Err(format!("no convergence in {MAX_OUTER} iterations"))
}

fn soft(u: f64, t: f64) -> f64 {
    if u > t {
        u - t
    } else if u < -t {
        u + t
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn data(n: usize, p: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..p).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect())
            .collect();
        let truth: Vec<f64> = (0..p)
            .map(|j| if j < 3 { 1.5 - j as f64 } else { 0.0 })
            .collect();
        let eta = x
            .iter()
            .map(|r| r.iter().zip(&truth).map(|(a, b)| a * b).sum())
            .collect();
        (x, eta)
    }

    /// The Karush-Kuhn-Tucker conditions of the penalised problem, from the gradient of the
    /// log-likelihood: a fit meeting them is the optimum (the problem is convex).
    fn kkt(x: &[Vec<f64>], g: &[f64], fit: &Fit, pen: &Penalty, intercept: bool) {
        let n = x.len() as f64;
        if intercept {
            let s: f64 = g.iter().sum::<f64>() / n;
            assert!(s.abs() < 1e-8, "intercept score {s}");
        }
        for (j, &b) in fit.beta.iter().enumerate() {
            let s = x.iter().zip(g).map(|(r, gi)| r[j] * gi).sum::<f64>() / n
                - pen.lambda * (1.0 - pen.alpha) * b;
            let l1 = pen.lambda * pen.alpha;
            if b != 0.0 {
                assert!(
                    (s - l1 * b.signum()).abs() < 1e-7,
                    "beta[{j}] = {b}: {s} vs {l1}"
                );
            } else {
                assert!(s.abs() <= l1 + 1e-7, "beta[{j}] = 0: |{s}| > {l1}");
            }
        }
    }

    #[test]
    fn logistic_fits_meet_the_optimality_conditions() {
        let (x, eta) = data(300, 6, 7);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let y: Vec<bool> = eta
            .iter()
            .map(|&e| rng.random::<f64>() < sigmoid(e))
            .collect();
        for pen in [
            Penalty::none(),
            Penalty {
                lambda: 0.05,
                alpha: 1.0,
            },
            Penalty {
                lambda: 0.02,
                alpha: 0.5,
            },
            Penalty {
                lambda: 0.1,
                alpha: 0.0,
            },
        ] {
            let f = logistic(&x, &y, &pen).unwrap();
            let e: Vec<f64> = x.iter().map(|r| f.eta(r)).collect();
            let (g, _) = Binomial { y: &y }.derivatives(&e);
            kkt(&x, &g, &f, &pen, true);
            if pen.alpha == 1.0 {
                assert!(
                    f.beta.iter().skip(3).any(|&b| b == 0.0),
                    "the lasso zeroes noise: {f:?}"
                );
            }
        }
    }

    #[test]
    fn cox_fits_meet_the_optimality_conditions_with_tied_times() {
        let (x, eta) = data(200, 5, 11);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        // Exponential times with hazard exp(η), rounded to create ties; random censoring.
        let (mut time, mut event) = (Vec::new(), Vec::new());
        for e in &eta {
            let t = -(1.0 - rng.random::<f64>()).ln() / f64::exp(*e);
            let c = rng.random::<f64>() * 3.0;
            time.push((t.min(c) * 20.0).round() / 20.0);
            event.push(t <= c);
        }
        for pen in [
            Penalty::none(),
            Penalty {
                lambda: 0.02,
                alpha: 1.0,
            },
            Penalty {
                lambda: 0.05,
                alpha: 0.3,
            },
        ] {
            let f = cox(&x, &time, &event, &pen).unwrap();
            let e: Vec<f64> = x.iter().map(|r| f.eta(r)).collect();
            let (g, _) = Cox::new(&time, &event).derivatives(&e);
            kkt(&x, &g, &f, &pen, false);
        }
        // The unpenalised fit finds the generating coefficients roughly.
        let f = cox(&x, &time, &event, &Penalty::none()).unwrap();
        assert!(
            (f.beta[0] - 1.5).abs() < 0.5 && (f.beta[2] + 0.5).abs() < 0.5,
            "{f:?}"
        );
    }

    #[test]
    fn separable_data_without_a_penalty_is_an_error_not_a_hang() {
        let x: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64]).collect();
        let y: Vec<bool> = (0..20).map(|i| i >= 10).collect();
        let e = logistic(&x, &y, &Penalty::none()).unwrap_err();
        assert!(e.contains("separable") || e.contains("convergence"), "{e}");
        assert!(
            logistic(
                &x,
                &y,
                &Penalty {
                    lambda: 0.1,
                    alpha: 0.5
                }
            )
            .is_ok()
        );
    }
}
