//! `corelab run TRIAL [--wait]`, `corelab worker`, `corelab jobs TRIAL`,
//! `corelab provenance TRIAL JOB`.

use super::deid::progress_bar;
use super::{actor, open};
use crate::cli::{Global, RunArgs};
use crate::output::emit;
use anyhow::{Result, bail};
use corelab_engine::runner::plan_run;
use corelab_engine::worker::{Outcome, WorkerOptions, run_one};
use corelab_store::{Job, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A worker's default name: `worker-HOST-PID`.
fn worker_name(given: Option<&str>) -> String {
    given.map(str::to_owned).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        format!("worker-{host}-{}", std::process::id())
    })
}

pub async fn run(g: &Global, a: &RunArgs) -> Result<u8> {
    let store = Arc::new(open(g).await?);
    let trial = a.trial.as_str();
    if store.trial(trial).await?.is_none() {
        bail!("no trial {trial}");
    }
    let who = actor(g);
    let planned = plan_run(&store, trial, &who).await?;
    if a.wait {
        let total = store
            .jobs(trial)
            .await?
            .iter()
            .filter(|j| matches!(j.state.as_str(), "queued" | "running"))
            .count();
        let bar = progress_bar(g, total);
        let mut handles = Vec::new();
        for n in 0..a.workers {
            let store = store.clone();
            let mut o = WorkerOptions::new(&format!("{}-{n}", worker_name(None)), Some(trial));
            o.backoff = Duration::from_secs(1);
            let bar = bar.clone();
            handles.push(tokio::spawn(async move {
                drain(&store, &o, &|| bar.inc(1)).await
            }));
        }
        for h in handles {
            h.await??;
        }
        bar.finish_and_clear();
    }
    let jobs = store.jobs(trial).await?;
    let count = |state: &str| jobs.iter().filter(|j| j.state == state).count();
    let doc = json!({
        "trial": trial,
        "lock_version": planned.lock_version,
        "qc": {"series": planned.series, "visits": planned.visits},
        "enqueued": planned.enqueued,
        "already_queued_or_done": planned.existing,
        "skipped": planned.skipped,
        "read_tasks": planned.read_tasks,
        "reads_problem": planned.reads_problem,
        "jobs": {
            "queued": count("queued"), "running": count("running"),
            "succeeded": count("succeeded"), "failed": count("failed"),
        },
        "failed": jobs.iter().filter(|j| j.state == "failed")
            .map(|j| json!({"id": j.id, "subject": j.subject, "visit": j.visit, "algorithm": j.algorithm_id, "error": j.error}))
            .collect::<Vec<_>>(),
    });
    emit(g.json, &doc, |d| {
        let mut t = format!(
            "{trial} (lock version {}): {} jobs enqueued, {} already there; \
             {} queued, {} running, {} succeeded, {} failed",
            planned.lock_version,
            planned.enqueued,
            planned.existing,
            d["jobs"]["queued"],
            d["jobs"]["running"],
            d["jobs"]["succeeded"],
            d["jobs"]["failed"]
        );
        for s in &planned.skipped {
            t.push_str(&format!("\n  not run: {s}"));
        }
        if planned.read_tasks > 0 {
            t.push_str(&format!(
                "\n  central reads: {} tasks made",
                planned.read_tasks
            ));
        }
        if let Some(why) = &planned.reads_problem {
            t.push_str(&format!("\n  central reads not planned: {why}"));
        }
        for j in jobs.iter().filter(|j| j.state == "failed") {
            t.push_str(&format!(
                "\n  job {} failed ({}/{} {}): {}",
                j.id,
                j.subject,
                j.visit,
                j.algorithm_id,
                j.error.as_deref().unwrap_or("")
            ));
        }
        t
    })?;
    Ok(if count("failed") > 0 { 3 } else { 0 })
}

/// Runs jobs until none is claimable and none of the trial's is still running elsewhere
/// (a retry waiting out its backoff is waited for).
pub(super) async fn drain(
    store: &Arc<Store>,
    o: &WorkerOptions,
    done: &(dyn Fn() + Send + Sync),
) -> Result<()> {
    loop {
        match run_one(store, o).await? {
            Some(Outcome::Succeeded(_) | Outcome::Failed(..)) => done(),
            Some(Outcome::Retrying(..)) => {}
            None => {
                let trial = o.trial.as_deref().unwrap_or_default();
                let open = store
                    .jobs(trial)
                    .await?
                    .iter()
                    .any(|j| matches!(j.state.as_str(), "queued" | "running"));
                if !open {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

pub async fn worker(
    g: &Global,
    trial: Option<&str>,
    name: Option<&str>,
    once: bool,
    lease_secs: u64,
) -> Result<u8> {
    let store = Arc::new(open(g).await?);
    let mut o = WorkerOptions::new(&worker_name(name), trial);
    o.lease = Duration::from_secs(lease_secs);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (mut ok, mut failed) = (0u64, 0u64);
    loop {
        let step = tokio::select! {
            r = run_one(&store, &o) => r?,
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        match step {
            Some(Outcome::Succeeded(id)) => {
                ok += 1;
                tracing::info!(job = id, "succeeded");
            }
            Some(Outcome::Failed(id, why)) => {
                failed += 1;
                tracing::warn!(job = id, %why, "failed");
            }
            Some(Outcome::Retrying(id, why)) => tracing::warn!(job = id, %why, "will retry"),
            None if once => break,
            None => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    emit(
        g.json,
        &json!({"worker": o.name, "succeeded": ok, "failed": failed}),
        |d| {
            format!(
                "{}: {} succeeded, {} failed",
                o.name, d["succeeded"], d["failed"]
            )
        },
    )?;
    Ok(0)
}

fn line(j: &Job) -> String {
    format!(
        "{}\t{}\t{}/{}\t{}@{}\tattempts {}/{}{}",
        j.id,
        j.state,
        j.subject,
        j.visit,
        j.algorithm_id,
        j.algorithm_version,
        j.attempts,
        j.max_attempts,
        j.error
            .as_deref()
            .map(|e| format!("\t{e}"))
            .unwrap_or_default()
    )
}

pub async fn jobs(g: &Global, trial: &str) -> Result<u8> {
    let store = open(g).await?;
    let jobs = store.jobs(trial).await?;
    emit(g.json, &jobs, |js| {
        if js.is_empty() {
            return "no jobs".into();
        }
        js.iter().map(line).collect::<Vec<_>>().join("\n")
    })?;
    Ok(0)
}

/// Prints the record as JSON whatever `--json` says: it is a JSON document.
pub async fn provenance(g: &Global, trial: &str, id: i64) -> Result<u8> {
    let store = open(g).await?;
    let job = store.job(trial, id).await?;
    let Some(prov) = job.result.as_ref().map(|r| r["provenance"].clone()) else {
        bail!(
            "job {id} of trial {trial} is {}: it has no outputs yet{}",
            job.state,
            job.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    };
    println!("{}", serde_json::to_string_pretty(&prov)?);
    Ok(0)
}
