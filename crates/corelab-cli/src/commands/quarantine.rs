//! `corelab quarantine list | show | release | discard`.

use super::{actor, open};
use crate::cli::{Global, QuarantineCommand};
use crate::output::emit;
use anyhow::{Result, bail};
use bytes::Bytes;
use corelab_ingest::{Ingestor, Outcome, Source};
use serde_json::json;
use std::sync::Arc;

pub async fn run(g: &Global, c: &QuarantineCommand) -> Result<u8> {
    let store = Arc::new(open(g).await?);
    match c {
        QuarantineCommand::List { all } => {
            let entries = store.quarantine_list(*all).await?;
            emit(g.json, &entries, |es| {
                if es.is_empty() {
                    return "nothing in quarantine".to_owned();
                }
                es.iter()
                    .map(|e| {
                        format!(
                            "{}\t{}\t{}/{}\t{}\t{}",
                            e.id,
                            e.state,
                            e.trial.as_deref().unwrap_or("-"),
                            e.site.as_deref().unwrap_or("-"),
                            e.source,
                            e.reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        QuarantineCommand::Show { id } => {
            let (entry, original) = store.quarantine_get(*id).await?;
            // What the object is, without its identifying values.
            let parsed = corelab_dicom::read::read_bytes(&original);
            let what = match &parsed {
                Ok(p) => {
                    let t = |tag| corelab_ingest::checks::text(&p.dataset, tag);
                    use dicom_dictionary_std::tags;
                    json!({
                        "sop_class_uid": t(tags::SOP_CLASS_UID),
                        "modality": t(tags::MODALITY),
                        "transfer_syntax": p.transfer_syntax,
                    })
                }
                Err(why) => json!({"unreadable": why}),
            };
            let doc = json!({"entry": entry, "size": original.len(), "object": what});
            emit(g.json, &doc, |d| {
                serde_json::to_string_pretty(d).unwrap_or_default()
            })?;
        }
        QuarantineCommand::Release {
            id,
            trial,
            site,
            subject,
            reason,
        } => {
            let (entry, original) = store.quarantine_get(*id).await?;
            if entry.state != "held" {
                bail!("quarantine {id} is {}, not held", entry.state);
            }
            let recorded = |k: &str| {
                entry
                    .details
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let Some(trial) = trial.clone().or(entry.trial.clone()).or(recorded("trial")) else {
                bail!("quarantine {id} has no trial; give --trial");
            };
            let Some(site) = site.clone().or(entry.site.clone()).or(recorded("site")) else {
                bail!("quarantine {id} has no site; give --site");
            };
            let ingestor = Ingestor::new(store.clone(), &actor(g));
            let source = Source {
                trial,
                site,
                origin: format!("quarantine:{id} ({})", entry.source),
                subject: subject.clone(),
            };
            let outcome = ingestor.retry(&source, Bytes::from(original)).await?;
            if !outcome.is_stored() {
                let why = match &outcome {
                    Outcome::Refused { reason } | Outcome::Skipped { reason } => reason.clone(),
                    other => format!("{other:?}"),
                };
                bail!("quarantine {id} still cannot be ingested: {why}; it stays held");
            }
            store
                .quarantine_resolve(
                    &actor(g),
                    *id,
                    "released",
                    reason,
                    serde_json::to_value(&outcome)?,
                )
                .await?;
            store.checkpoint().await?;
            emit(g.json, &outcome, |o| {
                format!("quarantine {id} released: {o:?}")
            })?;
        }
        QuarantineCommand::Discard { id, reason } => {
            store
                .quarantine_resolve(&actor(g), *id, "discarded", reason, json!(null))
                .await?;
            store.checkpoint().await?;
            emit(g.json, &json!({"id": id, "state": "discarded"}), |_| {
                format!("quarantine {id} discarded")
            })?;
        }
    }
    Ok(0)
}
