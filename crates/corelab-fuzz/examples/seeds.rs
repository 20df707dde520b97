//! Writes the seed corpora of every fuzz target to `OUT/<target>/` (default `fuzz/corpus`).
//! Usage: `cargo run -p corelab-fuzz --example seeds -- [OUT] [SHARED_DATA]`; SHARED_DATA
//! defaults to `../shared/data` beside the repository and is skipped when absent.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args = std::env::args_os().skip(1);
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("fuzz/corpus"));
    let shared = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("../shared/data"));
    let shared = shared.is_dir().then_some(shared);
    if shared.is_none() {
        eprintln!("no shared data folder: seeds from the conformance corpus left out");
    }
    match corelab_fuzz::seeds::write_corpora(&out, &repo, shared.as_deref()) {
        Ok(counts) => {
            for (target, n) in counts {
                println!("{target}: {n} seeds in {}", out.join(target).display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writing the seed corpora: {e}");
            ExitCode::FAILURE
        }
    }
}
