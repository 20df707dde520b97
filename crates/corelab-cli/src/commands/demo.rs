//! `corelab demo`: the main job end to end on a fresh installation, for two trials. For each,
//! digital phantoms from three sites and vendors (`corelab phantom`) are sent over DICOM and
//! ingested through the ingest pipeline (de-identified on the way in; in the first trial one
//! deliberately unlinkable object is quarantined), QC judges every series and visit by the
//! trial's protocol, the trial is locked (with its template files), its algorithms run as jobs on
//! two workers on everything that passed, and each endpoint is printed next to the phantoms'
//! truth (`demo_truth`); then the audit trail is signed and verified. The trials: an MS trial
//! (MR: N4 and the neurology endpoints, longitudinal ones against the baseline) and a dementia
//! with Lewy bodies trial (amyloid PET in Centiloid and DaT SPECT binding ratios). Each later part
//! of corelab (other areas' algorithms, reads, export) adds its step here.

use super::{actor, status_text};
use crate::cli::Global;
use crate::exit::CHECK_FAILED;
use crate::output::emit;
use anyhow::{Context, Result};
use corelab_core::{Sha256Digest, TrialFile};
use corelab_image::phantom::{Kind, Options};
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

# Central reads: two independent readers count FLAIR lesions at each time point (new and
# enlarging ones at M12) with the engine's lesions proposed; an adjudicator settles a different
# activity call or counts more than two apart.
[reads]
criteria = "lesion-count"
paradigm = "double"
roles = ["FLAIR"]
randomise = true
readers = ["reader", "reader2"]
adjudicators = ["adjudicator"]
adjudicate = { response_differs = true, count_differs_by = 2 }

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
id = "dl.flair-lesions"
version = "^1.0"
inputs = { flair = "FLAIR" }

[[algorithms]]
id = "neuro.lesion-change"
version = "^1.0"
inputs = { baseline = "FLAIR@baseline", followup = "FLAIR" }

[[algorithms]]
id = "neuro.pbvc"
version = "^1.0"
inputs = { baseline = "T1w@baseline", followup = "T1w" }
"#;

/// The second demo trial: dementia with Lewy bodies, where sponsors image both co-pathologies at
/// screening: amyloid PET (Centiloid) and dopamine-transporter SPECT (striatal binding ratios),
/// each quantified in a template space whose images and regions are files locked with the trial
/// (`corelab phantom neuro-pet` writes them under `templates/`). The sites' nuclear-medicine
/// departments send from their own AE titles.
pub const DEMO_DLB_TRIAL: &str = r#"[trial]
id = "DEMO-DLB-002"
sponsor = "corelab demo"
protocol = "DEMO-2026-02"
phase = "II"
indication = "dementia with Lewy bodies"

[[sites]]
id = "S01"
name = "University Hospital A"
country = "NL"
ae_titles = ["S01NUC"]

[[sites]]
id = "S02"
name = "Clinique du Parc B"
country = "FR"
ae_titles = ["S02NUC"]

[[sites]]
id = "S03"
name = "Regional Medical Center C"
country = "DE"
ae_titles = ["S03NUC"]

# PET needs the patient's weight (SUV): the Retain Patient Characteristics Option keeps it.
[deid]
options = ["retain-long-modified-dates", "clean-descriptors", "retain-patient-characteristics"]

[[visits]]
name = "screening"
day = 0
window_days = 28
required = ["AMYLOID", "DAT"]

[roles.AMYLOID]
description = "static florbetapir brain PET, 50 minutes after injection"
match = { modality = ["PT"], description = ["*amyloid*", "*AV45*"] }
require = { uptake_min = [40, 60], dose_mbq = [300, 420], radiopharmaceutical = ["florbetapir", "amyvid", "AV45"], pixel_spacing_mm = { max = 3 } }

[roles.DAT]
description = "reconstructed [123I]ioflupane SPECT of the brain, 3 to 6 hours after injection"
match = { modality = ["NM"], description = ["*DaT*"], image_type = ["RECON TOMO"] }
require = { radiopharmaceutical = ["ioflupane", "datscan", "FP-CIT"], pixel_spacing_mm = { max = 5 } }

[[algorithms]]
id = "neuro.amyloid-centiloid"
version = "^1.0"
params = { tracer = "florbetapir", threshold = 24.1 }
inputs = { pet = "AMYLOID" }
files = { template = "templates/amyloid-template.nii.gz", target = "templates/cortex.nii.gz", reference = "templates/whole-cerebellum.nii.gz" }

[[algorithms]]
id = "neuro.dat-sbr"
version = "^1.0"
inputs = { spect = "DAT" }
files = { template = "templates/dat-template.nii.gz", left-caudate = "templates/left-caudate.nii.gz", right-caudate = "templates/right-caudate.nii.gz", left-putamen = "templates/left-putamen.nii.gz", right-putamen = "templates/right-putamen.nii.gz", reference = "templates/occipital.nii.gz" }
"#;

/// One of the demo's trials: its file, the phantom that feeds it, and how the phantom's subject
/// and visit folders map onto the trial.
struct DemoTrial {
    id: &'static str,
    file: &'static str,
    kind: Kind,
    options: Options,
    /// The phantom's subject folders are `PREFIX-001`, …; subject n is scanned at site `S0n`.
    prefix: &'static str,
    /// Each site's calling AE title is `S0n` followed by this.
    ae_suffix: &'static str,
    /// The trial's visits, in the phantom's visit order.
    visits: &'static [&'static str],
    /// Whether an unlinkable object is sent too (to show quarantine once).
    quarantine: bool,
}

fn demo_trials() -> [DemoTrial; 2] {
    [
        DemoTrial {
            id: TRIAL_ID,
            file: DEMO_TRIAL,
            kind: Kind::MsLesions,
            options: Options {
                subjects: 3,
                voxel_mm: Some(2.0),
                atrophy_percent: Some(ATROPHY_PERCENT),
                subsamples: 4,
                ..Default::default()
            },
            prefix: "MS",
            ae_suffix: "PACS",
            visits: &["baseline", "M12"],
            quarantine: true,
        },
        DemoTrial {
            id: DLB_TRIAL_ID,
            file: DEMO_DLB_TRIAL,
            kind: Kind::NeuroPet,
            options: Options {
                subjects: 3,
                subsamples: 4,
                ..Default::default()
            },
            prefix: "NP",
            ae_suffix: "NUC",
            visits: &["screening"],
            quarantine: false,
        },
    ]
}

/// What one trial of the demo gave.
struct Section {
    doc: serde_json::Value,
    /// One line per job result (algorithm, image hashes, measurements), for `outputs_sha256`.
    derived: Vec<String>,
    failed: usize,
}

/// What `demo --serve` serves once the demo has run.
pub struct Serving<'a> {
    /// The storage SCP's address.
    pub dicom: &'a str,
    /// The HTTP API's, DICOMweb's and the web UI's address.
    pub http: &'a str,
    /// The built web UI, if not the default.
    pub ui: Option<&'a Path>,
}

/// The demo's logins, one per role, for `--serve`: user name, printed name, grants.
const DEMO_USERS: &[(&str, &str, &[&str])] = &[
    ("admin", "Demo Administrator", &["admin"]),
    (
        "site-s01",
        "Site Coordinator S01",
        &["site@DEMO-MS-001/S01", "site@DEMO-DLB-002/S01"],
    ),
    ("analyst", "Core-lab Analyst", &["qc"]),
    ("reader", "Central Reader", &["reader"]),
    ("reader2", "Second Central Reader", &["reader"]),
    ("adjudicator", "Adjudicator", &["adjudicator"]),
    ("sponsor", "Sponsor Statistician", &["sponsor"]),
    ("auditor", "Auditor", &["auditor"]),
];

/// Makes the demo's logins with fresh random passwords and writes them to
/// `demo-logins.json` in the installation (owner-only), which `--serve` prints the path of.
async fn demo_logins(store: &Store, who: &str, dir: &Path) -> Result<std::path::PathBuf> {
    let mut logins = Vec::new();
    for (username, display_name, grants) in DEMO_USERS {
        let password = corelab_server::http::auth::new_secret().map_err(anyhow::Error::msg)?;
        let hash = {
            let p = password.clone();
            tokio::task::spawn_blocking(move || corelab_server::http::auth::hash_password(&p))
                .await?
                .map_err(anyhow::Error::msg)?
        };
        let grants = grants
            .iter()
            .map(|g| corelab_core::Grant::parse(g))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        store
            .add_user(
                who,
                &corelab_store::NewUser {
                    username,
                    display_name,
                    password_hash: &hash,
                    grants: &grants,
                },
            )
            .await?;
        logins.push(json!({
            "username": username, "password": password, "display_name": display_name,
            "grants": grants.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
        }));
    }
    let path = dir.join("demo-logins.json");
    super::user::write_secret(&path, &serde_json::to_string_pretty(&logins)?)?;
    Ok(path)
}

pub async fn run(g: &Global, out: Option<&Path>, serve: Option<Serving<'_>>) -> Result<u8> {
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
    let store = std::sync::Arc::new(store);
    let mut sections = Vec::new();
    for t in demo_trials() {
        sections.push(run_trial(&store, &who, &dir, &t).await?);
    }
    // One login per role; the MS trial's read design names the readers and the adjudicator,
    // whose worklists are made now that its subjects passed QC.
    let logins = demo_logins(&store, &who, &dir).await?;
    for s in &mut sections {
        let id = s.doc["trial"].as_str().unwrap_or_default().to_owned();
        if corelab_engine::reads::design(&store, &id).await.is_ok() {
            let p = corelab_engine::reads::plan(&store, &who, &id).await?;
            s.doc["reads"] =
                json!({"tasks": p.created.len(), "subjects": p.subjects, "not_ready": p.not_ready});
        }
    }
    let oncology = super::demo_onco::run(&dir).with_context(|| "demo: the oncology chain")?;
    let neuro_oncology =
        super::demo_rano::run(&dir).with_context(|| "demo: the neuro-oncology chain")?;
    let mut pet = super::demo_onco::pet().with_context(|| "demo: PET")?;
    pet["percist"] = super::demo_onco::percist().with_context(|| "demo: PERCIST")?;
    let cardiac = super::demo_onco::cardiac().with_context(|| "demo: cardiac")?;
    eprintln!("demo: exports (endpoint datasets, SDTM, DICOM SEG and SR, PDF reports)");
    let trial_ids: Vec<String> = sections
        .iter()
        .filter_map(|s| s.doc["trial"].as_str().map(str::to_owned))
        .collect();
    let exports =
        super::demo_exports::run(&store, &who, &dir, &trial_ids, &oncology, &neuro_oncology)
            .await
            .with_context(|| "demo: exports")?;
    let mut derived: Vec<String> = sections.iter().flat_map(|s| s.derived.clone()).collect();
    derived.sort();
    let outputs = derived.join("\n");
    store.checkpoint().await?;
    let report = store.verify_audit().await?;
    let status = store.status().await?;
    let failed: usize = sections.iter().map(|s| s.failed).sum();
    let doc = json!({
        "data": store.installation.dir,
        "trials": sections.iter().map(|s| s.doc.clone()).collect::<Vec<_>>(),
        "oncology": oncology,
        "neuro_oncology": neuro_oncology,
        "pet": pet,
        "cardiac": cardiac,
        "exports": exports,
        "audit_ok": report.ok,
        "audit_events": report.events,
        "outputs_sha256": Sha256Digest::of(outputs.as_bytes()).to_hex(),
        "status": status,
    });
    emit(g.json, &doc, |d| {
        let mut t = status_text(&status);
        for s in d["trials"].as_array().into_iter().flatten() {
            t.push_str(&trial_text(s));
        }
        t.push_str(&super::demo_onco::text(&d["oncology"]));
        t.push_str(&super::demo_rano::text(&d["neuro_oncology"]));
        t.push_str(&super::demo_onco::text_pet_cardiac(
            &d["pet"],
            &d["cardiac"],
        ));
        t.push_str(&format!(
            "\n\nexports (endpoint datasets, SDTM with XPT and define.xml, DICOM SEG and SR, PDF reports): {}",
            d["exports"]["folder"].as_str().unwrap_or_default()
        ));
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
    if let Some(serving) = serve {
        // Keep serving the demo installation: what sites would send next is ingested, judged
        // and run as it arrives; the web UI shows it, with one login per role.
        eprintln!(
            "demo: logins for each role (admin, site-s01, analyst, reader, reader2, adjudicator, sponsor, auditor) in {}",
            logins.display()
        );
        drop(store);
        let g = Global {
            data: dir.clone(),
            database: g.database.clone(),
            store: g.store.clone(),
            json: g.json,
            actor: g.actor.clone(),
        };
        let args = crate::cli::ServeArgs {
            http: Some(serving.http.to_owned()),
            ui: serving.ui.map(Path::to_owned),
            tls_cert: None,
            tls_key: None,
            dicom: Some(serving.dicom.to_owned()),
            aet: "CORELAB".into(),
            max_associations: 64,
            idle_timeout: 60,
            max_mib: 2048,
            memory_mib: 4096,
            workers: 2,
            plan_every: 10,
            lease_secs: 60,
        };
        eprintln!("demo: serving {} (Ctrl-C to stop)", dir.display());
        super::serve::run(&g, &args).await?;
    }
    Ok(code)
}

/// One trial end to end: created, fed with its phantom over DIMSE, judged, locked (with its file
/// inputs), run on two workers, and its endpoints set next to the phantom's truth.
async fn run_trial(
    store: &std::sync::Arc<Store>,
    who: &str,
    dir: &Path,
    t: &DemoTrial,
) -> Result<Section> {
    let trial = TrialFile::parse(t.file).with_context(|| format!("demo trial file {}", t.id))?;
    store.create_trial(who, &trial, t.file).await?;
    eprintln!(
        "demo {}: writing the {} phantoms of three sites",
        t.id,
        t.kind.name()
    );
    let phantoms = dir.join(format!("phantoms-{}", t.kind.name()));
    corelab_dicom::phantom::write(t.kind, &t.options, &phantoms, &mut |_, _, _| {})?;
    eprintln!(
        "demo {}: sending them over DICOM, de-identified on the way in",
        t.id
    );
    let ingest = ingest_phantoms(store, who, t, &phantoms).await?;
    eprintln!("demo {}: QC, lock, jobs", t.id);
    let (qc, _) = corelab_engine::evaluate::evaluate(store, t.id, who, &mut |_, _| {}).await?;
    // The trial's file inputs (templates, regions) are read from the phantom's folder, kept in
    // the blob store and locked by their hashes.
    let files = corelab_engine::files::lock_files(store, &trial, &phantoms)
        .await
        .map_err(|e| anyhow::anyhow!("demo {}: {e}", t.id))?;
    let lock = corelab_algo::lock::resolve(
        t.id,
        &trial.algorithms,
        &corelab_algo::Registry::builtin(),
        &files,
    )?;
    store
        .record_lock(who, t.id, &lock.canonical(), &lock.sha256(), None)
        .await?;
    let planned = corelab_engine::runner::plan_run(store, t.id, who).await?;
    let mut workers = Vec::new();
    for n in 0..2 {
        let store = store.clone();
        let o = corelab_engine::worker::WorkerOptions::new(&format!("demo-worker-{n}"), Some(t.id));
        workers.push(tokio::spawn(async move {
            super::run::drain(&store, &o, &|| {}).await
        }));
    }
    for w in workers {
        w.await??;
    }
    let jobs = store.jobs(t.id).await?;
    let measurements = store.measurements(t.id).await?;
    // Each subject's site names its phantom subject (S0n scanned PREFIX-00n), each visit the
    // phantom's visit in order.
    let site_of: std::collections::BTreeMap<String, String> = store
        .trial_series(t.id)
        .await?
        .into_iter()
        .map(|s| (s.subject, s.site))
        .collect();
    let truth = super::demo_truth::Truth::read(&phantoms)?;
    let truth_of = |subject: &str, visit: &str, algorithm: &str, measure: &str| -> Option<f64> {
        let n: usize = site_of.get(subject)?.strip_prefix("S0")?.parse().ok()?;
        let v = t.visits.iter().position(|name| *name == visit)?;
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
    // Every derived output (images and measurements), so two runs can be compared.
    let derived: Vec<String> = jobs
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
    let failed = jobs.iter().filter(|j| j.state != "succeeded").count();
    Ok(Section {
        doc: json!({
            "trial": t.id,
            "indication": trial.trial.indication,
            "phantoms": phantoms,
            "ingest": ingest,
            "qc": {"series": qc.series, "visits": qc.visits, "problems": qc.problems().len()},
            "lock_sha256": lock.sha256(),
            "jobs": {"enqueued": planned.enqueued, "succeeded": jobs.len() - failed, "failed": failed},
            "endpoints": endpoints,
            "reads": null,
        }),
        derived,
        failed,
    })
}

/// A trial's part of the human-readable report.
fn trial_text(d: &serde_json::Value) -> String {
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_default();
    let trial = d["trial"].as_str().unwrap_or_default();
    let mut t = format!(
        "\n\n{trial} ({})\ningested: {} stored, {} quarantined (an object without a Patient ID)\n\
         QC: series {} pass, {} review, {} fail; visits {} pass, {} review, {} fail (corelab qc {trial})\n\
         jobs: {} succeeded, {} failed (lock {})\nendpoints:",
        d["indication"].as_str().unwrap_or_default(),
        n(&d["ingest"]["stored"]),
        n(&d["ingest"]["quarantined"]),
        n(&d["qc"]["series"]["pass"]),
        n(&d["qc"]["series"]["review"]),
        n(&d["qc"]["series"]["fail"]),
        n(&d["qc"]["visits"]["pass"]),
        n(&d["qc"]["visits"]["review"]),
        n(&d["qc"]["visits"]["fail"]),
        n(&d["jobs"]["succeeded"]),
        n(&d["jobs"]["failed"]),
        d["lock_sha256"]
            .as_str()
            .unwrap_or_default()
            .get(..12)
            .unwrap_or_default(),
    );
    for e in d["endpoints"].as_array().into_iter().flatten() {
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
    if d["reads"].is_object() {
        t.push_str(&format!(
            "\ncentral reads: {} tasks for {} subjects in the readers' worklists (corelab reads list {trial})",
            n(&d["reads"]["tasks"]),
            d["reads"]["subjects"].as_array().map_or(0, Vec::len),
        ));
    }
    t
}

const TRIAL_ID: &str = "DEMO-MS-001";
const DLB_TRIAL_ID: &str = "DEMO-DLB-002";

/// The brain volume the phantoms' follow-up loses (%), which `neuro.pbvc` measures.
const ATROPHY_PERCENT: f64 = 1.0;

/// Each phantom subject's DICOM files sent by its site (calling AE title `S0n` + the trial's
/// suffix) over DICOM (C-STORE) to corelab's own storage SCP on loopback, which de-identifies
/// and catalogues them; then, for the trial that shows it, one object whose Patient ID was
/// blanked at the site, through the pipeline: it cannot be linked, so it is quarantined.
async fn ingest_phantoms(
    store: &std::sync::Arc<Store>,
    actor: &str,
    t: &DemoTrial,
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
        let subject = phantoms.join(format!("{}-{:03}", t.prefix, n + 1));
        let mut files = Vec::new();
        collect(&subject, &mut files)?;
        files.sort();
        let calling = format!("{site}{}", t.ae_suffix);
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
    if t.quarantine {
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
            trial: t.id.into(),
            site: "S02".into(),
            origin: "demo:synthetic S02".into(),
            subject: None,
        };
        if let Outcome::Quarantined { .. } = ingestor.ingest(&source, bytes.into()).await? {
            quarantined += 1;
        }
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
