//! Small synthetic CT series with a planted identity, for the demo and for tests that need whole
//! objects as a site would send them (the digital phantoms with exact truth come with the imaging
//! core). Deterministic: the same arguments give the same bytes.

use crate::deid::encode_part10;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// One CT series of `slices` 64×64 slices for a patient, as Part 10 files (explicit VR little
/// endian). The pixel values are a radial ramp in Hounsfield units; the identity is planted in the
/// usual places (name, ID, birth date, accession number, referring physician, institution).
pub fn ct_series(patient_id: &str, patient_name: &str, study: u32, slices: u32) -> Vec<Vec<u8>> {
    let root = "1.2.826.0.1.3680043.9.7782";
    let study_uid = format!("{root}.{}.{study}", digits(patient_id));
    let series_uid = format!("{study_uid}.1");
    (0..slices)
        .filter_map(|i| {
            let mut pixels = Vec::with_capacity(64 * 64);
            for y in 0..64i32 {
                for x in 0..64i32 {
                    let r2 = (x - 32).pow(2) + (y - 32).pow(2);
                    pixels.push(if r2 < 400 { 1040u16 + (i as u16) } else { 24 });
                }
            }
            let text = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
            let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
            let obj = InMemDicomObject::from_element_iter([
                text(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
                text(
                    tags::SOP_INSTANCE_UID,
                    VR::UI,
                    &format!("{series_uid}.{}", i + 1),
                ),
                text(
                    tags::STUDY_DATE,
                    VR::DA,
                    &format!("2026{:02}15", 1 + study % 12),
                ),
                text(tags::STUDY_TIME, VR::TM, "093000"),
                text(
                    tags::ACCESSION_NUMBER,
                    VR::SH,
                    &format!("ACC{study}{}", digits(patient_id)),
                ),
                text(tags::MODALITY, VR::CS, "CT"),
                text(tags::MANUFACTURER, VR::LO, "corelab synthetic"),
                text(tags::INSTITUTION_NAME, VR::LO, "Demo General Hospital"),
                text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Referrer^Rita"),
                text(tags::STUDY_DESCRIPTION, VR::LO, "CT CHEST"),
                text(tags::SERIES_DESCRIPTION, VR::LO, "AXIAL 5mm"),
                text(tags::PATIENT_NAME, VR::PN, patient_name),
                text(tags::PATIENT_ID, VR::LO, patient_id),
                text(tags::PATIENT_BIRTH_DATE, VR::DA, "19600101"),
                text(tags::PATIENT_SEX, VR::CS, "F"),
                text(tags::SLICE_THICKNESS, VR::DS, "5"),
                text(tags::STUDY_INSTANCE_UID, VR::UI, &study_uid),
                text(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
                text(tags::SERIES_NUMBER, VR::IS, "1"),
                text(tags::INSTANCE_NUMBER, VR::IS, &(i + 1).to_string()),
                text(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    &format!("-160\\-160\\{}", i * 5),
                ),
                text(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0"),
                us(tags::SAMPLES_PER_PIXEL, 1),
                text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
                us(tags::ROWS, 64),
                us(tags::COLUMNS, 64),
                text(tags::PIXEL_SPACING, VR::DS, "5\\5"),
                us(tags::BITS_ALLOCATED, 16),
                us(tags::BITS_STORED, 12),
                us(tags::HIGH_BIT, 11),
                us(tags::PIXEL_REPRESENTATION, 0),
                text(tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
                text(tags::RESCALE_SLOPE, VR::DS, "1"),
                DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
            ]);
            encode_part10(obj, "1.2.840.10008.1.2.1").ok()
        })
        .collect()
}

fn digits(s: &str) -> String {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.is_empty() {
        "0".into()
    } else {
        d.trim_start_matches('0').to_owned() + "0"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_series_reads_back_with_its_planted_identity() {
        let files = super::ct_series("MRN-0042", "Doe^Jane", 1, 3);
        assert_eq!(files.len(), 3);
        let p = crate::read::read_bytes(&files[0]).unwrap();
        let id = p
            .dataset
            .element(dicom_dictionary_std::tags::PATIENT_ID)
            .unwrap();
        assert_eq!(id.to_str().unwrap().trim(), "MRN-0042");
        assert_eq!(
            files,
            super::ct_series("MRN-0042", "Doe^Jane", 1, 3),
            "deterministic"
        );
    }
}
