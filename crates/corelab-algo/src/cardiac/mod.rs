//! Cardiac MR: the endpoints sponsors run in heart-failure and cardiomyopathy trials — left
//! ventricular volumes, ejection fraction and mass from a short-axis cine stack
//! ([`lv_function`]), and the extent of late gadolinium enhancement ([`lge`]). The peers are
//! the core-lab packages (cvi42, Segment, Medis QMass); the methods follow the SCMR
//! post-processing recommendations, and each is documented with its accuracy in
//! `docs/algorithms/cardiac.*.md`.
//!
//! This module holds what they share: masks on one short-axis grid, per-slice areas, the checks
//! that a stack is a short-axis stack.

pub mod lge;
pub mod lv_function;

#[cfg(test)]
pub(crate) mod testing;

use crate::AlgoError;
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use nalgebra::{Matrix3, SymmetricEigen, Vector3};
use ndarray::Array3;

/// Myocardial density (g/mL), by which the SCMR recommendations turn myocardial volume into
/// mass (Schulz-Menger et al. 2020).
pub const MYOCARDIAL_DENSITY_G_PER_ML: f64 = 1.05;

pub(crate) use crate::image::measurement;

/// Refuses `volume` (of `role`) unless it lies on the grid of `reference` (of `reference_role`):
/// the masks of one cine stack, and an LGE image and its masks, share one grid, and resampling
/// thick short-axis slices would change the very areas being summed.
pub(crate) fn require_same_grid(
    reference_role: &str,
    reference: &Volume<f32>,
    role: &str,
    volume: &Volume<f32>,
) -> Result<(), AlgoError> {
    let (a, b) = (&reference.geometry, &volume.geometry);
    if a.dims != b.dims {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "{:?} voxels, but {reference_role} has {:?}: the masks must lie on one grid (the stack they were drawn on)",
                b.dims, a.dims
            ),
        });
    }
    let shift = (a.affine - b.affine).abs().max();
    if shift >= 1e-3 {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "its voxel-to-patient affine differs from {reference_role}'s by up to {shift:.3} mm: the masks must lie on one grid (the stack they were drawn on)"
            ),
        });
    }
    Ok(())
}

/// Refuses a volume holding values that are not finite numbers.
pub(crate) fn require_finite(role: &str, volume: &Volume<f32>) -> Result<(), AlgoError> {
    match volume.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(n) => Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "holds a value that is not a finite number (voxel {n} in storage order, {})",
                volume.data.iter().nth(n).copied().unwrap_or(f32::NAN)
            ),
        }),
    }
}

/// The in-plane area of one voxel (mm²) and the distance between slice planes (mm), measured
/// along the slices' normal. The latter is what Simpson's summation multiplies each slice's
/// area by: slice thickness plus gap for a contiguous stack, whatever the thickness the header
/// states, because the slice centres are where the images were taken.
pub(crate) fn pixel_area_and_slice_distance(g: &Geometry) -> (f64, f64) {
    let col = |c: usize| Vector3::new(g.affine[(0, c)], g.affine[(1, c)], g.affine[(2, c)]);
    let area = col(0).cross(&col(1)).norm();
    (area, g.voxel_volume() / area)
}

/// The unit normal of the slices (i × j).
pub(crate) fn slice_normal(g: &Geometry) -> Vector3<f64> {
    let col = |c: usize| Vector3::new(g.affine[(0, c)], g.affine[(1, c)], g.affine[(2, c)]);
    col(0).cross(&col(1)).normalize()
}

/// Each slice's area (mm²) of a mask given as fractions of each voxel inside.
pub(crate) fn slice_areas(fractions: &Array3<f32>, g: &Geometry) -> Vec<f64> {
    let (pixel, _) = pixel_area_and_slice_distance(g);
    let (_, _, dk) = fractions.dim();
    (0..dk)
        .map(|k| {
            let slice = fractions.index_axis(ndarray::Axis(2), k);
            slice.iter().map(|f| f64::from(*f)).sum::<f64>() * pixel
        })
        .collect()
}

/// Simpson's summation of discs (mL): each slice's area × the distance between slices.
pub(crate) fn disc_volume_ml(areas: &[f64], g: &Geometry) -> f64 {
    let (_, distance) = pixel_area_and_slice_distance(g);
    areas.iter().sum::<f64>() * distance / 1000.0
}

/// The angle (degrees) between the slices' normal and the longest principal axis of the
/// `weights` (a ventricle's fractions), or `None` when the region is not elongated enough
/// (largest variance under 1.2× the second) for a long axis to be told.
pub(crate) fn long_axis_angle_deg(weights: &Array3<f32>, g: &Geometry) -> Option<f64> {
    let mut total = 0.0;
    let mut mean = Vector3::zeros();
    for ((i, j, k), w) in weights.indexed_iter() {
        if *w > 0.0 {
            let p = g.to_patient([i as f64, j as f64, k as f64]);
            let w = f64::from(*w);
            total += w;
            mean += w * Vector3::new(p[0], p[1], p[2]);
        }
    }
    if total <= 0.0 {
        return None;
    }
    mean /= total;
    let mut cov = Matrix3::zeros();
    for ((i, j, k), w) in weights.indexed_iter() {
        if *w > 0.0 {
            let p = g.to_patient([i as f64, j as f64, k as f64]);
            let d = Vector3::new(p[0], p[1], p[2]) - mean;
            cov += f64::from(*w) * d * d.transpose();
        }
    }
    cov /= total;
    let eigen = SymmetricEigen::new(cov);
    let mut order = [0usize, 1, 2];
    order.sort_by(|a, b| eigen.eigenvalues[*b].total_cmp(&eigen.eigenvalues[*a]));
    let (first, second) = (eigen.eigenvalues[order[0]], eigen.eigenvalues[order[1]]);
    if second <= 0.0 || first < 1.2 * second {
        return None;
    }
    let axis = eigen.eigenvectors.column(order[0]).normalize();
    let cos = axis.dot(&slice_normal(g)).abs().min(1.0);
    Some(cos.acos().to_degrees())
}
