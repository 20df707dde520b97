//! `onco.lesion-track`: a baseline CT's lesions (a label image, one label per lesion) followed
//! to a follow-up CT. The follow-up is registered to the baseline (rigid, Mattes mutual
//! information, as `neuro.lesion-change` registers visits); each baseline lesion's centroid is
//! carried to the follow-up and the lesion segmented there from it as a reader's seed
//! (`onco.lesion-seg`); the follow-up lesion is matched to the baseline one when, carried back
//! through the registration, most of it lies in that baseline lesion and its centroid moved no
//! more than `match-distance`. A lesion that is gone (the seed lands in lung, or in an organ
//! whose region leaks) or that lands on another lesion is unmatched.

use super::lesion_seg::{Lesion, Settings, require_ct, segment};
use crate::image::{input, same_grid, visit_transforms};
use crate::neuro::measurement;
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params, Table, TableSpec,
};
use corelab_image::Volume;
use nalgebra::{Matrix4, Vector4};
use std::collections::BTreeMap;

/// See the module.
pub struct LesionTrack;

/// One baseline lesion at the follow-up.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// Its label in the baseline label image.
    pub label: u32,
    /// Its baseline volume (mm³, the label's voxels).
    pub baseline_volume_mm3: f64,
    /// Its baseline centroid (LPS mm).
    pub baseline_centroid_mm: [f64; 3],
    /// The seed it was segmented from at the follow-up (follow-up LPS mm).
    pub seed_mm: [f64; 3],
    /// The follow-up lesion, or why none was segmented.
    pub followup: Result<Lesion, String>,
    /// Of the follow-up lesion's voxels, the share landing in this baseline lesion.
    pub overlap: f64,
    /// How far its centroid moved, in baseline space (mm).
    pub displacement_mm: f64,
    /// Whether the follow-up lesion is this baseline lesion.
    pub matched: bool,
}

/// Each baseline lesion followed to `followup` (module documentation); also the baseline →
/// follow-up transform.
pub fn track(
    baseline: &Volume<f32>,
    labels: &Volume<f32>,
    followup: &Volume<f32>,
    settings: &Settings,
    match_distance_mm: f64,
) -> Result<(Vec<Tracked>, Matrix4<f64>), AlgoError> {
    let lesions = baseline_lesions(labels)?;
    let (base_to_follow, follow_to_base) = visit_transforms(baseline, followup)?;
    let to_base_index = labels
        .geometry
        .affine
        .try_inverse()
        .ok_or_else(|| AlgoError::Failed("the baseline's affine is singular".into()))?
        * follow_to_base
        * followup.geometry.affine;
    let carry = |m: &Matrix4<f64>, p: [f64; 3]| {
        let q = m * Vector4::new(p[0], p[1], p[2], 1.0);
        [q[0], q[1], q[2]]
    };
    let [ni, nj, nk] = labels.geometry.dims;
    let label_at = |q: [f64; 3]| -> u32 {
        let r = q.map(|x| x.round());
        if r.iter()
            .zip([ni, nj, nk])
            .any(|(x, n)| *x < 0.0 || *x >= n as f64)
        {
            return 0;
        }
        labels.data[[r[0] as usize, r[1] as usize, r[2] as usize]].round() as u32
    };
    let mut out = Vec::new();
    for (label, (volume_mm3, centroid)) in lesions {
        let seed = carry(&base_to_follow, centroid);
        let followup_lesion = segment(followup, seed, settings).map_err(|r| r.to_string());
        let (overlap, displacement_mm, matched) = match &followup_lesion {
            Ok(l) => {
                let mut hits: BTreeMap<u32, usize> = BTreeMap::new();
                let mut total = 0usize;
                for ((i, j, k), m) in l.mask.indexed_iter() {
                    if *m {
                        total += 1;
                        let q = to_base_index * Vector4::new(i as f64, j as f64, k as f64, 1.0);
                        *hits.entry(label_at([q[0], q[1], q[2]])).or_default() += 1;
                    }
                }
                let own = hits.get(&label).copied().unwrap_or(0);
                let most = hits
                    .iter()
                    .filter(|(l, _)| **l > 0)
                    .max_by_key(|(_, n)| **n)
                    .map(|(l, _)| *l);
                let moved = distance(carry(&follow_to_base, l.centroid_mm), centroid);
                let overlap = own as f64 / total.max(1) as f64;
                (
                    overlap,
                    moved,
                    own > 0 && most == Some(label) && moved <= match_distance_mm,
                )
            }
            Err(_) => (0.0, 0.0, false),
        };
        out.push(Tracked {
            label,
            baseline_volume_mm3: volume_mm3,
            baseline_centroid_mm: centroid,
            seed_mm: seed,
            followup: followup_lesion,
            overlap,
            displacement_mm,
            matched,
        });
    }
    Ok((out, base_to_follow))
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Each label's volume (mm³) and centroid (LPS mm), by label; refused when the image is not
/// whole non-negative labels or holds none.
fn baseline_lesions(labels: &Volume<f32>) -> Result<BTreeMap<u32, (f64, [f64; 3])>, AlgoError> {
    let bad = |why: String| AlgoError::Input {
        role: "baseline-lesions".into(),
        why,
    };
    let mut sums: BTreeMap<u32, (usize, [f64; 3])> = BTreeMap::new();
    for ((i, j, k), v) in labels.data.indexed_iter() {
        if *v == 0.0 {
            continue;
        }
        if !(v.is_finite() && *v > 0.0 && v.fract() == 0.0 && *v <= 65_535.0) {
            return Err(bad(format!(
                "voxel ({i}, {j}, {k}) holds {v}: a label image holds whole numbers from 0 (background) to 65535, one per lesion"
            )));
        }
        let p = labels.geometry.to_patient([i as f64, j as f64, k as f64]);
        let e = sums.entry(*v as u32).or_insert((0, [0.0; 3]));
        e.0 += 1;
        for (sum, x) in e.1.iter_mut().zip(p) {
            *sum += x;
        }
    }
    if sums.is_empty() {
        return Err(bad("holds no lesion (every voxel is 0)".into()));
    }
    let voxel = labels.geometry.voxel_volume();
    Ok(sums
        .into_iter()
        .map(|(l, (n, s))| (l, (n as f64 * voxel, s.map(|x| x / n as f64))))
        .collect())
}

/// The table's columns.
const COLUMNS: [(&str, &str); 9] = [
    ("baseline-label", "1"),
    ("baseline-volume", "mL"),
    ("followup-volume", "mL"),
    ("long-axis", "mm"),
    ("short-axis", "mm"),
    ("segmented", "1"),
    ("matched", "1"),
    ("overlap", "1"),
    ("displacement", "mm"),
];

impl Algorithm for LesionTrack {
    fn id(&self) -> &'static str {
        "onco.lesion-track"
    }
    fn version(&self) -> &'static str {
        "1.1.0"
    }
    fn description(&self) -> &'static str {
        "Baseline CT lesions (a label image) followed to a follow-up CT: the follow-up registered to the baseline (rigid, Mattes MI), each lesion segmented at the follow-up from its carried centroid (onco.lesion-seg) and matched by overlap and position; a per-lesion table of follow-up volume and RECIST axes (docs/algorithms/onco.lesion-seg.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Mattes D et al. PET-CT image registration in the chest using free-form deformations. IEEE TMI 2003;22:120-128.",
            "Adams R, Bischof L. Seeded region growing. IEEE TPAMI 1994;16:641-647.",
            "Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "baseline",
                kind: InputKind::Image,
                required: true,
                description: "the baseline CT (HU)",
            },
            InputRole {
                role: "baseline-lesions",
                kind: InputKind::Mask,
                required: true,
                description: "the baseline lesions on the baseline's grid: a label image, one whole-number label per lesion (0 background), e.g. onco.lesion-seg masks given labels",
            },
            InputRole {
                role: "followup",
                kind: InputKind::Image,
                required: true,
                description: "the follow-up CT (HU)",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let mut out = Settings::params();
        out.push(ParamSpec {
            name: "match-distance",
            kind: ParamKind::Number {
                min: 0.0,
                max: 200.0,
            },
            default: ParamValue::Number(15.0),
            unit: Some("mm"),
            description: "the farthest a follow-up lesion's centroid may lie from its baseline lesion's (after registration) to be matched to it",
        });
        out
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "lesions",
                unit: "1",
                description: "baseline lesions (labels)",
            },
            MeasurementSpec {
                name: "matched",
                unit: "1",
                description: "of them, found and matched at the follow-up",
            },
            MeasurementSpec {
                name: "unmatched",
                unit: "1",
                description: "of them, not found (gone, or not segmentable from the carried seed) or not matched",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "followup-lesions",
            description: "the matched follow-up lesions on the follow-up's grid, each with its baseline label",
            kind: ImageKind::Findings,
            grid: "followup",
        }]
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "lesions",
            columns: &COLUMNS,
            description: "one row per baseline lesion: its follow-up volume and RECIST axes (0 when not segmented), whether it was segmented and matched, the share of the follow-up lesion in it, and how far its centroid moved after registration",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let baseline = input(inputs, "baseline")?;
        let labels = input(inputs, "baseline-lesions")?;
        let followup = input(inputs, "followup")?;
        for (role, v) in [("baseline", baseline), ("followup", followup)] {
            require_ct(v).map_err(|why| AlgoError::Input {
                role: role.into(),
                why,
            })?;
        }
        if !same_grid(baseline, labels) {
            return Err(AlgoError::Input {
                role: "baseline-lesions".into(),
                why: format!(
                    "on a {:?} grid that is not the baseline's ({:?}, affines within 1e-4 mm): give the labels on the baseline CT's grid",
                    labels.geometry.dims, baseline.geometry.dims
                ),
            });
        }
        let settings = Settings::from_params(params)?;
        let match_distance = params.number("match-distance").unwrap_or(15.0);
        let (tracked, _) = track(baseline, labels, followup, &settings, match_distance)?;
        let mut image = ndarray::Array3::<f32>::zeros(followup.data.dim());
        let mut rows = Vec::new();
        for t in &tracked {
            let (volume, long, short) = match &t.followup {
                Ok(l) => (
                    l.volume_mm3 / 1000.0,
                    l.diameters.long_mm,
                    l.diameters.short_mm,
                ),
                Err(_) => (0.0, 0.0, 0.0),
            };
            if let (true, Ok(l)) = (t.matched, &t.followup) {
                for (v, m) in image.iter_mut().zip(l.mask.iter()) {
                    if *m {
                        *v = t.label as f32;
                    }
                }
            }
            rows.push(vec![
                f64::from(t.label),
                t.baseline_volume_mm3 / 1000.0,
                volume,
                long,
                short,
                f64::from(u8::from(t.followup.is_ok())),
                f64::from(u8::from(t.matched)),
                t.overlap,
                t.displacement_mm,
            ]);
        }
        let matched = tracked.iter().filter(|t| t.matched).count() as f64;
        let total = tracked.len() as f64;
        Ok(Outputs {
            measurements: vec![
                measurement("lesions", total, "1"),
                measurement("matched", matched, "1"),
                measurement("unmatched", total - matched, "1"),
            ],
            images: vec![(
                "followup-lesions".into(),
                Volume::new(image, followup.geometry.clone())
                    .map_err(|e| AlgoError::Failed(e.to_string()))?,
            )],
            tables: vec![Table {
                name: "lesions".into(),
                columns: COLUMNS.iter().map(|c| c.0.to_owned()).collect(),
                rows,
            }],
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests;
