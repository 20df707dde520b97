//! `onco.lesion-seg`: one lesion on CT from a reader's seed point (patient-space mm), as a
//! proposal the reader then accepts or adjusts: the mask, its volume, its RECIST 1.1 long and
//! short axes (in the acquisition plane, the slice where the long axis is longest) and its
//! centroid.
//!
//! Method (docs/algorithms/onco.lesion-seg.md):
//! 1. Work in a box around the seed of the maximum radius (plus a margin), lightly smoothed
//!    (Gaussian, σ ¾ of the in-plane spacing) for the growing stage only.
//! 2. Intensity limits from the seed's neighbourhood: median ± k × 1.4826 MAD of the smoothed
//!    values within 2 mm, at least the 6-neighbours (robust to the sphere touching the lesion's edge), clipped to the
//!    soft-tissue window; a seed whose neighbourhood reads outside the window (air, lung, fat,
//!    bone) is refused.
//! 3. Region growing (6-connected, Adams & Bischof 1994 with ITK's confidence-connected
//!    limits) from the seed through voxels within the limits, below the gradient limit and
//!    within the maximum radius: the lesion's core.
//! 4. Opening (a ball of `opening-radius`) to cut bridges into adjacent structures of similar
//!    density; the component holding the seed is kept (a core too small to survive the opening
//!    is kept as grown: it has no bridge to cut).
//! 5. The boundary at the half-way level between the lesion (median of the core) and its
//!    surroundings (median of a shell beyond it) on the unsmoothed image, grown geodesically
//!    from the core for at most two voxels: the partial-volume voxels more than half lesion
//!    join, as the 50 % iso-contour that a truth mask of fraction ≥ ½ also follows; holes filled.
//! 6. Refused: a result reaching the maximum radius (a leak, or a lesion larger than the radius),
//!    or below the minimum volume.

use crate::image::input;
use crate::neuro::measurement;
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params,
};
use corelab_image::Volume;
use corelab_image::components::{Connectivity, label};
use corelab_image::diameters::{Diameters, largest_in_plane};
use corelab_image::filters::gaussian;
use corelab_image::morphology::{dilate, fill_holes, open};
use ndarray::{Array3, s};
use voxels::{crop, distance, flood, gradient, median, neighbours, sphere_surface};

mod voxels;

/// See the module.
pub struct LesionSeg;

/// The farthest a seed or box coordinate may be from the origin (mm).
const EXTENT_MM: f64 = 1e5;
/// The seed's parameters.
const SEED: [&str; 3] = ["seed-x", "seed-y", "seed-z"];
/// The box's parameters: its low corner, then its high corner.
const BOX: [&str; 6] = [
    "box-min-x",
    "box-min-y",
    "box-min-z",
    "box-max-x",
    "box-max-y",
    "box-max-z",
];

/// The seed neighbourhood's least radius (mm) for the intensity limits: 2 mm, or the seed
/// voxel's 6-neighbours on a coarser grid (a wider one reaches the edge of a small lesion from
/// a click a few mm off its centre).
const SEED_RADIUS_MM: f64 = 2.0;

/// Share of the maximum-radius sphere's surface a region may cover before it is a leak.
const LEAK_FRACTION: f64 = 0.5;

/// A box in LPS mm: its low corner, then its high corner.
pub type Bounds = [[f64; 3]; 2];

/// How one lesion is segmented.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The farthest a lesion voxel may be from the seed (mm).
    pub max_radius_mm: f64,
    /// k of the intensity limits, median ± k robust SD of the seed's neighbourhood.
    pub intensity_sd: f64,
    /// The soft-tissue window (HU) the seed must read in and the limits are clipped to.
    pub window_hu: [f64; 2],
    /// The steepest (smoothed) gradient a core voxel may have (HU/mm).
    pub gradient_limit: f64,
    /// The opening's radius (mm); 0: no opening.
    pub opening_radius_mm: f64,
    /// The smallest volume accepted (mm³).
    pub min_volume_mm3: f64,
    /// A reader's box (LPS mm, low and high corners) the lesion lies in: no voxel outside it
    /// joins, and the maximum radius gives way to it.
    pub bounds_mm: Option<Bounds>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_radius_mm: 40.0,
            intensity_sd: 3.0,
            window_hu: [-50.0, 300.0],
            gradient_limit: 50.0,
            opening_radius_mm: 3.0,
            min_volume_mm3: 50.0,
            bounds_mm: None,
        }
    }
}

impl Settings {
    /// The settings of validated parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgoError> {
        let d = Self::default();
        let n = |name: &str, default: f64| params.number(name).unwrap_or(default);
        let out = Self {
            max_radius_mm: n("max-radius", d.max_radius_mm),
            intensity_sd: n("intensity-sd", d.intensity_sd),
            window_hu: [n("hu-min", d.window_hu[0]), n("hu-max", d.window_hu[1])],
            gradient_limit: n("gradient-limit", d.gradient_limit),
            opening_radius_mm: n("opening-radius", d.opening_radius_mm),
            min_volume_mm3: n("min-volume", d.min_volume_mm3),
            bounds_mm: None,
        };
        if out.window_hu[0] >= out.window_hu[1] {
            return Err(AlgoError::Param {
                name: "hu-min".into(),
                why: format!(
                    "{} HU is not below hu-max ({} HU)",
                    out.window_hu[0], out.window_hu[1]
                ),
            });
        }
        Ok(out)
    }

    /// The parameters the settings come from (shared with `onco.lesion-track`).
    pub(crate) fn params() -> Vec<ParamSpec> {
        let d = Self::default();
        let number = |name, min, max, default, unit, description| ParamSpec {
            name,
            kind: ParamKind::Number { min, max },
            default: ParamValue::Number(default),
            unit: Some(unit),
            description,
        };
        vec![
            number(
                "max-radius",
                5.0,
                150.0,
                d.max_radius_mm,
                "mm",
                "the farthest a lesion voxel may lie from the seed; a region reaching it is refused (a leak, or a lesion larger than this)",
            ),
            number(
                "intensity-sd",
                0.5,
                10.0,
                d.intensity_sd,
                "1",
                "k of the growing limits: median ± k robust SDs of the smoothed image within 2 mm (at least the 6-neighbours) of the seed (the limits are at least ± 10 HU and at most ± 100 HU)",
            ),
            number(
                "hu-min",
                -1000.0,
                3000.0,
                d.window_hu[0],
                "[hnsf'U]",
                "the soft-tissue window's low end: a seed reading below it (air, lung, fat) is refused, and the growing limits are clipped to it",
            ),
            number(
                "hu-max",
                -1000.0,
                3000.0,
                d.window_hu[1],
                "[hnsf'U]",
                "the soft-tissue window's high end: a seed reading above it (bone, calcification, dense contrast) is refused, and the growing limits are clipped to it",
            ),
            number(
                "gradient-limit",
                1.0,
                1000.0,
                d.gradient_limit,
                "[hnsf'U]/mm",
                "the steepest smoothed gradient a voxel of the grown core may have: growth stops at edges even where the intensity is within the limits",
            ),
            number(
                "opening-radius",
                0.0,
                20.0,
                d.opening_radius_mm,
                "mm",
                "the ball the grown core is opened with, cutting bridges into adjacent structures of similar density (0: no opening)",
            ),
            number(
                "min-volume",
                0.0,
                1e6,
                d.min_volume_mm3,
                "mm3",
                "the smallest lesion accepted; a smaller result is refused",
            ),
        ]
    }
}

/// Why a lesion cannot be segmented from a seed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The seed lies outside the image.
    #[error(
        "the seed ({:.1}, {:.1}, {:.1}) mm lies outside the image (voxel ({:.1}, {:.1}, {:.1}) of a {:?} grid)",
        seed[0], seed[1], seed[2], voxel[0], voxel[1], voxel[2], dims
    )]
    SeedOutside {
        /// The seed (LPS mm).
        seed: [f64; 3],
        /// Its fractional voxel index.
        voxel: [f64; 3],
        /// The grid.
        dims: [usize; 3],
    },
    /// The seed's neighbourhood is not soft tissue.
    #[error(
        "the seed reads {hu:.0} HU (median of the seed's neighbourhood), outside the soft-tissue window {:.0}..{:.0} HU: {}",
        window[0], window[1], if *hu < window[0] { "air, lung or fat, not a lesion" } else { "bone or dense contrast, not a lesion" }
    )]
    NotSoftTissue {
        /// The seed's neighbourhood median (HU).
        hu: f64,
        /// The window (HU).
        window: [f64; 2],
    },
    /// No voxel next to the seed is within the limits.
    #[error("no voxel next to the seed is within the growing limits {:.0}..{:.0} HU and the gradient limit: the seed is on an edge", limits[0], limits[1])]
    SeedOnEdge {
        /// The limits (HU).
        limits: [f64; 2],
    },
    /// The region is as dense as its surroundings.
    #[error(
        "no contrast: the region reads {inside:.0} HU and its surroundings {outside:.0} HU; the seed is not in a lesion distinct from its organ"
    )]
    NoContrast {
        /// The region's median (HU).
        inside: f64,
        /// The surroundings' median (HU).
        outside: f64,
    },
    /// The region fills the maximum radius.
    #[error(
        "leak: the region covers {percent:.0} % of the {radius} mm sphere around the seed, so it runs into the organ or a neighbouring structure (place the seed inside the lesion, or lower intensity-sd)"
    )]
    Leak {
        /// Share of the sphere's surface covered (%).
        percent: f64,
        /// The maximum radius (mm).
        radius: f64,
    },
    /// The region reaches the maximum radius in places.
    #[error(
        "the region reaches the {radius} mm maximum radius on {percent:.1} % of that sphere's surface: the lesion is larger than the radius or leaks into a neighbour (raise max-radius, or adjust by hand)"
    )]
    ReachesRadius {
        /// Share of the sphere's surface covered (%).
        percent: f64,
        /// The maximum radius (mm).
        radius: f64,
    },
    /// The result is too small.
    #[error("the region is {mm3:.1} mm³, below the minimum of {min} mm³")]
    TooSmall {
        /// Its volume (mm³).
        mm3: f64,
        /// The minimum (mm³).
        min: f64,
    },
    /// The image's affine cannot be inverted.
    #[error("the image's grid cannot be inverted")]
    Singular,
    /// The seed lies outside the reader's box.
    #[error(
        "the seed ({:.1}, {:.1}, {:.1}) mm lies outside the box ({:.1}, {:.1}, {:.1})..({:.1}, {:.1}, {:.1}) mm",
        seed[0], seed[1], seed[2], bounds[0][0], bounds[0][1], bounds[0][2], bounds[1][0], bounds[1][1], bounds[1][2]
    )]
    SeedOutsideBox {
        /// The seed (LPS mm).
        seed: [f64; 3],
        /// The box.
        bounds: [[f64; 3]; 2],
    },
    /// The region fills the reader's box.
    #[error(
        "leak: the region covers {percent:.0} % of the box's surface, so it runs into the organ or a neighbouring structure (draw the box closer around the lesion, or lower intensity-sd)"
    )]
    LeaksBox {
        /// Share of the box's surface covered (%).
        percent: f64,
    },
}

/// A segmented lesion.
#[derive(Clone, Debug)]
pub struct Lesion {
    /// The mask on the image's grid.
    pub mask: Array3<bool>,
    /// Its volume (mm³) with the partial volume of its boundary voxels (see [`partial_volume`]).
    pub volume_mm3: f64,
    /// The mask's volume (mm³): voxels × voxel volume.
    pub mask_volume_mm3: f64,
    /// RECIST long and short axes.
    pub diameters: Diameters,
    /// The mask's centroid (LPS mm).
    pub centroid_mm: [f64; 3],
    /// The seed neighbourhood's median (HU, unsmoothed).
    pub seed_hu: f64,
    /// The growing limits (HU).
    pub limits_hu: [f64; 2],
    /// The boundary's half-way level (HU).
    pub level_hu: f64,
}

/// Refuses an image from a series that is not CT (a file without a modality passes).
pub fn require_ct(image: &Volume<f32>) -> Result<(), String> {
    match image.source.modality.as_deref() {
        Some(m) if !m.eq_ignore_ascii_case("CT") => Err(format!(
            "modality {m}: lesion segmentation reads CT numbers (HU), so it takes CT only"
        )),
        _ => Ok(()),
    }
}

/// The lesion at `seed` (LPS mm) on a CT `image` (module documentation).
pub fn segment(
    image: &Volume<f32>,
    seed: [f64; 3],
    settings: &Settings,
) -> Result<Lesion, Refusal> {
    let geometry = &image.geometry;
    let voxel = geometry.to_voxel(seed).ok_or(Refusal::Singular)?;
    let dims = geometry.dims;
    if (0..3).any(|a| !(voxel[a] >= -0.5 && voxel[a] < dims[a] as f64 - 0.5)) {
        return Err(Refusal::SeedOutside { seed, voxel, dims });
    }
    let seed_index = [0, 1, 2].map(|a| (voxel[a].round().max(0.0) as usize).min(dims[a] - 1));
    let spacing = geometry.spacing();
    let in_plane = spacing[0].max(spacing[1]);
    let coarsest = spacing.iter().copied().fold(0.0, f64::max);
    // The boundary stage reaches two voxels beyond the core, its background shell two more.
    let band_mm = 2.0 * coarsest;
    // A reader's box bounds the lesion instead of the maximum radius: the sphere then reaches
    // the box's farthest corner, and the box's faces are the surface a leak is judged on.
    let radius = match settings.bounds_mm {
        Some(b) => {
            if (0..3).any(|a| !(b[0][a] <= seed[a] && seed[a] <= b[1][a])) {
                return Err(Refusal::SeedOutsideBox { seed, bounds: b });
            }
            let corner = |a: usize| (seed[a] - b[0][a]).abs().max((b[1][a] - seed[a]).abs());
            (corner(0).powi(2) + corner(1).powi(2) + corner(2).powi(2)).sqrt() + coarsest
        }
        None => settings.max_radius_mm,
    };
    let c = crop(image, seed_index, radius + 2.0 * band_mm + coarsest);
    let grid = &c.grid;
    let cd = c.raw.dim();
    let local_seed = [0, 1, 2].map(|a| seed_index[a] - c.lo[a]);
    let smooth = gaussian(&c.raw, spacing, 0.75 * in_plane);
    let from_seed = Array3::from_shape_fn(cd, |(i, j, k)| {
        distance(grid.to_patient([i as f64, j as f64, k as f64]), seed)
    });
    let in_ball = match settings.bounds_mm {
        Some(b) => Array3::from_shape_fn(cd, |(i, j, k)| {
            let p = grid.to_patient([i as f64, j as f64, k as f64]);
            (0..3).all(|a| b[0][a] <= p[a] && p[a] <= b[1][a])
        }),
        None => from_seed.mapv(|d| d <= radius),
    };

    // 2. Limits from the seed's neighbourhood.
    let seed_radius = SEED_RADIUS_MM.max(1.01 * coarsest);
    let near: Vec<[usize; 3]> = from_seed
        .indexed_iter()
        .filter(|(_, d)| **d <= seed_radius)
        .map(|((i, j, k), _)| [i, j, k])
        .collect();
    // What the reader clicked on: the unsmoothed median (smoothing pulls a small dense-edged
    // lesion's values towards its surroundings).
    let seed_hu = median(near.iter().map(|&p| f64::from(c.raw[p])).collect())
        .unwrap_or(f64::from(c.raw[local_seed]));
    let window = settings.window_hu;
    if seed_hu < window[0] || seed_hu > window[1] {
        return Err(Refusal::NotSoftTissue {
            hu: seed_hu,
            window,
        });
    }
    // The limits apply to the smoothed image the core grows on.
    let near_smooth: Vec<f64> = near.iter().map(|&p| f64::from(smooth[p])).collect();
    let centre = median(near_smooth.clone()).unwrap_or(seed_hu);
    let mad = median(near_smooth.iter().map(|v| (v - centre).abs()).collect()).unwrap_or(0.0);
    let half = (settings.intensity_sd * 1.4826 * mad).clamp(10.0, 100.0);
    let limits = [
        (centre - half).max(window[0]),
        (centre + half).min(window[1]),
    ];

    // 3. The core.
    let grad = gradient(&smooth, spacing);
    let allowed = |p: [usize; 3]| {
        let v = f64::from(smooth[p]);
        in_ball[p]
            && v >= limits[0]
            && v <= limits[1]
            && f64::from(grad[p]) <= settings.gradient_limit
    };
    // Start from the seed voxel, or (a seed near the edge, where the smoothed gradient is steep)
    // from the voxel of its neighbourhood nearest to it that is within the limits.
    let mut near_seed: Vec<([usize; 3], f64)> = from_seed
        .indexed_iter()
        .filter(|(_, d)| **d <= seed_radius)
        .map(|((i, j, k), d)| ([i, j, k], *d))
        .collect();
    near_seed.sort_by(|a, b| a.1.total_cmp(&b.1));
    // The start needs only the intensity: in a small, dense-edged lesion (a lung nodule of
    // 5 mm radius) every voxel is within a voxel or two of the edge, so the gradient is steep.
    let within = |p: [usize; 3]| {
        let v = f64::from(smooth[p]);
        v >= limits[0] && v <= limits[1]
    };
    let Some(start) = near_seed.iter().map(|(p, _)| *p).find(|&p| within(p)) else {
        return Err(Refusal::SeedOnEdge { limits });
    };
    let grown = flood(&[start], |p| p == start || allowed(p), cd);
    let shell = sphere_surface(&in_ball);
    let boxed = settings.bounds_mm.is_some();
    leak_check(&grown, &shell, radius, LEAK_FRACTION, boxed)?;

    // 4. Opening, keeping the seed's component.
    let core = if settings.opening_radius_mm > 0.0 {
        let opened = open(&grown, spacing, settings.opening_radius_mm);
        let (labels, _) = label(&opened, Connectivity::Six);
        match labels[start] {
            0 => grown,
            l => labels.mapv(|x| x == l),
        }
    } else {
        grown
    };

    // 5. The boundary at the half-way level.
    // The core is pure lesion (its voxels were chosen within the limits): its mean.
    let inside = {
        let values: Vec<f64> = core
            .indexed_iter()
            .filter(|(_, m)| **m)
            .map(|(p, _)| f64::from(c.raw[p]))
            .collect();
        crate::image::mean_sd(&values).map_or(seed_hu, |(m, _)| m)
    };
    let band = dilate(&core, spacing, band_mm);
    let beyond = dilate(&core, spacing, 2.0 * band_mm);
    let outside = median(
        beyond
            .indexed_iter()
            .filter(|(p, b)| **b && !band[*p])
            .map(|(p, _)| f64::from(c.raw[p]))
            .collect(),
    )
    .unwrap_or(inside);
    if (inside - outside).abs() < half.min(20.0) {
        return Err(Refusal::NoContrast { inside, outside });
    }
    let level = 0.5 * (inside + outside);
    let brighter = inside > outside;
    let lesion_side = |v: f32| {
        let v = f64::from(v);
        if brighter { v >= level } else { v <= level }
    };
    // Grown a band at a time (the core stops about the smoothing's reach inside a
    // high-contrast edge), at most three bands: the lesion side ends at the boundary, and a
    // touching structure of the lesion's density can join at most that far.
    let mut grown = core.clone();
    for _ in 0..3 {
        let band = dilate(&grown, spacing, band_mm);
        let seeds: Vec<[usize; 3]> = grown
            .indexed_iter()
            .filter(|(_, m)| **m)
            .map(|((i, j, k), _)| [i, j, k])
            .collect();
        let next = flood(
            &seeds,
            |p| grown[p] || (band[p] && in_ball[p] && lesion_side(c.raw[p])),
            cd,
        );
        let done = next == grown;
        grown = next;
        if done {
            break;
        }
    }
    let filled = fill_holes(&grown);
    let mask = {
        let (labels, _) = label(&filled, Connectivity::Six);
        let l = labels[start];
        labels.mapv(|x| x == l && l > 0)
    };

    // 6. Refusals.
    // In a box the lesion may touch the faces; only a leak is refused.
    let touching = if boxed { LEAK_FRACTION } else { 0.0 };
    leak_check(&mask, &shell, radius, touching, boxed)?;
    let count = mask.iter().filter(|m| **m).count();
    let volume_mm3 = count as f64 * geometry.voxel_volume();
    if volume_mm3 < settings.min_volume_mm3 || count == 0 {
        return Err(Refusal::TooSmall {
            mm3: volume_mm3,
            min: settings.min_volume_mm3,
        });
    }
    let diameters = largest_in_plane(&mask, grid).ok_or(Refusal::TooSmall {
        mm3: volume_mm3,
        min: settings.min_volume_mm3,
    })?;
    let pv_volume_mm3 =
        partial_volume(&mask, &c.raw, spacing, [inside, outside]) * geometry.voxel_volume();
    let mut diameters = diameters;
    diameters.slice += c.lo[2];
    let mut centroid_mm = [0.0; 3];
    for ((i, j, k), m) in mask.indexed_iter() {
        if *m {
            let p = grid.to_patient([i as f64, j as f64, k as f64]);
            for a in 0..3 {
                centroid_mm[a] += p[a] / count as f64;
            }
        }
    }
    let mut full = Array3::from_elem(image.data.dim(), false);
    full.slice_mut(s![
        c.lo[0]..c.lo[0] + cd.0,
        c.lo[1]..c.lo[1] + cd.1,
        c.lo[2]..c.lo[2] + cd.2
    ])
    .assign(&mask);
    Ok(Lesion {
        mask: full,
        volume_mm3: pv_volume_mm3,
        mask_volume_mm3: volume_mm3,
        diameters,
        centroid_mm,
        seed_hu,
        limits_hu: limits,
        level_hu: level,
    })
}

/// The lesion's volume in voxels, each boundary voxel counted by its lesion fraction
/// `(v − outside) / (inside − outside)`: the mask's inner voxels count 1; its boundary voxels
/// (a 6-neighbour outside it), which the half-way level put on the lesion's side, their fraction
/// up to 1.5 (noise: the estimate stays unbiased), 1 beyond (denser than the lesion: calcium,
/// contrast); the voxels touching it from outside (26-neighbours) their fraction from −0.5 to
/// 0.5, and 0 below −0.5 (a third tissue, such as lung beside a node, whose share cannot be
/// read) or above 0.5 (lesion-dense but not joined: a neighbour the boundary stage did not
/// reach). Truth-mask-like counting (fraction ≥ ½) is off by up to half a voxel per boundary
/// voxel; this is off by the noise only.
pub fn partial_volume(
    mask: &Array3<bool>,
    raw: &Array3<f32>,
    spacing: [f64; 3],
    [inside, outside]: [f64; 2],
) -> f64 {
    let dims = mask.dim();
    let contrast = inside - outside;
    let fraction = |p: [usize; 3]| (f64::from(raw[p]) - outside) / contrast;
    let reach = (spacing[0].powi(2) + spacing[1].powi(2) + spacing[2].powi(2)).sqrt() * 1.001;
    let rim = dilate(mask, spacing, reach);
    let mut total = 0.0;
    for ((i, j, k), m) in mask.indexed_iter() {
        let p = [i, j, k];
        if *m {
            let boundary = neighbours(p, dims).count() < 6 || neighbours(p, dims).any(|q| !mask[q]);
            total += if !boundary {
                1.0
            } else {
                let f = fraction(p);
                if f > 1.5 { 1.0 } else { f.max(0.5) }
            };
        } else if rim[p] {
            let f = fraction(p);
            if (-0.5..=0.5).contains(&f) {
                total += f;
            }
        }
    }
    total
}

/// Refuses a region covering more than `allowed` of the sphere's surface: a leak when it
/// covers more than [`LEAK_FRACTION`], reaching the radius otherwise.
fn leak_check(
    region: &Array3<bool>,
    surface: &Array3<bool>,
    radius: f64,
    allowed: f64,
    boxed: bool,
) -> Result<(), Refusal> {
    let total = surface.iter().filter(|s| **s).count().max(1);
    let hit = region
        .iter()
        .zip(surface.iter())
        .filter(|(r, s)| **r && **s)
        .count();
    let fraction = hit as f64 / total as f64;
    if fraction > LEAK_FRACTION && boxed {
        Err(Refusal::LeaksBox {
            percent: 100.0 * fraction,
        })
    } else if fraction > LEAK_FRACTION {
        Err(Refusal::Leak {
            percent: 100.0 * fraction,
            radius,
        })
    } else if fraction > allowed {
        Err(Refusal::ReachesRadius {
            percent: 100.0 * fraction,
            radius,
        })
    } else {
        Ok(())
    }
}

/// The reader's input: a seed point, a box, or both (the seed inside the box); a box alone is
/// seeded at its centre. A coordinate given without the rest of its point is refused by name.
fn seed_and_box(params: &Params) -> Result<([f64; 3], Option<Bounds>), AlgoError> {
    let missing = |names: &[&'static str]| -> Result<Option<Vec<f64>>, AlgoError> {
        let values: Vec<Option<f64>> = names.iter().map(|n| params.number(n)).collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        match names.iter().zip(&values).find(|(_, v)| v.is_none()) {
            Some((name, _)) => Err(AlgoError::Param {
                name: (*name).into(),
                why: format!("required with {}", names.join(", ")),
            }),
            None => Ok(Some(values.into_iter().flatten().collect())),
        }
    };
    let seed = missing(&SEED)?.map(|v| [v[0], v[1], v[2]]);
    let bounds = missing(&BOX)?.map(|v| [[v[0], v[1], v[2]], [v[3], v[4], v[5]]]);
    if let Some(b) = bounds
        && let Some(a) = (0..3).find(|&a| b[0][a] >= b[1][a])
    {
        return Err(AlgoError::Param {
            name: BOX[3 + a].into(),
            why: format!("{} mm is not above {} ({} mm)", b[1][a], BOX[a], b[0][a]),
        });
    }
    match (seed, bounds) {
        (Some(seed), bounds) => Ok((seed, bounds)),
        (None, Some(b)) => Ok(([0, 1, 2].map(|a| 0.5 * (b[0][a] + b[1][a])), Some(b))),
        (None, None) => Err(AlgoError::Param {
            name: "seed-x".into(),
            why: "required: the seed point (seed-x, seed-y, seed-z: a reader's click inside the lesion) or a box around it (box-min-x … box-max-z), LPS patient coordinates in mm".into(),
        }),
    }
}

impl Algorithm for LesionSeg {
    fn id(&self) -> &'static str {
        "onco.lesion-seg"
    }
    fn version(&self) -> &'static str {
        "1.2.0"
    }
    fn description(&self) -> &'static str {
        "One lesion on CT from a reader's seed point or box: region growing with limits from the seed's neighbourhood and a gradient limit, opening, the boundary at the half-way level between lesion and surroundings; its volume, RECIST 1.1 long and short axes and centroid, proposed for a reader to accept or adjust (docs/algorithms/onco.lesion-seg.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Adams R, Bischof L. Seeded region growing. IEEE TPAMI 1994;16:641-647.",
            "Ibanez L, Schroeder W, Ng L, Cates J. The ITK Software Guide: ConfidenceConnectedImageFilter (region growing with limits of mean ± k SD of the seed's neighbourhood). Kitware 2005.",
            "Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![InputRole {
            role: "image",
            kind: InputKind::Image,
            required: true,
            description: "a CT volume in HU (a DICOM series of modality CT, or a NIfTI)",
        }]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let point = |name, description| ParamSpec {
            name,
            kind: ParamKind::Number {
                min: -EXTENT_MM,
                max: EXTENT_MM,
            },
            default: ParamValue::Unset,
            unit: Some("mm"),
            description,
        };
        let mut out = vec![
            point(
                "seed-x",
                "the seed's x (LPS mm, the patient's left positive), a reader's click inside the lesion; the seed or the box is required",
            ),
            point("seed-y", "the seed's y (LPS mm, posterior positive)"),
            point("seed-z", "the seed's z (LPS mm, superior positive)"),
            point(
                "box-min-x",
                "a reader's box around the lesion, its low corner's x (LPS mm); no voxel outside the box joins, and it replaces max-radius; without a seed the box's centre is the seed",
            ),
            point("box-min-y", "the box's low corner's y (LPS mm)"),
            point("box-min-z", "the box's low corner's z (LPS mm)"),
            point("box-max-x", "the box's high corner's x (LPS mm)"),
            point("box-max-y", "the box's high corner's y (LPS mm)"),
            point("box-max-z", "the box's high corner's z (LPS mm)"),
        ];
        out.extend(Settings::params());
        out
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        MEASUREMENTS
            .iter()
            .map(|(name, unit, description)| MeasurementSpec {
                name,
                unit,
                description,
            })
            .collect()
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "mask",
            description: "the lesion (1) on the input's grid",
            kind: ImageKind::Mask,
            grid: "image",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let image = input(inputs, "image")?;
        require_ct(image).map_err(|why| AlgoError::Input {
            role: "image".into(),
            why,
        })?;
        let (seed, bounds) = seed_and_box(params)?;
        let settings = Settings {
            bounds_mm: bounds,
            ..Settings::from_params(params)?
        };
        let lesion = segment(image, seed, &settings).map_err(|r| match r {
            Refusal::SeedOutside { .. } => AlgoError::Param {
                name: "seed-x, seed-y, seed-z".into(),
                why: r.to_string(),
            },
            Refusal::SeedOutsideBox { .. } => AlgoError::Param {
                name: "seed-x, seed-y, seed-z".into(),
                why: r.to_string(),
            },
            other => AlgoError::Failed(other.to_string()),
        })?;
        let d = &lesion.diameters;
        let values = [
            lesion.volume_mm3 / 1000.0,
            lesion.mask_volume_mm3 / 1000.0,
            d.long_mm,
            d.short_mm,
            d.slice as f64,
            lesion.centroid_mm[0],
            lesion.centroid_mm[1],
            lesion.centroid_mm[2],
            lesion.seed_hu,
            lesion.limits_hu[0],
            lesion.limits_hu[1],
            lesion.level_hu,
        ];
        let measurements = MEASUREMENTS
            .iter()
            .zip(values)
            .map(|((name, unit, _), v)| measurement(name, v, unit))
            .collect();
        let mask = Volume::new(
            lesion.mask.mapv(|m| if m { 1.0 } else { 0.0 }),
            image.geometry.clone(),
        )
        .map_err(|e| AlgoError::Failed(e.to_string()))?;
        Ok(Outputs {
            measurements,
            images: vec![("mask".into(), mask)],
            tables: Vec::new(),
            ..Default::default()
        })
    }
}

/// The measurements, in order: name, UCUM unit, description.
const MEASUREMENTS: [(&str, &str, &str); 12] = [
    (
        "volume",
        "mL",
        "the lesion's volume, boundary voxels counted by their lesion fraction (partial volume)",
    ),
    (
        "mask-volume",
        "mL",
        "the mask's volume (voxels × voxel volume)",
    ),
    (
        "long-axis",
        "mm",
        "RECIST 1.1 longest diameter: the longest in-plane diameter, in the slice where it is longest",
    ),
    (
        "short-axis",
        "mm",
        "the longest diameter perpendicular to the long axis in that slice (a node's RECIST measure)",
    ),
    (
        "slice",
        "1",
        "the slice (k index, from 0) the axes are measured in",
    ),
    ("centroid-x", "mm", "the mask's centroid, LPS x"),
    ("centroid-y", "mm", "the mask's centroid, LPS y"),
    ("centroid-z", "mm", "the mask's centroid, LPS z"),
    (
        "seed-hu",
        "[hnsf'U]",
        "the seed neighbourhood's median (unsmoothed, within 2 mm or the 6-neighbours)",
    ),
    ("lower-limit", "[hnsf'U]", "the growing stage's lower limit"),
    ("upper-limit", "[hnsf'U]", "the growing stage's upper limit"),
    (
        "boundary-level",
        "[hnsf'U]",
        "the half-way level between lesion and surroundings the boundary is drawn at",
    ),
];

#[cfg(test)]
mod tests;
