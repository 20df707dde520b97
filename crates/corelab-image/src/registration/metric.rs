//! The similarity of the fixed image and the moving image seen through a transform, and its
//! gradient by the transform's parameters, over a fixed set of sample points.
//!
//! - Mean squares: `(1/n) Σ (M(T(x)) − F(x))²`.
//! - Mattes mutual information (Mattes et al., IEEE TMI 2003): a joint histogram with a
//!   zero-order (box) Parzen window on the fixed intensities and a cubic B-spline one on the
//!   moving, so the value is differentiable; the cost is −MI.
//!
//! Hand-written because no maintained Rust crate does image registration. The sums run over fixed
//! chunks of samples, in parallel, and are added in chunk order: the same inputs give the same
//! result bit for bit, whatever the number of threads.

use super::transform::Model;
use nalgebra::{Matrix3, Matrix4, Vector3, Vector4};
use rayon::prelude::*;

/// Which similarity is optimised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Mean squared intensity difference (same modality, same intensity scale).
    MeanSquares,
    /// Mattes mutual information with this many histogram bins (any modalities).
    MattesMutualInformation {
        /// Histogram bins per axis (ITK and ANTs use 32).
        bins: usize,
    },
}

/// Bins kept free at each end of the moving axis for the B-spline window.
const PADDING: usize = 2;
const CHUNK: usize = 4096;

/// The moving image of one pyramid level, ready to be sampled.
pub(crate) struct Moving {
    /// Intensities, C order (`[i][j][k]`, `k` fastest).
    pub values: Vec<f32>,
    /// The physical (LPS) gradient, interleaved x, y, z per voxel.
    pub gradient: Vec<[f32; 3]>,
    pub dims: [usize; 3],
    /// LPS → voxel index.
    pub to_index: Matrix4<f64>,
    pub range: (f32, f32),
}

/// One sample: a fixed-image point and its value.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    pub x: Vector3<f64>,
    pub f: f32,
}

/// What an evaluation gives: the cost to minimise, its gradient by the parameters, and how many
/// samples fell inside the moving image.
pub(crate) struct Evaluation {
    pub cost: f64,
    pub gradient: Vec<f64>,
    pub valid: usize,
}

/// The moving value and physical gradient at an LPS point, or `None` outside the image.
#[inline]
fn sample_moving(
    m: &Moving,
    to_index: &Matrix4<f64>,
    x: &Vector3<f64>,
) -> Option<(f32, Vector3<f64>)> {
    let v = to_index * Vector4::new(x[0], x[1], x[2], 1.0);
    let [ni, nj, nk] = m.dims;
    let inside = |c: f64, n: usize| c >= 0.0 && c <= (n - 1) as f64;
    if !(inside(v[0], ni) && inside(v[1], nj) && inside(v[2], nk)) {
        return None;
    }
    let i0 = (v[0].floor() as usize).min(ni.saturating_sub(2));
    let j0 = (v[1].floor() as usize).min(nj.saturating_sub(2));
    let k0 = (v[2].floor() as usize).min(nk.saturating_sub(2));
    let (fx, fy, fz) = (v[0] - i0 as f64, v[1] - j0 as f64, v[2] - k0 as f64);
    let (si, sj) = (nj * nk, nk);
    let mut value = 0.0f64;
    let mut grad = Vector3::zeros();
    for (di, wx) in [(0usize, 1.0 - fx), (1, fx)] {
        if di == 1 && ni == 1 {
            continue;
        }
        for (dj, wy) in [(0usize, 1.0 - fy), (1, fy)] {
            if dj == 1 && nj == 1 {
                continue;
            }
            for (dk, wz) in [(0usize, 1.0 - fz), (1, fz)] {
                if dk == 1 && nk == 1 {
                    continue;
                }
                let w = wx * wy * wz;
                let at = (i0 + di) * si + (j0 + dj) * sj + k0 + dk;
                value += w * f64::from(m.values[at]);
                let g = m.gradient[at];
                grad += w * Vector3::new(f64::from(g[0]), f64::from(g[1]), f64::from(g[2]));
            }
        }
    }
    Some((value as f32, grad))
}

/// The cubic B-spline and its derivative.
#[inline]
fn bspline3(u: f64) -> (f64, f64) {
    let a = u.abs();
    if a < 1.0 {
        (
            (4.0 - 6.0 * a * a + 3.0 * a * a * a) / 6.0,
            -2.0 * u + 1.5 * u * a,
        )
    } else if a < 2.0 {
        let t = 2.0 - a;
        (t * t * t / 6.0, -u.signum() * t * t / 2.0)
    } else {
        (0.0, 0.0)
    }
}

/// Evaluates `metric` for parameters `p` of `model` about `center`.
pub(crate) fn evaluate(
    metric: Metric,
    model: Model,
    p: &[f64],
    center: Vector3<f64>,
    samples: &[Sample],
    fixed_range: (f32, f32),
    moving: &Moving,
) -> Evaluation {
    let transform = model.transform(p, center).to_matrix4();
    let to_index = moving.to_index * transform;
    let rotation = model.rotation_derivatives(p);
    let n = model.len();
    match metric {
        Metric::MeanSquares => {
            let partials: Vec<(f64, Vec<f64>, usize)> = samples
                .par_chunks(CHUNK)
                .map(|chunk| {
                    let mut sum = 0.0;
                    let mut grad = vec![0.0; n];
                    let mut projected = vec![0.0; n];
                    let mut valid = 0;
                    for s in chunk {
                        let Some((m, g)) = sample_moving(moving, &to_index, &s.x) else {
                            continue;
                        };
                        valid += 1;
                        let diff = f64::from(m) - f64::from(s.f);
                        sum += diff * diff;
                        model.project(&rotation, g, s.x - center, &mut projected);
                        for (a, b) in grad.iter_mut().zip(&projected) {
                            *a += 2.0 * diff * b;
                        }
                    }
                    (sum, grad, valid)
                })
                .collect();
            let mut cost = 0.0;
            let mut gradient = vec![0.0; n];
            let mut valid = 0;
            for (s, g, v) in partials {
                cost += s;
                valid += v;
                gradient.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            }
            let scale = 1.0 / valid.max(1) as f64;
            Evaluation {
                cost: cost * scale,
                gradient: gradient.into_iter().map(|g| g * scale).collect(),
                valid,
            }
        }
        Metric::MattesMutualInformation { bins } => mattes(
            bins,
            model,
            &rotation,
            center,
            samples,
            fixed_range,
            moving,
            &to_index,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn mattes(
    bins: usize,
    model: Model,
    rotation: &[Matrix3<f64>; 3],
    center: Vector3<f64>,
    samples: &[Sample],
    fixed_range: (f32, f32),
    moving: &Moving,
    to_index: &Matrix4<f64>,
) -> Evaluation {
    let n = model.len();
    let (fmin, fmax) = (f64::from(fixed_range.0), f64::from(fixed_range.1));
    let (mmin, mmax) = (f64::from(moving.range.0), f64::from(moving.range.1));
    let fixed_width = (fmax - fmin) / (bins - 2 * PADDING) as f64;
    let moving_width = (mmax - mmin) / (bins - 2 * PADDING - 1) as f64;
    let fixed_bin = |f: f32| -> usize {
        let b = ((f64::from(f) - fmin) / fixed_width).floor() as isize + PADDING as isize;
        b.clamp(PADDING as isize, (bins - PADDING - 1) as isize) as usize
    };
    // Pass 1: where each sample falls, and the joint histogram.
    struct Seen {
        fixed: usize,
        term: f64,
        gradient: Vector3<f64>,
        x: Vector3<f64>,
    }
    let seen: Vec<Vec<Seen>> = samples
        .par_chunks(CHUNK)
        .map(|chunk| {
            chunk
                .iter()
                .filter_map(|s| {
                    let (m, g) = sample_moving(moving, to_index, &s.x)?;
                    let term = (f64::from(m) - mmin) / moving_width + PADDING as f64;
                    Some(Seen {
                        fixed: fixed_bin(s.f),
                        term,
                        gradient: g,
                        x: s.x,
                    })
                })
                .collect()
        })
        .collect();
    let valid: usize = seen.iter().map(Vec::len).sum();
    let mut joint = vec![0.0f64; bins * bins];
    for chunk in &seen {
        for s in chunk {
            let k0 = s.term.floor() as isize;
            for k in (k0 - 1)..=(k0 + 2) {
                if k < 0 || k as usize >= bins {
                    continue;
                }
                let (w, _) = bspline3(k as f64 - s.term);
                joint[s.fixed * bins + k as usize] += w;
            }
        }
    }
    let total: f64 = joint.iter().sum();
    if total <= 0.0 {
        return Evaluation {
            cost: 0.0,
            gradient: vec![0.0; n],
            valid,
        };
    }
    joint.iter_mut().for_each(|p| *p /= total);
    let mut fixed_marginal = vec![0.0; bins];
    let mut moving_marginal = vec![0.0; bins];
    for i in 0..bins {
        for k in 0..bins {
            fixed_marginal[i] += joint[i * bins + k];
            moving_marginal[k] += joint[i * bins + k];
        }
    }
    const TINY: f64 = 1e-16;
    let mut mi = 0.0;
    // log(p(i,k) / pM(k)): the weight each bin gives the derivative.
    let mut log_ratio = vec![0.0; bins * bins];
    for i in 0..bins {
        for k in 0..bins {
            let p = joint[i * bins + k];
            if p > TINY && moving_marginal[k] > TINY && fixed_marginal[i] > TINY {
                mi += p * (p / (fixed_marginal[i] * moving_marginal[k])).ln();
                log_ratio[i * bins + k] = (p / moving_marginal[k]).ln();
            }
        }
    }
    // Pass 2: dMI/dμ = Σ_{i,k} ∂p(i,k)/∂μ · log(p(i,k)/pM(k)), with
    // ∂p(i,k)/∂μ = −(1/N) Σ_x β3'(k − term(x)) / width · ∇M(T(x)) · ∂T/∂μ.
    let partials: Vec<Vec<f64>> = seen
        .par_iter()
        .map(|chunk| {
            let mut grad = vec![0.0; n];
            let mut projected = vec![0.0; n];
            for s in chunk {
                let k0 = s.term.floor() as isize;
                let mut weight = 0.0;
                for k in (k0 - 1)..=(k0 + 2) {
                    if k < 0 || k as usize >= bins {
                        continue;
                    }
                    let (_, dw) = bspline3(k as f64 - s.term);
                    weight += dw * log_ratio[s.fixed * bins + k as usize];
                }
                if weight == 0.0 {
                    continue;
                }
                model.project(rotation, s.gradient, s.x - center, &mut projected);
                // d term/dμ = ∇M·∂T/∂μ / width; d β3(k − term)/dμ = −β3'(k − term) · that.
                for (a, b) in grad.iter_mut().zip(&projected) {
                    *a -= weight * b;
                }
            }
            grad
        })
        .collect();
    let mut gradient = vec![0.0; n];
    for g in partials {
        gradient.iter_mut().zip(g).for_each(|(a, b)| *a += b);
    }
    let scale = 1.0 / (total * moving_width);
    Evaluation {
        cost: -mi,
        // The cost is −MI, so its gradient is −dMI/dμ.
        gradient: gradient.into_iter().map(|g| -g * scale).collect(),
        valid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bspline_window_is_a_partition_of_unity_with_the_right_slope() {
        for t in [0.0, 0.3, 0.5, 0.99] {
            let sum: f64 = (-2..=2).map(|k| bspline3(k as f64 - t).0).sum();
            assert!((sum - 1.0).abs() < 1e-12);
            let h = 1e-6;
            let numeric = (bspline3(t + h).0 - bspline3(t - h).0) / (2.0 * h);
            assert!((numeric - bspline3(t).1).abs() < 1e-6);
            let numeric = (bspline3(1.0 + t + h).0 - bspline3(1.0 + t - h).0) / (2.0 * h);
            assert!((numeric - bspline3(1.0 + t).1).abs() < 1e-6);
        }
    }
}
