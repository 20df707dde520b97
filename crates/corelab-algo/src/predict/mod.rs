//! Prediction models on feature tables (radiomics or any other per-subject measures): a
//! prognostic or predictive score per subject, for enrichment and stratified randomisation.
//!
//! - [`data`]: the training table (features and a binary or time-to-event outcome), the scaler.
//! - [`models`]: the kinds (random forest, SVM, kNN from smartcore; elastic-net logistic and Cox
//!   from [`glmnet`]) and their training and scoring.
//! - [`cv`]: stratified k-fold cross-validation; [`metrics`]: AUC, Harrell's C, Brier score,
//!   calibration.
//! - [`Artifact`]: the saved model (versioned format, the features in order, the training
//!   table's SHA-256, the cross-validated metrics, the scaler and the fitted model), its
//!   [`card`], and [`PredictModel`], the algorithm `predict.model` that scores a subject with a
//!   saved model.

pub mod cv;
pub mod data;
pub mod glmnet;
pub mod metrics;
pub mod models;

use crate::{
    AlgoError, Algorithm, ImageSpec, InputKind, InputRole, Inputs, Measurement, MeasurementSpec,
    Outputs, ParamSpec, Params,
};
use corelab_core::Sha256Digest;
use cv::Validation;
use data::{Dataset, Features, OutcomeSpec, Scaler};
use models::{Kind, Trained};
use serde::{Deserialize, Serialize};

/// The artifact format this version writes and reads.
pub const FORMAT: &str = "corelab-model/1";

/// What a model was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// The table's file name as given.
    pub source: String,
    /// SHA-256 of the table's bytes.
    pub sha256: String,
    /// Subjects (rows).
    pub subjects: usize,
    /// Of them, with the outcome (binary) or the event (time to event).
    pub with_outcome: usize,
}

/// A trained model as saved: everything needed to score a subject and to say how it was made.
#[derive(Debug, Serialize, Deserialize)]
pub struct Artifact {
    /// [`FORMAT`].
    pub format: String,
    /// The model's name (`pfs-risk`): lower-case letters, digits and hyphens.
    pub name: String,
    /// The corelab that trained it (`corelab 0.1.0`).
    pub trained_by: String,
    /// The kind and its hyper-parameters.
    pub kind: Kind,
    /// The outcome it predicts.
    pub outcome: OutcomeSpec,
    /// The features it takes, in order.
    pub features: Vec<String>,
    /// The training data.
    pub training: Training,
    /// Cross-validation.
    pub validation: Validation,
    /// The standardisation fitted on the whole training table.
    pub scaler: Scaler,
    /// The model fitted on the whole training table.
    pub model: Trained,
}

/// Checks a model name.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "model name {name:?}: 1-64 lower-case letters, digits and hyphens, not starting with a hyphen"
        ))
    }
}

/// What to train: the model's name and kind, the table's identifier, outcome and feature
/// columns, and the cross-validation.
#[derive(Clone, Debug)]
pub struct TrainSpec {
    /// The model's name.
    pub name: String,
    /// The kind and its hyper-parameters.
    pub kind: Kind,
    /// The identifier column, if any (never a feature).
    pub id: Option<String>,
    /// The outcome's columns.
    pub outcome: OutcomeSpec,
    /// The feature columns (every other column when `None`).
    pub features: Option<Vec<String>>,
    /// Cross-validation folds.
    pub folds: usize,
    /// The seed of the folds and the models.
    pub seed: u64,
}

/// Cross-validates the model of `spec` on the table `text` (read from `source`), then fits it
/// on the whole table.
pub fn train(spec: &TrainSpec, text: &str, source: &str) -> Result<Artifact, String> {
    check_name(&spec.name)?;
    let data = Dataset::from_csv(
        text,
        source,
        spec.id.as_deref(),
        &spec.outcome,
        spec.features.as_deref(),
    )?;
    let validation = cv::cross_validate(&spec.kind, &data, spec.folds, spec.seed)?;
    let scaler = Scaler::fit(&data.features.rows);
    let model = models::train(
        &spec.kind,
        &scaler.apply_all(&data.features.rows),
        &data.outcome,
        spec.seed,
    )?;
    Ok(Artifact {
        format: FORMAT.into(),
        name: spec.name.clone(),
        trained_by: format!("corelab {}", env!("CARGO_PKG_VERSION")),
        kind: spec.kind.clone(),
        outcome: spec.outcome.clone(),
        features: data.features.names.clone(),
        training: Training {
            source: source.into(),
            sha256: Sha256Digest::of(text.as_bytes()).to_hex(),
            subjects: data.features.rows.len(),
            with_outcome: data.outcome.strata().iter().filter(|&&s| s).count(),
        },
        validation,
        scaler,
        model,
    })
}

impl Artifact {
    /// Reads a saved model, refusing another format or an inconsistent one.
    pub fn from_json(text: &str, source: &str) -> Result<Self, String> {
        let head: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("{source}: not JSON: {e}"))?;
        if head["format"] != FORMAT {
            return Err(format!(
                "{source}: format {}, this corelab reads {FORMAT}",
                head["format"]
            ));
        }
        let a: Self = serde_json::from_value(head)
            .map_err(|e| format!("{source}: not a corelab model: {e}"))?;
        check_name(&a.name).map_err(|e| format!("{source}: {e}"))?;
        let p = a.features.len();
        if p == 0 || a.scaler.mean.len() != p || a.scaler.sd.len() != p {
            return Err(format!(
                "{source}: {p} features but a scaler of {}: damaged",
                a.scaler.mean.len()
            ));
        }
        Ok(a)
    }

    /// The model as JSON (pretty; floats written to round-trip exactly).
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| e.to_string())
    }

    /// The scores of `features` (columns named as the model's, in any order).
    pub fn score(&self, features: &Features) -> Result<Vec<f64>, String> {
        let cols: Vec<usize> = self
            .features
            .iter()
            .map(|f| {
                features
                    .names
                    .iter()
                    .position(|n| n == f)
                    .ok_or_else(|| format!("the model needs feature {f:?}, which is not given"))
            })
            .collect::<Result<_, _>>()?;
        let rows: Vec<Vec<f64>> = features
            .rows
            .iter()
            .map(|r| {
                self.scaler
                    .apply(&cols.iter().map(|&c| r[c]).collect::<Vec<_>>())
            })
            .collect();
        self.model.score(&rows)
    }

    /// What a score means.
    pub fn score_meaning(&self) -> &'static str {
        if self.kind.is_survival() {
            "log relative hazard (higher: earlier event)"
        } else {
            "probability of the outcome"
        }
    }
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.3}"))
}

fn spread(v: &[f64]) -> String {
    match crate::stats::agreement::mean_sd(v) {
        Some((m, s)) => format!("{m:.3} ± {s:.3} over {} folds", v.len()),
        None => "—".into(),
    }
}

/// The model card (Mitchell et al., FAT* 2019, adapted): what the model is, what it was trained
/// on, how well it did under cross-validation, and how to use it.
pub fn card(a: &Artifact) -> String {
    let v = &a.validation;
    let mut s = format!("# Model card: {}\n\n", a.name);
    s.push_str(&format!(
        "- Kind: {} — `{}`\n- Trained by: {}\n- Format: {}\n- Score: {}\n",
        a.kind.name(),
        serde_json::to_string(&a.kind).unwrap_or_default(),
        a.trained_by,
        a.format,
        a.score_meaning()
    ));
    s.push_str(&match &a.outcome {
        OutcomeSpec::Binary { column } => format!("- Outcome: binary, column `{column}`\n"),
        OutcomeSpec::Survival { time, event } => {
            format!("- Outcome: time to event, columns `{time}` (time) and `{event}` (event)\n")
        }
    });
    s.push_str(&format!(
        "\n## Training data\n\n- Table: `{}`, SHA-256 `{}`\n- Subjects: {}, with the {}: {}\n- Features ({}): {}\n",
        a.training.source,
        a.training.sha256,
        a.training.subjects,
        if a.kind.is_survival() { "event" } else { "outcome" },
        a.training.with_outcome,
        a.features.len(),
        a.features.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
    ));
    s.push_str(&format!(
        "\n## Cross-validated performance\n\nStratified {}-fold cross-validation, seed {}; the scaler and model refitted in each fold.\n\n",
        v.folds, v.seed
    ));
    if a.kind.is_survival() {
        s.push_str(&format!(
            "- Harrell's C (pooled out-of-fold): {}\n- Harrell's C by fold: {}\n",
            fmt(v.c_index),
            spread(&v.c_index_by_fold)
        ));
    } else {
        s.push_str(&format!(
            "- ROC AUC (pooled out-of-fold): {}\n- ROC AUC by fold: {}\n- Brier score: {}\n",
            fmt(v.auc),
            spread(&v.auc_by_fold),
            fmt(v.brier)
        ));
        if let Some(c) = &v.calibration {
            s.push_str(&format!(
                "- Calibration intercept {} and slope {} (0 and 1 when calibrated)\n\n| group | n | mean predicted | observed |\n|---|---|---|---|\n",
                fmt(c.intercept),
                fmt(c.slope)
            ));
            for (i, b) in c.bins.iter().enumerate() {
                s.push_str(&format!(
                    "| {} | {} | {:.3} | {:.3} |\n",
                    i + 1,
                    b.n,
                    b.predicted,
                    b.observed
                ));
            }
        }
    }
    s.push_str(
        "\n## Use\n\nScore subjects with `corelab model predict MODEL TABLE`, or in a trial as the algorithm `predict.model` with this file as its `model` input, whose SHA-256 the trial's lock records. The features must be computed as they were for the training table (same algorithm, version and parameters). Cross-validated performance is internal validation: the model needs external validation on independent data before an endpoint or a stratification rests on it.\n",
    );
    s
}

/// `predict.model`: scores one subject with a saved model.
pub struct PredictModel;

impl Algorithm for PredictModel {
    fn id(&self) -> &'static str {
        "predict.model"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "Scores a subject with a trained prediction model (random forest, SVM, kNN, elastic-net logistic or Cox regression, saved by `corelab model train`): the probability of the outcome, or the log relative hazard for a Cox model, from the subject's features (a one-row table with the model's feature columns)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Breiman L. Random forests. Mach Learn 2001;45:5-32; Malley JD et al. Probability machines. Methods Inf Med 2012;51:74-81.",
            "Friedman J, Hastie T, Tibshirani R. Regularization paths for generalized linear models via coordinate descent. J Stat Softw 2010;33(1).",
            "Simon N, Friedman J, Hastie T, Tibshirani R. Regularization paths for Cox's proportional hazards model via coordinate descent. J Stat Softw 2011;39(5).",
            "Platt J. Probabilistic outputs for support vector machines. Advances in Large Margin Classifiers, 1999.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "model",
                kind: InputKind::Table,
                required: true,
                description: "the model (JSON, written by corelab model train)",
            },
            InputRole {
                role: "features",
                kind: InputKind::Table,
                required: true,
                description: "the subject's features: a CSV of one row with the model's feature columns",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![MeasurementSpec {
            name: "score",
            unit: "1",
            description: "the model's score: the probability of the outcome, or the log relative hazard of a Cox model",
        }]
    }
    fn images(&self) -> Vec<ImageSpec> {
        Vec::new()
    }
    fn run(&self, inputs: &Inputs, _params: &Params) -> Result<Outputs, AlgoError> {
        let doc = |role: &str| {
            inputs.document(role).ok_or_else(|| AlgoError::Input {
                role: role.into(),
                why: "missing".into(),
            })
        };
        let (m, f) = (doc("model")?, doc("features")?);
        let model = Artifact::from_json(&m.text, &m.source).map_err(|why| AlgoError::Input {
            role: "model".into(),
            why,
        })?;
        let table =
            data::features_from_csv(&f.text, &f.source, None, &model.features).map_err(|why| {
                AlgoError::Input {
                    role: "features".into(),
                    why,
                }
            })?;
        if table.rows.len() != 1 {
            return Err(AlgoError::Input {
                role: "features".into(),
                why: format!(
                    "{}: {} rows; one subject's features are one row",
                    f.source,
                    table.rows.len()
                ),
            });
        }
        let score = model.score(&table).map_err(AlgoError::Failed)?;
        Ok(Outputs {
            measurements: vec![Measurement {
                name: "score".into(),
                value: score[0],
                unit: "1".into(),
            }],
            ..Outputs::default()
        })
    }
}

#[cfg(test)]
mod predict_tests;
