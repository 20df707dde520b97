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
/// meta group. Returns the data set and its transfer syntax UID. A file that cannot be read gets a
/// reason that names the problem (see [`diagnose`]).
pub fn read_dicom(input: &Path) -> Result<(InMemDicomObject, String), FileError> {
    read_dicom_noted(input).map(|(obj, ts, _)| (obj, ts))
}

/// As [`read_dicom`], with notes on what had to be left out to read the file (sequences encoded
/// as UN with undefined length, which cannot be parsed and would be removed by de-identification
/// anyway).
pub fn read_dicom_noted(
    input: &Path,
) -> Result<(InMemDicomObject, String, Vec<String>), FileError> {
    let read_err = |why: String| FileError::Read {
        path: input.display().to_string(),
        why,
    };
    // Part 10 files; files without the 128-byte preamble are accepted too (the parser detects it).
    match OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .open_file(input)
    {
        Ok(file) => {
            let ts = file.meta().transfer_syntax().to_owned();
            Ok((file.into_inner(), ts, Vec::new()))
        }
        Err(e) => {
            let bytes = std::fs::read(input).map_err(|io| read_err(io.to_string()))?;
            recover(&bytes).map_err(|why| read_err(diagnose(&bytes, &why, &error_chain(&e))))
        }
    }
}

/// Second chance for a file dicom-rs's Part 10 reader refused: a file meta group that lacks its
/// group length (PS3.10 requires it, but it carries nothing the data set needs), or a bare data set
/// without a meta group (ACR-NEMA style). Returns the reason when neither applies.
fn recover(bytes: &[u8]) -> Result<(InMemDicomObject, String, Vec<String>), Recovery> {
    let magic_at = [128usize, 0]
        .into_iter()
        .find(|&at| bytes.get(at..at + 4) == Some(b"DICM"));
    let Some(at) = magic_at else {
        return read_bare_dataset(bytes)
            .map(|(obj, ts)| (obj, ts, Vec::new()))
            .ok_or(Recovery::NotDicom);
    };
    let meta = scan_meta(&bytes[at + 4..]);
    let Some(ts_uid) = meta.transfer_syntax else {
        return Err(Recovery::NoTransferSyntax);
    };
    let Some(ts) = transfer_syntax(&ts_uid) else {
        return Err(Recovery::UnknownTransferSyntax(ts_uid));
    };
    let body = &bytes[at + 4 + meta.len..];
    // Implicit VR little endian and GE's private implicit big endian are the only implicit ones.
    let explicit = !matches!(ts_uid.as_str(), "1.2.840.10008.1.2" | "1.2.840.113619.5.2");
    if explicit && !starts_with_vr(body) {
        return Err(Recovery::ImplicitInExplicit(ts_uid));
    }
    let parsed = InMemDicomObject::read_dataset_with_ts(std::io::Cursor::new(body), ts);
    let why = match parsed {
        Ok(obj) => return Ok((obj, ts_uid, Vec::new())),
        Err(e) => error_chain(&e),
    };
    // Explicit VR little endian (every transfer syntax but implicit, big endian and deflated):
    // cut out sequences encoded as UN with undefined length, then parse again.
    let little_explicit = explicit
        && !matches!(
            ts_uid.as_str(),
            "1.2.840.10008.1.2.2" | "1.2.840.10008.1.2.1.99"
        );
    if let Some((stripped, removed)) = little_explicit
        .then(|| super::un_sequences::strip(body))
        .flatten()
        && let Ok(obj) = InMemDicomObject::read_dataset_with_ts(std::io::Cursor::new(stripped), ts)
    {
        let notes = removed
            .into_iter()
            .map(|t| format!("{t}: a sequence encoded as UN with undefined length, removed unread"))
            .collect();
        return Ok((obj, ts_uid, notes));
    }
    Err(Recovery::Parse(why))
}

/// Why a file could not be read on the second chance.
enum Recovery {
    NotDicom,
    NoTransferSyntax,
    UnknownTransferSyntax(String),
    ImplicitInExplicit(String),
    Parse(String),
}

/// The reason given for a file that could not be read: what is wrong with it, in the terms of the
/// standard, rather than the parser's internal state alone.
fn diagnose(bytes: &[u8], recovery: &Recovery, parser: &str) -> String {
    match recovery {
        Recovery::NotDicom => format!(
            "not a DICOM file: no 'DICM' marker at byte 128 and no data set of group 0008 at the start ({} bytes)",
            bytes.len()
        ),
        Recovery::NoTransferSyntax => {
            "the file meta group has no Transfer Syntax UID (0002,0010), which PS3.10 requires; the data set's encoding is unknown".into()
        }
        Recovery::UnknownTransferSyntax(uid) => {
            format!("transfer syntax {uid:?} is not one corelab can read")
        }
        Recovery::ImplicitInExplicit(uid) => format!(
            "the file meta group declares explicit VR transfer syntax {uid} but the data set is encoded implicit VR (its first element has no VR)"
        ),
        Recovery::Parse(why) => describe_parse_error(bytes.len(), why, parser),
    }
}

/// Names the usual parse failures: a file that ends inside an element (truncated), and an item tag
/// where a length should be (implicit VR content inside an explicit VR stream, as in a sequence
/// encoded as UN with undefined length, PS3.5 §6.2.2, which dicom-rs 0.10 cannot read).
fn describe_parse_error(file_len: usize, why: &str, parser: &str) -> String {
    const ITEM_TAG_AS_LENGTH: u64 = 0xE000_FFFE;
    let declared = why
        .split("Could not read ")
        .find_map(|rest| rest.split(' ').next()?.parse::<u64>().ok());
    let element = why
        .split("element tagged ")
        .nth(1)
        .map(|rest| rest.chars().take(11).collect::<String>());
    match (declared, element) {
        (Some(ITEM_TAG_AS_LENGTH), Some(tag)) => format!(
            "element {tag} holds an item tag (FFFE,E000) where its length should be: implicit VR content inside an explicit VR data set (a sequence encoded as UN with undefined length, which the parser cannot read)"
        ),
        (Some(n), Some(tag)) if n > file_len as u64 => format!(
            "element {tag} declares {n} bytes but the whole file has {file_len}: the length is corrupt or the file is truncated"
        ),
        (Some(n), Some(tag)) => format!(
            "truncated: the file ends inside element {tag} ({n} bytes declared; file is {file_len} bytes)"
        ),
        _ if why.contains("Premature data set end") => {
            "malformed: the data set ends inside a sequence or item (a declared length points past its end)".into()
        }
        _ => format!("malformed data set: {why} (Part 10 reader: {parser})"),
    }
}

/// The file meta group as found by a lenient scan: explicit VR little endian elements of group
/// 0002, however many, with or without the group length.
struct MetaScan {
    len: usize,
    transfer_syntax: Option<String>,
}

fn scan_meta(bytes: &[u8]) -> MetaScan {
    let mut pos = 0;
    let mut transfer_syntax = None;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let group = u16::from_le_bytes([head[0], head[1]]);
        let element = u16::from_le_bytes([head[2], head[3]]);
        if group != 0x0002 {
            break;
        }
        let vr = [head[4], head[5]];
        let (value_at, len) =
            if matches!(&vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT" | b"UC" | b"UR") {
                let Some(l) = bytes.get(pos + 8..pos + 12) else {
                    break;
                };
                (
                    pos + 12,
                    u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize,
                )
            } else {
                (pos + 8, u16::from_le_bytes([head[6], head[7]]) as usize)
            };
        let Some(value) = bytes.get(value_at..value_at + len) else {
            break;
        };
        if element == 0x0010 {
            let uid = String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_owned();
            if !uid.is_empty() {
                transfer_syntax = Some(uid);
            }
        }
        pos = value_at + len;
    }
    MetaScan {
        len: pos,
        transfer_syntax,
    }
}

fn transfer_syntax(uid: &str) -> Option<&'static dicom_encoding::TransferSyntax> {
    use dicom_encoding::TransferSyntaxIndex;
    dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(uid)
}

/// Whether bytes 4–5 of the first element are a VR's two upper-case letters.
fn starts_with_vr(body: &[u8]) -> bool {
    body.get(4..6)
        .is_some_and(|v| v.iter().all(u8::is_ascii_uppercase))
}

/// Reads a file that holds a bare data set (no preamble, no file meta group), in the transfer
/// syntax its first bytes show: explicit VR when bytes 4–5 are a VR's two letters, big endian
/// when the first group number reads so. Only data sets that start with group 0008, as such files
/// do, and that carry SOP Class and SOP Instance UIDs are accepted.
fn read_bare_dataset(bytes: &[u8]) -> Option<(InMemDicomObject, String)> {
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
    let obj =
        InMemDicomObject::read_dataset_with_ts(std::io::Cursor::new(bytes), transfer_syntax(uid)?)
            .ok()?;
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
