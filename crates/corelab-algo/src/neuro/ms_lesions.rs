//! `neuro.ms-lesions`: white-matter lesions on FLAIR, as hyperintense outliers relative to the
//! subject's own tissue intensities (the idea of Jack et al. 2001 and of LST's lesion growth,
//! Schmidt et al. 2012, without their atlases or trained models).
//!
//! Method:
//! 1. The brain's FLAIR intensities (inside the brain mask) fall into three classes by 1-D
//!    k-means: CSF (dark, suppressed), white matter, grey matter (the brightest normal tissue on
//!    FLAIR). The grey-matter class's median `μ` and its upper spread `σ` (84th percentile − median,
//!    one side so that the k-means cut below does not shrink it) describe normal tissue.
//! 2. Seeds: voxels brighter than `μ + k·σ` (`threshold-sd` = k). Growth (hysteresis): voxels
//!    next to a seed and brighter than `μ + 2σ` join it (one step): a lesion's brighter
//!    partial-volume rim. Growing further, or down to the white/grey midpoint, runs along the
//!    cortex: on the phantom that made 11–35 false lesions per scan at 2 mm.
//!    `k` = 5 by default: 4 to 6 found the same phantom lesions, 4 left one false lesion on six
//!    lesion-free brain phantoms.
//! 3. With a T1w on the FLAIR grid, candidates brighter than its white matter are dropped
//!    (lesions are T1 hypo- or isointense).
//! 4. Connected components (`connectivity`), each kept if its voxel volume is at least
//!    `min-volume`.
//! 5. Each lesion's volume is its partial-volume sum over its voxels and the ring one voxel out,
//!    `f = clamp((I − b)/(L − b), 0, 1)` with `b` the median of the normal tissue two voxels out
//!    (so a smooth bias field cancels) and `L` the subject's lesion level (the 90th percentile of
//!    lesion voxels). On 2 × 2 × 4 mm FLAIR voxels most voxels of a 3-mm lesion are partly
//!    lesion: voxel counting over-states the phantom's total by 13–31 %, this sum is within 2 %.
//!
//! Accuracy (phantom and the Lesjak patient07 consensus, where it is poor) is measured in
//! `docs/algorithms/neuro.ms-lesions.md`.

use super::{mask_on, measurement};
use crate::image::input;
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params, Table, TableSpec,
};
use corelab_image::Volume;
use corelab_image::components::{Connectivity, label};
use ndarray::{Array3, Zip};

/// See the module.
pub struct MsLesions;

/// The coarsest in-plane voxel trusted (mm): a 3-mm lesion must cover at least one voxel.
pub const MAX_IN_PLANE_MM: f64 = 3.0;
/// The thickest slice trusted (mm): 2-D FLAIR is acquired at 3–5 mm; the phantom's at 2 mm
/// voxels is 4 mm thick.
pub const MAX_SLICE_MM: f64 = 6.0;

/// The least grey/white contrast accepted: the class medians' difference in noise SDs.
const CONTRAST: f64 = 2.5;

/// The noise SD inside `mask`: the median absolute difference of neighbours along the first
/// axis over √2 · 0.6745 (robust to the few pairs that straddle tissue edges).
fn noise_sd(data: &Array3<f32>, mask: &Array3<bool>) -> f64 {
    let (ni, nj, nk) = data.dim();
    let mut d = Vec::new();
    for i in 1..ni {
        for j in 0..nj {
            for k in 0..nk {
                if mask[[i, j, k]] && mask[[i - 1, j, k]] {
                    d.push((f64::from(data[[i, j, k]]) - f64::from(data[[i - 1, j, k]])).abs());
                }
            }
        }
    }
    if d.is_empty() {
        return 0.0;
    }
    let mid = d.len() / 2;
    let (_, m, _) = d.select_nth_unstable_by(mid, f64::total_cmp);
    *m / (std::f64::consts::SQRT_2 * 0.6745)
}

/// The columns of a lesion table (`neuro.ms-lesions`, `dl.flair-lesions`): one row per lesion.
pub const LESION_COLUMNS: &[(&str, &str)] = &[
    ("id", "1"),
    ("centroid-x", "mm"),
    ("centroid-y", "mm"),
    ("centroid-z", "mm"),
    ("volume", "mm3"),
    ("voxels", "1"),
];

/// One lesion found.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesion {
    /// 1-based; its label in [`Detection::labels`].
    pub id: usize,
    /// Centroid of its voxels (LPS, mm).
    pub centroid_mm: [f64; 3],
    /// Partial-volume volume (mm³): module documentation, step 5.
    pub volume_mm3: f64,
    /// Its voxels.
    pub voxels: usize,
}

/// What [`detect`] finds on the FLAIR grid.
#[derive(Clone, Debug)]
pub struct Detection {
    /// 0 outside lesions, the lesion's id inside.
    pub labels: Array3<u32>,
    /// The lesions by id.
    pub lesions: Vec<Lesion>,
}

/// How [`detect`] runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seeds are brighter than the grey-matter median by this many of its SDs.
    pub threshold_sd: f64,
    /// Lesions smaller than this (voxel count × voxel volume, mm³) are dropped.
    pub min_volume_mm3: f64,
    /// Which voxels touch.
    pub connectivity: Connectivity,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            threshold_sd: 5.0,
            min_volume_mm3: 10.0,
            connectivity: Connectivity::TwentySix,
        }
    }
}

/// The subject's normal-tissue intensities on FLAIR.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tissue {
    /// Grey-matter median.
    pub gm: f64,
    /// Grey matter's upper spread (84th percentile − median).
    pub sd: f64,
}

/// The three-class model of the brain's FLAIR intensities (module documentation, step 1).
pub(crate) fn tissue(
    role: &str,
    data: &Array3<f32>,
    brain: &Array3<bool>,
) -> Result<Tissue, AlgoError> {
    let values = super::sorted_inside(data, brain);
    if values.len() < 1000 {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!("{} brain voxels: too few for a brain", values.len()),
        });
    }
    let (means, cuts) = super::kmeans3_sorted(&values, [0.05, 0.5, 0.9]);
    let wm_run = &values[cuts[0]..cuts[1]];
    let gm_run = &values[cuts[1]..];
    let q = |run: &[f64], p: f64| run[((run.len() - 1) as f64 * p) as usize];
    let enough = |run: &[f64]| run.len() * 20 >= values.len();
    // Grey and white matter must differ by more than the noise: a featureless image split in
    // three by k-means has its class medians about 1.1 noise SDs apart; brain FLAIR, 8 (phantom)
    // and 6 (patient07, MNI-resampled) apart.
    let noise = noise_sd(data, brain);
    if !enough(wm_run) || !enough(gm_run) || q(gm_run, 0.5) - q(wm_run, 0.5) < CONTRAST * noise {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "no white / grey matter contrast in the brain (class means {:.1}, {:.1}, {:.1}, noise SD {noise:.1}): not a FLAIR image of a brain, or the mask misses it",
                means[0], means[1], means[2]
            ),
        });
    }
    let gm = q(gm_run, 0.5);
    Ok(Tissue {
        gm,
        sd: (q(gm_run, 0.84) - gm).max(1e-6),
    })
}

/// Refuses a FLAIR coarser than the method trusts, or not 3-D, or with non-finite values.
pub(crate) fn check_flair(role: &str, flair: &Volume<f32>) -> Result<(), AlgoError> {
    super::require_resolution(role, flair, MAX_SLICE_MM)?;
    let mut s = flair.geometry.spacing();
    s.sort_by(f64::total_cmp);
    if s[1] > MAX_IN_PLANE_MM {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "in-plane voxels of {:.2} × {:.2} mm: lesions of 3 mm need {MAX_IN_PLANE_MM} mm or finer",
                s[0], s[1]
            ),
        });
    }
    Ok(())
}

/// The lesions of a FLAIR image inside `brain` (on the FLAIR grid); `t1`, on the FLAIR grid,
/// vetoes candidates that are not darker than white matter on T1 (lesions are; the bright
/// grey-matter and vessel outliers of FLAIR are not).
pub fn detect(
    flair: &Volume<f32>,
    brain: &Array3<bool>,
    t1: Option<&Volume<f32>>,
    options: &Options,
) -> Result<Detection, AlgoError> {
    check_flair("flair", flair)?;
    let dims = flair.geometry.dims;
    if brain.dim() != (dims[0], dims[1], dims[2]) {
        return Err(AlgoError::Input {
            role: "mask".into(),
            why: "the brain mask is not on the FLAIR grid".into(),
        });
    }
    if let Some(t) = t1
        && t.geometry.dims != dims
    {
        return Err(AlgoError::Input {
            role: "t1".into(),
            why: "the T1w is not on the FLAIR grid".into(),
        });
    }
    let data = &flair.data;
    let tissue = tissue("flair", data, brain)?;
    let seed_level = tissue.gm + options.threshold_sd * tissue.sd;
    let grow_level = tissue.gm + 2.0 * tissue.sd;
    let mut lesion = Zip::from(data)
        .and(brain)
        .map_collect(|&v, &b| b && f64::from(v) > seed_level);
    let offsets = neighbours(options.connectivity);
    lesion = grow(&lesion, data, brain, grow_level, &offsets);
    if let Some(t) = t1 {
        let t1_tissue = t1_white(&t.data, brain, &lesion);
        if let Some(white) = t1_tissue {
            // Lesions are hypo- or isointense to white matter on T1; a candidate brighter than
            // white matter there is not a lesion.
            Zip::from(&mut lesion)
                .and(&t.data)
                .for_each(|l, &v| *l = *l && f64::from(v) < white);
        }
    }
    let (labels, sizes) = label(&lesion, options.connectivity);
    let voxel_mm3 = flair.geometry.voxel_volume();
    let keep: Vec<bool> = sizes
        .iter()
        .map(|&s| s as f64 * voxel_mm3 >= options.min_volume_mm3 - 1e-9)
        .collect();
    let (labels, n) = renumber(&labels, &keep);
    let lesions = measure(flair, brain, &labels, n);
    Ok(Detection { labels, lesions })
}

/// The T1 white-matter level: the 75th percentile of T1 inside the brain, less lesion
/// candidates (white matter is the brightest tissue on T1); `None` when there is no brain.
fn t1_white(t1: &Array3<f32>, brain: &Array3<bool>, lesion: &Array3<bool>) -> Option<f64> {
    let mut v: Vec<f64> =
        Zip::from(t1)
            .and(brain)
            .and(lesion)
            .fold(Vec::new(), |mut acc, &x, &b, &l| {
                if b && !l {
                    acc.push(f64::from(x));
                }
                acc
            });
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[(v.len() - 1) * 3 / 4])
}

/// The neighbour offsets of a connectivity.
fn neighbours(c: Connectivity) -> Vec<[isize; 3]> {
    let mut out = Vec::new();
    for a in -1isize..=1 {
        for b in -1isize..=1 {
            for d in -1isize..=1 {
                let n = a.abs() + b.abs() + d.abs();
                let keep = match c {
                    Connectivity::Six => n == 1,
                    Connectivity::Eighteen => n == 1 || n == 2,
                    Connectivity::TwentySix => n >= 1,
                };
                if keep {
                    out.push([a, b, d]);
                }
            }
        }
    }
    out
}

/// The neighbour of `[i, j, k]` at `o`, if inside `dims`.
fn step(p: [usize; 3], o: [isize; 3], dims: (usize, usize, usize)) -> Option<[usize; 3]> {
    let q = [
        p[0] as isize + o[0],
        p[1] as isize + o[1],
        p[2] as isize + o[2],
    ];
    (q[0] >= 0
        && q[1] >= 0
        && q[2] >= 0
        && (q[0] as usize) < dims.0
        && (q[1] as usize) < dims.1
        && (q[2] as usize) < dims.2)
        .then(|| [q[0] as usize, q[1] as usize, q[2] as usize])
}

/// One step of growth: `mask` and its neighbours inside the brain brighter than `level`.
fn grow(
    mask: &Array3<bool>,
    data: &Array3<f32>,
    brain: &Array3<bool>,
    level: f64,
    offsets: &[[isize; 3]],
) -> Array3<bool> {
    let dims = mask.dim();
    let mut out = mask.clone();
    for ((i, j, k), &m) in mask.indexed_iter() {
        if !m {
            continue;
        }
        for o in offsets {
            if let Some(q) = step([i, j, k], *o, dims)
                && brain[q]
                && f64::from(data[q]) > level
            {
                out[q] = true;
            }
        }
    }
    out
}

/// The subject's lesion level: the 90th percentile of the lesion voxels' intensities (`None`
/// without lesions).
pub(crate) fn lesion_level(data: &Array3<f32>, labels: &Array3<u32>) -> Option<f64> {
    let mut inside: Vec<f64> = Zip::from(data)
        .and(labels)
        .fold(Vec::new(), |mut v, &x, &l| {
            if l > 0 {
                v.push(f64::from(x));
            }
            v
        });
    if inside.is_empty() {
        return None;
    }
    inside.sort_by(f64::total_cmp);
    Some(inside[(inside.len() - 1) * 9 / 10])
}

/// The partial-volume volume (mm³) of the lesion at `voxels` (module documentation, step 5):
/// the fractions of its voxels and of the ring one voxel out, against the median of the normal
/// tissue two voxels out (in the brain, in no lesion of `labels`) and the lesion `level`.
pub(crate) fn partial_volume(
    flair: &Volume<f32>,
    brain: &Array3<bool>,
    labels: &Array3<u32>,
    voxels: &[[usize; 3]],
    level: f64,
) -> f64 {
    let data = &flair.data;
    let (ring1, ring2) = rings(voxels, labels.dim());
    let background = surround(data, brain, labels, &ring2);
    let normal = |q: &&[usize; 3]| brain[**q] && labels[**q] == 0;
    let fraction = |q: [usize; 3]| {
        if level > background {
            ((f64::from(data[q]) - background) / (level - background)).clamp(0.0, 1.0)
        } else {
            1.0
        }
    };
    let pv: f64 = voxels.iter().map(|&q| fraction(q)).sum::<f64>()
        + ring1
            .iter()
            .filter(normal)
            .map(|&q| fraction(q))
            .sum::<f64>();
    pv * flair.geometry.voxel_volume()
}

/// The voxels one and two 6-neighbour steps out of `voxels`.
fn rings(voxels: &[[usize; 3]], dims: (usize, usize, usize)) -> (Vec<[usize; 3]>, Vec<[usize; 3]>) {
    let six = neighbours(Connectivity::Six);
    let mut seen: std::collections::BTreeSet<[usize; 3]> = voxels.iter().copied().collect();
    let mut out = (Vec::new(), Vec::new());
    for &p in voxels {
        for o in &six {
            if let Some(q) = step(p, *o, dims)
                && seen.insert(q)
            {
                out.0.push(q);
            }
        }
    }
    for &p in &out.0 {
        for o in &six {
            if let Some(q) = step(p, *o, dims)
                && seen.insert(q)
            {
                out.1.push(q);
            }
        }
    }
    out
}

/// The median of the normal tissue (in the brain, in no lesion) among `ring`.
fn surround(
    data: &Array3<f32>,
    brain: &Array3<bool>,
    labels: &Array3<u32>,
    ring: &[[usize; 3]],
) -> f64 {
    let mut around: Vec<f64> = ring
        .iter()
        .filter(|&&q| brain[q] && labels[q] == 0)
        .map(|&q| f64::from(data[q]))
        .collect();
    around.sort_by(f64::total_cmp);
    around.get(around.len() / 2).copied().unwrap_or(0.0)
}

/// Each label's voxels, in scan order (index 0 empty).
fn members(labels: &Array3<u32>, n: usize) -> Vec<Vec<[usize; 3]>> {
    let mut out: Vec<Vec<[usize; 3]>> = vec![Vec::new(); n + 1];
    for ((i, j, k), &l) in labels.indexed_iter() {
        if l > 0 {
            out[l as usize].push([i, j, k]);
        }
    }
    out
}

/// Labels renumbered 1.. over those kept (`keep[0]` is ignored), and how many.
fn renumber(labels: &Array3<u32>, keep: &[bool]) -> (Array3<u32>, usize) {
    let mut to = vec![0u32; keep.len()];
    let mut next = 0u32;
    for (n, k) in keep.iter().enumerate().skip(1) {
        if *k {
            next += 1;
            to[n] = next;
        }
    }
    (labels.mapv(|l| to[l as usize]), next as usize)
}

/// Centroids and partial-volume volumes of labels `1..=n`.
fn measure(
    flair: &Volume<f32>,
    brain: &Array3<bool>,
    labels: &Array3<u32>,
    n: usize,
) -> Vec<Lesion> {
    let level = lesion_level(&flair.data, labels).unwrap_or(0.0);
    members(labels, n)
        .iter()
        .enumerate()
        .skip(1)
        .map(|(id, voxels)| {
            let mut c = [0.0; 3];
            for &[i, j, k] in voxels {
                let p = flair.geometry.to_patient([i as f64, j as f64, k as f64]);
                for a in 0..3 {
                    c[a] += p[a];
                }
            }
            Lesion {
                id,
                centroid_mm: c.map(|x| x / voxels.len() as f64),
                volume_mm3: partial_volume(flair, brain, labels, voxels, level),
                voxels: voxels.len(),
            }
        })
        .collect()
}

/// The options of a run's parameters.
pub(crate) fn options_of(params: &Params) -> Result<Options, AlgoError> {
    let number = |name: &str| {
        params.number(name).ok_or_else(|| AlgoError::Param {
            name: name.to_owned(),
            why: "missing".to_owned(),
        })
    };
    let connectivity = match params.choice("connectivity") {
        Some("6") => Connectivity::Six,
        Some("18") => Connectivity::Eighteen,
        Some("26") => Connectivity::TwentySix,
        other => {
            return Err(AlgoError::Param {
                name: "connectivity".into(),
                why: format!("{other:?} is not 6, 18 or 26"),
            });
        }
    };
    Ok(Options {
        threshold_sd: number("threshold-sd")?,
        min_volume_mm3: number("min-volume")?,
        connectivity,
    })
}

/// The detection parameters (shared with `neuro.lesion-change`).
pub(crate) fn parameters() -> Vec<ParamSpec> {
    vec![
        ParamSpec {
            name: "threshold-sd",
            kind: ParamKind::Number {
                min: 1.0,
                max: 20.0,
            },
            default: ParamValue::Number(5.0),
            unit: Some("1"),
            description: "seeds are brighter than the subject's grey-matter median by this many grey-matter SDs (upper spread)",
        },
        ParamSpec {
            name: "min-volume",
            kind: ParamKind::Number {
                min: 0.0,
                max: 10000.0,
            },
            default: ParamValue::Number(10.0),
            unit: Some("mm3"),
            description: "lesions with fewer voxels than this volume are dropped (voxel count × voxel volume)",
        },
        ParamSpec {
            name: "connectivity",
            kind: ParamKind::Choice {
                values: &["6", "18", "26"],
            },
            default: ParamValue::Choice("26".into()),
            unit: None,
            description: "which voxels touch: faces (6), and edges (18), and corners (26)",
        },
    ]
}

/// The brain mask on the FLAIR grid: the `role` input, else brain extraction (of the T1w when
/// given, carried to the FLAIR; else of the FLAIR). With it, the T1w on the FLAIR grid if given.
pub(crate) fn brain_and_t1(
    flair: &Volume<f32>,
    mask: Option<&Volume<f32>>,
    mask_role: &str,
    t1: Option<&Volume<f32>>,
    t1_role: &str,
) -> Result<(Array3<bool>, Option<Volume<f32>>), AlgoError> {
    if let Some(t) = t1 {
        super::require_resolution(t1_role, t, MAX_SLICE_MM)?;
    }
    use super::brain_extraction::{Options as Bet, extract, transfer};
    use corelab_image::resample::{Interpolation, resample};
    let brain = match (mask, t1) {
        (Some(m), _) => mask_on(mask_role, m, &flair.geometry)?,
        (None, Some(t)) => transfer(&extract(t, &Bet::default())?.brain, t, flair)?,
        (None, None) => extract(flair, &Bet::default())?.brain,
    };
    // The T1w through patient space: a T1w of the same session shares the scanner frame.
    let t1 = match t1 {
        Some(t) if crate::image::same_grid(t, flair) => Some(t.clone()),
        Some(t) => Some(
            resample(t, &flair.geometry, Interpolation::Trilinear, 0.0).map_err(|e| {
                AlgoError::Input {
                    role: t1_role.to_owned(),
                    why: e.to_string(),
                }
            })?,
        ),
        None => None,
    };
    Ok((brain, t1))
}

/// The lesion table of a detection.
fn lesion_table(d: &Detection) -> Table {
    Table {
        name: "lesions".into(),
        columns: [
            "id",
            "centroid-x",
            "centroid-y",
            "centroid-z",
            "volume",
            "voxels",
        ]
        .map(String::from)
        .to_vec(),
        rows: d
            .lesions
            .iter()
            .map(|l| {
                vec![
                    l.id as f64,
                    l.centroid_mm[0],
                    l.centroid_mm[1],
                    l.centroid_mm[2],
                    l.volume_mm3,
                    l.voxels as f64,
                ]
            })
            .collect(),
    }
}

impl Algorithm for MsLesions {
    fn id(&self) -> &'static str {
        "neuro.ms-lesions"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "White-matter lesions on FLAIR: voxels brighter than the subject's own grey matter by a number of its SDs, grown into their bright rim, connected components above a minimum volume; count, partial-volume total volume, a per-lesion table and the label image (docs/algorithms/neuro.ms-lesions.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Jack CR et al. FLAIR histogram segmentation for measurement of leukoaraiosis volume. J Magn Reson Imaging 2001;14:668-676.",
            "Schmidt P et al. An automated tool for detection of FLAIR-hyperintense white-matter lesions in multiple sclerosis (LST). NeuroImage 2012;59:3774-3783.",
            "Lesjak Z et al. A novel public MR image dataset of multiple sclerosis patients with lesion segmentations based on multi-rater consensus. Neuroinformatics 2018;16:51-63.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "flair",
                kind: InputKind::Image,
                required: true,
                description: "the FLAIR image (2-D or 3-D, in-plane voxels of 3 mm or finer, slices of 6 mm or thinner)",
            },
            InputRole {
                role: "t1",
                kind: InputKind::Image,
                required: false,
                description: "a T1w of the same session: candidates brighter than white matter on it are dropped",
            },
            InputRole {
                role: "mask",
                kind: InputKind::Mask,
                required: false,
                description: "the brain mask, on any grid (default: brain extraction)",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        parameters()
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "lesion-count",
                unit: "1",
                description: "lesions found (connected components at or above the minimum volume)",
            },
            MeasurementSpec {
                name: "lesion-volume",
                unit: "mL",
                description: "their total partial-volume volume",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "mask",
            description: "the lesions on the FLAIR grid, each voxel its lesion's id (0 outside)",
            kind: ImageKind::Findings,
            grid: "flair",
        }]
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "lesions",
            columns: LESION_COLUMNS,
            description: "one row per lesion: its id in the mask, centroid (LPS), partial-volume volume, voxels",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let flair = input(inputs, "flair")?;
        check_flair("flair", flair)?;
        let options = options_of(params)?;
        let (brain, t1) = brain_and_t1(flair, inputs.get("mask"), "mask", inputs.get("t1"), "t1")?;
        let d = detect(flair, &brain, t1.as_ref(), &options)?;
        let total: f64 = d.lesions.iter().map(|l| l.volume_mm3).sum();
        let labels = Volume::new(d.labels.mapv(|l| l as f32), flair.geometry.clone())
            .map_err(|e| AlgoError::Failed(e.to_string()))?;
        Ok(Outputs {
            measurements: vec![
                measurement("lesion-count", d.lesions.len() as f64, "1"),
                measurement("lesion-volume", total / 1000.0, "mL"),
            ],
            images: vec![("mask".into(), labels)],
            tables: vec![lesion_table(&d)],
            ..Default::default()
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
