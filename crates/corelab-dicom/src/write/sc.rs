//! A key image as a Secondary Capture Image (PS3.3 A.8.1): one slice of a source series rendered
//! to RGB with a segmentation's colours blended in, for the PACS viewers that show neither SEG
//! nor SR. It belongs to the source's study (its Patient and General Study modules are copied, as
//! for SEG and SR) and names the slice it shows in its Source Image Sequence. Nothing in it is
//! burned-in text: the overlay is colour only, so Burned In Annotation is NO.

use super::source::{DerivedMeta, Source, code_sq, part10, sq, txt};
use super::{WriteError, fail};
use crate::write::source::Code;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileDicomObject, InMemDicomObject};

/// An 8-bit RGB image, top row first, pixels interleaved (R, G, B).
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImage {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width × height × 3` bytes.
    pub rgb: Vec<u8>,
}

/// The Secondary Capture object of `image`, which shows slice `slice` of `source` (its index in
/// `source.slices`), described by `description` (Derivation Description). Refused: an empty
/// image, a size that does not fit 16 bits or does not match its bytes, a slice the source does
/// not have.
pub fn secondary_capture(
    source: &Source,
    image: &RgbImage,
    slice: usize,
    description: &str,
    meta: &DerivedMeta,
) -> Result<FileDicomObject<InMemDicomObject>, WriteError> {
    meta.check()?;
    let (Ok(rows), Ok(columns)) = (u16::try_from(image.height), u16::try_from(image.width)) else {
        return fail(
            "key image",
            format!(
                "{} × {}: at most 65535 on a side",
                image.width, image.height
            ),
        );
    };
    if rows == 0 || columns == 0 {
        return fail("key image", "it is empty");
    }
    if image.rgb.len() != image.width * image.height * 3 {
        return fail(
            "key image",
            format!(
                "{} bytes for {} × {} RGB pixels (expected {})",
                image.rgb.len(),
                image.width,
                image.height,
                image.width * image.height * 3
            ),
        );
    }
    let Some(shown) = source.slices.get(slice) else {
        return fail(
            "key image",
            format!("slice {slice}: the source has {}", source.slices.len()),
        );
    };
    let mut obj = InMemDicomObject::new_empty();
    for e in source.attributes.iter() {
        obj.put(e.clone());
    }
    let us = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    // Pixel Data of OB is padded to an even length (PS3.5 8.1.1).
    let mut pixels = image.rgb.clone();
    if pixels.len() % 2 == 1 {
        pixels.push(0);
    }
    let purpose = Code::new(
        "121322",
        "DCM",
        "Source image for image processing operation",
    );
    for e in meta.series_elements(uids::SECONDARY_CAPTURE_IMAGE_STORAGE, "OT") {
        obj.put(e);
    }
    for e in [
        // SC Equipment module (PS3.3 C.8.6.1): made at a workstation.
        txt(tags::CONVERSION_TYPE, VR::CS, "WSD"),
        // General Image module.
        txt(tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY"),
        txt(tags::PATIENT_ORIENTATION, VR::CS, ""),
        // General Series: Laterality is type 2C (paired body parts); the slice's laterality is
        // not known here, so it is sent empty, as type 2 allows.
        txt(tags::LATERALITY, VR::CS, ""),
        txt(tags::DERIVATION_DESCRIPTION, VR::ST, description),
        sq(
            tags::SOURCE_IMAGE_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                txt(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &shown.sop_class_uid),
                txt(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    &shown.sop_instance_uid,
                ),
                code_sq(tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE, &purpose),
            ])],
        ),
        txt(tags::BURNED_IN_ANNOTATION, VR::CS, "NO"),
        txt(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
        // Image Pixel module: 8-bit RGB, interleaved.
        us(tags::SAMPLES_PER_PIXEL, 3),
        txt(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB"),
        us(tags::PLANAR_CONFIGURATION, 0),
        us(tags::ROWS, rows),
        us(tags::COLUMNS, columns),
        us(tags::BITS_ALLOCATED, 8),
        us(tags::BITS_STORED, 8),
        us(tags::HIGH_BIT, 7),
        us(tags::PIXEL_REPRESENTATION, 0),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(pixels)),
    ] {
        obj.put(e);
    }
    part10(obj, "Secondary Capture")
}
