//! A reconstructed SPECT volume as one NM Image object (PS3.3 A.5; NM Image Storage,
//! 1.2.840.10008.5.1.4.1.1.20), as cameras write them: Image Type `ORIGINAL\PRIMARY\RECON
//! TOMO\EMISSION`, one frame per slice.
//!
//! Frames: frame `k` (from 0) is the grid's slice `k`; Frame Increment Pointer (0028,0009) names
//! the Slice Vector (0054,0080), which holds 1…N (NM Multi-frame Module, C.8.4.8). The NM object
//! has no top-level Image Position or Orientation: the one item of the Detector Information
//! Sequence (0054,0022) holds Image Orientation (Patient) (the unit directions of the affine's
//! first two columns) and Image Position (Patient) of the first frame (NM Detector Module,
//! C.8.4.11, type 2C for RECON TOMO). Frame `k` lies at that position plus `k` × Spacing Between
//! Slices × (row × column), and Spacing Between Slices is signed (NM Reconstruction Module,
//! C.8.4.15: positive stacks the frames behind the first, along row × column; negative in
//! front): a grid whose third column points against row × column is written with a negative
//! spacing, and keeps its frame order. A sheared grid (slices offset along the image plane)
//! cannot be placed this way and is refused. Slice Thickness is the (positive) spacing.
//!
//! Values: SPECT voxels are counts or count densities, never negative, so they are stored
//! unsigned (Pixel Representation 0), as cameras store them: whole numbers up to 65,535 as they
//! are (no rescale written); anything else through a Rescale Slope (intercept 0), the smallest
//! of 1, 2, 2.5 or 5 × 10ⁿ that holds the largest value in 65,000 steps, which halves the
//! rounding step a signed store would give. A volume with negative values (a difference image,
//! noise around zero) is stored signed with the slope of 32,000 steps instead, so nothing is
//! clamped. The NM IOD does not list Rescale Slope and Intercept, but readers (dcm2niix,
//! corelab's series reader, dicom-pixeldata) apply them, and only a volume that needs them gets
//! them.

use super::{
    EXPLICIT_VR_LE, SeriesHeader, WriteError, common, cross, ds, fail, join, rescale_for, slope_for,
};
use corelab_image::Volume;
use corelab_image::phantom::acquisition::NmAcquisition;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// How the frames' values are stored.
struct Storage {
    signed: bool,
    /// Rescale Slope, `None` where values are stored as they are.
    slope: Option<f64>,
}

fn storage(min: f64, max: f64, whole: bool) -> Storage {
    if min < 0.0 {
        let (slope, _) = rescale_for("NM", min, max);
        return Storage {
            signed: true,
            slope: Some(slope),
        };
    }
    if whole && max <= f64::from(u16::MAX) {
        return Storage {
            signed: false,
            slope: None,
        };
    }
    Storage {
        signed: false,
        slope: Some(slope_for(max, 65000.0)),
    }
}

/// The Part 10 bytes of `volume` as one NM RECON TOMO object.
pub(super) fn encode(
    volume: &Volume<f32>,
    h: &SeriesHeader,
    nm: &NmAcquisition,
) -> Result<Vec<u8>, WriteError> {
    let g = &volume.geometry;
    let [ni, nj, nk] = g.dims;
    let (Ok(rows), Ok(columns), Ok(frames)) =
        (u16::try_from(nj), u16::try_from(ni), u16::try_from(nk))
    else {
        return fail(
            "volume",
            format!("{ni}×{nj}×{nk} voxels: at most 65535 along each axis"),
        );
    };
    let spacing = g.spacing();
    let dirs = g.directions();
    let normal = cross(dirs[0], dirs[1]);
    let along: f64 = (0..3).map(|a| dirs[2][a] * normal[a]).sum();
    if along.abs() < 1.0 - 1e-6 {
        return fail(
            "volume",
            format!(
                "its slices are offset along the image plane ({:.3}° from row × column): an NM object places its frames along row × column only",
                along.abs().clamp(0.0, 1.0).acos().to_degrees()
            ),
        );
    }
    let step = spacing[2] * along.signum();
    let (min, max, whole) = volume.data.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY, true),
        |(lo, hi, whole), v| {
            let v = f64::from(*v);
            (lo.min(v), hi.max(v), whole && v.fract() == 0.0)
        },
    );
    if !(min.is_finite() && max.is_finite()) {
        return fail("volume", "values that are not finite numbers");
    }
    let store = storage(min, max, whole);
    let slope = store.slope.unwrap_or(1.0);
    let (lowest, highest) = if store.signed {
        (f64::from(i16::MIN), f64::from(i16::MAX))
    } else {
        (0.0, f64::from(u16::MAX))
    };
    let mut pixels = Vec::with_capacity(ni * nj * nk * 2);
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let stored = (f64::from(volume.data[[i, j, k]]) / slope)
                    .round()
                    .clamp(lowest, highest);
                let bytes = if store.signed {
                    (stored as i16).to_le_bytes()
                } else {
                    (stored as u16).to_le_bytes()
                };
                pixels.extend_from_slice(&bytes);
            }
        }
    }

    let mut obj = common(h, 0)?;
    // NM/PET Patient Orientation Module: the code sequences below say it, and Patient Position
    // shall then be absent (General Series Module, C.7.3.1).
    obj.remove_element(tags::PATIENT_POSITION);
    let t = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let us = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let sq = |tag: Tag, items: Vec<InMemDicomObject>| {
        DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
    };
    let orientation = join(&[dirs[0], dirs[1]].concat());
    let detector = InMemDicomObject::from_element_iter([
        t(tags::IMAGE_POSITION_PATIENT, VR::DS, &join(&g.origin())),
        t(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, &orientation),
        // Type 2: the phantom does not say which collimator was used.
        t(tags::COLLIMATOR_TYPE, VR::CS, ""),
        t(tags::FOCAL_DISTANCE, VR::IS, ""),
    ]);
    for e in [
        t(
            tags::PATIENT_ORIENTATION,
            VR::CS,
            &patient_orientation(dirs),
        ),
        t(tags::NUMBER_OF_FRAMES, VR::IS, &nk.to_string()),
        DataElement::new(
            tags::FRAME_INCREMENT_POINTER,
            VR::AT,
            PrimitiveValue::Tags(vec![tags::SLICE_VECTOR].into()),
        ),
        DataElement::new(
            tags::SLICE_VECTOR,
            VR::US,
            PrimitiveValue::U16((1..=frames).collect()),
        ),
        us(tags::NUMBER_OF_SLICES, frames),
        us(tags::NUMBER_OF_ENERGY_WINDOWS, 1),
        us(tags::NUMBER_OF_DETECTORS, 1),
        us(tags::NUMBER_OF_ROTATIONS, 1),
        sq(tags::DETECTOR_INFORMATION_SEQUENCE, vec![detector]),
        sq(
            tags::ENERGY_WINDOW_INFORMATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([t(
                tags::ENERGY_WINDOW_NAME,
                VR::SH,
                &nm.energy_window,
            )])],
        ),
        sq(
            tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
            vec![radiopharmaceutical(nm)],
        ),
        sq(tags::ROTATION_INFORMATION_SEQUENCE, vec![rotation()]),
        t(tags::TYPE_OF_DETECTOR_MOTION, VR::CS, "STEP AND SHOOT"),
        sq(tags::PATIENT_ORIENTATION_CODE_SEQUENCE, vec![recumbent()]),
        sq(
            tags::PATIENT_GANTRY_RELATIONSHIP_CODE_SEQUENCE,
            vec![code("102540008", "SCT", "headfirst")],
        ),
        t(tags::COUNTS_ACCUMULATED, VR::IS, ""),
        t(
            tags::PIXEL_SPACING,
            VR::DS,
            &join(&[spacing[1], spacing[0]]),
        ),
        t(tags::SLICE_THICKNESS, VR::DS, &ds(spacing[2])),
        t(tags::SPACING_BETWEEN_SLICES, VR::DS, &ds(step)),
        us(tags::ROWS, rows),
        us(tags::COLUMNS, columns),
        us(tags::SAMPLES_PER_PIXEL, 1),
        t(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        us(tags::BITS_ALLOCATED, 16),
        us(tags::BITS_STORED, 16),
        us(tags::HIGH_BIT, 15),
        us(tags::PIXEL_REPRESENTATION, u16::from(store.signed)),
        t(tags::WINDOW_CENTER, VR::DS, &ds((max / 2.0).round())),
        t(tags::WINDOW_WIDTH, VR::DS, &ds(max.max(1.0).round())),
    ] {
        obj.put(e);
    }
    if let Some(slope) = store.slope {
        obj.put(t(tags::RESCALE_INTERCEPT, VR::DS, "0"));
        obj.put(t(tags::RESCALE_SLOPE, VR::DS, &ds(slope)));
    }
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U8(pixels.into()),
    ));
    crate::deid::encode_part10(obj, EXPLICIT_VR_LE).or_else(|why| fail("NM object", why))
}

/// The one rotation of the acquisition (NM TOMO Acquisition Module, C.8.4.12; one item per
/// Number of Rotations): the phantom has no projections, so it states the acquisition the EANM
/// guideline for dopamine transporter SPECT recommends (Darcourt et al., EJNMMI 2010: 120 views
/// over 360°, 3° apart, 30 s each).
fn rotation() -> InMemDicomObject {
    let t = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    InMemDicomObject::from_element_iter([
        t(tags::START_ANGLE, VR::DS, "0"),
        t(tags::ANGULAR_STEP, VR::DS, "3"),
        t(tags::ROTATION_DIRECTION, VR::CS, "CW"),
        t(tags::SCAN_ARC, VR::DS, "360"),
        t(tags::ACTUAL_FRAME_DURATION, VR::IS, "30000"),
        DataElement::new(
            tags::NUMBER_OF_FRAMES_IN_ROTATION,
            VR::US,
            PrimitiveValue::from(120u16),
        ),
    ])
}

/// The Radiopharmaceutical Information Sequence item (NM Isotope Module, C.8.4.10). Radionuclide
/// Total Dose is in MBq here (C.8.4.10.1.7), where the PET Isotope Module has Bq.
fn radiopharmaceutical(nm: &NmAcquisition) -> InMemDicomObject {
    let t = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let (date, time) = nm
        .injection_datetime
        .split_at(nm.injection_datetime.len().min(8));
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::RADIONUCLIDE_CODE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![radionuclide(&nm.radionuclide)]),
        ),
        t(tags::RADIOPHARMACEUTICAL, VR::LO, &nm.radiopharmaceutical),
        t(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, time),
        t(
            tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
            VR::DT,
            &format!("{date}{time}"),
        ),
        t(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, &ds(nm.dose_bq / 1e6)),
        t(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, &ds(nm.half_life_s)),
    ])
}

/// The Radionuclide Code Sequence item for a code meaning (CID 18, SNOMED CT), or one in a
/// private scheme (`99CORELAB`) for a radionuclide this table does not know, so that the
/// meaning is never lost.
fn radionuclide(meaning: &str) -> InMemDicomObject {
    let known = [("^123^Iodine", "21576001"), ("^99m^Technetium", "44588005")];
    match known.iter().find(|(m, _)| m.eq_ignore_ascii_case(meaning)) {
        Some((m, value)) => code(value, "SCT", m),
        None => {
            let value: String = meaning
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(16)
                .collect();
            code(&value, "99CORELAB", meaning)
        }
    }
}

/// A Code Sequence item (PS3.3 Table 8.8-1).
fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    let t = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    InMemDicomObject::from_element_iter([
        t(tags::CODE_VALUE, VR::SH, value),
        t(tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme),
        t(tags::CODE_MEANING, VR::LO, meaning),
    ])
}

/// Patient Orientation Code Sequence (CID 19): recumbent, modified by supine (CID 20).
fn recumbent() -> InMemDicomObject {
    let mut item = code("102538003", "SCT", "recumbent");
    item.put(DataElement::new(
        tags::PATIENT_ORIENTATION_MODIFIER_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![code("40199007", "SCT", "supine")]),
    ));
    item
}

/// Patient Orientation (0020,0020): the patient directions of the rows and of the columns, each
/// by its largest components first (PS3.3 C.7.6.1.1.1), for an object without a top-level Image
/// Orientation (Patient) (General Image Module, type 2C).
fn patient_orientation(dirs: [[f64; 3]; 3]) -> String {
    let letters = |v: [f64; 3]| {
        let mut axes = [0usize, 1, 2];
        axes.sort_by(|a, b| v[*b].abs().total_cmp(&v[*a].abs()));
        axes.iter()
            .filter(|a| v[**a].abs() > 1e-3)
            .map(|a| match (a, v[*a] > 0.0) {
                (0, true) => 'L',
                (0, false) => 'R',
                (1, true) => 'P',
                (1, false) => 'A',
                (_, true) => 'H',
                (_, false) => 'F',
            })
            .collect::<String>()
    };
    format!("{}\\{}", letters(dirs[0]), letters(dirs[1]))
}
