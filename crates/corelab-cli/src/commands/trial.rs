//! `corelab trial create | list | show | lock | amend | locks`.

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
        TrialCommand::Lock { trial, out } => {
            let store = open(g).await?;
            let Some(t) = store.trial(trial).await? else {
                bail!("no trial {trial:?} in {}", store.installation.dir.display());
            };
            let digest = t.config_sha256.parse().context("trials.config_sha256")?;
            let text = String::from_utf8_lossy(&store.blobs.get(&digest).await?).into_owned();
            let parsed = TrialFile::parse(&text).context("the trial's stored file")?;
            let here = std::env::current_dir().context("the current folder")?;
            let lock = lock_of(&store, &parsed, &here).await?;
            let recorded = store
                .record_lock(&actor(g), trial, &lock.canonical(), &lock.sha256(), None)
                .await?;
            store.checkpoint().await?;
            finish_lock(g, &recorded, &lock, out.as_deref())?;
        }
        TrialCommand::Amend {
            trial,
            file,
            reason,
            out,
        } => {
            if reason.trim().is_empty() {
                bail!("--reason must say why the trial is amended");
            }
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = TrialFile::parse(&text).with_context(|| file.display().to_string())?;
            if parsed.trial.id.as_str() != trial {
                bail!(
                    "{}: the file is trial {}, not {trial}",
                    file.display(),
                    parsed.trial.id.as_str()
                );
            }
            let store = open(g).await?;
            let Some(t) = store.trial(trial).await? else {
                bail!("no trial {trial:?} in {}", store.installation.dir.display());
            };
            let digest = t.config_sha256.parse().context("trials.config_sha256")?;
            let current =
                TrialFile::parse(&String::from_utf8_lossy(&store.blobs.get(&digest).await?))
                    .context("the trial's stored file")?;
            if serde_json::to_value(&current.sites)? != serde_json::to_value(&parsed.sites)? {
                bail!(
                    "{}: its sites differ from the trial's; an amendment changes the protocol's algorithms (sites are not amended yet)",
                    file.display()
                );
            }
            let base = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let lock = lock_of(&store, &parsed, base).await?;
            let recorded = store
                .record_lock(
                    &actor(g),
                    trial,
                    &lock.canonical(),
                    &lock.sha256(),
                    Some((&text, reason)),
                )
                .await?;
            store.checkpoint().await?;
            finish_lock(g, &recorded, &lock, out.as_deref())?;
        }
        TrialCommand::Locks { trial } => {
            let store = open(g).await?;
            if store.trial(trial).await?.is_none() {
                bail!("no trial {trial:?} in {}", store.installation.dir.display());
            }
            let locks = store.trial_locks(trial).await?;
            let doc: Vec<serde_json::Value> = locks
                .iter()
                .map(|l| {
                    json!({
                        "version": l.version,
                        "lock_sha256": l.lock_sha256,
                        "config_sha256": l.config_sha256,
                        "reason": l.reason,
                        "created_at": l.created_at,
                        "lock": serde_json::from_str::<serde_json::Value>(&l.lock_json).unwrap_or_default(),
                    })
                })
                .collect();
            emit(g.json, &doc, |_| {
                locks
                    .iter()
                    .map(|l| {
                        format!(
                            "version {}  {}  {}{}",
                            l.version,
                            l.created_at,
                            l.lock_sha256,
                            l.reason
                                .as_deref()
                                .map(|r| format!("  ({r})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
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
            // The protocol is shown when the stored file reads; the rest is shown regardless.
            let protocol: Result<TrialFile, String> = match t.config_sha256.parse() {
                Ok(digest) => match store.blobs.get(&digest).await {
                    Ok(bytes) => TrialFile::parse(&String::from_utf8_lossy(&bytes))
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(format!("trials.config_sha256: {e}")),
            };
            let mut doc = json!({"trial": t, "sites": sites});
            if let Ok(file) = &protocol {
                doc["visits"] = serde_json::to_value(&file.visits)?;
                doc["roles"] = serde_json::to_value(&file.roles)?;
                doc["qc"] = serde_json::to_value(&file.qc)?;
                doc["endpoints"] = serde_json::to_value(&file.endpoints)?;
            }
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
                match &protocol {
                    Ok(file) => out.push_str(&protocol_text(file)),
                    Err(e) => out.push_str(&format!(
                        "  (the stored trial file no longer reads: {})\n",
                        e.lines().next().unwrap_or_default()
                    )),
                }
                out
            })?;
        }
    }
    Ok(0)
}

/// The visit schedule and the series roles of a trial file, for `trial show` (empty without them).
fn protocol_text(file: &TrialFile) -> String {
    let mut out = String::new();
    if !file.visits.is_empty() {
        out.push_str("  visits:\n");
    }
    for v in &file.visits {
        let window = if v.window_days > 0 {
            format!(" ±{}", v.window_days)
        } else {
            String::new()
        };
        out.push_str(&format!("    {}  day {}{window}", v.name, v.day));
        if !v.required.is_empty() {
            out.push_str(&format!("  required: {}", v.required.join(", ")));
        }
        if !v.optional.is_empty() {
            out.push_str(&format!("  optional: {}", v.optional.join(", ")));
        }
        if let Some(tp) = &v.time_point {
            out.push_str(&format!("  time point {tp}"));
        }
        out.push('\n');
    }
    if !file.roles.is_empty() {
        out.push_str("  roles:\n");
    }
    for (name, role) in &file.roles {
        let about = role
            .description
            .as_deref()
            .map(|d| format!("  {d}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "    {name}{about}\n      match {}\n",
            role.matching
        ));
        if !role.require.is_empty() {
            out.push_str(&format!("      require {}\n", role.require));
        }
        if !role.quality.is_empty() {
            out.push_str(&format!("      quality {}\n", role.quality));
        }
    }
    out
}

/// The lock of a trial file's algorithms against this build's catalogue, with their file inputs
/// (relative paths from `base`) read, hashed and kept.
async fn lock_of(
    store: &corelab_store::Store,
    file: &TrialFile,
    base: &std::path::Path,
) -> Result<corelab_algo::lock::Lock> {
    let files = corelab_engine::files::lock_files(store, file, base)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(corelab_algo::lock::resolve(
        file.trial.id.as_str(),
        &file.algorithms,
        &corelab_algo::Registry::builtin(),
        &files,
    )?)
}

fn finish_lock(
    g: &Global,
    recorded: &corelab_store::TrialLock,
    lock: &corelab_algo::lock::Lock,
    out: Option<&std::path::Path>,
) -> Result<()> {
    if let Some(path) = out {
        std::fs::write(path, lock.canonical())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let doc = json!({
        "trial": recorded.trial,
        "version": recorded.version,
        "lock_sha256": recorded.lock_sha256,
        "reason": recorded.reason,
        "lock": lock,
    });
    emit(g.json, &doc, |_| {
        let mut text = format!(
            "trial {} locked, version {} ({})",
            recorded.trial, recorded.version, recorded.lock_sha256
        );
        for a in &lock.algorithms {
            text += &format!("\n  {}@{}  fingerprint {}", a.id, a.version, a.fingerprint);
        }
        text
    })
}
