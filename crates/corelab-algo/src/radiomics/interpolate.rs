//! Interpolation to a new voxel spacing as IBSI 1 (ch. 2.3) does it: the new grid's centre on the
//! old grid's centre ("align grid centres"), `ceil(n · s / s')` voxels per axis, the image by
//! (bi/tri)linear interpolation optionally rounded to integers, the mask by linear
//! interpolation kept where it reaches the partial-volume threshold.
//!
//! Written here rather than through `corelab_image::resample` (which resamples onto any grid in
//! patient space) because IBSI's grid is defined in the image's own index space, axis by axis,
//! and an axis left alone must be sampled exactly on its old positions.

use corelab_image::{Geometry, Volume};
use ndarray::Array3;

/// Target spacing per axis in mm; `None` keeps an axis (2D interpolation keeps the slices).
#[derive(Debug, Clone, PartialEq)]
pub struct Interpolation {
    /// New spacing per axis.
    pub spacing: [Option<f64>; 3],
    /// Round the interpolated intensities to integers (calibrated units such as HU).
    pub round: bool,
    /// A mask voxel is in the ROI when its interpolated value reaches this.
    pub partial_volume: f64,
}

/// Per axis: new size, and the old continuous index of new index 0 and its step.
fn axes(geometry: &Geometry, spacing: &[Option<f64>; 3]) -> [(usize, f64, f64); 3] {
    let old = geometry.spacing();
    std::array::from_fn(|a| {
        let n = geometry.dims[a];
        match spacing[a] {
            Some(s) if s > 0.0 => {
                let step = s / old[a];
                let m = ((n as f64 * old[a] / s).ceil() as usize).max(1);
                let origin = ((n - 1) as f64 - step * (m - 1) as f64) / 2.0;
                (m, origin, step)
            }
            _ => (n, 0.0, 1.0),
        }
    })
}

/// Linear interpolation of `data` at a continuous index, clamped to the grid.
fn sample(data: &Array3<f32>, x: [f64; 3]) -> f64 {
    let d = data.dim();
    let dims = [d.0, d.1, d.2];
    let mut base = [0usize; 3];
    let mut frac = [0.0; 3];
    for a in 0..3 {
        let x = x[a].clamp(0.0, (dims[a] - 1) as f64);
        let f = x.floor();
        base[a] = f as usize;
        frac[a] = x - f;
        if base[a] + 1 >= dims[a] {
            base[a] = dims[a] - 1;
            frac[a] = 0.0;
        }
    }
    let mut v = 0.0;
    for c in 0..8 {
        let o = [c & 1, (c >> 1) & 1, c >> 2];
        let mut w = 1.0;
        let mut at = [0usize; 3];
        for a in 0..3 {
            w *= if o[a] == 1 { frac[a] } else { 1.0 - frac[a] };
            at[a] = (base[a] + o[a]).min(dims[a] - 1);
        }
        if w > 0.0 {
            v += w * f64::from(data[(at[0], at[1], at[2])]);
        }
    }
    v
}

/// The image and mask on the new grid.
pub fn interpolate(
    image: &Volume<f32>,
    mask: &Volume<f32>,
    how: &Interpolation,
) -> (Volume<f32>, Volume<f32>) {
    let ax = axes(&image.geometry, &how.spacing);
    let dims = [ax[0].0, ax[1].0, ax[2].0];
    let at = |i: usize, j: usize, k: usize| {
        [
            ax[0].1 + ax[0].2 * i as f64,
            ax[1].1 + ax[1].2 * j as f64,
            ax[2].1 + ax[2].2 * k as f64,
        ]
    };
    let img = Array3::from_shape_fn(dims, |(i, j, k)| {
        let v = sample(&image.data, at(i, j, k));
        (if how.round { v.round() } else { v }) as f32
    });
    let roi = Array3::from_shape_fn(dims, |(i, j, k)| {
        if sample(&mask.data, at(i, j, k)) >= how.partial_volume {
            1.0
        } else {
            0.0
        }
    });
    // New voxel → old continuous index → patient space.
    let mut affine = image.geometry.affine;
    let old = image.geometry.affine;
    for a in 0..3 {
        for r in 0..3 {
            affine[(r, a)] = old[(r, a)] * ax[a].2;
        }
    }
    let origin = image.geometry.to_patient([ax[0].1, ax[1].1, ax[2].1]);
    for r in 0..3 {
        affine[(r, 3)] = origin[r];
    }
    let geometry = Geometry { dims, affine };
    (
        Volume {
            data: img,
            geometry: geometry.clone(),
            source: image.source.clone(),
        },
        Volume {
            data: roi,
            geometry,
            source: mask.source.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_stay_aligned_and_kept_axes_are_sampled_exactly() {
        let g = Geometry::axis_aligned([5, 4, 3], [0.0; 3], [1.0, 1.0, 3.0]);
        let data = Array3::from_shape_fn([5, 4, 3], |(i, j, k)| (i + 10 * j + 100 * k) as f32);
        let v = Volume::new(data, g).unwrap();
        let how = Interpolation {
            spacing: [Some(2.0), Some(2.0), None],
            round: false,
            partial_volume: 0.5,
        };
        let (img, _) = interpolate(&v, &v, &how);
        assert_eq!(img.geometry.dims, [3, 2, 3]);
        // Centre of the old x axis is index 2 (mm 2.0); the new one is index 1.
        let centre = img.geometry.to_patient([1.0, 0.5, 1.0]);
        assert!(
            (centre[0] - 2.0).abs() < 1e-12 && (centre[1] - 1.5).abs() < 1e-12,
            "{centre:?}"
        );
        // Linear data stay linear; the slice axis is untouched.
        assert!(
            (img.data[(1, 0, 2)] - (2.0 + 10.0 * 0.5 + 200.0)).abs() < 1e-4,
            "{}",
            img.data[(1, 0, 2)]
        );
    }
}
