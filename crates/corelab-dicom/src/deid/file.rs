//! De-identifying DICOM files: read, transform, and write to a temporary file that is fsynced and
//! renamed into place, so an output is complete or absent, never half-written. The file meta group
//! is rebuilt from the new data set (Media Storage SOP Instance UID follows the replaced SOP
//! Instance UID); the transfer syntax is kept, and encapsulated pixel data is copied as received.

use super::engine::{DeidOutcome, Deidentifier};
use dicom_object::OpenFileOptions;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::FileMetaTableBuilder;
use std::io::Write;
use std::path::Path;

/// A file that could not be de-identified, with why. Nothing was written for it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not readable as DICOM (not DICOM, truncated, malformed elements).
    #[error("{path}: not readable as DICOM: {why}")]
    Read {
        /// The input file.
        path: String,
        /// The parser's reason.
        why: String,
    },
    /// The de-identified object could not be written.
    #[error("{path}: cannot write: {why}")]
    Write {
        /// The output file.
        path: String,
        /// Why.
        why: String,
    },
}

/// De-identifies `input` into `output` (its folder must exist).
pub fn deidentify_file(
    d: &Deidentifier,
    input: &Path,
    output: &Path,
) -> Result<DeidOutcome, FileError> {
    let read_err = |why: String| FileError::Read {
        path: input.display().to_string(),
        why,
    };
    // Part 10 files; files without the 128-byte preamble are accepted too (the parser detects it).
    let file = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .open_file(input)
        .map_err(|e| read_err(error_chain(&e)))?;
    let transfer_syntax = file.meta().transfer_syntax().to_owned();
    let (clean, outcome) = d.deidentify(&file);
    let write_err = |why: String| FileError::Write {
        path: output.display().to_string(),
        why,
    };
    let with_meta = clean
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(transfer_syntax))
        .map_err(|e| write_err(format!("file meta group: {}", error_chain(&e))))?;
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = output.with_file_name(format!(".{name}.corelab-tmp-{}", std::process::id()));
    let written = (|| -> Result<(), String> {
        let mut bytes = Vec::new();
        with_meta
            .write_all(&mut bytes)
            .map_err(|e| error_chain(&e))?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, output).map_err(|e| e.to_string())
    })();
    if let Err(why) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(why));
    }
    Ok(outcome)
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s.replace('\n', " ")
}
