//! Masks written as a DICOM Segmentation (Segmentation Storage, 1.2.840.10008.5.1.4.1.1.66.4;
//! PS3.3 A.51), Explicit VR Little Endian, on the source series' slices.
//!
//! Modules: Patient, General Study, Clinical Trial Subject/Study (copied from the source,
//! `source.rs`), General Series and Segmentation Series (Modality `SEG`), Frame of Reference
//! (the source's), General Equipment and Enhanced General Equipment (C.7.5.2: Manufacturer,
//! Model Name, Device Serial Number, Software Versions all type 1), General Image, Image Pixel,
//! Segmentation Image (C.8.20.2), Multi-frame Functional Groups (C.7.6.16), Multi-frame Dimension
//! (C.7.6.17), Common Instance Reference (C.12.2: the source series and all its images), SOP
//! Common.
//!
//! Frames: segment by segment (in the order given, numbered from 1), and within a segment slice
//! by slice in the source's order along the normal. Only slices where the segment has a nonzero
//! voxel get a frame (PS3.3 C.8.20.2 allows omitting empty frames; highdicom does the same). An
//! empty segment is kept (a lesion that disappeared at follow-up still has its segment, and the
//! SR can still reference it) and gets one all-zero frame on the first source slice, so that
//! every segment has a frame and the object is never frameless (Number of Frames ≥ 1).
//!
//! Each frame's Per-frame Functional Groups: Frame Content (Dimension Index Values: segment
//! number, then the slice's index from 1), Plane Position (the source slice's own Image Position
//! as written there), Derivation Image (Derivation Code 113076 "Segmentation"; Source Image
//! Sequence → the source slice, Purpose of Reference 121322 "Source image for image processing
//! operation", Spatial Locations Preserved YES) and Segment Identification. Shared: Pixel
//! Measures and Plane Orientation. The Dimension Index Sequence points at Referenced Segment
//! Number (0062,000B) in the Segment Identification Sequence and at Image Position (Patient) in
//! the Plane Position Sequence, as highdicom writes it. The Dimension Organization UID is derived
//! from the SOP Instance UID (`source::derived_uid`), so nothing random is read.
//!
//! Pixels: BINARY: 1 bit per pixel, pixel `n` of the object (frames one after another, rows
//! then columns) at bit `n % 8` (LSB first) of byte `n / 8`: frames packed contiguously without
//! padding at frame boundaries (PS3.5 8.1.1), the whole padded to an even length. FRACTIONAL:
//! one byte per pixel, `round(fraction × 255)` with Maximum Fractional Value 255; a fraction must
//! be finite and in [0, 1] (refused otherwise: a value outside is a bug upstream, not something
//! to clamp silently).

use super::source::{Code, DerivedMeta, Source, code_sq, derived_uid, part10, sq, txt};
use super::{WriteError, ds, fail, join};
use corelab_image::Volume;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileDicomObject, InMemDicomObject};

/// The segmentation's kind (PS3.3 C.8.20.2.3 Segmentation Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegKind {
    /// BINARY: a voxel is in a segment or not.
    Binary,
    /// FRACTIONAL, Maximum Fractional Value 255.
    Fractional(FractionalType),
}

/// What a fraction means (PS3.3 C.8.20.2.3 Segmentation Fractional Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FractionalType {
    /// PROBABILITY: the probability that the voxel belongs to the segment.
    Probability,
    /// OCCUPANCY: the fraction of the voxel the segment occupies.
    Occupancy,
}

/// A segment's voxels, on the source series' grid.
#[derive(Clone, Debug, PartialEq)]
pub enum SegmentData {
    /// Nonzero = in the segment. Written as BINARY, or as fractions 0 and 1 in a FRACTIONAL
    /// segmentation.
    Binary(Volume<u8>),
    /// Fractions in [0, 1]; only in a FRACTIONAL segmentation (thresholding them is the
    /// algorithm's decision, not the writer's).
    Fractional(Volume<f32>),
}

impl SegmentData {
    fn grid(&self) -> &corelab_image::Geometry {
        match self {
            SegmentData::Binary(v) => &v.geometry,
            SegmentData::Fractional(v) => &v.geometry,
        }
    }
}

/// One segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// (0062,0005) Segment Label.
    pub label: String,
    /// (0062,0006) Segment Description (omitted when empty).
    pub description: String,
    /// (0062,0003) Segmented Property Category (CID 7150), e.g.
    /// [`codes::morphologically_abnormal_structure`].
    pub category: Code,
    /// (0062,000F) Segmented Property Type (CID 7151 and others), e.g. [`codes::lesion`].
    pub property_type: Code,
    /// The algorithm that made it: name and version (Segment Algorithm Type AUTOMATIC).
    pub algorithm: (String, String),
    /// Its family (CID 7162, Algorithm Family Code Sequence), e.g.
    /// [`codes::histogram_analysis`] for a threshold, [`codes::artificial_intelligence`] for a
    /// trained model.
    pub algorithm_family: Code,
    /// Its voxels.
    pub data: SegmentData,
}

/// Codes for segments: segmented property categories (CID 7150) and types (CID 7151 and
/// others), and algorithm families (CID 7162), as pydicom's code dictionary (PS3.16 2024)
/// spells them.
pub mod codes {
    use super::Code;

    macro_rules! code {
        ($($(#[$doc:meta])* $name:ident = $scheme:literal $value:literal $meaning:literal;)*) => {
            $($(#[$doc])* pub fn $name() -> Code { Code::new($value, $scheme, $meaning) })*
        };
    }

    code! {
        /// Category: SCT 49755003 "Morphologically Abnormal Structure" (a lesion, a tumour).
        morphologically_abnormal_structure = "SCT" "49755003" "Morphologically Abnormal Structure";
        /// Category: SCT 91723000 "Anatomical Structure" (an organ, a brain structure).
        anatomical_structure = "SCT" "91723000" "Anatomical Structure";
        /// Category (and type): SCT 85756007 "Tissue" (grey matter, white matter, CSF).
        tissue = "SCT" "85756007" "Tissue";
        /// Type: SCT 52988006 "Lesion".
        lesion = "SCT" "52988006" "Lesion";
        /// Type: SCT 108369006 "Neoplasm".
        neoplasm = "SCT" "108369006" "Neoplasm";
        /// Type: SCT 12738006 "Brain".
        brain = "SCT" "12738006" "Brain";
        /// Type: SCT 389081007 "Gray Matter".
        grey_matter = "SCT" "389081007" "Gray Matter";
        /// Type: SCT 389080008 "White Matter".
        white_matter = "SCT" "389080008" "White Matter";
        /// Type: SCT 65216001 "Cerebrospinal Fluid".
        csf = "SCT" "65216001" "Cerebrospinal Fluid";
        /// Type: SCT 10200004 "Liver".
        liver = "SCT" "10200004" "Liver";
        /// Algorithm family: DCM 123110 "Artificial Intelligence" (a trained model).
        artificial_intelligence = "DCM" "123110" "Artificial Intelligence";
        /// Algorithm family: DCM 123105 "Histogram Analysis" (thresholds, Otsu).
        histogram_analysis = "DCM" "123105" "Histogram Analysis";
        /// Algorithm family: DCM 123101 "Neighborhood Analysis" (region growing, connected
        /// components).
        neighborhood_analysis = "DCM" "123101" "Neighborhood Analysis";
        /// Algorithm family: DCM 123107 "Cluster Analysis" (k-means, mixture models).
        cluster_analysis = "DCM" "123107" "Cluster Analysis";
        /// Algorithm family: DCM 123111 "Deformable Models" (registration-based atlases).
        deformable_models = "DCM" "123111" "Deformable Models";
    }
}

/// Maximum Fractional Value written (8-bit fractions).
const MAX_FRACTION: f32 = 255.0;

/// The Segmentation object of `segments` (numbered 1, 2, … in the order given) on `source`'s
/// slices. Refused: no segment, a mask not on the source's grid, fractional data in a BINARY
/// segmentation, a fraction that is not a finite number in [0, 1], an invalid UID, date or time,
/// or an incomplete code.
pub fn write(
    source: &Source,
    segments: &[Segment],
    kind: SegKind,
    meta: &DerivedMeta,
) -> Result<FileDicomObject<InMemDicomObject>, WriteError> {
    meta.check()?;
    if segments.is_empty() {
        return fail("SEG", "no segment to write");
    }
    let label = &meta.content_label;
    if label.is_empty()
        || label.len() > 16
        || !label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b' ')
    {
        return fail(
            "Content Label",
            format!("{label:?}: 1 to 16 upper-case letters, digits, spaces or _ (CS)"),
        );
    }
    let [ni, nj, nk] = source.grid.dims;
    let plane = ni * nj;
    if u16::try_from(segments.len()).is_err() {
        return fail("SEG", format!("{} segments: at most 65535", segments.len()));
    }
    // Each segment's frames: (slice index, the frame's values as stored, one byte per pixel
    // holding 0/1 for BINARY, 0–255 for FRACTIONAL).
    let mut frames: Vec<(u16, usize, Vec<u8>)> = Vec::new();
    let mut overlap = vec![false; plane * nk];
    let mut overlaps = false;
    for (s, segment) in segments.iter().enumerate() {
        let number = (s + 1) as u16;
        let what = format!("segment {number} ({})", segment.label);
        segment.category.check(&format!("{what} category"))?;
        segment
            .property_type
            .check(&format!("{what} property type"))?;
        segment
            .algorithm_family
            .check(&format!("{what} algorithm family"))?;
        if segment.label.trim().is_empty() {
            return fail(&what, "no Segment Label");
        }
        if segment.algorithm.0.trim().is_empty() || segment.algorithm.1.trim().is_empty() {
            return fail(
                &what,
                "an AUTOMATIC segment needs its algorithm's name and version",
            );
        }
        source.check_grid(&what, segment.data.grid())?;
        let mut written = false;
        for k in 0..nk {
            let mut values = Vec::with_capacity(plane);
            for j in 0..nj {
                for i in 0..ni {
                    let v = match (&segment.data, kind) {
                        (SegmentData::Binary(m), SegKind::Binary) => {
                            u8::from(m.data[[i, j, k]] != 0)
                        }
                        (SegmentData::Binary(m), SegKind::Fractional(_)) => {
                            if m.data[[i, j, k]] != 0 { 255 } else { 0 }
                        }
                        (SegmentData::Fractional(_), SegKind::Binary) => {
                            return fail(
                                &what,
                                "fractional data in a BINARY segmentation: threshold it first (the algorithm decides where), or write a FRACTIONAL one",
                            );
                        }
                        (SegmentData::Fractional(m), SegKind::Fractional(_)) => {
                            let f = m.data[[i, j, k]];
                            if !(f.is_finite() && (0.0..=1.0).contains(&f)) {
                                return fail(
                                    &what,
                                    format!(
                                        "fraction {f} at voxel ({i}, {j}, {k}): fractions must be finite numbers in [0, 1]"
                                    ),
                                );
                            }
                            (f * MAX_FRACTION).round() as u8
                        }
                    };
                    if v != 0 {
                        let at = k * plane + j * ni + i;
                        overlaps |= overlap[at];
                        overlap[at] = true;
                    }
                    values.push(v);
                }
            }
            if values.iter().any(|v| *v != 0) {
                frames.push((number, k, values));
                written = true;
            }
        }
        if !written {
            frames.push((number, 0, vec![0; plane]));
        }
    }

    let mut obj = InMemDicomObject::new_empty();
    for e in source.attributes.iter() {
        obj.put(e.clone());
    }
    let us = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let (bits, seg_type) = match kind {
        SegKind::Binary => (1u16, "BINARY"),
        SegKind::Fractional(_) => (8, "FRACTIONAL"),
    };
    let dimension_uid = derived_uid(&format!(
        "corelab SEG dimension organization {}",
        meta.sop_instance_uid
    ));
    for e in meta.series_elements(uids::SEGMENTATION_STORAGE, "SEG") {
        obj.put(e);
    }
    for e in [
        txt(tags::IMAGE_TYPE, VR::CS, "DERIVED\\PRIMARY"),
        referenced_series(source),
        txt(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &source.frame_of_reference_uid,
        ),
        txt(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""),
        sq(
            tags::DIMENSION_ORGANIZATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([txt(
                tags::DIMENSION_ORGANIZATION_UID,
                VR::UI,
                &dimension_uid,
            )])],
        ),
        sq(
            tags::DIMENSION_INDEX_SEQUENCE,
            vec![
                dimension(
                    &dimension_uid,
                    tags::REFERENCED_SEGMENT_NUMBER,
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    "Referenced Segment Number",
                ),
                dimension(
                    &dimension_uid,
                    tags::IMAGE_POSITION_PATIENT,
                    tags::PLANE_POSITION_SEQUENCE,
                    "Image Position Patient",
                ),
            ],
        ),
        us(tags::SAMPLES_PER_PIXEL, 1),
        txt(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        txt(tags::NUMBER_OF_FRAMES, VR::IS, &frames.len().to_string()),
        us(tags::ROWS, source.rows),
        us(tags::COLUMNS, source.columns),
        us(tags::BITS_ALLOCATED, bits),
        us(tags::BITS_STORED, bits),
        us(tags::HIGH_BIT, bits - 1),
        us(tags::PIXEL_REPRESENTATION, 0),
        txt(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
        txt(tags::SEGMENTATION_TYPE, VR::CS, seg_type),
        sq(
            tags::SEGMENT_SEQUENCE,
            segments
                .iter()
                .enumerate()
                .map(|(s, seg)| segment_item((s + 1) as u16, seg))
                .collect(),
        ),
        // Segments Overlap (C.8.20.2, type 3): computed, since highdicom and viewers use it
        // to decide whether the segments can be shown as one label map.
        txt(
            tags::SEGMENTS_OVERLAP,
            VR::CS,
            if overlaps { "YES" } else { "NO" },
        ),
        txt(tags::CONTENT_LABEL, VR::CS, &meta.content_label),
        txt(tags::CONTENT_DESCRIPTION, VR::LO, &meta.content_description),
        // Content Creator's Name: type 2 in the Content Identification Macro; an algorithm,
        // no person, created it.
        txt(tags::CONTENT_CREATOR_NAME, VR::PN, ""),
        sq(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![shared(source)],
        ),
        sq(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            frames
                .iter()
                .map(|(segment, k, _)| per_frame(source, *segment, *k))
                .collect(),
        ),
    ] {
        obj.put(e);
    }
    if let SegKind::Fractional(t) = kind {
        obj.put(txt(
            tags::SEGMENTATION_FRACTIONAL_TYPE,
            VR::CS,
            match t {
                FractionalType::Probability => "PROBABILITY",
                FractionalType::Occupancy => "OCCUPANCY",
            },
        ));
        obj.put(us(tags::MAXIMUM_FRACTIONAL_VALUE, MAX_FRACTION as u16));
    }
    let pixels = match kind {
        SegKind::Binary => pack_bits(frames.iter().map(|(_, _, v)| v.as_slice())),
        SegKind::Fractional(_) => {
            let mut bytes: Vec<u8> = frames
                .iter()
                .flat_map(|(_, _, v)| v.iter().copied())
                .collect();
            if !bytes.len().is_multiple_of(2) {
                bytes.push(0);
            }
            bytes
        }
    };
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(pixels.into()),
    ));
    part10(obj, "SEG")
}

/// Binary frames bit-packed: pixel `n` (counted across all frames) at bit `n % 8` of byte
/// `n / 8` (PS3.5 8.1.1: LSB first, no padding between frames), padded to an even length.
fn pack_bits<'a>(frames: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut n = 0usize;
    for frame in frames {
        for v in frame {
            if n.is_multiple_of(8) {
                bytes.push(0);
            }
            if *v != 0
                && let Some(b) = bytes.last_mut()
            {
                *b |= 1 << (n % 8);
            }
            n += 1;
        }
    }
    if !bytes.len().is_multiple_of(2) {
        bytes.push(0);
    }
    bytes
}

/// A Dimension Index Sequence item (C.7.6.17.1).
fn dimension(uid: &str, pointer: Tag, group: Tag, label: &str) -> InMemDicomObject {
    let at = |tag: Tag, v: Tag| DataElement::new(tag, VR::AT, PrimitiveValue::Tags(vec![v].into()));
    InMemDicomObject::from_element_iter([
        txt(tags::DIMENSION_ORGANIZATION_UID, VR::UI, uid),
        at(tags::DIMENSION_INDEX_POINTER, pointer),
        at(tags::FUNCTIONAL_GROUP_POINTER, group),
        txt(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label),
    ])
}

/// Common Instance Reference module (C.12.2): the source series and each of its images.
fn referenced_series(source: &Source) -> DataElement<InMemDicomObject> {
    let instances = source
        .slices
        .iter()
        .map(|s| {
            InMemDicomObject::from_element_iter([
                txt(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &s.sop_class_uid),
                txt(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    &s.sop_instance_uid,
                ),
            ])
        })
        .collect();
    sq(
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            sq(tags::REFERENCED_INSTANCE_SEQUENCE, instances),
            txt(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                &source.series_instance_uid,
            ),
        ])],
    )
}

/// A Segment Sequence item (C.8.20.2, Segment Description Macro C.8.20.4).
fn segment_item(number: u16, seg: &Segment) -> InMemDicomObject {
    let (name, version) = &seg.algorithm;
    let mut item = InMemDicomObject::from_element_iter([
        code_sq(
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            &seg.category,
        ),
        DataElement::new(tags::SEGMENT_NUMBER, VR::US, PrimitiveValue::from(number)),
        txt(tags::SEGMENT_LABEL, VR::LO, &seg.label),
        // Algorithm Identification Macro (Table 10-19), type 1C for AUTOMATIC segments.
        sq(
            tags::SEGMENTATION_ALGORITHM_IDENTIFICATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                code_sq(tags::ALGORITHM_FAMILY_CODE_SEQUENCE, &seg.algorithm_family),
                txt(tags::ALGORITHM_VERSION, VR::LO, version),
                txt(tags::ALGORITHM_NAME, VR::LO, name),
            ])],
        ),
        txt(tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC"),
        txt(tags::SEGMENT_ALGORITHM_NAME, VR::LO, name),
        code_sq(
            tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
            &seg.property_type,
        ),
    ]);
    if !seg.description.is_empty() {
        item.put(txt(tags::SEGMENT_DESCRIPTION, VR::ST, &seg.description));
    }
    item
}

/// Shared Functional Groups (C.7.6.16): Pixel Measures and Plane Orientation, from the source.
fn shared(source: &Source) -> InMemDicomObject {
    let step = source.grid.spacing()[2];
    InMemDicomObject::from_element_iter([
        sq(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([txt(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                &join(&source.orientation),
            )])],
        ),
        sq(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                txt(tags::SLICE_THICKNESS, VR::DS, &ds(step)),
                txt(tags::SPACING_BETWEEN_SLICES, VR::DS, &ds(step)),
                txt(tags::PIXEL_SPACING, VR::DS, &join(&source.pixel_spacing)),
            ])],
        ),
    ])
}

/// One frame's Per-frame Functional Groups: Derivation Image, Frame Content, Plane Position,
/// Segment Identification.
fn per_frame(source: &Source, segment: u16, k: usize) -> InMemDicomObject {
    let slice = &source.slices[k];
    let source_image = InMemDicomObject::from_element_iter([
        txt(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &slice.sop_class_uid),
        txt(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            &slice.sop_instance_uid,
        ),
        txt(tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES"),
        code_sq(
            tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
            &Code::new(
                "121322",
                "DCM",
                "Source image for image processing operation",
            ),
        ),
    ]);
    InMemDicomObject::from_element_iter([
        sq(
            tags::DERIVATION_IMAGE_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                sq(tags::SOURCE_IMAGE_SEQUENCE, vec![source_image]),
                code_sq(
                    tags::DERIVATION_CODE_SEQUENCE,
                    &Code::new("113076", "DCM", "Segmentation"),
                ),
            ])],
        ),
        sq(
            tags::FRAME_CONTENT_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([DataElement::new(
                tags::DIMENSION_INDEX_VALUES,
                VR::UL,
                PrimitiveValue::U32(vec![u32::from(segment), (k + 1) as u32].into()),
            )])],
        ),
        sq(
            tags::PLANE_POSITION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([txt(
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                &join(&slice.position),
            )])],
        ),
        sq(
            tags::SEGMENT_IDENTIFICATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([DataElement::new(
                tags::REFERENCED_SEGMENT_NUMBER,
                VR::US,
                PrimitiveValue::from(segment),
            )])],
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_packed_lsb_first_across_frame_boundaries() {
        // Two frames of 5 pixels: 10 bits, the second frame starting at bit 5 of byte 0.
        let a = [1u8, 0, 0, 0, 1];
        let b = [1u8, 1, 0, 0, 0];
        let packed = pack_bits([a.as_slice(), b.as_slice()].into_iter());
        assert_eq!(packed, vec![0b0111_0001, 0b0000_0000]);
        let c = [0u8, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(pack_bits([c.as_slice()].into_iter()), vec![0, 1]);
    }
}
