//! Evaluating a trial: what was catalogued for it, judged by its current trial file. [`gather`]
//! reads each series from the store (header, volume, image quality); [`judge`] is the pure
//! verdict over those facts and people's decisions; [`evaluate`] does both and records the
//! report as a new evaluation with its audit event.

use crate::classify::{Classification, classify};
use crate::conformance::{SeriesGeometry, conformance, plausibility};
use crate::consistency::{Scan, scanner_changes};
use crate::quality::{self, Measured};
use crate::report::{Check, Decision, QcReport, SeriesQc, Status, SubjectQc, VisitQc, worst};
use crate::schedule::{StudyDate, file_studies};
use corelab_core::TrialFile;
use corelab_core::protocol::UnmatchedPolicy;
use corelab_dicom::acquisition::Acquisition;
use corelab_dicom::series::{Instance, volumes};
use corelab_store::{CatalogSeries, QcDecision, QcEvaluation, Store, StoreError};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Why a trial could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trial has no lock: nothing may run.
    #[error(
        "trial {0} is not locked: lock it first (corelab trial lock {0}), so that only the locked algorithm versions run"
    )]
    NotLocked(String),
    /// The trial's stored file no longer parses (it was valid when stored; the schema changed).
    #[error("trial {trial}: {why}")]
    TrialFile {
        /// The trial.
        trial: String,
        /// Why.
        why: String,
    },
}

/// What was found of one catalogued series.
#[derive(Clone, Debug)]
pub struct SeriesFacts {
    /// Where it is filed, and its instances.
    pub catalog: CatalogSeries,
    /// Its header's acquisition attributes (of its first instance).
    pub acquisition: Acquisition,
    /// The geometry of its first volume, or why it forms none.
    pub geometry: Result<SeriesGeometry, String>,
    /// Image quality and PET quantifiability.
    pub measured: Measured,
}

/// Reads one series' instances from the store and measures it. Unreadable instances and
/// series that form no volume are facts too (the reason is kept), never errors.
pub async fn gather(
    store: &Store,
    trial: &str,
    series: CatalogSeries,
) -> Result<SeriesFacts, StoreError> {
    let mut blobs = Vec::with_capacity(series.instances.len());
    for (uid, _) in &series.instances {
        blobs.push((uid.clone(), store.instance_bytes(trial, uid).await?));
    }
    let facts = tokio::task::spawn_blocking(move || measure(series, blobs))
        .await
        .map_err(|e| StoreError::Conflict(format!("measuring a series failed: {e}")))?;
    Ok(facts)
}

/// The facts of a series from its instances' bytes (`(name, bytes)`; the name is used in
/// errors): what [`gather`] does once it has read the blobs.
pub fn measure(catalog: CatalogSeries, blobs: Vec<(String, bytes::Bytes)>) -> SeriesFacts {
    let modality = catalog.modality.clone();
    let modality = modality.as_str();
    let mut instances = Vec::with_capacity(blobs.len());
    let mut unreadable = Vec::new();
    for (uid, bytes) in blobs {
        match Instance::from_bytes(uid, &bytes) {
            Ok(i) => instances.push(i),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    let mut acquisition = instances
        .first()
        .map(|i| Acquisition::of(&i.object))
        .unwrap_or_default();
    acquisition.problems.extend(unreadable);
    if acquisition.modality.is_none() {
        acquisition.modality = Some(modality.to_owned());
    }
    let built = volumes(&instances).map_err(|e| e.to_string());
    let geometry = built.as_ref().map_err(Clone::clone).and_then(|v| {
        v.first()
            .map(|first| SeriesGeometry::of(first, acquisition.slice_thickness_mm, v.len()))
            .ok_or_else(|| "no volume".to_owned())
    });
    let measured = if modality == "PT" {
        let headers: Vec<_> = instances
            .iter()
            .map(|i| corelab_dicom::pet::pet_header(&i.object))
            .collect();
        quality::pet(&headers)
    } else {
        let pe_axis = acquisition
            .phase_encoding_direction
            .as_deref()
            .and_then(corelab_image::quality::phase_axis);
        built
            .as_ref()
            .map(|v| quality::image(modality, v, pe_axis))
            .unwrap_or_default()
    };
    SeriesFacts {
        catalog,
        acquisition,
        geometry,
        measured,
    }
}

/// Evaluates a trial: gathers every series, judges them by the trial file and decisions, and
/// records the evaluation. `progress(done, total)` is called after each series.
pub async fn evaluate(
    store: &Store,
    trial: &str,
    actor: &str,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<(QcReport, QcEvaluation), EngineError> {
    let (sha, text) = store.trial_file_text(trial).await?;
    let file = TrialFile::parse(&text).map_err(|e| EngineError::TrialFile {
        trial: trial.to_owned(),
        why: e.to_string(),
    })?;
    let catalogued = store.trial_series(trial).await?;
    let total = catalogued.len();
    let mut facts = Vec::with_capacity(total);
    for (n, s) in catalogued.into_iter().enumerate() {
        facts.push(gather(store, trial, s).await?);
        progress(n + 1, total);
    }
    let decisions = store.qc_decisions(trial).await?;
    let report = judge(trial, &sha, &file, &facts, &decisions);
    let value = serde_json::to_value(&report).unwrap_or_default();
    let summary = json!({"series": report.series, "visits": report.visits});
    let evaluation = store
        .record_qc_evaluation(actor, trial, &sha, &value, summary)
        .await?;
    Ok((report, evaluation))
}

/// The latest QC evaluation of `trial`, if any, with the `decisions` made since standing over its
/// statuses ([`QcReport::redecide`]): a rejection counts at once, not at the next evaluation.
pub async fn current_report(
    store: &Store,
    trial: &str,
    decisions: &[QcDecision],
) -> Result<Option<QcReport>, EngineError> {
    let Some(ev) = store.latest_qc_evaluation(trial).await? else {
        return Ok(None);
    };
    let report: QcReport =
        serde_json::from_str(&ev.report_json).map_err(|e| EngineError::TrialFile {
            trial: trial.to_owned(),
            why: format!("QC evaluation {} does not read back: {e}", ev.id),
        })?;
    let decided = latest_decisions(decisions);
    Ok(Some(
        report.redecide(&|target| decided.get(target).cloned()),
    ))
}

/// The latest of people's `decisions` (in the order recorded) on each target.
pub fn latest_decisions(decisions: &[QcDecision]) -> BTreeMap<String, Decision> {
    decisions
        .iter()
        .map(|d| {
            let status = if d.status == "pass" {
                Status::Pass
            } else {
                Status::Fail
            };
            let decision = Decision {
                status,
                reason: d.reason.clone(),
                actor: d.actor.clone(),
                at: d.created_at.clone(),
            };
            (d.target.clone(), decision)
        })
        .collect()
}

/// The verdict on a trial's series by its trial file, with people's decisions standing over
/// the computed statuses (the latest decision on a target wins).
pub fn judge(
    trial: &str,
    protocol_sha256: &str,
    file: &TrialFile,
    facts: &[SeriesFacts],
    decisions: &[QcDecision],
) -> QcReport {
    let decided = latest_decisions(decisions);
    let decision = |target: &str| decided.get(target).cloned();
    let mut by_subject: BTreeMap<(&str, &str), Vec<&SeriesFacts>> = BTreeMap::new();
    for f in facts {
        by_subject
            .entry((f.catalog.site.as_str(), f.catalog.subject.as_str()))
            .or_default()
            .push(f);
    }
    let subjects = by_subject
        .into_iter()
        .map(|((site, subject), series)| judge_subject(file, site, subject, &series, &decision))
        .collect();
    QcReport::new(trial, protocol_sha256, subjects)
}

fn judge_subject(
    file: &TrialFile,
    site: &str,
    subject: &str,
    series: &[&SeriesFacts],
    decision: &dyn Fn(&str) -> Option<Decision>,
) -> SubjectQc {
    // One entry per study: its date and time point from its first series' header (the
    // catalogue's date when the header has none).
    let mut studies: Vec<StudyDate> = Vec::new();
    for f in series {
        if studies
            .iter()
            .any(|s| s.study_instance_uid == f.catalog.study_instance_uid)
        {
            continue;
        }
        studies.push(StudyDate {
            study_instance_uid: f.catalog.study_instance_uid.clone(),
            date: f
                .acquisition
                .study_date
                .clone()
                .or_else(|| f.catalog.study_date.clone()),
            time_point: f.acquisition.time_point.clone(),
        });
    }
    let (baseline, filed) = file_studies(&file.visits, &studies);
    let filed_of = |study: &str| filed.iter().find(|f| f.study_instance_uid == study);
    let judged: Vec<(Option<usize>, SeriesQc)> = series
        .iter()
        .map(|f| {
            let visit = filed_of(&f.catalog.study_instance_uid).and_then(|x| x.visit);
            (visit, judge_series(file, f, decision))
        })
        .collect();
    let scans: Vec<Scan<'_>> = series
        .iter()
        .zip(&judged)
        .filter_map(|(f, (visit, _))| {
            visit.map(|visit| Scan {
                visit,
                acquisition: &f.acquisition,
            })
        })
        .collect();
    let changes = if file.qc.scanner_consistency {
        scanner_changes(&scans)
    } else {
        Vec::new()
    };
    let received_any: Vec<bool> = (0..file.visits.len())
        .map(|i| judged.iter().any(|(v, _)| *v == Some(i)))
        .collect();
    let mut visits = Vec::new();
    for (i, spec) in file.visits.iter().enumerate() {
        let here: Vec<SeriesQc> = judged
            .iter()
            .filter(|(v, _)| *v == Some(i))
            .map(|(_, s)| s.clone())
            .collect();
        let studies_here: Vec<_> = filed.iter().filter(|f| f.visit == Some(i)).collect();
        let received: BTreeSet<String> = here.iter().filter_map(|s| s.role.clone()).collect();
        let missing: Vec<String> = spec
            .required
            .iter()
            .filter(|r| !received.contains(*r))
            .cloned()
            .collect();
        let mut checks = Vec::new();
        let window = format!("day {} ± {}", spec.day, spec.window_days);
        for f in &studies_here {
            let Some(day) = f.day else { continue };
            let off = (day - spec.day).abs() - spec.window_days;
            checks.push(if f.in_window == Some(false) {
                Check::new(
                    "window",
                    Some(format!("day {day}")),
                    window.clone(),
                    Status::Fail,
                )
                .note(format!(
                    "visit out of window by {off} days (filed by {})",
                    f.how
                ))
            } else {
                Check::new(
                    "window",
                    Some(format!("day {day}")),
                    window.clone(),
                    Status::Pass,
                )
            });
        }
        let later = received_any[i + 1..].iter().any(|r| *r);
        let pending = here.is_empty() && !later;
        if here.is_empty() && later {
            checks.push(
                Check::new("completeness", None, spec.required.join(", "), Status::Fail)
                    .note("nothing received for this visit, though a later visit was"),
            );
        } else if !pending {
            for role in &missing {
                checks.push(
                    Check::new("completeness", None, role.clone(), Status::Fail)
                        .note(format!("required {role} not received")),
                );
            }
        }
        checks.extend(
            changes
                .iter()
                .filter(|(v, _)| *v == i)
                .map(|(_, c)| c.clone()),
        );
        let computed = if pending {
            Status::Pending
        } else {
            worst(&checks).max(here.iter().map(|s| s.status).max().unwrap_or(Status::Pass))
        };
        let decided = decision(&VisitQc::target(subject, &spec.name));
        visits.push(VisitQc {
            visit: spec.name.clone(),
            target_day: Some(spec.day),
            window_days: Some(spec.window_days),
            date: studies_here
                .first()
                .and_then(|f| {
                    studies
                        .iter()
                        .find(|s| s.study_instance_uid == f.study_instance_uid)
                })
                .and_then(|s| s.date.clone()),
            day: studies_here.first().and_then(|f| f.day),
            in_window: studies_here.first().and_then(|f| f.in_window),
            required: spec.required.clone(),
            received: received.into_iter().collect(),
            missing: if pending { Vec::new() } else { missing },
            checks,
            series: here,
            computed_status: computed,
            status: decided.as_ref().map_or(computed, |d| d.status),
            decision: decided,
        });
    }
    let unscheduled: Vec<SeriesQc> = judged
        .iter()
        .filter(|(v, _)| v.is_none())
        .map(|(_, s)| s.clone())
        .collect();
    if !unscheduled.is_empty() {
        let checks: Vec<Check> = filed
            .iter()
            .filter(|f| f.visit.is_none())
            .map(|f| {
                Check::new(
                    "visit",
                    None,
                    "a visit of the protocol".into(),
                    Status::Review,
                )
                .note(format!(
                    "study {} not filed: {}",
                    f.study_instance_uid, f.how
                ))
            })
            .collect();
        let computed = worst(&checks);
        let decided = decision(&VisitQc::target(subject, "unscheduled"));
        visits.push(VisitQc {
            visit: "unscheduled".into(),
            target_day: None,
            window_days: None,
            date: None,
            day: None,
            in_window: None,
            required: Vec::new(),
            received: unscheduled.iter().filter_map(|s| s.role.clone()).collect(),
            missing: Vec::new(),
            checks,
            series: unscheduled,
            computed_status: computed,
            status: decided.as_ref().map_or(computed, |d| d.status),
            decision: decided,
        });
    }
    SubjectQc {
        subject: subject.to_owned(),
        site: site.to_owned(),
        baseline_date: baseline.map(|d| d.format("%Y%m%d").to_string()),
        visits,
    }
}

fn judge_series(
    file: &TrialFile,
    f: &SeriesFacts,
    decision: &dyn Fn(&str) -> Option<Decision>,
) -> SeriesQc {
    let a = &f.acquisition;
    let mut checks = plausibility(a);
    if let Err(why) = &f.geometry {
        checks.push(
            Check::new(
                "volume",
                None,
                "a series that forms a volume".into(),
                Status::Review,
            )
            .note(why.clone()),
        );
    }
    let geometry = f.geometry.as_ref().ok();
    let class = classify(&file.roles, a);
    let (role, classification, candidates) = match &class {
        Classification::Role(r) => (Some(r.clone()), "role".to_owned(), Vec::new()),
        Classification::Ambiguous(c) => (None, "ambiguous".to_owned(), c.clone()),
        Classification::Unmatched => (None, "unmatched".to_owned(), Vec::new()),
    };
    match &class {
        Classification::Role(r) => {
            if let Some(spec) = file.roles.get(r) {
                checks.extend(conformance(
                    &spec.require,
                    a,
                    geometry,
                    f.measured.values.get("uptake_min").copied(),
                ));
                checks.extend(f.measured.checks.iter().cloned());
                checks.extend(quality::thresholds(&spec.quality, &f.measured));
            }
        }
        Classification::Ambiguous(c) => checks.push(
            Check::new(
                "role",
                Some(c.join(", ")),
                "exactly one role".into(),
                Status::Review,
            )
            .note("the series matches several roles' rules"),
        ),
        Classification::Unmatched => {
            let status = match file.qc.unmatched {
                UnmatchedPolicy::Review => Status::Review,
                UnmatchedPolicy::Ignore => Status::Pass,
            };
            checks.push(
                Check::new("role", None, "a role of the protocol".into(), status)
                    .note("the series matches no role's rule"),
            );
        }
    }
    let computed = worst(&checks);
    let target = format!("series:{}", f.catalog.series_instance_uid);
    let decided = decision(&target);
    SeriesQc {
        series_instance_uid: f.catalog.series_instance_uid.clone(),
        study_instance_uid: f.catalog.study_instance_uid.clone(),
        modality: f.catalog.modality.clone(),
        description: f.catalog.description.clone(),
        instances: f.catalog.instances.len(),
        role,
        classification,
        candidates,
        checks,
        quality: f.measured.values.clone(),
        computed_status: computed,
        status: decided.as_ref().map_or(computed, |d| d.status),
        decision: decided,
    }
}
