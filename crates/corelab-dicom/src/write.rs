//! A volume written as a single-frame DICOM series (MR, CT or PET Image Storage, Explicit VR
//! Little Endian), one file per slice, with the geometry `series::volumes` reads back; a
//! reconstructed SPECT (`Acquisition::Nm`) as one NM multi-frame object instead, a frame per
//! slice (`write/nm.rs`).
//!
//! Geometry (`docs/geometry.md`): Image Orientation (Patient) is the unit directions of the
//! affine's first two columns (i along a row, j down the rows), Pixel Spacing their lengths in
//! DICOM's row\column order, Image Position (Patient) of slice `k` the affine applied to
//! `(0, 0, k)`; Slice Thickness and Spacing Between Slices the length of the third column. A
//! volume whose third column points along row × column reads back with the same affine; one
//! pointing the other way reads back with its slices reversed (the reader sorts along the
//! normal).
//!
//! Values: stored as signed 16-bit integers through one Rescale Slope and Intercept for the
//! series: CT keeps the customary slope 1, intercept −1024 (HU from −1024 to 31743); MR and PET
//! get intercept 0 and the smallest slope of 1, 2, 2.5 or 5 × 10ⁿ that holds the largest
//! magnitude in 32,000 steps. Values are rounded to the nearest step (clamped to the int16
//! range); the slope and intercept written are the ones applied, so a reader gets back
//! `stored × slope + intercept` exactly as the writer meant it.

use corelab_image::Volume;
use corelab_image::phantom::Acquisition;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use std::path::{Path, PathBuf};

mod nm;
pub mod sc;
pub mod seg;
pub mod source;
pub mod sr;

/// Explicit VR Little Endian.
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// Why a series could not be written.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{what}: {why}")]
pub struct WriteError {
    /// The file or field concerned.
    pub what: String,
    /// What went wrong.
    pub why: String,
}

fn fail<T>(what: impl Into<String>, why: impl std::fmt::Display) -> Result<T, WriteError> {
    Err(WriteError {
        what: what.into(),
        why: why.to_string(),
    })
}

/// Everything a series' header says beyond its geometry and pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesHeader {
    /// (0010,0010) Patient's Name.
    pub patient_name: String,
    /// (0010,0020) Patient ID.
    pub patient_id: String,
    /// (0010,0030) Patient's Birth Date (YYYYMMDD).
    pub patient_birth_date: String,
    /// (0010,0040) Patient's Sex.
    pub patient_sex: String,
    /// (0010,1030) Patient's Weight, kg.
    pub patient_weight_kg: Option<f64>,
    /// (0010,1020) Patient's Size, m.
    pub patient_size_m: Option<f64>,
    /// (0020,000D) Study Instance UID.
    pub study_instance_uid: String,
    /// (0020,0010) Study ID.
    pub study_id: String,
    /// (0008,0020) Study Date.
    pub study_date: String,
    /// (0008,0030) Study Time.
    pub study_time: String,
    /// (0008,1030) Study Description.
    pub study_description: String,
    /// (0008,0050) Accession Number.
    pub accession_number: String,
    /// (0020,000E) Series Instance UID; each slice's SOP Instance UID is it followed by
    /// `.N` (N = 1, 2, … in slice order).
    pub series_instance_uid: String,
    /// (0020,0011) Series Number.
    pub series_number: u32,
    /// (0008,103E) Series Description.
    pub series_description: String,
    /// (0018,1030) Protocol Name.
    pub protocol_name: String,
    /// (0008,0021) Series Date, also Acquisition and Content Date.
    pub series_date: String,
    /// (0008,0031) Series Time, also Acquisition and Content Time.
    pub series_time: String,
    /// (0018,0015) Body Part Examined.
    pub body_part_examined: String,
    /// (0020,0052) Frame of Reference UID.
    pub frame_of_reference_uid: String,
    /// (0008,0070) Manufacturer.
    pub manufacturer: String,
    /// (0008,1090) Manufacturer's Model Name.
    pub manufacturer_model_name: String,
    /// (0008,0080) Institution Name.
    pub institution_name: String,
    /// (0008,1010) Station Name.
    pub station_name: String,
    /// (0018,1020) Software Versions.
    pub software_versions: String,
    /// The modality and its own attributes.
    pub acquisition: Acquisition,
    /// A cine series: (0018,1060) Trigger Time of each temporal position, ms.
    pub times_ms: Vec<f64>,
    /// A cine series: (0018,1062) Nominal Interval (R–R), ms.
    pub nominal_interval_ms: Option<f64>,
}

/// A DICOM UID of numeric components under `root` (each component written without leading
/// zeros, as PS3.5 9.1 requires), or an error if it would exceed 64 characters.
pub fn uid(root: &str, parts: &[u64]) -> Result<String, WriteError> {
    let mut u = root.to_owned();
    for p in parts {
        u.push('.');
        u.push_str(&p.to_string());
    }
    if u.len() > 64 {
        return fail("UID", format!("{u} is {} characters, 64 at most", u.len()));
    }
    Ok(u)
}

/// A number as a Decimal String (at most 16 characters, no exponent where avoidable).
pub fn ds(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    for precision in (0..=10).rev() {
        let mut s = format!("{x:.precision$}");
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        if s == "-0" {
            s = "0".into();
        }
        if s.len() <= 16 {
            return s;
        }
    }
    let s = format!("{x:.6e}");
    s.chars().take(16).collect()
}

/// The Rescale Slope and Intercept a series of `modality` with values in `[min, max]` is
/// stored with (module documentation).
pub fn rescale_for(modality: &str, min: f64, max: f64) -> (f64, f64) {
    if modality == "CT" && min >= -1024.0 && max <= 31743.0 {
        return (1.0, -1024.0);
    }
    (slope_for(min.abs().max(max.abs()), 32000.0), 0.0)
}

/// The smallest slope of 1, 2, 2.5 or 5 × 10ⁿ that holds `largest` in `steps` steps (1 for a
/// zero or non-finite `largest`), as a reader parses it back from its Decimal String.
fn slope_for(largest: f64, steps: f64) -> f64 {
    let target = largest / steps;
    if !(target.is_finite() && target > 0.0) {
        return 1.0;
    }
    let decade = 10f64.powi(target.log10().floor() as i32);
    let slope = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|s| *s >= target)
        .unwrap_or(10.0 * decade);
    // Through its text, so the value applied is the value a reader parses.
    ds(slope).parse().unwrap_or(slope)
}

/// The Part 10 files of `volume` as a series, slice `k` first to last.
/// A cine series gives one volume per temporal position (all on one grid, `times_ms`
/// of the header holding one time each): the files are slice by slice within each position,
/// position after position, with Temporal Position Identifier, Trigger Time and Cardiac Number of
/// Images, so that `series::volumes` splits them back into the positions.
pub fn encode_series(
    volumes: &[Volume<f32>],
    h: &SeriesHeader,
) -> Result<Vec<Vec<u8>>, WriteError> {
    let Some(volume) = volumes.first() else {
        return fail("series", "no volume to write");
    };
    if let Acquisition::Nm(nm) = &h.acquisition {
        if volumes.len() > 1 || !h.times_ms.is_empty() {
            return fail(
                "series",
                "NM is written as one reconstructed SPECT volume (RECON TOMO); gated or dynamic NM is not written",
            );
        }
        return nm::encode(volume, h, nm).map(|file| vec![file]);
    }
    let g = &volume.geometry;
    if volumes.iter().any(|v| v.geometry != *g) {
        return fail("series", "the volumes of a cine series must share one grid");
    }
    let cine = volumes.len() > 1 || !h.times_ms.is_empty();
    if cine && h.times_ms.len() != volumes.len() {
        return fail(
            "series",
            format!(
                "{} volumes and {} trigger times",
                volumes.len(),
                h.times_ms.len()
            ),
        );
    }
    let [ni, nj, nk] = g.dims;
    let (rows, columns) = match (u16::try_from(nj), u16::try_from(ni)) {
        (Ok(r), Ok(c)) => (r, c),
        _ => return fail("volume", format!("{ni}×{nj} pixels: at most 65535 a side")),
    };
    let spacing = g.spacing();
    let dirs = g.directions();
    let modality = h.acquisition.modality();
    let (min, max) = volumes
        .iter()
        .flat_map(|v| v.data.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(f64::from(*v)), hi.max(f64::from(*v)))
        });
    if !(min.is_finite() && max.is_finite()) {
        return fail("volume", "values that are not finite numbers");
    }
    let (slope, intercept) = rescale_for(modality, min, max);
    let (centre, width) = match modality {
        "CT" => (40.0, 400.0),
        _ => (max / 2.0, max.max(1.0)),
    };
    let normal = cross(dirs[0], dirs[1]);
    let orientation = join(&[dirs[0], dirs[1]].concat());
    let mut files = Vec::with_capacity(nk * volumes.len());
    for (t, volume) in volumes.iter().enumerate() {
        for k in 0..nk {
            let position = g.to_patient([0.0, 0.0, k as f64]);
            let mut pixels = Vec::with_capacity(ni * nj * 2);
            for j in 0..nj {
                for i in 0..ni {
                    let v = f64::from(volume.data[[i, j, k]]);
                    let stored = ((v - intercept) / slope)
                        .round()
                        .clamp(f64::from(i16::MIN), f64::from(i16::MAX))
                        as i16;
                    pixels.extend_from_slice(&stored.to_le_bytes());
                }
            }
            let mut obj = common(h, t * nk + k)?;
            if cine {
                let n = volumes.len().to_string();
                let mut put = |tag: Tag, vr: VR, v: String| {
                    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
                };
                put(
                    tags::TEMPORAL_POSITION_IDENTIFIER,
                    VR::IS,
                    (t + 1).to_string(),
                );
                put(tags::NUMBER_OF_TEMPORAL_POSITIONS, VR::IS, n.clone());
                match h.nominal_interval_ms {
                    // Cardiac: the time after the R wave.
                    Some(rr) => {
                        put(tags::CARDIAC_NUMBER_OF_IMAGES, VR::IS, n);
                        put(tags::TRIGGER_TIME, VR::DS, ds(h.times_ms[t]));
                        put(
                            tags::NOMINAL_INTERVAL,
                            VR::IS,
                            format!("{}", rr.round() as i64),
                        );
                    }
                    // Dynamic: each position acquired that long after the series time.
                    None => put(
                        tags::ACQUISITION_TIME,
                        VR::TM,
                        later(&h.series_time, h.times_ms[t]),
                    ),
                }
            }
            let mut put = |tag: Tag, vr: VR, v: &str| {
                obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
            };
            put(tags::IMAGE_POSITION_PATIENT, VR::DS, &join(&position));
            put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, &orientation);
            put(
                tags::SLICE_LOCATION,
                VR::DS,
                &ds((0..3).map(|a| position[a] * normal[a]).sum()),
            );
            put(tags::SLICE_THICKNESS, VR::DS, &ds(spacing[2]));
            put(tags::SPACING_BETWEEN_SLICES, VR::DS, &ds(spacing[2]));
            put(
                tags::PIXEL_SPACING,
                VR::DS,
                &format!("{}\\{}", ds(spacing[1]), ds(spacing[0])),
            );
            obj.put(DataElement::new(
                tags::ROWS,
                VR::US,
                PrimitiveValue::from(rows),
            ));
            obj.put(DataElement::new(
                tags::COLUMNS,
                VR::US,
                PrimitiveValue::from(columns),
            ));
            for (tag, v) in [
                (tags::SAMPLES_PER_PIXEL, 1u16),
                (tags::BITS_ALLOCATED, 16),
                (tags::BITS_STORED, 16),
                (tags::HIGH_BIT, 15),
                (tags::PIXEL_REPRESENTATION, 1),
            ] {
                obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
            }
            let mut put = |tag: Tag, vr: VR, v: &str| {
                obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
            };
            put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
            put(tags::RESCALE_INTERCEPT, VR::DS, &ds(intercept));
            put(tags::RESCALE_SLOPE, VR::DS, &ds(slope));
            if modality == "CT" {
                put(tags::RESCALE_TYPE, VR::LO, "HU");
            }
            put(tags::WINDOW_CENTER, VR::DS, &ds(centre.round()));
            put(tags::WINDOW_WIDTH, VR::DS, &ds(width.round()));
            if let Acquisition::Pt(_) = h.acquisition {
                obj.put(DataElement::new(
                    tags::IMAGE_INDEX,
                    VR::US,
                    PrimitiveValue::from((k + 1) as u16),
                ));
                obj.put(DataElement::new(
                    tags::NUMBER_OF_SLICES,
                    VR::US,
                    PrimitiveValue::from(nk as u16),
                ));
            }
            obj.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U8(pixels.into()),
            ));
            let bytes = crate::deid::encode_part10(obj, EXPLICIT_VR_LE)
                .or_else(|why| fail(format!("slice {}", k + 1), why))?;
            files.push(bytes);
        }
    }
    Ok(files)
}

/// Writes the series into `dir` (created if needed) as `0001.dcm`, `0002.dcm`, … in the order of
/// [`encode_series`].
pub fn write_series(
    volumes: &[Volume<f32>],
    header: &SeriesHeader,
    dir: &Path,
) -> Result<Vec<PathBuf>, WriteError> {
    let files = encode_series(volumes, header)?;
    std::fs::create_dir_all(dir).or_else(|e| fail(dir.display().to_string(), e))?;
    let mut paths = Vec::with_capacity(files.len());
    for (n, bytes) in files.iter().enumerate() {
        let path = dir.join(format!("{:04}.dcm", n + 1));
        std::fs::write(&path, bytes).or_else(|e| fail(path.display().to_string(), e))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The attributes every slice shares, and its own number and UID.
fn common(h: &SeriesHeader, k: usize) -> Result<InMemDicomObject, WriteError> {
    let (sop_class, image_type, position) = match &h.acquisition {
        Acquisition::Mr(_) => (uids::MR_IMAGE_STORAGE, "ORIGINAL\\PRIMARY\\M\\ND", "HFS"),
        Acquisition::Ct(_) => (uids::CT_IMAGE_STORAGE, "ORIGINAL\\PRIMARY\\AXIAL", "FFS"),
        Acquisition::Nm(_) => (
            uids::NUCLEAR_MEDICINE_IMAGE_STORAGE,
            "ORIGINAL\\PRIMARY\\RECON TOMO\\EMISSION",
            "HFS",
        ),
        Acquisition::Pt(_) => (
            uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
            "ORIGINAL\\PRIMARY",
            "FFS",
        ),
    };
    let sop_instance = format!("{}.{}", h.series_instance_uid, k + 1);
    if sop_instance.len() > 64 {
        return fail(
            "SOP Instance UID",
            format!("{sop_instance} is longer than 64 characters"),
        );
    }
    let t = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let mut obj = InMemDicomObject::from_element_iter([
        t(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100"),
        t(tags::IMAGE_TYPE, VR::CS, image_type),
        t(tags::SOP_CLASS_UID, VR::UI, sop_class),
        t(tags::SOP_INSTANCE_UID, VR::UI, &sop_instance),
        t(tags::STUDY_DATE, VR::DA, &h.study_date),
        t(tags::SERIES_DATE, VR::DA, &h.series_date),
        t(tags::ACQUISITION_DATE, VR::DA, &h.series_date),
        t(tags::CONTENT_DATE, VR::DA, &h.series_date),
        t(tags::STUDY_TIME, VR::TM, &h.study_time),
        t(tags::SERIES_TIME, VR::TM, &h.series_time),
        t(tags::ACQUISITION_TIME, VR::TM, &h.series_time),
        t(tags::CONTENT_TIME, VR::TM, &h.series_time),
        t(tags::ACCESSION_NUMBER, VR::SH, &h.accession_number),
        t(tags::MODALITY, VR::CS, h.acquisition.modality()),
        t(tags::MANUFACTURER, VR::LO, &h.manufacturer),
        t(tags::INSTITUTION_NAME, VR::LO, &h.institution_name),
        t(tags::REFERRING_PHYSICIAN_NAME, VR::PN, ""),
        t(tags::STATION_NAME, VR::SH, &h.station_name),
        t(tags::STUDY_DESCRIPTION, VR::LO, &h.study_description),
        t(tags::SERIES_DESCRIPTION, VR::LO, &h.series_description),
        t(
            tags::MANUFACTURER_MODEL_NAME,
            VR::LO,
            &h.manufacturer_model_name,
        ),
        t(tags::PATIENT_NAME, VR::PN, &h.patient_name),
        t(tags::PATIENT_ID, VR::LO, &h.patient_id),
        t(tags::PATIENT_BIRTH_DATE, VR::DA, &h.patient_birth_date),
        t(tags::PATIENT_SEX, VR::CS, &h.patient_sex),
        t(tags::BODY_PART_EXAMINED, VR::CS, &h.body_part_examined),
        t(tags::SOFTWARE_VERSIONS, VR::LO, &h.software_versions),
        t(tags::PROTOCOL_NAME, VR::LO, &h.protocol_name),
        t(tags::PATIENT_POSITION, VR::CS, position),
        t(tags::STUDY_INSTANCE_UID, VR::UI, &h.study_instance_uid),
        t(tags::SERIES_INSTANCE_UID, VR::UI, &h.series_instance_uid),
        t(tags::STUDY_ID, VR::SH, &h.study_id),
        t(tags::SERIES_NUMBER, VR::IS, &h.series_number.to_string()),
        t(tags::ACQUISITION_NUMBER, VR::IS, "1"),
        t(tags::INSTANCE_NUMBER, VR::IS, &(k + 1).to_string()),
        t(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &h.frame_of_reference_uid,
        ),
        t(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""),
    ]);
    if let Some(w) = h.patient_weight_kg {
        obj.put(t(tags::PATIENT_WEIGHT, VR::DS, &ds(w)));
    }
    if let Some(s) = h.patient_size_m {
        obj.put(t(tags::PATIENT_SIZE, VR::DS, &ds(s)));
    }
    match &h.acquisition {
        Acquisition::Mr(m) => {
            for (tag, vr, v) in [
                (tags::SCANNING_SEQUENCE, VR::CS, m.scanning_sequence.clone()),
                (tags::SEQUENCE_VARIANT, VR::CS, m.sequence_variant.clone()),
                (
                    tags::MR_ACQUISITION_TYPE,
                    VR::CS,
                    m.acquisition_type.clone(),
                ),
                (tags::SEQUENCE_NAME, VR::SH, m.sequence_name.clone()),
                (tags::REPETITION_TIME, VR::DS, ds(m.repetition_time_ms)),
                (tags::ECHO_TIME, VR::DS, ds(m.echo_time_ms)),
                (tags::NUMBER_OF_AVERAGES, VR::DS, "1".into()),
                (
                    tags::IMAGING_FREQUENCY,
                    VR::DS,
                    ds((42.577478 * m.field_strength_t * 1e4).round() / 1e4),
                ),
                (tags::IMAGED_NUCLEUS, VR::SH, "1H".into()),
                (tags::ECHO_NUMBERS, VR::IS, "1".into()),
                (
                    tags::MAGNETIC_FIELD_STRENGTH,
                    VR::DS,
                    ds(m.field_strength_t),
                ),
                (tags::FLIP_ANGLE, VR::DS, ds(m.flip_angle_deg)),
                (
                    tags::IN_PLANE_PHASE_ENCODING_DIRECTION,
                    VR::CS,
                    m.phase_encoding_direction.clone(),
                ),
            ] {
                obj.put(t(tag, vr, &v));
            }
            if let Some(ti) = m.inversion_time_ms {
                obj.put(t(tags::INVERSION_TIME, VR::DS, &ds(ti)));
            }
        }
        Acquisition::Ct(c) => {
            obj.put(t(tags::KVP, VR::DS, &ds(c.kvp)));
            obj.put(t(tags::CONVOLUTION_KERNEL, VR::SH, &c.kernel));
            obj.put(t(
                tags::X_RAY_TUBE_CURRENT,
                VR::IS,
                &format!("{}", c.tube_current_ma.round() as i64),
            ));
        }
        Acquisition::Pt(p) => {
            let (date, time) = p
                .injection_datetime
                .split_at(p.injection_datetime.len().min(8));
            let item = InMemDicomObject::from_element_iter([
                t(tags::RADIOPHARMACEUTICAL, VR::LO, &p.radiopharmaceutical),
                t(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, time),
                t(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, &ds(p.dose_bq)),
                t(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, &ds(p.half_life_s)),
                t(
                    tags::RADIONUCLIDE_POSITRON_FRACTION,
                    VR::DS,
                    &ds(p.positron_fraction),
                ),
                t(
                    tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
                    VR::DT,
                    &format!("{date}{time}"),
                ),
            ]);
            obj.put(DataElement::new(
                tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![item]),
            ));
            for (tag, vr, v) in [
                (tags::SERIES_TYPE, VR::CS, "WHOLE BODY\\IMAGE".to_owned()),
                (tags::UNITS, VR::CS, p.units.clone()),
                (tags::COUNTS_SOURCE, VR::CS, "EMISSION".into()),
                (tags::DECAY_CORRECTION, VR::CS, p.decay_correction.clone()),
                (tags::CORRECTED_IMAGE, VR::CS, p.corrected_image.join("\\")),
                (tags::RECONSTRUCTION_METHOD, VR::LO, "OSEM".into()),
                (tags::FRAME_REFERENCE_TIME, VR::DS, "0".into()),
                (
                    tags::ACTUAL_FRAME_DURATION,
                    VR::IS,
                    p.frame_duration_ms.to_string(),
                ),
            ] {
                obj.put(t(tag, vr, &v));
            }
        }
        // The NM modules (isotope, detector, multi-frame) are written by `nm::encode`.
        Acquisition::Nm(_) => {}
    }
    Ok(obj)
}

/// A DICOM time (HHMMSS) `ms` milliseconds later, as HHMMSS.FFFFFF (within the day).
fn later(time: &str, ms: f64) -> String {
    let digits = |r: std::ops::Range<usize>| {
        time.get(r)
            .and_then(|d| d.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let start = digits(0..2) * 3600.0 + digits(2..4) * 60.0 + digits(4..6);
    let t = (start + ms / 1000.0).rem_euclid(86_400.0);
    let whole = t.floor();
    let micros = ((t - whole) * 1e6).round().min(999_999.0);
    let s = whole as u64;
    format!(
        "{:02}{:02}{:02}.{:06}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        micros as u64
    )
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn join(values: &[f64]) -> String {
    values.iter().map(|v| ds(*v)).collect::<Vec<_>>().join("\\")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters_and_parse_back() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -1024.0,
            0.05,
            2.5,
            -95.123_456_789_012_34,
            1e-7,
            123456789012.345,
            6586.2,
            374000000.0,
        ] {
            let s = ds(x);
            assert!(s.len() <= 16, "{s}");
            let back: f64 = s.parse().unwrap();
            assert!((back - x).abs() <= 1e-6 * x.abs().max(1.0), "{x} → {s}");
        }
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(2.5), "2.5");
        assert_eq!(ds(-160.0), "-160");
    }

    #[test]
    fn rescales_hold_the_values_in_int16() {
        assert_eq!(rescale_for("CT", -1024.0, 3000.0), (1.0, -1024.0));
        assert_eq!(rescale_for("MR", 0.0, 1300.0), (0.05, 0.0));
        assert_eq!(rescale_for("PT", 0.0, 70000.0), (2.5, 0.0));
        assert_eq!(rescale_for("PT", 0.0, 0.0), (1.0, 0.0));
        let (s, _) = rescale_for("CT", -3000.0, 40000.0);
        assert!(40000.0 / s <= 32767.0);
    }

    /// A header of every attribute, for `acquisition` (also the NM tests' in `crate::nm`).
    pub(crate) fn header(acquisition: Acquisition) -> SeriesHeader {
        let text = |s: &str| s.to_owned();
        SeriesHeader {
            patient_name: text("PHANTOM^TEST"),
            patient_id: text("TEST-001"),
            patient_birth_date: text("19700615"),
            patient_sex: text("F"),
            patient_weight_kg: Some(61.5),
            patient_size_m: Some(1.68),
            study_instance_uid: text("1.2.826.0.1.3680043.9.7782.9.0.1"),
            study_id: text("V1"),
            study_date: text("20260112"),
            study_time: text("090000"),
            study_description: text("TEST"),
            accession_number: text("A1"),
            series_instance_uid: text("1.2.826.0.1.3680043.9.7782.9.0.2.2"),
            series_number: 2,
            series_description: text("T1 MPRAGE SAG"),
            protocol_name: text("t1"),
            series_date: text("20260112"),
            series_time: text("090000"),
            body_part_examined: text("BRAIN"),
            frame_of_reference_uid: text("1.2.826.0.1.3680043.9.7782.9.0.3"),
            manufacturer: text("SIEMENS"),
            manufacturer_model_name: text("MAGNETOM Prisma"),
            institution_name: text("University Hospital A"),
            station_name: text("S01MR1"),
            software_versions: text("syngo MR XA30"),
            acquisition,
            times_ms: Vec::new(),
            nominal_interval_ms: None,
        }
    }

    /// A sagittal grid (rows posterior, columns down, slices to the right) of a ramp, written and
    /// read back by `series::volumes`.
    #[test]
    fn a_sagittal_volume_reads_back_with_its_affine_and_values() {
        use corelab_image::phantom::MrAcquisition;
        let grid = corelab_image::Geometry::new(
            [7, 5, 4],
            [12.5, -30.25, 41.0],
            [[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]],
            [1.5, 1.25, 2.0],
        )
        .unwrap();
        let data = ndarray::Array3::from_shape_fn((7, 5, 4), |(i, j, k)| {
            (100 * i + 10 * j + k) as f32 * 1.37
        });
        let volume = Volume::new(data.clone(), grid.clone()).unwrap();
        let h = header(Acquisition::Mr(MrAcquisition {
            field_strength_t: 3.0,
            repetition_time_ms: 2300.0,
            echo_time_ms: 2.98,
            inversion_time_ms: Some(900.0),
            flip_angle_deg: 9.0,
            scanning_sequence: "GR\\IR".into(),
            sequence_variant: "SK\\SP\\MP".into(),
            sequence_name: "*tfl3d1_16ns".into(),
            acquisition_type: "3D".into(),
            phase_encoding_direction: "ROW".into(),
        }));
        let dir = tempfile::tempdir().unwrap();
        let paths = write_series(std::slice::from_ref(&volume), &h, dir.path()).unwrap();
        assert_eq!(paths.len(), 4);
        assert!(paths[0].ends_with("0001.dcm"));
        // In reverse order: the reader sorts along the normal.
        let instances: Vec<_> = paths
            .iter()
            .rev()
            .map(|p| crate::series::Instance::from_path(p).unwrap())
            .collect();
        let back = crate::series::volumes(&instances).unwrap();
        assert_eq!(back.len(), 1);
        let v = &back[0];
        assert_eq!(v.geometry.dims, grid.dims);
        for r in 0..4 {
            for c in 0..4 {
                assert!(
                    (v.geometry.affine[(r, c)] - grid.affine[(r, c)]).abs() < 1e-6,
                    "{} vs {}",
                    v.geometry.affine,
                    grid.affine
                );
            }
        }
        let (slope, _) = rescale_for("MR", 0.0, 1037.0);
        for (a, b) in v.data.iter().zip(data.iter()) {
            assert!((a - b).abs() <= slope as f32 / 2.0 + 1e-4, "{a} vs {b}");
        }
        let obj = &instances[0].object;
        let text = |tag| crate::values::text(obj, tag).unwrap_or_default();
        assert_eq!(text(tags::SERIES_DESCRIPTION), "T1 MPRAGE SAG");
        assert_eq!(text(tags::MAGNETIC_FIELD_STRENGTH), "3");
        assert_eq!(text(tags::INVERSION_TIME), "900");
        assert_eq!(text(tags::MODALITY), "MR");
        assert_eq!(text(tags::SOP_CLASS_UID), uids::MR_IMAGE_STORAGE);
        assert_eq!(text(tags::IMAGE_ORIENTATION_PATIENT), "0\\1\\0\\0\\0\\-1");
        assert_eq!(text(tags::PIXEL_SPACING), "1.25\\1.5");
        let once = std::slice::from_ref(&volume);
        assert_eq!(
            encode_series(once, &h).unwrap(),
            encode_series(once, &h).unwrap()
        );
    }

    #[test]
    fn later_times_roll_over_minutes_hours_and_fractions() {
        assert_eq!(later("090000", 0.0), "090000.000000");
        assert_eq!(later("095959", 2500.0), "100001.500000");
        assert_eq!(later("235959", 2000.0), "000001.000000");
    }

    #[test]
    fn long_uids_are_refused() {
        assert_eq!(uid("1.2.3", &[4, 50]).unwrap(), "1.2.3.4.50");
        assert!(uid("1.2.3", &[u64::MAX, u64::MAX, u64::MAX, u64::MAX]).is_err());
    }
}
