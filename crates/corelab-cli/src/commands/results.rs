//! `corelab results`: a trial's endpoint dataset, written and audited.

use super::open;
use super::register::write_atomically;
use crate::cli::{Global, ResultsArgs, ResultsFormat};
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_core::Sha256Digest;
use corelab_export::endpoints::{self, Format};
use corelab_store::NewEvent;
use serde_json::json;
use std::path::{Path, PathBuf};

fn format_of(f: ResultsFormat) -> Format {
    match f {
        ResultsFormat::Csv => Format::Csv,
        ResultsFormat::Json => Format::Json,
        ResultsFormat::Parquet => Format::Parquet,
    }
}

/// `NAME.EXT` → `NAME.dictionary.csv` beside it.
pub(super) fn dictionary_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "endpoints".into());
    out.with_file_name(format!("{stem}.dictionary.csv"))
}

/// What one export wrote.
pub(super) struct Written {
    /// Rows.
    pub rows: usize,
    /// SHA-256 of the dataset file.
    pub sha256: String,
}

/// Writes `trial`'s endpoint dataset in `format` to `out` and its dictionary beside it, and
/// records the export in the audit trail (`results.export`: format, rows, the file's SHA-256).
pub(super) async fn export(
    store: &corelab_store::Store,
    actor: &str,
    trial: &str,
    format: Format,
    out: &Path,
) -> Result<Written> {
    let rows = corelab_engine::results::endpoints(store, trial).await?;
    let bytes = endpoints::encode(format, trial, &rows)?;
    write_atomically(out, &bytes)?;
    write_atomically(
        &dictionary_path(out),
        endpoints::dictionary_csv().as_bytes(),
    )?;
    let sha256 = Sha256Digest::of(&bytes).to_hex();
    let mut tx = store.begin(actor).await?;
    let mut ev = NewEvent::new("results.export", "trial", trial);
    ev.details = json!({"format": format!("{format:?}").to_lowercase(), "rows": rows.len(), "sha256": sha256});
    tx.record(ev).await?;
    tx.commit().await?;
    Ok(Written {
        rows: rows.len(),
        sha256,
    })
}

/// `corelab results TRIAL [--format F] [--out PATH]`.
pub async fn run(g: &Global, a: &ResultsArgs) -> Result<u8> {
    let store = open(g).await?;
    let format = format_of(a.format);
    let Some(out) = &a.out else {
        if format == Format::Parquet {
            bail!("--format parquet writes a file: name it with --out PATH");
        }
        let rows = corelab_engine::results::endpoints(&store, &a.trial).await?;
        let bytes = endpoints::encode(format, &a.trial, &rows)?;
        use std::io::Write;
        std::io::stdout()
            .write_all(&bytes)
            .context("writing to standard output")?;
        return Ok(0);
    };
    let written = export(&store, &super::actor(g), &a.trial, format, out).await?;
    let doc = json!({
        "trial": a.trial, "format": format!("{format:?}").to_lowercase(), "rows": written.rows,
        "path": out, "dictionary": dictionary_path(out), "sha256": written.sha256,
    });
    emit(g.json, &doc, |d| {
        format!(
            "{} rows of trial {} written to {} (dictionary: {})",
            d["rows"],
            a.trial,
            out.display(),
            dictionary_path(out).display()
        )
    })?;
    Ok(0)
}
