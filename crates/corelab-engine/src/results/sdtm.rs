//! A trial's CDISC SDTM datasets from the store (`docs/sdtm.md`): NV from the neurology
//! measurements of its locked algorithms, and TU, TR and RS from its signed RECIST 1.1 or RANO
//! central reads, each reader one evaluator (`INDEPENDENT ASSESSOR`, `RADIOLOGIST n` by the
//! reader's place in the design's pool) with the subject's accepted read flagged.

use super::endpoints;
use crate::evaluate::EngineError;
use crate::reads::{self, ReadError, assess};
use corelab_algo::onco::lesions::Subject;
use corelab_algo::onco::{Reported, response::Response};
use corelab_core::TrialFile;
use corelab_core::reads::Criteria;
use corelab_export::dataset::{Dataset, ExportError};
use corelab_export::endpoints::Source;
use corelab_export::sdtm::{self, Criterion, Evaluator, NvMeasure, OncologyRead};
use corelab_store::Store;

/// Why a trial's SDTM datasets cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SdtmError {
    /// The store or the trial file.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A dataset refused a value (the message names the dataset, column and row).
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A signed read does not make a lesion record.
    #[error("trial {trial}: read {task} of subject {subject}: {why}")]
    Read {
        /// The trial.
        trial: String,
        /// The read task.
        task: i64,
        /// Its subject.
        subject: String,
        /// Why.
        why: String,
    },
}

/// One read made into SDTM's inputs.
struct Assessed {
    subject: Subject,
    evaluator: Evaluator,
    points: Vec<Reported>,
    best: Response,
}

/// The trial's SDTM datasets: NV when it has neurology measurements, TU, TR and RS when it has
/// signed RECIST 1.1 or RANO reads; none of either gives an empty list.
pub async fn datasets(store: &Store, trial: &str) -> Result<Vec<Dataset>, SdtmError> {
    let (_, text) = store
        .trial_file_text(trial)
        .await
        .map_err(EngineError::from)?;
    let file = TrialFile::parse(&text).map_err(|e| EngineError::TrialFile {
        trial: trial.to_owned(),
        why: e.to_string(),
    })?;
    // VISITNUM: the visit's place in the protocol, baseline 0 (as corelab's RS writer counts).
    let visitnum = |visit: &str| {
        file.visits
            .iter()
            .position(|v| v.name == visit)
            .map_or(f64::NAN, |i| i as f64)
    };
    let rows = endpoints(store, trial).await?;
    let nv: Vec<NvMeasure> = rows
        .iter()
        .filter(|r| r.source == Source::Algorithm)
        .filter(|r| {
            r.algorithm
                .as_deref()
                .is_some_and(|a| a.starts_with("neuro."))
                && sdtm::nv_test(&r.measure).is_some()
        })
        .map(|r| NvMeasure {
            usubjid: r.subject.clone(),
            visit: r.visit.clone(),
            visitnum: visitnum(&r.visit),
            date: r.visit_date.clone().unwrap_or_default(),
            measure: r.measure.clone(),
            algorithm: r.algorithm.clone().unwrap_or_default(),
            value: r.value,
            unit: r.unit.clone(),
        })
        .collect();
    let mut out = Vec::new();
    if !nv.is_empty() {
        out.push(sdtm::nv(trial, &nv)?);
    }
    let assessed = oncology_reads(store, trial).await?;
    if let Some((criterion, method, reads)) = assessed {
        let inputs: Vec<OncologyRead> = reads
            .iter()
            .map(|a| OncologyRead {
                subject: &a.subject,
                evaluator: &a.evaluator,
                criterion,
                points: &a.points,
                best: a.best,
                method,
            })
            .collect();
        if !inputs.is_empty() {
            out.push(sdtm::tu(&inputs)?);
            out.push(sdtm::tr(&inputs)?);
            out.push(sdtm::rs(&inputs)?);
        }
    }
    Ok(out)
}

/// The trial's signed RECIST 1.1 or RANO reads, each as its lesion record (visits named by the
/// protocol), its assessment and its evaluator; None when the trial has no such reads design.
async fn oncology_reads(
    store: &Store,
    trial: &str,
) -> Result<Option<(Criterion, &'static str, Vec<Assessed>)>, SdtmError> {
    let case = match reads::Case::load(store, trial).await {
        Ok(c) => c,
        Err(ReadError::Engine(e)) => return Err(e.into()),
        Err(ReadError::NoDesign(_) | ReadError::Refused(_)) => return Ok(None),
    };
    let criterion = match case.design.criteria {
        Criteria::Recist11 => Criterion::Recist11,
        Criteria::Rano => Criterion::Rano,
        Criteria::LesionCount | Criteria::FreeForm => return Ok(None),
    };
    let mut tasks = store
        .read_tasks(Some(trial), None)
        .await
        .map_err(EngineError::from)?;
    tasks.sort_by(|a, b| (&a.subject, a.id).cmp(&(&b.subject, b.id)));
    let mut out = Vec::new();
    for t in tasks
        .iter()
        .filter(|t| t.kind == "read" && t.state == "signed")
    {
        let fail = |why: String| SdtmError::Read {
            trial: trial.to_owned(),
            task: t.id,
            subject: t.subject.clone(),
            why,
        };
        let tps = case.timepoints(&t.subject).map_err(fail)?;
        let points: Vec<assess::TimePoint> = tps
            .iter()
            .map(|tp| assess::TimePoint {
                label: tp.label.clone(),
                date: tp.date.clone(),
            })
            .collect();
        let data =
            assess::parse(t.data.as_ref().unwrap_or(&serde_json::Value::Null)).map_err(fail)?;
        let mut subject = assess::lesion_record(&points, &data).map_err(fail)?;
        subject.id = t.subject.clone();
        subject.study = trial.to_owned();
        for (v, tp) in subject.visits.iter_mut().zip(&tps) {
            v.label = tp.visit.clone();
        }
        let (reported, best) = criterion
            .assess(&subject)
            .map_err(|e| fail(e.to_string()))?;
        let n = case
            .design
            .readers
            .iter()
            .position(|r| *r == t.reader)
            .map_or(0, |i| i + 1);
        let evaluator = Evaluator {
            eval: "INDEPENDENT ASSESSOR".into(),
            evalid: format!("RADIOLOGIST {n}"),
            accepted: reads::accepted(&case.design, &tasks, &t.subject) == Some(t.id),
        };
        out.push(Assessed {
            subject,
            evaluator,
            points: reported,
            best,
        });
    }
    Ok(Some((criterion, criterion.method(), out)))
}
