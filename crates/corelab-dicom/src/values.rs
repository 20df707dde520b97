//! Reading attribute values as the rest of corelab needs them.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

/// A non-empty text value, its padding (NUL, spaces) trimmed; also from a UN element, whose
/// bytes are the text.
pub fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    let s = if e.vr() == dicom_core::VR::UN {
        String::from_utf8_lossy(&e.value().to_bytes().ok()?).into_owned()
    } else {
        e.value().to_str().ok()?.into_owned()
    };
    Some(s.trim_matches(['\0', ' ']).to_owned()).filter(|s| !s.is_empty())
}
