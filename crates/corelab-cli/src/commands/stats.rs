//! `corelab validate` (the analytical-validation report of measurements against a reference) and
//! `corelab harmonise` (ComBat across sites of a feature table).

use crate::cli::{Global, HarmoniseArgs, ValidateArgs};
use crate::output::emit;
use anyhow::{Context, Result, anyhow, bail};
use corelab_algo::stats::combat::{CombatModel, Covariate, CovariateTerm, Options, apply, combat};
use corelab_algo::stats::validation;
use nalgebra::DMatrix;
use serde_json::json;
use std::path::Path;

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub async fn validate(g: &Global, a: &ValidateArgs) -> Result<u8> {
    let reference = read(&a.reference)?;
    let measured = read(&a.measured)?;
    let report = validation::report(
        &reference,
        &a.reference.display().to_string(),
        &measured,
        &a.measured.display().to_string(),
    )
    .map_err(|e| anyhow!(e))?;
    super::require_empty_folder(&a.out)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    super::register::write_atomically(
        &a.out.join("report.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    super::register::write_atomically(
        &a.out.join("report.html"),
        validation::html(&report).as_bytes(),
    )?;
    emit(g.json, &report, |r| {
        let mut s = format!(
            "{} against {}: {} cases in both ({} only in the reference, {} only measured) → {}\n",
            r.measured,
            r.reference,
            r.cases,
            r.reference_only.len(),
            r.measured_only.len(),
            a.out.display()
        );
        for m in &r.measures {
            match (m.bland_altman, m.cohen_kappa, m.agreement) {
                (Some(b), _, _) => {
                    s += &format!(
                        "  {}: n {}, bias {:.4}, limits {:.4} to {:.4}, ICC(2,1) {}\n",
                        m.name,
                        m.n,
                        b.bias,
                        b.lower,
                        b.upper,
                        m.icc.map_or("–".into(), |i| format!("{:.4}", i.icc2_1))
                    )
                }
                (None, k, agree) => {
                    s += &format!(
                        "  {}: n {}, agreement {}, κ {}\n",
                        m.name,
                        m.n,
                        agree.map_or("–".into(), |v| format!("{v:.3}")),
                        k.map_or("–".into(), |v| format!("{v:.3}"))
                    )
                }
            }
        }
        for d in &r.distributions {
            s += &format!(
                "  {}: n {}, mean {:.4}, median {:.4} [{:.4}, {:.4}]\n",
                d.name, d.summary.n, d.summary.mean, d.summary.median, d.summary.q1, d.summary.q3
            );
        }
        s
    })?;
    Ok(0)
}

/// The format of a saved ComBat model.
const COMBAT_FORMAT: &str = "corelab-combat/1";

/// A fitted ComBat model as `--save-model` writes it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedCombat {
    format: String,
    /// The table it was fitted on.
    table: String,
    /// The batch column there.
    batch_column: String,
    /// The feature columns, in the model's order.
    features: Vec<String>,
    /// How it was fitted.
    options: serde_json::Value,
    model: CombatModel,
}

pub async fn harmonise(g: &Global, a: &HarmoniseArgs) -> Result<u8> {
    let text = read(&a.table)?;
    let src = a.table.display().to_string();
    let (header, mut records) = corelab_algo::csv::table(&text, &src).map_err(|e| anyhow!(e))?;
    if records.is_empty() {
        bail!("{src}: a header and at least one row are needed");
    }
    let col = |name: &str| -> Result<usize> {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            anyhow!(
                "{src}: no column {name:?} (the header has {})",
                header.join(", ")
            )
        })
    };
    let batch_col = col(&a.batch)?;
    let saved: Option<SavedCombat> = match &a.model {
        Some(path) => {
            let s: SavedCombat = serde_json::from_str(&read(path)?)
                .with_context(|| format!("{}: not a saved ComBat model", path.display()))?;
            if s.format != COMBAT_FORMAT {
                bail!(
                    "{}: format {:?}, this corelab reads {COMBAT_FORMAT}",
                    path.display(),
                    s.format
                );
            }
            Some(s)
        }
        None => None,
    };
    let (categorical_names, continuous_names, feature_names) = match &saved {
        Some(s) => {
            let (mut cat, mut cont) = (Vec::new(), Vec::new());
            for t in &s.model.covariates {
                match t {
                    CovariateTerm::Categorical { name, .. } => cat.push(name.clone()),
                    CovariateTerm::Continuous { name } => cont.push(name.clone()),
                }
            }
            (cat, cont, s.features.clone())
        }
        None => (
            a.categorical.clone(),
            a.continuous.clone(),
            a.features.clone(),
        ),
    };
    let categorical: Vec<usize> = categorical_names
        .iter()
        .map(|c| col(c))
        .collect::<Result<_>>()?;
    let continuous: Vec<usize> = continuous_names
        .iter()
        .map(|c| col(c))
        .collect::<Result<_>>()?;
    let number = |r: usize, c: usize| -> Result<f64> {
        let v = records[r][c].trim();
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                anyhow!(
                    "{src}, line {}, column {}: {v:?} is not a number",
                    r + 2,
                    header[c]
                )
            })
    };
    let features: Vec<usize> = if feature_names.is_empty() {
        (1..header.len())
            .filter(|c| *c != batch_col && !categorical.contains(c) && !continuous.contains(c))
            .filter(|c| (0..records.len()).all(|r| number(r, *c).is_ok()))
            .collect()
    } else {
        feature_names
            .iter()
            .map(|c| col(c))
            .collect::<Result<_>>()?
    };
    if features.is_empty() {
        bail!("{src}: no numeric feature column besides the batch and covariates");
    }
    let n = records.len();
    let mut data = DMatrix::zeros(features.len(), n);
    for (f, c) in features.iter().enumerate() {
        for r in 0..n {
            data[(f, r)] = number(r, *c)?;
        }
    }
    let batch: Vec<String> = records
        .iter()
        .map(|r| r[batch_col].trim().to_owned())
        .collect();
    let mut covariates = Vec::new();
    for c in &categorical {
        covariates.push(Covariate::Categorical(
            header[*c].clone(),
            records.iter().map(|r| r[*c].trim().to_owned()).collect(),
        ));
    }
    for c in &continuous {
        covariates.push(Covariate::Continuous(
            header[*c].clone(),
            (0..n).map(|r| number(r, *c)).collect::<Result<_>>()?,
        ));
    }
    let options = Options {
        empirical_bayes: !a.no_eb,
        parametric: !a.nonparametric,
        mean_only: a.mean_only,
    };
    let (harmonised, batches) = match &saved {
        Some(s) => (
            apply(&s.model, &data, &batch, &covariates).map_err(|e| anyhow!("{src}: {e}"))?,
            s.model.batches.clone(),
        ),
        None => {
            let h =
                combat(&data, &batch, &covariates, options).map_err(|e| anyhow!("{src}: {e}"))?;
            if let Some(path) = &a.save_model {
                let doc = SavedCombat {
                    format: COMBAT_FORMAT.into(),
                    table: src.clone(),
                    batch_column: a.batch.clone(),
                    features: features.iter().map(|c| header[*c].clone()).collect(),
                    options: json!({
                        "empirical_bayes": options.empirical_bayes,
                        "parametric": options.parametric,
                        "mean_only": options.mean_only,
                    }),
                    model: h.model.clone(),
                };
                super::register::write_atomically(path, &serde_json::to_vec_pretty(&doc)?)?;
            }
            (h.data, h.batches)
        }
    };
    for (f, c) in features.iter().enumerate() {
        for (r, rec) in records.iter_mut().enumerate() {
            rec[*c] = format!("{}", harmonised[(f, r)]);
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(records.iter()) {
        out += &r
            .iter()
            .map(|v| corelab_algo::csv::field(v))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
    }
    super::register::write_atomically(&a.out, out.as_bytes())?;
    let doc = json!({
        "table": src,
        "out": a.out.display().to_string(),
        "samples": n,
        "features": features.iter().map(|c| header[*c].clone()).collect::<Vec<_>>(),
        "batches": batches,
        "method": if saved.is_some() { "saved estimates" } else if a.no_eb { "location/scale" } else if a.nonparametric { "non-parametric empirical Bayes" } else { "parametric empirical Bayes" },
        "mean_only": a.mean_only,
        "covariates": categorical_names.iter().chain(&continuous_names).collect::<Vec<_>>(),
        "model": a.model.as_ref().or(a.save_model.as_ref()).map(|p| p.display().to_string()),
    });
    emit(g.json, &doc, |d| {
        format!(
            "ComBat ({}) of {} features over {} samples in {} batches ({}) → {}",
            d["method"].as_str().unwrap_or_default(),
            features.len(),
            n,
            batches.len(),
            batches.join(", "),
            a.out.display()
        )
    })?;
    Ok(0)
}
