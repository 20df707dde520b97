//! Moran's I and Geary's C (IBSI 1 ch. 3.1.24–25) with inverse-distance weights over every
//! pair of ROI voxels, exactly, in O(n log n): the sums over pairs are convolutions of the ROI
//! (and its centred intensities) with the kernel 1/|r|, done by FFT (rustfft) on a grid padded
//! so that nothing wraps. A pairwise loop would be quadratic: 8·10⁹ pairs for the IBSI CT
//! phantom's tumour.

use super::roi::Roi;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// (Moran's I, Geary's C) of the intensity mask.
pub fn moran_geary(roi: &Roi) -> (f64, f64) {
    // The intensity mask's bounding box.
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for k in 0..roi.dims[2] {
        for j in 0..roi.dims[1] {
            for i in 0..roi.dims[0] {
                if roi.inten[roi.at(i, j, k)] {
                    for (a, v) in [i, j, k].into_iter().enumerate() {
                        lo[a] = lo[a].min(v);
                        hi[a] = hi[a].max(v);
                    }
                }
            }
        }
    }
    let n: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a] + 1);
    // Padded so that nothing wraps (≥ 2n − 1), rounded up to a size with factors 2, 3 and 5
    // only, which rustfft transforms fastest.
    let p: [usize; 3] = std::array::from_fn(|a| smooth(2 * n[a] - 1));
    let len = p[0] * p[1] * p[2];
    let at = |i: usize, j: usize, k: usize| i + p[0] * (j + p[1] * k);

    let values = roi.values();
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    // The kernel 1/|r| (mm) at every offset, wrapped; 0 at the origin. It is real and even, so
    // its transform is real: the ROI (real part) and its centred intensities (imaginary part)
    // are convolved with it in one transform pair.
    let mut buffer = vec![Complex::new(0.0, 0.0); len];
    let off = |x: usize, a: usize| -> f64 {
        let d = if x < n[a] {
            x as f64
        } else {
            x as f64 - p[a] as f64
        };
        d * roi.spacing[a]
    };
    for k in 0..p[2] {
        for j in 0..p[1] {
            for i in 0..p[0] {
                let r2 = off(i, 0).powi(2) + off(j, 1).powi(2) + off(k, 2).powi(2);
                if r2 > 0.0 {
                    buffer[at(i, j, k)].re = 1.0 / r2.sqrt();
                }
            }
        }
    }
    let mut fft = Fft3::new(p);
    fft.run(&mut buffer, false);
    let kernel: Vec<f64> = buffer.iter().map(|c| c.re).collect();
    // The ROI's voxels: (padded index, centred intensity).
    let mut voxels = Vec::with_capacity(values.len());
    buffer.fill(Complex::new(0.0, 0.0));
    for k in 0..n[2] {
        for j in 0..n[1] {
            for i in 0..n[0] {
                let src = roi.at(lo[0] + i, lo[1] + j, lo[2] + k);
                if roi.inten[src] {
                    let x = roi.image[src] - mean;
                    buffer[at(i, j, k)] = Complex::new(1.0, x);
                    voxels.push((at(i, j, k), x));
                }
            }
        }
    }
    fft.run(&mut buffer, false);
    for (x, k) in buffer.iter_mut().zip(&kernel) {
        *x *= *k;
    }
    fft.run(&mut buffer, true);
    let scale = 1.0 / len as f64;
    let (mut w, mut moran, mut geary, mut ss) = (0.0, 0.0, 0.0, 0.0);
    for (at, x) in voxels {
        // Σ_j w_ij over ROI voxels j, and Σ_j w_ij (x_j − μ).
        let (sw, swx) = (buffer[at].re * scale, buffer[at].im * scale);
        w += sw;
        moran += x * swx;
        geary += 2.0 * x * x * sw - 2.0 * x * swx;
        ss += x * x;
    }
    if ss == 0.0 || w == 0.0 {
        return (0.0, 0.0);
    }
    (
        count / w * moran / ss,
        (count - 1.0) / (2.0 * w) * geary / ss,
    )
}

/// The smallest number ≥ `n` whose only prime factors are 2, 3 and 5.
fn smooth(n: usize) -> usize {
    (n.max(1)..)
        .find(|&m| {
            let mut m = m;
            for f in [2, 3, 5] {
                while m % f == 0 {
                    m /= f;
                }
            }
            m == 1
        })
        .unwrap_or(n)
}

/// A 3D FFT by 1D transforms along each axis (`i` fastest).
struct Fft3 {
    dims: [usize; 3],
    forward: [Arc<dyn Fft<f64>>; 3],
    inverse: [Arc<dyn Fft<f64>>; 3],
}

impl Fft3 {
    fn new(dims: [usize; 3]) -> Self {
        let mut planner = FftPlanner::new();
        Self {
            dims,
            forward: dims.map(|d| planner.plan_fft_forward(d)),
            inverse: dims.map(|d| planner.plan_fft_inverse(d)),
        }
    }

    fn run(&mut self, data: &mut [Complex<f64>], inverse: bool) {
        use rayon::prelude::*;
        let [nx, ny, nz] = self.dims;
        let plans = if inverse {
            &self.inverse
        } else {
            &self.forward
        };
        // Along i: contiguous rows, in parallel.
        data.par_chunks_mut(nx * 16)
            .for_each(|rows| plans[0].process(rows));
        // Along j: within each slab of constant k, in parallel over slabs.
        data.par_chunks_mut(nx * ny).for_each(|slab| {
            let mut line = vec![Complex::new(0.0, 0.0); ny];
            for i in 0..nx {
                for j in 0..ny {
                    line[j] = slab[i + nx * j];
                }
                plans[1].process(&mut line);
                for j in 0..ny {
                    slab[i + nx * j] = line[j];
                }
            }
        });
        // Along k: lines gathered in batches, transformed in parallel, put back.
        let plane = nx * ny;
        for start in (0..plane).step_by(4096) {
            let end = (start + 4096).min(plane);
            let lines: Vec<Vec<Complex<f64>>> = (start..end)
                .into_par_iter()
                .map(|ij| {
                    let mut line: Vec<Complex<f64>> =
                        (0..nz).map(|k| data[ij + plane * k]).collect();
                    plans[2].process(&mut line);
                    line
                })
                .collect();
            for (ij, line) in (start..end).zip(lines) {
                for (k, v) in line.into_iter().enumerate() {
                    data[ij + plane * k] = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_image::{Geometry, Volume};
    use ndarray::Array3;

    /// The pairwise definition, for small ROIs.
    fn pairwise(roi: &Roi) -> (f64, f64) {
        let mut pts = Vec::new();
        for k in 0..roi.dims[2] {
            for j in 0..roi.dims[1] {
                for i in 0..roi.dims[0] {
                    let n = roi.at(i, j, k);
                    if roi.inten[n] {
                        let p = [i, j, k].map(|x| x as f64);
                        pts.push((
                            [
                                p[0] * roi.spacing[0],
                                p[1] * roi.spacing[1],
                                p[2] * roi.spacing[2],
                            ],
                            roi.image[n],
                        ));
                    }
                }
            }
        }
        let n = pts.len() as f64;
        let mean = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let (mut w, mut a, mut c) = (0.0, 0.0, 0.0);
        for (pi, xi) in &pts {
            for (pj, xj) in &pts {
                let d =
                    ((pi[0] - pj[0]).powi(2) + (pi[1] - pj[1]).powi(2) + (pi[2] - pj[2]).powi(2))
                        .sqrt();
                if d > 0.0 {
                    w += 1.0 / d;
                    a += (xi - mean) * (xj - mean) / d;
                    c += (xi - xj).powi(2) / d;
                }
            }
        }
        let ss: f64 = pts.iter().map(|p| (p.1 - mean).powi(2)).sum();
        (n / w * a / ss, (n - 1.0) / (2.0 * w) * c / ss)
    }

    #[test]
    fn the_fft_sums_equal_the_pairwise_ones() {
        let dims = [9, 7, 5];
        let g = Geometry::axis_aligned(dims, [0.0; 3], [0.8, 1.1, 2.5]);
        let image = Array3::from_shape_fn(dims, |(i, j, k)| {
            ((i * 7 + j * 3 + k * 11) % 13) as f32 + (i as f32) * 0.5
        });
        let mask = Array3::from_shape_fn(dims, |(i, j, k)| {
            let r = (i as f32 - 4.0).powi(2)
                + (j as f32 - 3.0).powi(2)
                + (k as f32 - 2.0).powi(2) * 2.0;
            if r < 14.0 { 1.0 } else { 0.0 }
        });
        let roi = Roi::new(
            &Volume::new(image, g.clone()).unwrap(),
            &Volume::new(mask, g).unwrap(),
            0.5,
            0.0,
        )
        .unwrap();
        let (i, c) = moran_geary(&roi);
        let (pi, pc) = pairwise(&roi);
        assert!((i - pi).abs() < 1e-9, "{i} {pi}");
        assert!((c - pc).abs() < 1e-9, "{c} {pc}");
    }
}
