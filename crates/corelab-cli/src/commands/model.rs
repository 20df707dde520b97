//! `corelab model train` (cross-validated training, the model file and its card) and
//! `corelab model predict` (scores of a feature table).

use crate::cli::{Global, ModelCommand, ModelTrainArgs};
use crate::output::emit;
use anyhow::{Context, Result, anyhow, bail};
use corelab_algo::predict::data::{OutcomeSpec, features_from_csv};
use corelab_algo::predict::models::Kind;
use corelab_algo::predict::{Artifact, TrainSpec, card, train};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub async fn run(g: &Global, c: &ModelCommand) -> Result<u8> {
    match c {
        ModelCommand::Train(a) => train_model(g, a),
        ModelCommand::Predict {
            model,
            table,
            id,
            out,
        } => predict(g, model, table, id.as_deref(), out),
    }
}

fn train_model(g: &Global, a: &ModelTrainArgs) -> Result<u8> {
    let mut set = BTreeMap::new();
    for s in &a.set {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {s:?}: NAME=VALUE is needed"))?;
        if set
            .insert(k.trim().to_owned(), v.trim().to_owned())
            .is_some()
        {
            bail!("--set {k} is given twice");
        }
    }
    let kind = Kind::parse(&a.kind, &set).map_err(|e| anyhow!("--kind {}: {e}", a.kind))?;
    let outcome = match (&a.outcome, &a.time, &a.event) {
        (Some(column), None, None) => OutcomeSpec::Binary {
            column: column.clone(),
        },
        (None, Some(time), Some(event)) => OutcomeSpec::Survival {
            time: time.clone(),
            event: event.clone(),
        },
        _ => bail!(
            "give the outcome: --outcome COLUMN (binary), or --time COLUMN --event COLUMN (cox)"
        ),
    };
    let (model_path, card_path) = (
        a.out.join(format!("{}.model.json", a.name)),
        a.out.join(format!("{}.card.md", a.name)),
    );
    for p in [&model_path, &card_path] {
        if p.exists() {
            bail!(
                "{} exists: a saved model is not replaced (choose another --name or --out)",
                p.display()
            );
        }
    }
    let text = read(&a.table)?;
    let spec = TrainSpec {
        name: a.name.clone(),
        kind,
        id: a.id.clone(),
        outcome,
        features: (!a.features.is_empty()).then(|| a.features.clone()),
        folds: a.folds,
        seed: a.seed,
    };
    let artifact = train(&spec, &text, &a.table.display().to_string()).map_err(|e| anyhow!(e))?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let saved = artifact.to_json().map_err(|e| anyhow!(e))?;
    super::register::write_atomically(&model_path, saved.as_bytes())?;
    super::register::write_atomically(&card_path, card(&artifact).as_bytes())?;
    let v = &artifact.validation;
    let report = json!({
        "name": artifact.name,
        "kind": artifact.kind.name(),
        "model": model_path.display().to_string(),
        "card": card_path.display().to_string(),
        "model_sha256": corelab_core::Sha256Digest::of(saved.as_bytes()).to_hex(),
        "subjects": artifact.training.subjects,
        "features": artifact.features.len(),
        "folds": v.folds,
        "auc": v.auc,
        "brier": v.brier,
        "calibration_slope": v.calibration.as_ref().and_then(|c| c.slope),
        "c_index": v.c_index,
    });
    emit(g.json, &report, |r| {
        let metric = match (r["auc"].as_f64(), r["c_index"].as_f64()) {
            (Some(auc), _) => format!(
                "AUC {auc:.3}, Brier {:.3}",
                r["brier"].as_f64().unwrap_or(f64::NAN)
            ),
            (_, Some(c)) => format!("Harrell's C {c:.3}"),
            _ => "no metric".into(),
        };
        format!(
            "{} ({}) on {} subjects, {} features: {}-fold cross-validated {metric} → {}\n",
            r["name"].as_str().unwrap_or_default(),
            r["kind"].as_str().unwrap_or_default(),
            r["subjects"],
            r["features"],
            r["folds"],
            r["model"].as_str().unwrap_or_default()
        )
    })?;
    Ok(0)
}

fn predict(g: &Global, model: &Path, table: &Path, id: Option<&str>, out: &Path) -> Result<u8> {
    let artifact =
        Artifact::from_json(&read(model)?, &model.display().to_string()).map_err(|e| anyhow!(e))?;
    let features = features_from_csv(
        &read(table)?,
        &table.display().to_string(),
        id,
        &artifact.features,
    )
    .map_err(|e| anyhow!(e))?;
    let scores = artifact.score(&features).map_err(|e| anyhow!(e))?;
    let mut csv = String::from("id,score\n");
    for (i, s) in features.ids.iter().zip(&scores) {
        csv.push_str(&format!("{},{s}\n", corelab_algo::csv::field(i)));
    }
    super::register::write_atomically(out, csv.as_bytes())?;
    let report = json!({
        "model": artifact.name,
        "scored": scores.len(),
        "score": artifact.score_meaning(),
        "out": out.display().to_string(),
    });
    emit(g.json, &report, |r| {
        format!(
            "{} subjects scored with {} ({}) → {}\n",
            r["scored"],
            r["model"].as_str().unwrap_or_default(),
            r["score"].as_str().unwrap_or_default(),
            r["out"].as_str().unwrap_or_default()
        )
    })?;
    Ok(0)
}
