//! `corelab`: the command-line program. It parses arguments, calls the library crates, and prints
//! text or exactly one JSON document; no domain logic lives here.

mod cli;
mod commands;
mod output;

use clap::Parser;

/// mimalloc instead of the system allocator: pixel buffers of a few hundred KB are allocated and
/// freed per object, and glibc serves each with mmap/munmap and fresh page faults; measured on the
/// de-identification benchmark, system time fell by half (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

/// Exit statuses of DESIGN.md's command-line contract.
pub mod exit {
    /// A check found a problem (audit broken, QC failed, PHI left).
    pub const CHECK_FAILED: u8 = 3;
    /// An error.
    pub const ERROR: u8 = 1;
}

fn main() -> ExitCode {
    let args = cli::Cli::parse(); // usage errors exit 2 (clap)
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// `tracing` logs on stderr; `CORELAB_LOG` (or `RUST_LOG`) sets the filter, default `warn`.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CORELAB_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
