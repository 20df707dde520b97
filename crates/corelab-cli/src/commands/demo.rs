//! `corelab demo`: the main job end to end on a fresh installation. Today that is: create the
//! installation, register a two-site trial, sign the audit trail and verify it. Each later part
//! of corelab (ingest, QC, algorithms, reads, export) adds its step here.

use super::{actor, status_text};
use crate::cli::Global;
use crate::exit::CHECK_FAILED;
use crate::output::emit;
use anyhow::{Context, Result};
use corelab_core::{Sha256Digest, TrialFile};
use corelab_store::{Overrides, Store};
use serde_json::json;
use std::path::Path;

/// The demo trial, in the minimal trial.toml form of DESIGN.md.
pub const DEMO_TRIAL: &str = r#"[trial]
id = "DEMO-MS-001"
sponsor = "corelab demo"
protocol = "DEMO-2026-01"
phase = "IIb"
indication = "relapsing multiple sclerosis"

[[sites]]
id = "S01"
name = "University Hospital A"
country = "NL"
ae_titles = ["S01PACS"]

[[sites]]
id = "S02"
name = "Clinic B"
country = "DE"
ae_titles = ["S02PACS", "S02MR"]

[deid]
options = ["retain-long-modified-dates"]
"#;

pub async fn run(g: &Global, out: Option<&Path>) -> Result<u8> {
    let dir = match out {
        Some(d) => d.to_owned(),
        None => {
            let d = std::env::temp_dir().join(format!("corelab-demo-{}", uuid_like()));
            eprintln!("demo installation: {}", d.display());
            d
        }
    };
    let over = Overrides {
        database: g.database.clone(),
        store: g.store.clone(),
        ..Default::default()
    };
    let store = Store::init(&dir, &over, &actor(g))
        .await
        .with_context(|| "demo: creating the installation")?;
    let trial = TrialFile::parse(DEMO_TRIAL).context("demo trial file")?;
    store.create_trial(&actor(g), &trial, DEMO_TRIAL).await?;
    store.checkpoint().await?;
    let report = store.verify_audit().await?;
    let status = store.status().await?;
    // One hash over every derived output, so two runs can be compared; no step derives outputs yet.
    let outputs: Vec<u8> = Vec::new();
    let doc = json!({
        "trial": trial.trial.id.as_str(),
        "data": store.installation.dir,
        "endpoints": [],
        "audit_ok": report.ok,
        "audit_events": report.events,
        "outputs_sha256": Sha256Digest::of(&outputs).to_hex(),
        "status": status,
    });
    emit(g.json, &doc, |_| {
        format!(
            "{}\naudit trail: {} ({} events, {} signed checkpoints)\nendpoints: none yet (ingest, QC and algorithms are still to come)",
            status_text(&status),
            if report.ok { "verified" } else { "BROKEN" },
            report.events,
            report.checkpoints
        )
    })?;
    Ok(if report.ok { 0 } else { CHECK_FAILED })
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", std::process::id())
}
