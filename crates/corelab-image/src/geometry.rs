//! Where voxels are: a grid's voxel → patient affine.
//!
//! Conventions (`docs/geometry.md`): voxel indices `(i, j, k)` with `i` along a row of an image
//! (DICOM columns), `j` down the rows, `k` across slices; patient coordinates in DICOM's LPS
//! (x to the patient's left, y to posterior, z to superior), in millimetres; the affine maps the
//! *centre* of voxel `(i, j, k)` to LPS. NIfTI stores RAS: [`Geometry::to_ras`] and
//! [`Geometry::from_ras`] are the only conversions, so LPS and RAS meet in one place.

use nalgebra::{Matrix3, Matrix4, Vector3, Vector4};
use serde::{Deserialize, Serialize};

/// A grid's size and its voxel → LPS affine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Voxels along i, j, k.
    pub dims: [usize; 3],
    /// Maps `(i, j, k, 1)` to `(x, y, z, 1)` in LPS millimetres.
    pub affine: Matrix4<f64>,
}

/// A geometry that cannot be.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GeometryError {
    /// A spacing is zero, negative or not a number.
    #[error("spacing {0:?} mm: every spacing must be a positive number")]
    Spacing([f64; 3]),
    /// The direction vectors are not (nearly) unit length and independent.
    #[error("directions {0:?} are degenerate (zero length or parallel)")]
    Directions([[f64; 3]; 3]),
    /// A dimension is zero.
    #[error("dimensions {0:?}: every dimension must be at least 1")]
    Dims([usize; 3]),
}

impl Geometry {
    /// A grid from the LPS position of voxel (0, 0, 0), unit direction vectors of i, j and k, and
    /// the spacing along each (mm).
    pub fn new(
        dims: [usize; 3],
        origin: [f64; 3],
        directions: [[f64; 3]; 3],
        spacing: [f64; 3],
    ) -> Result<Self, GeometryError> {
        if dims.contains(&0) {
            return Err(GeometryError::Dims(dims));
        }
        if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(GeometryError::Spacing(spacing));
        }
        let d: Vec<Vector3<f64>> = directions
            .iter()
            .map(|v| Vector3::new(v[0], v[1], v[2]))
            .collect();
        let unit = d.iter().all(|v| (v.norm() - 1.0).abs() < 1e-3);
        let det = Matrix3::from_columns(&[d[0], d[1], d[2]]).determinant();
        if !unit || det.abs() < 1e-3 {
            return Err(GeometryError::Directions(directions));
        }
        let mut affine = Matrix4::identity();
        for (c, (v, s)) in d.iter().zip(spacing).enumerate() {
            for r in 0..3 {
                affine[(r, c)] = v[r] * s;
            }
        }
        for (r, o) in origin.iter().enumerate() {
            affine[(r, 3)] = *o;
        }
        Ok(Self { dims, affine })
    }

    /// An axis-aligned grid (directions along +x, +y, +z of LPS).
    pub fn axis_aligned(dims: [usize; 3], origin: [f64; 3], spacing: [f64; 3]) -> Self {
        let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        Self::new(dims, origin, eye, spacing).unwrap_or(Self {
            dims,
            affine: Matrix4::identity(),
        })
    }

    /// The LPS position (mm) of the centre of voxel `(i, j, k)` (fractional indices allowed).
    pub fn to_patient(&self, ijk: [f64; 3]) -> [f64; 3] {
        let p = self.affine * Vector4::new(ijk[0], ijk[1], ijk[2], 1.0);
        [p[0], p[1], p[2]]
    }

    /// The (fractional) voxel index of an LPS position, if the affine can be inverted.
    pub fn to_voxel(&self, lps: [f64; 3]) -> Option<[f64; 3]> {
        let inv = self.affine.try_inverse()?;
        let v = inv * Vector4::new(lps[0], lps[1], lps[2], 1.0);
        Some([v[0], v[1], v[2]])
    }

    /// Spacing along i, j, k (mm): the lengths of the affine's columns.
    pub fn spacing(&self) -> [f64; 3] {
        let c = |n: usize| {
            Vector3::new(
                self.affine[(0, n)],
                self.affine[(1, n)],
                self.affine[(2, n)],
            )
            .norm()
        };
        [c(0), c(1), c(2)]
    }

    /// Unit direction vectors of i, j, k in LPS.
    pub fn directions(&self) -> [[f64; 3]; 3] {
        let s = self.spacing();
        let mut out = [[0.0; 3]; 3];
        for (c, col) in out.iter_mut().enumerate() {
            for (r, v) in col.iter_mut().enumerate() {
                *v = self.affine[(r, c)] / s[c];
            }
        }
        out
    }

    /// The LPS position of voxel (0, 0, 0).
    pub fn origin(&self) -> [f64; 3] {
        [
            self.affine[(0, 3)],
            self.affine[(1, 3)],
            self.affine[(2, 3)],
        ]
    }

    /// Voxel volume in mm³.
    pub fn voxel_volume(&self) -> f64 {
        self.affine.fixed_view::<3, 3>(0, 0).determinant().abs()
    }

    /// The voxel → RAS affine (what NIfTI's sform holds): x and y flip sign.
    pub fn to_ras(&self) -> Matrix4<f64> {
        lps_ras() * self.affine
    }

    /// The geometry of a grid whose voxel → RAS affine is `ras`.
    pub fn from_ras(dims: [usize; 3], ras: &Matrix4<f64>) -> Self {
        Self {
            dims,
            affine: lps_ras() * ras,
        }
    }
}

/// LPS ↔ RAS (its own inverse).
fn lps_ras() -> Matrix4<f64> {
    Matrix4::from_diagonal(&Vector4::new(-1.0, -1.0, 1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oblique_grid_maps_voxels_to_the_patient_and_back() {
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let g = Geometry::new(
            [64, 64, 20],
            [-100.0, -80.0, 40.0],
            [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
            [0.9, 0.8, 2.5],
        )
        .unwrap();
        let p = g.to_patient([10.0, 5.0, 3.0]);
        let expected = [
            -100.0 + 10.0 * 0.9 * c - 5.0 * 0.8 * s,
            -80.0 + 10.0 * 0.9 * s + 5.0 * 0.8 * c,
            40.0 + 3.0 * 2.5,
        ];
        for a in 0..3 {
            assert!((p[a] - expected[a]).abs() < 1e-9, "{p:?} {expected:?}");
        }
        let back = g.to_voxel(p).unwrap();
        assert!((back[0] - 10.0).abs() < 1e-9 && (back[2] - 3.0).abs() < 1e-9);
        assert!((g.voxel_volume() - 0.9 * 0.8 * 2.5).abs() < 1e-9);
        let sp = g.spacing();
        assert!((sp[0] - 0.9).abs() < 1e-12 && (sp[2] - 2.5).abs() < 1e-12);
        assert_eq!(Geometry::from_ras(g.dims, &g.to_ras()), g);
        // RAS flips x and y only.
        let ras = g.to_ras();
        assert_eq!(ras[(0, 3)], 100.0);
        assert_eq!(ras[(1, 3)], 80.0);
        assert_eq!(ras[(2, 3)], 40.0);
    }

    #[test]
    fn impossible_grids_are_refused_saying_why() {
        let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(matches!(
            Geometry::new([1, 1, 1], [0.0; 3], eye, [1.0, 0.0, 1.0]),
            Err(GeometryError::Spacing(_))
        ));
        let parallel = [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(matches!(
            Geometry::new([1, 1, 1], [0.0; 3], parallel, [1.0; 3]),
            Err(GeometryError::Directions(_))
        ));
        assert!(matches!(
            Geometry::new([0, 1, 1], [0.0; 3], eye, [1.0; 3]),
            Err(GeometryError::Dims(_))
        ));
    }
}
