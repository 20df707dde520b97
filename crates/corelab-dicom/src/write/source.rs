//! The source series as the derived objects (SEG, SR) reference it, and what the derived objects
//! say about themselves.
//!
//! A derived object belongs to the study of its source (PS3.3 C.7.2.1: same Study Instance UID)
//! and repeats the source's Patient and General Study modules (and the Clinical Trial Subject and
//! Study modules where the source has them, so a de-identified trial study stays attributable to
//! its subject and time point), and references every source image by SOP Class and Instance UID.
//! A SEG also shares the source's Frame of Reference and is placed on its slices, so the slices'
//! Image Position (Patient) are kept as the source wrote them (not recomputed from an affine): a
//! reader that matches frames to source images by position finds exact matches.
//!
//! The slices are sorted along the slice normal (row × column), as `series::volumes` sorts them,
//! so slice `k` here is slice `k` of the volume `series::volumes` gives for the same instances,
//! and of every mask derived on that volume's grid.

use super::{WriteError, fail};
use crate::values::text;
use corelab_image::Geometry;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, FileMetaTableBuilder, InMemDicomObject};

/// Attributes copied as they are from the source (those present): Specific Character Set (so
/// names decode as the source wrote them), the Patient module (PS3.3 C.7.1.1), the General Study
/// module (C.7.2.1), the Patient Study module's demographics (C.7.2.2), and the Clinical Trial
/// Subject (C.7.1.3) and Clinical Trial Study (C.7.2.3) modules, with the de-identification
/// attributes of the Patient module. The Clinical Trial Series module (C.7.3.2) is not copied:
/// it describes the source series, not the derived one.
const COPIED: &[Tag] = &[
    tags::SPECIFIC_CHARACTER_SET,
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::PATIENT_IDENTITY_REMOVED,
    tags::DEIDENTIFICATION_METHOD,
    tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_ID,
    tags::ACCESSION_NUMBER,
    tags::STUDY_DESCRIPTION,
    tags::CLINICAL_TRIAL_SPONSOR_NAME,
    tags::CLINICAL_TRIAL_PROTOCOL_ID,
    tags::CLINICAL_TRIAL_PROTOCOL_NAME,
    tags::CLINICAL_TRIAL_SITE_ID,
    tags::CLINICAL_TRIAL_SITE_NAME,
    tags::CLINICAL_TRIAL_SUBJECT_ID,
    tags::CLINICAL_TRIAL_SUBJECT_READING_ID,
    tags::CLINICAL_TRIAL_TIME_POINT_ID,
    tags::CLINICAL_TRIAL_TIME_POINT_DESCRIPTION,
];

/// Type 2 attributes of the Patient and General Study modules: written empty when the source
/// lacks them (PS3.5 7.4.5: a type 2 attribute is present, possibly empty).
const TYPE_2: &[(Tag, VR)] = &[
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

/// One source image (a slice of the source series), in slice order.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSlice {
    /// (0008,0016) SOP Class UID.
    pub sop_class_uid: String,
    /// (0008,0018) SOP Instance UID.
    pub sop_instance_uid: String,
    /// (0020,0032) Image Position (Patient), as the source wrote it (mm, LPS).
    pub position: [f64; 3],
}

/// The source series of a derived object: what SEG and SR copy from it and how they reference it.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// The copied attributes (see `COPIED`), with the type 2 ones present.
    pub attributes: InMemDicomObject,
    /// (0020,000D) Study Instance UID.
    pub study_instance_uid: String,
    /// (0020,000E) Series Instance UID of the source series.
    pub series_instance_uid: String,
    /// (0020,0052) Frame of Reference UID.
    pub frame_of_reference_uid: String,
    /// (0008,0060) Modality of the source series.
    pub modality: String,
    /// (0020,0037) Image Orientation (Patient): row then column direction cosines.
    pub orientation: [f64; 6],
    /// (0028,0030) Pixel Spacing: between rows, between columns (mm, DICOM's order).
    pub pixel_spacing: [f64; 2],
    /// (0028,0010) Rows.
    pub rows: u16,
    /// (0028,0011) Columns.
    pub columns: u16,
    /// The slices, sorted along the slice normal.
    pub slices: Vec<SourceSlice>,
    /// The grid the slices form (as `series::volumes` forms it): masks must be on it.
    pub grid: Geometry,
}

/// Largest difference (mm, per affine entry) between a mask's grid and the source's that is
/// still the same grid: Decimal Strings keep positions to about 1e-6 mm, so anything larger is
/// another grid.
const GRID_TOLERANCE: f64 = 1e-3;

impl Source {
    /// The source of `instances` (a series read with [`crate::series::Instance`]), named in
    /// errors by their names.
    pub fn from_instances(instances: &[crate::series::Instance]) -> Result<Self, WriteError> {
        Self::build(
            instances
                .iter()
                .map(|i| (i.name.clone(), &*i.object))
                .collect(),
        )
    }

    /// The source of `objects` (the data sets of one series, in any order), named in errors as
    /// `instance N` (from 1, in the order given).
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a InMemDicomObject>,
    ) -> Result<Self, WriteError> {
        Self::build(
            objects
                .into_iter()
                .enumerate()
                .map(|(n, o)| (format!("instance {}", n + 1), o))
                .collect(),
        )
    }

    fn build(objects: Vec<(String, &InMemDicomObject)>) -> Result<Self, WriteError> {
        let Some((first_name, first)) = objects.first() else {
            return fail("source series", "no instances");
        };
        let required = |name: &str, obj: &InMemDicomObject, tag: Tag, what: &str| {
            text(obj, tag).ok_or_else(|| WriteError {
                what: name.to_owned(),
                why: format!("no {tag} {what}: a derived object must reference it"),
            })
        };
        let study = required(
            first_name,
            first,
            tags::STUDY_INSTANCE_UID,
            "Study Instance UID",
        )?;
        let series = required(
            first_name,
            first,
            tags::SERIES_INSTANCE_UID,
            "Series Instance UID",
        )?;
        let frame_of_reference = required(
            first_name,
            first,
            tags::FRAME_OF_REFERENCE_UID,
            "Frame of Reference UID",
        )?;
        let modality = required(first_name, first, tags::MODALITY, "Modality")?;
        // Said before the per-slice attributes a multi-frame object keeps elsewhere (in its
        // functional groups or NM detector sequence), so the reason is the real one.
        let frames = crate::series::frame_count(first);
        if frames > 1 {
            return fail(
                first_name,
                format!(
                    "a {modality} object of {frames} frames: derived objects reference single-frame source images only (multi-frame sources are not supported yet)"
                ),
            );
        }
        let numbers = |name: &str, obj: &InMemDicomObject, tag: Tag, n: usize, what: &str| {
            crate::series::numbers(obj, tag, n, what).or_else(|why| fail(name, why))
        };
        let o = numbers(
            first_name,
            first,
            tags::IMAGE_ORIENTATION_PATIENT,
            6,
            "Image Orientation (Patient)",
        )?;
        let orientation = [o[0], o[1], o[2], o[3], o[4], o[5]];
        let s = numbers(first_name, first, tags::PIXEL_SPACING, 2, "Pixel Spacing")?;
        let pixel_spacing = [s[0], s[1]];
        let (rows, columns) = crate::series::size(first).or_else(|why| fail(first_name, why))?;
        let plane = crate::series::plane(&[0.0; 3], &orientation, &pixel_spacing)
            .or_else(|why| fail(first_name, why))?;
        let normal = crate::series::cross(plane.row_dir, plane.col_dir);

        let mut slices = Vec::with_capacity(objects.len());
        for (name, obj) in &objects {
            let frames = crate::series::frame_count(obj);
            if frames > 1 {
                return fail(
                    name,
                    format!(
                        "{frames} frames: derived objects reference single-frame source images only (multi-frame sources are not supported yet)"
                    ),
                );
            }
            let same = |tag: Tag, what: &str, expected: &str| -> Result<(), WriteError> {
                let v = required(name, obj, tag, what)?;
                if v != expected {
                    return fail(
                        name,
                        format!("{tag} {what} {v}, while {first_name} has {expected}"),
                    );
                }
                Ok(())
            };
            same(tags::STUDY_INSTANCE_UID, "Study Instance UID", &study)?;
            same(tags::SERIES_INSTANCE_UID, "Series Instance UID", &series)?;
            same(
                tags::FRAME_OF_REFERENCE_UID,
                "Frame of Reference UID",
                &frame_of_reference,
            )?;
            let o = numbers(
                name,
                obj,
                tags::IMAGE_ORIENTATION_PATIENT,
                6,
                "Image Orientation (Patient)",
            )?;
            if o.iter().zip(orientation).any(|(a, b)| (a - b).abs() > 1e-4) {
                return fail(
                    name,
                    format!(
                        "Image Orientation (Patient) {o:?}, while {first_name} has {orientation:?}"
                    ),
                );
            }
            let s = numbers(name, obj, tags::PIXEL_SPACING, 2, "Pixel Spacing")?;
            if s.iter()
                .zip(pixel_spacing)
                .any(|(a, b)| (a - b).abs() > 1e-4)
            {
                return fail(
                    name,
                    format!("Pixel Spacing {s:?}, while {first_name} has {pixel_spacing:?}"),
                );
            }
            if crate::series::size(obj).or_else(|why| fail(name, why))? != (rows, columns) {
                return fail(
                    name,
                    format!("a size other than {first_name}'s {columns}×{rows}"),
                );
            }
            let p = numbers(
                name,
                obj,
                tags::IMAGE_POSITION_PATIENT,
                3,
                "Image Position (Patient)",
            )?;
            slices.push((
                name.clone(),
                SourceSlice {
                    sop_class_uid: required(name, obj, tags::SOP_CLASS_UID, "SOP Class UID")?,
                    sop_instance_uid: required(
                        name,
                        obj,
                        tags::SOP_INSTANCE_UID,
                        "SOP Instance UID",
                    )?,
                    position: [p[0], p[1], p[2]],
                },
            ));
        }
        let along = |s: &SourceSlice| (0..3).map(|a| s.position[a] * normal[a]).sum::<f64>();
        slices.sort_by(|a, b| along(&a.1).total_cmp(&along(&b.1)));
        let n = slices.len();
        let p0 = slices[0].1.position;
        let step = if n > 1 {
            let pn = slices[n - 1].1.position;
            [0, 1, 2].map(|a| (pn[a] - p0[a]) / (n - 1) as f64)
        } else {
            // One slice: its thickness (or 1 mm) along the normal, as `series::volumes` does.
            let t = text(first, tags::SLICE_THICKNESS)
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|t| *t > 0.0)
                .unwrap_or(1.0);
            normal.map(|x| x * t)
        };
        for (k, (name, s)) in slices.iter().enumerate() {
            let expected = [0, 1, 2].map(|a| p0[a] + step[a] * k as f64);
            if (0..3).any(|a| (s.position[a] - expected[a]).abs() > 0.01) {
                return fail(
                    name,
                    format!(
                        "Image Position (Patient) {:?} is not on the evenly spaced line of the other slices (expected {expected:?}): not one volume (missing or repeated slices, several stacks?)",
                        s.position
                    ),
                );
            }
        }
        let mut affine = nalgebra::Matrix4::identity();
        for r in 0..3 {
            affine[(r, 0)] = plane.row_dir[r] * plane.spacing_ij[0];
            affine[(r, 1)] = plane.col_dir[r] * plane.spacing_ij[1];
            affine[(r, 2)] = step[r];
            affine[(r, 3)] = p0[r];
        }
        let grid = Geometry {
            dims: [usize::from(columns), usize::from(rows), n],
            affine,
        };

        let mut attributes = InMemDicomObject::new_empty();
        for tag in COPIED {
            if let Some(e) = first.get(*tag) {
                attributes.put(e.clone());
            }
        }
        for (tag, vr) in TYPE_2 {
            if attributes.get(*tag).is_none() {
                attributes.put(DataElement::new(*tag, *vr, PrimitiveValue::Empty));
            }
        }
        Ok(Self {
            attributes,
            study_instance_uid: study,
            series_instance_uid: series,
            frame_of_reference_uid: frame_of_reference,
            modality,
            orientation,
            pixel_spacing,
            rows,
            columns,
            slices: slices.into_iter().map(|(_, s)| s).collect(),
            grid,
        })
    }

    /// Refuses a grid other than the source's (`what` names the mask in the error).
    pub fn check_grid(&self, what: &str, grid: &Geometry) -> Result<(), WriteError> {
        if grid.dims != self.grid.dims {
            return fail(
                what,
                format!(
                    "a grid of {:?} voxels, while the source series has {:?}: a mask must be on its source's grid",
                    grid.dims, self.grid.dims
                ),
            );
        }
        let off = (0..3)
            .flat_map(|r| (0..4).map(move |c| (r, c)))
            .map(|(r, c)| (grid.affine[(r, c)] - self.grid.affine[(r, c)]).abs())
            .fold(0.0, f64::max);
        if off.is_nan() || off > GRID_TOLERANCE {
            return fail(
                what,
                format!(
                    "its affine differs from the source series' by up to {off:.4} mm: a mask must be on its source's grid (source {}, mask {})",
                    self.grid.affine, grid.affine
                ),
            );
        }
        Ok(())
    }
}

/// What a derived object says about itself. Everything that would otherwise come from a clock or
/// a random generator is given here, so the same inputs give the same bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedMeta {
    /// (0020,000E) Series Instance UID of the derived series.
    pub series_instance_uid: String,
    /// (0008,0018) SOP Instance UID of the derived object.
    pub sop_instance_uid: String,
    /// (0020,0011) Series Number.
    pub series_number: u32,
    /// (0020,0013) Instance Number.
    pub instance_number: u32,
    /// (0008,103E) Series Description.
    pub series_description: String,
    /// (0070,0080) Content Label (SEG; CS: upper-case letters, digits, space and `_`, at most
    /// 16 characters).
    pub content_label: String,
    /// (0070,0081) Content Description.
    pub content_description: String,
    /// (0008,0070) Manufacturer (`corelab`).
    pub manufacturer: String,
    /// (0008,1090) Manufacturer's Model Name.
    pub manufacturer_model_name: String,
    /// (0018,1000) Device Serial Number (of the installation that derived the object).
    pub device_serial_number: String,
    /// (0018,1020) Software Versions.
    pub software_versions: String,
    /// (0008,0023) Content Date (YYYYMMDD), also the Series Date.
    pub content_date: String,
    /// (0008,0033) Content Time (HHMMSS[.FFFFFF]), also the Series Time.
    pub content_time: String,
}

impl DerivedMeta {
    /// What every derived object says of itself, whatever its IOD: SOP Common (class, instance,
    /// creation date and time), General Series (modality, series UID, number, date, time,
    /// description), General Equipment (manufacturer, model, serial number, software) and the
    /// instance's number and content date and time.
    pub(crate) fn series_elements(
        &self,
        sop_class: &str,
        modality: &str,
    ) -> Vec<DataElement<InMemDicomObject>> {
        vec![
            txt(tags::INSTANCE_CREATION_DATE, VR::DA, &self.content_date),
            txt(tags::INSTANCE_CREATION_TIME, VR::TM, &self.content_time),
            txt(tags::SOP_CLASS_UID, VR::UI, sop_class),
            txt(tags::SOP_INSTANCE_UID, VR::UI, &self.sop_instance_uid),
            txt(tags::SERIES_DATE, VR::DA, &self.content_date),
            txt(tags::CONTENT_DATE, VR::DA, &self.content_date),
            txt(tags::SERIES_TIME, VR::TM, &self.content_time),
            txt(tags::CONTENT_TIME, VR::TM, &self.content_time),
            txt(tags::MODALITY, VR::CS, modality),
            txt(tags::MANUFACTURER, VR::LO, &self.manufacturer),
            txt(tags::SERIES_DESCRIPTION, VR::LO, &self.series_description),
            txt(
                tags::MANUFACTURER_MODEL_NAME,
                VR::LO,
                &self.manufacturer_model_name,
            ),
            txt(
                tags::DEVICE_SERIAL_NUMBER,
                VR::LO,
                &self.device_serial_number,
            ),
            txt(tags::SOFTWARE_VERSIONS, VR::LO, &self.software_versions),
            txt(tags::SERIES_INSTANCE_UID, VR::UI, &self.series_instance_uid),
            txt(tags::SERIES_NUMBER, VR::IS, &self.series_number.to_string()),
            txt(
                tags::INSTANCE_NUMBER,
                VR::IS,
                &self.instance_number.to_string(),
            ),
        ]
    }

    /// Refuses values that would make an invalid object.
    pub(crate) fn check(&self) -> Result<(), WriteError> {
        check_uid("Series Instance UID", &self.series_instance_uid)?;
        check_uid("SOP Instance UID", &self.sop_instance_uid)?;
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if self.content_date.len() != 8 || !digits(&self.content_date) {
            return fail(
                "Content Date",
                format!("{:?} is not YYYYMMDD", self.content_date),
            );
        }
        let (hms, frac) = self
            .content_time
            .split_once('.')
            .unwrap_or((&self.content_time, ""));
        if hms.len() != 6 || !digits(hms) || frac.len() > 6 || !digits(frac) {
            return fail(
                "Content Time",
                format!("{:?} is not HHMMSS[.FFFFFF]", self.content_time),
            );
        }
        Ok(())
    }
}

/// Refuses a UID that is not one (PS3.5 9.1: digits and dots, components without leading zeros,
/// at most 64 characters).
pub(crate) fn check_uid(what: &str, uid: &str) -> Result<(), WriteError> {
    let ok = !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        });
    if !ok {
        return fail(what, format!("{uid:?} is not a valid DICOM UID"));
    }
    Ok(())
}

/// A coded concept (PS3.3 Table 8.8-1): Code Value, Coding Scheme Designator, Code Meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Code {
    /// Code Value (written as Long Code Value when longer than 16 characters, PS3.3 8.8.1.1).
    pub value: String,
    /// Coding Scheme Designator (`SCT`, `DCM`, `UCUM`, `99CORELAB`).
    pub scheme: String,
    /// Code Meaning.
    pub meaning: String,
}

impl Code {
    /// A code.
    pub fn new(value: &str, scheme: &str, meaning: &str) -> Self {
        Self {
            value: value.to_owned(),
            scheme: scheme.to_owned(),
            meaning: meaning.to_owned(),
        }
    }

    /// The code as a Code Sequence item. A value over 16 characters (too long for the SH Code
    /// Value) goes into Long Code Value (0008,0119) instead, as PS3.3 8.8.1.1 requires.
    pub fn item(&self) -> InMemDicomObject {
        let t = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let value = if self.value.chars().count() > 16 {
            t(tags::LONG_CODE_VALUE, VR::UC, &self.value)
        } else {
            t(tags::CODE_VALUE, VR::SH, &self.value)
        };
        InMemDicomObject::from_element_iter([
            value,
            t(tags::CODING_SCHEME_DESIGNATOR, VR::SH, &self.scheme),
            t(tags::CODE_MEANING, VR::LO, &self.meaning),
        ])
    }

    /// Refuses an incomplete code (`what` names it in the error).
    pub(crate) fn check(&self, what: &str) -> Result<(), WriteError> {
        if self.value.trim().is_empty()
            || self.scheme.trim().is_empty()
            || self.meaning.trim().is_empty()
        {
            return fail(
                what,
                format!("{self:?}: a code needs a value, a scheme and a meaning"),
            );
        }
        if self.meaning.chars().count() > 64 {
            return fail(
                what,
                format!("Code Meaning {:?} is over 64 characters", self.meaning),
            );
        }
        Ok(())
    }
}

/// A sequence element of `items`.
pub(crate) fn sq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::from(items))
}

/// A text element.
pub(crate) fn txt(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

/// A Code Sequence element of one code.
pub(crate) fn code_sq(tag: Tag, code: &Code) -> DataElement<InMemDicomObject> {
    sq(tag, vec![code.item()])
}

/// A UID for something the object needs one for but the caller did not give (Dimension
/// Organization UID): `2.25.` and the decimal of 128 bits of SHA-256 of `seed` (PS3.5 B.2 form),
/// so the same object always gets the same UID and no clock or random source is read.
pub fn derived_uid(seed: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// The object as a Part 10 file in Explicit VR Little Endian (file meta from its SOP Class and
/// Instance UID).
pub(crate) fn part10(
    obj: InMemDicomObject,
    what: &str,
) -> Result<FileDicomObject<InMemDicomObject>, WriteError> {
    obj.with_meta(FileMetaTableBuilder::new().transfer_syntax(super::EXPLICIT_VR_LE))
        .or_else(|e| fail(what, format!("file meta group: {e}")))
}

/// The bytes of a Part 10 file.
pub fn to_bytes(file: &FileDicomObject<InMemDicomObject>) -> Result<Vec<u8>, WriteError> {
    let mut bytes = Vec::new();
    file.write_all(&mut bytes)
        .or_else(|e| fail("Part 10 file", e))?;
    Ok(bytes)
}
