//! From QC to jobs: which locked algorithm runs on which series (`plan`), and running one job
//! (`execute`). A job is planned for each subject's visit whose QC status is `pass` (a person's
//! decision included) and each `[[algorithms]]` entry whose `inputs` roles all have a passed
//! series at that visit. Its idempotency key is the SHA-256 of the locked fingerprint and the
//! input instances' hashes, so planning again never duplicates a job, and a changed input or an
//! amended lock makes a new one.

use crate::report::{QcReport, Status, VisitQc};
use corelab_algo::lock::{Lock, Locked};
use corelab_algo::provenance::{self, FileEntity, Run};
use corelab_algo::{Inputs, Registry};
use corelab_core::{Sha256Digest, TrialFile};
use corelab_image::Volume;
use corelab_store::{CatalogSeries, NewJob};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Attempts a job gets before it is failed for good.
pub const MAX_ATTEMPTS: i64 = 3;

/// What planning found: the jobs, and why other visit × algorithm pairs have none.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    /// Jobs to enqueue.
    pub jobs: Vec<NewJob>,
    /// `subject/visit algorithm: why not`.
    pub skipped: Vec<String>,
}

/// Plans the jobs of a trial from its QC report, trial file and lock (version `lock_version`).
pub fn plan(
    file: &TrialFile,
    lock: &Lock,
    lock_version: i64,
    report: &QcReport,
    catalog: &[CatalogSeries],
) -> Planned {
    let mut out = Planned::default();
    for subject in &report.subjects {
        for visit in &subject.visits {
            let here = format!("{}/{}", subject.subject, visit.visit);
            if visit.visit == "unscheduled" || visit.status == Status::Pending {
                continue;
            }
            for spec in &file.algorithms {
                let why_not = |why: String| format!("{here} {}: {why}", spec.id);
                if visit.status != Status::Pass {
                    out.skipped.push(why_not(format!(
                        "the visit's QC is {}",
                        visit.status.as_str()
                    )));
                    continue;
                }
                let Some(locked) = lock.algorithms.iter().find(|l| l.id == spec.id) else {
                    out.skipped
                        .push(why_not("not in the trial's lock (amend the trial)".into()));
                    continue;
                };
                if spec.inputs.is_empty() {
                    out.skipped.push(why_not(
                        "its [[algorithms]] entry maps no inputs to series roles".into(),
                    ));
                    continue;
                }
                match inputs_of(&spec.inputs, &subject.visits, &visit.visit, catalog) {
                    Ok(inputs) => out.jobs.push(new_job(
                        &report.trial,
                        locked,
                        lock_version,
                        &subject.subject,
                        &visit.visit,
                        inputs,
                    )),
                    Err(why) => out.skipped.push(why_not(why)),
                }
            }
        }
    }
    out
}

/// The job's inputs: for each algorithm input role, the passed series of its series role with
/// its instances' hashes — at this visit, or at the visit a `ROLE@VISIT` mapping names.
fn inputs_of(
    mapping: &BTreeMap<String, String>,
    visits: &[VisitQc],
    here: &str,
    catalog: &[CatalogSeries],
) -> Result<Value, String> {
    let mut inputs = serde_json::Map::new();
    for (input, mapped) in mapping {
        let (role, other) = corelab_core::trial::input_source(mapped);
        let at = match other {
            None => "this visit".to_owned(),
            Some(v) if v == here => {
                return Err(format!(
                    "{input} = {mapped:?} is this visit: nothing to compare"
                ));
            }
            Some(v) => format!("visit {v}"),
        };
        let visit = visits
            .iter()
            .find(|v| v.visit == other.unwrap_or(here))
            .ok_or_else(|| format!("no {at} for this subject yet"))?;
        if visit.status != Status::Pass {
            return Err(format!("the QC of {at} is {}", visit.status.as_str()));
        }
        let mut passed = visit
            .series
            .iter()
            .filter(|s| s.role.as_deref() == Some(role) && s.status == Status::Pass);
        let Some(s) = passed.next() else {
            return Err(format!("no {role} series passed QC at {at}"));
        };
        if passed.next().is_some() {
            return Err(format!(
                "several {role} series passed QC at {at}; decide which (fail the others)"
            ));
        }
        let Some(c) = catalog
            .iter()
            .find(|c| c.series_instance_uid == s.series_instance_uid)
        else {
            return Err(format!(
                "series {} is not in the catalogue",
                s.series_instance_uid
            ));
        };
        inputs.insert(
            input.clone(),
            json!({
                "role": mapped,
                "series_instance_uid": c.series_instance_uid,
                "instances": c.instances,
            }),
        );
    }
    Ok(Value::Object(inputs))
}

fn new_job(
    trial: &str,
    locked: &Locked,
    lock_version: i64,
    subject: &str,
    visit: &str,
    inputs: Value,
) -> NewJob {
    let mut key = locked.fingerprint.clone();
    for (role, file) in &locked.files {
        key.push_str(&format!("\nfile {role}:{}", file.sha256));
    }
    if let Value::Object(map) = &inputs {
        for (role, v) in map {
            key.push_str(&format!("\n{role}:"));
            for pair in v["instances"].as_array().into_iter().flatten() {
                key.push_str(pair[1].as_str().unwrap_or_default());
                key.push(',');
            }
        }
    }
    NewJob {
        trial: trial.to_owned(),
        algorithm_id: locked.id.clone(),
        algorithm_version: locked.version.clone(),
        fingerprint: locked.fingerprint.clone(),
        lock_version,
        params: locked.parameters.clone(),
        inputs,
        subject: subject.to_owned(),
        visit: visit.to_owned(),
        idempotency_key: Sha256Digest::of(key.as_bytes()).to_hex(),
        max_attempts: MAX_ATTEMPTS,
    }
}

/// Why a job failed, and whether trying again could help.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The same inputs and lock would fail the same way (drift, bad input, the algorithm's
    /// refusal, malformed output): failed at once.
    #[error("{0}")]
    Final(String),
    /// Something outside the job (the store, a crash, a timeout): retried with backoff.
    #[error("{0}")]
    Transient(String),
}

/// What a job made: measurements, derived images (NIfTI bytes by role) and its provenance.
#[derive(Clone, Debug)]
pub struct Executed {
    /// `(name, value, unit)`.
    pub measurements: Vec<corelab_algo::Measurement>,
    /// `(role, .nii.gz bytes)`.
    pub images: Vec<(String, Vec<u8>)>,
    /// Tables (per-lesion, per-region rows).
    pub tables: Vec<corelab_algo::Table>,
    /// `(name, media type, bytes)` of each document (an SDTM dataset).
    pub documents: Vec<(String, String, Vec<u8>)>,
    /// The W3C PROV-JSON record.
    pub provenance: Value,
    /// `id@version`.
    pub algorithm: String,
}

/// Runs one job's algorithm on its input volumes (by input role, with their series' instance
/// hashes), with the locked parameters, refusing version drift. `run_id` names the run in the
/// provenance (the job id), so the same job gives the same record but for its times.
pub fn execute(
    lock: &Lock,
    algorithm_id: &str,
    params: &Value,
    inputs: Vec<(String, Volume<f32>, String)>,
    run_id: &str,
    agent: &str,
) -> Result<Executed, JobError> {
    execute_with(
        lock,
        algorithm_id,
        params,
        inputs,
        Vec::new(),
        run_id,
        agent,
    )
}

/// [`execute`] with model files (a locked ONNX network) among the inputs, by role.
pub fn execute_with(
    lock: &Lock,
    algorithm_id: &str,
    params: &Value,
    inputs: Vec<(String, Volume<f32>, String)>,
    models: Vec<(String, corelab_algo::ModelFile)>,
    run_id: &str,
    agent: &str,
) -> Result<Executed, JobError> {
    if let Some(locked) = lock
        .algorithms
        .iter()
        .find(|l| l.id == algorithm_id && l.program.is_some())
    {
        return crate::external::run_program(locked, inputs, run_id, agent);
    }
    let registry = Registry::builtin();
    let algorithm = registry.get(algorithm_id).ok_or_else(|| {
        JobError::Final(format!(
            "no algorithm {algorithm_id:?} in this corelab (version drift: the lock names it)"
        ))
    })?;
    let given: BTreeMap<String, String> = params
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    let mut volumes = Inputs::new();
    let mut used = Vec::new();
    for (role, volume, sha256) in inputs {
        let path = match (&volume.source.series_uid, volume.source.notes.first()) {
            (Some(uid), _) => format!("series:{uid}"),
            (None, Some(note)) if note.starts_with("file:") => note.clone(),
            (None, _) => "series:".to_owned(),
        };
        used.push(FileEntity {
            role: role.clone(),
            sha256,
            path,
        });
        volumes.insert(role, volume);
    }
    for (role, model) in models {
        used.push(FileEntity {
            role: role.clone(),
            sha256: model.sha256.clone(),
            path: format!("file:{}", model.source),
        });
        volumes.insert_model(role, model);
    }
    let resolved = corelab_algo::params::resolve(&algorithm.parameters(), &given)
        .map_err(|e| JobError::Final(e.to_string()))?;
    corelab_algo::lock::check(lock, algorithm, &resolved)
        .map_err(|e| JobError::Final(e.to_string()))?;
    let started = chrono::Utc::now();
    let (params, outputs) = corelab_algo::run(algorithm, &volumes, &given)
        .map_err(|e| JobError::Final(format!("{}@{}: {e}", algorithm.id(), algorithm.version())))?;
    let ended = chrono::Utc::now();
    // A network's input monitoring: each warning in the worker's log as well as in the stored
    // document (the job's `input-monitor.json`).
    for d in outputs
        .documents
        .iter()
        .filter(|d| d.name == corelab_algo::dl::segment::MONITOR)
    {
        let report: Value = serde_json::from_str(&d.text).unwrap_or_default();
        for w in report["drift"]["warnings"].as_array().into_iter().flatten() {
            tracing::warn!(
                run = run_id,
                algorithm = algorithm.id(),
                "input outside the model's training distribution: {}",
                w.as_str().unwrap_or_default()
            );
        }
    }
    let mut images = Vec::new();
    let mut generated = Vec::new();
    for (role, volume) in &outputs.images {
        let bytes = nifti_bytes(volume).map_err(JobError::Transient)?;
        generated.push(FileEntity {
            role: role.clone(),
            sha256: Sha256Digest::of(&bytes).to_hex(),
            path: format!("blob:{}", Sha256Digest::of(&bytes).to_hex()),
        });
        images.push((role.clone(), bytes));
    }
    let specs = algorithm.documents();
    let mut documents = Vec::new();
    for d in &outputs.documents {
        let bytes = d.text.clone().into_bytes();
        generated.push(FileEntity {
            role: d.name.clone(),
            sha256: Sha256Digest::of(&bytes).to_hex(),
            path: format!("blob:{}", Sha256Digest::of(&bytes).to_hex()),
        });
        let media_type = specs
            .iter()
            .find(|s| s.name == d.name)
            .map_or("text/plain", |s| s.media_type);
        documents.push((d.name.clone(), media_type.to_owned(), bytes));
    }
    let record = Run {
        id: run_id.to_owned(),
        algorithm: format!("{}@{}", algorithm.id(), algorithm.version()),
        fingerprint: provenance::fingerprint(algorithm, &params),
        parameters: params,
        started: started.to_rfc3339(),
        ended: ended.to_rfc3339(),
        host: std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
        agent: agent.to_owned(),
        used,
        generated,
        measurements: outputs.measurements.clone(),
    };
    Ok(Executed {
        measurements: outputs.measurements,
        tables: outputs.tables,
        documents,
        images,
        provenance: record.prov_json(),
        algorithm: record.algorithm,
    })
}

/// A volume as `.nii.gz` bytes, through a temporary file (the NIfTI writer writes paths).
pub(crate) fn nifti_bytes(volume: &Volume<f32>) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
    let path = dir.path().join("out.nii.gz");
    corelab_image::nifti_io::write(&path, volume).map_err(|e| e.to_string())?;
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, SeriesQc, SubjectQc, VisitQc};
    use corelab_image::Geometry;
    use ndarray::Array3;

    const FILE: &str = r#"
[trial]
id = "T"
sponsor = "S"
protocol = "P"
phase = "II"

[deid]
options = ["retain-long-modified-dates"]

[[visits]]
name = "baseline"
day = 0
required = ["T1w"]

[[visits]]
name = "W24"
day = 168
window_days = 14
required = ["T1w"]

[roles.T1w.match]
modality = ["MR"]
mr_acquisition_type = "3D"

[[algorithms]]
id = "image.mask-volume"
version = "^1.0"
inputs = { mask = "T1w" }
"#;

    fn series(uid: &str, status: Status) -> SeriesQc {
        SeriesQc {
            series_instance_uid: uid.into(),
            study_instance_uid: "st".into(),
            modality: "MR".into(),
            description: None,
            instances: 1,
            role: Some("T1w".into()),
            classification: "role".into(),
            candidates: vec![],
            checks: vec![],
            quality: Default::default(),
            computed_status: status,
            status,
            decision: None,
        }
    }

    fn visit(name: &str, status: Status, series: Vec<SeriesQc>) -> VisitQc {
        VisitQc {
            visit: name.into(),
            target_day: Some(0),
            window_days: Some(0),
            date: None,
            day: None,
            in_window: None,
            required: vec!["T1w".into()],
            received: vec![],
            missing: vec![],
            checks: Vec::<Check>::new(),
            series,
            computed_status: status,
            status,
            decision: None,
        }
    }

    fn catalog(uid: &str, sha: &str) -> CatalogSeries {
        CatalogSeries {
            site: "S01".into(),
            subject: "SUBJ-1".into(),
            study_instance_uid: "st".into(),
            study_date: None,
            series_instance_uid: uid.into(),
            modality: "MR".into(),
            description: None,
            series_number: None,
            instances: vec![("1.1".into(), sha.into())],
        }
    }

    fn setup() -> (TrialFile, Lock) {
        let file = TrialFile::parse(FILE).unwrap();
        let lock = corelab_algo::lock::resolve(
            "T",
            &file.algorithms,
            &Registry::builtin(),
            &Default::default(),
        )
        .unwrap();
        (file, lock)
    }

    #[test]
    fn jobs_go_to_passed_visits_only_and_their_key_follows_the_inputs() {
        let (file, lock) = setup();
        let report = QcReport::new(
            "T",
            "x",
            vec![SubjectQc {
                subject: "SUBJ-1".into(),
                site: "S01".into(),
                baseline_date: None,
                visits: vec![
                    visit("baseline", Status::Pass, vec![series("a", Status::Pass)]),
                    visit("W24", Status::Review, vec![series("b", Status::Review)]),
                ],
            }],
        );
        let cat = [catalog("a", &"1".repeat(64)), catalog("b", &"2".repeat(64))];
        let p = plan(&file, &lock, 1, &report, &cat);
        assert_eq!(p.jobs.len(), 1);
        assert_eq!(
            (
                p.jobs[0].visit.as_str(),
                p.jobs[0].inputs["mask"]["series_instance_uid"].as_str()
            ),
            ("baseline", Some("a"))
        );
        assert!(
            p.skipped[0].contains("W24") && p.skipped[0].contains("review"),
            "{:?}",
            p.skipped
        );
        // The same inputs give the same key; another instance hash another one.
        let again = plan(&file, &lock, 1, &report, &cat);
        assert_eq!(again.jobs[0].idempotency_key, p.jobs[0].idempotency_key);
        let changed = [catalog("a", &"3".repeat(64)), catalog("b", &"2".repeat(64))];
        let other = plan(&file, &lock, 1, &report, &changed);
        assert_ne!(other.jobs[0].idempotency_key, p.jobs[0].idempotency_key);
        // Two passed series of the role: a person must choose.
        let two = QcReport::new(
            "T",
            "x",
            vec![SubjectQc {
                subject: "SUBJ-1".into(),
                site: "S01".into(),
                baseline_date: None,
                visits: vec![visit(
                    "baseline",
                    Status::Pass,
                    vec![series("a", Status::Pass), series("b", Status::Pass)],
                )],
            }],
        );
        let p = plan(&file, &lock, 1, &two, &cat);
        assert!(
            p.jobs.is_empty() && p.skipped[0].contains("several T1w"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn a_job_runs_its_locked_parameters_and_refuses_drift() {
        let (_, lock) = setup();
        let mask = || {
            let mut data = Array3::<f32>::zeros((4, 4, 4));
            data[[1, 1, 1]] = 1.0;
            data[[1, 2, 1]] = 1.0;
            Volume::new(data, Geometry::axis_aligned([4, 4, 4], [0.0; 3], [2.0; 3])).unwrap()
        };
        let params = lock.algorithms[0].parameters.clone();
        let done = execute(
            &lock,
            "image.mask-volume",
            &params,
            vec![("mask".into(), mask(), "ab".into())],
            "T/job/1",
            "test",
        )
        .unwrap();
        let volume = done.measurements.iter().find(|m| m.unit == "mL").unwrap();
        assert!(
            (volume.value - 0.016).abs() < 1e-9,
            "{:?}",
            done.measurements
        );
        assert!(done.provenance.to_string().contains("sha256:ab"));
        // Parameters other than the locked ones are version drift.
        let mut other = params.clone();
        other["connectivity"] = serde_json::json!(6);
        let e = execute(
            &lock,
            "image.mask-volume",
            &other,
            vec![("mask".into(), mask(), "ab".into())],
            "T/job/1",
            "test",
        )
        .unwrap_err();
        assert!(
            matches!(&e, JobError::Final(w) if w.contains("version drift")),
            "{e}"
        );
        let e = execute(&lock, "image.nope", &params, vec![], "T/job/1", "test").unwrap_err();
        assert!(matches!(e, JobError::Final(_)));
    }

    #[test]
    fn a_longitudinal_input_takes_its_series_from_the_visit_it_names() {
        let text = FILE.replace(
            "[[algorithms]]\nid = \"image.mask-volume\"\nversion = \"^1.0\"\ninputs = { mask = \"T1w\" }",
            "[[algorithms]]\nid = \"neuro.pbvc\"\nversion = \"^1.0\"\ninputs = { baseline = \"T1w@baseline\", followup = \"T1w\" }",
        );
        let file = TrialFile::parse(&text).unwrap();
        let lock = corelab_algo::lock::resolve(
            "T",
            &file.algorithms,
            &Registry::builtin(),
            &Default::default(),
        )
        .unwrap();
        let report = |w24: Status| {
            QcReport::new(
                "T",
                "x",
                vec![SubjectQc {
                    subject: "SUBJ-1".into(),
                    site: "S01".into(),
                    baseline_date: None,
                    visits: vec![
                        visit("baseline", Status::Pass, vec![series("a", Status::Pass)]),
                        visit("W24", w24, vec![series("b", w24)]),
                    ],
                }],
            )
        };
        let cat = [catalog("a", &"1".repeat(64)), catalog("b", &"2".repeat(64))];
        let p = plan(&file, &lock, 1, &report(Status::Pass), &cat);
        assert_eq!(p.jobs.len(), 1, "{:?}", p.skipped);
        let job = &p.jobs[0];
        assert_eq!(job.visit, "W24");
        assert_eq!(job.inputs["baseline"]["series_instance_uid"], "a");
        assert_eq!(job.inputs["baseline"]["role"], "T1w@baseline");
        assert_eq!(job.inputs["followup"]["series_instance_uid"], "b");
        assert!(
            p.skipped
                .iter()
                .any(|s| s.contains("SUBJ-1/baseline") && s.contains("nothing to compare")),
            "{:?}",
            p.skipped
        );
        // The follow-up waits for its own QC; the baseline's QC counts too.
        let p = plan(&file, &lock, 1, &report(Status::Review), &cat);
        assert!(p.jobs.is_empty());
    }
}
