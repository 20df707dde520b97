//! The job queue in the database (issue 7): jobs to run one locked algorithm version on one
//! subject's visit, claimed by workers under a lease, and what a finished job leaves behind (its
//! result, its measurements and its output blobs). The same code runs on both backends.
//!
//! A job moves `queued → running → succeeded | failed`, and `running → queued` again when a
//! failure is retried. Every change goes through a [`crate::WriteTx`] with its audit event:
//! `job.enqueue`, `job.start` (a claim, naming the previous worker when an expired lease is
//! taken over), `job.retry`, `job.succeed` (with `blob.put` for each new output blob) and
//! `job.fail`. The one exception is [`Store::heartbeat_job`]: it only pushes a running job's
//! lease further into the future, changes nothing a person reads or decides on, and would
//! otherwise add an event every few seconds per worker; the claim before it and the outcome
//! after it are audited.
//!
//! Claiming takes the oldest runnable job: queued with `run_after` passed, or running with an
//! expired lease (its worker died). On PostgreSQL the candidate row is selected with
//! `FOR UPDATE SKIP LOCKED`, so concurrent workers take different jobs without waiting on each
//! other; on SQLite the write transaction (`BEGIN IMMEDIATE`) already runs alone. A completion
//! or failure is accepted only from the worker that holds the job; one whose lease was taken
//! over is refused and writes nothing. Inside a transaction the job row is always taken before
//! anything else (blob rows, then the audit head), so PostgreSQL writers never wait on each
//! other in a cycle.
//!
//! Times are UTC RFC 3339 text with microseconds ([`crate::time`]), compared as text.

use crate::audit::{NewEvent, canonical_json};
use crate::error::{Result, StoreError};
use crate::store::{Store, blob_put_event};
use crate::time::{now_plus, now_text};
use corelab_core::Sha256Digest;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Any, AnyConnection, Row};
use std::time::Duration;

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// The trial.
    pub trial: String,
    /// The algorithm's id (`area.name`).
    pub algorithm_id: String,
    /// Its exact version, from the trial's lock.
    pub algorithm_version: String,
    /// The fingerprint the lock recorded for it.
    pub fingerprint: String,
    /// The trial's lock version the job was made under.
    pub lock_version: i64,
    /// The algorithm's parameters (stored as canonical JSON).
    pub params: serde_json::Value,
    /// Its inputs (stored as canonical JSON).
    pub inputs: serde_json::Value,
    /// The subject's key (pseudonym); the subject must exist in the trial.
    pub subject: String,
    /// The visit's name.
    pub visit: String,
    /// Unique per trial: a second enqueue with the same key is the same job.
    pub idempotency_key: String,
    /// How many times the job may be started (at least 1).
    pub max_attempts: i64,
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    /// Its id (counts up).
    pub id: i64,
    /// The trial.
    pub trial: String,
    /// The algorithm's id.
    pub algorithm_id: String,
    /// Its exact version.
    pub algorithm_version: String,
    /// The lock's fingerprint of it.
    pub fingerprint: String,
    /// The trial's lock version.
    pub lock_version: i64,
    /// The parameters.
    pub params: serde_json::Value,
    /// The inputs.
    pub inputs: serde_json::Value,
    /// The subject's key.
    pub subject: String,
    /// The visit's name.
    pub visit: String,
    /// The enqueuer's key.
    pub idempotency_key: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// How many times it was started.
    pub attempts: i64,
    /// How many times it may be started.
    pub max_attempts: i64,
    /// The worker running it, or the last one that did.
    pub worker: Option<String>,
    /// The last failure's message (kept while a retry waits).
    pub error: Option<String>,
    /// Until when the running worker holds it.
    pub lease_until: Option<String>,
    /// Not claimed before this time.
    pub run_after: Option<String>,
    /// When it was enqueued.
    pub created_at: String,
    /// When its latest attempt started.
    pub started_at: Option<String>,
    /// When it succeeded or failed for good.
    pub finished_at: Option<String>,
    /// What the algorithm returned, once it succeeded.
    pub result: Option<serde_json::Value>,
}

/// What [`Store::enqueue_job`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job, with its id.
    Created(i64),
    /// The trial already had a job with this idempotency key; nothing was written.
    Existing {
        /// Its id.
        id: i64,
        /// Its state now.
        state: String,
    },
}

impl Enqueued {
    /// The job's id, new or existing.
    pub fn id(&self) -> i64 {
        match self {
            Enqueued::Created(id) | Enqueued::Existing { id, .. } => *id,
        }
    }
}

/// A measurement a finished job produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewMeasurement {
    /// What was measured.
    pub name: String,
    /// The value (finite).
    pub value: f64,
    /// Its UCUM unit; the database refuses an empty one.
    pub unit: String,
    /// The series it was taken on, where one.
    pub series_instance_uid: Option<String>,
    /// Its provenance record, JSON text.
    pub provenance: String,
}

/// What a finished job leaves behind.
#[derive(Clone, Debug, PartialEq)]
pub struct JobDone {
    /// The algorithm's result (stored as canonical JSON).
    pub result: serde_json::Value,
    /// Its measurements.
    pub measurements: Vec<NewMeasurement>,
    /// Its output blobs, already put in the blob store: digest, size, media type.
    pub blobs: Vec<(Sha256Digest, i64, String)>,
}

/// A measurement as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredMeasurement {
    /// Its id.
    pub id: i64,
    /// The job that produced it.
    pub job_id: i64,
    /// The subject's key.
    pub subject: String,
    /// The visit's name.
    pub visit: String,
    /// The series it was taken on, where one.
    pub series_instance_uid: Option<String>,
    /// `id@version` of the algorithm.
    pub algorithm: String,
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its UCUM unit.
    pub unit: String,
    /// Its provenance record, JSON text.
    pub provenance: String,
    /// When it was recorded.
    pub created_at: String,
}

macro_rules! job_columns {
    () => {
        "j.id, t.trial_key, j.algorithm_id, j.algorithm_version, j.fingerprint, j.lock_version, \
         j.params, j.inputs, j.subject_key, j.visit_name, j.idempotency_key, j.state, j.attempts, \
         j.max_attempts, j.worker, j.error, j.lease_until, j.run_after, j.created_at, \
         j.started_at, j.finished_at, j.result"
    };
}

/// The oldest runnable job: queued and due, or running with an expired lease; `$1` is now,
/// `$2` the trial's row id or 0 for any trial. Ends with the backend's `skip_locked` clause.
const CANDIDATE: &str = "SELECT id, state, worker, attempts, max_attempts FROM jobs \
     WHERE ((state = 'queued' AND (run_after IS NULL OR run_after <= $1)) \
         OR (state = 'running' AND lease_until < $1)) \
       AND ($2 = 0 OR trial_id = $2) \
     ORDER BY id LIMIT 1";

fn parse_json(job: i64, column: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Conflict(format!("job {job}: its {column} is not JSON: {e}")))
}

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<Job> {
    let ctx = || StoreError::db("reading jobs");
    let id: i64 = r.try_get("id").map_err(ctx())?;
    let params: String = r.try_get("params").map_err(ctx())?;
    let inputs: String = r.try_get("inputs").map_err(ctx())?;
    let result: Option<String> = r.try_get("result").map_err(ctx())?;
    Ok(Job {
        id,
        trial: r.try_get("trial_key").map_err(ctx())?,
        algorithm_id: r.try_get("algorithm_id").map_err(ctx())?,
        algorithm_version: r.try_get("algorithm_version").map_err(ctx())?,
        fingerprint: r
            .try_get::<Option<String>, _>("fingerprint")
            .map_err(ctx())?
            .unwrap_or_default(),
        lock_version: r
            .try_get::<Option<i64>, _>("lock_version")
            .map_err(ctx())?
            .unwrap_or_default(),
        params: parse_json(id, "params", &params)?,
        inputs: parse_json(id, "inputs", &inputs)?,
        subject: r
            .try_get::<Option<String>, _>("subject_key")
            .map_err(ctx())?
            .unwrap_or_default(),
        visit: r
            .try_get::<Option<String>, _>("visit_name")
            .map_err(ctx())?
            .unwrap_or_default(),
        idempotency_key: r
            .try_get::<Option<String>, _>("idempotency_key")
            .map_err(ctx())?
            .unwrap_or_default(),
        state: r.try_get("state").map_err(ctx())?,
        attempts: r.try_get("attempts").map_err(ctx())?,
        max_attempts: r.try_get("max_attempts").map_err(ctx())?,
        worker: r.try_get("worker").map_err(ctx())?,
        error: r.try_get("error").map_err(ctx())?,
        lease_until: r.try_get("lease_until").map_err(ctx())?,
        run_after: r.try_get("run_after").map_err(ctx())?,
        created_at: r.try_get("created_at").map_err(ctx())?,
        started_at: r.try_get("started_at").map_err(ctx())?,
        finished_at: r.try_get("finished_at").map_err(ctx())?,
        result: result
            .as_deref()
            .map(|t| parse_json(id, "result", t))
            .transpose()?,
    })
}

/// Jobs by id, of one trial (`""`: any) and one id (`0`: all), through `ex` (the pool, or a
/// write transaction's connection to read what it just wrote).
async fn job_rows<'e, E>(ex: E, trial: &str, id: i64) -> Result<Vec<Job>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let rows = sqlx::query(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs j JOIN trials t ON t.id = j.trial_id \
         WHERE ($1 = '' OR t.trial_key = $1) AND ($2 = 0 OR j.id = $2) ORDER BY j.id"
    ))
    .bind(trial)
    .bind(id)
    .fetch_all(ex)
    .await
    .map_err(StoreError::db("reading jobs"))?;
    rows.iter().map(job_from_row).collect()
}

/// The job `id`, read inside a write transaction.
async fn job_in(conn: &mut AnyConnection, id: i64) -> Result<Job> {
    job_rows(conn, "", id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("no job {id}")))
}

/// Why `worker` may not finish job `id`: it is gone, held by another worker (the lease was
/// lost), or no longer running.
async fn not_held(conn: &mut AnyConnection, id: i64, worker: &str, what: &str) -> StoreError {
    let job = match job_in(conn, id).await {
        Ok(job) => job,
        Err(e) => return e,
    };
    let trial = &job.trial;
    let holder = job.worker.as_deref().unwrap_or("none");
    if job.state == "running" {
        StoreError::Conflict(format!(
            "job {id} of trial {trial} is held by worker {holder} (attempt {}), not by {worker}: \
             {worker}'s lease was lost, so its {what} is not recorded",
            job.attempts
        ))
    } else {
        StoreError::Conflict(format!(
            "job {id} of trial {trial} is {} (last worker {holder}), not running for worker \
             {worker}, so its {what} is not recorded",
            job.state
        ))
    }
}

impl Store {
    /// Enqueues a job, idempotently by `(trial, idempotency_key)`: a second enqueue of the same
    /// key returns [`Enqueued::Existing`] and writes nothing; a new job (due now) is audited
    /// `job.enqueue`. Refused: an unknown trial or subject, an empty key, `max_attempts < 1`.
    pub async fn enqueue_job(&self, actor: &str, job: &NewJob) -> Result<Enqueued> {
        let trial = job.trial.as_str();
        let trial_id = self.trial_row_id(trial).await?;
        let key = job.idempotency_key.as_str();
        if key.trim().is_empty() {
            return Err(StoreError::Conflict(format!(
                "a job of trial {trial} needs an idempotency key"
            )));
        }
        if job.max_attempts < 1 {
            return Err(StoreError::Conflict(format!(
                "job {key} of trial {trial}: max_attempts must be at least 1, not {}",
                job.max_attempts
            )));
        }
        if let Some(found) = self.job_by_key(trial_id, key).await? {
            return Ok(found);
        }
        let subject: Option<i64> =
            sqlx::query_scalar("SELECT id FROM subjects WHERE trial_id = $1 AND subject_key = $2")
                .bind(trial_id)
                .bind(&job.subject)
                .fetch_optional(self.db.pool())
                .await
                .map_err(StoreError::db("finding a job's subject"))?;
        if subject.is_none() {
            return Err(StoreError::NotFound(format!(
                "trial {trial} has no subject {}",
                job.subject
            )));
        }
        let params = canonical_json(&job.params);
        let inputs = canonical_json(&job.inputs);
        let now = now_text();
        let mut tx = self.begin(actor).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO jobs (trial_id, algorithm_id, algorithm_version, fingerprint, lock_version, \
               params, inputs, subject_key, visit_name, idempotency_key, max_attempts, state, \
               attempts, created_at, run_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', 0, $12, $12) \
             ON CONFLICT (trial_id, idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(trial_id)
        .bind(&job.algorithm_id)
        .bind(&job.algorithm_version)
        .bind(&job.fingerprint)
        .bind(job.lock_version)
        .bind(&params)
        .bind(&inputs)
        .bind(&job.subject)
        .bind(&job.visit)
        .bind(key)
        .bind(job.max_attempts)
        .bind(&now)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("enqueueing a job"))?;
        let Some(id) = id else {
            // Enqueued at the same moment by another caller: theirs stands, nothing is written.
            drop(tx);
            return self.job_by_key(trial_id, key).await?.ok_or_else(|| {
                StoreError::Conflict(format!(
                    "job {key} of trial {trial} was neither inserted nor found; try again"
                ))
            });
        };
        let algorithm = format!("{}@{}", job.algorithm_id, job.algorithm_version);
        tx.record(
            NewEvent::new("job.enqueue", "job", &format!("{trial}/{id}"))
                .after(&json!({
                    "algorithm": algorithm,
                    "fingerprint": job.fingerprint,
                    "lock_version": job.lock_version,
                    "params": job.params,
                    "inputs": job.inputs,
                    "subject": job.subject,
                    "visit": job.visit,
                    "idempotency_key": key,
                    "max_attempts": job.max_attempts,
                    "state": "queued",
                }))
                .details(json!({
                    "algorithm": algorithm,
                    "fingerprint": job.fingerprint,
                    "lock_version": job.lock_version,
                    "subject": job.subject,
                    "visit": job.visit,
                    "idempotency_key": key,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(Enqueued::Created(id))
    }

    async fn job_by_key(&self, trial_id: i64, key: &str) -> Result<Option<Enqueued>> {
        let row =
            sqlx::query("SELECT id, state FROM jobs WHERE trial_id = $1 AND idempotency_key = $2")
                .bind(trial_id)
                .bind(key)
                .fetch_optional(self.db.pool())
                .await
                .map_err(StoreError::db("finding a job by its key"))?;
        row.map(|r| {
            let ctx = || StoreError::db("finding a job by its key");
            Ok(Enqueued::Existing {
                id: r.try_get("id").map_err(ctx())?,
                state: r.try_get("state").map_err(ctx())?,
            })
        })
        .transpose()
    }

    /// Claims the oldest runnable job (of `trial`, or of any trial) for `worker` until now +
    /// `lease`: one queued and due, or one running whose lease expired (its worker died). The
    /// job becomes running with one more attempt, audited `job.start` (with the previous worker
    /// when it was taken over). A job taken over after its last allowed attempt is failed
    /// instead (`job.fail`, "lease expired N times: the worker died each time") and the next
    /// candidate is tried. `None` when nothing is runnable.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease: Duration,
        trial: Option<&str>,
    ) -> Result<Option<Job>> {
        let trial_id = match trial {
            Some(t) => self.trial_row_id(t).await?,
            None => 0,
        };
        let candidate = format!("{CANDIDATE}{}", self.db.backend().skip_locked());
        let mut tx = self.begin(worker).await?;
        loop {
            let now = now_text();
            let row = sqlx::query(sqlx::AssertSqlSafe(candidate.clone()))
                .bind(&now)
                .bind(trial_id)
                .fetch_optional(tx.conn())
                .await
                .map_err(StoreError::db("finding a job to claim"))?;
            let Some(row) = row else {
                // Commits any job failed on the way (nothing else was changed).
                tx.commit().await?;
                return Ok(None);
            };
            let ctx = || StoreError::db("finding a job to claim");
            let id: i64 = row.try_get("id").map_err(ctx())?;
            let state: String = row.try_get("state").map_err(ctx())?;
            let previous: Option<String> = row.try_get("worker").map_err(ctx())?;
            let attempts: i64 = row.try_get("attempts").map_err(ctx())?;
            let max_attempts: i64 = row.try_get("max_attempts").map_err(ctx())?;
            let reclaimed = state == "running";
            if reclaimed && attempts >= max_attempts {
                let error = format!("lease expired {attempts} times: the worker died each time");
                sqlx::query(
                    "UPDATE jobs SET state = 'failed', error = $1, finished_at = $2, \
                     lease_until = NULL WHERE id = $3",
                )
                .bind(&error)
                .bind(&now)
                .bind(id)
                .execute(tx.conn())
                .await
                .map_err(StoreError::db("failing a job whose workers died"))?;
                let job = job_in(tx.conn(), id).await?;
                tx.record(
                    NewEvent::new("job.fail", "job", &format!("{}/{id}", job.trial))
                        .before(&json!({"state": "running", "worker": previous}))
                        .after(&json!({"state": "failed", "error": error}))
                        .details(json!({
                            "attempt": attempts,
                            "max_attempts": max_attempts,
                            "error": error,
                            "previous_worker": previous,
                        })),
                )
                .await?;
                continue;
            }
            let lease_until = now_plus(lease);
            sqlx::query(
                "UPDATE jobs SET state = 'running', worker = $1, lease_until = $2, \
                 attempts = attempts + 1, started_at = $3, finished_at = NULL WHERE id = $4",
            )
            .bind(worker)
            .bind(&lease_until)
            .bind(&now)
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::db("claiming a job"))?;
            let job = job_in(tx.conn(), id).await?;
            let mut details = json!({
                "attempt": job.attempts,
                "worker": worker,
                "lease_until": lease_until,
            });
            if reclaimed {
                details["previous_worker"] = json!(previous);
            }
            tx.record(
                NewEvent::new("job.start", "job", &format!("{}/{id}", job.trial))
                    .before(&json!({"state": state, "worker": previous}))
                    .after(&json!({"state": "running", "worker": worker, "attempt": job.attempts}))
                    .details(details),
            )
            .await?;
            tx.commit().await?;
            return Ok(Some(job));
        }
    }

    /// Extends the lease of job `id` to now + `lease` if `worker` still holds it (running, its
    /// worker); `false` otherwise (taken over, finished, or unknown).
    ///
    /// Not audited, on purpose: a heartbeat only moves a running job's lease forward. It
    /// changes no state a person reads or decides on, and an event per heartbeat would bury
    /// the trail; the claim before it and the outcome after it are audited.
    pub async fn heartbeat_job(&self, id: i64, worker: &str, lease: Duration) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND state = 'running' AND worker = $3",
        )
        .bind(now_plus(lease))
        .bind(id)
        .bind(worker)
        .execute(self.db.pool())
        .await
        .map_err(StoreError::db("renewing a job's lease"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a job's success in one transaction: its output blobs (each new one with its
    /// `blob.put` event), its measurements, its result (canonical JSON); the job becomes
    /// succeeded, audited `job.succeed` (with the result's SHA-256 and the measurements'
    /// count). Refused with [`StoreError::Conflict`], nothing written, when `worker` no longer
    /// holds the job (its lease was taken over, or it is not running); a value that is not
    /// finite, a provenance that is not JSON, or a measurement the database refuses (an empty
    /// unit) also leaves everything as it was, the job still running.
    pub async fn complete_job(&self, id: i64, worker: &str, done: &JobDone) -> Result<Job> {
        for m in &done.measurements {
            if !m.value.is_finite() {
                return Err(StoreError::Conflict(format!(
                    "job {id}: measurement {:?} has the value {}, not a finite number",
                    m.name, m.value
                )));
            }
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&m.provenance) {
                return Err(StoreError::Conflict(format!(
                    "job {id}: the provenance of measurement {:?} is not JSON: {e}",
                    m.name
                )));
            }
        }
        let mut blobs = Vec::with_capacity(done.blobs.len());
        for (sha256, size, media_type) in &done.blobs {
            let size = u64::try_from(*size).map_err(|_| {
                StoreError::Conflict(format!(
                    "job {id}: blob {sha256} has a negative size {size}"
                ))
            })?;
            blobs.push((*sha256, size, media_type.as_str()));
        }
        // One order for every writer: two completions sharing output blobs never wait on each
        // other's rows in a cycle.
        blobs.sort();
        blobs.dedup_by_key(|b| b.0);
        let result = canonical_json(&done.result);
        let result_sha256 = Sha256Digest::of(result.as_bytes()).to_hex();
        let now = now_text();
        let mut tx = self.begin(worker).await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'succeeded', result = $1, finished_at = $2, \
             lease_until = NULL, error = NULL \
             WHERE id = $3 AND state = 'running' AND worker = $4 \
             RETURNING trial_id, subject_key, visit_name, algorithm_id, algorithm_version, attempts",
        )
        .bind(&result)
        .bind(&now)
        .bind(id)
        .bind(worker)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("completing a job"))?;
        let Some(row) = row else {
            return Err(not_held(tx.conn(), id, worker, "result").await);
        };
        let ctx = || StoreError::db("completing a job");
        let trial_id: i64 = row.try_get("trial_id").map_err(ctx())?;
        let subject: Option<String> = row.try_get("subject_key").map_err(ctx())?;
        let visit: Option<String> = row.try_get("visit_name").map_err(ctx())?;
        let algorithm = format!(
            "{}@{}",
            row.try_get::<String, _>("algorithm_id").map_err(ctx())?,
            row.try_get::<String, _>("algorithm_version")
                .map_err(ctx())?
        );
        let attempt: i64 = row.try_get("attempts").map_err(ctx())?;
        let subject_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM subjects WHERE trial_id = $1 AND subject_key = $2")
                .bind(trial_id)
                .bind(subject.as_deref().unwrap_or(""))
                .fetch_optional(tx.conn())
                .await
                .map_err(StoreError::db("finding a job's subject"))?;
        let mut new_blobs = Vec::new();
        for (sha256, size, media_type) in &blobs {
            if tx.record_blob_row(sha256, *size, media_type).await? {
                new_blobs.push((sha256, *size, *media_type));
            }
        }
        for m in &done.measurements {
            sqlx::query(
                "INSERT INTO measurements (trial_id, job_id, subject_id, visit_name, \
                   series_instance_uid, algorithm, name, value, unit, provenance, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(trial_id)
            .bind(id)
            .bind(subject_id)
            .bind(visit.as_deref())
            .bind(m.series_instance_uid.as_deref())
            .bind(&algorithm)
            .bind(&m.name)
            .bind(m.value)
            .bind(&m.unit)
            .bind(&m.provenance)
            .bind(&now)
            .execute(tx.conn())
            .await
            .map_err(StoreError::db(format!(
                "job {id}: recording measurement {:?} ({} {:?})",
                m.name, m.value, m.unit
            )))?;
        }
        for (sha256, size, media_type) in new_blobs {
            tx.record(blob_put_event(sha256, size, media_type)).await?;
        }
        let job = job_in(tx.conn(), id).await?;
        tx.record(
            NewEvent::new("job.succeed", "job", &format!("{}/{id}", job.trial))
                .before(&json!({"state": "running", "worker": worker}))
                .after(&json!({"state": "succeeded", "result_sha256": result_sha256}))
                .details(json!({
                    "attempt": attempt,
                    "worker": worker,
                    "result_sha256": result_sha256,
                    "measurements": done.measurements.len(),
                    "blobs": blobs.iter().map(|b| b.0.to_hex()).collect::<Vec<_>>(),
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Records a job's failure. With `retry_after` and attempts left, the job is queued again,
    /// due after now + the delay, its error kept (`job.retry`); otherwise it fails for good
    /// with the error (`job.fail`). Refused like [`Store::complete_job`] when `worker` no
    /// longer holds the job.
    pub async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_after: Option<Duration>,
    ) -> Result<Job> {
        let run_after = retry_after.map(now_plus);
        let now = now_text();
        let mut tx = self.begin(worker).await?;
        // `$1` is the retry time, or '' for none: every SET sees the row as it was.
        let row = sqlx::query(
            "UPDATE jobs SET \
               state = CASE WHEN $1 <> '' AND attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
               run_after = CASE WHEN $1 <> '' AND attempts < max_attempts THEN $1 ELSE run_after END, \
               finished_at = CASE WHEN $1 <> '' AND attempts < max_attempts THEN NULL ELSE $2 END, \
               error = $3, lease_until = NULL \
             WHERE id = $4 AND state = 'running' AND worker = $5 \
             RETURNING state, attempts, max_attempts",
        )
        .bind(run_after.as_deref().unwrap_or(""))
        .bind(&now)
        .bind(error)
        .bind(id)
        .bind(worker)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("recording a job's failure"))?;
        let Some(row) = row else {
            return Err(not_held(tx.conn(), id, worker, "failure").await);
        };
        let ctx = || StoreError::db("recording a job's failure");
        let state: String = row.try_get("state").map_err(ctx())?;
        let attempt: i64 = row.try_get("attempts").map_err(ctx())?;
        let max_attempts: i64 = row.try_get("max_attempts").map_err(ctx())?;
        let job = job_in(tx.conn(), id).await?;
        let object = format!("{}/{id}", job.trial);
        let event = if state == "queued" {
            NewEvent::new("job.retry", "job", &object)
                .before(&json!({"state": "running", "worker": worker}))
                .after(&json!({"state": "queued", "run_after": run_after, "error": error}))
                .details(json!({
                    "attempt": attempt,
                    "max_attempts": max_attempts,
                    "worker": worker,
                    "error": error,
                    "run_after": run_after,
                }))
        } else {
            NewEvent::new("job.fail", "job", &object)
                .before(&json!({"state": "running", "worker": worker}))
                .after(&json!({"state": "failed", "error": error}))
                .details(json!({
                    "attempt": attempt,
                    "max_attempts": max_attempts,
                    "worker": worker,
                    "error": error,
                    "retry_requested": retry_after.is_some(),
                }))
        };
        tx.record(event).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// A trial's jobs, by id.
    pub async fn jobs(&self, trial: &str) -> Result<Vec<Job>> {
        self.trial_row_id(trial).await?;
        job_rows(self.db.pool(), trial, 0).await
    }

    /// One job of a trial.
    pub async fn job(&self, trial: &str, id: i64) -> Result<Job> {
        self.trial_row_id(trial).await?;
        job_rows(self.db.pool(), trial, id)
            .await?
            .into_iter()
            .next()
            .filter(|j| j.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("trial {trial} has no job {id}")))
    }

    /// A trial's measurements, by subject, visit, algorithm and name (then id).
    pub async fn measurements(&self, trial: &str) -> Result<Vec<StoredMeasurement>> {
        let trial_id = self.trial_row_id(trial).await?;
        let rows = sqlx::query(
            "SELECT m.id, m.job_id, s.subject_key, m.visit_name, m.series_instance_uid, \
               m.algorithm, m.name, m.value, m.unit, m.provenance, m.created_at \
             FROM measurements m LEFT JOIN subjects s ON s.id = m.subject_id \
             WHERE m.trial_id = $1",
        )
        .bind(trial_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("reading measurements"))?;
        let mut out = rows
            .iter()
            .map(|r| {
                let ctx = || StoreError::db("reading measurements");
                Ok(StoredMeasurement {
                    id: r.try_get("id").map_err(ctx())?,
                    job_id: r
                        .try_get::<Option<i64>, _>("job_id")
                        .map_err(ctx())?
                        .unwrap_or_default(),
                    subject: r
                        .try_get::<Option<String>, _>("subject_key")
                        .map_err(ctx())?
                        .unwrap_or_default(),
                    visit: r
                        .try_get::<Option<String>, _>("visit_name")
                        .map_err(ctx())?
                        .unwrap_or_default(),
                    series_instance_uid: r.try_get("series_instance_uid").map_err(ctx())?,
                    algorithm: r.try_get("algorithm").map_err(ctx())?,
                    name: r.try_get("name").map_err(ctx())?,
                    value: r.try_get("value").map_err(ctx())?,
                    unit: r.try_get("unit").map_err(ctx())?,
                    provenance: r.try_get("provenance").map_err(ctx())?,
                    created_at: r.try_get("created_at").map_err(ctx())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Sorted here, not in SQL: text order must not depend on the backend's collation.
        out.sort_by(|a, b| {
            (&a.subject, &a.visit, &a.algorithm, &a.name, a.id).cmp(&(
                &b.subject,
                &b.visit,
                &b.algorithm,
                &b.name,
                b.id,
            ))
        });
        Ok(out)
    }
}
