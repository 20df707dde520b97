//! `corelab demo`: the main job end to end on a fresh installation. Today that is: create the
//! installation, register a two-site trial, ingest synthetic CT studies from both sites (planted
//! identities, de-identified on the way in, one deliberately unlinkable object quarantined), sign
//! the audit trail and verify it. Each later part of corelab (QC, algorithms, reads, export) adds
//! its step here.

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
    let store = std::sync::Arc::new(store);
    let ingest = ingest_synthetic(&store, &actor(g)).await?;
    store.checkpoint().await?;
    let report = store.verify_audit().await?;
    let status = store.status().await?;
    // One hash over every derived output, so two runs can be compared; no step derives outputs yet.
    let outputs: Vec<u8> = Vec::new();
    let doc = json!({
        "trial": trial.trial.id.as_str(),
        "data": store.installation.dir,
        "endpoints": [],
        "ingest": ingest,
        "audit_ok": report.ok,
        "audit_events": report.events,
        "outputs_sha256": Sha256Digest::of(&outputs).to_hex(),
        "status": status,
    });
    emit(g.json, &doc, |_| {
        format!(
            "{}\ningested: {} stored, {} quarantined (an object without a Patient ID)\naudit trail: {} ({} events, {} signed checkpoints)\nendpoints: none yet (QC and algorithms are still to come)",
            status_text(&status),
            ingest["stored"],
            ingest["quarantined"],
            if report.ok { "verified" } else { "BROKEN" },
            report.events,
            report.checkpoints
        )
    })?;
    Ok(if report.ok { 0 } else { CHECK_FAILED })
}

/// Two sites send synthetic CT studies for three patients through the ingest pipeline; one object
/// arrives without a Patient ID and is quarantined.
async fn ingest_synthetic(store: &std::sync::Arc<Store>, actor: &str) -> Result<serde_json::Value> {
    use corelab_ingest::{Ingestor, Outcome, Source};
    let ingestor = Ingestor::new(store.clone(), actor);
    let (mut stored, mut quarantined) = (0, 0);
    let sends = [
        ("S01", "MRN-1001", "Doe^Jane", 1),
        ("S01", "MRN-1001", "Doe^Jane", 2),
        ("S01", "MRN-1002", "Roe^Richard", 1),
        ("S02", "PAT-77", "Muster^Max", 1),
    ];
    for (site, id, name, study) in sends {
        for bytes in corelab_dicom::synthetic::ct_series(id, name, study, 8) {
            let source = Source {
                trial: "DEMO-MS-001".into(),
                site: site.into(),
                origin: format!("demo:synthetic {site}"),
                subject: None,
            };
            match ingestor.ingest(&source, bytes.into()).await? {
                o if o.is_stored() => stored += 1,
                Outcome::Quarantined { .. } => quarantined += 1,
                other => anyhow::bail!("demo: unexpected outcome {other:?}"),
            }
        }
    }
    // A slice whose Patient ID was blanked at the site: it cannot be linked, so it is held.
    let mut blank = corelab_dicom::read::read_bytes(
        &corelab_dicom::synthetic::ct_series("", "Unknown^Patient", 9, 1)[0],
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    blank
        .dataset
        .remove_element(dicom_dictionary_std::tags::PATIENT_ID);
    let bytes = corelab_dicom::deid::encode_part10(blank.dataset, &blank.transfer_syntax)
        .map_err(|e| anyhow::anyhow!(e))?;
    let source = Source {
        trial: "DEMO-MS-001".into(),
        site: "S02".into(),
        origin: "demo:synthetic S02".into(),
        subject: None,
    };
    if let Outcome::Quarantined { .. } = ingestor.ingest(&source, bytes.into()).await? {
        quarantined += 1;
    }
    Ok(json!({"stored": stored, "quarantined": quarantined}))
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", std::process::id())
}
