//! Agreement between two masks on one grid: Dice, Jaccard, volume difference, and surface
//! distances (the 95th percentile Hausdorff distance and the average symmetric surface distance)
//! in millimetres, from exact distance transforms.

use crate::distance::edt;
use crate::geometry::Geometry;
use ndarray::{Array3, Zip};
use serde::Serialize;

/// How two masks agree.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overlap {
    /// 2|A∩B| / (|A| + |B|).
    pub dice: f64,
    /// |A∩B| / |A∪B|.
    pub jaccard: f64,
    /// Volume of A and of B (mm³).
    pub volume_mm3: [f64; 2],
    /// (|B| − |A|) / |A|: B's volume relative to A's.
    pub volume_difference: f64,
    /// 95th percentile of the distances from each surface voxel to the other surface (mm).
    pub hd95_mm: f64,
    /// Mean of those distances, both ways (mm).
    pub assd_mm: f64,
    /// The largest of them (mm).
    pub hausdorff_mm: f64,
}

/// Why masks cannot be compared.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OverlapError {
    /// Different shapes.
    #[error("masks of shapes {0:?} and {1:?}: compare masks on one grid")]
    Shapes([usize; 3], [usize; 3]),
    /// An empty mask has no surface.
    #[error("mask {0} is empty: surface distances are undefined")]
    Empty(char),
}

/// Voxels of `m` with a face neighbour outside it (or on the grid's edge).
fn surface(m: &Array3<bool>) -> Array3<bool> {
    let (ni, nj, nk) = m.dim();
    Array3::from_shape_fn((ni, nj, nk), |(i, j, k)| {
        if !m[[i, j, k]] {
            return false;
        }
        let out = |a: usize, n: usize, d: isize| {
            let x = a as isize + d;
            x < 0 || x as usize >= n
        };
        [
            (-1, 0, 0),
            (1, 0, 0),
            (0, -1, 0),
            (0, 1, 0),
            (0, 0, -1),
            (0, 0, 1),
        ]
        .iter()
        .any(|&(di, dj, dk)| {
            out(i, ni, di)
                || out(j, nj, dj)
                || out(k, nk, dk)
                || !m[[
                    (i as isize + di) as usize,
                    (j as isize + dj) as usize,
                    (k as isize + dk) as usize,
                ]]
        })
    })
}

/// Compares mask `b` with the reference `a`, both on `grid`.
pub fn overlap(
    a: &Array3<bool>,
    b: &Array3<bool>,
    grid: &Geometry,
) -> Result<Overlap, OverlapError> {
    let shape = |m: &Array3<bool>| {
        let s = m.shape();
        [s[0], s[1], s[2]]
    };
    if a.shape() != b.shape() {
        return Err(OverlapError::Shapes(shape(a), shape(b)));
    }
    let (mut na, mut nb, mut both) = (0usize, 0usize, 0usize);
    Zip::from(a).and(b).for_each(|&x, &y| {
        na += usize::from(x);
        nb += usize::from(y);
        both += usize::from(x && y);
    });
    if na == 0 {
        return Err(OverlapError::Empty('A'));
    }
    if nb == 0 {
        return Err(OverlapError::Empty('B'));
    }
    let voxel = grid.voxel_volume();
    let spacing = grid.spacing();
    let (sa, sb) = (surface(a), surface(b));
    let (da, db) = (edt(&sa, spacing), edt(&sb, spacing));
    let mut distances: Vec<f64> = Vec::new();
    Zip::from(&sa).and(&db).for_each(|&s, &d| {
        if s {
            distances.push(d)
        }
    });
    Zip::from(&sb).and(&da).for_each(|&s, &d| {
        if s {
            distances.push(d)
        }
    });
    distances.sort_by(|x, y| x.total_cmp(y));
    let rank = ((0.95 * distances.len() as f64).ceil() as usize).clamp(1, distances.len()) - 1;
    Ok(Overlap {
        dice: 2.0 * both as f64 / (na + nb) as f64,
        jaccard: both as f64 / (na + nb - both) as f64,
        volume_mm3: [na as f64 * voxel, nb as f64 * voxel],
        volume_difference: (nb as f64 - na as f64) / na as f64,
        hd95_mm: distances[rank],
        assd_mm: distances.iter().sum::<f64>() / distances.len() as f64,
        hausdorff_mm: distances[distances.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube(dims: usize, from: [usize; 3], size: usize) -> Array3<bool> {
        Array3::from_shape_fn((dims, dims, dims), |(i, j, k)| {
            [i, j, k]
                .iter()
                .zip(from)
                .all(|(x, f)| *x >= f && *x < f + size)
        })
    }

    #[test]
    fn two_cubes_shifted_by_two_voxels_agree_as_computed_by_hand() {
        let grid = Geometry::axis_aligned([20, 20, 20], [0.0; 3], [0.5, 0.5, 2.0]);
        let a = cube(20, [5, 5, 5], 8);
        let b = cube(20, [7, 5, 5], 8); // shifted 2 voxels (1 mm) along i
        let o = overlap(&a, &b, &grid).unwrap();
        // |A| = |B| = 512, |A∩B| = 6·8·8 = 384.
        assert!((o.dice - 0.75).abs() < 1e-12);
        assert!((o.jaccard - 384.0 / 640.0).abs() < 1e-12);
        assert_eq!(o.volume_mm3, [512.0 * 0.5, 512.0 * 0.5]);
        assert_eq!(o.volume_difference, 0.0);
        // The farthest surface voxels are the shifted end faces, 2 voxels = 1 mm from the other
        // surface.
        assert!((o.hausdorff_mm - 1.0).abs() < 1e-12, "{o:?}");
        assert!(
            o.hd95_mm <= 1.0 && o.assd_mm > 0.0 && o.assd_mm < 1.0,
            "{o:?}"
        );
        // Identical masks: perfect agreement.
        let same = overlap(&a, &a, &grid).unwrap();
        assert_eq!((same.dice, same.hd95_mm, same.assd_mm), (1.0, 0.0, 0.0));
    }

    #[test]
    fn empty_or_mismatched_masks_are_refused() {
        let grid = Geometry::axis_aligned([4, 4, 4], [0.0; 3], [1.0; 3]);
        let a = cube(4, [0, 0, 0], 2);
        assert_eq!(
            overlap(&a, &cube(4, [0, 0, 0], 0), &grid),
            Err(OverlapError::Empty('B'))
        );
        assert!(matches!(
            overlap(&a, &cube(5, [0, 0, 0], 2), &grid),
            Err(OverlapError::Shapes(..))
        ));
    }
}
