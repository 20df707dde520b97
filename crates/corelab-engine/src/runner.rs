//! A trial's run: QC evaluated afresh, the locked algorithms' jobs planned on what passed and
//! enqueued (idempotently), and for a trial with central reads the worklists of subjects now
//! ready — what `corelab run` does once and `corelab serve --workers N` does
//! whenever a locked trial has received new instances.

use crate::evaluate::{EngineError, evaluate};
use crate::jobs::plan;
use crate::report::Counts;
use corelab_algo::lock::Lock;
use corelab_core::TrialFile;
use corelab_store::{Enqueued, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// What planning a trial's run did.
#[derive(Clone, Debug, Serialize)]
pub struct Planning {
    /// The trial.
    pub trial: String,
    /// The lock version the jobs run under.
    pub lock_version: i64,
    /// QC series counts.
    pub series: Counts,
    /// QC visit counts.
    pub visits: Counts,
    /// Jobs enqueued now.
    pub enqueued: usize,
    /// Jobs that were already queued, running or done.
    pub existing: usize,
    /// Visit × algorithm pairs without a job, and why.
    pub skipped: Vec<String>,
    /// Central-read tasks made now (a trial with a `[reads]` design).
    pub read_tasks: usize,
    /// Why the reads could not be planned, if so (the jobs are planned regardless).
    pub reads_problem: Option<String>,
}

/// Evaluates QC, plans and enqueues the trial's jobs. An unlocked trial is refused: only
/// locked versions run.
pub async fn plan_run(store: &Store, trial: &str, actor: &str) -> Result<Planning, EngineError> {
    let Some(lock_row) = store.trial_locks(trial).await?.pop() else {
        return Err(EngineError::NotLocked(trial.to_owned()));
    };
    let lock: Lock =
        serde_json::from_str(&lock_row.lock_json).map_err(|e| EngineError::TrialFile {
            trial: trial.to_owned(),
            why: format!("lock version {}: {e}", lock_row.version),
        })?;
    let (_, text) = store.trial_file_text(trial).await?;
    let file = TrialFile::parse(&text).map_err(|e| EngineError::TrialFile {
        trial: trial.to_owned(),
        why: e.to_string(),
    })?;
    let (report, _) = evaluate(store, trial, actor, &mut |_, _| {}).await?;
    let catalog = store.trial_series(trial).await?;
    let planned = plan(&file, &lock, lock_row.version, &report, &catalog);
    let (mut enqueued, mut existing) = (0, 0);
    for job in &planned.jobs {
        match store.enqueue_job(actor, job).await? {
            Enqueued::Created(_) => enqueued += 1,
            Enqueued::Existing { .. } => existing += 1,
        }
    }
    let (read_tasks, reads_problem) = match &file.reads {
        None => (0, None),
        Some(_) => match crate::reads::plan(store, actor, trial).await {
            Ok(p) => (p.created.len(), None),
            Err(e) => (0, Some(e.to_string())),
        },
    };
    Ok(Planning {
        trial: trial.to_owned(),
        lock_version: lock_row.version,
        series: report.series,
        visits: report.visits,
        enqueued,
        existing,
        skipped: planned.skipped,
        read_tasks,
        reads_problem,
    })
}

/// Plans the run of every locked trial whose catalogue changed since `seen` last recorded it
/// (its instance count), as `corelab serve --workers N` does on a timer. Returns what was
/// planned; a trial that fails to plan is reported, not fatal.
pub async fn plan_changed(
    store: &Store,
    actor: &str,
    seen: &mut BTreeMap<String, i64>,
) -> Result<Vec<Result<Planning, String>>, EngineError> {
    let mut out = Vec::new();
    for t in store.trials().await? {
        let trial = t.id.clone();
        if store.trial_locks(&trial).await?.is_empty() {
            continue;
        }
        let instances: i64 = store.sites(&trial).await?.iter().map(|s| s.instances).sum();
        if seen.get(&trial) == Some(&instances) {
            continue;
        }
        let planned = plan_run(store, &trial, actor)
            .await
            .map_err(|e| format!("trial {trial}: {e}"));
        if planned.is_ok() {
            seen.insert(trial, instances);
        }
        out.push(planned);
    }
    Ok(out)
}
