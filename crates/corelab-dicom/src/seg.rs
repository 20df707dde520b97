//! DICOM Segmentation objects decoded onto a volume's grid: each frame is placed by its Plane
//! Position (per-frame functional groups). BINARY segmentations: each frame belongs to one
//! segment (Segment Identification), bit-packed, LSB first, continuously across frames (PS3.5
//! 8.1.1). FRACTIONAL: one byte per pixel, a pixel belongs to the frame's segment when its
//! fraction (value / Maximum Fractional Value) is at least one half. LABELMAP (Label Map
//! Segmentation Storage): one byte or word per pixel holding the segment number (0: none).

use crate::values::text;
use corelab_image::Geometry;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use ndarray::Array3;
use std::collections::BTreeMap;

/// Why a segmentation cannot be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("SEG: {0}")]
pub struct SegError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, SegError> {
    Err(SegError(why.into()))
}

fn numbers(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    text(obj, tag)?
        .split('\\')
        .map(|v| v.trim().parse().ok())
        .collect()
}

fn item(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<&InMemDicomObject> {
    obj.get(tag)?.items()?.first()
}

/// How a segmentation's pixels are stored.
#[derive(Clone, Copy)]
enum Encoding {
    /// One bit per pixel.
    Binary,
    /// One byte per pixel; the Maximum Fractional Value.
    Fractional(u32),
    /// Bytes per pixel (1 or 2), each holding a segment number.
    Labelmap(usize),
}

impl Encoding {
    fn bits(self) -> usize {
        match self {
            Encoding::Binary => 1,
            Encoding::Fractional(_) => 8,
            Encoding::Labelmap(b) => 8 * b,
        }
    }
}

/// Each segment's mask on `grid` (segment number → mask); a segment with no pixel set has no
/// entry.
pub fn masks(
    obj: &InMemDicomObject,
    grid: &Geometry,
) -> Result<BTreeMap<u16, Array3<bool>>, SegError> {
    let int = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_int::<u32>().ok())
            .ok_or_else(|| SegError(format!("no {tag}")))
    };
    let bits = int(tags::BITS_ALLOCATED)?;
    let kind = text(obj, tags::SEGMENTATION_TYPE).unwrap_or_default();
    let encoding = match (kind.as_str(), bits) {
        ("BINARY" | "", 1) => Encoding::Binary,
        ("FRACTIONAL", 8) => {
            let max = obj
                .get(tags::MAXIMUM_FRACTIONAL_VALUE)
                .and_then(|e| e.to_int::<u32>().ok())
                .filter(|m| *m > 0)
                .ok_or_else(|| SegError("FRACTIONAL without a Maximum Fractional Value".into()))?;
            Encoding::Fractional(max)
        }
        ("LABELMAP", 8 | 16) => Encoding::Labelmap(bits as usize / 8),
        (k, b) => {
            return refuse(format!(
                "Segmentation Type {k:?} with Bits Allocated {b} is not decoded (BINARY 1, FRACTIONAL 8, LABELMAP 8 or 16 are)"
            ));
        }
    };
    let (rows, cols) = (int(tags::ROWS)? as usize, int(tags::COLUMNS)? as usize);
    let frames = text(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    let pixels = obj
        .get(tags::PIXEL_DATA)
        .and_then(|e| e.to_bytes().ok())
        .ok_or_else(|| SegError("no readable (7FE0,0010) Pixel Data".into()))?;
    let needed_bits = rows * cols * frames * encoding.bits();
    if pixels.len() * 8 < needed_bits {
        return refuse(format!(
            "{} bytes of pixel data for {frames} frames of {rows}×{cols} at {} bits",
            pixels.len(),
            encoding.bits()
        ));
    }
    let per_frame = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .ok_or_else(|| SegError("no Per-frame Functional Groups Sequence".into()))?;
    if per_frame.len() != frames {
        return refuse(format!(
            "{} per-frame functional groups for {frames} frames",
            per_frame.len()
        ));
    }
    let shared = item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let from = |frame: &InMemDicomObject, seq, tag| {
        item(frame, seq).and_then(|i| numbers(i, tag)).or_else(|| {
            shared
                .and_then(|s| item(s, seq))
                .and_then(|i| numbers(i, tag))
        })
    };
    let inverse = grid
        .affine
        .try_inverse()
        .ok_or_else(|| SegError("the grid's affine cannot be inverted".into()))?;
    let [ni, nj, nk] = grid.dims;
    let mut out: BTreeMap<u16, Array3<bool>> = BTreeMap::new();
    for (f, frame) in per_frame.iter().enumerate() {
        let position = from(
            frame,
            tags::PLANE_POSITION_SEQUENCE,
            tags::IMAGE_POSITION_PATIENT,
        )
        .filter(|p| p.len() == 3)
        .ok_or_else(|| SegError(format!("frame {}: no Image Position (Patient)", f + 1)))?;
        let orientation = from(
            frame,
            tags::PLANE_ORIENTATION_SEQUENCE,
            tags::IMAGE_ORIENTATION_PATIENT,
        )
        .filter(|o| o.len() == 6)
        .ok_or_else(|| SegError(format!("frame {}: no Image Orientation (Patient)", f + 1)))?;
        let spacing = from(frame, tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING)
            .filter(|s| s.len() == 2)
            .ok_or_else(|| SegError(format!("frame {}: no Pixel Spacing", f + 1)))?;
        let frame_segment = item(frame, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .and_then(|i| i.get(tags::REFERENCED_SEGMENT_NUMBER))
            .and_then(|e| e.to_int::<u16>().ok());
        if frame_segment.is_none() && !matches!(encoding, Encoding::Labelmap(_)) {
            return refuse(format!("frame {}: no Referenced Segment Number", f + 1));
        }
        for r in 0..rows {
            for c in 0..cols {
                let n = f * rows * cols + r * cols + c;
                let segment = match encoding {
                    Encoding::Binary => {
                        (pixels[n / 8] & (1 << (n % 8)) != 0).then_some(frame_segment)
                    }
                    Encoding::Fractional(max) => {
                        (u32::from(pixels[n]) * 2 >= max).then_some(frame_segment)
                    }
                    Encoding::Labelmap(1) => (pixels[n] != 0).then_some(Some(u16::from(pixels[n]))),
                    Encoding::Labelmap(_) => {
                        let v = u16::from_le_bytes([pixels[2 * n], pixels[2 * n + 1]]);
                        (v != 0).then_some(Some(v))
                    }
                };
                let Some(Some(segment)) = segment else {
                    continue;
                };
                let p = [0, 1, 2].map(|a| {
                    position[a]
                        + orientation[a] * spacing[1] * c as f64
                        + orientation[3 + a] * spacing[0] * r as f64
                });
                let v = inverse * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
                let idx = [v[0], v[1], v[2]].map(|x| x.round());
                let off = [v[0], v[1], v[2]]
                    .iter()
                    .zip(idx)
                    .any(|(x, r)| (x - r).abs() > 0.01);
                if off {
                    return refuse(format!(
                        "frame {}: pixel ({c}, {r}) falls between voxels of the grid (not the grid the segmentation was made on)",
                        f + 1
                    ));
                }
                let (i, j, k) = (idx[0], idx[1], idx[2]);
                if i < 0.0
                    || j < 0.0
                    || k < 0.0
                    || i >= ni as f64
                    || j >= nj as f64
                    || k >= nk as f64
                {
                    return refuse(format!(
                        "frame {}: pixel ({c}, {r}) lies outside the grid",
                        f + 1
                    ));
                }
                out.entry(segment)
                    .or_insert_with(|| Array3::from_elem((ni, nj, nk), false))
                    [[i as usize, j as usize, k as usize]] = true;
            }
        }
    }
    Ok(out)
}
