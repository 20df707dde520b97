//! Sequences encoded as UN with undefined length (PS3.5 §6.2.2: a sequence whose VR the writer did
//! not know; its items are implicit VR little endian) inside an explicit VR little endian data set.
//! dicom-rs 0.10 cannot parse them. De-identification removes any sequence it cannot read as a
//! sequence anyway (a UN value is opaque, so it cannot be cleaned), so this module finds such
//! elements at the top level of the byte stream and cuts them out before parsing.
//!
//! Written by hand because it must work on exactly the bytes the parser refuses: it walks element
//! headers and item delimiters only, never values, and gives up (`None`) on anything it does not
//! understand, leaving the refusal to the parser's reason.

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
        let (out, removed) = strip(&b).unwrap();
        assert_eq!(removed, ["(0009,1010)"]);
        let mut want = el((0x0008, 0x0060), b"CS", b"MR");
        want.extend(tail);
        assert_eq!(out, want);
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
