//! Smoothing with widths in millimetres: a separable Gaussian (kernel to 4 σ, normalised, edges
//! replicated) and a median over a box of the given half-widths.

use ndarray::{Array3, Axis, Zip};

/// `data` smoothed by a Gaussian of standard deviation `sigma_mm` (0 leaves an axis alone).
pub fn gaussian(data: &Array3<f32>, spacing: [f64; 3], sigma_mm: f64) -> Array3<f32> {
    let mut out = data.mapv(f64::from);
    for (axis, s) in spacing.iter().enumerate() {
        let sigma = sigma_mm / s; // in voxels
        if sigma <= 1e-6 {
            continue;
        }
        let radius = (4.0 * sigma).ceil() as isize;
        let mut kernel: Vec<f64> = (-radius..=radius)
            .map(|x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp())
            .collect();
        let total: f64 = kernel.iter().sum();
        kernel.iter_mut().for_each(|w| *w /= total);
        // Lanes are independent: smoothed in parallel, each the same whatever the thread count.
        Zip::from(out.lanes_mut(Axis(axis))).par_for_each(|mut lane| {
            let line: Vec<f64> = lane.iter().copied().collect();
            let n = line.len() as isize;
            for (q, v) in lane.iter_mut().enumerate() {
                *v = kernel
                    .iter()
                    .enumerate()
                    .map(|(t, w)| {
                        let p = (q as isize + t as isize - radius).clamp(0, n - 1);
                        w * line[p as usize]
                    })
                    .sum();
            }
        });
    }
    out.mapv(|v| v as f32)
}

/// The median of each voxel's box of half-widths `radius_mm` (at least the voxel itself);
/// voxels beyond the grid are left out of the box.
pub fn median(data: &Array3<f32>, spacing: [f64; 3], radius_mm: f64) -> Array3<f32> {
    let r: Vec<isize> = spacing
        .iter()
        .map(|s| (radius_mm / s + 1e-9).floor().max(0.0) as isize)
        .collect();
    let (ni, nj, nk) = data.dim();
    let mut window = Vec::new();
    Array3::from_shape_fn((ni, nj, nk), |(i, j, k)| {
        window.clear();
        for a in (i as isize - r[0]).max(0)..=(i as isize + r[0]).min(ni as isize - 1) {
            for b in (j as isize - r[1]).max(0)..=(j as isize + r[1]).min(nj as isize - 1) {
                for c in (k as isize - r[2]).max(0)..=(k as isize + r[2]).min(nk as isize - 1) {
                    window.push(data[[a as usize, b as usize, c as usize]]);
                }
            }
        }
        window.sort_by(|x, y| x.total_cmp(y));
        let m = window.len();
        if m % 2 == 1 {
            window[m / 2]
        } else {
            (window[m / 2 - 1] + window[m / 2]) / 2.0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gaussian_keeps_constants_and_mass_and_spreads_an_impulse_by_sigma() {
        let flat = Array3::from_elem((9, 9, 9), 5.0f32);
        assert!(
            gaussian(&flat, [1.0; 3], 2.0)
                .iter()
                .all(|v| (v - 5.0).abs() < 1e-5)
        );
        let mut impulse = Array3::zeros((61, 1, 1));
        impulse[[30, 0, 0]] = 1.0f32;
        // σ = 3 mm on 0.5 mm voxels: 6 voxels.
        let g = gaussian(&impulse, [0.5, 1.0, 1.0], 3.0);
        let sum: f32 = g.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        let variance: f64 = g
            .indexed_iter()
            .map(|((i, _, _), v)| f64::from(*v) * ((i as f64 - 30.0) * 0.5).powi(2))
            .sum();
        assert!((variance.sqrt() - 3.0).abs() < 0.01, "{}", variance.sqrt());
    }

    #[test]
    fn a_median_removes_salt_and_keeps_edges() {
        let mut d = Array3::from_shape_fn((7, 7, 3), |(i, _, _)| if i < 3 { 0.0f32 } else { 10.0 });
        d[[5, 3, 1]] = 1000.0; // salt
        let m = median(&d, [1.0; 3], 1.0);
        assert_eq!(m[[5, 3, 1]], 10.0);
        assert_eq!(m[[1, 3, 1]], 0.0);
        assert_eq!(m[[4, 3, 1]], 10.0);
    }
}
