//! A DICOM series → volumes with exact geometry (`docs/geometry.md`), or a reason.
//!
//! Every single-frame image, every frame of an enhanced multi-frame object (placed by its own
//! functional groups, `crate::enhanced`) and every frame of an NM reconstructed tomogram (placed
//! from its Detector Information Sequence, `crate::nm`) becomes one slice. Slices are grouped into
//! stacks (one per echo, temporal position, b-value, Stack ID and other non-spatial dimension, and
//! orientation: a series holding several is split, each volume saying why), sorted along the slice
//! normal by Image Position (Patient), and checked: same size, orientation and pixel spacing, one
//! position per slice, uniform spacing (a gap that is a multiple of the others is reported as
//! missing slices). A gantry tilt (slices offset along the rows or columns) is kept exactly, as a
//! sheared affine, and noted. Each slice's own Rescale Slope/Intercept is applied to its stored
//! values (dicom-pixeldata's Modality LUT step, given the slice's parameters); pixel data is
//! decoded by dicom-pixeldata (12-bit JPEG, which it cannot decode, after GDCM's `gdcmconv` has
//! transcoded it: [`Transcoder`]), and a transfer syntax it cannot decode is named in the error. A
//! series that cannot form a volume gets an error naming the instance (and the frame) and what is
//! inconsistent, never a wrong volume.
//!
//! Hand-written (DEPS.md): dicom-rs decodes pixels but does not assemble series geometry.

use crate::values::text;
use corelab_image::{Geometry, Source, Volume};
use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{FileDicomObject, InMemDicomObject};
use dicom_pixeldata::{ConvertOptions, DecodedPixelData, ModalityLutOption, PixelDecoder, Rescale};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use ndarray::{Array3, ShapeBuilder};
use std::cmp::Ordering;
use std::collections::HashMap;

mod transcode;
pub use transcode::Transcoder;

/// One instance of a series.
pub struct Instance {
    /// How it is named in errors (a file path, a SOP Instance UID).
    pub name: String,
    /// SHA-256 of its bytes (hex), for the volume's provenance.
    pub sha256: String,
    /// The object.
    pub object: FileDicomObject<InMemDicomObject>,
}

impl Instance {
    /// An instance read from a file with corelab's reader (lenient meta, hostile lengths
    /// refused by name before anything is allocated; `crate::read`).
    pub fn from_path(path: &std::path::Path) -> Result<Self, SeriesError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).or_else(|e| fail(&name, e.to_string()))?;
        Self::from_bytes(name, &bytes)
    }

    /// An instance from its bytes (a stored blob), named `name` in errors.
    pub fn from_bytes(name: String, bytes: &[u8]) -> Result<Self, SeriesError> {
        let parsed = crate::read::read_bytes(bytes).or_else(|why| fail(&name, why))?;
        let uid = |tag| text(&parsed.dataset, tag).unwrap_or_default();
        let meta = dicom_object::meta::FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(uid(tags::SOP_CLASS_UID))
            .media_storage_sop_instance_uid(uid(tags::SOP_INSTANCE_UID))
            .transfer_syntax(parsed.transfer_syntax.as_str())
            .build()
            .or_else(|e| fail(&name, format!("no usable file meta group: {e}")))?;
        Ok(Self {
            sha256: corelab_core::Sha256Digest::of(bytes).to_hex(),
            object: parsed.dataset.with_exact_meta(meta),
            name,
        })
    }
}

/// Why a series cannot form a volume.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{instance}: {why}")]
pub struct SeriesError {
    /// The instance concerned (or the series).
    pub instance: String,
    /// What is wrong.
    pub why: String,
}

pub(crate) fn fail<T>(instance: &str, why: impl Into<String>) -> Result<T, SeriesError> {
    Err(SeriesError {
        instance: instance.to_owned(),
        why: why.into(),
    })
}

/// Relative tolerance for "the same" spacing, and the absolute one (mm) for positions.
const SPACING_TOLERANCE: f64 = 0.01;
const POSITION_TOLERANCE: f64 = 1e-3;

/// One image of a stack: a single-frame instance, or one frame of a multi-frame object.
pub(crate) struct Slice<'a> {
    pub(crate) instance: &'a Instance,
    /// The instance's place in the series given to [`volumes`] (decoded objects are kept by it).
    pub(crate) index: usize,
    /// The frame (from 0) of a multi-frame object; `None` for a single-frame image.
    pub(crate) frame: Option<u32>,
    pub(crate) plane: Plane,
    pub(crate) rows: u16,
    pub(crate) columns: u16,
    /// Slice Thickness, when stated (the spacing of a stack of one).
    pub(crate) thickness: Option<f64>,
    /// Stored value → modality value, for this slice.
    pub(crate) rescale: Rescale,
    pub(crate) stack: StackKey,
}

impl Slice<'_> {
    /// How the slice is named in errors: the instance, and the frame (from 1, as PS3.3 numbers
    /// frames) of a multi-frame object.
    pub(crate) fn name(&self) -> String {
        match self.frame {
            None => self.instance.name.clone(),
            Some(f) => format!("{} frame {}", self.instance.name, f + 1),
        }
    }
}

/// Where a slice lies: Image Position (Patient), the unit row and column directions, and the
/// spacing between columns (along a row, i) and between rows (j).
pub(crate) struct Plane {
    pub(crate) position: [f64; 3],
    pub(crate) row_dir: [f64; 3],
    pub(crate) col_dir: [f64; 3],
    pub(crate) spacing_ij: [f64; 2],
}

/// Checks the three in-plane attributes (as read: position 3 values, orientation 6, Pixel
/// Spacing 2 in DICOM's row\column order) and makes them a [`Plane`].
pub(crate) fn plane(
    position: &[f64],
    orientation: &[f64],
    spacing: &[f64],
) -> Result<Plane, String> {
    if spacing.iter().any(|s| *s <= 0.0) {
        return Err(format!(
            "(0028,0030) Pixel Spacing {spacing:?} must be positive"
        ));
    }
    let (Some(row_dir), Some(col_dir)) = (
        unit([orientation[0], orientation[1], orientation[2]]),
        unit([orientation[3], orientation[4], orientation[5]]),
    ) else {
        return Err(format!(
            "(0020,0037) Image Orientation (Patient) {orientation:?} has a zero vector"
        ));
    };
    if dot(row_dir, col_dir).abs() > 1e-3 {
        return Err(format!(
            "(0020,0037) Image Orientation (Patient) {orientation:?}: the row and column directions are not perpendicular"
        ));
    }
    Ok(Plane {
        position: [position[0], position[1], position[2]],
        row_dir,
        col_dir,
        spacing_ij: [spacing[1], spacing[0]],
    })
}

/// What separates stacks in one series: named values (Echo Numbers, Stack ID, …) and, where
/// nothing else says which frames form a stack, the orientation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StackKey {
    pub(crate) parts: Vec<(String, String)>,
    /// Image Orientation (Patient), rounded; `None` where a Stack ID defines the stack (a frame
    /// of another orientation in it is then an error, not a stack of its own).
    pub(crate) orientation: Option<[i64; 6]>,
}

impl StackKey {
    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.parts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if let Some(orientation) = self.orientation {
            let o: Vec<String> = orientation
                .iter()
                .map(|v| format!("{:.3}", *v as f64 / 1e4))
                .collect();
            parts.push(format!("orientation {}", o.join("\\")));
        }
        parts.join(", ")
    }

    /// Stacks in a stable order: by their values (numbers as numbers), then orientation.
    fn order(&self, other: &Self) -> Ordering {
        let value = |a: &str, b: &str| match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => a.cmp(b),
        };
        for (a, b) in self.parts.iter().zip(&other.parts) {
            let o = a.0.cmp(&b.0).then_with(|| value(&a.1, &b.1));
            if o != Ordering::Equal {
                return o;
            }
        }
        self.parts
            .len()
            .cmp(&other.parts.len())
            .then_with(|| self.orientation.cmp(&other.orientation))
    }
}

/// Row and column directions rounded to 1e-4, to tell orientations apart.
pub(crate) fn rounded(plane: &Plane) -> [i64; 6] {
    let mut rounded = [0i64; 6];
    for (r, v) in rounded
        .iter_mut()
        .zip(plane.row_dir.iter().chain(plane.col_dir.iter()))
    {
        *r = (v * 1e4).round() as i64;
    }
    rounded
}

pub(crate) fn numbers(
    obj: &InMemDicomObject,
    tag: Tag,
    n: usize,
    name: &str,
) -> Result<Vec<f64>, String> {
    if obj.get(tag).is_none() {
        return Err(format!("no {tag} {name}"));
    }
    // Read as text (also from a UN element, whose bytes are the text) and split here: a value
    // built in memory may hold `a\b\c` as one string.
    let text = text(obj, tag).ok_or_else(|| format!("{tag} {name} is empty or not text"))?;
    let values = text
        .split('\\')
        .map(|v| v.trim_matches(['\0', ' ']).parse::<f64>())
        .collect::<Result<Vec<f64>, _>>()
        .map_err(|_| format!("{tag} {name} {text:?} is not numeric"))?;
    if values.len() != n || values.iter().any(|v| !v.is_finite()) {
        return Err(format!(
            "{tag} {name} has {} values {values:?}; {n} finite numbers expected",
            values.len()
        ));
    }
    Ok(values)
}

/// Rescale Slope and Intercept of `obj` (the data set, or a Pixel Value Transformation item);
/// an absent one is the identity's (1, 0).
pub(crate) fn rescale_of(obj: &InMemDicomObject) -> Result<Rescale, String> {
    let one = |tag, name, default| match obj.get(tag) {
        None => Ok(default),
        Some(_) => numbers(obj, tag, 1, name).map(|v| v[0]),
    };
    Ok(Rescale {
        slope: one(tags::RESCALE_SLOPE, "Rescale Slope", 1.0)?,
        intercept: one(tags::RESCALE_INTERCEPT, "Rescale Intercept", 0.0)?,
    })
}

/// Rows and Columns of an instance.
pub(crate) fn size(obj: &InMemDicomObject) -> Result<(u16, u16), String> {
    let dim = |tag: Tag, what: &str| {
        obj.get(tag)
            .and_then(|e| e.to_int::<u16>().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("no valid {tag} {what}"))
    };
    Ok((dim(tags::ROWS, "Rows")?, dim(tags::COLUMNS, "Columns")?))
}

fn unit(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    (n > 1e-6).then(|| [v[0] / n, v[1] / n, v[2] / n])
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The slices of one instance: itself, or each frame of an enhanced multi-frame object.
fn slices_of(instance: &Instance, index: usize) -> Result<Vec<Slice<'_>>, SeriesError> {
    let obj: &InMemDicomObject = &instance.object;
    let name = instance.name.as_str();
    if obj.get(tags::PIXEL_DATA).is_none() {
        return fail(name, "no (7FE0,0010) Pixel Data");
    }
    if text(obj, tags::SOP_CLASS_UID).as_deref() == Some(uids::SEGMENTATION_STORAGE) {
        return fail(
            name,
            "a Segmentation: its frames are segments of an image, not an image (decode it onto the image's grid with seg::masks)",
        );
    }
    if let Some(per_frame) = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
    {
        return crate::enhanced::frames(instance, index, per_frame);
    }
    if text(obj, tags::SOP_CLASS_UID).as_deref() == Some(uids::NUCLEAR_MEDICINE_IMAGE_STORAGE) {
        return crate::nm::frames(instance, index);
    }
    let frames = frame_count(obj);
    if frames > 1 {
        return fail(
            name,
            format!(
                "{frames} frames and no (5200,9230) Per-frame Functional Groups Sequence: nothing places each frame in the patient (only enhanced multi-frame objects and NM tomograms are assembled)"
            ),
        );
    }
    let read = || -> Result<Slice<'_>, String> {
        let position = numbers(
            obj,
            tags::IMAGE_POSITION_PATIENT,
            3,
            "Image Position (Patient)",
        )?;
        let orientation = numbers(
            obj,
            tags::IMAGE_ORIENTATION_PATIENT,
            6,
            "Image Orientation (Patient)",
        )?;
        let spacing = numbers(obj, tags::PIXEL_SPACING, 2, "Pixel Spacing")?;
        let plane = plane(&position, &orientation, &spacing)?;
        let (rows, columns) = size(obj)?;
        let mut parts = Vec::new();
        for (tag, what) in [
            (tags::ECHO_NUMBERS, "Echo Numbers"),
            (
                tags::TEMPORAL_POSITION_IDENTIFIER,
                "Temporal Position Identifier",
            ),
            (tags::DIFFUSION_B_VALUE, "Diffusion b-value"),
        ] {
            if let Some(v) = text(obj, tag) {
                parts.push((what.to_owned(), v));
            }
        }
        Ok(Slice {
            instance,
            index,
            frame: None,
            stack: StackKey {
                parts,
                orientation: Some(rounded(&plane)),
            },
            plane,
            rows,
            columns,
            thickness: text(obj, tags::SLICE_THICKNESS)
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|t| *t > 0.0),
            rescale: rescale_of(obj)?,
        })
    };
    read().map(|s| vec![s]).or_else(|why| fail(name, why))
}

/// The volumes of a series: one, or one per stack when the series holds several (each volume's
/// `source.notes` says which). `instances` may come in any order; an enhanced multi-frame
/// object gives one slice per frame. 12-bit JPEG is transcoded by a `gdcmconv` found on `PATH`
/// ([`Transcoder::from_path`]).
pub fn volumes(instances: &[Instance]) -> Result<Vec<Volume<f32>>, SeriesError> {
    volumes_with(instances, &Transcoder::from_path())
}

/// [`volumes`], with pixel data that dicom-rs cannot decode left to `transcoder`.
pub fn volumes_with(
    instances: &[Instance],
    transcoder: &Transcoder,
) -> Result<Vec<Volume<f32>>, SeriesError> {
    if instances.is_empty() {
        return fail("series", "no instances");
    }
    let mut slices = Vec::new();
    for (index, instance) in instances.iter().enumerate() {
        slices.extend(slices_of(instance, index)?);
    }
    let mut stacks: Vec<(StackKey, Vec<Slice>)> = Vec::new();
    for s in slices {
        match stacks.iter_mut().find(|(k, _)| *k == s.stack) {
            Some((_, v)) => v.push(s),
            None => stacks.push((s.stack.clone(), vec![s])),
        }
    }
    stacks.sort_by(|a, b| a.0.order(&b.0));
    let split = stacks.len() > 1;
    let count = stacks.len();
    let mut pixels = Pixels {
        transcoder,
        multi_frame: HashMap::new(),
        transcoded: HashMap::new(),
    };
    stacks
        .into_iter()
        .map(|(key, slices)| {
            let mut v = stack_volume(slices, &mut pixels)?;
            if split {
                v.source.notes.insert(
                    0,
                    format!(
                        "one of {count} stacks in the series, split by {}",
                        key.describe()
                    ),
                );
            }
            Ok(v)
        })
        .collect()
}

/// Differences of unit direction vectors above this are different orientations in one stack.
const ORIENTATION_TOLERANCE: f64 = 1e-4;

fn stack_volume<'a>(
    mut slices: Vec<Slice<'a>>,
    pixels: &mut Pixels<'a, '_>,
) -> Result<Volume<f32>, SeriesError> {
    let first = &slices[0];
    let (rows, columns, spacing_ij) = (first.rows, first.columns, first.plane.spacing_ij);
    let (row_dir, col_dir) = (first.plane.row_dir, first.plane.col_dir);
    let first_name = first.name();
    for s in &slices[1..] {
        if (s.rows, s.columns) != (rows, columns) {
            return fail(
                &s.name(),
                format!(
                    "{}×{} pixels (columns × rows), while {first_name} has {columns}×{rows}",
                    s.columns, s.rows
                ),
            );
        }
        let same = |a: f64, b: f64| (a - b).abs() <= SPACING_TOLERANCE * b.max(1e-6);
        let [si, sj] = s.plane.spacing_ij;
        if !same(si, spacing_ij[0]) || !same(sj, spacing_ij[1]) {
            return fail(
                &s.name(),
                format!(
                    "Pixel Spacing {:?}, while {first_name} has {:?}",
                    [sj, si],
                    [spacing_ij[1], spacing_ij[0]]
                ),
            );
        }
        let apart =
            |a: [f64; 3], b: [f64; 3]| (0..3).any(|x| (a[x] - b[x]).abs() > ORIENTATION_TOLERANCE);
        if apart(s.plane.row_dir, row_dir) || apart(s.plane.col_dir, col_dir) {
            return fail(
                &s.name(),
                format!(
                    "Image Orientation (Patient) {:?}, while {first_name} in the same stack has {:?}",
                    [s.plane.row_dir, s.plane.col_dir].concat(),
                    [row_dir, col_dir].concat()
                ),
            );
        }
    }
    let normal = cross(row_dir, col_dir);
    let along = |s: &Slice| dot(s.plane.position, normal);
    slices.sort_by(|a, b| along(a).partial_cmp(&along(b)).unwrap_or(Ordering::Equal));
    let mut notes = Vec::new();
    let n = slices.len();
    let mut step = [0.0, 0.0, 0.0];
    if n > 1 {
        let gaps: Vec<f64> = slices
            .windows(2)
            .map(|w| along(&w[1]) - along(&w[0]))
            .collect();
        for (i, g) in gaps.iter().enumerate() {
            if *g < POSITION_TOLERANCE {
                return fail(
                    &slices[i + 1].name(),
                    format!(
                        "at the same position as {} ({:?}): two images of one place (several acquisitions in one series?)",
                        slices[i].name(),
                        slices[i].plane.position
                    ),
                );
            }
        }
        let mut sorted = gaps.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
        let typical = sorted[sorted.len() / 2];
        for (i, g) in gaps.iter().enumerate() {
            if (g - typical).abs() > SPACING_TOLERANCE * typical + POSITION_TOLERANCE {
                let ratio = g / typical;
                let why = if (ratio - ratio.round()).abs() < 0.05 && ratio.round() >= 2.0 {
                    format!(
                        "{} missing slice(s) between {} and {}: a gap of {g:.3} mm where the spacing is {typical:.3} mm",
                        ratio.round() as i64 - 1,
                        slices[i].name(),
                        slices[i + 1].name()
                    )
                } else {
                    format!(
                        "non-uniform slice spacing: {g:.3} mm between {} and {}, {typical:.3} mm elsewhere",
                        slices[i].name(),
                        slices[i + 1].name()
                    )
                };
                return fail(&slices[i + 1].name(), why);
            }
        }
        let (p0, pn) = (slices[0].plane.position, slices[n - 1].plane.position);
        for a in 0..3 {
            step[a] = (pn[a] - p0[a]) / (n - 1) as f64;
        }
        // Every slice must lie on the line from the first to the last (no jitter beyond 0.01 mm).
        for (k, s) in slices.iter().enumerate() {
            let expected = [0, 1, 2].map(|a| p0[a] + step[a] * k as f64);
            let position = s.plane.position;
            if (0..3)
                .any(|a| (position[a] - expected[a]).abs() > 0.01 + SPACING_TOLERANCE * typical)
            {
                return fail(
                    &s.name(),
                    format!(
                        "Image Position (Patient) {position:?} is off the line of the other slices (expected {expected:?})"
                    ),
                );
            }
        }
        let tilt = (dot(step, normal) / (dot(step, step).sqrt()))
            .clamp(-1.0, 1.0)
            .acos();
        if tilt.to_degrees() > 0.01 {
            notes.push(format!(
                "gantry tilt {:.2}°: the slices are offset along the image plane; kept exactly as a sheared affine",
                tilt.to_degrees()
            ));
        }
    } else {
        // One slice: its thickness, if stated, else 1 mm.
        let thickness = slices[0].thickness.unwrap_or(1.0);
        step = normal.map(|x| x * thickness);
        notes.push("a single slice: its spacing is its Slice Thickness (or 1 mm)".into());
    }
    let is_nm = |s: &Slice| {
        text(&s.instance.object, tags::SOP_CLASS_UID).as_deref()
            == Some(uids::NUCLEAR_MEDICINE_IMAGE_STORAGE)
    };
    let nm_frames = slices
        .iter()
        .filter(|s| s.frame.is_some() && is_nm(s))
        .count();
    let frames = slices.iter().filter(|s| s.frame.is_some()).count() - nm_frames;
    if frames > 0 {
        notes.push(format!(
            "{frames} frames of enhanced multi-frame objects, each placed and rescaled by its own functional groups"
        ));
    }
    if nm_frames > 0 {
        notes.push(format!(
            "{nm_frames} frames of an NM RECON TOMO object, placed from its Detector Information Sequence, Slice Vector and signed Spacing Between Slices"
        ));
    }
    let dims = [usize::from(columns), usize::from(rows), n];
    let mut affine = nalgebra::Matrix4::identity();
    for r in 0..3 {
        affine[(r, 0)] = row_dir[r] * spacing_ij[0];
        affine[(r, 1)] = col_dir[r] * spacing_ij[1];
        affine[(r, 2)] = step[r];
        affine[(r, 3)] = slices[0].plane.position[r];
    }
    let geometry = Geometry { dims, affine };
    // Fortran order (i fastest), as DICOM rows and NIfTI files lay voxels out: each slice is one
    // contiguous block, and writing the file is sequential.
    let mut data = Array3::<f32>::zeros((dims[0], dims[1], dims[2]).f());
    for (k, s) in slices.iter().enumerate() {
        let frame = pixels.values(s)?;
        if frame.shape()[0] != usize::from(rows) || frame.shape()[1] != usize::from(columns) {
            return fail(
                &s.name(),
                format!(
                    "decoded pixel data is {:?}, not {rows}×{columns}",
                    frame.shape()
                ),
            );
        }
        data.index_axis_mut(ndarray::Axis(2), k).assign(&frame.t());
    }
    let mut transcoded: Vec<&str> = Vec::new();
    let mut counted = std::collections::HashSet::new();
    for s in &slices {
        if let Some(note) = pixels.transcoded.get(&s.index)
            && counted.insert(s.index)
        {
            transcoded.push(note);
        }
    }
    if let Some(note) = transcoded.first() {
        let n = transcoded.len();
        notes.push(format!(
            "{n} instance{}: {note}",
            if n == 1 { "" } else { "s" }
        ));
    }
    let series_uid = text(&slices[0].instance.object, tags::SERIES_INSTANCE_UID);
    // Each instance once, in the order of its first slice (a multi-frame object gives many).
    let modality = text(&slices[0].instance.object, tags::MODALITY);
    let pet = modality.as_deref() == Some("PT");
    let mut instance_sha256 = Vec::new();
    let mut pet_headers = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in &slices {
        if seen.insert(s.index) {
            instance_sha256.push(s.instance.sha256.clone());
            // The SUV header travels with the voxels: algorithms compute SUVs from it, or
            // refuse with `suv::factors`' reason (docs/pet-suv.md).
            if pet {
                pet_headers.push(crate::pet::pet_header(&s.instance.object));
            }
        }
    }
    let scanner = [tags::MANUFACTURER, tags::MANUFACTURER_MODEL_NAME]
        .into_iter()
        .filter_map(|tag| text(&slices[0].instance.object, tag))
        .collect::<Vec<_>>()
        .join(" ");
    let source = Source {
        series_uid,
        instance_sha256,
        notes,
        modality,
        scanner: (!scanner.is_empty()).then_some(scanner),
        pet: pet_headers,
    };
    Volume::new(data, geometry)
        .map(|v| v.with_source(source))
        .or_else(|e| fail("series", e.to_string()))
}

/// The decoded pixel data of the multi-frame objects met so far: each is decoded once, however
/// many stacks its frames fall in. Single-frame images are decoded when their slice is filled.
struct Pixels<'a, 't> {
    transcoder: &'t Transcoder,
    multi_frame: HashMap<usize, DecodedPixelData<'a>>,
    /// The instances (by index) transcoded before decoding, and the note saying how.
    transcoded: HashMap<usize, String>,
}

impl<'a> Pixels<'a, '_> {
    /// An instance's pixel data, decoded, transcoded first where dicom-rs cannot decode it.
    fn decode(&mut self, s: &Slice<'a>) -> Result<DecodedPixelData<'a>, SeriesError> {
        let (decoded, note) = decode(s.instance, self.transcoder)?;
        if let Some(note) = note {
            self.transcoded.insert(s.index, note);
        }
        Ok(decoded)
    }

    /// One slice's values, rescaled by its own slope and intercept, as rows × columns.
    fn values(&mut self, s: &Slice<'a>) -> Result<ndarray::Array2<f32>, SeriesError> {
        let single;
        let decoded = match s.frame {
            None => {
                single = self.decode(s)?;
                &single
            }
            Some(_) => {
                if !self.multi_frame.contains_key(&s.index) {
                    let decoded = self.decode(s)?;
                    self.multi_frame.insert(s.index, decoded);
                }
                &self.multi_frame[&s.index]
            }
        };
        // Stored values through this slice's own Modality LUT: dicom-pixeldata would take one
        // object's rescale for all its frames, or none where only some frames carry their own.
        let options =
            ConvertOptions::new().with_modality_lut(ModalityLutOption::Override(s.rescale));
        let frame = decoded
            .to_ndarray_frame_with_options::<f32>(s.frame.unwrap_or(0), &options)
            .or_else(|e| fail(&s.name(), format!("cannot convert pixel data: {e}")))?;
        Ok(frame.index_axis_move(ndarray::Axis(2), 0))
    }
}

/// An instance's pixel data, decoded (colour images are refused), and a note when it had to be
/// transcoded first.
fn decode<'a>(
    instance: &'a Instance,
    transcoder: &Transcoder,
) -> Result<(DecodedPixelData<'a>, Option<String>), SeriesError> {
    let name = instance.name.as_str();
    let samples = instance
        .object
        .get(tags::SAMPLES_PER_PIXEL)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(1);
    if samples != 1 {
        return fail(
            name,
            format!("{samples} samples per pixel: a volume holds one value per voxel"),
        );
    }
    let ts = instance
        .object
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0');
    let ts_name = TransferSyntaxRegistry
        .get(ts)
        .map_or("unknown", |t| t.name());
    let cannot = |why: String| {
        fail(
            name,
            format!("cannot decode pixel data (transfer syntax {ts}, {ts_name}): {why}"),
        )
    };
    match instance.object.decode_pixel_data() {
        Ok(decoded) => Ok((decoded, None)),
        Err(e) if Transcoder::applies(ts, instance) => {
            match transcoder.decode(instance, &with_causes(&e)) {
                Ok((decoded, note)) => Ok((decoded, Some(note))),
                Err(why) => cannot(why),
            }
        }
        Err(e) => cannot(with_causes(&e)),
    }
}

/// An error and its causes, "outer: inner: …": dicom-pixeldata's own message ("Could not
/// decode pixel data") leaves the reason to its source.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// An object's Number of Frames (0028,0008); 1 when absent or unreadable (a single-frame image).
pub(crate) fn frame_count(obj: &InMemDicomObject) -> u32 {
    text(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1)
}
