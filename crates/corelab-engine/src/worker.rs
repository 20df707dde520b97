//! A worker: claims jobs from the store's queue, keeps its lease alive with a heartbeat while
//! the algorithm runs, stores what the job made (derived images as blobs, measurements, the
//! provenance record) in one transaction, or fails the job with its reason. An algorithm that
//! panics, runs past its timeout or refuses its input fails its job; the worker goes on.
//! Failures that the same inputs would repeat (drift, bad input, the algorithm's refusal) fail
//! at once; others (a crash, a timeout, the store) are retried with exponential backoff until
//! the job's attempts run out.

use crate::images::{NotOneVolume, one_volume};
use crate::jobs::JobError;
use corelab_algo::lock::Lock;
use corelab_store::{Job, JobDone, NewMeasurement, Store, StoreError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The worker's name in the queue and the audit trail.
    pub name: String,
    /// Only this trial's jobs, or any.
    pub trial: Option<String>,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    /// How long one job may run.
    pub timeout: Duration,
    /// The first retry's wait; each later one doubles it.
    pub backoff: Duration,
}

impl WorkerOptions {
    /// A worker with the defaults: a 60 s lease renewed every 20 s, a 30-minute timeout and
    /// a 5 s first backoff.
    pub fn new(name: &str, trial: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            trial: trial.map(str::to_owned),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(30 * 60),
            backoff: Duration::from_secs(5),
        }
    }
}

/// What became of one claimed job.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Done, with the id.
    Succeeded(i64),
    /// Failed for good, with the id and why.
    Failed(i64, String),
    /// Failed, to be tried again.
    Retrying(i64, String),
}

/// Claims one job and runs it; `None` when nothing is claimable.
pub async fn run_one(store: &Arc<Store>, o: &WorkerOptions) -> Result<Option<Outcome>, StoreError> {
    let Some(job) = store
        .claim_job(&o.name, o.lease, o.trial.as_deref())
        .await?
    else {
        return Ok(None);
    };
    // The heartbeat runs beside the job, renewing the lease at a third of its length.
    let beat = {
        let (store, name, id, lease) = (store.clone(), o.name.clone(), job.id, o.lease);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match store.heartbeat_job(id, &name, lease).await {
                    Ok(true) => {}
                    _ => break,
                }
            }
        })
    };
    let result = attempt(store, &job, o).await;
    beat.abort();
    let outcome = match result {
        Ok(done) => {
            store.complete_job(job.id, &o.name, &done).await?;
            Outcome::Succeeded(job.id)
        }
        Err(JobError::Final(why)) => {
            store.fail_job(job.id, &o.name, &why, None).await?;
            Outcome::Failed(job.id, why)
        }
        Err(JobError::Transient(why)) => {
            let wait = o.backoff * 2u32.saturating_pow((job.attempts.max(1) - 1) as u32);
            let after = store.fail_job(job.id, &o.name, &why, Some(wait)).await?;
            if after.state == "failed" {
                Outcome::Failed(job.id, why)
            } else {
                Outcome::Retrying(job.id, why)
            }
        }
    };
    Ok(Some(outcome))
}

/// Reads a job's inputs, runs it under its timeout, and puts its images in the blob store.
async fn attempt(store: &Arc<Store>, job: &Job, o: &WorkerOptions) -> Result<JobDone, JobError> {
    let transient = |e: StoreError| JobError::Transient(e.to_string());
    let locks = store.trial_locks(&job.trial).await.map_err(transient)?;
    let lock_row = locks
        .iter()
        .find(|l| l.version == job.lock_version)
        .ok_or_else(|| {
            JobError::Final(format!(
                "trial {} has no lock version {}",
                job.trial, job.lock_version
            ))
        })?;
    let lock: Lock = serde_json::from_str(&lock_row.lock_json)
        .map_err(|e| JobError::Final(format!("lock version {}: {e}", job.lock_version)))?;
    let mut inputs = Vec::new();
    let mut series_uids = Vec::new();
    for (role, input) in job.inputs.as_object().into_iter().flatten() {
        let uid = input["series_instance_uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut blobs = Vec::new();
        for pair in input["instances"].as_array().into_iter().flatten() {
            let sop = pair[0].as_str().unwrap_or_default();
            let bytes = store
                .instance_bytes(&job.trial, sop)
                .await
                .map_err(transient)?;
            blobs.push((sop.to_owned(), bytes));
        }
        inputs.push((role.clone(), uid.clone(), blobs));
        series_uids.push(uid);
    }
    let mut files = Vec::new();
    let mut models = Vec::new();
    if let Some(locked) = lock.algorithms.iter().find(|l| l.id == job.algorithm_id) {
        for (role, file) in &locked.files {
            if crate::files::is_model(&job.algorithm_id, role) {
                models.push((
                    role.clone(),
                    crate::files::load_model(store, role, file).await?,
                ));
                continue;
            }
            let volume = crate::files::load(store, role, file).await?;
            files.push((role.clone(), volume, file.sha256.clone()));
        }
    }
    let (lock_c, id, params, agent, run_id) = (
        lock.clone(),
        job.algorithm_id.clone(),
        job.params.clone(),
        o.name.clone(),
        format!("{}/job/{}", job.trial, job.id),
    );
    let work = tokio::task::spawn_blocking(move || {
        let mut loaded = Vec::new();
        for (role, uid, blobs) in inputs {
            let volume = one_volume(blobs).map_err(|e| {
                JobError::Final(match e {
                    NotOneVolume::Unreadable(why) => format!("input {role} (series {uid}): {why}"),
                    NotOneVolume::Several(n) => format!(
                        "input {role} (series {uid}) forms {n} volumes; the algorithm takes one"
                    ),
                })
            })?;
            // The series as an entity: the SHA-256 of its instances' hashes in slice order, as
            // `corelab algo run` names a DICOM series folder.
            let hash =
                corelab_core::Sha256Digest::of(volume.source.instance_sha256.join("\n").as_bytes())
                    .to_hex();
            loaded.push((role, volume, hash));
        }
        loaded.extend(files);
        crate::jobs::execute_with(&lock_c, &id, &params, loaded, models, &run_id, &agent)
    });
    let executed = match tokio::time::timeout(o.timeout, work).await {
        Err(_) => {
            return Err(JobError::Transient(format!(
                "ran past its timeout of {} s",
                o.timeout.as_secs()
            )));
        }
        Ok(Err(join)) if join.is_panic() => {
            let why = join
                .into_panic()
                .downcast::<String>()
                .map(|s| *s)
                .or_else(|p| p.downcast::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|_| "no message".into());
            return Err(JobError::Transient(format!(
                "the algorithm panicked: {why}"
            )));
        }
        Ok(Err(join)) => return Err(JobError::Transient(join.to_string())),
        Ok(Ok(r)) => r?,
    };
    let mut blobs = Vec::new();
    let mut images = Vec::new();
    for (role, bytes) in executed.images {
        let size = bytes.len() as i64;
        let blob = store
            .blobs
            .put(bytes::Bytes::from(bytes))
            .await
            .map_err(transient)?;
        images.push(json!({"role": role, "sha256": blob.sha256.to_hex(), "size": size}));
        blobs.push((blob.sha256, size, "application/gzip".to_owned()));
    }
    let mut documents = Vec::new();
    for (name, media_type, bytes) in executed.documents {
        let size = bytes.len() as i64;
        let blob = store
            .blobs
            .put(bytes::Bytes::from(bytes))
            .await
            .map_err(transient)?;
        documents.push(json!({"name": name, "media_type": media_type, "sha256": blob.sha256.to_hex(), "size": size}));
        blobs.push((blob.sha256, size, media_type));
    }
    let provenance = executed.provenance.to_string();
    let series = series_uids.first().cloned();
    Ok(JobDone {
        result: json!({
            "algorithm": executed.algorithm,
            "measurements": executed.measurements,
            "tables": executed.tables,
            "images": images,
            "documents": documents,
            "provenance": executed.provenance,
        }),
        measurements: executed
            .measurements
            .iter()
            .map(|m| NewMeasurement {
                name: m.name.clone(),
                value: m.value,
                unit: m.unit.clone(),
                series_instance_uid: series.clone(),
                provenance: provenance.clone(),
            })
            .collect(),
        blobs,
    })
}
