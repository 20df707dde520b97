//! `corelab trial create | list | show`.

use super::{actor, open};
use crate::cli::{Global, TrialCommand};
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_core::TrialFile;
use serde_json::json;

pub async fn run(g: &Global, c: &TrialCommand) -> Result<u8> {
    match c {
        TrialCommand::Create { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = TrialFile::parse(&text).with_context(|| file.display().to_string())?;
            let store = open(g).await?;
            let t = store.create_trial(&actor(g), &parsed, &text).await?;
            // Sign the new head at once, so that a command's events never sit unsigned.
            store.checkpoint().await?;
            emit(g.json, &t, |t| {
                format!(
                    "created trial {} with {} sites (trial file {})",
                    t.id, t.sites, t.config_sha256
                )
            })?;
        }
        TrialCommand::List => {
            let store = open(g).await?;
            let trials = store.trials().await?;
            emit(g.json, &trials, |ts| {
                ts.iter()
                    .map(|t| {
                        format!(
                            "{}\t{}\t{}\tphase {}\t{} sites\t{} subjects",
                            t.id, t.sponsor, t.protocol, t.phase, t.sites, t.subjects
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        TrialCommand::Show { trial, file } => {
            let store = open(g).await?;
            let Some(t) = store.trial(trial).await? else {
                bail!("no trial {trial:?} in {}", store.installation.dir.display());
            };
            if *file {
                let digest = t.config_sha256.parse().context("trials.config_sha256")?;
                let bytes = store.blobs.get(&digest).await?;
                let text = String::from_utf8_lossy(&bytes);
                emit(
                    g.json,
                    &json!({"trial": t.id, "sha256": t.config_sha256, "text": text}),
                    |_| text.to_string(),
                )?;
                return Ok(0);
            }
            let sites = store.sites(trial).await?;
            let doc = json!({"trial": t, "sites": sites});
            emit(g.json, &doc, |_| {
                let mut out = format!(
                    "trial {}  {} / {}  phase {}\n",
                    t.id, t.sponsor, t.protocol, t.phase
                );
                for s in &sites {
                    let called = s
                        .called_ae_title
                        .as_deref()
                        .map(|c| format!(" (calling {c})"))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "  site {}  {}  AE titles: {}{called}  subjects: {}  instances: {}\n",
                        s.id,
                        s.name,
                        s.ae_titles.join(", "),
                        s.subjects,
                        s.instances
                    ));
                }
                out
            })?;
        }
    }
    Ok(0)
}
