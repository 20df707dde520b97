//! `corelab demo`: the main job end to end on a fresh installation: digital MS phantoms from
//! three sites and vendors (`corelab phantom ms-lesions`) are ingested through the ingest
//! pipeline (de-identified on the way in; one deliberately unlinkable object quarantined), QC
//! judges every series and visit by the trial's protocol, the trial is locked, its algorithms (N4
//! and the neurology endpoints, longitudinal ones against the baseline) run as jobs on two workers
//! on everything that passed, each endpoint is printed next to the phantoms' truth
//! (`demo_truth`), and the audit trail is signed and verified. Each later part of corelab (other
//! areas' algorithms, reads, export) adds its step here.

use super::{actor, status_text};
use crate::cli::Global;
use crate::exit::CHECK_FAILED;
use crate::output::emit;
use anyhow::{Context, Result};
use corelab_core::{Sha256Digest, TrialFile};
use corelab_store::{Overrides, Store};
use serde_json::json;
use std::path::Path;

/// The demo trial: three sites, two visits a year apart, T1w and FLAIR roles with their
/// requirements and quality thresholds; N4 bias correction of every T1w, and the neurology
/// endpoints of an MS trial: brain extraction, tissue volumes, lesions, new and enlarging lesions
/// and brain volume change against the baseline.
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
name = "Clinique du Parc B"
country = "FR"
ae_titles = ["S02PACS", "S02MR"]

[[sites]]
id = "S03"
name = "Regional Medical Center C"
country = "DE"
ae_titles = ["S03PACS"]

[deid]
options = ["retain-long-modified-dates", "clean-descriptors"]

[[visits]]
name = "baseline"
day = 0
window_days = 3
required = ["T1w", "FLAIR"]

[[visits]]
name = "M12"
day = 365
window_days = 14
required = ["T1w", "FLAIR"]

[roles.T1w]
description = "3-D T1-weighted gradient echo, sagittal"
match = { modality = ["MR"], description = ["*T1*", "*BRAVO*", "*TFE*"], exclude_description = ["*FLAIR*", "*dark-fluid*"], mr_acquisition_type = "3D" }
require = { field_strength_t = [1.5, 3.0], slice_thickness_mm = { max = 3.5 }, orientation = "sagittal" }

[roles.FLAIR]
description = "2-D T2 FLAIR, axial"
match = { modality = ["MR"], description = ["*FLAIR*", "*dark-fluid*"], scanning_sequence = ["IR"] }
require = { field_strength_t = [1.5, 3.0], slice_thickness_mm = { max = 7 }, ti_ms = [1800, 3000], orientation = "axial" }

[[algorithms]]
id = "image.bias-n4"
version = "^1.0"
inputs = { image = "T1w" }

[[algorithms]]
id = "neuro.brain-extraction"
version = "^1.0"
inputs = { t1 = "T1w" }

[[algorithms]]
id = "neuro.tissue-seg"
version = "^1.0"
inputs = { t1 = "T1w" }

[[algorithms]]
id = "neuro.ms-lesions"
version = "^1.0"
inputs = { flair = "FLAIR", t1 = "T1w" }

[[algorithms]]
id = "neuro.lesion-change"
version = "^1.0"
inputs = { baseline = "FLAIR@baseline", followup = "FLAIR" }

[[algorithms]]
id = "neuro.pbvc"
version = "^1.0"
inputs = { baseline = "T1w@baseline", followup = "T1w" }
"#;

pub async fn run(g: &Global, out: Option<&Path>, serve: Option<&str>) -> Result<u8> {
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
    let who = actor(g);
    let trial = TrialFile::parse(DEMO_TRIAL).context("demo trial file")?;
    store.create_trial(&who, &trial, DEMO_TRIAL).await?;
    let store = std::sync::Arc::new(store);
    eprintln!("demo: writing the MS phantoms of three sites");
    let phantoms = dir.join("phantoms");
    let options = corelab_image::phantom::Options {
        subjects: 3,
        voxel_mm: Some(2.0),
        atrophy_percent: Some(ATROPHY_PERCENT),
        subsamples: 2,
        ..Default::default()
    };
    corelab_dicom::phantom::write(
        corelab_image::phantom::Kind::MsLesions,
        &options,
        &phantoms,
        &mut |_, _, _| {},
    )?;
    eprintln!("demo: ingesting them, de-identified on the way in");
    let ingest = ingest_phantoms(&store, &who, &phantoms).await?;
    eprintln!("demo: QC, lock, jobs");
    let (qc, _) =
        corelab_engine::evaluate::evaluate(&store, TRIAL_ID, &who, &mut |_, _| {}).await?;
    let lock = corelab_algo::lock::resolve(
        TRIAL_ID,
        &trial.algorithms,
        &corelab_algo::Registry::builtin(),
        &Default::default(),
    )?;
    store
        .record_lock(&who, TRIAL_ID, &lock.canonical(), &lock.sha256(), None)
        .await?;
    let planned = corelab_engine::runner::plan_run(&store, TRIAL_ID, &who).await?;
    let mut workers = Vec::new();
    for n in 0..2 {
        let store = store.clone();
        let o =
            corelab_engine::worker::WorkerOptions::new(&format!("demo-worker-{n}"), Some(TRIAL_ID));
        workers.push(tokio::spawn(async move {
            super::run::drain(&store, &o, &|| {}).await
        }));
    }
    for w in workers {
        w.await??;
    }
    let jobs = store.jobs(TRIAL_ID).await?;
    let measurements = store.measurements(TRIAL_ID).await?;
    // Each subject's site names its phantom subject (S0n scanned MS-00n), each visit the
    // phantom's (baseline the first, M12 the second).
    let site_of: std::collections::BTreeMap<String, String> = store
        .trial_series(TRIAL_ID)
        .await?
        .into_iter()
        .map(|s| (s.subject, s.site))
        .collect();
    let truth = super::demo_truth::Truth::read(&phantoms)?;
    let truth_of = |subject: &str, visit: &str, algorithm: &str, measure: &str| -> Option<f64> {
        let n: usize = site_of.get(subject)?.strip_prefix("S0")?.parse().ok()?;
        let v = match visit {
            "baseline" => 0,
            "M12" => 1,
            _ => return None,
        };
        let id = algorithm.split('@').next()?;
        truth.of(n, v, id, measure)
    };
    let rank = |algorithm: &str, measure: &str| {
        let id = algorithm.split('@').next().unwrap_or_default();
        super::demo_truth::ENDPOINTS
            .iter()
            .position(|(a, m)| *a == id && *m == measure)
    };
    let mut reported: Vec<_> = measurements
        .iter()
        .filter_map(|m| Some((rank(&m.algorithm, &m.name)?, m)))
        .collect();
    reported
        .sort_by(|(ra, a), (rb, b)| (ra, &a.subject, &a.visit).cmp(&(rb, &b.subject, &b.visit)));
    let endpoints: Vec<serde_json::Value> = reported
        .iter()
        .map(|(_, m)| {
            let truth = truth_of(&m.subject, &m.visit, &m.algorithm, &m.name);
            json!({
                "subject": m.subject, "visit": m.visit, "algorithm": m.algorithm,
                "measure": m.name, "value": m.value, "unit": m.unit,
                "truth": truth, "error": truth.map(|t| m.value - t),
            })
        })
        .collect();
    // One hash over every derived output (images and measurements, in a fixed order), so two
    // runs can be compared.
    let mut derived: Vec<String> = jobs
        .iter()
        .filter_map(|j| j.result.as_ref())
        .map(|r| {
            let images: Vec<&str> = r["images"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["sha256"].as_str())
                .collect();
            format!(
                "{} {} {}",
                r["algorithm"],
                images.join(","),
                r["measurements"]
            )
        })
        .collect();
    derived.sort();
    let outputs = derived.join("\n");
    store.checkpoint().await?;
    let report = store.verify_audit().await?;
    let status = store.status().await?;
    let failed = jobs.iter().filter(|j| j.state != "succeeded").count();
    let doc = json!({
        "trial": TRIAL_ID,
        "data": store.installation.dir,
        "phantoms": phantoms,
        "ingest": ingest,
        "qc": {"series": qc.series, "visits": qc.visits, "problems": qc.problems().len()},
        "lock_sha256": lock.sha256(),
        "jobs": {"enqueued": planned.enqueued, "succeeded": jobs.len() - failed, "failed": failed},
        "endpoints": endpoints,
        "audit_ok": report.ok,
        "audit_events": report.events,
        "outputs_sha256": Sha256Digest::of(outputs.as_bytes()).to_hex(),
        "status": status,
    });
    emit(g.json, &doc, |d| {
        let mut t = format!(
            "{}\ningested: {} stored, {} quarantined (an object without a Patient ID)\n\
             QC: series {} pass, {} review, {} fail; visits {} pass, {} review, {} fail (corelab qc {TRIAL_ID})\n\
             jobs: {} succeeded, {} failed (lock {})\nendpoints:",
            status_text(&status),
            ingest["stored"],
            ingest["quarantined"],
            qc.series.pass,
            qc.series.review,
            qc.series.fail,
            qc.visits.pass,
            qc.visits.review,
            qc.visits.fail,
            d["jobs"]["succeeded"],
            d["jobs"]["failed"],
            &lock.sha256()[..12],
        );
        for e in &endpoints {
            t.push_str(&format!(
                "\n  {} {:9} {} {} = {:.4} {} (truth {}, error {})",
                e["subject"].as_str().unwrap_or_default(),
                e["visit"].as_str().unwrap_or_default(),
                e["algorithm"].as_str().unwrap_or_default(),
                e["measure"].as_str().unwrap_or_default(),
                e["value"].as_f64().unwrap_or(f64::NAN),
                e["unit"].as_str().unwrap_or_default(),
                e["truth"]
                    .as_f64()
                    .map_or("-".into(), |t| format!("{t:.4}")),
                e["error"]
                    .as_f64()
                    .map_or("-".into(), |t| format!("{t:+.4}")),
            ));
        }
        t.push_str(&format!(
            "\naudit trail: {} ({} events, {} signed checkpoints)",
            if report.ok { "verified" } else { "BROKEN" },
            report.events,
            report.checkpoints
        ));
        t
    })?;
    let code = if report.ok && failed == 0 {
        0
    } else {
        CHECK_FAILED
    };
    if let Some(addr) = serve {
        // Keep serving the demo installation: what sites would send next is ingested, judged
        // and run as it arrives.
        drop(store);
        let g = Global {
            data: dir.clone(),
            database: g.database.clone(),
            store: g.store.clone(),
            json: g.json,
            actor: g.actor.clone(),
        };
        let args = crate::cli::ServeArgs {
            dicom: Some(addr.to_owned()),
            aet: "CORELAB".into(),
            max_associations: 64,
            idle_timeout: 60,
            max_mib: 2048,
            memory_mib: 4096,
            workers: 2,
            plan_every: 10,
        };
        eprintln!("demo: serving {} (Ctrl-C to stop)", dir.display());
        super::serve::run(&g, &args).await?;
    }
    Ok(code)
}

const TRIAL_ID: &str = "DEMO-MS-001";

/// The brain volume the phantoms' follow-up loses (%), which `neuro.pbvc` measures.
const ATROPHY_PERCENT: f64 = 1.0;

/// Each phantom subject's DICOM files sent by its site (calling AE title `S0nPACS`) over DICOM
/// (C-STORE) to corelab's own storage SCP on loopback, which de-identifies and catalogues them;
/// then one object whose Patient ID was blanked at the site, through the pipeline: it cannot be
/// linked, so it is quarantined.
async fn ingest_phantoms(
    store: &std::sync::Arc<Store>,
    actor: &str,
    phantoms: &Path,
) -> Result<serde_json::Value> {
    use corelab_ingest::{Ingestor, Outcome, Source};
    use corelab_server::dimse::{self, DimseConfig};
    let ingestor = std::sync::Arc::new(Ingestor::new(store.clone(), &format!("{actor}+dimse")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let spool_dir = store.installation.dir.join("spool");
    std::fs::create_dir_all(&spool_dir)?;
    let config = DimseConfig {
        spool_dir,
        ..DimseConfig::default()
    };
    let scp = tokio::spawn(dimse::serve(listener, ingestor.clone(), config));
    let (mut stored, mut quarantined) = (0, 0);
    for (n, site) in ["S01", "S02", "S03"].iter().enumerate() {
        let subject = phantoms.join(format!("MS-{:03}", n + 1));
        let mut files = Vec::new();
        collect(&subject, &mut files)?;
        files.sort();
        let calling = format!("{site}PACS");
        let address = format!("CORELAB@127.0.0.1:{port}");
        let sent = tokio::task::spawn_blocking(move || {
            corelab_server::scu::store_files(&address, &calling, &files)
        })
        .await?
        .map_err(|e| anyhow::anyhow!("demo: C-STORE from {site}: {e}"))?;
        if let Some((file, status, why)) = sent.failed.first() {
            anyhow::bail!("demo: {file} was refused with status {status:#06x}: {why}");
        }
        stored += sent.stored;
    }
    scp.abort();
    let ingestor = Ingestor::new(store.clone(), actor);
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
        trial: TRIAL_ID.into(),
        site: "S02".into(),
        origin: "demo:synthetic S02".into(),
        subject: None,
    };
    if let Outcome::Quarantined { .. } = ingestor.ingest(&source, bytes.into()).await? {
        quarantined += 1;
    }
    Ok(json!({"stored": stored, "quarantined": quarantined}))
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "dcm") {
            out.push(path);
        }
    }
    Ok(())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", std::process::id())
}
