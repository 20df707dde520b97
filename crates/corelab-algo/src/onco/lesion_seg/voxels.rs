//! Voxel tools of the lesion segmentation: the box around a seed, 6-connected neighbours and
//! flood fill, the gradient magnitude, the surface of the radius sphere, and a median.

use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use ndarray::{Array3, s};
use std::collections::VecDeque;

/// A box of the image: its first voxel, its data and its grid.
pub(super) struct Crop {
    /// Its first voxel in the image.
    pub lo: [usize; 3],
    /// Its voxels.
    pub raw: Array3<f32>,
    /// Its grid (the image's, moved to `lo`).
    pub grid: Geometry,
}

/// The box of half-width `half_mm` around voxel `centre`, clipped to the image.
pub(super) fn crop(image: &Volume<f32>, centre: [usize; 3], half_mm: f64) -> Crop {
    let spacing = image.geometry.spacing();
    let dims = image.geometry.dims;
    let mut lo = [0usize; 3];
    let mut hi = [0usize; 3];
    for a in 0..3 {
        let h = (half_mm / spacing[a]).ceil() as usize;
        lo[a] = centre[a].saturating_sub(h);
        hi[a] = (centre[a] + h + 1).min(dims[a]);
    }
    let raw = image
        .data
        .slice(s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]])
        .to_owned();
    let mut affine = image.geometry.affine;
    let origin = image
        .geometry
        .to_patient([lo[0] as f64, lo[1] as f64, lo[2] as f64]);
    for (r, o) in origin.iter().enumerate() {
        affine[(r, 3)] = *o;
    }
    let grid = Geometry {
        dims: [0, 1, 2].map(|a| hi[a] - lo[a]),
        affine,
    };
    Crop { lo, raw, grid }
}

/// The median (`None` for no values).
pub(super) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

/// Euclidean distance (mm).
pub(super) fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The face neighbours' offsets.
pub(super) const SIX: [[isize; 3]; 6] = [
    [1, 0, 0],
    [-1, 0, 0],
    [0, 1, 0],
    [0, -1, 0],
    [0, 0, 1],
    [0, 0, -1],
];

/// The face neighbours of `p` inside `dims`.
pub(super) fn neighbours(
    p: [usize; 3],
    dims: (usize, usize, usize),
) -> impl Iterator<Item = [usize; 3]> {
    SIX.iter().filter_map(move |o| {
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
            .then(|| q.map(|x| x as usize))
    })
}

/// 6-connected flood from `starts` through voxels where `allowed`.
pub(super) fn flood(
    starts: &[[usize; 3]],
    allowed: impl Fn([usize; 3]) -> bool,
    dims: (usize, usize, usize),
) -> Array3<bool> {
    let mut out = Array3::from_elem(dims, false);
    let mut queue: VecDeque<[usize; 3]> = VecDeque::new();
    for &p in starts {
        if !out[p] && allowed(p) {
            out[p] = true;
            queue.push_back(p);
        }
    }
    while let Some(p) = queue.pop_front() {
        for q in neighbours(p, dims) {
            if !out[q] && allowed(q) {
                out[q] = true;
                queue.push_back(q);
            }
        }
    }
    out
}

/// The smoothed gradient magnitude (HU/mm), central differences (one-sided at the box's edge).
pub(super) fn gradient(smooth: &Array3<f32>, spacing: [f64; 3]) -> Array3<f32> {
    let dims = smooth.dim();
    let d = [dims.0, dims.1, dims.2];
    Array3::from_shape_fn(dims, |(i, j, k)| {
        let p = [i, j, k];
        let mut sum = 0.0;
        for a in 0..3 {
            let (mut lo, mut hi) = (p, p);
            if p[a] > 0 {
                lo[a] -= 1;
            }
            if p[a] + 1 < d[a] {
                hi[a] += 1;
            }
            let steps = (hi[a] - lo[a]) as f64;
            if steps > 0.0 {
                let g = (f64::from(smooth[hi]) - f64::from(smooth[lo])) / (steps * spacing[a]);
                sum += g * g;
            }
        }
        sum.sqrt() as f32
    })
}

/// The ball's surface voxels: in it, with a 6-neighbour outside it (or at the box's edge).
pub(super) fn sphere_surface(ball: &Array3<bool>) -> Array3<bool> {
    let dims = ball.dim();
    Array3::from_shape_fn(dims, |(i, j, k)| {
        let p = [i, j, k];
        ball[p] && (neighbours(p, dims).count() < 6 || neighbours(p, dims).any(|q| !ball[q]))
    })
}
