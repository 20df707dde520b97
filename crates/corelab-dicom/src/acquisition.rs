//! What a series' header says about how it was acquired: the attributes a trial's imaging
//! protocol classifies series by and checks them against (issue 6; `corelab-engine`). Read
//! from one image of the series (series-level attributes are the same in every image); values
//! present but unreadable are kept out and named in [`Acquisition::problems`], never guessed.

use crate::values::text;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::Serialize;

/// The acquisition attributes of a series, as its (de-identified) header gives them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Acquisition {
    /// (0008,0060) Modality.
    pub modality: Option<String>,
    /// (0008,0016) SOP Class UID.
    pub sop_class_uid: Option<String>,
    /// (0008,103E) Series Description.
    pub series_description: Option<String>,
    /// (0018,1030) Protocol Name.
    pub protocol_name: Option<String>,
    /// (0008,0008) Image Type values.
    pub image_type: Vec<String>,
    /// (0018,0020) Scanning Sequence values (SE, IR, GR, EP, RM).
    pub scanning_sequence: Vec<String>,
    /// (0018,0021) Sequence Variant values.
    pub sequence_variant: Vec<String>,
    /// (0018,0023) MR Acquisition Type (2D, 3D).
    pub mr_acquisition_type: Option<String>,
    /// (0018,1312) In-plane Phase Encoding Direction (ROW, COL).
    pub phase_encoding_direction: Option<String>,
    /// (0018,0010) Contrast/Bolus Agent.
    pub contrast_agent: Option<String>,
    /// (0018,0080) Repetition Time, ms.
    pub repetition_time_ms: Option<f64>,
    /// (0018,0081) Echo Time, ms.
    pub echo_time_ms: Option<f64>,
    /// (0018,0082) Inversion Time, ms.
    pub inversion_time_ms: Option<f64>,
    /// (0018,1314) Flip Angle, degrees.
    pub flip_angle_deg: Option<f64>,
    /// (0018,0087) Magnetic Field Strength, T.
    pub field_strength_t: Option<f64>,
    /// (0018,0050) Slice Thickness, mm.
    pub slice_thickness_mm: Option<f64>,
    /// (0018,0088) Spacing Between Slices, mm; its magnitude for NM, where the sign says which
    /// way the slices are stacked (PS3.3 C.8.4.15: GE writes negative spacings), not a distance.
    pub spacing_between_slices_mm: Option<f64>,
    /// (0028,0030) Pixel Spacing (row spacing, column spacing), mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    /// (0028,0010) Rows.
    pub rows: Option<u32>,
    /// (0028,0011) Columns.
    pub columns: Option<u32>,
    /// (0018,1210) Convolution Kernel values.
    pub convolution_kernel: Vec<String>,
    /// (0008,0070) Manufacturer.
    pub manufacturer: Option<String>,
    /// (0008,1090) Manufacturer's Model Name.
    pub model: Option<String>,
    /// (0018,1020) Software Versions.
    pub software_versions: Option<String>,
    /// (0008,0020) Study Date (YYYYMMDD; de-identified, so shifted with the subject).
    pub study_date: Option<String>,
    /// (0008,0021) Series Date.
    pub series_date: Option<String>,
    /// (0012,0050) Clinical Trial Time Point ID.
    pub time_point: Option<String>,
    /// (0018,0031) Radiopharmaceutical, or the code meaning of the Radiopharmaceutical Code
    /// Sequence, of the first Radiopharmaceutical Information item.
    pub radiopharmaceutical: Option<String>,
    /// (0018,1074) Radionuclide Total Dose, in MBq (written in Bq by PET images, in MBq by NM
    /// images: PS3.3 C.8.9.4 and C.8.4.10.1.7).
    pub dose_mbq: Option<f64>,
    /// Values present but unreadable, each naming the attribute and the value.
    pub problems: Vec<String>,
}

impl Acquisition {
    /// Reads the acquisition attributes of an image.
    pub fn of(obj: &InMemDicomObject) -> Self {
        let mut problems = Vec::new();
        let mut number = |tag: Tag, name: &str| number(obj, tag, name, &mut problems);
        let repetition_time_ms = number(tags::REPETITION_TIME, "Repetition Time");
        let echo_time_ms = number(tags::ECHO_TIME, "Echo Time");
        let inversion_time_ms = number(tags::INVERSION_TIME, "Inversion Time");
        let flip_angle_deg = number(tags::FLIP_ANGLE, "Flip Angle");
        let field_strength_t = number(tags::MAGNETIC_FIELD_STRENGTH, "Magnetic Field Strength");
        let slice_thickness_mm = number(tags::SLICE_THICKNESS, "Slice Thickness");
        let nm = text(obj, tags::MODALITY).as_deref() == Some("NM");
        let spacing_between_slices_mm =
            number(tags::SPACING_BETWEEN_SLICES, "Spacing Between Slices")
                .map(|s| if nm { s.abs() } else { s });
        let pixel_spacing_mm = pair(obj, tags::PIXEL_SPACING, "Pixel Spacing", &mut problems);
        let rows = count(obj, tags::ROWS, "Rows", &mut problems);
        let columns = count(obj, tags::COLUMNS, "Columns", &mut problems);
        let rp = obj
            .get(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first());
        let radiopharmaceutical = rp.and_then(|item| {
            text(item, tags::RADIOPHARMACEUTICAL).or_else(|| {
                item.get(tags::RADIOPHARMACEUTICAL_CODE_SEQUENCE)
                    .and_then(|e| e.items())
                    .and_then(|codes| codes.first())
                    .and_then(|code| text(code, tags::CODE_MEANING))
            })
        });
        let dose_mbq = rp
            .and_then(|item| {
                number_in(
                    item,
                    tags::RADIONUCLIDE_TOTAL_DOSE,
                    "Radionuclide Total Dose",
                    &mut problems,
                )
            })
            .map(|dose| if nm { dose } else { dose / 1e6 });
        Self {
            modality: text(obj, tags::MODALITY),
            sop_class_uid: text(obj, tags::SOP_CLASS_UID),
            series_description: text(obj, tags::SERIES_DESCRIPTION),
            protocol_name: text(obj, tags::PROTOCOL_NAME),
            image_type: values(obj, tags::IMAGE_TYPE),
            scanning_sequence: values(obj, tags::SCANNING_SEQUENCE),
            sequence_variant: values(obj, tags::SEQUENCE_VARIANT),
            mr_acquisition_type: text(obj, tags::MR_ACQUISITION_TYPE),
            phase_encoding_direction: text(obj, tags::IN_PLANE_PHASE_ENCODING_DIRECTION),
            contrast_agent: text(obj, tags::CONTRAST_BOLUS_AGENT),
            repetition_time_ms,
            echo_time_ms,
            inversion_time_ms,
            flip_angle_deg,
            field_strength_t,
            slice_thickness_mm,
            spacing_between_slices_mm,
            pixel_spacing_mm,
            rows,
            columns,
            convolution_kernel: values(obj, tags::CONVOLUTION_KERNEL),
            manufacturer: text(obj, tags::MANUFACTURER),
            model: text(obj, tags::MANUFACTURER_MODEL_NAME),
            software_versions: text(obj, tags::SOFTWARE_VERSIONS),
            study_date: text(obj, tags::STUDY_DATE),
            series_date: text(obj, tags::SERIES_DATE),
            time_point: text(obj, tags::CLINICAL_TRIAL_TIME_POINT_ID),
            radiopharmaceutical,
            dose_mbq,
            problems,
        }
    }
}

/// The backslash-separated values of a text attribute, trimmed, empty ones dropped.
fn values(obj: &InMemDicomObject, tag: Tag) -> Vec<String> {
    text(obj, tag)
        .map(|t| {
            t.split('\\')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn name_of(tag: Tag, name: &str) -> String {
    format!("({:04X},{:04X}) {name}", tag.group(), tag.element())
}

fn number(obj: &InMemDicomObject, tag: Tag, name: &str, problems: &mut Vec<String>) -> Option<f64> {
    number_in(obj, tag, name, problems)
}

fn number_in(
    obj: &InMemDicomObject,
    tag: Tag,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<f64> {
    let t = text(obj, tag)?;
    let first = t.split('\\').next().unwrap_or("").trim();
    match first.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            problems.push(format!("{}: {t:?} is not a number", name_of(tag, name)));
            None
        }
    }
}

fn pair(
    obj: &InMemDicomObject,
    tag: Tag,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<[f64; 2]> {
    let t = text(obj, tag)?;
    let parsed: Vec<Option<f64>> = t
        .split('\\')
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect();
    match parsed.as_slice() {
        [Some(a), Some(b)] => Some([*a, *b]),
        _ => {
            problems.push(format!("{}: {t:?} is not two numbers", name_of(tag, name)));
            None
        }
    }
}

fn count(obj: &InMemDicomObject, tag: Tag, name: &str, problems: &mut Vec<String>) -> Option<u32> {
    let e = obj.get(tag)?;
    match e.value().to_int::<u32>() {
        Ok(v) => Some(v),
        Err(_) => {
            problems.push(format!("{}: not a count", name_of(tag, name)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    }

    #[test]
    fn reads_the_protocol_attributes_and_names_unreadable_values() {
        let mut obj = InMemDicomObject::new_empty();
        put(&mut obj, tags::MODALITY, VR::CS, "MR");
        put(&mut obj, tags::SERIES_DESCRIPTION, VR::LO, "AX T2 FLAIR ");
        put(&mut obj, tags::SCANNING_SEQUENCE, VR::CS, "SE\\IR");
        put(&mut obj, tags::REPETITION_TIME, VR::DS, "9000");
        put(&mut obj, tags::SLICE_THICKNESS, VR::DS, "thick");
        put(&mut obj, tags::PIXEL_SPACING, VR::DS, "0.9\\0.9");
        obj.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(256u16),
        ));
        let a = Acquisition::of(&obj);
        assert_eq!(a.modality.as_deref(), Some("MR"));
        assert_eq!(a.series_description.as_deref(), Some("AX T2 FLAIR"));
        assert_eq!(a.scanning_sequence, vec!["SE", "IR"]);
        assert_eq!(a.repetition_time_ms, Some(9000.0));
        assert_eq!(a.pixel_spacing_mm, Some([0.9, 0.9]));
        assert_eq!(a.rows, Some(256));
        assert_eq!(a.slice_thickness_mm, None);
        assert_eq!(
            a.problems,
            vec!["(0018,0050) Slice Thickness: \"thick\" is not a number"]
        );
    }
}
