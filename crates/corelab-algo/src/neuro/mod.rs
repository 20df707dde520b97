//! Neurology: the endpoints sponsors run in MS, Alzheimer's and Parkinson's trials — brain
//! extraction, tissue volumetry, white-matter lesions and their change, atrophy, amyloid PET in
//! Centiloid, DAT-SPECT binding ratios. The peers are FSL (BET, FAST, SIENA/SIENAX), ANTs
//! (Atropos), FreeSurfer/SynthSeg and LST; each method is documented with its accuracy in
//! `docs/algorithms/neuro.*.md`.
//!
//! This module holds what they share: masks given on any grid, resolution checks, measurements.

pub mod amyloid;
pub mod brain_extraction;
pub mod dat_sbr;
pub mod lesion_change;
pub mod ms_lesions;
pub mod pbvc;
pub mod tissue_seg;

#[cfg(test)]
mod neuro_pet_tests;
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
pub(crate) mod testing;

use crate::AlgoError;
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use corelab_image::resample::{Interpolation, resample};
use ndarray::Array3;

pub(crate) use crate::image::measurement;

/// The non-zero voxels of a mask input, on `grid`: as given when it is on that grid, otherwise
/// resampled through patient space (nearest neighbour). Refuses a mask that is empty there.
pub(crate) fn mask_on(
    role: &str,
    mask: &Volume<f32>,
    grid: &Geometry,
) -> Result<Array3<bool>, AlgoError> {
    let on_grid = if mask.geometry.dims == grid.dims
        && (mask.geometry.affine - grid.affine).abs().max() < 1e-4
    {
        mask.data.mapv(|v| v > 0.5)
    } else {
        resample(mask, grid, Interpolation::Nearest, 0.0)
            .map_err(|e| AlgoError::Input {
                role: role.to_owned(),
                why: e.to_string(),
            })?
            .data
            .mapv(|v| v > 0.5)
    };
    if !on_grid.iter().any(|&b| b) {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: "the mask has no voxel inside the image".to_owned(),
        });
    }
    Ok(on_grid)
}

/// A binary mask as a volume (1 inside, 0 outside) on `grid`.
pub(crate) fn mask_volume(mask: &Array3<bool>, grid: &Geometry) -> Volume<f32> {
    Volume::new(mask.mapv(|b| if b { 1.0 } else { 0.0 }), grid.clone())
        .expect("a mask computed on the grid has its shape")
}

/// Refuses an image whose voxels are coarser than `max_mm` along any axis, or that has too few
/// voxels along one to be a 3-D image: the method's numbers cannot be trusted on it.
pub(crate) fn require_resolution(
    role: &str,
    image: &Volume<f32>,
    max_mm: f64,
) -> Result<(), AlgoError> {
    let spacing = image.geometry.spacing();
    if let Some(s) = spacing.iter().find(|s| **s > max_mm) {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "voxels of {:.2} × {:.2} × {:.2} mm: too low a resolution (this method needs {max_mm} mm or finer along every axis; found {s:.2} mm)",
                spacing[0], spacing[1], spacing[2]
            ),
        });
    }
    if let Some(n) = image.geometry.dims.iter().find(|n| **n < 8) {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "{} × {} × {} voxels: not a 3-D image ({n} along one axis)",
                image.geometry.dims[0], image.geometry.dims[1], image.geometry.dims[2]
            ),
        });
    }
    if image.data.iter().any(|v| !v.is_finite()) {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: "holds values that are not finite numbers".to_owned(),
        });
    }
    Ok(())
}

/// Refuses an image given as a T1w that does not have a T1w's contrast. In a T1w the brightest
/// tissue inside the head's domain is white matter, deep inside the brain, and the middle one
/// grey matter, nearer its surface; in a FLAIR or a T2w the brightest is grey matter or CSF,
/// at the surface. So the voxels of the top third of intensities must lie deeper (farther from
/// the domain's edge) on average than those of the middle third. Headers can say which series is
/// which in a trial (QC's roles); this check stands behind a standalone run given the wrong file.
pub(crate) fn require_t1_contrast(
    role: &str,
    image: &Volume<f32>,
    domain: &Array3<bool>,
) -> Result<(), AlgoError> {
    let depth = corelab_image::distance::edt(&domain.mapv(|d| !d), image.geometry.spacing());
    let mut inside: Vec<(f32, f64)> = image
        .data
        .iter()
        .zip(domain.iter())
        .zip(depth.iter())
        .filter(|((_, d), _)| **d)
        .map(|((v, _), depth)| (*v, *depth))
        .collect();
    if inside.len() < 1000 {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!("only {} voxels in the head's domain", inside.len()),
        });
    }
    inside.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = inside.len();
    let mean_depth =
        |part: &[(f32, f64)]| part.iter().map(|p| p.1).sum::<f64>() / part.len() as f64;
    let middle = mean_depth(&inside[n / 3..2 * n / 3]);
    let top = mean_depth(&inside[2 * n / 3..]);
    if top <= middle {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "does not have a T1w's contrast: its brightest third lies {top:.1} mm deep on average, its middle third {middle:.1} mm (in a T1w the brightest, white matter, is deepest) — a FLAIR or T2w given as a T1w?"
            ),
        });
    }
    Ok(())
}

/// The values of `data` inside `mask`, sorted ascending.
pub(crate) fn sorted_inside(data: &Array3<f32>, mask: &Array3<bool>) -> Vec<f64> {
    let mut values: Vec<f64> = data
        .iter()
        .zip(mask.iter())
        .filter(|(_, m)| **m)
        .map(|(v, _)| f64::from(*v))
        .collect();
    values.sort_by(f64::total_cmp);
    values
}

/// Three-class 1-D k-means (Lloyd) of `sorted` values, started at the quantiles `starts`: the
/// class means, ascending, and the two indices where the classes' runs of sorted values split.
/// Each class of sorted values is a run bounded where the midpoints of the means fall, so an
/// iteration is two binary searches and three sums.
pub(crate) fn kmeans3_sorted(sorted: &[f64], starts: [f64; 3]) -> ([f64; 3], [usize; 2]) {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    let mut means = starts.map(at);
    let mut cuts = [0usize; 2];
    for _ in 0..100 {
        let c0 = sorted.partition_point(|&v| v < 0.5 * (means[0] + means[1]));
        let c1 = sorted.partition_point(|&v| v < 0.5 * (means[1] + means[2]));
        cuts = [c0, c1];
        let runs = [&sorted[..c0], &sorted[c0..c1], &sorted[c1..]];
        let next: [f64; 3] = std::array::from_fn(|c| {
            if runs[c].is_empty() {
                means[c]
            } else {
                runs[c].iter().sum::<f64>() / runs[c].len() as f64
            }
        });
        let moved = (0..3)
            .map(|c| (next[c] - means[c]).abs())
            .fold(0.0, f64::max);
        means = next;
        if moved < 1e-6 {
            break;
        }
    }
    (means, cuts)
}
