//! Head motion in a time series (fMRI, DWI): each volume registered rigidly to the first with
//! [`crate::registration`], its motion stated as rotations and a translation about one centre,
//! and Power's framewise displacement (Power et al., NeuroImage 59:2142, 2012) between
//! consecutive volumes. Formulas in `docs/algorithms/qc-metrics.md`.

use super::{QualityError, check_range};
use crate::registration::{self, AffineTransform, Kind, Metric, register};
use crate::volume::Volume;
use nalgebra::{Matrix3, Rotation3, Vector3};

/// How motion is estimated.
#[derive(Clone, Debug)]
pub struct MotionOptions {
    /// The rigid registration of each volume to the first. Its `kind` is forced to rigid; if
    /// its `initial` is `None` each registration starts from the identity about the centre.
    pub registration: registration::Options,
    /// The centre (LPS, mm) the rotations are stated about; `None`: the first volume's
    /// intensity centre of mass (intensities above its minimum).
    pub centre_mm: Option<[f64; 3]>,
    /// The sphere on which rotations become arc lengths (mm); Power et al. use 50.
    pub radius_mm: f64,
    /// After the registration, refine its six parameters by Levenberg–Marquardt on the mean
    /// squared difference of the volumes smoothed by a Gaussian of each of these σ in turn (in
    /// voxels of the finest spacing, coarse to fine); empty: the registration's result as it is.
    pub refine_sigmas_voxels: Vec<f64>,
}

impl Default for MotionOptions {
    /// Mean squares (the volumes share a contrast) at one level of twice the voxel size, 20,000
    /// samples, at most 100 steps; then Levenberg–Marquardt at σ = 2 and 1 voxels; 50 mm.
    fn default() -> Self {
        Self {
            registration: registration::Options {
                kind: Kind::Rigid,
                metric: Metric::MeanSquares,
                shrink: vec![2.0],
                smoothing: vec![1.0],
                samples: 20_000,
                seed: 1,
                iterations: 100,
                step: 1.0,
                min_step: 0.002,
                initial: None,
            },
            centre_mm: None,
            radius_mm: 50.0,
            refine_sigmas_voxels: vec![2.0, 1.0],
        }
    }
}

/// One volume's motion relative to the first.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeMotion {
    /// From 1.
    pub volume: usize,
    /// Rotations about x, y and z (LPS axes, degrees) through the centre, applied x, then y,
    /// then z (`R = Rz·Ry·Rx`).
    pub rotation_deg: [f64; 3],
    /// Translation (mm, LPS) after the rotation.
    pub translation_mm: [f64; 3],
    /// Power's framewise displacement from the previous volume (mm); 0 for the first.
    pub framewise_displacement_mm: f64,
}

/// The motion of a time series.
#[derive(Clone, Debug, PartialEq)]
pub struct Motion {
    /// The centre the rotations are about (LPS, mm).
    pub centre_mm: [f64; 3],
    /// Volume by volume (the first: no motion).
    pub volumes: Vec<VolumeMotion>,
    /// Mean framewise displacement over volumes 2 onwards (mm).
    pub mean_fd_mm: f64,
    /// The largest (mm).
    pub max_fd_mm: f64,
    /// The volume (from 1) where it is largest.
    pub max_fd_volume: usize,
}

/// Registers every volume of `series` to the first and states its motion: a point `x` of the
/// first volume shows the anatomy that volume `v` shows at `R (x − c) + c + t` (LPS, mm), with
/// `c` the centre, `R` the rotation (angles x, y, z applied in that order) and `t` the
/// translation; the framewise displacement of volume `v` is
/// `Σ|Δt| + r · Σ|Δθ|` (θ in radians) against volume `v − 1`.
pub fn framewise_displacement(
    series: &[Volume<f32>],
    options: &MotionOptions,
) -> Result<Motion, QualityError> {
    check_range(
        "radius_mm",
        options.radius_mm,
        1.0,
        1000.0,
        "a sphere radius from 1 to 1000 mm",
    )?;
    let Some(first) = series.first() else {
        return Err(QualityError::TooFewVoxels {
            what: "time series (volumes)",
            found: 0,
            needed: 2,
        });
    };
    if series.len() < 2 {
        return Err(QualityError::TooFewVoxels {
            what: "time series (volumes)",
            found: series.len(),
            needed: 2,
        });
    }
    for (n, v) in series.iter().enumerate().skip(1) {
        if v.geometry.dims != first.geometry.dims {
            return Err(QualityError::ShapeMismatch {
                what: format!("volume {}", n + 1),
                found: v.geometry.dims,
                expected: first.geometry.dims,
            });
        }
        if (v.geometry.affine - first.geometry.affine).abs().max() > 1e-6 {
            return Err(QualityError::Grid {
                volume: n + 1,
                why: "its voxel-to-patient affine differs",
            });
        }
    }
    if let Some(n) = series
        .iter()
        .position(|v| v.data.iter().any(|x| !x.is_finite()))
    {
        return Err(QualityError::Grid {
            volume: n + 1,
            why: "it holds values that are not finite numbers",
        });
    }
    let centre = match options.centre_mm {
        Some(c) if c.iter().all(|x| x.is_finite()) => c,
        Some(c) => {
            return Err(QualityError::Parameter {
                name: "centre_mm",
                value: format!("{c:?}"),
                why: "a point in LPS mm",
            });
        }
        None => centre_of_mass(first),
    };
    for &sigma in &options.refine_sigmas_voxels {
        check_range(
            "refine_sigma_voxels",
            sigma,
            0.0,
            10.0,
            "a smoothing σ from 0 to 10 voxels",
        )?;
    }
    let finest = first
        .geometry
        .spacing()
        .into_iter()
        .fold(f64::MAX, f64::min);
    let mut reg = options.registration.clone();
    reg.kind = Kind::Rigid;
    if reg.initial.is_none() {
        reg.initial = Some(AffineTransform::identity(centre));
    }
    let mut volumes = vec![VolumeMotion {
        volume: 1,
        rotation_deg: [0.0; 3],
        translation_mm: [0.0; 3],
        framewise_displacement_mm: 0.0,
    }];
    for (n, moving) in series.iter().enumerate().skip(1) {
        let r = register(first, moving, &reg).map_err(|source| QualityError::Registration {
            volume: n + 1,
            source,
        })?;
        let about = AffineTransform::from_matrix4(&r.transform.to_matrix4(), centre);
        let (x, y, z) = nearest_rotation(&about.matrix).euler_angles();
        let mut p = [
            x,
            y,
            z,
            about.translation[0],
            about.translation[1],
            about.translation[2],
        ];
        for &sigma in &options.refine_sigmas_voxels {
            p = refine(first, moving, centre, p, sigma * finest);
        }
        let rotation_deg = [p[0], p[1], p[2]].map(f64::to_degrees);
        let translation_mm = [p[3], p[4], p[5]];
        let previous = &volumes[volumes.len() - 1];
        let fd: f64 = (0..3)
            .map(|a| {
                (translation_mm[a] - previous.translation_mm[a]).abs()
                    + options.radius_mm
                        * (rotation_deg[a] - previous.rotation_deg[a])
                            .abs()
                            .to_radians()
            })
            .sum();
        volumes.push(VolumeMotion {
            volume: n + 1,
            rotation_deg,
            translation_mm,
            framewise_displacement_mm: fd,
        });
    }
    let fds: Vec<f64> = volumes
        .iter()
        .map(|v| v.framewise_displacement_mm)
        .collect();
    let (max_index, max_fd_mm) =
        fds.iter().copied().enumerate().fold(
            (0, 0.0),
            |best, (i, f)| if f > best.1 { (i, f) } else { best },
        );
    Ok(Motion {
        centre_mm: centre,
        mean_fd_mm: fds[1..].iter().sum::<f64>() / (fds.len() - 1) as f64,
        max_fd_mm,
        max_fd_volume: max_index + 1,
        volumes,
    })
}

/// A rigid transform `y = R (x − c) + c + t` refined by Levenberg–Marquardt on the mean
/// squared difference of the two volumes, each smoothed by a Gaussian of `sigma_mm`: the
/// regular-step gradient descent of [`register`] stops early along the rotations (a head turning
/// about its own centre changes the image far less than a shift), where a Gauss–Newton step,
/// which uses the curvature, does not.
fn refine(
    fixed: &Volume<f32>,
    moving: &Volume<f32>,
    centre: [f64; 3],
    start: [f64; 6],
    sigma_mm: f64,
) -> [f64; 6] {
    let spacing = fixed.geometry.spacing();
    let f = crate::filters::gaussian(&fixed.data, spacing, sigma_mm);
    let m = crate::filters::gaussian(&moving.data, spacing, sigma_mm);
    let Some(grid) = Sampler::new(&m, &moving.geometry) else {
        return start;
    };
    let points: Vec<(Vector3<f64>, f64)> = f
        .indexed_iter()
        .map(|((i, j, k), v)| {
            let p = fixed.geometry.to_patient([i as f64, j as f64, k as f64]);
            (Vector3::from(p), f64::from(*v))
        })
        .collect();
    let c = Vector3::from(centre);
    // Cost, J^T J and J^T r at the parameters (the cost is the mean over points inside).
    let assess = |p: &[f64; 6], derivatives: bool| {
        let (rot, d) = rotation_and_derivatives(p[0], p[1], p[2]);
        let t = Vector3::new(p[3], p[4], p[5]);
        let mut jtj = nalgebra::Matrix6::<f64>::zeros();
        let mut jtr = nalgebra::Vector6::<f64>::zeros();
        let (mut sum, mut n) = (0.0, 0usize);
        for (x, fv) in &points {
            let rel = x - c;
            let y = rot * rel + c + t;
            let Some((mv, g)) = grid.at(y, derivatives) else {
                continue;
            };
            let r = mv - fv;
            sum += r * r;
            n += 1;
            if derivatives {
                let row = nalgebra::Vector6::new(
                    g.dot(&(d[0] * rel)),
                    g.dot(&(d[1] * rel)),
                    g.dot(&(d[2] * rel)),
                    g[0],
                    g[1],
                    g[2],
                );
                jtj += row * row.transpose();
                jtr += row * r;
            }
        }
        let n = n.max(1) as f64;
        (sum / n, jtj / n, jtr / n)
    };
    let mut p = start;
    let (mut cost, mut jtj, mut jtr) = assess(&p, true);
    let mut lambda = 1e-4;
    for _ in 0..200 {
        let mut a = jtj;
        for d in 0..6 {
            a[(d, d)] += lambda * jtj[(d, d)].max(1e-12);
        }
        let Some(step) = a.cholesky().map(|ch| ch.solve(&(-jtr))) else {
            break;
        };
        let trial: [f64; 6] = std::array::from_fn(|d| p[d] + step[d]);
        let (trial_cost, _, _) = assess(&trial, false);
        if trial_cost < cost {
            let gain = cost - trial_cost;
            p = trial;
            (cost, jtj, jtr) = assess(&p, true);
            lambda = (lambda / 10.0).max(1e-12);
            let small =
                (0..3).all(|d| step[d].abs() < 1e-7) && (3..6).all(|d| step[d].abs() < 1e-5);
            if small || gain < 1e-12 * cost {
                break;
            }
        } else {
            lambda *= 10.0;
            if lambda > 1e8 {
                break;
            }
        }
    }
    p
}

/// `R = Rz·Ry·Rx` of angles about x, y and z, and its derivatives by each angle.
fn rotation_and_derivatives(x: f64, y: f64, z: f64) -> (Matrix3<f64>, [Matrix3<f64>; 3]) {
    let (sx, cx) = x.sin_cos();
    let (sy, cy) = y.sin_cos();
    let (sz, cz) = z.sin_cos();
    let rx = Matrix3::new(1.0, 0.0, 0.0, 0.0, cx, -sx, 0.0, sx, cx);
    let ry = Matrix3::new(cy, 0.0, sy, 0.0, 1.0, 0.0, -sy, 0.0, cy);
    let rz = Matrix3::new(cz, -sz, 0.0, sz, cz, 0.0, 0.0, 0.0, 1.0);
    let drx = Matrix3::new(0.0, 0.0, 0.0, 0.0, -sx, -cx, 0.0, cx, -sx);
    let dry = Matrix3::new(-sy, 0.0, cy, 0.0, 0.0, 0.0, -cy, 0.0, -sy);
    let drz = Matrix3::new(-sz, -cz, 0.0, cz, -sz, 0.0, 0.0, 0.0, 0.0);
    (rz * ry * rx, [rz * ry * drx, rz * dry * rx, drz * ry * rx])
}

/// Trilinear values and physical gradients of a volume at LPS points.
struct Sampler {
    values: Vec<f64>,
    gradient: Vec<Vector3<f64>>,
    dims: [usize; 3],
    to_index: nalgebra::Matrix4<f64>,
}

impl Sampler {
    fn new(data: &ndarray::Array3<f32>, grid: &crate::geometry::Geometry) -> Option<Self> {
        let [ni, nj, nk] = grid.dims;
        let to_index = grid.affine.try_inverse()?;
        let linear: Matrix3<f64> = grid.affine.fixed_view::<3, 3>(0, 0).into_owned();
        let to_physical = linear.try_inverse()?.transpose();
        let idx = |i: usize, j: usize, k: usize| (i * nj + j) * nk + k;
        let mut values = vec![0.0; ni * nj * nk];
        for ((i, j, k), v) in data.indexed_iter() {
            values[idx(i, j, k)] = f64::from(*v);
        }
        let diff = |c: usize, n: usize, at: &dyn Fn(usize) -> f64| {
            if n == 1 {
                0.0
            } else if c == 0 {
                at(1) - at(0)
            } else if c + 1 == n {
                at(n - 1) - at(n - 2)
            } else {
                (at(c + 1) - at(c - 1)) / 2.0
            }
        };
        let mut gradient = vec![Vector3::zeros(); values.len()];
        for i in 0..ni {
            for j in 0..nj {
                for k in 0..nk {
                    let g = Vector3::new(
                        diff(i, ni, &|x| values[idx(x, j, k)]),
                        diff(j, nj, &|x| values[idx(i, x, k)]),
                        diff(k, nk, &|x| values[idx(i, j, x)]),
                    );
                    gradient[idx(i, j, k)] = to_physical * g;
                }
            }
        }
        Some(Self {
            values,
            gradient,
            dims: [ni, nj, nk],
            to_index,
        })
    }

    /// The value (and gradient) at an LPS point inside the outer voxel centres.
    fn at(&self, p: Vector3<f64>, gradient: bool) -> Option<(f64, Vector3<f64>)> {
        let q = self.to_index * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
        let [ni, nj, nk] = self.dims;
        let mut base = [0usize; 3];
        let mut frac = [0.0f64; 3];
        for a in 0..3 {
            let n = self.dims[a];
            let x = q[a];
            if !(x >= 0.0 && x <= (n - 1) as f64) {
                return None;
            }
            let b = (x.floor() as usize).min(n.saturating_sub(2));
            base[a] = b;
            frac[a] = if n == 1 { 0.0 } else { x - b as f64 };
        }
        let idx = |i: usize, j: usize, k: usize| (i * nj + j) * nk + k;
        let (mut v, mut g) = (0.0, Vector3::zeros());
        for (di, wi) in [(0, 1.0 - frac[0]), (1, frac[0])] {
            for (dj, wj) in [(0, 1.0 - frac[1]), (1, frac[1])] {
                for (dk, wk) in [(0, 1.0 - frac[2]), (1, frac[2])] {
                    let w = wi * wj * wk;
                    if w == 0.0 {
                        continue;
                    }
                    let n = idx(
                        (base[0] + di).min(ni - 1),
                        (base[1] + dj).min(nj - 1),
                        (base[2] + dk).min(nk - 1),
                    );
                    v += w * self.values[n];
                    if gradient {
                        g += w * self.gradient[n];
                    }
                }
            }
        }
        Some((v, g))
    }
}

/// The rotation nearest a matrix (a rigid registration's matrix is one, to rounding).
fn nearest_rotation(m: &Matrix3<f64>) -> Rotation3<f64> {
    let svd = m.svd(true, true);
    match (svd.u, svd.v_t) {
        (Some(u), Some(v_t)) => {
            let mut r = u * v_t;
            if r.determinant() < 0.0 {
                let mut u = u;
                u.column_mut(2).neg_mut();
                r = u * v_t;
            }
            Rotation3::from_matrix_unchecked(r)
        }
        _ => Rotation3::identity(),
    }
}

/// The intensity-weighted centre (LPS) with intensities measured from the volume's minimum.
fn centre_of_mass(v: &Volume<f32>) -> [f64; 3] {
    let lo = v.data.iter().copied().fold(f32::MAX, f32::min);
    let (mut sum, mut mass) = (Vector3::zeros(), 0.0);
    for ((i, j, k), &x) in v.data.indexed_iter() {
        let w = f64::from(x - lo);
        if w > 0.0 {
            sum += w * Vector3::new(i as f64, j as f64, k as f64);
            mass += w;
        }
    }
    let c = if mass > 0.0 {
        sum / mass
    } else {
        Vector3::from(v.geometry.dims.map(|d| (d as f64 - 1.0) / 2.0))
    };
    v.geometry.to_patient([c[0], c[1], c[2]])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{qc_with, volume};
    use super::*;
    use ndarray::Array3;
    use std::time::Instant;

    #[test]
    fn framewise_displacement_matches_the_phantom_truth_and_finds_the_jerk() {
        // Voxels of 4 mm (the MOTION series is at twice --voxel-mm); at 8 mm the partial-volume
        // blur hides the rotations (docs/algorithms/qc-metrics.md).
        let (r, truth) = qc_with(2, 2.0, 1, "MOTION", 4);
        let options = MotionOptions {
            centre_mm: Some(truth.head_pose.translation_mm),
            ..MotionOptions::default()
        };
        let started = Instant::now();
        let m = framewise_displacement(&r.images, &options).unwrap();
        let took = started.elapsed();
        let mut worst = 0.0f64;
        for (e, t) in m.volumes.iter().zip(&truth.motion) {
            let err = e.framewise_displacement_mm - t.framewise_displacement_mm;
            worst = worst.max(err.abs());
            eprintln!(
                "volume {:2}: FD {:.3} mm, truth {:.3} ({err:+.3})",
                e.volume, e.framewise_displacement_mm, t.framewise_displacement_mm
            );
        }
        eprintln!(
            "{} volumes of {:?} in {took:?}: worst {worst:.3} mm, mean FD {:.3} vs {:.3}, max {:.3} at {} vs {:.3}",
            r.images.len(),
            r.images[0].geometry.dims,
            m.mean_fd_mm,
            truth.mean_framewise_displacement_mm,
            m.max_fd_mm,
            m.max_fd_volume,
            truth.max_framewise_displacement_mm
        );
        assert!(worst < 0.25, "worst per-volume FD error {worst}");
        assert!((m.mean_fd_mm - truth.mean_framewise_displacement_mm).abs() < 0.1);
        let jerk = truth
            .motion
            .iter()
            .max_by(|a, b| {
                a.framewise_displacement_mm
                    .total_cmp(&b.framewise_displacement_mm)
            })
            .map(|t| t.volume);
        assert_eq!(Some(m.max_fd_volume), jerk);
        assert_eq!(m.volumes[0].framewise_displacement_mm, 0.0);
    }

    #[test]
    fn series_that_cannot_be_realigned_are_refused() {
        let options = MotionOptions::default();
        let v = volume(
            Array3::from_shape_fn((8, 8, 8), |(i, j, k)| (i + j + k) as f32),
            [1.0; 3],
        );
        assert!(matches!(
            framewise_displacement(&[], &options),
            Err(QualityError::TooFewVoxels { found: 0, .. })
        ));
        assert!(matches!(
            framewise_displacement(std::slice::from_ref(&v), &options),
            Err(QualityError::TooFewVoxels { found: 1, .. })
        ));
        let other = volume(Array3::zeros((8, 8, 9)), [1.0; 3]);
        assert!(matches!(
            framewise_displacement(&[v.clone(), other], &options),
            Err(QualityError::ShapeMismatch { .. })
        ));
        let moved = volume(v.data.clone(), [2.0; 3]);
        assert!(matches!(
            framewise_displacement(&[v.clone(), moved], &options),
            Err(QualityError::Grid { volume: 2, .. })
        ));
        let mut nan = v.clone();
        nan.data[[1, 1, 1]] = f32::NAN;
        assert!(matches!(
            framewise_displacement(&[v.clone(), nan], &options),
            Err(QualityError::Grid { volume: 2, .. })
        ));
        let flat = volume(Array3::zeros((8, 8, 8)), [1.0; 3]);
        assert!(matches!(
            framewise_displacement(&[v.clone(), flat], &options),
            Err(QualityError::Registration { volume: 2, .. })
        ));
        let bad = MotionOptions {
            radius_mm: -1.0,
            ..MotionOptions::default()
        };
        assert!(matches!(
            framewise_displacement(&[v.clone(), v], &bad),
            Err(QualityError::Parameter {
                name: "radius_mm",
                ..
            })
        ));
    }
}
