//! The demo's exports, written under `exports/` in its folder as `corelab results` writes them:
//! per trial in the store, the endpoint dataset (CSV, JSON, Parquet, each with its dictionary),
//! its SDTM package, its DICOM SEG and SR, and its PDF reports (QC, one per subject); and the SDTM TU, TR and RS of the oncology
//! (RECIST 1.1) and neuro-oncology (RANO) chains, whose lesion records the phantom's truth and
//! the algorithms made (the evaluator is named `SIMULATED READER`: no person read them).

use anyhow::{Context, Result};
use corelab_algo::onco::{Reported, lesions, response::Response};
use corelab_export::endpoints::Format;
use corelab_export::sdtm::{self, Criterion, Evaluator, OncologyRead};
use corelab_store::Store;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Writes the exports of `trials` (in the store) and of the chains' sections; the demo
/// document's `exports` section: what was written where.
pub(super) async fn run(
    store: &Store,
    who: &str,
    dir: &Path,
    trials: &[String],
    oncology: &Value,
    neuro_oncology: &Value,
) -> Result<Value> {
    let root = dir.join("exports");
    let mut out = serde_json::Map::new();
    for trial in trials {
        let folder = root.join(trial);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let mut section = serde_json::Map::new();
        for (format, name) in [
            (Format::Csv, "endpoints.csv"),
            (Format::Json, "endpoints.json"),
            (Format::Parquet, "endpoints.parquet"),
        ] {
            let path = folder.join(name);
            let w = super::results::export(store, who, trial, format, &path).await?;
            section.insert(name.to_owned(), json!({"rows": w.rows, "sha256": w.sha256}));
        }
        let sdtm = super::results::export_sdtm(store, who, trial, &folder.join("sdtm")).await?;
        section.insert("sdtm".into(), json!(names(&sdtm)));
        let dicom = super::results::export_dicom(store, who, trial, &folder.join("dicom")).await?;
        section.insert(
            "dicom".into(),
            json!({"objects": dicom.paths.len(), "not_exported": dicom.skipped}),
        );
        let reports =
            super::results::export_pdf(store, who, trial, &folder.join("reports")).await?;
        section.insert("reports".into(), json!(names(&reports)));
        out.insert(trial.clone(), Value::Object(section));
    }
    for (section, study, criterion) in [
        (oncology, "DEMO-ONC", Criterion::Recist11),
        (neuro_oncology, "DEMO-RANO", Criterion::Rano),
    ] {
        let folder = root.join(study).join("sdtm");
        let files = chain_sdtm(section, study, criterion, &folder)?;
        out.insert(study.to_owned(), json!({"sdtm": names(&files)}));
    }
    Ok(json!({"folder": root, "written": out}))
}

fn names(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

/// One assessed lesion record of a chain.
struct Read {
    subject: lesions::Subject,
    points: Vec<Reported>,
    best: Response,
}

/// TU, TR and RS of a chain's subjects (their `lesions.json`, assessed again by the criterion's
/// engine), written into `folder` with define.xml.
fn chain_sdtm(
    section: &Value,
    study: &str,
    criterion: Criterion,
    folder: &Path,
) -> Result<Vec<PathBuf>> {
    let mut reads = Vec::new();
    for s in section["subjects"].as_array().into_iter().flatten() {
        let files = Path::new(s["files"].as_str().context("a chain subject's folder")?);
        let path = files.join("lesions.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut subject =
            lesions::from_json(&text).with_context(|| format!("{}", path.display()))?;
        subject.study = study.to_owned();
        let (points, best) = criterion
            .assess(&subject)
            .with_context(|| format!("{}", path.display()))?;
        reads.push(Read {
            subject,
            points,
            best,
        });
    }
    let evaluator = Evaluator {
        eval: "INDEPENDENT ASSESSOR".into(),
        evalid: "SIMULATED READER".into(),
        accepted: true,
    };
    let method = criterion.method();
    let inputs: Vec<OncologyRead> = reads
        .iter()
        .map(|r| OncologyRead {
            subject: &r.subject,
            evaluator: &evaluator,
            criterion,
            points: &r.points,
            best: r.best,
            method,
        })
        .collect();
    let datasets = [sdtm::tu(&inputs)?, sdtm::tr(&inputs)?, sdtm::rs(&inputs)?];
    Ok(sdtm::write_package(folder, study, &datasets)?)
}
