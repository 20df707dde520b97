//! PET oncology: uptake in lesions ([`suv_metrics`]: SUVmax, SUVmean, SUVpeak, metabolic
//! tumour volume, total lesion glycolysis) and treatment response by PERCIST 1.0 ([`percist`]).
//! Shared here: how an image's values become SUVs ([`uptake`]), lesions from a mask or a label
//! image ([`lesions`]), and spheres with partial-voxel weights ([`sphere`]: the 1 cm³ peak and
//! the 3 cm liver reference).

pub mod percist;
pub(crate) mod sphere;
pub mod suv_metrics;
pub(crate) mod uptake;

#[cfg(test)]
mod testing;

use crate::AlgoError;
use corelab_image::Volume;
use corelab_image::components::{Connectivity, label};
use std::collections::BTreeMap;

/// One lesion: its id (the label of a label image, or the component's number in scan order,
/// k slowest, of a binary mask) and its voxels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Lesion {
    /// Its id.
    pub id: u32,
    /// Its voxels, in scan order.
    pub voxels: Vec<[usize; 3]>,
}

/// Refuses a mask that is not on the image's grid: a lesion's voxels must be the image's own
/// voxels (SUVmax and MTV change with any resampling).
pub(crate) fn require_same_grid(
    role: &str,
    mask: &Volume<f32>,
    image_role: &str,
    image: &Volume<f32>,
) -> Result<(), AlgoError> {
    if crate::image::same_grid(mask, image) {
        return Ok(());
    }
    let (m, i) = (&mask.geometry, &image.geometry);
    Err(AlgoError::Input {
        role: role.to_owned(),
        why: format!(
            "its grid ({:?} voxels of {:.3?} mm, origin {:.3?}) is not the {image_role} image's ({:?} voxels of {:.3?} mm, origin {:.3?}): draw or resample the mask on the PET image's grid",
            m.dims,
            m.spacing(),
            m.origin(),
            i.dims,
            i.spacing(),
            i.origin()
        ),
    })
}

/// The lesions of a mask input (on the image's grid, checked before): a label image (several
/// distinct positive whole values) gives one lesion per label; a binary mask (one positive value)
/// one per 26-connected component. Refuses values that are neither, and an empty mask unless
/// `allow_empty`.
pub(crate) fn lesions(
    role: &str,
    mask: &Volume<f32>,
    allow_empty: bool,
) -> Result<Vec<Lesion>, AlgoError> {
    let bad = |why: String| AlgoError::Input {
        role: role.to_owned(),
        why,
    };
    let mut by_label: BTreeMap<u32, Vec<[usize; 3]>> = BTreeMap::new();
    // Scan order with k slowest, as `components::label` numbers components.
    let [ni, nj, nk] = mask.geometry.dims;
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let v = mask.data[[i, j, k]];
                if v == 0.0 {
                    continue;
                }
                if !v.is_finite() || v < 0.0 || v.fract() != 0.0 || v > 16_777_216.0 {
                    return Err(bad(format!(
                        "voxel [{i}, {j}, {k}] is {v}: a lesion mask holds 0 and positive whole numbers (one value: a binary mask; several: a label image)"
                    )));
                }
                by_label.entry(v as u32).or_default().push([i, j, k]);
            }
        }
    }
    if by_label.is_empty() {
        return if allow_empty {
            Ok(Vec::new())
        } else {
            Err(bad("the mask is empty: no lesion to measure".to_owned()))
        };
    }
    if by_label.len() > 1 {
        return Ok(by_label
            .into_iter()
            .map(|(id, voxels)| Lesion { id, voxels })
            .collect());
    }
    let inside = mask.data.mapv(|v| v != 0.0);
    let (labels, sizes) = label(&inside, Connectivity::TwentySix);
    let mut out: Vec<Lesion> = (1..sizes.len())
        .map(|n| Lesion {
            id: n as u32,
            voxels: Vec::with_capacity(sizes[n]),
        })
        .collect();
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let l = labels[[i, j, k]] as usize;
                if l > 0 {
                    out[l - 1].voxels.push([i, j, k]);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_image::geometry::Geometry;
    use ndarray::Array3;

    fn mask(values: &[([usize; 3], f32)]) -> Volume<f32> {
        let mut data = Array3::<f32>::zeros((6, 6, 6));
        for (at, v) in values {
            data[*at] = *v;
        }
        Volume::new(data, Geometry::axis_aligned([6; 3], [0.0; 3], [2.0; 3])).unwrap()
    }

    #[test]
    fn a_binary_mask_gives_one_lesion_per_connected_component() {
        let m = mask(&[([0, 0, 0], 1.0), ([1, 1, 1], 1.0), ([4, 4, 4], 1.0)]);
        let l = lesions("lesions", &m, false).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].voxels, vec![[0, 0, 0], [1, 1, 1]]);
        assert_eq!((l[1].id, l[1].voxels.clone()), (2, vec![[4, 4, 4]]));
    }

    #[test]
    fn a_label_image_gives_one_lesion_per_label_even_when_split() {
        let m = mask(&[([0, 0, 0], 7.0), ([5, 5, 5], 7.0), ([2, 2, 2], 3.0)]);
        let l = lesions("lesions", &m, false).unwrap();
        assert_eq!(l.iter().map(|l| l.id).collect::<Vec<_>>(), vec![3, 7]);
        assert_eq!(l[1].voxels.len(), 2);
    }

    #[test]
    fn empty_and_fractional_masks_are_refused_by_name() {
        let e = lesions("lesions", &mask(&[]), false).unwrap_err();
        assert!(e.to_string().contains("lesions: the mask is empty"), "{e}");
        assert!(lesions("lesions", &mask(&[]), true).unwrap().is_empty());
        let e = lesions("lesions", &mask(&[([1, 2, 3], 0.5)]), false).unwrap_err();
        assert!(e.to_string().contains("voxel [1, 2, 3] is 0.5"), "{e}");
    }

    #[test]
    fn a_mask_on_another_grid_is_refused() {
        let image = mask(&[]);
        let mut other = mask(&[([1, 1, 1], 1.0)]);
        other.geometry = Geometry::axis_aligned([6; 3], [1.0, 0.0, 0.0], [2.0; 3]);
        let e = require_same_grid("lesions", &other, "pet", &image).unwrap_err();
        assert!(e.to_string().contains("is not the pet image's"), "{e}");
        assert!(require_same_grid("lesions", &image, "pet", &image).is_ok());
    }
}
