//! De-identifying DICOM files: read, transform, and write to a temporary file that is fsynced and
//! renamed into place, so an output is complete or absent, never half-written. The file meta group
//! is rebuilt from the new data set (Media Storage SOP Instance UID follows the replaced SOP
//! Instance UID); the transfer syntax is kept, and encapsulated pixel data is copied as received.
//! Files that hold a bare data set without a file meta group are read too, and written as Part 10.

use super::engine::{DeidOutcome, Deidentifier};
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{InMemDicomObject, OpenFileOptions};
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
    let (dataset, transfer_syntax) = read_dicom(input)?;
    let (clean, outcome) = d.deidentify(&dataset);
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

/// Reads a DICOM file: Part 10 (with or without the preamble), or a bare data set without a file
/// meta group. Returns the data set and its transfer syntax UID.
pub fn read_dicom(input: &Path) -> Result<(InMemDicomObject, String), FileError> {
    let read_err = |why: String| FileError::Read {
        path: input.display().to_string(),
        why,
    };
    // Part 10 files; files without the 128-byte preamble are accepted too (the parser detects it).
    let (dataset, transfer_syntax) = match OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .open_file(input)
    {
        Ok(file) => {
            let ts = file.meta().transfer_syntax().to_owned();
            (file.into_inner(), ts)
        }
        // Files written without a file meta group (ACR-NEMA style, or raw data sets): read the
        // data set directly when it looks like one, else report the Part 10 parser's reason.
        Err(e) => read_bare_dataset(input).ok_or_else(|| read_err(error_chain(&e)))?,
    };
    Ok((dataset, transfer_syntax))
}

/// Reads a file that holds a bare data set (no preamble, no file meta group), in the transfer
/// syntax its first bytes show: explicit VR when bytes 4–5 are a VR's two letters, big endian
/// when the first group number reads so. Only data sets that start with group 0008, as such files
/// do, and that carry SOP Class and SOP Instance UIDs are accepted.
fn read_bare_dataset(input: &Path) -> Option<(InMemDicomObject, String)> {
    use dicom_encoding::TransferSyntaxIndex;
    let bytes = std::fs::read(input).ok()?;
    let head = bytes.get(..8)?;
    let little = head[0] == 0x08 && head[1] == 0x00;
    let big = head[0] == 0x00 && head[1] == 0x08;
    if !little && !big {
        return None;
    }
    let explicit = head[4].is_ascii_uppercase() && head[5].is_ascii_uppercase();
    let uid = match (explicit, big) {
        (false, false) => "1.2.840.10008.1.2",
        (true, false) => "1.2.840.10008.1.2.1",
        (true, true) => "1.2.840.10008.1.2.2",
        (false, true) => return None, // implicit VR big endian does not exist
    };
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(uid)?;
    let obj = InMemDicomObject::read_dataset_with_ts(std::io::Cursor::new(&bytes), ts).ok()?;
    let has = |tag| obj.element_opt(tag).ok().flatten().is_some();
    (has(tags::SOP_CLASS_UID) && has(tags::SOP_INSTANCE_UID)).then(|| (obj, uid.to_owned()))
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
