//! What an object must carry to be catalogued: the identifiers of the study / series / instance
//! hierarchy, a storage SOP class, and for images the attributes that make the pixels readable.

use dicom_core::Tag;
use dicom_core::dictionary::UidDictionary;
use dicom_dictionary_std::{StandardSopClassDictionary, tags};
use dicom_object::InMemDicomObject;

/// The Media Storage Directory SOP class (a DICOMDIR): an index of a file set, not an object.
pub const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";

pub use corelab_dicom::values::text;

/// Whether the data set is a DICOMDIR (its SOP class, or a Directory Record Sequence).
pub fn is_dicomdir(obj: &InMemDicomObject) -> bool {
    text(obj, tags::SOP_CLASS_UID).as_deref() == Some(MEDIA_STORAGE_DIRECTORY)
        || obj.get(tags::DIRECTORY_RECORD_SEQUENCE).is_some()
}

/// Whether `uid` is a Storage SOP class of the standard's dictionary (dicom-dictionary-std,
/// generated from PS3.6): its name says Storage, and it is neither Storage Commitment nor a media
/// directory.
pub fn is_storage_sop_class(uid: &str) -> bool {
    StandardSopClassDictionary
        .by_uid(uid)
        .is_some_and(|e| is_storage_name(e.name))
}

fn is_storage_name(name: &str) -> bool {
    name.contains("Storage") && !name.contains("Commitment") && !name.contains("Media Storage")
}

/// Checks what the catalogue and the SOP class need; the error names what is missing and why.
pub fn check_required(obj: &InMemDicomObject) -> Result<(), String> {
    let need = |tag: Tag, name: &str, why: &str| {
        text(obj, tag)
            .map(|_| ())
            .ok_or_else(|| format!("missing {tag} {name}, which {why}"))
    };
    need(
        tags::SOP_CLASS_UID,
        "SOP Class UID",
        "every stored object needs",
    )?;
    need(
        tags::SOP_INSTANCE_UID,
        "SOP Instance UID",
        "every stored object needs",
    )?;
    need(
        tags::STUDY_INSTANCE_UID,
        "Study Instance UID",
        "the catalogue files studies by",
    )?;
    need(
        tags::SERIES_INSTANCE_UID,
        "Series Instance UID",
        "the catalogue files series by",
    )?;
    need(
        tags::MODALITY,
        "Modality",
        "every series needs (General Series module, Type 1)",
    )?;
    let class = text(obj, tags::SOP_CLASS_UID).unwrap_or_default();
    let Some(entry) = StandardSopClassDictionary.by_uid(&class) else {
        return Err(format!(
            "SOP class {class} is not in the standard's dictionary (a private SOP class?): it cannot be validated"
        ));
    };
    if !is_storage_name(entry.name) {
        return Err(format!(
            "SOP class {class} ({}) is not a storage SOP class",
            entry.name
        ));
    }
    if entry.name.contains("Image Storage") {
        let why = format!("{} requires", entry.name);
        need(tags::ROWS, "Rows", &why)?;
        need(tags::COLUMNS, "Columns", &why)?;
        need(tags::BITS_ALLOCATED, "Bits Allocated", &why)?;
        let has_pixels = [
            tags::PIXEL_DATA,
            tags::FLOAT_PIXEL_DATA,
            tags::DOUBLE_FLOAT_PIXEL_DATA,
        ]
        .iter()
        .any(|t| obj.get(*t).is_some());
        if !has_pixels {
            return Err(format!("missing (7FE0,0010) Pixel Data, which {why}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_classes_come_from_the_dictionary() {
        for uid in [
            "1.2.840.10008.5.1.4.1.1.2",     // CT Image Storage
            "1.2.840.10008.5.1.4.1.1.4",     // MR Image Storage
            "1.2.840.10008.5.1.4.1.1.128",   // PET Image Storage
            "1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
            "1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation
        ] {
            assert!(is_storage_sop_class(uid), "{uid}");
        }
        assert!(!is_storage_sop_class("1.2.840.10008.1.20.1")); // Storage Commitment
        assert!(!is_storage_sop_class(MEDIA_STORAGE_DIRECTORY));
        assert!(!is_storage_sop_class("1.2.840.10008.1.1")); // Verification
        assert!(!is_storage_sop_class("1.2.3.4"));
    }
}
