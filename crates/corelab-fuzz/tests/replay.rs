//! The fuzz targets on stable Rust: every saved crash (`fuzz/regressions/<target>/`) and every
//! committed seed (`fuzz/seeds/<target>/`) is run through the same function the fuzzer runs, so a
//! regression fails `cargo nextest run`; and the seeds corelab generates must get all the way
//! through, so a harness that stops early (a broken installation, a wrong input layout) is
//! noticed before hours of fuzzing nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

// As in the fuzz binaries: any one allocation is compared with the input's cap.
#[global_allocator]
static ALLOC: corelab_fuzz::alloc::Capped = corelab_fuzz::alloc::Capped;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files under `fuzz/<kind>/<target>/`, sorted (none if the folder is absent).
fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| p.file_name().is_some_and(|n| n != ".gitkeep"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs every saved input of `target`; fails naming each one that panicked.
fn replay(target: &str) {
    let mut failed = Vec::new();
    let mut ran = 0;
    for kind in ["regressions", "seeds"] {
        for path in files(kind, target) {
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| corelab_fuzz::run(target, &bytes))).is_err() {
                failed.push(format!("{}: panicked", path.display()));
            }
            let (largest, cap) = (
                corelab_fuzz::alloc::largest(),
                corelab_fuzz::alloc::cap_for(bytes.len()),
            );
            if largest > cap {
                failed.push(format!(
                    "{}: one allocation of {largest} bytes (cap {cap})",
                    path.display()
                ));
            }
        }
    }
    corelab_fuzz::lab::discard();
    eprintln!("{target}: {ran} saved inputs replayed");
    assert!(
        failed.is_empty(),
        "{target}: these inputs fail: {failed:#?}"
    );
}

/// Every generated seed of `target` gets all the way through.
fn generated_seeds_pass(target: &str) {
    let seeds = corelab_fuzz::seeds::generated(target);
    assert!(!seeds.is_empty(), "{target}: no generated seeds");
    for s in &seeds {
        assert_eq!(
            corelab_fuzz::run(target, &s.bytes),
            Some(true),
            "{target}: seed {} did not get through",
            s.name
        );
    }
    corelab_fuzz::lab::discard();
}

#[test]
fn dicom_ingest_regressions_and_seeds() {
    replay("dicom_ingest");
}

#[test]
fn deid_regressions_and_seeds() {
    replay("deid");
}

#[test]
fn nifti_regressions_and_seeds() {
    replay("nifti");
}

#[test]
fn trial_toml_regressions_and_seeds() {
    replay("trial_toml");
}

#[test]
fn dicomweb_query_regressions_and_seeds() {
    replay("dicomweb_query");
}

#[test]
fn dimse_pdu_regressions_and_seeds() {
    replay("dimse_pdu");
}

#[test]
fn generated_dicom_objects_are_stored_and_deidentified_without_planted_phi() {
    generated_seeds_pass("dicom_ingest");
    generated_seeds_pass("deid");
}

#[test]
fn generated_volumes_are_read() {
    generated_seeds_pass("nifti");
}

#[test]
fn generated_pdus_are_decoded_and_handled() {
    generated_seeds_pass("dimse_pdu");
}

#[test]
fn committed_queries_and_trial_files_get_through() {
    for target in ["dicomweb_query", "trial_toml"] {
        let seeds = files("seeds", target);
        assert!(!seeds.is_empty(), "{target}: no committed seeds");
        for path in seeds {
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                corelab_fuzz::run(target, &bytes),
                Some(true),
                "{}: did not get through",
                path.display()
            );
        }
    }
    corelab_fuzz::lab::discard();
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for target in corelab_fuzz::TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.contains(&format!("corelab_fuzz::{target}(")),
            "{} does not call corelab_fuzz::{target}",
            path.display()
        );
    }
}
