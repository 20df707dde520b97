//! A DICOM series → volumes with exact geometry (`docs/geometry.md`), or a reason.
//!
//! Single-frame images are grouped into stacks (one per echo, temporal position, b-value and
//! orientation: a series holding several is split, each volume saying why), sorted along the
//! slice normal by Image Position (Patient), and checked: same size and pixel spacing, one
//! position per slice, uniform spacing (a gap that is a multiple of the others is reported as
//! missing slices). A gantry tilt (slices offset along the rows or columns) is kept exactly, as a
//! sheared affine, and noted. Rescale Slope/Intercept is applied per slice (by dicom-pixeldata's
//! Modality LUT step); pixel data is decoded by dicom-pixeldata, and a transfer syntax it cannot
//! decode is named in the error. A series that cannot form a volume gets an error naming the
//! instance and what is inconsistent, never a wrong volume.
//!
//! Hand-written (DEPS.md): dicom-rs decodes pixels but does not assemble series geometry.

use crate::values::text;
use corelab_image::{Geometry, Source, Volume};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;
use ndarray::{Array3, ShapeBuilder};

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
        let parsed = crate::read::read_bytes(&bytes).or_else(|why| fail(&name, why))?;
        let uid = |tag| text(&parsed.dataset, tag).unwrap_or_default();
        let meta = dicom_object::meta::FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(uid(tags::SOP_CLASS_UID))
            .media_storage_sop_instance_uid(uid(tags::SOP_INSTANCE_UID))
            .transfer_syntax(parsed.transfer_syntax.as_str())
            .build()
            .or_else(|e| fail(&name, format!("no usable file meta group: {e}")))?;
        Ok(Self {
            sha256: corelab_core::Sha256Digest::of(&bytes).to_hex(),
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

fn fail<T>(instance: &str, why: impl Into<String>) -> Result<T, SeriesError> {
    Err(SeriesError {
        instance: instance.to_owned(),
        why: why.into(),
    })
}

/// Relative tolerance for "the same" spacing, and the absolute one (mm) for positions.
const SPACING_TOLERANCE: f64 = 0.01;
const POSITION_TOLERANCE: f64 = 1e-3;

/// What the geometry of one slice says.
struct Slice<'a> {
    instance: &'a Instance,
    position: [f64; 3],
    row_dir: [f64; 3],
    col_dir: [f64; 3],
    /// Spacing between columns (along a row, i) and between rows (j).
    spacing_ij: [f64; 2],
    rows: u16,
    columns: u16,
    stack: StackKey,
}

/// What separates stacks in one series.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
struct StackKey {
    echo: Option<String>,
    temporal: Option<String>,
    b_value: Option<String>,
    /// Image Orientation (Patient), rounded.
    orientation: [i64; 6],
}

impl StackKey {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(e) = &self.echo {
            parts.push(format!("Echo Numbers {e}"));
        }
        if let Some(t) = &self.temporal {
            parts.push(format!("Temporal Position Identifier {t}"));
        }
        if let Some(b) = &self.b_value {
            parts.push(format!("Diffusion b-value {b}"));
        }
        let o: Vec<String> = self
            .orientation
            .iter()
            .map(|v| format!("{:.3}", *v as f64 / 1e4))
            .collect();
        parts.push(format!("orientation {}", o.join("\\")));
        parts.join(", ")
    }
}

fn numbers(obj: &InMemDicomObject, tag: Tag, n: usize, name: &str) -> Result<Vec<f64>, String> {
    let Some(e) = obj.get(tag) else {
        return Err(format!("no {tag} {name}"));
    };
    // Read as text and split here: a value built in memory may hold `a\b\c` as one string.
    let text = e
        .value()
        .to_str()
        .map_err(|_| format!("{tag} {name} is not text"))?;
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

fn unit(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    (n > 1e-6).then(|| [v[0] / n, v[1] / n, v[2] / n])
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn slice_of(instance: &Instance) -> Result<Slice<'_>, SeriesError> {
    let obj: &InMemDicomObject = &instance.object;
    let name = instance.name.as_str();
    if obj.get(tags::PIXEL_DATA).is_none() {
        return fail(name, "no (7FE0,0010) Pixel Data");
    }
    let frames = text(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    if frames > 1 {
        return fail(
            name,
            format!("{frames} frames: enhanced multi-frame objects are not assembled yet"),
        );
    }
    let position = numbers(
        obj,
        tags::IMAGE_POSITION_PATIENT,
        3,
        "Image Position (Patient)",
    )
    .or_else(|why| fail(name, why))?;
    let orientation = numbers(
        obj,
        tags::IMAGE_ORIENTATION_PATIENT,
        6,
        "Image Orientation (Patient)",
    )
    .or_else(|why| fail(name, why))?;
    let spacing =
        numbers(obj, tags::PIXEL_SPACING, 2, "Pixel Spacing").or_else(|why| fail(name, why))?;
    if spacing.iter().any(|s| *s <= 0.0) {
        return fail(
            name,
            format!("(0028,0030) Pixel Spacing {spacing:?} must be positive"),
        );
    }
    let (Some(row_dir), Some(col_dir)) = (
        unit([orientation[0], orientation[1], orientation[2]]),
        unit([orientation[3], orientation[4], orientation[5]]),
    ) else {
        return fail(
            name,
            format!("(0020,0037) Image Orientation (Patient) {orientation:?} has a zero vector"),
        );
    };
    if dot(row_dir, col_dir).abs() > 1e-3 {
        return fail(
            name,
            format!(
                "(0020,0037) Image Orientation (Patient) {orientation:?}: the row and column directions are not perpendicular"
            ),
        );
    }
    let dim = |tag: Tag, what: &str| {
        obj.get(tag)
            .and_then(|e| e.to_int::<u16>().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| SeriesError {
                instance: name.to_owned(),
                why: format!("no valid {tag} {what}"),
            })
    };
    let rows = dim(tags::ROWS, "Rows")?;
    let columns = dim(tags::COLUMNS, "Columns")?;
    let mut rounded = [0i64; 6];
    for (r, v) in rounded.iter_mut().zip(row_dir.iter().chain(col_dir.iter())) {
        *r = (v * 1e4).round() as i64;
    }
    Ok(Slice {
        instance,
        position: [position[0], position[1], position[2]],
        row_dir,
        col_dir,
        spacing_ij: [spacing[1], spacing[0]],
        rows,
        columns,
        stack: StackKey {
            echo: text(obj, tags::ECHO_NUMBERS),
            temporal: text(obj, tags::TEMPORAL_POSITION_IDENTIFIER),
            b_value: text(obj, tags::DIFFUSION_B_VALUE),
            orientation: rounded,
        },
    })
}

/// The volumes of a series: one, or one per stack when the series holds several (each volume's
/// `source.notes` says which). `instances` may come in any order.
pub fn volumes(instances: &[Instance]) -> Result<Vec<Volume<f32>>, SeriesError> {
    if instances.is_empty() {
        return fail("series", "no instances");
    }
    let slices = instances
        .iter()
        .map(slice_of)
        .collect::<Result<Vec<_>, _>>()?;
    let mut stacks: Vec<(StackKey, Vec<Slice>)> = Vec::new();
    for s in slices {
        match stacks.iter_mut().find(|(k, _)| *k == s.stack) {
            Some((_, v)) => v.push(s),
            None => stacks.push((s.stack.clone(), vec![s])),
        }
    }
    stacks.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let split = stacks.len() > 1;
    let count = stacks.len();
    stacks
        .into_iter()
        .map(|(key, slices)| {
            let mut v = stack_volume(slices)?;
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

fn stack_volume(mut slices: Vec<Slice>) -> Result<Volume<f32>, SeriesError> {
    let first = &slices[0];
    let (rows, columns, spacing_ij) = (first.rows, first.columns, first.spacing_ij);
    let (row_dir, col_dir) = (first.row_dir, first.col_dir);
    let first_name = first.instance.name.clone();
    for s in &slices[1..] {
        if (s.rows, s.columns) != (rows, columns) {
            return fail(
                &s.instance.name,
                format!(
                    "{}×{} pixels (columns × rows), while {first_name} has {columns}×{rows}",
                    s.columns, s.rows
                ),
            );
        }
        let same = |a: f64, b: f64| (a - b).abs() <= SPACING_TOLERANCE * b.max(1e-6);
        if !same(s.spacing_ij[0], spacing_ij[0]) || !same(s.spacing_ij[1], spacing_ij[1]) {
            return fail(
                &s.instance.name,
                format!(
                    "Pixel Spacing {:?}, while {first_name} has {:?}",
                    [s.spacing_ij[1], s.spacing_ij[0]],
                    [spacing_ij[1], spacing_ij[0]]
                ),
            );
        }
    }
    let normal = cross(row_dir, col_dir);
    slices.sort_by(|a, b| {
        dot(a.position, normal)
            .partial_cmp(&dot(b.position, normal))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut notes = Vec::new();
    let n = slices.len();
    let mut step = [0.0, 0.0, 0.0];
    if n > 1 {
        let gaps: Vec<f64> = slices
            .windows(2)
            .map(|w| dot(w[1].position, normal) - dot(w[0].position, normal))
            .collect();
        for (i, g) in gaps.iter().enumerate() {
            if *g < POSITION_TOLERANCE {
                return fail(
                    &slices[i + 1].instance.name,
                    format!(
                        "at the same position as {} ({:?}): two images of one place (several acquisitions in one series?)",
                        slices[i].instance.name, slices[i].position
                    ),
                );
            }
        }
        let mut sorted = gaps.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let typical = sorted[sorted.len() / 2];
        for (i, g) in gaps.iter().enumerate() {
            if (g - typical).abs() > SPACING_TOLERANCE * typical + POSITION_TOLERANCE {
                let ratio = g / typical;
                let why = if (ratio - ratio.round()).abs() < 0.05 && ratio.round() >= 2.0 {
                    format!(
                        "{} missing slice(s) between {} and {}: a gap of {g:.3} mm where the spacing is {typical:.3} mm",
                        ratio.round() as i64 - 1,
                        slices[i].instance.name,
                        slices[i + 1].instance.name
                    )
                } else {
                    format!(
                        "non-uniform slice spacing: {g:.3} mm between {} and {}, {typical:.3} mm elsewhere",
                        slices[i].instance.name,
                        slices[i + 1].instance.name
                    )
                };
                return fail(&slices[i + 1].instance.name, why);
            }
        }
        let (p0, pn) = (slices[0].position, slices[n - 1].position);
        for a in 0..3 {
            step[a] = (pn[a] - p0[a]) / (n - 1) as f64;
        }
        // Every slice must lie on the line from the first to the last (no jitter beyond 0.01 mm).
        for (k, s) in slices.iter().enumerate() {
            for a in 0..3 {
                let expected = p0[a] + step[a] * k as f64;
                if (s.position[a] - expected).abs() > 0.01 + SPACING_TOLERANCE * typical {
                    return fail(
                        &s.instance.name,
                        format!(
                            "Image Position (Patient) {:?} is off the line of the other slices (expected {:?})",
                            s.position,
                            [
                                p0[0] + step[0] * k as f64,
                                p0[1] + step[1] * k as f64,
                                p0[2] + step[2] * k as f64
                            ]
                        ),
                    );
                }
            }
        }
        let along = dot(step, normal);
        let tilt = (along / (dot(step, step).sqrt())).clamp(-1.0, 1.0).acos();
        if tilt.to_degrees() > 0.01 {
            notes.push(format!(
                "gantry tilt {:.2}°: the slices are offset along the image plane; kept exactly as a sheared affine",
                tilt.to_degrees()
            ));
        }
    } else {
        // One slice: its thickness, if stated, else 1 mm.
        let thickness = text(&slices[0].instance.object, tags::SLICE_THICKNESS)
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(1.0);
        step = [
            normal[0] * thickness,
            normal[1] * thickness,
            normal[2] * thickness,
        ];
        notes.push("a single slice: its spacing is its Slice Thickness (or 1 mm)".into());
    }
    let dims = [usize::from(columns), usize::from(rows), n];
    let mut affine = nalgebra::Matrix4::identity();
    for r in 0..3 {
        affine[(r, 0)] = row_dir[r] * spacing_ij[0];
        affine[(r, 1)] = col_dir[r] * spacing_ij[1];
        affine[(r, 2)] = step[r];
        affine[(r, 3)] = slices[0].position[r];
    }
    let geometry = Geometry { dims, affine };
    // Fortran order (i fastest), as DICOM rows and NIfTI files lay voxels out: each slice is one
    // contiguous block, and writing the file is sequential.
    let mut data = Array3::<f32>::zeros((dims[0], dims[1], dims[2]).f());
    for (k, s) in slices.iter().enumerate() {
        let frame = decode(s.instance)?;
        if frame.shape()[0] != usize::from(rows) || frame.shape()[1] != usize::from(columns) {
            return fail(
                &s.instance.name,
                format!(
                    "decoded pixel data is {:?}, not {rows}×{columns}",
                    frame.shape()
                ),
            );
        }
        data.index_axis_mut(ndarray::Axis(2), k).assign(&frame.t());
    }
    let series_uid = text(&slices[0].instance.object, tags::SERIES_INSTANCE_UID);
    let source = Source {
        series_uid,
        instance_sha256: slices.iter().map(|s| s.instance.sha256.clone()).collect(),
        notes,
    };
    Volume::new(data, geometry)
        .map(|v| v.with_source(source))
        .or_else(|e| fail("series", e.to_string()))
}

/// One frame's values, rescaled, as rows × columns (the first sample of colour images is refused).
fn decode(instance: &Instance) -> Result<ndarray::Array2<f32>, SeriesError> {
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
    let decoded = instance.object.decode_pixel_data().or_else(|e| {
        fail(
            name,
            format!("cannot decode pixel data (transfer syntax {ts}): {e}"),
        )
    })?;
    let frame = decoded
        .to_ndarray_frame::<f32>(0)
        .or_else(|e| fail(name, format!("cannot convert pixel data: {e}")))?;
    Ok(frame.index_axis_move(ndarray::Axis(2), 0))
}
