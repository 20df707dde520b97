//! Connected components of a binary mask, with 6-, 18- or 26-connectivity.

use ndarray::Array3;

/// Which neighbours touch: faces (6), faces and edges (18), or faces, edges and corners (26).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connectivity {
    /// Shared faces.
    Six,
    /// Shared faces or edges.
    Eighteen,
    /// Shared faces, edges or corners.
    TwentySix,
}

impl Connectivity {
    fn offsets(self) -> Vec<[isize; 3]> {
        let mut out = Vec::new();
        for di in -1isize..=1 {
            for dj in -1isize..=1 {
                for dk in -1isize..=1 {
                    let n = di.abs() + dj.abs() + dk.abs();
                    let keep = match self {
                        Connectivity::Six => n == 1,
                        Connectivity::Eighteen => n == 1 || n == 2,
                        Connectivity::TwentySix => n >= 1,
                    };
                    if keep {
                        out.push([di, dj, dk]);
                    }
                }
            }
        }
        out
    }
}

/// Labels 1..=n for the components of `mask` (0 outside), numbered in scan order (k slowest),
/// and each component's voxel count (index 0 unused).
pub fn label(mask: &Array3<bool>, connectivity: Connectivity) -> (Array3<u32>, Vec<usize>) {
    let (ni, nj, nk) = mask.dim();
    let mut labels = Array3::<u32>::zeros((ni, nj, nk));
    let mut sizes = vec![0usize];
    let offsets = connectivity.offsets();
    let mut stack = Vec::new();
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                if !mask[[i, j, k]] || labels[[i, j, k]] != 0 {
                    continue;
                }
                let id = sizes.len() as u32;
                let mut size = 0;
                labels[[i, j, k]] = id;
                stack.push([i, j, k]);
                while let Some([a, b, c]) = stack.pop() {
                    size += 1;
                    for o in &offsets {
                        let (x, y, z) = (a as isize + o[0], b as isize + o[1], c as isize + o[2]);
                        if x < 0 || y < 0 || z < 0 {
                            continue;
                        }
                        let p = [x as usize, y as usize, z as usize];
                        if p[0] < ni && p[1] < nj && p[2] < nk && mask[p] && labels[p] == 0 {
                            labels[p] = id;
                            stack.push(p);
                        }
                    }
                }
                sizes.push(size);
            }
        }
    }
    (labels, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_neighbours_join_only_with_the_connectivity_that_allows_it() {
        let mut m = Array3::from_elem((4, 4, 4), false);
        m[[0, 0, 0]] = true;
        m[[1, 1, 0]] = true; // an edge away from the first
        m[[2, 2, 1]] = true; // a corner away from the second
        m[[3, 3, 3]] = true; // alone
        let count = |c| label(&m, c).1.len() - 1;
        assert_eq!(count(Connectivity::Six), 4);
        assert_eq!(count(Connectivity::Eighteen), 3);
        assert_eq!(count(Connectivity::TwentySix), 2);
        let (labels, sizes) = label(&m, Connectivity::TwentySix);
        assert_eq!(labels[[2, 2, 1]], labels[[0, 0, 0]]);
        assert_eq!(sizes, vec![0, 3, 1]);
    }
}
