//! Rigid and affine registration of one volume (moving) to another (fixed).
//!
//! The method is ITK's classic one, as ANTs and elastix run it: a transform about a centre of
//! rotation (initialised by aligning the intensity centres of mass), a similarity metric (mean
//! squares or Mattes mutual information, [`metric`]) on a fixed set of randomly chosen fixed-image
//! voxels (a seeded ChaCha8 stream: the same inputs give the same transform), minimised by regular
//! step gradient descent in scaled parameter space (a step moves points by about the step length
//! in mm; the step halves each time the gradient turns back), over a multi-resolution pyramid
//! (each level smoothed with a Gaussian and resampled to a coarser isotropic grid). An affine
//! registration is a rigid stage followed by an affine one, as ANTs does it.
//!
//! Transforms map fixed points to moving points ([`AffineTransform`]), are written and read as
//! ITK transform text ([`itk`]), and resample the moving image onto the fixed grid through
//! [`crate::resample::resample_through`]. `docs/algorithms/registration.md` gives the parameters
//! and the accuracy measured.

pub mod itk;
pub mod metric;
pub mod transform;

use crate::filters::gaussian;
use crate::geometry::Geometry;
use crate::resample::{Interpolation, resample};
use crate::volume::Volume;
pub use metric::Metric;
use metric::{Moving, Sample};
use nalgebra::{Matrix3, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
pub use transform::{AffineTransform, Model};

/// Rigid (6 degrees of freedom) or affine (12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Rotation and translation.
    Rigid,
    /// A rigid stage, then a full affine one.
    Affine,
}

/// How a registration runs. [`Options::default`] suits brain MRI at about 1 mm.
#[derive(Clone, Debug)]
pub struct Options {
    /// Rigid or affine.
    pub kind: Kind,
    /// The similarity.
    pub metric: Metric,
    /// Pyramid levels, coarse to fine: how many finest-spacings one voxel of the level spans.
    pub shrink: Vec<f64>,
    /// Gaussian smoothing at each level, σ in finest-spacings (0: none).
    pub smoothing: Vec<f64>,
    /// Fixed-image voxels sampled at each level (all of them if the level has fewer).
    pub samples: usize,
    /// Seed of the sampling stream.
    pub seed: u64,
    /// Most gradient steps per level.
    pub iterations: usize,
    /// First step length at the finest level (mm); coarser levels start from it times their
    /// shrink factor.
    pub step: f64,
    /// A level stops when its step falls below this (mm).
    pub min_step: f64,
    /// Where to start: `None` aligns the centres of mass.
    pub initial: Option<AffineTransform>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kind: Kind::Rigid,
            metric: Metric::MattesMutualInformation { bins: 32 },
            shrink: vec![4.0, 2.0, 1.0],
            smoothing: vec![2.0, 1.0, 0.0],
            samples: 100_000,
            seed: 1,
            iterations: 200,
            step: 1.0,
            min_step: 0.002,
            initial: None,
        }
    }
}

/// What happened at one level.
#[derive(Clone, Debug, Serialize)]
pub struct LevelReport {
    /// The stage: rigid or affine.
    pub stage: Kind,
    /// The level's voxel size (mm).
    pub spacing_mm: f64,
    /// Samples used, and how many fell inside the moving image at the end.
    pub samples: usize,
    /// Of those, inside the moving image at the end.
    pub valid: usize,
    /// Gradient steps taken.
    pub iterations: usize,
    /// The cost at the end (mean squares, or −MI).
    pub cost: f64,
    /// Why it stopped.
    pub stopped: &'static str,
}

/// A registration's result.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Fixed → moving.
    pub transform: AffineTransform,
    /// Every level of every stage, in order.
    pub levels: Vec<LevelReport>,
}

/// Why a registration cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RegistrationError {
    /// An image has one value everywhere: nothing to align.
    #[error("the {0} image has the same value everywhere: there is nothing to align")]
    Constant(&'static str),
    /// An image holds a value that is not a number.
    #[error("the {0} image holds values that are not finite numbers")]
    NotFinite(&'static str),
    /// The transform took (almost) every sample outside the moving image.
    #[error(
        "at the {spacing_mm} mm level only {valid} of {samples} fixed-image samples fall inside the moving image: the images do not overlap enough (check that both are in the same patient space, or give an initial transform)"
    )]
    NoOverlap {
        /// Level spacing (mm).
        spacing_mm: f64,
        /// Samples inside.
        valid: usize,
        /// Samples taken.
        samples: usize,
    },
    /// The options are inconsistent.
    #[error("registration options: {0}")]
    Options(String),
    /// A grid cannot be inverted.
    #[error("the {0} image's grid cannot be inverted")]
    Singular(&'static str),
}

/// Registers `moving` to `fixed`: the transform that takes fixed points to the moving points
/// that show the same anatomy.
pub fn register(
    fixed: &Volume<f32>,
    moving: &Volume<f32>,
    options: &Options,
) -> Result<Registration, RegistrationError> {
    check(options)?;
    for (name, v) in [("fixed", fixed), ("moving", moving)] {
        if v.data.iter().any(|x| !x.is_finite()) {
            return Err(RegistrationError::NotFinite(name));
        }
        let (lo, hi) = range(v.data.iter().copied());
        if hi <= lo {
            return Err(RegistrationError::Constant(name));
        }
    }
    let mut transform = match &options.initial {
        Some(t) => t.clone(),
        None => {
            let cf = centre_of_mass(fixed);
            let cm = centre_of_mass(moving);
            let mut t = AffineTransform::identity(cf);
            t.translation = Vector3::from(cm) - Vector3::from(cf);
            t
        }
    };
    let stages: &[Model] = match options.kind {
        Kind::Rigid => &[Model::Rigid],
        Kind::Affine => &[Model::Rigid, Model::Affine],
    };
    let finest = fixed
        .geometry
        .spacing()
        .into_iter()
        .fold(f64::MAX, f64::min);
    let radius = radius(&fixed.geometry);
    let mut levels = Vec::new();
    // The pyramid is built once: an affine registration's two stages share it.
    let pyramid = options
        .shrink
        .iter()
        .zip(&options.smoothing)
        .map(|(&shrink, &sigma)| {
            let spacing = finest * shrink;
            let fixed_level = level(fixed, spacing, sigma * finest)?;
            let moving_level = prepare_moving(&level(moving, spacing, sigma * finest)?)?;
            Ok((shrink, spacing, fixed_level, moving_level))
        })
        .collect::<Result<Vec<_>, RegistrationError>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    for &model in stages {
        for (shrink, spacing, fixed_level, moving) in &pyramid {
            let samples = draw_samples(fixed_level, options.samples, &mut rng);
            let fixed_range = range(samples.iter().map(|s| s.f));
            let center = transform.center;
            let mut p = model.parameters(&transform);
            let report = descend(
                options,
                model,
                &mut p,
                center,
                &samples,
                fixed_range,
                moving,
                radius,
                *spacing,
                options.step * shrink,
            )?;
            transform = model.transform(&p, center);
            levels.push(report);
        }
    }
    Ok(Registration { transform, levels })
}

fn check(o: &Options) -> Result<(), RegistrationError> {
    let bad = |why: &str| Err(RegistrationError::Options(why.to_owned()));
    if o.shrink.is_empty() || o.shrink.len() != o.smoothing.len() {
        return bad("give one smoothing σ per pyramid level (and at least one level)");
    }
    if o.shrink.iter().any(|s| !(s.is_finite() && *s >= 1.0)) {
        return bad("every shrink factor must be at least 1");
    }
    if o.smoothing.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
        return bad("every smoothing σ must be zero or more");
    }
    if o.samples < 100 {
        return bad("take at least 100 samples");
    }
    if !(o.step.is_finite() && o.step > 0.0 && o.min_step > 0.0 && o.min_step < o.step) {
        return bad("the step must be positive and larger than the minimum step");
    }
    if let Metric::MattesMutualInformation { bins } = o.metric
        && !(8..=256).contains(&bins)
    {
        return bad("Mattes mutual information takes 8 to 256 histogram bins");
    }
    Ok(())
}

fn range(values: impl Iterator<Item = f32>) -> (f32, f32) {
    values.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// The intensity-weighted centre (LPS), with intensities measured from the image's minimum.
fn centre_of_mass(v: &Volume<f32>) -> [f64; 3] {
    let (lo, _) = range(v.data.iter().copied());
    let mut sum = Vector3::zeros();
    let mut mass = 0.0;
    for ((i, j, k), &x) in v.data.indexed_iter() {
        let w = f64::from(x - lo);
        if w > 0.0 {
            sum += w * Vector3::new(i as f64, j as f64, k as f64);
            mass += w;
        }
    }
    let c = sum / mass.max(f64::MIN_POSITIVE);
    v.geometry.to_patient([c[0], c[1], c[2]])
}

/// Half the diagonal of the fixed image's extent: the lever arm of a rotation (mm).
fn radius(g: &Geometry) -> f64 {
    let s = g.spacing();
    let d: f64 = (0..3).map(|a| (g.dims[a] as f64 * s[a]).powi(2)).sum();
    (d.sqrt() / 2.0).max(1.0)
}

/// A volume smoothed (σ in mm) and resampled to a grid of `spacing` mm (no finer than it was)
/// over the same extent.
fn level(v: &Volume<f32>, spacing: f64, sigma_mm: f64) -> Result<Volume<f32>, RegistrationError> {
    let g = &v.geometry;
    let s = g.spacing();
    let new_spacing: [f64; 3] = std::array::from_fn(|a| s[a].max(spacing));
    if new_spacing == s && sigma_mm == 0.0 {
        return Ok(v.clone());
    }
    let dims: [usize; 3] = std::array::from_fn(|a| {
        ((g.dims[a] as f64 * s[a] / new_spacing[a]).round() as usize).max(1)
    });
    let dirs = g.directions();
    let corner = g.to_patient([-0.5, -0.5, -0.5]);
    let origin: [f64; 3] = std::array::from_fn(|r| {
        corner[r]
            + (0..3)
                .map(|a| dirs[a][r] * new_spacing[a] / 2.0)
                .sum::<f64>()
    });
    let target = Geometry::new(dims, origin, dirs, new_spacing)
        .map_err(|_| RegistrationError::Singular("fixed or moving"))?;
    let smoothed = if sigma_mm > 0.0 {
        Volume {
            data: gaussian(&v.data, s, sigma_mm),
            geometry: g.clone(),
            source: Default::default(),
        }
    } else {
        v.clone()
    };
    // Voxel centres of the coarse grid at the edges lie within half a coarse voxel of the fine
    // grid's edge: fill with the nearest value rather than a constant.
    resample(&smoothed, &target, Interpolation::Trilinear, f32::NAN)
        .map(|mut r| {
            fill_edges(&mut r, &smoothed);
            r
        })
        .map_err(|_| RegistrationError::Singular("fixed or moving"))
}

/// Voxels left NaN by resampling (outside the source's voxel centres) take the nearest source
/// voxel's value.
fn fill_edges(r: &mut Volume<f32>, source: &Volume<f32>) {
    let Some(inverse) = source.geometry.affine.try_inverse() else {
        return;
    };
    let to_source = inverse * r.geometry.affine;
    let [ni, nj, nk] = source.geometry.dims;
    for ((i, j, k), v) in r.data.indexed_iter_mut() {
        if v.is_nan() {
            let p = to_source * nalgebra::Vector4::new(i as f64, j as f64, k as f64, 1.0);
            let c = |x: f64, n: usize| (x.round().max(0.0) as usize).min(n - 1);
            *v = source.data[[c(p[0], ni), c(p[1], nj), c(p[2], nk)]];
        }
    }
}

/// `count` fixed-image voxels drawn uniformly (with replacement), or every voxel if the image
/// has no more than that.
fn draw_samples(fixed: &Volume<f32>, count: usize, rng: &mut ChaCha8Rng) -> Vec<Sample> {
    let [ni, nj, nk] = fixed.geometry.dims;
    let total = ni * nj * nk;
    let at = |i: usize, j: usize, k: usize| {
        let p = fixed.geometry.to_patient([i as f64, j as f64, k as f64]);
        Sample {
            x: Vector3::from(p),
            f: fixed.data[[i, j, k]],
        }
    };
    if total <= count {
        return fixed
            .data
            .indexed_iter()
            .map(|((i, j, k), _)| at(i, j, k))
            .collect();
    }
    (0..count)
        .map(|_| {
            let n = rng.random_range(0..total);
            at(n / (nj * nk), (n / nk) % nj, n % nk)
        })
        .collect()
}

/// The moving level in C order with its physical gradient (central differences, one-sided at
/// the edges, turned from index to LPS axes by the inverse transpose of the grid's matrix).
fn prepare_moving(v: &Volume<f32>) -> Result<Moving, RegistrationError> {
    let [ni, nj, nk] = v.geometry.dims;
    let values: Vec<f32> = v.data.as_standard_layout().iter().copied().collect();
    let linear: Matrix3<f64> = v.geometry.affine.fixed_view::<3, 3>(0, 0).into_owned();
    let to_physical = linear
        .try_inverse()
        .ok_or(RegistrationError::Singular("moving"))?
        .transpose();
    let to_index = v
        .geometry
        .affine
        .try_inverse()
        .ok_or(RegistrationError::Singular("moving"))?;
    let at = |i: usize, j: usize, k: usize| f64::from(values[(i * nj + j) * nk + k]);
    let diff = |c: usize, n: usize, f: &dyn Fn(usize) -> f64| -> f64 {
        if n == 1 {
            0.0
        } else if c == 0 {
            f(1) - f(0)
        } else if c == n - 1 {
            f(n - 1) - f(n - 2)
        } else {
            (f(c + 1) - f(c - 1)) / 2.0
        }
    };
    let mut gradient = Vec::with_capacity(values.len());
    for i in 0..ni {
        for j in 0..nj {
            for k in 0..nk {
                let gi = diff(i, ni, &|x| at(x, j, k));
                let gj = diff(j, nj, &|x| at(i, x, k));
                let gk = diff(k, nk, &|x| at(i, j, x));
                let g = to_physical * Vector3::new(gi, gj, gk);
                gradient.push([g[0] as f32, g[1] as f32, g[2] as f32]);
            }
        }
    }
    Ok(Moving {
        range: range(values.iter().copied()),
        values,
        gradient,
        dims: [ni, nj, nk],
        to_index,
    })
}

/// Regular step gradient descent in scaled parameter space.
#[allow(clippy::too_many_arguments)]
fn descend(
    options: &Options,
    model: Model,
    p: &mut [f64],
    center: Vector3<f64>,
    samples: &[Sample],
    fixed_range: (f32, f32),
    moving: &Moving,
    radius: f64,
    spacing_mm: f64,
    first_step: f64,
) -> Result<LevelReport, RegistrationError> {
    let scales = model.scales(radius);
    let mut step = first_step;
    let min_step = options.min_step * first_step / options.step;
    let mut previous: Option<Vec<f64>> = None;
    let mut iterations = 0;
    let stage = if model == Model::Rigid {
        Kind::Rigid
    } else {
        Kind::Affine
    };
    let report = |iterations, cost, valid, stopped| LevelReport {
        stage,
        spacing_mm,
        samples: samples.len(),
        valid,
        iterations,
        cost,
        stopped,
    };
    loop {
        let e = metric::evaluate(
            options.metric,
            model,
            p,
            center,
            samples,
            fixed_range,
            moving,
        );
        if e.valid * 10 < samples.len() {
            return Err(RegistrationError::NoOverlap {
                spacing_mm,
                valid: e.valid,
                samples: samples.len(),
            });
        }
        if iterations >= options.iterations {
            return Ok(report(iterations, e.cost, e.valid, "most iterations"));
        }
        // The gradient by the scaled parameters u_j = p_j · s_j.
        let g: Vec<f64> = e.gradient.iter().zip(&scales).map(|(g, s)| g / s).collect();
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Ok(report(iterations, e.cost, e.valid, "zero gradient"));
        }
        if let Some(prev) = &previous
            && prev.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>() < 0.0
        {
            step *= 0.5;
        }
        if step < min_step {
            return Ok(report(iterations, e.cost, e.valid, "converged"));
        }
        for ((pj, gj), sj) in p.iter_mut().zip(&g).zip(&scales) {
            *pj -= step * gj / norm / sj;
        }
        previous = Some(g);
        iterations += 1;
    }
}
