//! The spatial transforms a registration finds: a point of the fixed image (LPS, mm) to the
//! point of the moving image that corresponds to it, in ITK's form `y = A (x − c) + c + t`
//! (matrix `A`, centre of rotation `c`, translation `t`). This is the direction ITK, ANTs and
//! elastix store, and the one resampling needs (the moving image on the fixed grid).

use nalgebra::{Matrix3, Matrix4, Vector3};

/// `y = A (x − c) + c + t`, in LPS millimetres, fixed → moving.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineTransform {
    /// `A`: a rotation for a rigid transform.
    pub matrix: Matrix3<f64>,
    /// `t` (mm).
    pub translation: Vector3<f64>,
    /// `c` (mm): ITK's "fixed parameters".
    pub center: Vector3<f64>,
}

impl AffineTransform {
    /// The identity about a centre.
    pub fn identity(center: [f64; 3]) -> Self {
        Self {
            matrix: Matrix3::identity(),
            translation: Vector3::zeros(),
            center: Vector3::from(center),
        }
    }

    /// A rigid transform from ITK Euler3D parameters: rotations about x, y and z (radians,
    /// applied as `Rz · Rx · Ry`), a translation (mm), about a centre.
    pub fn euler(angles: [f64; 3], translation: [f64; 3], center: [f64; 3]) -> Self {
        Self {
            matrix: euler_matrix(angles),
            translation: Vector3::from(translation),
            center: Vector3::from(center),
        }
    }

    /// Where the transform takes a point.
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        let x = Vector3::from(p);
        let y = self.matrix * (x - self.center) + self.center + self.translation;
        [y[0], y[1], y[2]]
    }

    /// `A c − c − t` turned around: the offset `o` of `y = A x + o`.
    pub fn offset(&self) -> Vector3<f64> {
        self.translation + self.center - self.matrix * self.center
    }

    /// The homogeneous 4 × 4 matrix of the transform.
    pub fn to_matrix4(&self) -> Matrix4<f64> {
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0).copy_from(&self.matrix);
        m.fixed_view_mut::<3, 1>(0, 3).copy_from(&self.offset());
        m
    }

    /// The transform of a homogeneous matrix, expressed about `center`.
    pub fn from_matrix4(m: &Matrix4<f64>, center: [f64; 3]) -> Self {
        let matrix: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into_owned();
        let offset: Vector3<f64> = m.fixed_view::<3, 1>(0, 3).into_owned();
        let c = Vector3::from(center);
        Self {
            matrix,
            translation: offset - c + matrix * c,
            center: c,
        }
    }

    /// The inverse (moving → fixed), about the image of the centre; `None` if `A` is singular.
    pub fn inverse(&self) -> Option<Self> {
        let inv = self.to_matrix4().try_inverse()?;
        let c = self.apply([self.center[0], self.center[1], self.center[2]]);
        Some(Self::from_matrix4(&inv, c))
    }

    /// ITK Euler3D angles (x, y, z, radians) of the matrix, if it is a rotation.
    pub fn euler_angles(&self) -> Option<[f64; 3]> {
        let m = &self.matrix;
        let orthonormal = (m.transpose() * m - Matrix3::identity()).abs().max() < 1e-6;
        if !orthonormal || m.determinant() < 0.0 {
            return None;
        }
        let ax = m[(2, 1)].clamp(-1.0, 1.0).asin();
        let ay = (-m[(2, 0)]).atan2(m[(2, 2)]);
        let az = (-m[(0, 1)]).atan2(m[(1, 1)]);
        Some([ax, ay, az])
    }

    /// How far apart two transforms are: the angle (degrees) of the rotation between their
    /// matrices' rotational parts, and the largest distance (mm) between where they take the
    /// given points. Used to state a registration's error against a known transform.
    pub fn difference(&self, other: &Self, points: &[[f64; 3]]) -> (f64, f64) {
        let r = polar_rotation(&self.matrix) * polar_rotation(&other.matrix).transpose();
        let cos = ((r.trace() - 1.0) / 2.0).clamp(-1.0, 1.0);
        let distance = points
            .iter()
            .map(|p| (Vector3::from(self.apply(*p)) - Vector3::from(other.apply(*p))).norm())
            .fold(0.0, f64::max);
        (cos.acos().to_degrees(), distance)
    }
}

/// The rotation nearest a matrix (the orthogonal factor of its polar decomposition).
fn polar_rotation(m: &Matrix3<f64>) -> Matrix3<f64> {
    let svd = m.svd(true, true);
    match (svd.u, svd.v_t) {
        (Some(u), Some(v_t)) => u * v_t,
        _ => Matrix3::identity(),
    }
}

fn rx(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c)
}
fn ry(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(c, 0.0, s, 0.0, 1.0, 0.0, -s, 0.0, c)
}
fn rz(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
}
fn drx(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(0.0, 0.0, 0.0, 0.0, -s, -c, 0.0, c, -s)
}
fn dry(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(-s, 0.0, c, 0.0, 0.0, 0.0, -c, 0.0, -s)
}
fn drz(a: f64) -> Matrix3<f64> {
    let (s, c) = a.sin_cos();
    Matrix3::new(-s, -c, 0.0, c, -s, 0.0, 0.0, 0.0, 0.0)
}

/// ITK Euler3DTransform's rotation (`ComputeZYX` off): `Rz · Rx · Ry`.
pub(crate) fn euler_matrix([ax, ay, az]: [f64; 3]) -> Matrix3<f64> {
    rz(az) * rx(ax) * ry(ay)
}

/// The derivatives of [`euler_matrix`] by each angle.
fn euler_derivatives([ax, ay, az]: [f64; 3]) -> [Matrix3<f64>; 3] {
    [
        rz(az) * drx(ax) * ry(ay),
        rz(az) * rx(ax) * dry(ay),
        drz(az) * rx(ax) * ry(ay),
    ]
}

/// How a transform is parameterised while it is optimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Three Euler angles (radians) and a translation (mm): 6 parameters.
    Rigid,
    /// The nine matrix entries (row by row) and a translation (mm): 12 parameters.
    Affine,
}

impl Model {
    /// Number of parameters.
    pub(crate) fn len(self) -> usize {
        match self {
            Model::Rigid => 6,
            Model::Affine => 12,
        }
    }

    /// The transform of parameters `p` about `center`.
    pub(crate) fn transform(self, p: &[f64], center: Vector3<f64>) -> AffineTransform {
        let translation = Vector3::new(p[p.len() - 3], p[p.len() - 2], p[p.len() - 1]);
        let matrix = match self {
            Model::Rigid => euler_matrix([p[0], p[1], p[2]]),
            Model::Affine => Matrix3::from_row_slice(&p[..9]),
        };
        AffineTransform {
            matrix,
            translation,
            center,
        }
    }

    /// The parameters of a transform (for a rigid model, the rotation nearest its matrix).
    pub(crate) fn parameters(self, t: &AffineTransform) -> Vec<f64> {
        let mut p = match self {
            Model::Rigid => {
                let rotation = AffineTransform {
                    matrix: polar_rotation(&t.matrix),
                    ..t.clone()
                };
                rotation.euler_angles().unwrap_or([0.0; 3]).to_vec()
            }
            Model::Affine => t.matrix.transpose().as_slice().to_vec(),
        };
        p.extend(t.translation.iter());
        p
    }

    /// Per-parameter scales that make a unit step of each parameter move points by about one
    /// millimetre: angles and matrix entries are multiplied by `radius` (mm), translations by 1.
    pub(crate) fn scales(self, radius: f64) -> Vec<f64> {
        let mut s = vec![radius; self.len() - 3];
        s.extend([1.0; 3]);
        s
    }

    /// For each parameter `j`, `g · ∂T(x)/∂p_j`: the chain rule from an image gradient `g` at
    /// `T(x)` to the parameters, at a point `x` (relative to the centre: `d = x − c`);
    /// `rotation` holds [`Model::rotation_derivatives`] of the current parameters.
    pub(crate) fn project(
        self,
        rotation: &[Matrix3<f64>; 3],
        g: Vector3<f64>,
        d: Vector3<f64>,
        out: &mut [f64],
    ) {
        match self {
            Model::Rigid => {
                for (o, dm) in out.iter_mut().zip(rotation) {
                    *o = g.dot(&(dm * d));
                }
                out[3..6].copy_from_slice(g.as_slice());
            }
            Model::Affine => {
                for r in 0..3 {
                    for c in 0..3 {
                        out[3 * r + c] = g[r] * d[c];
                    }
                }
                out[9..12].copy_from_slice(g.as_slice());
            }
        }
    }

    /// The derivatives of the rotation by each angle for a rigid model (zeros for an affine
    /// one): computed once per evaluation, not per sample.
    pub(crate) fn rotation_derivatives(self, p: &[f64]) -> [Matrix3<f64>; 3] {
        match self {
            Model::Rigid => euler_derivatives([p[0], p[1], p[2]]),
            Model::Affine => [Matrix3::zeros(); 3],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euler_angles_round_trip_and_follow_itk_order() {
        let t = AffineTransform::euler([0.1, -0.2, 0.3], [1.0, 2.0, 3.0], [10.0, -5.0, 2.0]);
        let a = t.euler_angles().unwrap();
        assert!((a[0] - 0.1).abs() < 1e-12 && (a[1] + 0.2).abs() < 1e-12);
        assert!((a[2] - 0.3).abs() < 1e-12);
        // Rz · Rx · Ry applied to x: first about y, then x, then z.
        let m = rz(0.3) * rx(0.1) * ry(-0.2);
        assert!((t.matrix - m).abs().max() < 1e-15);
        // The centre goes to centre + t.
        let y = t.apply([10.0, -5.0, 2.0]);
        assert!((y[0] - 11.0).abs() < 1e-12 && (y[2] - 5.0).abs() < 1e-12);
    }

    #[test]
    fn the_inverse_undoes_and_the_matrix_form_agrees() {
        let t = AffineTransform::euler([0.2, 0.1, -0.25], [-4.0, 7.0, 1.5], [3.0, 2.0, 1.0]);
        let inv = t.inverse().unwrap();
        let p = [12.0, -30.0, 44.0];
        let back = inv.apply(t.apply(p));
        for a in 0..3 {
            assert!((back[a] - p[a]).abs() < 1e-9);
        }
        let h = t.to_matrix4() * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
        let y = t.apply(p);
        assert!((h[0] - y[0]).abs() < 1e-12 && (h[2] - y[2]).abs() < 1e-12);
        let again = AffineTransform::from_matrix4(&t.to_matrix4(), [3.0, 2.0, 1.0]);
        assert!((again.translation - t.translation).norm() < 1e-12);
        let (deg, mm) = t.difference(&t, &[p]);
        assert!(deg < 1e-6 && mm < 1e-12);
    }

    #[test]
    fn the_chain_rule_matches_finite_differences() {
        let x = Vector3::new(20.0, -13.0, 7.0);
        let c = Vector3::new(1.0, 2.0, 3.0);
        let g = Vector3::new(0.3, -1.2, 0.7);
        for model in [Model::Rigid, Model::Affine] {
            let start = AffineTransform::euler([0.1, 0.2, -0.3], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]);
            let p = model.parameters(&start);
            let mut analytic = vec![0.0; model.len()];
            model.project(&model.rotation_derivatives(&p), g, x - c, &mut analytic);
            for j in 0..model.len() {
                let h = 1e-6;
                let (mut a, mut b) = (p.clone(), p.clone());
                a[j] += h;
                b[j] -= h;
                let ya = Vector3::from(model.transform(&a, c).apply([x[0], x[1], x[2]]));
                let yb = Vector3::from(model.transform(&b, c).apply([x[0], x[1], x[2]]));
                let numeric = g.dot(&(ya - yb)) / (2.0 * h);
                assert!(
                    (numeric - analytic[j]).abs() < 1e-5,
                    "{model:?} parameter {j}: {numeric} vs {}",
                    analytic[j]
                );
            }
        }
    }
}
