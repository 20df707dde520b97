//! The installation the ingest, DICOMweb and DIMSE targets run against, made once per process: a
//! data directory in a temporary folder (under `TMPDIR`, which `.ci/fuzz` points at memory so
//! the store's fsyncs cost little and a run leaves nothing behind), one trial whose rules touch
//! every de-identification feature (dates shifted, safe private attributes kept, a private block
//! kept, pixel blackout), two catalogued instances for searches to find, and the tokio runtime
//! that drives them.

use bytes::Bytes;
use corelab_core::TrialFile;
use corelab_ingest::{Ingestor, Source};
use corelab_store::{Overrides, Store};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;

/// The trial every object is ingested for.
pub const TRIAL: &str = "FUZZ-1";
/// Its one site.
pub const SITE: &str = "S01";
/// The site's calling AE title.
pub const SITE_AE: &str = "FUZZPACS";

/// The trial file. The blackout rule's modality is one a fuzzer finds quickly in seeds (`US`).
pub const TRIAL_TOML: &str = r#"
[trial]
id = "FUZZ-1"
sponsor = "Fuzz Pharma"
protocol = "FUZZ-PROTOCOL"
phase = "II"

[[sites]]
id = "S01"
name = "Fuzz Hospital"
ae_titles = ["FUZZPACS"]

[ingest]
clinical_trial_routing = true

[deid]
options = ["retain-long-modified-dates", "retain-safe-private", "clean-descriptors"]
subject_id = "{site}-{seq:3}"
keep_private = ["GEMS_PARM_01"]

[[deid.safe_private]]
creator = "ACME MR 1.0"
tag = "(0051,xx10)"

[[deid.blackout]]
modality = "US"
rectangles = [[0, 0, 64, 16], [8, 8, 4, 4]]
"#;

/// One installation with its pipeline.
#[derive(Debug)]
pub struct Lab {
    /// The store.
    pub store: Arc<Store>,
    /// The pipeline writing through it.
    pub ingestor: Ingestor,
    /// The temporary folder holding it (removed by [`discard`]).
    pub dir: PathBuf,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static LAB: OnceLock<Lab> = OnceLock::new();
static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// The runtime the async targets are driven by: one thread; the pipeline's blocking work runs
/// on tokio's blocking pool.
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("fuzz setup: cannot start a tokio runtime: {e}"))
    })
}

/// The process's installation, made on first use. Failing to make it is a broken machine, not
/// a finding: it panics with the reason.
pub fn lab() -> &'static Lab {
    LAB.get_or_init(|| {
        runtime()
            .block_on(create())
            .unwrap_or_else(|e| panic!("fuzz setup: cannot make the installation: {e}"))
    })
}

/// A folder for the targets' own temporary files (the NIfTI reader reads paths), made once.
pub fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("corelab-fuzz-scratch-")
            .tempdir()
            .map(|d| d.keep())
            .unwrap_or_else(|e| panic!("fuzz setup: cannot make a scratch folder: {e}"))
    })
}

/// Where objects come from in the fuzz installation.
pub fn source() -> Source {
    Source {
        trial: TRIAL.into(),
        site: SITE.into(),
        origin: "fuzz".into(),
        subject: None,
    }
}

async fn create() -> Result<Lab, String> {
    let dir = tempfile::Builder::new()
        .prefix("corelab-fuzz-lab-")
        .tempdir()
        .map_err(|e| format!("temporary folder: {e}"))?
        .keep();
    let store = Store::init(&dir.join("lab"), &Overrides::default(), "fuzz:init")
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = TrialFile::parse(TRIAL_TOML).map_err(|e| format!("the fuzz trial: {e}"))?;
    store
        .create_trial("fuzz", &file, TRIAL_TOML)
        .await
        .map_err(|e| format!("creating the fuzz trial: {e}"))?;
    let store = Arc::new(store);
    let ingestor = Ingestor::new(store.clone(), "fuzz:ingest");
    // Two catalogued instances, so that searches match rows and duplicates are met.
    let series = corelab_dicom::synthetic::ct_series("FUZZ-PAT-1", "FUZZ^PATIENT", 1, 2);
    for (i, bytes) in series.into_iter().enumerate() {
        let outcome = ingestor
            .ingest(&source(), Bytes::from(bytes))
            .await
            .map_err(|e| format!("ingesting synthetic instance {i}: {e}"))?;
        if !outcome.is_stored() {
            return Err(format!(
                "synthetic instance {i} was not stored: {outcome:?}"
            ));
        }
    }
    Ok(Lab {
        store,
        ingestor,
        dir,
    })
}

/// Removes the installation's and the scratch folder, if made. For tests, at their end: the
/// store stays open on the removed files until the process exits.
pub fn discard() {
    if let Some(lab) = LAB.get() {
        let _ = std::fs::remove_dir_all(&lab.dir);
    }
    if let Some(dir) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
