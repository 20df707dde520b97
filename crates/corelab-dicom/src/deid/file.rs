//! De-identifying DICOM files: read, transform, and write to a temporary file that is fsynced and
//! renamed into place, so an output is complete or absent, never half-written. The file meta group
//! is rebuilt from the new data set (Media Storage SOP Instance UID follows the replaced SOP
//! Instance UID); the transfer syntax is kept, and encapsulated pixel data is copied as received.
//! Files that hold a bare data set without a file meta group are read too, and written as Part 10.

use super::engine::{DeidOutcome, Deidentifier};
use crate::read::error_chain;
use dicom_object::InMemDicomObject;
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
    /// Readable, but its de-identification cannot be guaranteed (see [`crate::deid::Refusal`]).
    #[error("{path}: refused: {why}")]
    Refused {
        /// The input file.
        path: String,
        /// Why.
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
    let (dataset, transfer_syntax, notes) = read_dicom_noted(input)?;
    let (clean, mut outcome) = d.deidentify(&dataset).map_err(|r| FileError::Refused {
        path: input.display().to_string(),
        why: r.to_string(),
    })?;
    outcome.removed_unread = notes;
    let write_err = |why: String| FileError::Write {
        path: output.display().to_string(),
        why,
    };
    let bytes = encode_part10(clean, &transfer_syntax).map_err(write_err)?;
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = output.with_file_name(format!(".{name}.corelab-tmp-{}", std::process::id()));
    let written = (|| -> Result<(), String> {
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

/// A data set as Part 10 bytes (preamble, file meta group rebuilt from the data set, data set in
/// `transfer_syntax`; encapsulated pixel data is copied as it is).
pub fn encode_part10(
    mut dataset: InMemDicomObject,
    transfer_syntax: &str,
) -> Result<Vec<u8>, String> {
    pixels_as_bytes(&mut dataset, transfer_syntax);
    let with_meta = dataset
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(transfer_syntax))
        .map_err(|e| format!("file meta group: {}", error_chain(&e)))?;
    let mut bytes = Vec::new();
    with_meta
        .write_all(&mut bytes)
        .map_err(|e| error_chain(&e))?;
    Ok(bytes)
}

/// Native pixel data held as 16-bit words is handed to the writer as its little-endian bytes:
/// dicom-rs encodes a word array value by value, which profiling showed to be the largest single
/// cost of writing an image (11 % of an import). Only for little-endian transfer syntaxes, where the
/// bytes are the same.
fn pixels_as_bytes(dataset: &mut InMemDicomObject, transfer_syntax: &str) {
    use dicom_core::value::{PrimitiveValue, Value};
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    if matches!(
        transfer_syntax,
        "1.2.840.10008.1.2.2" | "1.2.840.113619.5.2"
    ) {
        return; // big endian
    }
    let Some(elem) = dataset.get(tags::PIXEL_DATA) else {
        return;
    };
    let bytes: Vec<u8> = match elem.value() {
        Value::Primitive(PrimitiveValue::U16(words)) => {
            words.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::I16(words)) => {
            words.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
        _ => return,
    };
    dataset.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U8(bytes.into()),
    ));
}

/// Reads a DICOM file (see [`crate::read`]). Returns the data set and its transfer syntax UID.
pub fn read_dicom(input: &Path) -> Result<(InMemDicomObject, String), FileError> {
    read_dicom_noted(input).map(|(obj, ts, _)| (obj, ts))
}

/// As [`read_dicom`], with notes on what had to be left out to read the file (sequences encoded
/// as UN with undefined length, which cannot be parsed and would be removed by de-identification
/// anyway).
pub fn read_dicom_noted(
    input: &Path,
) -> Result<(InMemDicomObject, String, Vec<String>), FileError> {
    crate::read::read_path(input)
        .map(|p| (p.dataset, p.transfer_syntax, p.notes))
        .map_err(|why| FileError::Read {
            path: input.display().to_string(),
            why,
        })
}
