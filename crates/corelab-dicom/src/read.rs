//! Reading DICOM objects from bytes or files, with a reason that names what is wrong when they
//! cannot be read: Part 10 with or without the preamble, a meta group without its group length, a
//! bare data set without a meta group (ACR-NEMA style), and data sets holding sequences encoded as
//! UN that dicom-rs cannot parse. Before dicom-rs sees a data set (little or big endian, bare,
//! or deflated once inflated), [`crate::skim`] checks that every declared length fits in the
//! bytes and that sequences do not nest past 64, so a corrupt length is refused at once instead
//! of after a multi-gigabyte allocation, and a depth bomb before it overflows the parser's stack.

use crate::skim;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use std::path::Path;

/// A parsed object.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The data set, without its file meta group.
    pub dataset: InMemDicomObject,
    /// Its transfer syntax UID.
    pub transfer_syntax: String,
    /// What had to be left out to read it (sequences encoded as UN, removed unread).
    pub notes: Vec<String>,
}

/// Reads a file; the error is the reason, without the path.
pub fn read_path(path: &Path) -> Result<Parsed, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    read_bytes(&bytes)
}

/// Reads an object from its bytes (a Part 10 file, or a bare data set).
pub fn read_bytes(bytes: &[u8]) -> Result<Parsed, String> {
    let magic_at = [128usize, 0]
        .into_iter()
        .find(|&at| bytes.get(at..at + 4) == Some(b"DICM"));
    let Some(at) = magic_at else {
        return read_bare_dataset(bytes)?
            .map(|(dataset, transfer_syntax)| Parsed {
                dataset,
                transfer_syntax,
                notes: Vec::new(),
            })
            .ok_or_else(|| diagnose(bytes, &Recovery::NotDicom));
    };
    let meta = scan_meta(&bytes[at + 4..]);
    let Some(ts_uid) = meta.transfer_syntax else {
        return Err(diagnose(bytes, &Recovery::NoTransferSyntax));
    };
    let Some(ts) = transfer_syntax(&ts_uid) else {
        return Err(diagnose(bytes, &Recovery::UnknownTransferSyntax(ts_uid)));
    };
    let body = &bytes[at + 4 + meta.len..];
    // Implicit VR little endian and GE's private implicit big endian are the only implicit ones.
    let explicit = !matches!(ts_uid.as_str(), "1.2.840.10008.1.2" | "1.2.840.113619.5.2");
    let deflated = ts_uid == "1.2.840.10008.1.2.1.99";
    if explicit && !deflated && !starts_with_vr(body) {
        return Err(diagnose(bytes, &Recovery::ImplicitInExplicit(ts_uid)));
    }
    let little = !matches!(
        ts_uid.as_str(),
        "1.2.840.10008.1.2.2" | "1.2.840.113619.5.2" | "1.2.840.10008.1.2.1.99"
    );
    if deflated {
        // The walk needs the data set itself: inflated here, checked, dropped; the parser
        // inflates it again.
        skim::check(&inflate(body, ts)?, true).map_err(|e| e.0)?;
    } else if !little {
        skim::check_big_endian(body, explicit).map_err(|e| e.0)?;
    }
    if little {
        let un_sequence = skim::check(body, explicit).map_err(|e| e.0)?;
        if un_sequence {
            // Cut out the UN sequences, which the parser cannot read, and parse the rest.
            let (stripped, removed) = skim::strip(body).ok_or_else(|| {
                "a sequence encoded as UN with undefined length could not be followed".to_owned()
            })?;
            let dataset =
                InMemDicomObject::read_dataset_with_ts(std::io::Cursor::new(stripped), ts)
                    .map_err(|e| describe_parse_error(bytes.len(), &error_chain(&e), ""))?;
            let notes = removed
                .into_iter()
                .map(|t| {
                    format!("{t}: a sequence encoded as UN with undefined length, removed unread")
                })
                .collect();
            return Ok(Parsed {
                dataset,
                transfer_syntax: ts_uid,
                notes,
            });
        }
    }
    // The Part 10 reader, from memory; then the data set alone, for meta groups it refuses (no
    // group length). dicom-rs allocates a meta element's declared length before reading it, so
    // it is not given a meta group whose lengths run past the bytes. Nor one whose group length
    // disagrees with its elements: dicom-rs reads elements, of any group, until the length is
    // used up, so its data set would start elsewhere than the one checked above (found by the
    // fuzz target `deid`: a deflated data set parsed from four bytes on, 1.2 GB allocated).
    let parsed = match meta.group_end {
        _ if !meta.whole => {
            Err("a file meta element's length runs past the end of the file".to_owned())
        }
        Some(end) if end != meta.len => Err(format!(
            "the file meta group's length says it ends at byte {end} of the group, its elements at byte {}",
            meta.len
        )),
        _ => OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .from_reader(&bytes[at..])
            .map_err(|e| error_chain(&e)),
    };
    let parser = match parsed {
        Ok(file) => {
            let transfer_syntax = file.meta().transfer_syntax().to_owned();
            return Ok(Parsed {
                dataset: file.into_inner(),
                transfer_syntax,
                notes: Vec::new(),
            });
        }
        Err(why) => why,
    };
    InMemDicomObject::read_dataset_with_ts(std::io::Cursor::new(body), ts)
        .map(|dataset| Parsed {
            dataset,
            transfer_syntax: ts_uid,
            notes: Vec::new(),
        })
        .map_err(|e| describe_parse_error(bytes.len(), &error_chain(&e), &parser))
}

/// Why bytes could not be read.
enum Recovery {
    NotDicom,
    NoTransferSyntax,
    UnknownTransferSyntax(String),
    ImplicitInExplicit(String),
}

/// The reason given for a file that could not be read: what is wrong with it, in the terms of the
/// standard, rather than the parser's internal state alone.
fn diagnose(bytes: &[u8], recovery: &Recovery) -> String {
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
    /// Every meta element's value lies within the bytes.
    whole: bool,
    /// The group length, when the group starts with one, and where it says the group ends.
    group_end: Option<usize>,
}

fn scan_meta(bytes: &[u8]) -> MetaScan {
    let mut pos = 0;
    let mut transfer_syntax = None;
    let mut whole = true;
    let mut group_end = None;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let group = u16::from_le_bytes([head[0], head[1]]);
        let element = u16::from_le_bytes([head[2], head[3]]);
        if group != 0x0002 {
            break;
        }
        if pos == 0 && element == 0x0000 && head[4..8] == [b'U', b'L', 4, 0] {
            group_end = bytes
                .get(8..12)
                .map(|g| 12 + u32::from_le_bytes([g[0], g[1], g[2], g[3]]) as usize);
        }
        let vr = [head[4], head[5]];
        // Lengths read as dicom-rs's meta reader reads them (any VR not known to have a 16-bit
        // length has a 32-bit one), so that `whole` vouches for what it will allocate.
        let (value_at, len) = if skim::is_short_vr(&vr) {
            (pos + 8, u16::from_le_bytes([head[6], head[7]]) as usize)
        } else {
            let Some(l) = bytes.get(pos + 8..pos + 12) else {
                whole = false;
                break;
            };
            (
                pos + 12,
                u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize,
            )
        };
        let Some(value) = value_at
            .checked_add(len)
            .and_then(|end| bytes.get(value_at..end))
        else {
            whole = false;
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
        whole,
        group_end,
    }
}

/// A deflated data set, inflated.
fn inflate(body: &[u8], ts: &dicom_encoding::TransferSyntax) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let dicom_encoding::transfer_syntax::Codec::Dataset(Some(adapter)) = ts.codec() else {
        return Ok(body.to_vec());
    };
    let mut out = Vec::new();
    adapter
        .adapt_reader(Box::new(body))
        .read_to_end(&mut out)
        .map_err(|e| format!("the deflated data set cannot be inflated: {e}"))?;
    Ok(out)
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
/// do, and that carry SOP Class and SOP Instance UIDs are accepted. `Ok(None)`: not such a
/// data set; `Err`: one whose lengths or nesting [`skim`] refuses, with its reason.
fn read_bare_dataset(bytes: &[u8]) -> Result<Option<(InMemDicomObject, String)>, String> {
    let Some(head) = bytes.get(..8) else {
        return Ok(None);
    };
    let little = head[0] == 0x08 && head[1] == 0x00;
    let big = head[0] == 0x00 && head[1] == 0x08;
    if !little && !big {
        return Ok(None);
    }
    let explicit = head[4].is_ascii_uppercase() && head[5].is_ascii_uppercase();
    let uid = match (explicit, big) {
        (false, false) => "1.2.840.10008.1.2",
        (true, false) => "1.2.840.10008.1.2.1",
        (true, true) => "1.2.840.10008.1.2.2",
        (false, true) => return Ok(None), // implicit VR big endian does not exist
    };
    let checked = if big {
        skim::check_big_endian(bytes, true)
    } else {
        skim::check(bytes, explicit).map(|_| ())
    };
    checked.map_err(|e| format!("a data set without a file meta group: {}", e.0))?;
    let Some(ts) = transfer_syntax(uid) else {
        return Ok(None);
    };
    let Ok(obj) = InMemDicomObject::read_dataset_with_ts(std::io::Cursor::new(bytes), ts) else {
        return Ok(None);
    };
    let has = |tag| obj.get(tag).is_some();
    Ok((has(tags::SOP_CLASS_UID) && has(tags::SOP_INSTANCE_UID)).then(|| (obj, uid.to_owned())))
}

/// An error and its sources on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s.replace('\n', " ")
}
