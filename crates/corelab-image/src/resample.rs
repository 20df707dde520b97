//! Resampling a volume onto another grid (nearest neighbour or trilinear), through patient
//! space: each target voxel's centre is mapped to LPS by the target affine and into the source by
//! the inverse of the source affine. Outside the source, a fill value.

use crate::geometry::Geometry;
use crate::volume::Volume;
use nalgebra::Vector4;
use ndarray::Array3;

/// How values between voxel centres are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// The nearest voxel (for labels and masks).
    Nearest,
    /// Trilinear (for intensities).
    Trilinear,
}

/// Why a volume cannot be resampled.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("the source grid's affine cannot be inverted")]
pub struct Singular;

/// `source` on `target`'s grid.
pub fn resample(
    source: &Volume<f32>,
    target: &Geometry,
    interpolation: Interpolation,
    fill: f32,
) -> Result<Volume<f32>, Singular> {
    let inverse = source.geometry.affine.try_inverse().ok_or(Singular)?;
    let to_source = inverse * target.affine;
    let [ni, nj, nk] = source.geometry.dims;
    let data = &source.data;
    let at = |i: isize, j: isize, k: isize| -> Option<f32> {
        (i >= 0 && j >= 0 && k >= 0 && (i as usize) < ni && (j as usize) < nj && (k as usize) < nk)
            .then(|| data[[i as usize, j as usize, k as usize]])
    };
    let [ti, tj, tk] = target.dims;
    let out = Array3::from_shape_fn((ti, tj, tk), |(i, j, k)| {
        let p = to_source * Vector4::new(i as f64, j as f64, k as f64, 1.0);
        let (x, y, z) = (p[0], p[1], p[2]);
        match interpolation {
            Interpolation::Nearest => {
                at(x.round() as isize, y.round() as isize, z.round() as isize).unwrap_or(fill)
            }
            Interpolation::Trilinear => trilinear(&at, x, y, z, [ni, nj, nk]).unwrap_or(fill),
        }
    });
    let mut v = Volume::new(out, target.clone()).map_err(|_| Singular)?;
    v.source = source.source.clone();
    Ok(v)
}

/// Trilinear interpolation at (x, y, z) in voxel units; `None` outside the grid (a point on the
/// last plane is inside: its weight on the next, absent, voxel is zero).
fn trilinear(
    at: &dyn Fn(isize, isize, isize) -> Option<f32>,
    x: f64,
    y: f64,
    z: f64,
    dims: [usize; 3],
) -> Option<f32> {
    const EDGE: f64 = 1e-6;
    let inside = |v: f64, n: usize| v >= -EDGE && v <= (n - 1) as f64 + EDGE;
    if !(inside(x, dims[0]) && inside(y, dims[1]) && inside(z, dims[2])) {
        return None;
    }
    let (x0, y0, z0) = (x.floor(), y.floor(), z.floor());
    let (fx, fy, fz) = (x - x0, y - y0, z - z0);
    let mut sum = 0.0f64;
    for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
        for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
            for (dz, wz) in [(0, 1.0 - fz), (1, fz)] {
                let w = wx * wy * wz;
                if w.abs() < 1e-12 {
                    continue;
                }
                let v = at(x0 as isize + dx, y0 as isize + dy, z0 as isize + dz)?;
                sum += w * f64::from(v);
            }
        }
    }
    Some(sum as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(g: &Geometry) -> Volume<f32> {
        let data = Array3::from_shape_fn((g.dims[0], g.dims[1], g.dims[2]), |(i, j, k)| {
            let p = g.to_patient([i as f64, j as f64, k as f64]);
            (2.0 * p[0] - 3.0 * p[1] + 0.5 * p[2] + 7.0) as f32
        });
        Volume::new(data, g.clone()).unwrap()
    }

    #[test]
    fn trilinear_reproduces_a_linear_field_on_any_grid_inside_the_source() {
        let source = Geometry::axis_aligned([20, 20, 10], [0.0, 0.0, 0.0], [1.0, 1.0, 3.0]);
        let v = linear(&source);
        let (c, s) = (15f64.to_radians().cos(), 15f64.to_radians().sin());
        let target = Geometry::new(
            [8, 8, 8],
            [4.3, 5.1, 6.7],
            [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
            [0.7, 0.9, 2.1],
        )
        .unwrap();
        let r = resample(&v, &target, Interpolation::Trilinear, f32::NAN).unwrap();
        let expected = linear(&target);
        for ((p, a), b) in r.data.indexed_iter().zip(expected.data.iter()) {
            assert!((a - b).abs() < 1e-3, "{p:?}: {a} vs {b}");
        }
        // The same grid: the same values.
        let same = resample(&v, &source, Interpolation::Trilinear, 0.0).unwrap();
        assert_eq!(same.data, v.data);
    }

    #[test]
    fn nearest_keeps_labels_and_outside_gets_the_fill() {
        let g = Geometry::axis_aligned([4, 4, 4], [0.0; 3], [1.0; 3]);
        let labels = Volume::new(
            Array3::from_shape_fn((4, 4, 4), |(i, _, _)| i as f32),
            g.clone(),
        )
        .unwrap();
        // Shifted by +0.4 mm along x: nearest still picks the same labels; one voxel beyond.
        let shifted = Geometry::axis_aligned([5, 4, 4], [0.4, 0.0, 0.0], [1.0; 3]);
        let r = resample(&labels, &shifted, Interpolation::Nearest, -1.0).unwrap();
        assert_eq!(r.data[[0, 0, 0]], 0.0);
        assert_eq!(r.data[[3, 1, 1]], 3.0);
        assert_eq!(r.data[[4, 1, 1]], -1.0);
    }
}
