//! Image-quality metrics (IQMs) as pure functions of a volume and masks, after MRIQC (Esteban et
//! al., PLoS ONE 12(9): e0184661, 2017): no I/O, no DICOM. `docs/algorithms/qc-metrics.md` states
//! every formula, the parameters and the accuracy measured on the QC phantom.
//!
//! - [`mr`]: the automatic object ("head") and air masks (Otsu, largest 26-connected component,
//!   hole filling; air at a distance from the object, off the N/2 ghost), tissue SNR, Dietrich's
//!   SNR, CNR, CJV, EFC, FBER and the N/2 ghost ratio.
//! - [`motion`]: rigid realignment of a time series to its first volume and Power's framewise
//!   displacement.
//! - [`ct`]: global CT noise (Christianson et al., Med Phys 2015), air and water CT numbers.
//!
//! Masks are `Array3<bool>` on the image's grid (as [`crate::morphology`],
//! [`crate::components`] and [`crate::distance`] take them). Every function refuses, with a
//! [`QualityError`] naming what is wrong, a mask of another shape, an empty mask, too few voxels,
//! a parameter out of range or values that are not finite numbers; none panics on its input.

pub mod ct;
pub mod motion;
pub mod mr;

pub use ct::{
    AirHu, CtAirOptions, CtNoise, CtNoiseOptions, WaterHu, WaterOptions, air_hu, ct_noise_hu,
    water_hu,
};
pub use motion::{Motion, MotionOptions, VolumeMotion, framewise_displacement};
pub use mr::{
    AirOptions, GhostOptions, Ghosting, air_mask, cjv, cnr, efc, fber, ghost, ghost_region,
    object_mask, phase_axis, snr, snr_dietrich, uniform_mask,
};

use crate::registration::RegistrationError;
use crate::volume::Volume;
use ndarray::Array3;

/// A binary mask on an image's grid.
pub type Mask = Array3<bool>;

/// Why a metric cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QualityError {
    /// A mask selects no voxel.
    #[error("the {0} mask is empty: it selects no voxel")]
    EmptyMask(&'static str),
    /// A mask (or a volume of a series) does not have the image's shape.
    #[error("the {what} has shape {found:?}, but the image has shape {expected:?}")]
    ShapeMismatch {
        /// What was given (`"gm mask"`, `"volume 3"`).
        what: String,
        /// Its shape.
        found: [usize; 3],
        /// The image's.
        expected: [usize; 3],
    },
    /// Too few voxels to estimate what is asked.
    #[error("the {what} holds {found} voxels; at least {needed} are needed")]
    TooFewVoxels {
        /// What (`"air mask"`).
        what: &'static str,
        /// How many it holds.
        found: usize,
        /// How many are needed.
        needed: usize,
    },
    /// The image holds a value that is not a finite number where it is read.
    #[error("the {0} holds values that are not finite numbers")]
    NotFinite(&'static str),
    /// A parameter out of range.
    #[error("parameter {name} = {value}: {why}")]
    Parameter {
        /// Its name.
        name: &'static str,
        /// What was given.
        value: String,
        /// What is allowed.
        why: &'static str,
    },
    /// The statistic is undefined for these values (zero spread, zero mean…).
    #[error("{0}")]
    Undefined(String),
    /// A time series' volumes are not on one grid.
    #[error("volume {volume} of the series is not on the first volume's grid: {why}")]
    Grid {
        /// From 1.
        volume: usize,
        /// What differs.
        why: &'static str,
    },
    /// Realignment of a volume failed.
    #[error("registration of volume {volume} to volume 1: {source}")]
    Registration {
        /// From 1.
        volume: usize,
        /// Why.
        source: RegistrationError,
    },
}

/// The shape of an array as `[ni, nj, nk]`.
pub(crate) fn shape_of<T>(a: &Array3<T>) -> [usize; 3] {
    let (i, j, k) = a.dim();
    [i, j, k]
}

/// Refuses a mask whose shape is not the image's.
pub(crate) fn check_mask(
    image: &Volume<f32>,
    mask: &Mask,
    what: &'static str,
) -> Result<(), QualityError> {
    let expected = shape_of(&image.data);
    let found = shape_of(mask);
    if found != expected {
        return Err(QualityError::ShapeMismatch {
            what: format!("{what} mask"),
            found,
            expected,
        });
    }
    Ok(())
}

/// Refuses an image with a value that is not finite.
pub(crate) fn check_finite(image: &Volume<f32>) -> Result<(), QualityError> {
    if image.data.iter().any(|v| !v.is_finite()) {
        return Err(QualityError::NotFinite("image"));
    }
    Ok(())
}

/// Refuses a parameter that is not a finite number in `lo..=hi`.
pub(crate) fn check_range(
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    why: &'static str,
) -> Result<(), QualityError> {
    if !(value.is_finite() && value >= lo && value <= hi) {
        return Err(QualityError::Parameter {
            name,
            value: value.to_string(),
            why,
        });
    }
    Ok(())
}

/// Summary statistics of the image under a mask (f64 accumulation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stats {
    /// Voxels.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub sd: f64,
    /// Mean of the squares.
    pub mean_square: f64,
}

/// The statistics of `image` under `mask`, which must have the image's shape and hold at least
/// `needed` voxels, all finite.
pub(crate) fn stats(
    image: &Volume<f32>,
    mask: &Mask,
    what: &'static str,
    needed: usize,
) -> Result<Stats, QualityError> {
    check_mask(image, mask, what)?;
    let (mut n, mut sum, mut sum_sq) = (0usize, 0.0f64, 0.0f64);
    // Two passes: the mean first, then squared deviations (no cancellation).
    for (v, m) in image.data.iter().zip(mask.iter()) {
        if *m {
            if !v.is_finite() {
                return Err(QualityError::NotFinite("image"));
            }
            n += 1;
            sum += f64::from(*v);
            sum_sq += f64::from(*v) * f64::from(*v);
        }
    }
    if n == 0 {
        return Err(QualityError::EmptyMask(what));
    }
    if n < needed {
        return Err(QualityError::TooFewVoxels {
            what,
            found: n,
            needed,
        });
    }
    let mean = sum / n as f64;
    let mut dev = 0.0;
    for (v, m) in image.data.iter().zip(mask.iter()) {
        if *m {
            dev += (f64::from(*v) - mean).powi(2);
        }
    }
    let sd = if n > 1 {
        (dev / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Ok(Stats {
        n,
        mean,
        sd,
        mean_square: sum_sq / n as f64,
    })
}

/// Otsu's threshold (IEEE SMC 9:62, 1979) of the image's values: over a histogram of 256 equal
/// bins from the minimum to the maximum, the bin edge that maximises the between-class variance.
/// Voxels strictly above it are the object.
pub fn otsu_threshold(image: &Volume<f32>) -> Result<f32, QualityError> {
    check_finite(image)?;
    let (lo, hi) = image
        .data
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi <= lo {
        return Err(QualityError::Undefined(
            "the image has the same value everywhere: no threshold separates an object".into(),
        ));
    }
    const BINS: usize = 256;
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    let width = (hi - lo) / BINS as f64;
    let mut hist = [0u64; BINS];
    for &v in &image.data {
        let b = (((f64::from(v) - lo) / width) as usize).min(BINS - 1);
        hist[b] += 1;
    }
    let total: u64 = hist.iter().sum();
    let centre = |b: usize| lo + (b as f64 + 0.5) * width;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(b, &c)| c as f64 * centre(b))
        .sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let (mut best, mut best_b) = (-1.0f64, 0usize);
    for (b, &c) in hist.iter().enumerate().take(BINS - 1) {
        w0 += c as f64;
        sum0 += c as f64 * centre(b);
        let w1 = total as f64 - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let between = w0 * w1 * (m0 - m1).powi(2);
        if between > best {
            best = between;
            best_b = b;
        }
    }
    Ok((lo + (best_b + 1) as f64 * width) as f32)
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::geometry::Geometry;
    use crate::phantom::qc::QcTruth;
    use crate::phantom::{self, Kind, Options, Rendered};
    use crate::volume::Volume;
    use ndarray::Array3;

    /// The rendered series `name` of subject `subject` (from 0) of a phantom.
    pub fn render(kind: Kind, seed: u64, voxel: f64, subject: usize, name: &str) -> Rendered {
        render_with(kind, seed, voxel, subject, name, 2)
    }

    /// The same with `subsamples` per voxel and axis for the partial-volume fractions.
    pub fn render_with(
        kind: Kind,
        seed: u64,
        voxel: f64,
        subject: usize,
        name: &str,
        subsamples: usize,
    ) -> Rendered {
        let options = Options {
            seed,
            subjects: subject + 1,
            voxel_mm: Some(voxel),
            subsamples,
            ..Options::default()
        };
        let plan = phantom::plan(kind, &options).expect("plan");
        let s = plan
            .series
            .iter()
            .find(|s| s.subject_index == subject && s.info.name == name)
            .expect("series");
        s.render(options.subsamples).expect("render")
    }

    /// A series of the QC phantom and its truth.
    pub fn qc(seed: u64, voxel: f64, subject: usize, name: &str) -> (Rendered, QcTruth) {
        qc_with(seed, voxel, subject, name, 2)
    }

    /// The same with `subsamples` per voxel and axis.
    pub fn qc_with(
        seed: u64,
        voxel: f64,
        subject: usize,
        name: &str,
        subsamples: usize,
    ) -> (Rendered, QcTruth) {
        let options = Options {
            seed,
            subjects: subject + 1,
            voxel_mm: Some(voxel),
            ..Options::default()
        };
        let plan = phantom::plan(Kind::Qc, &options).expect("plan");
        let truth = plan.truth.subjects[subject].visits[0]
            .qc
            .clone()
            .expect("qc truth");
        (
            render_with(Kind::Qc, seed, voxel, subject, name, subsamples),
            truth,
        )
    }

    /// The binary mask `name` of a rendered series.
    pub fn mask(r: &Rendered, name: &str) -> Array3<bool> {
        let (_, m) = r.masks.iter().find(|(n, _)| n == name).expect("mask");
        m.data.mapv(|v| v != 0)
    }

    /// An axis-aligned volume of `dims` at `spacing`.
    pub fn volume(data: Array3<f32>, spacing: [f64; 3]) -> Volume<f32> {
        let (i, j, k) = data.dim();
        Volume::new(data, Geometry::axis_aligned([i, j, k], [0.0; 3], spacing)).expect("volume")
    }

    /// Standard normal draws from a seeded stream.
    pub fn normals(seed: u64, n: usize) -> Vec<f64> {
        let mut s = crate::phantom::Stream::new(seed, "quality-test");
        (0..n).map(|_| s.normal()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::volume;
    use super::*;

    #[test]
    fn otsu_separates_two_populations_and_refuses_a_constant_image() {
        let data = Array3::from_shape_fn((20, 20, 4), |(i, _, _)| if i < 8 { 10.0 } else { 90.0 });
        let t = otsu_threshold(&volume(data, [1.0; 3])).unwrap();
        assert!(t > 10.0 && t < 90.0, "{t}");
        let flat = volume(Array3::from_elem((4, 4, 4), 3.0), [1.0; 3]);
        assert!(matches!(
            otsu_threshold(&flat),
            Err(QualityError::Undefined(_))
        ));
        let mut nan = Array3::from_elem((4, 4, 4), 3.0f32);
        nan[[1, 1, 1]] = f32::NAN;
        assert_eq!(
            otsu_threshold(&volume(nan, [1.0; 3])),
            Err(QualityError::NotFinite("image"))
        );
    }

    #[test]
    fn statistics_refuse_empty_mismatched_and_too_small_masks() {
        let v = volume(Array3::from_elem((4, 4, 4), 1.0), [1.0; 3]);
        let empty = Array3::from_elem((4, 4, 4), false);
        assert_eq!(
            stats(&v, &empty, "test", 2),
            Err(QualityError::EmptyMask("test"))
        );
        let wrong = Array3::from_elem((4, 4, 5), true);
        assert!(matches!(
            stats(&v, &wrong, "test", 2),
            Err(QualityError::ShapeMismatch { .. })
        ));
        let mut one = empty.clone();
        one[[0, 0, 0]] = true;
        assert!(matches!(
            stats(&v, &one, "test", 2),
            Err(QualityError::TooFewVoxels {
                found: 1,
                needed: 2,
                ..
            })
        ));
    }
}
