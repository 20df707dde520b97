//! N4 bias field correction (Tustison et al., IEEE TMI 2010): the smooth multiplicative field
//! that MR coils and B1 inhomogeneity lay over an image, estimated and divided out.
//!
//! In log space the image is `u = û + b` (true intensities plus field). Each iteration sharpens
//! the histogram of the current estimate `u − b` (Wiener deconvolution of a Gaussian of the
//! given FWHM, N3's step: Sled et al., IEEE TMI 1998), takes the residual between the estimate
//! and its sharpened self, fits it with a cubic B-spline by Lee, Wolberg and Shin's scattered
//! data approximation (IEEE TVCG 1997), and adds the fit to `b`. Fitting levels double the
//! B-spline mesh (1, 2, 4, 8 spans per axis by default), so the field grows detail only as it
//! needs. Work is done on a grid shrunk by `shrink`; the fitted B-splines are evaluated at the
//! full resolution at the end, so the field is smooth and defined everywhere.
//!
//! Hand-written (ITK's N4 is C++; no Rust crate has it); the FFT is rustfft's.

use crate::volume::Volume;
use ndarray::{Array3, Zip};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// N4's parameters, with ITK's defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// Work on a grid this many times coarser per axis.
    pub shrink: usize,
    /// Most iterations at each fitting level (the number of levels is its length).
    pub iterations: Vec<usize>,
    /// A level stops when the field changes by less than this (coefficient of variation of the
    /// ratio of successive fields in the mask).
    pub convergence: f64,
    /// Histogram bins.
    pub bins: usize,
    /// FWHM of the Gaussian the histogram is deconvolved with (log intensity).
    pub fwhm: f64,
    /// Wiener filter noise.
    pub wiener_noise: f64,
    /// B-spline spans per axis at the first level.
    pub mesh: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            shrink: 4,
            iterations: vec![50, 50, 50, 50],
            convergence: 0.001,
            bins: 200,
            fwhm: 0.15,
            wiener_noise: 0.01,
            mesh: 1,
        }
    }
}

/// The corrected image and the field that was divided out.
#[derive(Clone, Debug)]
pub struct Correction {
    /// `image / field`.
    pub corrected: Volume<f32>,
    /// The multiplicative field (geometric mean 1 in the mask).
    pub field: Volume<f32>,
    /// Iterations run at each level.
    pub iterations: Vec<usize>,
}

/// Why N4 cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BiasError {
    /// The mask is not the image's shape.
    #[error("the mask has shape {mask:?}, the image {image:?}")]
    MaskShape {
        /// Mask shape.
        mask: [usize; 3],
        /// Image shape.
        image: [usize; 3],
    },
    /// Too few usable voxels.
    #[error(
        "only {0} voxels of the mask hold positive intensities: N4 works on the logarithm of the image, so it needs positive voxels in the mask (at least 100)"
    )]
    TooFew(usize),
    /// Bad options.
    #[error("N4 options: {0}")]
    Options(&'static str),
    /// All masked voxels have one value.
    #[error("every voxel of the mask has the same intensity: there is no histogram to sharpen")]
    Flat,
}

/// Corrects `image`; the field is estimated from the voxels of `mask` (default: every voxel
/// above zero) that are positive.
pub fn n4(
    image: &Volume<f32>,
    mask: Option<&Array3<bool>>,
    options: &Options,
) -> Result<Correction, BiasError> {
    n4_guarded(image, mask, options, |_, _| true)
}

/// [`n4`], with the result of each fitting level offered to `keep` (the level's index from 0,
/// and the corrected intensities of the shrunk grid's voxels in the mask): a level it refuses is
/// undone and no finer one is fitted (`Correction::iterations` is then shorter than the levels
/// asked for). A caller that knows what the image holds can so stop a finer level that fits
/// anatomy instead of bias (tissue segmentation: one that shrinks the tissue contrast).
pub fn n4_guarded(
    image: &Volume<f32>,
    mask: Option<&Array3<bool>>,
    options: &Options,
    mut keep: impl FnMut(usize, &[f32]) -> bool,
) -> Result<Correction, BiasError> {
    if options.shrink == 0
        || options.iterations.is_empty()
        || options.bins < 10
        || options.mesh == 0
    {
        return Err(BiasError::Options(
            "shrink, mesh and at least one level are needed, and 10 or more bins",
        ));
    }
    if !(options.fwhm > 0.0 && options.wiener_noise > 0.0 && options.convergence >= 0.0) {
        return Err(BiasError::Options(
            "the FWHM and the Wiener noise must be positive",
        ));
    }
    let dims = image.geometry.dims;
    if let Some(m) = mask {
        let s = m.shape();
        if [s[0], s[1], s[2]] != dims {
            return Err(BiasError::MaskShape {
                mask: [s[0], s[1], s[2]],
                image: dims,
            });
        }
    }
    let usable = |ijk: (usize, usize, usize), v: f32| -> bool {
        v > 0.0 && v.is_finite() && mask.is_none_or(|m| m[ijk])
    };
    // The shrunk grid, as ITK's shrink filter makes it: voxel (I, J, K) is the voxel near the
    // middle of its block, `f·I + (f − 1)/2` (clamped to the grid). Averaging blocks instead
    // would blur the histogram that the sharpening works on.
    let f = options.shrink;
    let small: [usize; 3] = std::array::from_fn(|a| dims[a].div_ceil(f));
    let centre = |a: usize, n: usize| (f * n + (f - 1) / 2).min(dims[a] - 1);
    let mut inside = Array3::<bool>::from_elem(small, false);
    let mut log_image = Array3::<f64>::zeros(small);
    for ((i, j, k), x) in inside.indexed_iter_mut() {
        let at = (centre(0, i), centre(1, j), centre(2, k));
        let v = image.data[[at.0, at.1, at.2]];
        if usable(at, v) {
            *x = true;
            log_image[[i, j, k]] = f64::from(v).ln();
        }
    }
    let n_inside = inside.iter().filter(|x| **x).count();
    if n_inside < 100 {
        return Err(BiasError::TooFew(n_inside));
    }
    let points: Vec<[usize; 3]> = inside
        .indexed_iter()
        .filter(|(_, x)| **x)
        .map(|((i, j, k), _)| [i, j, k])
        .collect();
    let values: Vec<f64> = points.iter().map(|p| log_image[*p]).collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    if hi - lo < 1e-9 {
        return Err(BiasError::Flat);
    }

    // The log field at the points, and the B-spline lattices that make it (one per fit).
    let mut field = vec![0.0f64; points.len()];
    let mut lattices: Vec<Lattice> = Vec::new();
    let mut iterations = Vec::new();
    let mut planner = FftPlanner::<f64>::new();
    for (level, &most) in options.iterations.iter().enumerate() {
        let before = field.clone();
        let mesh = options.mesh << level;
        let mut lattice = Lattice::zeros(mesh, small);
        let mut done = 0;
        while done < most {
            let estimate: Vec<f64> = values.iter().zip(&field).map(|(u, b)| u - b).collect();
            let sharpened = sharpen(&estimate, options, &mut planner);
            let mut residual: Vec<f64> = estimate
                .iter()
                .zip(&sharpened)
                .map(|(e, s)| e - s)
                .collect();
            // A constant part of the residual only rescales the image, and the approximation
            // fits constants slowly and unevenly near the lattice's edges: fit the variation.
            let mean = residual.iter().sum::<f64>() / residual.len() as f64;
            residual.iter_mut().for_each(|r| *r -= mean);
            let fit = Lattice::fit(mesh, small, &points, &residual);
            let step: Vec<f64> = points.iter().map(|p| fit.at(*p)).collect();
            lattice.add(&fit);
            for (b, s) in field.iter_mut().zip(&step) {
                *b += s;
            }
            done += 1;
            if variation(&step) < options.convergence {
                break;
            }
        }
        let corrected: Vec<f32> = values
            .iter()
            .zip(&field)
            .map(|(u, b)| (u - b).exp() as f32)
            .collect();
        if !keep(level, &corrected) {
            field = before;
            break;
        }
        iterations.push(done);
        lattices.push(lattice);
    }
    // The field at full resolution, scaled to geometric mean 1 over the points.
    let mean_log: f64 = field.iter().sum::<f64>() / field.len() as f64;
    let mut log_field = Array3::<f64>::from_elem(dims, -mean_log);
    for l in &lattices {
        l.add_evaluated(&mut log_field, f);
    }
    let field_f32 = log_field.mapv(|b| b.exp() as f32);
    let corrected = Zip::from(&image.data)
        .and(&field_f32)
        .map_collect(|v, b| v / b);
    Ok(Correction {
        corrected: Volume {
            data: corrected,
            geometry: image.geometry.clone(),
            source: image.source.clone(),
        },
        field: Volume {
            data: field_f32,
            geometry: image.geometry.clone(),
            source: image.source.clone(),
        },
        iterations,
    })
}

/// Coefficient of variation of `exp(step)`: how much the field changed.
fn variation(step: &[f64]) -> f64 {
    let e: Vec<f64> = step.iter().map(|s| s.exp()).collect();
    let n = e.len() as f64;
    let mean = e.iter().sum::<f64>() / n;
    let var = e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    var.sqrt() / mean
}

/// N3/N4's histogram sharpening: each value mapped to its expected true value given the
/// histogram deconvolved by a Gaussian (Wiener filter).
fn sharpen(values: &[f64], o: &Options, planner: &mut FftPlanner<f64>) -> Vec<f64> {
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let bins = o.bins;
    let slope = (hi - lo) / (bins - 1) as f64;
    if slope <= 0.0 {
        return values.to_vec();
    }
    // Histogram with linear interpolation between bins.
    let mut histogram = vec![0.0f64; bins];
    for v in values {
        let c = (v - lo) / slope;
        let i = (c.floor() as usize).min(bins - 1);
        let w = c - i as f64;
        histogram[i] += 1.0 - w;
        if i + 1 < bins {
            histogram[i + 1] += w;
        }
    }
    let size = (2 * bins).next_power_of_two();
    let offset = (size - bins) / 2;
    let fft = planner.plan_fft_forward(size);
    let ifft = planner.plan_fft_inverse(size);
    let transform = |x: &[f64]| -> Vec<Complex<f64>> {
        let mut buf: Vec<Complex<f64>> = x.iter().map(|v| Complex::new(*v, 0.0)).collect();
        fft.process(&mut buf);
        buf
    };
    let inverse = |mut buf: Vec<Complex<f64>>| -> Vec<f64> {
        ifft.process(&mut buf);
        buf.iter().map(|c| c.re / size as f64).collect()
    };
    let mut padded = vec![0.0; size];
    padded[offset..offset + bins].copy_from_slice(&histogram);
    let v = transform(&padded);
    // The Gaussian, centred at index 0 (wrapped), unit area in bin units.
    let fwhm = o.fwhm / slope;
    let exp_factor = 4.0 * std::f64::consts::LN_2 / (fwhm * fwhm);
    let scale = 2.0 * (std::f64::consts::LN_2 / std::f64::consts::PI).sqrt() / fwhm;
    let mut gaussian = vec![0.0; size];
    for (n, g) in gaussian.iter_mut().enumerate().take(size / 2 + 1) {
        *g = scale * (-exp_factor * (n * n) as f64).exp();
    }
    for n in 1..size / 2 {
        gaussian[size - n] = gaussian[n];
    }
    let ff = transform(&gaussian);
    // Wiener deconvolution: U = V · conj(F) / (|F|² + noise).
    let u_hat: Vec<Complex<f64>> = v
        .iter()
        .zip(&ff)
        .map(|(v, f)| v * f.conj() / (f.norm_sqr() + o.wiener_noise))
        .collect();
    let u: Vec<f64> = inverse(u_hat).into_iter().map(|x| x.max(0.0)).collect();
    // E[û | u] per bin: (F ∗ (x · U)) / (F ∗ U).
    let x_of = |n: usize| lo + (n as f64 - offset as f64) * slope;
    let xu: Vec<f64> = u.iter().enumerate().map(|(n, p)| p * x_of(n)).collect();
    let num = inverse(transform(&xu).iter().zip(&ff).map(|(a, b)| a * b).collect());
    let den = inverse(transform(&u).iter().zip(&ff).map(|(a, b)| a * b).collect());
    let expected: Vec<f64> = (0..bins)
        .map(|b| {
            let n = b + offset;
            if den[n].abs() > 1e-12 {
                num[n] / den[n]
            } else {
                x_of(n)
            }
        })
        .collect();
    values
        .iter()
        .map(|v| {
            let c = (v - lo) / slope;
            let i = (c.floor() as usize).min(bins - 1);
            let w = c - i as f64;
            if i + 1 < bins {
                expected[i] * (1.0 - w) + expected[i + 1] * w
            } else {
                expected[i]
            }
        })
        .collect()
}

/// A tensor-product cubic B-spline over the shrunk grid: `mesh` spans per axis, so `mesh + 3`
/// control values per axis.
#[derive(Clone, Debug)]
struct Lattice {
    mesh: usize,
    /// The shrunk grid it spans (its voxel 0 at parameter 0, voxel n − 1 at `mesh`).
    grid: [usize; 3],
    phi: Array3<f64>,
}

/// The cubic B-spline's four weights at fraction `u` of a span.
fn weights(u: f64) -> [f64; 4] {
    let v = 1.0 - u;
    [
        v * v * v / 6.0,
        (3.0 * u * u * u - 6.0 * u * u + 4.0) / 6.0,
        (-3.0 * u * u * u + 3.0 * u * u + 3.0 * u + 1.0) / 6.0,
        u * u * u / 6.0,
    ]
}

/// The span and weights of a (possibly fractional) shrunk-grid coordinate `x` on an axis of
/// `n` voxels and `mesh` spans.
fn span(x: f64, n: usize, mesh: usize) -> (usize, [f64; 4]) {
    let t = if n > 1 {
        (x / (n - 1) as f64).clamp(0.0, 1.0) * mesh as f64
    } else {
        0.0
    };
    let s = (t.floor() as usize).min(mesh - 1);
    (s, weights(t - s as f64))
}

impl Lattice {
    fn zeros(mesh: usize, grid: [usize; 3]) -> Self {
        Self {
            mesh,
            grid,
            phi: Array3::zeros((mesh + 3, mesh + 3, mesh + 3)),
        }
    }

    /// Lee, Wolberg and Shin's single-level B-spline approximation of values at points.
    fn fit(mesh: usize, grid: [usize; 3], points: &[[usize; 3]], values: &[f64]) -> Self {
        let shape = (mesh + 3, mesh + 3, mesh + 3);
        let mut num = Array3::<f64>::zeros(shape);
        let mut den = Array3::<f64>::zeros(shape);
        for (p, z) in points.iter().zip(values) {
            let s: [(usize, [f64; 4]); 3] =
                std::array::from_fn(|a| span(p[a] as f64, grid[a], mesh));
            let sum_sq: f64 = (0..3)
                .map(|a| s[a].1.iter().map(|w| w * w).sum::<f64>())
                .product();
            for (a, wa) in s[0].1.iter().enumerate() {
                for (b, wb) in s[1].1.iter().enumerate() {
                    for (c, wc) in s[2].1.iter().enumerate() {
                        let w = wa * wb * wc;
                        let delta = w * z / sum_sq;
                        let at = [s[0].0 + a, s[1].0 + b, s[2].0 + c];
                        num[at] += w * w * delta;
                        den[at] += w * w;
                    }
                }
            }
        }
        let phi = Zip::from(&num)
            .and(&den)
            .map_collect(|n, d| if *d > 0.0 { n / d } else { 0.0 });
        Self { mesh, grid, phi }
    }

    fn add(&mut self, other: &Lattice) {
        self.phi += &other.phi;
    }

    /// The spline's value at a shrunk-grid voxel.
    fn at(&self, p: [usize; 3]) -> f64 {
        self.value([p[0] as f64, p[1] as f64, p[2] as f64])
    }

    fn value(&self, x: [f64; 3]) -> f64 {
        let s: [(usize, [f64; 4]); 3] =
            std::array::from_fn(|a| span(x[a], self.grid[a], self.mesh));
        let mut v = 0.0;
        for (a, wa) in s[0].1.iter().enumerate() {
            for (b, wb) in s[1].1.iter().enumerate() {
                for (c, wc) in s[2].1.iter().enumerate() {
                    v += wa * wb * wc * self.phi[[s[0].0 + a, s[1].0 + b, s[2].0 + c]];
                }
            }
        }
        v
    }

    /// Adds the spline's values at every full-resolution voxel (voxel `i` sits at shrunk
    /// coordinate `(i − (shrink − 1)/2) / shrink`), separably: one axis at a time.
    fn add_evaluated(&self, out: &mut Array3<f64>, shrink: usize) {
        let dims = out.dim();
        let dims = [dims.0, dims.1, dims.2];
        let axis = |a: usize| -> Vec<(usize, [f64; 4])> {
            (0..dims[a])
                .map(|i| {
                    let x = (i as f64 - ((shrink - 1) / 2) as f64) / shrink as f64;
                    span(x.max(0.0), self.grid[a], self.mesh)
                })
                .collect()
        };
        let (ax, ay, az) = (axis(0), axis(1), axis(2));
        let m = self.mesh + 3;
        // Contract z, then y, then x.
        let mut t1 = Array3::<f64>::zeros((m, m, dims[2]));
        for a in 0..m {
            for b in 0..m {
                for (k, (s, w)) in az.iter().enumerate() {
                    t1[[a, b, k]] = (0..4).map(|c| w[c] * self.phi[[a, b, s + c]]).sum();
                }
            }
        }
        let mut t2 = Array3::<f64>::zeros((m, dims[1], dims[2]));
        for a in 0..m {
            for (j, (s, w)) in ay.iter().enumerate() {
                for k in 0..dims[2] {
                    t2[[a, j, k]] = (0..4).map(|b| w[b] * t1[[a, s + b, k]]).sum();
                }
            }
        }
        Zip::indexed(out).par_for_each(|(i, j, k), v| {
            let (s, w) = &ax[i];
            *v += (0..4).map(|a| w[a] * t2[[s + a, j, k]]).sum::<f64>();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spline_weights_sum_to_one_and_refitting_what_is_left_closes_in_on_the_data() {
        for u in [0.0, 0.25, 0.5, 0.9, 1.0] {
            assert!((weights(u).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // One approximation is not an interpolation (Lee et al.): each fit takes part of what
        // is left, mostly in the middle of the lattice; N4's iterations fit again what is left.
        let grid = [10, 12, 8];
        let points: Vec<[usize; 3]> = (0..10)
            .flat_map(|i| (0..12).flat_map(move |j| (0..8).map(move |k| [i, j, k])))
            .collect();
        let truth = |p: &[usize; 3]| 0.7 + 0.02 * p[0] as f64 - 0.01 * p[2] as f64;
        for mesh in [1, 2, 4] {
            let mut total = Lattice::zeros(mesh, grid);
            let mut largest = Vec::new();
            for _ in 0..30 {
                let residual: Vec<f64> = points.iter().map(|p| truth(p) - total.at(*p)).collect();
                largest.push(residual.iter().fold(0.0f64, |m, r| m.max(r.abs())));
                total.add(&Lattice::fit(mesh, grid, &points, &residual));
            }
            assert!(largest[29] < 0.15 * largest[0], "mesh {mesh}: {largest:?}");
        }
    }

    #[test]
    fn full_resolution_evaluation_matches_pointwise_values() {
        let grid = [6, 5, 4];
        let points: Vec<[usize; 3]> = (0..6)
            .flat_map(|i| (0..5).flat_map(move |j| (0..4).map(move |k| [i, j, k])))
            .collect();
        let values: Vec<f64> = points
            .iter()
            .map(|p| (p[0] as f64 * 0.3).sin() + 0.1 * p[1] as f64 - 0.05 * p[2] as f64)
            .collect();
        let l = Lattice::fit(2, grid, &points, &values);
        let mut out = Array3::<f64>::zeros((12, 10, 8));
        l.add_evaluated(&mut out, 2);
        for (i, j, k) in [(0, 0, 0), (5, 4, 3), (11, 9, 7), (7, 2, 6)] {
            let x = [i, j, k].map(|v| (v as f64 / 2.0).max(0.0));
            assert!((out[[i, j, k]] - l.value(x)).abs() < 1e-12);
        }
    }
}
