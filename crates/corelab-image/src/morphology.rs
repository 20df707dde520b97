//! Binary morphology with radii in millimetres (balls in patient space, whatever the voxel
//! spacing), built on the exact distance transform: dilation by r keeps every voxel within r of
//! the mask, erosion by r every mask voxel farther than r from outside it (beyond the grid counts
//! as outside). Opening, closing, and hole filling.

use crate::components::{Connectivity, label};
use crate::distance::squared_edt;
use ndarray::{Array3, s};

/// Voxels within `radius_mm` of the mask.
pub fn dilate(mask: &Array3<bool>, spacing: [f64; 3], radius_mm: f64) -> Array3<bool> {
    let r2 = radius_mm * radius_mm;
    squared_edt(mask, spacing).mapv(|d| d <= r2 + 1e-9)
}

/// Mask voxels farther than `radius_mm` from every voxel outside it (the grid's outside
/// included).
pub fn erode(mask: &Array3<bool>, spacing: [f64; 3], radius_mm: f64) -> Array3<bool> {
    let (ni, nj, nk) = mask.dim();
    // One voxel of outside around the grid.
    let mut outside = Array3::from_elem((ni + 2, nj + 2, nk + 2), true);
    outside
        .slice_mut(s![1..=ni, 1..=nj, 1..=nk])
        .assign(&mask.mapv(|m| !m));
    let r2 = radius_mm * radius_mm;
    squared_edt(&outside, spacing)
        .slice(s![1..=ni, 1..=nj, 1..=nk])
        .mapv(|d| d > r2 + 1e-9)
}

/// Erosion then dilation: removes what is thinner than the ball.
pub fn open(mask: &Array3<bool>, spacing: [f64; 3], radius_mm: f64) -> Array3<bool> {
    dilate(&erode(mask, spacing, radius_mm), spacing, radius_mm)
}

/// Dilation then erosion: closes gaps narrower than the ball.
pub fn close(mask: &Array3<bool>, spacing: [f64; 3], radius_mm: f64) -> Array3<bool> {
    erode(&dilate(mask, spacing, radius_mm), spacing, radius_mm)
}

/// The mask with every hole filled: background not 6-connected to the grid's border.
pub fn fill_holes(mask: &Array3<bool>) -> Array3<bool> {
    let (labels, sizes) = label(&mask.mapv(|m| !m), Connectivity::Six);
    let (ni, nj, nk) = mask.dim();
    let mut touches = vec![false; sizes.len()];
    for ((i, j, k), l) in labels.indexed_iter() {
        if *l != 0 && (i == 0 || j == 0 || k == 0 || i + 1 == ni || j + 1 == nj || k + 1 == nk) {
            touches[*l as usize] = true;
        }
    }
    Array3::from_shape_fn(mask.dim(), |p| {
        mask[p] || (labels[p] != 0 && !touches[labels[p] as usize])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(m: &Array3<bool>) -> usize {
        m.iter().filter(|x| **x).count()
    }

    #[test]
    fn a_point_dilates_to_a_ball_of_the_radius_in_millimetres() {
        let mut m = Array3::from_elem((21, 21, 11), false);
        m[[10, 10, 5]] = true;
        // 1 × 1 × 2 mm voxels, radius 4 mm: every voxel with (di² + dj² + 4 dk²) ≤ 16.
        let d = dilate(&m, [1.0, 1.0, 2.0], 4.0);
        let mut expected = 0;
        for di in -4i32..=4 {
            for dj in -4i32..=4 {
                for dk in -2i32..=2 {
                    if di * di + dj * dj + 4 * dk * dk <= 16 {
                        expected += 1;
                    }
                }
            }
        }
        assert_eq!(count(&d), expected);
        assert!(d[[10, 10, 7]] && !d[[10, 10, 8]]);
    }

    #[test]
    fn erosion_undoes_what_dilation_adds_and_holes_fill() {
        let cube = Array3::from_shape_fn((12, 12, 12), |(i, j, k)| {
            (2..10).contains(&i) && (2..10).contains(&j) && (2..10).contains(&k)
        });
        let e = erode(&cube, [1.0; 3], 1.0);
        assert_eq!(count(&e), 6 * 6 * 6, "one voxel off each face");
        // The grid's edge counts as outside.
        let full = Array3::from_elem((5, 5, 5), true);
        assert_eq!(count(&erode(&full, [1.0; 3], 1.0)), 27);
        // Opening with a 1.5 mm ball removes a one-voxel spur (with 1 mm it would not: the face
        // voxel under the spur is then √2 mm from outside, and survives); closing fills a
        // one-voxel notch.
        let mut spur = cube.clone();
        spur[[10, 5, 5]] = true;
        assert_eq!(open(&spur, [1.0; 3], 1.5), open(&cube, [1.0; 3], 1.5));
        assert!(open(&spur, [1.0; 3], 1.0)[[10, 5, 5]]);
        let mut hollow = cube.clone();
        for i in 4..8 {
            for j in 4..8 {
                for k in 4..8 {
                    hollow[[i, j, k]] = false;
                }
            }
        }
        assert_eq!(fill_holes(&hollow), cube);
        let mut notch = cube.clone();
        notch[[2, 5, 5]] = false;
        assert!(close(&notch, [1.0; 3], 1.5)[[2, 5, 5]]);
    }
}
