//! The bodies of corelab's fuzz targets, their seed corpora, and what replays saved crashes.
//!
//! Each target is a `pub fn (&[u8]) -> bool`: it runs one of corelab's input paths on arbitrary
//! bytes and returns whether the input got all the way through (the fuzzer ignores it; tests use
//! it to check that valid seeds reach the end, so a harness that stops early is noticed). A panic
//! is a finding: corelab, or a crate under it, panicked on input (DESIGN.md: no panics on
//! input), or a property asserted here failed. `fuzz/fuzz_targets/` wraps each in libFuzzer's
//! `fuzz_target!`; `tests/replay.rs` runs `fuzz/regressions/` and `fuzz/seeds/` through them on
//! stable Rust. Both run under [`alloc::Capped`], which holds any one allocation to a size in
//! proportion to the input. `fuzz/README.md` says how to run, minimise and keep a crash.

pub mod alloc;
pub mod lab;
pub mod pdu;
pub mod phi;
pub mod seeds;

use bytes::Bytes;
use corelab_core::{SubjectIdRule, TrialFile, TrialSecret};
use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{Deidentifier, PrivatePolicy, SafePrivateList};
use corelab_ingest::{IngestError, Outcome};
use corelab_store::dicomweb::Within;
use corelab_store::dicomweb::query::Query;
use std::sync::Arc;

/// The targets, by name (the names of `fuzz/fuzz_targets/*.rs` and of the corpus folders).
pub const TARGETS: [&str; 6] = [
    "dicom_ingest",
    "deid",
    "nifti",
    "trial_toml",
    "dicomweb_query",
    "dimse_pdu",
];

/// Runs target `name` on `data`; `None` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> Option<bool> {
    Some(match name {
        "dicom_ingest" => dicom_ingest(data),
        "deid" => deid(data),
        "nifti" => nifti(data),
        "trial_toml" => trial_toml(data),
        "dicomweb_query" => dicomweb_query(data),
        "dimse_pdu" => dimse_pdu(data),
        _ => return None,
    })
}

/// The first byte that sends a `dicom_ingest` input the routed way.
pub const ROUTED: u8 = b'R';

/// DICOM parsing (`corelab_dicom::read::read_bytes`), then the whole ingest pipeline on the same
/// bytes (parse, checks, subject, de-identification, blob store, catalogue, or quarantine), as
/// import, C-STORE and STOW-RS run it. Inputs whose first byte is `R` (in a Part 10 file, the
/// preamble, which readers ignore) take the route by Clinical Trial attributes (`ingest_routed`),
/// the others the site's (`ingest`).
///
/// Property: no panic; an object quarantined, skipped or refused says why; a failed pipeline
/// worker (a panic caught by tokio's blocking pool, which the fuzzer's own panic hook would have
/// reported already) is a finding. A store error is not.
pub fn dicom_ingest(data: &[u8]) -> bool {
    alloc::arm(data.len());
    let _ = corelab_dicom::read::read_bytes(data);
    let lab = lab::lab();
    let bytes = Bytes::copy_from_slice(data);
    let routes = [(lab::TRIAL.to_owned(), lab::SITE.to_owned())];
    let outcome = lab::runtime().block_on(async {
        if data.first() == Some(&ROUTED) {
            lab.ingestor
                .ingest_routed(&routes, "fuzz:routed", bytes)
                .await
        } else {
            lab.ingestor.ingest(&lab::source(), bytes).await
        }
    });
    match outcome {
        Ok(
            Outcome::Quarantined { reason, .. }
            | Outcome::Skipped { reason }
            | Outcome::Refused { reason },
        ) => {
            assert!(
                !reason.trim().is_empty(),
                "an object was held back without a reason"
            );
            false
        }
        Ok(stored) => stored.is_stored(),
        Err(IngestError::Internal(why)) => panic!("an ingest worker failed: {why}"),
        Err(IngestError::Store(_)) => false,
    }
}

/// De-identification with planted PHI; see [`phi`].
pub fn deid(data: &[u8]) -> bool {
    alloc::arm(data.len());
    phi::run(data)
}

/// NIfTI reading (`corelab_image::nifti_io::read`: NIfTI-1 through the `nifti` crate, NIfTI-2
/// by corelab's own reader, either gzip-compressed). The reader takes a path, so the bytes are
/// written to a scratch file first, named `.nii.gz` when they start with gzip's magic (the
/// `nifti` crate decides by the name).
///
/// Property: no panic; a volume read has as many voxels as its geometry says.
pub fn nifti(data: &[u8]) -> bool {
    alloc::arm(data.len());
    let name = if data.starts_with(&[0x1f, 0x8b]) {
        "input.nii.gz"
    } else {
        "input.nii"
    };
    let path = lab::scratch().join(name);
    if let Err(e) = std::fs::write(&path, data) {
        panic!("fuzz setup: cannot write {}: {e}", path.display());
    }
    let read = corelab_image::nifti_io::read(&path);
    let Ok(volume) = read else {
        return false;
    };
    let [i, j, k] = volume.geometry.dims;
    assert_eq!(
        volume.data.dim(),
        (i, j, k),
        "a NIfTI volume whose voxels do not match its geometry"
    );
    true
}

/// `trial.toml`: parsing and every check (`TrialFile::parse`, `protocol/check.rs`), the error's
/// text with its lines and columns, and, for a file that passes, what ingest builds from it (the
/// de-identifier with the trial's options, private rules and blackout; subject IDs from its
/// rule), and the file written back as TOML.
///
/// Property: no panic.
pub fn trial_toml(data: &[u8]) -> bool {
    alloc::arm(data.len());
    let text = String::from_utf8_lossy(data);
    let file = match TrialFile::parse(&text) {
        Ok(f) => f,
        Err(e) => {
            let _ = e.to_string();
            return false;
        }
    };
    let _ = toml::to_string(&file);
    let _ = file.role_names().count();
    let _ = file.baseline().map(|v| v.window());
    let options: Result<Vec<ProfileOption>, _> = file
        .deid
        .options
        .iter()
        .filter(|o| !o.trim().is_empty())
        .map(|o| o.trim().parse::<ProfileOption>())
        .collect();
    let secret = TrialSecret::from_bytes([3; 32]);
    if let Ok(options) = options
        && let Ok(d) = Deidentifier::new(options, secret.clone(), -3650..=-365)
    {
        let d = d
            .with_private(PrivatePolicy {
                safe: Arc::new(SafePrivateList::with_additions(&file.deid.safe_private)),
                keep: file.deid.keep_private.iter().cloned().collect(),
                ..PrivatePolicy::default()
            })
            .with_blackout(file.deid.blackout.clone());
        let _ = d.pseudonym("PATIENT-1");
    }
    let rule: SubjectIdRule = file.deid.subject_id.clone().unwrap_or_default();
    for site in &file.sites {
        let _ = rule.render(&secret, site.id.as_str(), 1, "PATIENT-1");
    }
    true
}

/// The DICOMweb QIDO-RS query string parser (`corelab_store::dicomweb::query`, which
/// corelab-server's `http/dicomweb/qido.rs` calls), then the searches the parsed keys make of the catalogue at the
/// study, series and instance levels (`corelab_store::dicomweb`, SQL with bound values), on the
/// fuzz installation with two catalogued instances, limited to one site as a site user is.
///
/// Property: no panic; the page is within 1–1000 rows from offset 0 or more; a search of a
/// parsed query does not fail (a store error would be a server error for a client's query).
pub fn dicomweb_query(data: &[u8]) -> bool {
    alloc::arm(data.len());
    let raw = String::from_utf8_lossy(data);
    let Ok(query) = Query::parse(Some(&raw)) else {
        return false;
    };
    let (limit, offset) = (query.limit, query.offset);
    assert!(
        (1..=1000).contains(&limit) && offset >= 0,
        "a query page out of bounds: limit {limit}, offset {offset}"
    );
    let (study, series, instance) = (&query.study, &query.series, &query.instance);
    let within = Within {
        trial: lab::TRIAL.to_owned(),
        sites: (data.len() % 2 == 1).then(|| vec![lab::SITE.to_owned()]),
        limit,
        offset,
    };
    let store = &lab::lab().store;
    lab::runtime().block_on(async {
        if let Err(e) = store.search_studies(&within, study).await {
            panic!("a study search failed for query {raw:?}: {e}");
        }
        if let Err(e) = store.search_series(&within, study, series).await {
            panic!("a series search failed for query {raw:?}: {e}");
        }
        if let Err(e) = store
            .search_instances(&within, study, series, instance)
            .await
        {
            panic!("an instance search failed for query {raw:?}: {e}");
        }
    });
    true
}

/// The DIMSE upper layer: PDUs decoded and handled as the storage SCP does; see [`pdu`].
pub fn dimse_pdu(data: &[u8]) -> bool {
    alloc::arm(data.len());
    pdu::run(data)
}
