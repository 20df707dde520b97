//! The largest in-plane diameters of a mask, as RECIST 1.1 measures a lesion: the longest
//! diameter in any slice (the i-j plane, the plane of acquisition), and in that slice the
//! longest diameter perpendicular to it. The long axis runs between the outer corners of the
//! mask's boundary pixels; the short axis is the longest chord of the mask's pixels (as squares)
//! along a line exactly perpendicular to the long axis, the lines taken every 1/50 of a pixel
//! along it. In millimetres: a digitised shape of diameter D measures from D − 1 pixel to D + 1
//! pixel diagonal (on 0.5 mm pixels an ellipse of axes 40 and 24 mm measures 40.65 and 24.15 mm),
//! and a lesion a few pixels across still gets its short axis (a square of 5 × 5 pixels: 5 pixels).

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
        // Outer corners of boundary pixels, in LPS.
        let mut corners: Vec<[f64; 3]> = Vec::new();
        for (i, j) in boundary_pixels(&plane) {
            for (di, dj) in [(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)] {
                corners.push(grid.to_patient([i as f64 + di, j as f64 + dj, k as f64]));
            }
        }
        corners.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        corners.dedup();
        let Some((long, ends)) = longest(&corners) else {
            continue;
        };
        if best.as_ref().is_some_and(|b| b.long_mm >= long) {
            continue;
        }
        let axis = unit(sub(ends[1], ends[0]));
        let (short, short_ends) = widest_across(&plane, grid, k, ends[0], axis, long);
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

/// The inside pixels of a slice that touch the outside (4-neighbourhood) or the grid's edge.
fn boundary_pixels<'a>(
    plane: &'a ndarray::ArrayView2<bool>,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let (ni, nj) = plane.dim();
    plane
        .indexed_iter()
        .filter(move |((i, j), inside)| {
            let (i, j) = (*i, *j);
            **inside
                && (i == 0
                    || j == 0
                    || i + 1 == ni
                    || j + 1 == nj
                    || !plane[[i - 1, j]]
                    || !plane[[i + 1, j]]
                    || !plane[[i, j - 1]]
                    || !plane[[i, j + 1]])
        })
        .map(|(ij, _)| ij)
}

/// The longest segment between two points.
fn longest(points: &[[f64; 3]]) -> Option<(f64, [[f64; 3]; 2])> {
    let mut best: Option<(f64, [[f64; 3]; 2])> = None;
    for (n, p) in points.iter().enumerate() {
        for q in &points[n + 1..] {
            let d = sub(*q, *p);
            let len = dot(d, d).sqrt();
            if best.as_ref().is_none_or(|b| len > b.0) {
                best = Some((len, [*p, *q]));
            }
        }
    }
    best
}

/// The longest chord of the slice's pixels (as squares) along lines perpendicular to `axis`,
/// which runs `length` mm from `start`: for each line, where it enters the first pixel and leaves
/// the last, measured along the perpendicular.
fn widest_across(
    plane: &ndarray::ArrayView2<bool>,
    grid: &Geometry,
    k: usize,
    start: [f64; 3],
    axis: [f64; 3],
    length: f64,
) -> (f64, [[f64; 3]; 2]) {
    // The in-plane perpendicular: the slice normal crossed with the axis.
    let a = grid.to_patient([0.0, 0.0, k as f64]);
    let (bi, bj) = (
        sub(grid.to_patient([1.0, 0.0, k as f64]), a),
        sub(grid.to_patient([0.0, 1.0, k as f64]), a),
    );
    let normal = unit(cross(bi, bj));
    let across = unit(cross(normal, axis));
    // Each boundary pixel (where chords enter and leave) as its four corners, in (along,
    // across) coordinates from `start`.
    let squares: Vec<[[f64; 2]; 4]> = boundary_pixels(plane)
        .map(|(i, j)| {
            [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)].map(|(di, dj)| {
                let p = sub(
                    grid.to_patient([i as f64 + di, j as f64 + dj, k as f64]),
                    start,
                );
                [dot(p, axis), dot(p, across)]
            })
        })
        .collect();
    let pixel = dot(bi, bi).sqrt().min(dot(bj, bj).sqrt());
    let steps = ((length / (pixel / 50.0)).ceil() as usize).max(1);
    let mut best = (0.0, [start; 2]);
    for s in 0..=steps {
        let t = length * s as f64 / steps as f64;
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for sq in &squares {
            // Where the line `along = t` crosses the square's edges.
            for e in 0..4 {
                let (p, q) = (sq[e], sq[(e + 1) % 4]);
                let (a0, a1) = (p[0] - t, q[0] - t);
                if a0 * a1 > 0.0 || (a0 == 0.0 && a1 == 0.0) {
                    continue;
                }
                let f = a0 / (a0 - a1);
                let w = p[1] + f * (q[1] - p[1]);
                lo = lo.min(w);
                hi = hi.max(w);
            }
        }
        if hi > lo && hi - lo > best.0 {
            let at = |w: f64| {
                let mut x = start;
                for r in 0..3 {
                    x[r] += t * axis[r] + w * across[r];
                }
                x
            };
            best = (hi - lo, [at(lo), at(hi)]);
        }
    }
    best
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
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

    #[test]
    fn small_lesions_get_their_short_axis() {
        // A 5 × 5 pixel square on 2 mm pixels: long axis its diagonal (14.1 mm), short axis the
        // chord across it perpendicular to that diagonal (also the other diagonal).
        let grid = Geometry::axis_aligned([12, 12, 1], [0.0; 3], [2.0, 2.0, 2.0]);
        let square = Array3::from_shape_fn((12, 12, 1), |(i, j, _)| {
            (3..8).contains(&i) && (3..8).contains(&j)
        });
        let d = largest_in_plane(&square, &grid).unwrap();
        let diagonal = 10.0 * 2f64.sqrt();
        assert!((d.long_mm - diagonal).abs() < 1e-9, "{d:?}");
        assert!((d.short_mm - diagonal).abs() < 0.05, "{d:?}");
        // A disc 5 pixels across (10 mm on 2 mm pixels): both axes within a pixel of 10 mm.
        let disc = Array3::from_shape_fn((12, 12, 1), |(i, j, _)| {
            let (x, y) = (i as f64 - 5.5, j as f64 - 5.5);
            x * x + y * y <= 6.25
        });
        let d = largest_in_plane(&disc, &grid).unwrap();
        assert!(d.short_mm > 8.0 && d.short_mm <= d.long_mm, "{d:?}");
        assert!((d.long_mm - 10.0).abs() <= 2.0 * 2f64.sqrt(), "{d:?}");
        // The short axis is perpendicular to the long one.
        let (l, s) = (
            unit(sub(d.long_ends[1], d.long_ends[0])),
            unit(sub(d.short_ends[1], d.short_ends[0])),
        );
        assert!(dot(l, s).abs() < 1e-9, "{d:?}");
    }
}
