//! `corelab import TRIAL --site SITE PATH…`: files, folders and zip archives through the ingest
//! pipeline, several at a time, with a progress bar and one report line (or JSON row) per object.

use super::{actor, open};
use crate::cli::{Global, ImportArgs};
use crate::exit::{CHECK_FAILED, ERROR};
use crate::output::emit;
use anyhow::Result;
use bytes::Bytes;
use corelab_ingest::files::{Item, expand, read_item};
use corelab_ingest::{Ingestor, Outcome, Source};
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
struct Row {
    path: String,
    #[serde(flatten)]
    outcome: RowOutcome,
}

#[derive(Serialize)]
#[serde(untagged)]
enum RowOutcome {
    Done(Outcome),
    Failed {
        outcome: &'static str,
        reason: String,
    },
}

#[derive(Serialize, Default)]
struct Summary {
    stored: usize,
    duplicate: usize,
    conflict: usize,
    quarantined: usize,
    skipped: usize,
    refused: usize,
    failed: usize,
    files: Vec<Row>,
}

pub async fn run(g: &Global, a: &ImportArgs) -> Result<u8> {
    let store = Arc::new(open(g).await?);
    let ingestor = Arc::new(Ingestor::new(store.clone(), &actor(g)));
    // A wrong trial is a usage error, not a reason to quarantine every file.
    let rules = ingestor.rules(&a.trial).await?;
    if rules.clinical_trial(&a.site, None).is_none() {
        anyhow::bail!(
            "trial {} has no site {:?} (sites: {})",
            a.trial,
            a.site,
            rules.site_ids().join(", ")
        );
    }
    let items = expand(&a.paths).map_err(|e| anyhow::anyhow!(e))?;
    let max = a.max_mib.saturating_mul(1 << 20);
    let bar = super::deid::progress_bar(g, items.len());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    let queue = Arc::new(std::sync::Mutex::new(
        items.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (queue, ingestor, bar) = (queue.clone(), ingestor.clone(), bar.clone());
        let (trial, site, subject) = (a.trial.clone(), a.site.clone(), a.subject.clone());
        tasks.spawn(async move {
            let mut rows = Vec::new();
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((i, item)) = next else { break };
                let row = one(&ingestor, &trial, &site, subject.as_deref(), &item, max).await;
                bar.inc(1);
                rows.push((i, row));
            }
            rows
        });
    }
    let mut rows = Vec::new();
    while let Some(done) = tasks.join_next().await {
        rows.extend(done?);
    }
    bar.finish_and_clear();
    rows.sort_by_key(|(i, _)| *i);
    store.checkpoint().await?;
    let mut summary = Summary::default();
    for (_, row) in rows {
        match &row.outcome {
            RowOutcome::Done(Outcome::Stored { .. }) => summary.stored += 1,
            RowOutcome::Done(Outcome::Duplicate { .. }) => summary.duplicate += 1,
            RowOutcome::Done(Outcome::Conflict { .. }) => summary.conflict += 1,
            RowOutcome::Done(Outcome::Quarantined { .. }) => summary.quarantined += 1,
            RowOutcome::Done(Outcome::Skipped { .. }) => summary.skipped += 1,
            RowOutcome::Done(Outcome::Refused { .. }) => summary.refused += 1,
            RowOutcome::Failed { .. } => summary.failed += 1,
        }
        summary.files.push(row);
    }
    emit(g.json, &summary, |s| {
        let mut out = format!(
            "imported into {}: {} stored, {} duplicate, {} new version (conflict), {} quarantined, {} skipped, {} refused, {} failed",
            a.trial,
            s.stored,
            s.duplicate,
            s.conflict,
            s.quarantined,
            s.skipped,
            s.refused,
            s.failed
        );
        for r in &s.files {
            let line = match &r.outcome {
                RowOutcome::Done(Outcome::Quarantined { id, reason }) => {
                    format!("quarantined (id {id}): {reason}")
                }
                RowOutcome::Done(Outcome::Refused { reason }) => format!("refused: {reason}"),
                RowOutcome::Done(Outcome::Conflict { version, .. }) => {
                    format!(
                        "stored as version {version}, flagged for review: its UID was stored before with other content"
                    )
                }
                RowOutcome::Failed { reason, .. } => format!("FAILED: {reason}"),
                _ => continue,
            };
            out.push_str(&format!("\n  {}: {line}", r.path));
        }
        out
    })?;
    Ok(if summary.failed > 0 {
        ERROR
    } else if summary.quarantined + summary.refused > 0 {
        CHECK_FAILED
    } else {
        0
    })
}

async fn one(
    ingestor: &Ingestor,
    trial: &str,
    site: &str,
    subject: Option<&str>,
    item: &Item,
    max: u64,
) -> Row {
    let path = item.display();
    let read = {
        let item = item.clone();
        tokio::task::spawn_blocking(move || read_item(&item, max)).await
    };
    let outcome = match read {
        Ok(Ok(bytes)) => {
            let source = Source {
                trial: trial.to_owned(),
                site: site.to_owned(),
                origin: format!("import:{path}"),
                subject: subject.map(str::to_owned),
            };
            match ingestor.ingest(&source, Bytes::from(bytes)).await {
                Ok(o) => RowOutcome::Done(o),
                Err(e) => RowOutcome::Failed {
                    outcome: "failed",
                    reason: e.to_string(),
                },
            }
        }
        Ok(Err(reason)) => RowOutcome::Done(Outcome::Refused { reason }),
        Err(e) => RowOutcome::Failed {
            outcome: "failed",
            reason: e.to_string(),
        },
    };
    Row { path, outcome }
}
