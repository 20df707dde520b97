//! A walk over the element headers of a little-endian data set, before dicom-rs parses it:
//!
//! - [`check`]: every declared length fits in the bytes that are there. dicom-rs allocates an
//!   element's declared length before reading it, so a corrupt or hostile length (4 GB in a 1 kB
//!   file) costs seconds and gigabytes before the parse fails; the walk refuses it first and names
//!   the element.
//! - [`strip`]: cuts out top-level sequences encoded as UN with undefined length (PS3.5 §6.2.2: a
//!   sequence whose VR the writer did not know, its items implicit VR little endian), which
//!   dicom-rs 0.10 cannot parse. De-identification removes any sequence it cannot read as one (a
//!   UN value is opaque, so it cannot be cleaned), so nothing is lost that would have been kept.
//!
//! Written by hand because it must work on exactly the bytes the parser refuses: it reads element
//! headers and item delimiters, never values, and stops at the first thing it cannot follow.

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_END: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_END: (u16, u16) = (0xFFFE, 0xE0DD);

fn u16_at(b: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(p..p + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?))
}

fn tag_at(b: &[u8], p: usize) -> Option<(u16, u16)> {
    Some((u16_at(b, p)?, u16_at(b, p + 2)?))
}

/// A problem found by [`check`], in words that name the element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkimError(pub String);

fn tag_name(t: (u16, u16)) -> String {
    format!("({:04X},{:04X})", t.0, t.1)
}

/// Checks that every element, item and delimiter of `body` lies within it, descending into
/// sequences (explicit SQ, or implicit elements the dictionary calls SQ) and items. Returns
/// whether a top-level sequence encoded as UN with undefined length was seen (see [`strip`]).
pub fn check(body: &[u8], explicit: bool) -> Result<bool, SkimError> {
    let mut p = 0;
    let mut un_sequence = false;
    while p < body.len() {
        if let Some((Some(vr), UNDEFINED, _)) = header(body, p, explicit)
            && &vr == b"UN"
        {
            un_sequence = true;
        }
        p = check_element(body, p, explicit, body.len(), 0)?;
    }
    Ok(un_sequence)
}

fn is_sequence_tag(t: (u16, u16)) -> bool {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    matches!(
        dicom_dictionary_std::StandardDataDictionary
            .by_tag(dicom_core::Tag(t.0, t.1))
            .map(|e| e.vr()),
        Some(VirtualVr::Exact(dicom_core::VR::SQ))
    )
}

/// The end of the element at `p`, which must lie within `limit`.
fn check_element(
    b: &[u8],
    p: usize,
    explicit: bool,
    limit: usize,
    depth: usize,
) -> Result<usize, SkimError> {
    if depth > 64 {
        return Err(SkimError("sequences nested more than 64 deep".into()));
    }
    let tag = tag_at(b, p).filter(|_| p + 8 <= limit).ok_or_else(|| {
        SkimError(format!(
            "truncated: the file ends inside an element header at byte {p} of the data set"
        ))
    })?;
    let (vr, len, head) = header(b, p, explicit).ok_or_else(|| {
        SkimError(format!(
            "element {} at byte {p} of the data set has no valid VR (the data set is not the explicit VR encoding its transfer syntax says)",
            tag_name(tag)
        ))
    })?;
    let start = p + head;
    if len == UNDEFINED {
        let inner_explicit = explicit && vr != Some(*b"UN");
        return check_items(b, start, inner_explicit, limit, depth + 1, tag);
    }
    let end = start + len as usize;
    if end > limit {
        let remaining = limit.saturating_sub(start);
        return Err(SkimError(if len as usize > b.len() {
            format!(
                "element {} declares {len} bytes but the whole data set has {}: the length is corrupt or the file is truncated",
                tag_name(tag),
                b.len()
            )
        } else {
            format!(
                "truncated: the file ends inside element {} ({len} bytes declared, {remaining} remain)",
                tag_name(tag)
            )
        }));
    }
    let sequence = match vr {
        Some(v) => &v == b"SQ",
        None => is_sequence_tag(tag),
    };
    if sequence && len > 0 {
        let mut q = start;
        while q < end {
            q = check_item(b, q, explicit, end, depth + 1, tag)?;
        }
    }
    Ok(end)
}

/// Items of an undefined-length sequence (or fragments of encapsulated pixel data) up to the
/// sequence delimiter.
fn check_items(
    b: &[u8],
    mut p: usize,
    explicit: bool,
    limit: usize,
    depth: usize,
    of: (u16, u16),
) -> Result<usize, SkimError> {
    loop {
        if p + 8 > limit {
            return Err(SkimError(format!(
                "truncated: the data set ends inside sequence {} before its delimiter",
                tag_name(of)
            )));
        }
        if tag_at(b, p) == Some(SEQUENCE_END) {
            return Ok(p + 8);
        }
        p = check_item(b, p, explicit, limit, depth, of)?;
    }
}

/// One item (defined or undefined length) and its elements.
fn check_item(
    b: &[u8],
    p: usize,
    explicit: bool,
    limit: usize,
    depth: usize,
    of: (u16, u16),
) -> Result<usize, SkimError> {
    let bad = |why: &str| SkimError(format!("sequence {}: {why}", tag_name(of)));
    if p + 8 > limit {
        return Err(bad("truncated inside an item header"));
    }
    if tag_at(b, p) != Some(ITEM) {
        return Err(bad(&format!(
            "expected an item (FFFE,E000) at byte {p}, found {}",
            tag_at(b, p).map(tag_name).unwrap_or_default()
        )));
    }
    let len = u32_at(b, p + 4).unwrap_or(0);
    let mut q = p + 8;
    if len == UNDEFINED {
        loop {
            if q + 8 > limit {
                return Err(bad("the data set ends inside an item before its delimiter"));
            }
            if tag_at(b, q) == Some(ITEM_END) {
                return Ok(q + 8);
            }
            q = check_element(b, q, explicit, limit, depth)?;
        }
    }
    let end = q + len as usize;
    if end > limit {
        return Err(bad(&format!(
            "an item declares {len} bytes but only {} remain",
            limit.saturating_sub(q)
        )));
    }
    // Encapsulated pixel data fragments are items too; their content is not elements.
    if of != (0x7FE0, 0x0010) {
        while q < end {
            q = check_element(b, q, explicit, end, depth)?;
        }
    }
    Ok(end)
}

/// An element's header: (VR if explicit, value length, header length).
fn header(b: &[u8], p: usize, explicit: bool) -> Option<(Option<[u8; 2]>, u32, usize)> {
    if !explicit {
        return Some((None, u32_at(b, p + 4)?, 8));
    }
    let vr: [u8; 2] = b.get(p + 4..p + 6)?.try_into().ok()?;
    if !vr.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let long = matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    );
    if long {
        Some((Some(vr), u32_at(b, p + 8)?, 12))
    } else {
        Some((Some(vr), u32::from(u16_at(b, p + 6)?), 8))
    }
}

/// The end of the element starting at `p`.
fn skip_element(b: &[u8], p: usize, explicit: bool, depth: usize) -> Option<usize> {
    let (vr, len, head) = header(b, p, explicit)?;
    if len != UNDEFINED {
        let end = p.checked_add(head)?.checked_add(len as usize)?;
        return (end <= b.len()).then_some(end);
    }
    // Undefined length: a sequence, encapsulated pixel data, or a UN sequence (implicit inside).
    let inner_explicit = explicit && vr != Some(*b"UN");
    skip_items(b, p + head, inner_explicit, depth + 1)
}

fn skip_items(b: &[u8], mut p: usize, explicit: bool, depth: usize) -> Option<usize> {
    if depth > 64 {
        return None; // nesting deeper than any real object: treat as malformed
    }
    loop {
        let tag = tag_at(b, p)?;
        let len = u32_at(b, p + 4)?;
        if tag == SEQUENCE_END {
            return Some(p + 8);
        }
        if tag != ITEM {
            return None;
        }
        if len != UNDEFINED {
            p = p.checked_add(8)?.checked_add(len as usize)?;
            if p > b.len() {
                return None;
            }
            continue;
        }
        p += 8;
        loop {
            if tag_at(b, p)? == ITEM_END {
                p += 8;
                break;
            }
            p = skip_element(b, p, explicit, depth)?;
        }
    }
}

/// The data set without its top-level UN elements of undefined length, and their tags; `None`
/// when there are none or the walk cannot follow the bytes.
pub fn strip(body: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    let mut out = Vec::with_capacity(body.len());
    let mut removed = Vec::new();
    let mut p = 0;
    while p < body.len() {
        let (group, element) = tag_at(body, p)?;
        let (vr, len, _) = header(body, p, true)?;
        let end = skip_element(body, p, true, 0)?;
        if vr == Some(*b"UN") && len == UNDEFINED {
            removed.push(format!("({group:04X},{element:04X})"));
        } else {
            out.extend_from_slice(&body[p..end]);
        }
        p = end;
    }
    (!removed.is_empty()).then_some((out, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(tag.0.to_le_bytes());
        v.extend(tag.1.to_le_bytes());
        v.extend(vr);
        v.extend((value.len() as u16).to_le_bytes());
        v.extend(value);
        v
    }

    #[test]
    fn cuts_a_un_sequence_with_nested_implicit_items_and_keeps_the_rest() {
        let mut b = el((0x0008, 0x0060), b"CS", b"MR");
        // (0009,1010) UN, undefined length, one item holding an implicit sequence of one item.
        b.extend([
            0x09, 0x00, 0x10, 0x10, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        b.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]); // item, undefined
        b.extend([0x08, 0x00, 0x15, 0x11, 0xFF, 0xFF, 0xFF, 0xFF]); // implicit SQ, undefined
        b.extend([0xFE, 0xFF, 0x00, 0xE0, 0x0C, 0x00, 0x00, 0x00]); // item, 12 bytes
        b.extend([0x10, 0x00, 0x10, 0x00, 0x04, 0x00, 0x00, 0x00]); // (0010,0010) len 4
        b.extend(b"DOE^");
        b.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]); // end of inner sequence
        b.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]); // end of item
        b.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]); // end of UN sequence
        let tail = el((0x0020, 0x000D), b"UI", b"1.2.3\0");
        b.extend(&tail);
        assert_eq!(check(&b, true), Ok(true));
        let (out, removed) = strip(&b).unwrap();
        assert_eq!(removed, ["(0009,1010)"]);
        let mut want = el((0x0008, 0x0060), b"CS", b"MR");
        want.extend(tail);
        assert_eq!(out, want);
    }

    #[test]
    fn check_names_a_length_that_does_not_fit() {
        let mut b = el((0x0008, 0x0060), b"CS", b"MR");
        b.extend([0x10, 0x00, 0x10, 0x00, b'P', b'N', 0xFF, 0x7F]); // 32767 bytes declared
        b.extend(b"DOE");
        let e = check(&b, true).unwrap_err().0;
        assert!(e.contains("(0010,0010)") && e.contains("32767"), "{e}");
        assert_eq!(check(&el((0x0008, 0x0060), b"CS", b"MR"), true), Ok(false));
        // Implicit VR where explicit is claimed.
        let implicit = [0x08, 0x00, 0x60, 0x00, 0x02, 0x00, 0x00, 0x00, b'M', b'R'];
        assert!(
            check(&implicit, true)
                .unwrap_err()
                .0
                .contains("no valid VR")
        );
        assert_eq!(check(&implicit, false), Ok(false));
    }

    #[test]
    fn gives_up_on_bytes_it_cannot_follow() {
        let mut b = el((0x0008, 0x0060), b"CS", b"MR");
        b.extend([
            0x09, 0x00, 0x10, 0x10, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        b.extend([0x01, 0x02, 0x03]); // truncated
        assert!(strip(&b).is_none());
        assert!(
            strip(&el((0x0008, 0x0060), b"CS", b"MR")).is_none(),
            "nothing to cut"
        );
    }
}
