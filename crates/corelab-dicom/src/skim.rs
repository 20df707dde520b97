//! A walk over the element headers of a data set, before dicom-rs parses it:
//!
//! - [`check`]: every declared length fits in the bytes that are there, and sequences nest at
//!   most 64 deep. dicom-rs allocates an element's declared length before reading it, so a
//!   corrupt or hostile length (4 GB in a 1 kB file) costs seconds and gigabytes before the parse
//!   fails, and it builds nested sequences by recursion, so thousands of levels overflow the
//!   stack; the walk refuses both first and names the element. [`check_big_endian`] does the
//!   same for big endian data sets.
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

/// How a data set is encoded.
#[derive(Clone, Copy)]
struct Enc {
    explicit: bool,
    big: bool,
}

const LE: Enc = Enc {
    explicit: true,
    big: false,
};

fn u16_at(e: Enc, b: &[u8], p: usize) -> Option<u16> {
    let v = b.get(p..p + 2)?.try_into().ok()?;
    Some(if e.big {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    })
}

fn u32_at(e: Enc, b: &[u8], p: usize) -> Option<u32> {
    let v = b.get(p..p + 4)?.try_into().ok()?;
    Some(if e.big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    })
}

fn tag_at(e: Enc, b: &[u8], p: usize) -> Option<(u16, u16)> {
    Some((u16_at(e, b, p)?, u16_at(e, b, p + 2)?))
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
    walk(
        body,
        Enc {
            explicit,
            big: false,
        },
    )
}

/// [`check`] for a data set in big endian (explicit VR, or GE's private implicit VR).
pub fn check_big_endian(body: &[u8], explicit: bool) -> Result<(), SkimError> {
    walk(
        body,
        Enc {
            explicit,
            big: true,
        },
    )
    .map(|_| ())
}

fn walk(body: &[u8], e: Enc) -> Result<bool, SkimError> {
    let mut p = 0;
    let mut un_sequence = false;
    while p < body.len() {
        if let Some((Some(vr), UNDEFINED, _)) = header(e, body, p)
            && &vr == b"UN"
        {
            un_sequence = true;
        }
        p = check_element(body, p, e, body.len(), 0)?;
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

/// The size of one value of the element's VR when it is a fixed-size binary one (PS3.5 Table
/// 6.2-1), else 1; in implicit VR the VR is the dictionary's (UL for group lengths). dicom-rs 0.10
/// reads `length / size` values but moves its position by the whole length, so a remainder
/// leaves it reading the next element from the wrong bytes, and the length it then reads is
/// allocated unchecked (a 350-byte DIMSE command set asked for 100 MB, a larger one for GBs).
fn value_size(vr: Option<[u8; 2]>, tag: (u16, u16)) -> usize {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let vr = match vr {
        Some(vr) => vr,
        None if tag.1 == 0x0000 => *b"UL",
        None => match dicom_dictionary_std::StandardDataDictionary
            .by_tag(dicom_core::Tag(tag.0, tag.1))
            .map(|e| e.vr())
        {
            Some(VirtualVr::Exact(vr)) => vr.to_bytes(),
            _ => return 1,
        },
    };
    match &vr {
        b"US" | b"SS" | b"OW" => 2,
        b"UL" | b"SL" | b"FL" | b"OF" | b"OL" | b"AT" => 4,
        b"FD" | b"OD" | b"SV" | b"UV" | b"OV" => 8,
        _ => 1,
    }
}

/// The end of the element at `p`, which must lie within `limit`.
fn check_element(
    b: &[u8],
    p: usize,
    e: Enc,
    limit: usize,
    depth: usize,
) -> Result<usize, SkimError> {
    if depth > 64 {
        return Err(SkimError("sequences nested more than 64 deep".into()));
    }
    let tag = tag_at(e, b, p).filter(|_| p + 8 <= limit).ok_or_else(|| {
        SkimError(format!(
            "truncated: the file ends inside an element header at byte {p} of the data set"
        ))
    })?;
    let (vr, len, head) = header(e, b, p).ok_or_else(|| {
        SkimError(format!(
            "element {} at byte {p} of the data set has no valid VR (the data set is not the explicit VR encoding its transfer syntax says)",
            tag_name(tag)
        ))
    })?;
    let start = p + head;
    if len == UNDEFINED {
        let inner = Enc {
            explicit: e.explicit && vr != Some(*b"UN"),
            ..e
        };
        return check_items(b, start, inner, limit, depth + 1, tag);
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
    let size = value_size(vr, tag);
    if !(len as usize).is_multiple_of(size) {
        return Err(SkimError(format!(
            "element {} declares {len} bytes, not a whole number of its {size}-byte values",
            tag_name(tag)
        )));
    }
    let sequence = match vr {
        Some(v) => &v == b"SQ",
        None => is_sequence_tag(tag),
    };
    if sequence && len > 0 {
        let mut q = start;
        while q < end {
            q = check_item(b, q, e, end, depth + 1, tag)?;
        }
    }
    Ok(end)
}

/// Items of an undefined-length sequence (or fragments of encapsulated pixel data) up to the
/// sequence delimiter.
fn check_items(
    b: &[u8],
    mut p: usize,
    e: Enc,
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
        if tag_at(e, b, p) == Some(SEQUENCE_END) {
            return Ok(p + 8);
        }
        p = check_item(b, p, e, limit, depth, of)?;
    }
}

/// One item (defined or undefined length) and its elements.
fn check_item(
    b: &[u8],
    p: usize,
    e: Enc,
    limit: usize,
    depth: usize,
    of: (u16, u16),
) -> Result<usize, SkimError> {
    let bad = |why: &str| SkimError(format!("sequence {}: {why}", tag_name(of)));
    if p + 8 > limit {
        return Err(bad("truncated inside an item header"));
    }
    if tag_at(e, b, p) != Some(ITEM) {
        return Err(bad(&format!(
            "expected an item (FFFE,E000) at byte {p}, found {}",
            tag_at(e, b, p).map(tag_name).unwrap_or_default()
        )));
    }
    let len = u32_at(e, b, p + 4).unwrap_or(0);
    let mut q = p + 8;
    if len == UNDEFINED {
        loop {
            if q + 8 > limit {
                return Err(bad("the data set ends inside an item before its delimiter"));
            }
            if tag_at(e, b, q) == Some(ITEM_END) {
                return Ok(q + 8);
            }
            q = check_element(b, q, e, limit, depth)?;
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
            q = check_element(b, q, e, end, depth)?;
        }
    }
    Ok(end)
}

/// An element's header: (VR if explicit, value length, header length).
fn header(e: Enc, b: &[u8], p: usize) -> Option<(Option<[u8; 2]>, u32, usize)> {
    if !e.explicit {
        return Some((None, u32_at(e, b, p + 4)?, 8));
    }
    let vr: [u8; 2] = b.get(p + 4..p + 6)?.try_into().ok()?;
    if !vr.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    // The VRs with a 16-bit length (PS3.5 7.1.2); any other, unknown ones included, has a 32-bit
    // length, as dicom-rs reads it (an unknown VR is UN to it): were the walk to read a 16-bit
    // length where the parser reads 32 bits, it would pass a length the parser then allocates.
    let short = is_short_vr(&vr);
    if !short {
        Some((Some(vr), u32_at(e, b, p + 8)?, 12))
    } else {
        Some((Some(vr), u32::from(u16_at(e, b, p + 6)?), 8))
    }
}

/// Whether an explicit VR element of this VR has a 16-bit length (PS3.5 7.1.2).
pub fn is_short_vr(vr: &[u8; 2]) -> bool {
    matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

/// The end of the element starting at `p`.
fn skip_element(b: &[u8], p: usize, explicit: bool, depth: usize) -> Option<usize> {
    let (vr, len, head) = header(
        Enc {
            explicit,
            big: false,
        },
        b,
        p,
    )?;
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
        let tag = tag_at(LE, b, p)?;
        let len = u32_at(LE, b, p + 4)?;
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
            if tag_at(LE, b, p)? == ITEM_END {
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
        let (group, element) = tag_at(LE, body, p)?;
        let (vr, len, _) = header(LE, body, p)?;
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
    fn refuses_sequences_nested_past_64_in_either_byte_order() {
        for big in [false, true] {
            let (u16b, u32b) = if big {
                (
                    u16::to_be_bytes as fn(u16) -> [u8; 2],
                    u32::to_be_bytes as fn(u32) -> [u8; 4],
                )
            } else {
                (
                    u16::to_le_bytes as fn(u16) -> [u8; 2],
                    u32::to_le_bytes as fn(u32) -> [u8; 4],
                )
            };
            let nested = |depth: usize| {
                let mut b = Vec::new();
                for _ in 0..depth {
                    b.extend(u16b(0x0040));
                    b.extend(u16b(0x0275));
                    b.extend(*b"SQ\0\0");
                    b.extend(u32b(UNDEFINED));
                    b.extend(u16b(0xFFFE));
                    b.extend(u16b(0xE000));
                    b.extend(u32b(UNDEFINED));
                }
                for _ in 0..depth {
                    for e in [0xE00D, 0xE0DD] {
                        b.extend(u16b(0xFFFE));
                        b.extend(u16b(e));
                        b.extend(u32b(0));
                    }
                }
                b
            };
            let run = |b: &[u8]| {
                if big {
                    check_big_endian(b, true).map(|_| false)
                } else {
                    check(b, true)
                }
            };
            assert_eq!(run(&nested(3)), Ok(false));
            let e = run(&nested(10_000)).unwrap_err().0;
            assert!(e.contains("nested more than 64"), "{e}");
            // A length that does not fit, big endian too.
            let mut b = Vec::new();
            b.extend(u16b(0x0042));
            b.extend(u16b(0x0011));
            b.extend(*b"OB\0\0");
            b.extend(u32b(0xFFFF_FFF0));
            b.extend([0u8; 16]);
            let e = run(&b).unwrap_err().0;
            assert!(e.contains("(0042,0011)") && e.contains("4294967280"), "{e}");
        }
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
