//! Central reads at work (`docs/reads.md`): the worklists a trial's read design makes once a
//! subject's time points have passed QC (balanced across the reader pool, never one reader twice
//! on a subject), what a reader is shown (blinded: a case label and time-point labels, the
//! series, the engine's proposals; no dates, sites or other readers' results), the response
//! computed live from each save ([`assess`]), the adjudication a disagreement between signed
//! reads makes, which read is accepted, and the readers' statistics ([`stats`]).

pub mod assess;
pub mod propose;
pub mod stats;

use crate::evaluate::{EngineError, current_report};
use crate::report::{QcReport, Status};
use assess::TimePoint;
use corelab_core::reads::{Paradigm, ReadDesign};
use corelab_core::{Sha256Digest, TrialFile};
use corelab_store::{NewReadTask, ReadTask, Store, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Why a read operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store, the trial file or QC.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The trial has no `[reads]` design.
    #[error("trial {0} has no central reads: add a [reads] table to its trial.toml")]
    NoDesign(String),
    /// What was asked cannot be done (the message says why).
    #[error("{0}")]
    Refused(String),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Engine(EngineError::Store(e))
    }
}

/// A trial's read design.
pub async fn design(store: &Store, trial: &str) -> Result<ReadDesign, ReadError> {
    let (_, text) = store.trial_file_text(trial).await?;
    let file = TrialFile::parse(&text).map_err(|e| EngineError::TrialFile {
        trial: trial.to_owned(),
        why: e.to_string(),
    })?;
    file.reads
        .ok_or_else(|| ReadError::NoDesign(trial.to_owned()))
}

/// One time point of a case: its label, the visit and date behind it (never shown to blinded
/// readers), and the series of the design's roles.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseTimePoint {
    /// `TP0` (baseline), `TP1`, ….
    pub label: String,
    /// The protocol visit.
    pub visit: String,
    /// The study date (de-identified).
    pub date: Option<String>,
    /// `(role, Series Instance UID)` of each series readers see, QC passed.
    pub series: Vec<(String, String)>,
}

/// A subject's time points for reading, in protocol order, or why the subject is not ready: every
/// protocol visit received and passed QC, with a passed series of every role the design names.
pub fn timepoints(
    design: &ReadDesign,
    report: &QcReport,
    subject: &str,
) -> Result<Vec<CaseTimePoint>, String> {
    let s = report
        .subjects
        .iter()
        .find(|s| s.subject == subject)
        .ok_or_else(|| "not in the QC evaluation".to_owned())?;
    let mut visits: Vec<_> = s.visits.iter().collect();
    visits.sort_by_key(|v| v.target_day.unwrap_or(i64::MAX));
    let mut out = Vec::new();
    for v in visits {
        if v.status != Status::Pass {
            return Err(format!("visit {} is {:?} in QC", v.visit, v.status));
        }
        let mut series = Vec::new();
        for role in &design.roles {
            let found = v
                .series
                .iter()
                .find(|x| x.role.as_deref() == Some(role) && x.status == Status::Pass)
                .ok_or_else(|| format!("visit {} has no passed {role} series", v.visit))?;
            series.push((role.clone(), found.series_instance_uid.clone()));
        }
        out.push(CaseTimePoint {
            label: format!("TP{}", out.len()),
            visit: v.visit.clone(),
            date: v.date.clone(),
            series,
        });
    }
    if out.is_empty() {
        return Err("no visits".to_owned());
    }
    Ok(out)
}

/// The trial's current QC report (decisions applied); reads need one.
async fn report(store: &Store, trial: &str) -> Result<QcReport, ReadError> {
    let decisions = store.qc_decisions(trial).await?;
    current_report(store, trial, &decisions)
        .await?
        .ok_or_else(|| {
            ReadError::Refused(format!(
                "trial {trial} has no QC evaluation yet: run `corelab qc {trial}` first"
            ))
        })
}

/// What a request on a trial's reads needs, read once: the read design and the current QC
/// report the time points come from. A save and the view it answers with share one.
pub struct Case {
    /// The trial's read design.
    pub design: ReadDesign,
    report: QcReport,
}

impl Case {
    /// The design and QC report of `trial`.
    pub async fn load(store: &Store, trial: &str) -> Result<Self, ReadError> {
        Ok(Self {
            design: design(store, trial).await?,
            report: report(store, trial).await?,
        })
    }

    /// A subject's time points ([`timepoints`]).
    pub fn timepoints(&self, subject: &str) -> Result<Vec<CaseTimePoint>, String> {
        timepoints(&self.design, &self.report, subject)
    }
}

fn digest(parts: &[&str]) -> String {
    Sha256Digest::of(parts.join("\u{1f}").as_bytes()).to_hex()
}

/// The label readers know a subject by: not the subject's pseudonym, which may carry its site.
pub fn case_label(trial: &str, subject: &str) -> String {
    format!(
        "C-{}",
        digest(&["case", trial, subject])[..6].to_uppercase()
    )
}

/// Whether a subject falls in the design's sample (the same subjects every time).
fn sampled(design: &ReadDesign, trial: &str, subject: &str) -> bool {
    let h = digest(&["sample", trial, subject]);
    let x = u32::from_str_radix(&h[..8], 16).unwrap_or(0) as f64 / u32::MAX as f64;
    x * 100.0 < design.sampling_percent
}

fn order_key(design: &ReadDesign, trial: &str, reader: &str, subject: &str) -> String {
    if design.randomise {
        digest(&["order", trial, reader, subject])
    } else {
        case_label(trial, subject)
    }
}

/// What [`plan`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Planned {
    /// The ids of the tasks made.
    pub created: Vec<i64>,
    /// Subjects ready and in the sample that now have their reads.
    pub subjects: Vec<String>,
    /// Subjects left out of the sample.
    pub not_sampled: Vec<String>,
    /// Subjects not ready, with why.
    pub not_ready: BTreeMap<String, String>,
}

/// Makes the read tasks of every subject that is ready, in the sample and not yet assigned:
/// `paradigm.readers()` different readers each, the least loaded of the pool first.
pub async fn plan(store: &Store, actor: &str, trial: &str) -> Result<Planned, ReadError> {
    let design = design(store, trial).await?;
    for name in design.readers.iter().chain(&design.adjudicators) {
        let known = store.user_info(name).await?;
        if known.is_none_or(|u| u.disabled) {
            return Err(ReadError::Refused(format!(
                "trial {trial}'s read design names {name:?}, which is not an active user (corelab user add)"
            )));
        }
    }
    let report = report(store, trial).await?;
    let existing = store.read_tasks(Some(trial), None).await?;
    let mut load: BTreeMap<&str, usize> = design.readers.iter().map(|r| (r.as_str(), 0)).collect();
    for t in existing.iter().filter(|t| t.kind == "read") {
        if let Some(n) = load.get_mut(t.reader.as_str()) {
            *n += 1;
        }
    }
    let mut out = Planned::default();
    let mut tasks = Vec::new();
    for s in &report.subjects {
        let subject = &s.subject;
        if existing.iter().any(|t| &t.subject == subject) {
            continue;
        }
        if let Err(why) = timepoints(&design, &report, subject) {
            out.not_ready.insert(subject.clone(), why);
            continue;
        }
        if !sampled(&design, trial, subject) {
            out.not_sampled.push(subject.clone());
            continue;
        }
        for _ in 0..design.paradigm.readers() {
            let chosen = design
                .readers
                .iter()
                .filter(|r| {
                    !tasks
                        .iter()
                        .any(|t: &NewReadTask| &t.subject == subject && &t.reader == *r)
                })
                .min_by_key(|r| load[r.as_str()])
                .ok_or_else(|| ReadError::Refused("the reader pool is too small".to_owned()))?;
            *load.get_mut(chosen.as_str()).expect("in the pool") += 1;
            tasks.push(NewReadTask {
                subject: subject.clone(),
                kind: "read".to_owned(),
                reader: chosen.clone(),
                case_label: case_label(trial, subject),
                order_key: order_key(&design, trial, chosen, subject),
                reason: None,
            });
        }
        out.subjects.push(subject.clone());
    }
    out.created = store.create_read_tasks(actor, trial, &tasks).await?;
    Ok(out)
}

/// The reads of a subject an adjudication compares, in the order it labels them A and B.
fn reads_of<'a>(tasks: &'a [ReadTask], subject: &str) -> Vec<&'a ReadTask> {
    let mut r: Vec<_> = tasks
        .iter()
        .filter(|t| t.subject == subject && t.kind == "read")
        .collect();
    r.sort_by_key(|t| t.id);
    r
}

/// The read accepted for a subject: the signed adjudication's choice; with two signed reads and
/// no adjudication, the first reader's (they agree); with one reader, theirs. None while open.
pub fn accepted(design: &ReadDesign, tasks: &[ReadTask], subject: &str) -> Option<i64> {
    let reads = reads_of(tasks, subject);
    let adjudication = tasks
        .iter()
        .find(|t| t.subject == subject && t.kind == "adjudication");
    match adjudication {
        Some(a) if a.state == "signed" => a.outcome.as_ref()?["accepted_task"].as_i64(),
        Some(_) => None,
        None => {
            let signed = reads.iter().filter(|t| t.state == "signed").count();
            (signed >= design.paradigm.readers() && signed > 0).then(|| reads[0].id)
        }
    }
}

/// Every task of a trial for the core lab (unblinded): by subject, with its reader, state, data,
/// outcome, times and whether it is the subject's accepted read.
pub fn listing(design: &ReadDesign, tasks: &[ReadTask]) -> Vec<Value> {
    let mut sorted: Vec<&ReadTask> = tasks.iter().collect();
    sorted.sort_by(|a, b| (&a.subject, &a.kind, a.id).cmp(&(&b.subject, &b.kind, b.id)));
    sorted
        .into_iter()
        .map(|t| {
            let accepted = accepted(design, tasks, &t.subject);
            json!({
                "id": t.id, "subject": t.subject, "case_label": t.case_label, "kind": t.kind,
                "reader": t.reader, "state": t.state, "reason": t.reason, "data": t.data,
                "outcome": t.outcome, "started_at": t.started_at, "signed_at": t.signed_at,
                "accepted": t.kind == "read" && accepted == Some(t.id),
            })
        })
        .collect()
}

/// A task as its reader sees it; `blinded` leaves out the subject, dates and readers' names.
pub async fn view(
    store: &Store,
    case: &Case,
    task: &ReadTask,
    blinded: bool,
) -> Result<Value, ReadError> {
    let design = &case.design;
    let mut tps = case.timepoints(&task.subject).map_err(|why| {
        ReadError::Refused(format!(
            "case {} is no longer readable: {why}",
            task.case_label
        ))
    })?;
    // Sequential locked reads: a reader sees the time points they locked and the next one.
    if design.sequential && blinded && task.kind == "read" && task.state != "signed" {
        let locked = task
            .data
            .as_ref()
            .and_then(|d| d["locked"].as_array().map(Vec::len))
            .unwrap_or(0);
        tps.truncate(locked + 1);
    }
    let signatures = store
        .signatures(&task.trial, Some((&task.kind, task.id)))
        .await?;
    let mut v = json!({
        "id": task.id, "trial": task.trial, "kind": task.kind, "case_label": task.case_label,
        "state": task.state, "criteria": design.criteria, "paradigm": design.paradigm,
        "sequential": design.sequential,
        "timepoints": tps.iter().map(|t| json!({
            "label": t.label,
            "series": t.series.iter().map(|(role, uid)| json!({"role": role, "series_instance_uid": uid})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "data": task.data, "outcome": task.outcome,
        "signatures": signatures.iter().map(|s| signature_shown(s, blinded)).collect::<Vec<_>>(),
    });
    if task.kind == "read" {
        v["proposals"] = proposals(store, design, task, &tps).await?;
    } else {
        let tasks = store.read_tasks(Some(&task.trial), None).await?;
        let mut reads = Vec::new();
        for (label, r) in ["A", "B"].iter().zip(reads_of(&tasks, &task.subject)) {
            let mut shown =
                json!({"label": label, "data": r.data, "outcome": r.outcome, "state": r.state});
            if !blinded {
                shown["task"] = json!(r.id);
                shown["reader"] = json!(r.reader);
            }
            reads.push(shown);
        }
        v["reads"] = json!(reads);
        v["trigger"] = json!(task.reason);
    }
    if !blinded {
        v["subject"] = json!(task.subject);
        v["reader"] = json!(task.reader);
        v["visits"] = json!(
            tps.iter()
                .map(|t| json!({"label": t.label, "visit": t.visit, "date": t.date}))
                .collect::<Vec<_>>()
        );
        v["started_at"] = json!(task.started_at);
        v["signed_at"] = json!(task.signed_at);
    }
    Ok(v)
}

/// A signature as shown: the printed name and meaning always; the time only to the unblinded (a
/// time of day is a date).
fn signature_shown(s: &corelab_store::Signature, blinded: bool) -> Value {
    let mut v = json!({"id": s.id, "printed_name": s.printed_name, "meaning": s.meaning, "record_sha256": s.record_sha256});
    if !blinded {
        v["signed_at"] = json!(s.signed_at);
        v["username"] = json!(s.username);
    }
    v
}

/// The engine's proposals for a read, per time point: for a lesion-count read the lesions the
/// trial's `neuro.ms-lesions` (baseline) and `neuro.lesion-change` (follow-ups: new, enlarging,
/// stable) jobs found, with their centroids. Other criteria have none yet.
async fn proposals(
    store: &Store,
    design: &ReadDesign,
    task: &ReadTask,
    tps: &[CaseTimePoint],
) -> Result<Value, ReadError> {
    if design.criteria != corelab_core::reads::Criteria::LesionCount {
        return Ok(json!([]));
    }
    let jobs = store.jobs(&task.trial).await?;
    let table = |algorithm: &str,
                 visit: &str,
                 name: &str|
     -> Option<(String, Vec<Vec<f64>>, Vec<String>)> {
        let job = jobs.iter().rev().find(|j| {
            j.subject == task.subject
                && j.visit == visit
                && j.algorithm_id == algorithm
                && j.state == "succeeded"
        })?;
        let t = job.result.as_ref()?["tables"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == name)?;
        let columns: Vec<String> = serde_json::from_value(t["columns"].clone()).ok()?;
        let rows: Vec<Vec<f64>> = serde_json::from_value(t["rows"].clone()).ok()?;
        Some((
            format!("{algorithm}@{} (job {})", job.algorithm_version, job.id),
            rows,
            columns,
        ))
    };
    let col = |columns: &[String], name: &str| columns.iter().position(|c| c == name);
    let mut out = Vec::new();
    for (i, tp) in tps.iter().enumerate() {
        let found = if i == 0 {
            table("neuro.ms-lesions", &tp.visit, "lesions")
        } else {
            table("neuro.lesion-change", &tp.visit, "changes")
        };
        let Some((source, rows, columns)) = found else {
            out.push(json!({"label": tp.label, "source": null, "marks": []}));
            continue;
        };
        let (Some(id), Some(x), Some(y), Some(z), Some(vol)) = (
            col(&columns, "id"),
            col(&columns, "centroid-x"),
            col(&columns, "centroid-y"),
            col(&columns, "centroid-z"),
            col(&columns, "volume"),
        ) else {
            continue;
        };
        let status = col(&columns, "status");
        let marks: Vec<Value> = rows
            .iter()
            .map(|r| {
                let status = match status.map(|s| r[s] as i64) {
                    Some(1) => "new",
                    Some(2) => "enlarging",
                    _ => "present",
                };
                json!({
                    "id": format!("AI{}", r[id] as i64), "status": status,
                    "at": [r[x], r[y], r[z]], "volume_mm3": (r[vol] * 10.0).round() / 10.0,
                })
            })
            .collect();
        out.push(json!({"label": tp.label, "source": source, "marks": marks}));
    }
    Ok(json!(out))
}

/// The engine's measurement of the lesion at `point` (LPS mm) on time point `label` of a RECIST
/// read's case ([`propose::measure_at`] on the time point's first series), or why not.
pub async fn propose(
    store: &Store,
    case: &Case,
    task: &ReadTask,
    label: &str,
    point: [f64; 3],
) -> Result<Value, ReadError> {
    if case.design.criteria != corelab_core::reads::Criteria::Recist11 || task.kind != "read" {
        return Err(ReadError::Refused(
            "the engine measures a clicked lesion for RECIST 1.1 reads".to_owned(),
        ));
    }
    let tps = case
        .timepoints(&task.subject)
        .map_err(|why| ReadError::Refused(format!("case {}: {why}", task.case_label)))?;
    let tp = tps
        .iter()
        .find(|t| t.label == label)
        .ok_or_else(|| ReadError::Refused(format!("no time point {label:?} in this case")))?;
    let uid = &tp.series[0].1;
    let series = store
        .trial_series(&task.trial)
        .await?
        .into_iter()
        .find(|s| &s.series_instance_uid == uid)
        .ok_or_else(|| ReadError::Refused(format!("{label}: its series is gone")))?;
    let mut blobs = Vec::with_capacity(series.instances.len());
    for (sop, _) in &series.instances {
        blobs.push((sop.clone(), store.instance_bytes(&task.trial, sop).await?));
    }
    let label = label.to_owned();
    tokio::task::spawn_blocking(move || {
        let volume = crate::images::one_volume(blobs).map_err(|e| match e {
            crate::images::NotOneVolume::Unreadable(why) => why,
            crate::images::NotOneVolume::Several(n) => format!("the series forms {n} volumes"),
        })?;
        propose::measure_at(&volume, point)
    })
    .await
    .map_err(|e| ReadError::Refused(format!("the measurement stopped: {e}")))?
    .map_err(|why| ReadError::Refused(format!("{label}: {why}")))
}

/// Saves a reader's data on their task with the outcome computed from it. A read's data is
/// [`assess::ReadData`]; an adjudication's is `{"accepted": "A" | "B", "reason": TEXT}`.
pub async fn save(
    store: &Store,
    case: &Case,
    actor: &str,
    task: &ReadTask,
    data: &Value,
) -> Result<ReadTask, ReadError> {
    let design = &case.design;
    let (data, outcome) = if task.kind == "read" {
        let tps = case
            .timepoints(&task.subject)
            .map_err(|why| ReadError::Refused(format!("case {}: {why}", task.case_label)))?;
        let parsed = assess::parse(data).map_err(ReadError::Refused)?;
        if design.sequential {
            let before = match &task.data {
                Some(d) => assess::parse(d).map_err(ReadError::Refused)?,
                None => assess::ReadData::default(),
            };
            let labels: Vec<&str> = tps.iter().map(|t| t.label.as_str()).collect();
            assess::check_locks(&labels, &before, &parsed).map_err(ReadError::Refused)?;
        }
        for t in &parsed.timepoints {
            if !tps.iter().any(|x| x.label == t.label) {
                return Err(ReadError::Refused(format!(
                    "the read's data: time point {:?} is not one of the case's ({})",
                    t.label,
                    tps.iter()
                        .map(|x| x.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let points: Vec<TimePoint> = tps
            .iter()
            .map(|t| TimePoint {
                label: t.label.clone(),
                date: t.date.clone(),
            })
            .collect();
        let outcome = assess::outcome(design, &points, &parsed);
        let value = serde_json::to_value(&parsed).unwrap_or_default();
        (value, outcome)
    } else {
        let tasks = store.read_tasks(Some(&task.trial), None).await?;
        let reads = reads_of(&tasks, &task.subject);
        let label = data["accepted"].as_str().unwrap_or_default();
        let chosen = match label {
            "A" => reads.first(),
            "B" => reads.get(1),
            _ => None,
        }
        .ok_or_else(|| {
            ReadError::Refused("an adjudication accepts read \"A\" or \"B\"".to_owned())
        })?;
        let reason = data["reason"].as_str().map(str::trim).unwrap_or_default();
        if reason.is_empty() {
            return Err(ReadError::Refused(
                "an adjudication needs the reason for its choice".to_owned(),
            ));
        }
        let value = json!({"accepted": label, "reason": reason});
        let outcome = json!({"complete": true, "accepted": label, "accepted_task": chosen.id});
        (value, outcome)
    };
    Ok(store.save_read(actor, task.id, &data, &outcome).await?)
}

/// Refuses to sign a task whose outcome is not complete.
pub fn signable(task: &ReadTask) -> Result<(), ReadError> {
    match &task.outcome {
        Some(o) if o["complete"] == true => Ok(()),
        Some(o) => Err(ReadError::Refused(format!(
            "the read is not complete and cannot be signed: {}",
            o["problem"].as_str().unwrap_or("?")
        ))),
        None => Err(ReadError::Refused(
            "nothing saved yet: save the read before signing it".to_owned(),
        )),
    }
}

/// After a read is signed: when every read of its subject is signed and they disagree by the
/// design's triggers, an adjudication task for the least loaded adjudicator. Returns its id.
pub async fn after_signing(
    store: &Store,
    actor: &str,
    task: &ReadTask,
) -> Result<Option<i64>, ReadError> {
    let design = design(store, &task.trial).await?;
    if task.kind != "read" || design.paradigm != Paradigm::Double {
        return Ok(None);
    }
    let tasks = store.read_tasks(Some(&task.trial), None).await?;
    let reads = reads_of(&tasks, &task.subject);
    if reads.len() < 2 || reads.iter().any(|t| t.state != "signed") {
        return Ok(None);
    }
    let empty = Value::Null;
    let outcome = |t: &ReadTask| t.outcome.clone().unwrap_or(empty.clone());
    let Some(why) = assess::disagreement(&design, &outcome(reads[0]), &outcome(reads[1])) else {
        return Ok(None);
    };
    let mut load: BTreeMap<&str, usize> = design
        .adjudicators
        .iter()
        .map(|a| (a.as_str(), 0))
        .collect();
    for t in tasks.iter().filter(|t| t.kind == "adjudication") {
        if let Some(n) = load.get_mut(t.reader.as_str()) {
            *n += 1;
        }
    }
    let adjudicator = design
        .adjudicators
        .iter()
        .filter(|a| !reads.iter().any(|r| &r.reader == *a))
        .min_by_key(|a| load[a.as_str()])
        .ok_or_else(|| {
            ReadError::Refused(format!(
                "case {} needs adjudication ({why}) but no adjudicator is free of its reads",
                task.case_label
            ))
        })?;
    let made = store
        .create_read_tasks(
            actor,
            &task.trial,
            &[NewReadTask {
                subject: task.subject.clone(),
                kind: "adjudication".to_owned(),
                reader: adjudicator.clone(),
                case_label: task.case_label.clone(),
                order_key: order_key(&design, &task.trial, adjudicator, &task.subject),
                reason: Some(why),
            }],
        )
        .await?;
    Ok(made.first().copied())
}
