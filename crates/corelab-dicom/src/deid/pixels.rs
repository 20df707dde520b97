//! Pixel blackout: a trial's rules name devices that burn identifying text into known places of
//! the image (ultrasound headers, screen captures, dose reports), and the rectangles to clear —
//! what CTP's DicomPixelAnonymizer does. Native (uncompressed) pixel data is altered in every frame
//! and every sample plane; compressed pixel data would have to be decoded and re-encoded, which is
//! not built, so a matching compressed object is refused rather than passed with its text.
//!
//! Cleared pixels take the darkest value: 0, or the largest stored value for MONOCHROME1, or the
//! most negative one for signed pixels. (For YBR colour data 0 is not black, but the text is gone.)

use corelab_core::BlackoutRule;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{DataElement, Tag};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    super::engine::text(obj, tag).unwrap_or_default()
}

fn number(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    let e = obj.get(tag)?;
    e.value()
        .to_int::<u32>()
        .ok()
        .or_else(|| e.value().to_str().ok()?.trim().parse().ok())
}

/// Whether every condition of `rule` holds for `obj` (text conditions: case-insensitive
/// substring; rows and columns: equal).
pub fn rule_matches(rule: &BlackoutRule, obj: &InMemDicomObject) -> bool {
    let contains = |cond: &Option<String>, tag| {
        cond.as_ref().is_none_or(|c| {
            text(obj, tag)
                .to_ascii_lowercase()
                .contains(&c.to_ascii_lowercase())
        })
    };
    contains(&rule.modality, tags::MODALITY)
        && contains(&rule.manufacturer, tags::MANUFACTURER)
        && contains(&rule.model, tags::MANUFACTURER_MODEL_NAME)
        && rule
            .rows
            .is_none_or(|r| number(obj, tags::ROWS) == Some(r as u32))
        && rule
            .columns
            .is_none_or(|c| number(obj, tags::COLUMNS) == Some(c as u32))
}

/// Clears the rule's rectangles in every frame of `obj`'s native pixel data. Returns what was done,
/// or why it cannot be done (then the object must be refused).
pub fn black_out(obj: &mut InMemDicomObject, rule: &BlackoutRule) -> Result<String, String> {
    let rows = number(obj, tags::ROWS).ok_or("no Rows (0028,0010)")? as usize;
    let cols = number(obj, tags::COLUMNS).ok_or("no Columns (0028,0011)")? as usize;
    let bits = number(obj, tags::BITS_ALLOCATED).ok_or("no BitsAllocated (0028,0100)")? as usize;
    let stored = number(obj, tags::BITS_STORED).unwrap_or(bits as u32) as usize;
    let spp = number(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as usize;
    let planar = number(obj, tags::PLANAR_CONFIGURATION).unwrap_or(0) == 1;
    let frames = number(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    let signed = number(obj, tags::PIXEL_REPRESENTATION) == Some(1);
    let mono1 = text(obj, tags::PHOTOMETRIC_INTERPRETATION) == "MONOCHROME1";
    if !matches!(bits, 8 | 16 | 32) || stored == 0 || stored > bits {
        return Err(format!(
            "BitsAllocated {bits} / BitsStored {stored}: only 8, 16 or 32 bits per sample can be cleared"
        ));
    }
    let fill: i64 = if mono1 {
        if signed {
            (1 << (stored - 1)) - 1
        } else {
            (1 << stored) - 1
        }
    } else if signed {
        -(1 << (stored - 1))
    } else {
        0
    };
    let elem = obj
        .get(tags::PIXEL_DATA)
        .ok_or("no Pixel Data (7FE0,0010)")?;
    let vr = elem.vr();
    let value = match elem.value() {
        Value::Primitive(p) => p.clone(),
        Value::PixelSequence(_) => {
            return Err(
                "the pixel data is compressed; blacking out compressed pixel data is not built, so the object is refused rather than passed with its burned-in text"
                    .into(),
            );
        }
        Value::Sequence(_) => return Err("Pixel Data is a sequence".into()),
    };
    let bytes_per = bits / 8;
    let short = || format!("Pixel Data is shorter than {frames} frame(s) of {rows}x{cols}x{spp}");
    // The header's sizes are checked against the pixel data before anything is listed: forged
    // ones (Rows or Number of Frames in the billions) would overflow the sizes below or make
    // the list of samples exhaust memory.
    let frame = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(spp))
        .ok_or_else(short)?;
    let needed = frame
        .checked_mul(frames)
        .and_then(|n| n.checked_mul(bytes_per))
        .ok_or_else(short)?;
    if needed > value.calculate_byte_len() {
        return Err(short());
    }
    // Sample indices (in units of one sample) to clear, over every frame and plane.
    let mut targets = Vec::new();
    for f in 0..frames {
        for r in &rule.rectangles {
            let (x0, y0) = (r[0] as usize, r[1] as usize);
            let x1 = (x0 + r[2] as usize).min(cols);
            let y1 = (y0 + r[3] as usize).min(rows);
            for y in y0.min(rows)..y1 {
                for x in x0.min(cols)..x1 {
                    for s in 0..spp {
                        targets.push(if planar {
                            f * frame + s * rows * cols + y * cols + x
                        } else {
                            f * frame + (y * cols + x) * spp + s
                        });
                    }
                }
            }
        }
    }
    let cleared = targets.len();
    let new = match value {
        PrimitiveValue::U8(mut v) => {
            // Bytes in the data set's byte order (little endian as read into memory).
            let le = fill.to_le_bytes();
            for t in targets {
                let at = t * bytes_per;
                let slot = v.get_mut(at..at + bytes_per).ok_or_else(short)?;
                slot.copy_from_slice(&le[..bytes_per]);
            }
            PrimitiveValue::U8(v)
        }
        PrimitiveValue::U16(mut v) if bits == 16 => {
            for t in targets {
                *v.get_mut(t).ok_or_else(short)? = fill as u16;
            }
            PrimitiveValue::U16(v)
        }
        PrimitiveValue::I16(mut v) if bits == 16 => {
            for t in targets {
                *v.get_mut(t).ok_or_else(short)? = fill as i16;
            }
            PrimitiveValue::I16(v)
        }
        PrimitiveValue::U32(mut v) if bits == 32 => {
            for t in targets {
                *v.get_mut(t).ok_or_else(short)? = fill as u32;
            }
            PrimitiveValue::U32(v)
        }
        _ => {
            return Err(format!(
                "pixel values of this type with BitsAllocated {bits} cannot be cleared"
            ));
        }
    };
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, new));
    Ok(format!(
        "{} rectangle(s), {cleared} samples over {frames} frame(s)",
        rule.rectangles.len()
    ))
}
