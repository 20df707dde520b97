//! What a PET image's header says for SUV (`corelab_image::suv`): units, corrections, times,
//! dose, half-life, patient size, and Philips' private scale factors.

use crate::values::text;
use corelab_image::suv::PetHeader;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// Philips' private PET group: its creator and the elements of its block (PS3.5 7.8.1).
const PHILIPS_CREATOR: &str = "Philips PET Private Group";
const PHILIPS_GROUP: u16 = 0x7053;
const PHILIPS_SUV_SCALE: u16 = 0x00; // (7053,xx00) SUV Scale Factor
const PHILIPS_ACTIVITY_SCALE: u16 = 0x09; // (7053,xx09) Activity Concentration Scale Factor

fn number(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    text(obj, tag).and_then(|t| t.split('\\').next()?.trim().parse().ok())
}

/// The SUV-relevant values of one PET image.
pub fn pet_header(obj: &InMemDicomObject) -> PetHeader {
    let radiopharmaceutical = obj
        .get(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.first());
    let rp = |tag| radiopharmaceutical.and_then(|item| text(item, tag));
    let rp_number = |tag| radiopharmaceutical.and_then(|item| number(item, tag));
    // The Philips block: whichever (7053,00xx) names its creator.
    let philips = (0x10u16..=0xFF)
        .find(|block| text(obj, Tag(PHILIPS_GROUP, *block)).as_deref() == Some(PHILIPS_CREATOR));
    let private = |element: u16| {
        philips.and_then(|block| number(obj, Tag(PHILIPS_GROUP, (block << 8) | element)))
    };
    PetHeader {
        units: text(obj, tags::UNITS).unwrap_or_default(),
        decay_correction: text(obj, tags::DECAY_CORRECTION).unwrap_or_default(),
        corrected_image: text(obj, tags::CORRECTED_IMAGE)
            .map(|t| t.split('\\').map(|v| v.trim().to_owned()).collect())
            .unwrap_or_default(),
        series_date: text(obj, tags::SERIES_DATE).unwrap_or_default(),
        series_time: text(obj, tags::SERIES_TIME).unwrap_or_default(),
        acquisition_date: text(obj, tags::ACQUISITION_DATE).unwrap_or_default(),
        acquisition_time: text(obj, tags::ACQUISITION_TIME).unwrap_or_default(),
        injection_datetime: rp(tags::RADIOPHARMACEUTICAL_START_DATE_TIME),
        injection_time: rp(tags::RADIOPHARMACEUTICAL_START_TIME),
        dose_bq: rp_number(tags::RADIONUCLIDE_TOTAL_DOSE),
        half_life_s: rp_number(tags::RADIONUCLIDE_HALF_LIFE),
        weight_kg: number(obj, tags::PATIENT_WEIGHT),
        height_m: number(obj, tags::PATIENT_SIZE),
        sex: text(obj, tags::PATIENT_SEX),
        philips_suv_scale: private(PHILIPS_SUV_SCALE),
        philips_activity_scale: private(PHILIPS_ACTIVITY_SCALE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    /// The first image of the shared SIEMENS case (`../shared/data/pet_suv`) as DICOM.
    fn siemens(philips: bool) -> InMemDicomObject {
        let t = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let item = InMemDicomObject::from_element_iter([
            t(
                tags::RADIOPHARMACEUTICAL_START_TIME,
                VR::TM,
                "083045.000000",
            ),
            t(
                tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
                VR::DT,
                "20201217083045.000000 ",
            ),
            t(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "374000000"),
            t(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, "6586.2"),
        ]);
        let mut obj = InMemDicomObject::from_element_iter([
            t(tags::SERIES_DATE, VR::DA, "20201217"),
            t(tags::SERIES_TIME, VR::TM, "104829.000000"),
            t(tags::ACQUISITION_DATE, VR::DA, "20201217"),
            t(tags::ACQUISITION_TIME, VR::TM, "104830.351370"),
            t(tags::PATIENT_SEX, VR::CS, "M"),
            t(tags::PATIENT_WEIGHT, VR::DS, "67"),
            t(tags::UNITS, VR::CS, "BQML"),
            t(tags::DECAY_CORRECTION, VR::CS, "START"),
            DataElement::new(
                tags::CORRECTED_IMAGE,
                VR::CS,
                PrimitiveValue::Strs(
                    ["DECY", "ATTN", "SCAT"]
                        .map(String::from)
                        .into_iter()
                        .collect(),
                ),
            ),
            DataElement::new(
                tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![item]),
            ),
        ]);
        if philips {
            obj.put(t(Tag(0x7053, 0x0010), VR::LO, PHILIPS_CREATOR));
            obj.put(t(Tag(0x7053, 0x1000), VR::DS, "0.003515736 "));
            obj.put(t(Tag(0x7053, 0x1009), VR::DS, "4.709921"));
        }
        obj
    }

    #[test]
    fn a_siemens_header_gives_the_shared_expected_factor() {
        let h = pet_header(&siemens(false));
        assert_eq!(h.corrected_image, vec!["DECY", "ATTN", "SCAT"]);
        assert_eq!(h.dose_bq, Some(374000000.0));
        let f = corelab_image::suv::factors(&[h]).unwrap();
        // suv_vendor_header_expected_factors.csv, SIEMENS.
        assert!((f.bw - 0.00042748316187197236).abs() < 1e-6, "{}", f.bw);
    }

    #[test]
    fn philips_private_factors_are_read_from_their_block() {
        let h = pet_header(&siemens(true));
        assert_eq!(h.philips_suv_scale, Some(0.003515736));
        assert_eq!(h.philips_activity_scale, Some(4.709921));
        // Units BQML: the private factors are not used.
        let f = corelab_image::suv::factors(&[h]).unwrap();
        assert!((f.bw - 0.00042748316187197236).abs() < 1e-6);
    }
}
