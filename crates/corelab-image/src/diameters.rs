//! The largest in-plane diameters of a mask, as RECIST 1.1 measures a lesion: the longest
//! diameter in any slice (the i-j plane, the plane of acquisition), and in that slice the
//! longest diameter perpendicular to it (within 3°). Distances are between the outer corners of
//! the mask's boundary pixels, in millimetres: a digitised shape of diameter D measures from
//! D − 1 pixel to D + 1 pixel diagonal (on 0.5 mm pixels an ellipse of axes 40 and 24 mm measures
//! 40.65 and 24.55 mm).

use crate::geometry::Geometry;
use ndarray::{Array3, Axis};
use serde::Serialize;

/// A lesion's largest in-plane diameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diameters {
    /// The slice (k) where the long axis is longest.
    pub slice: usize,
    /// The long axis (mm).
    pub long_mm: f64,
    /// The longest diameter perpendicular to it in that slice (mm).
    pub short_mm: f64,
    /// The long axis' ends (LPS mm).
    pub long_ends: [[f64; 3]; 2],
    /// The short axis' ends (LPS mm).
    pub short_ends: [[f64; 3]; 2],
}

/// Largest in-plane diameters of `mask` on `grid`, or `None` for an empty mask.
pub fn largest_in_plane(mask: &Array3<bool>, grid: &Geometry) -> Option<Diameters> {
    let mut best: Option<Diameters> = None;
    for (k, plane) in mask.axis_iter(Axis(2)).enumerate() {
        let (ni, nj) = plane.dim();
        // Outer corners of boundary pixels (4-neighbourhood), in LPS.
        let mut corners: Vec<[f64; 3]> = Vec::new();
        for ((i, j), inside) in plane.indexed_iter() {
            if !*inside {
                continue;
            }
            let boundary = i == 0
                || j == 0
                || i + 1 == ni
                || j + 1 == nj
                || !plane[[i - 1, j]]
                || !plane[[i + 1, j]]
                || !plane[[i, j - 1]]
                || !plane[[i, j + 1]];
            if boundary {
                for (di, dj) in [(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)] {
                    corners.push(grid.to_patient([i as f64 + di, j as f64 + dj, k as f64]));
                }
            }
        }
        corners.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        corners.dedup();
        let Some((long, ends)) = longest(&corners, None) else {
            continue;
        };
        if best.as_ref().is_some_and(|b| b.long_mm >= long) {
            continue;
        }
        let axis = unit(sub(ends[1], ends[0]));
        let (short, short_ends) = longest(&corners, Some(axis)).unwrap_or((0.0, [ends[0]; 2]));
        best = Some(Diameters {
            slice: k,
            long_mm: long,
            short_mm: short,
            long_ends: ends,
            short_ends,
        });
    }
    best
}

/// The longest segment between two points, or the longest within 3° of perpendicular to `axis`.
fn longest(points: &[[f64; 3]], axis: Option<[f64; 3]>) -> Option<(f64, [[f64; 3]; 2])> {
    let sin3 = 3f64.to_radians().sin();
    let mut best: Option<(f64, [[f64; 3]; 2])> = None;
    for (n, p) in points.iter().enumerate() {
        for q in &points[n + 1..] {
            let d = sub(*q, *p);
            let len = dot(d, d).sqrt();
            if let Some(u) = axis
                && dot(d, u).abs() > len * sin3
            {
                continue;
            }
            if best.as_ref().is_none_or(|b| len > b.0) {
                best = Some((len, [*p, *q]));
            }
        }
    }
    best
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn unit(a: [f64; 3]) -> [f64; 3] {
    let n = dot(a, a).sqrt().max(1e-12);
    [a[0] / n, a[1] / n, a[2] / n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_ellipse_measures_its_axes_within_a_pixel_diagonal() {
        // Semi-axes 20 and 12 mm, rotated 30°, on 0.5 mm pixels; smaller in the outer slices.
        let grid = Geometry::axis_aligned([120, 120, 3], [-30.0, -30.0, 0.0], [0.5, 0.5, 5.0]);
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let mask = Array3::from_shape_fn((120, 120, 3), |(i, j, k)| {
            let p = grid.to_patient([i as f64, j as f64, k as f64]);
            let scale = if k == 1 { 1.0 } else { 0.7 };
            let (u, v) = (c * p[0] + s * p[1], -s * p[0] + c * p[1]);
            (u / (20.0 * scale)).powi(2) + (v / (12.0 * scale)).powi(2) <= 1.0
        });
        let d = largest_in_plane(&mask, &grid).unwrap();
        assert_eq!(d.slice, 1);
        let diagonal = 0.5 * 2f64.sqrt();
        assert!((d.long_mm - 40.0).abs() <= diagonal, "{d:?}");
        assert!((d.short_mm - 24.0).abs() <= diagonal, "{d:?}");
        let axis = unit(sub(d.long_ends[1], d.long_ends[0]));
        assert!(
            (axis[0].abs() - c).abs() < 0.02 && (axis[1].abs() - s).abs() < 0.03,
            "{axis:?}"
        );
        assert!(largest_in_plane(&Array3::from_elem((3, 3, 3), false), &grid).is_none());
    }
}
