//! The model kinds and their training: a probability forest, a support vector machine with
//! Platt's probabilities, k nearest neighbours (smartcore), and elastic-net logistic and Cox
//! regression (`glmnet.rs`). Every kind trains on standardised features and scores a row: a
//! probability of the outcome for the binary kinds, a log relative hazard for Cox.

use super::data::Outcome;
use super::glmnet::{self, Fit, Penalty, sigmoid};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::metrics::distance::euclidian::Euclidian;
use smartcore::neighbors::knn_regressor::{KNNRegressor, KNNRegressorParameters};
use smartcore::svm::Kernels;
use smartcore::svm::svc::{SVC, SVCParameters};
use std::collections::BTreeMap;

/// A model kind with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Kind {
    /// A random forest of regression trees on the 0/1 outcome: each tree's leaf mean is a
    /// probability, the forest's average their estimate (a probability machine: Malley et al.,
    /// Methods Inf Med 2012).
    RandomForest {
        /// Trees.
        trees: usize,
        /// The fewest subjects in a leaf.
        min_leaf: usize,
        /// Features tried at each split (the square root of their number when absent).
        mtry: Option<usize>,
        /// The deepest a tree grows (unbounded when absent).
        max_depth: Option<u16>,
    },
    /// A C-support vector machine with a radial basis kernel `exp(-γ‖x - y‖²)`, its decision
    /// value turned into a probability by Platt's sigmoid fitted on the training data.
    Svm {
        /// The cost of a margin violation.
        c: f64,
        /// γ (1 / the number of features when absent: the features are standardised).
        gamma: Option<f64>,
    },
    /// k nearest neighbours (Euclidean, on standardised features): the share of the k with the
    /// outcome.
    Knn {
        /// Neighbours.
        k: usize,
    },
    /// Elastic-net logistic regression.
    Logistic {
        /// The penalty's strength λ.
        lambda: f64,
        /// Its L1 share α.
        alpha: f64,
    },
    /// Elastic-net Cox proportional-hazards regression (Breslow ties), for a time to event.
    Cox {
        /// The penalty's strength λ.
        lambda: f64,
        /// Its L1 share α.
        alpha: f64,
    },
}

impl Kind {
    /// The kind of a name with its parameters given as text (`trees=500`), the rest defaults.
    pub fn parse(name: &str, given: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut take = Taken {
            given,
            used: Vec::new(),
        };
        let kind = match name {
            "random-forest" | "rf" => Self::RandomForest {
                trees: take.num("trees", 500.0, 1.0, 100_000.0)? as usize,
                min_leaf: take.num("min_leaf", 5.0, 1.0, 1e6)? as usize,
                mtry: take.opt("mtry", 1.0, 1e6)?.map(|v| v as usize),
                max_depth: take.opt("max_depth", 1.0, 1000.0)?.map(|v| v as u16),
            },
            "svm" => Self::Svm {
                c: take.num("c", 1.0, 1e-6, 1e6)?,
                gamma: take.opt("gamma", 1e-9, 1e6)?,
            },
            "knn" => Self::Knn {
                k: take.num("k", 15.0, 1.0, 1e6)? as usize,
            },
            "logistic" => Self::Logistic {
                lambda: take.num("lambda", 0.01, 0.0, 1e6)?,
                alpha: take.num("alpha", 0.5, 0.0, 1.0)?,
            },
            "cox" => Self::Cox {
                lambda: take.num("lambda", 0.01, 0.0, 1e6)?,
                alpha: take.num("alpha", 0.5, 0.0, 1.0)?,
            },
            other => {
                return Err(format!(
                    "no model kind {other:?} (there are random-forest, svm, knn, logistic, cox)"
                ));
            }
        };
        if let Some(k) = given.keys().find(|k| !take.used.contains(&k.as_str())) {
            return Err(format!(
                "{name} has no parameter {k:?} (it has {})",
                take.used.join(", ")
            ));
        }
        Ok(kind)
    }

    /// The kind's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RandomForest { .. } => "random-forest",
            Self::Svm { .. } => "svm",
            Self::Knn { .. } => "knn",
            Self::Logistic { .. } => "logistic",
            Self::Cox { .. } => "cox",
        }
    }

    /// Whether it models a time to event (else a binary outcome).
    pub fn is_survival(&self) -> bool {
        matches!(self, Self::Cox { .. })
    }
}

struct Taken<'a> {
    given: &'a BTreeMap<String, String>,
    used: Vec<&'static str>,
}

impl Taken<'_> {
    fn opt(&mut self, key: &'static str, min: f64, max: f64) -> Result<Option<f64>, String> {
        self.used.push(key);
        let Some(text) = self.given.get(key) else {
            return Ok(None);
        };
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(format!(
                "{key}={text:?}: a number from {min} to {max} is needed"
            )),
        }
    }
    fn num(&mut self, key: &'static str, default: f64, min: f64, max: f64) -> Result<f64, String> {
        Ok(self.opt(key, min, max)?.unwrap_or(default))
    }
}

/// A support vector machine as saved: smartcore's fitted SVC keeps its kernel outside what it
/// serialises, so the support vectors, their weights and the bias are kept here and the
/// decision value computed from them (checked equal to smartcore's in the tests).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SvmModel {
    /// The kernel's γ.
    pub gamma: f64,
    /// The support vectors (standardised features).
    pub support: Vec<Vec<f64>>,
    /// Their weights.
    pub w: Vec<f64>,
    /// The bias.
    pub b: f64,
    /// Platt's sigmoid: P = 1 / (1 + exp(-(a + b·f))) of the decision value f.
    pub platt: (f64, f64),
}

impl SvmModel {
    /// The decision value of one row.
    pub fn decision(&self, row: &[f64]) -> f64 {
        self.support.iter().zip(&self.w).fold(self.b, |f, (sv, w)| {
            let d: f64 = row.iter().zip(sv).map(|(a, b)| (a - b) * (a - b)).sum();
            f + w * (-self.gamma * d).exp()
        })
    }
}

type Forest = RandomForestRegressor<f64, f64, Array2<f64>, Array1<f64>>;
type Neighbours = KNNRegressor<f64, f64, Array2<f64>, Array1<f64>, Euclidian<f64>>;

/// A trained model.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trained {
    /// A probability forest.
    RandomForest(Box<Forest>),
    /// A support vector machine.
    Svm(SvmModel),
    /// k nearest neighbours.
    Knn(Box<Neighbours>),
    /// A linear predictor: logistic (a probability through the logistic function) or Cox
    /// (the log relative hazard itself).
    Linear {
        /// The coefficients.
        fit: Fit,
        /// Whether the score is a probability (logistic) rather than a log hazard (Cox).
        probability: bool,
    },
}

fn matrix(rows: &[Vec<f64>]) -> Result<Array2<f64>, String> {
    let p = rows.first().map_or(0, Vec::len);
    Array2::from_shape_vec((rows.len(), p), rows.concat()).map_err(|e| e.to_string())
}

/// Runs a smartcore call, turning a panic inside it (it has some on unusual shapes) into an
/// error rather than letting it take the process down.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(format!("{what} failed inside smartcore")))
}

/// Trains `kind` on standardised rows `x` and their outcome, with `seed` for what is random.
pub fn train(kind: &Kind, x: &[Vec<f64>], outcome: &Outcome, seed: u64) -> Result<Trained, String> {
    let n = x.len();
    let p = x.first().map_or(0, Vec::len);
    if n == 0 || p == 0 {
        return Err("no rows or no features to train on".into());
    }
    let y = match (outcome, kind.is_survival()) {
        (Outcome::Binary(y), false) => y,
        (Outcome::Survival { time, event }, true) => {
            let Kind::Cox { lambda, alpha } = *kind else {
                unreachable!("only Cox is a survival kind")
            };
            let fit = glmnet::cox(x, time, event, &Penalty { lambda, alpha })?;
            return Ok(Trained::Linear {
                fit,
                probability: false,
            });
        }
        (Outcome::Binary(_), true) => {
            return Err(
                "a Cox model needs a time to event (--time and --event), not a binary outcome"
                    .into(),
            );
        }
        (Outcome::Survival { .. }, false) => {
            return Err(format!(
                "{} models a binary outcome (--outcome); for a time to event use cox",
                kind.name()
            ));
        }
    };
    let y01: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    match *kind {
        Kind::RandomForest {
            trees,
            min_leaf,
            mtry,
            max_depth,
        } => {
            let xm = matrix(x)?;
            let ya = Array1::from(y01);
            let mut params = RandomForestRegressorParameters::default()
                .with_n_trees(trees)
                .with_min_samples_leaf(min_leaf)
                .with_seed(seed);
            if let Some(m) = mtry {
                params = params.with_m(m.min(p));
            }
            if let Some(d) = max_depth {
                params = params.with_max_depth(d);
            }
            guarded("the random forest", || {
                Forest::fit(&xm, &ya, params).map_err(|e| e.to_string())
            })
            .map(|f| Trained::RandomForest(Box::new(f)))
        }
        Kind::Knn { k } => {
            if k > n {
                return Err(format!("knn: k = {k} but only {n} subjects to train on"));
            }
            let xm = matrix(x)?;
            let ya = Array1::from(y01);
            guarded("k nearest neighbours", || {
                Neighbours::fit(&xm, &ya, KNNRegressorParameters::default().with_k(k))
                    .map_err(|e| e.to_string())
            })
            .map(|m| Trained::Knn(Box::new(m)))
        }
        Kind::Svm { c, gamma } => {
            if p >= n {
                return Err(format!(
                    "svm: {p} features for {n} subjects; it needs more subjects than features (select features first)"
                ));
            }
            let gamma = gamma.unwrap_or(1.0 / p as f64);
            let xm = matrix(x)?;
            let ya: Array1<i32> = y.iter().map(|&v| if v { 1 } else { -1 }).collect();
            let params: SVCParameters<f64, i32, Array2<f64>, Array1<i32>> =
                SVCParameters::default()
                    .with_c(c)
                    .with_kernel(Kernels::rbf().with_gamma(gamma))
                    .with_seed(Some(seed));
            let saved = guarded("the support vector machine", || {
                let svc = SVC::fit(&xm, &ya, &params).map_err(|e| e.to_string())?;
                serde_json::to_value(&svc).map_err(|e| e.to_string())
            })?;
            let field = |k: &str| {
                saved
                    .get(k)
                    .cloned()
                    .ok_or_else(|| format!("smartcore's SVC has no {k}"))
            };
            let support: Vec<Vec<f64>> =
                serde_json::from_value(field("instances")?).map_err(|e| e.to_string())?;
            let w: Vec<f64> = serde_json::from_value(field("w")?).map_err(|e| e.to_string())?;
            let b: f64 = serde_json::from_value(field("b")?).map_err(|e| e.to_string())?;
            let mut model = SvmModel {
                gamma,
                support,
                w,
                b,
                platt: (0.0, 1.0),
            };
            // Platt (1999): a sigmoid of the decision value, by maximum likelihood; with a
            // slight ridge when the training decisions separate the classes.
            let f: Vec<Vec<f64>> = x.iter().map(|r| vec![model.decision(r)]).collect();
            let fit = glmnet::logistic(&f, y, &Penalty::none()).or_else(|_| {
                glmnet::logistic(
                    &f,
                    y,
                    &Penalty {
                        lambda: 1e-3,
                        alpha: 0.0,
                    },
                )
            })?;
            model.platt = (fit.intercept, fit.beta[0]);
            Ok(Trained::Svm(model))
        }
        Kind::Logistic { lambda, alpha } => {
            let fit = glmnet::logistic(x, y, &Penalty { lambda, alpha })?;
            Ok(Trained::Linear {
                fit,
                probability: true,
            })
        }
        Kind::Cox { .. } => unreachable!("handled above"),
    }
}

impl Trained {
    /// The scores of standardised rows: probabilities, or log relative hazards (Cox).
    pub fn score(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>, String> {
        match self {
            Self::RandomForest(f) => {
                let xm = matrix(rows)?;
                guarded("the random forest", || {
                    f.predict(&xm)
                        .map(|a| a.to_vec())
                        .map_err(|e| e.to_string())
                })
            }
            Self::Knn(m) => {
                let xm = matrix(rows)?;
                guarded("k nearest neighbours", || {
                    m.predict(&xm)
                        .map(|a| a.to_vec())
                        .map_err(|e| e.to_string())
                })
            }
            Self::Svm(m) => Ok(rows
                .iter()
                .map(|r| sigmoid(m.platt.0 + m.platt.1 * m.decision(r)))
                .collect()),
            Self::Linear { fit, probability } => Ok(rows
                .iter()
                .map(|r| {
                    let e = fit.eta(r);
                    if *probability { sigmoid(e) } else { e }
                })
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saved_svm_decides_as_smartcore_does() {
        let x: Vec<Vec<f64>> = (0..40)
            .map(|i| vec![(i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()])
            .collect();
        let y: Vec<bool> = x.iter().map(|r| r[0] + 0.5 * r[1] > 0.2).collect();
        let Trained::Svm(m) = train(
            &Kind::Svm {
                c: 10.0,
                gamma: Some(0.7),
            },
            &x,
            &Outcome::Binary(y.clone()),
            3,
        )
        .unwrap() else {
            panic!("not an svm")
        };
        let xm = matrix(&x).unwrap();
        let ya: Array1<i32> = y.iter().map(|&v| if v { 1 } else { -1 }).collect();
        let params: SVCParameters<f64, i32, Array2<f64>, Array1<i32>> = SVCParameters::default()
            .with_c(10.0)
            .with_kernel(Kernels::rbf().with_gamma(0.7))
            .with_seed(Some(3));
        let svc = SVC::fit(&xm, &ya, &params).unwrap();
        let theirs = svc.decision_function(&xm).unwrap();
        for (r, t) in x.iter().zip(&theirs) {
            assert!((m.decision(r) - t).abs() < 1e-12);
        }
    }

    #[test]
    fn kinds_parse_with_defaults_and_refuse_unknown_parameters() {
        let none = BTreeMap::new();
        assert_eq!(Kind::parse("knn", &none).unwrap(), Kind::Knn { k: 15 });
        let bad = BTreeMap::from([("tress".to_owned(), "5".to_owned())]);
        let e = Kind::parse("random-forest", &bad).unwrap_err();
        assert!(e.contains("tress") && e.contains("trees"), "{e}");
        let bad = BTreeMap::from([("alpha".to_owned(), "2".to_owned())]);
        assert!(Kind::parse("logistic", &bad).unwrap_err().contains("alpha"));
        assert!(
            Kind::parse("xgboost", &none)
                .unwrap_err()
                .contains("random-forest")
        );
    }
}
