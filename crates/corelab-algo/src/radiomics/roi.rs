//! The region of interest as IBSI 1 (ch. 2) processes it: the image cropped around the mask,
//! the morphological mask (the mask as given) and the intensity mask (after re-segmentation),
//! and the discretised grey levels.

use crate::AlgoError;
use corelab_image::Volume;

/// A cropped image with its two masks. Voxels are stored `i` fastest, then `j`, then `k`
/// (slices are `k`).
#[derive(Debug, Clone)]
pub struct Roi {
    /// Grid size after cropping.
    pub dims: [usize; 3],
    /// Voxel spacing in mm.
    pub spacing: [f64; 3],
    /// Intensities of every voxel of the cropped grid (inside the ROI or not).
    pub image: Vec<f64>,
    /// The morphological mask: the ROI as delineated.
    pub morph: Vec<bool>,
    /// The intensity mask: the ROI after re-segmentation.
    pub inten: Vec<bool>,
}

impl Roi {
    /// Crops `image` to `mask` (voxels above `threshold`) with `margin_mm` around it, so that
    /// neighbourhoods reaching out of the ROI (the local intensity peak's sphere) see the image.
    pub fn new(
        image: &Volume<f32>,
        mask: &Volume<f32>,
        threshold: f64,
        margin_mm: f64,
    ) -> Result<Self, AlgoError> {
        same_grid(image, mask)?;
        let d = image.geometry.dims;
        let spacing = image.geometry.spacing();
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        let mut any = false;
        // The mask's memory order is i fastest (Fortran), as volumes are stored.
        let flat = mask.data.as_slice_memory_order();
        let fortran = mask.data.t().is_standard_layout();
        for k in 0..d[2] {
            for j in 0..d[1] {
                let row = d[0] * (j + d[1] * k);
                let inside = |i: usize| match flat {
                    Some(f) if fortran => f64::from(f[row + i]) > threshold,
                    _ => f64::from(mask.data[(i, j, k)]) > threshold,
                };
                for i in 0..d[0] {
                    if inside(i) {
                        any = true;
                        for (a, v) in [i, j, k].into_iter().enumerate() {
                            lo[a] = lo[a].min(v);
                            hi[a] = hi[a].max(v);
                        }
                    }
                }
            }
        }
        if !any {
            return Err(AlgoError::Input {
                role: "mask".into(),
                why: format!("no voxel of the mask is above {threshold}: the ROI is empty"),
            });
        }
        let mut from = [0usize; 3];
        let mut dims = [0usize; 3];
        for a in 0..3 {
            let m = (margin_mm / spacing[a]).ceil() as usize;
            from[a] = lo[a].saturating_sub(m);
            let to = (hi[a] + m).min(d[a] - 1);
            dims[a] = to - from[a] + 1;
        }
        let n = dims[0] * dims[1] * dims[2];
        let mut img = Vec::with_capacity(n);
        let mut morph = Vec::with_capacity(n);
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let at = (from[0] + i, from[1] + j, from[2] + k);
                    let v = f64::from(image.data[at]);
                    if !v.is_finite() {
                        return Err(AlgoError::Input {
                            role: "image".into(),
                            why: format!("voxel {at:?} is {v}: radiomics needs finite intensities"),
                        });
                    }
                    img.push(v);
                    morph.push(f64::from(mask.data[at]) > threshold);
                }
            }
        }
        let inten = morph.clone();
        Ok(Self {
            dims,
            spacing,
            image: img,
            morph,
            inten,
        })
    }

    /// The index of voxel `(i, j, k)`.
    pub fn at(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// Removes from the intensity mask the voxels outside `[lo, hi]` (IBSI 2.4 re-segmentation).
    pub fn resegment(&mut self, lo: f64, hi: f64) -> Result<(), AlgoError> {
        for (m, v) in self.inten.iter_mut().zip(&self.image) {
            if *m && (*v < lo || *v > hi) {
                *m = false;
            }
        }
        if !self.inten.iter().any(|m| *m) {
            return Err(AlgoError::Failed(format!(
                "no voxel of the ROI lies in the re-segmentation range [{lo}, {hi}]"
            )));
        }
        Ok(())
    }

    /// The intensities inside the intensity mask.
    pub fn values(&self) -> Vec<f64> {
        self.image
            .iter()
            .zip(&self.inten)
            .filter(|(_, m)| **m)
            .map(|(v, _)| *v)
            .collect()
    }

    /// Discretises the intensity mask's intensities (IBSI 2.7).
    pub fn discretise(&self, how: &Discretisation) -> Result<Levels, AlgoError> {
        let values = self.values();
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        let level = |v: f64| -> Result<u32, AlgoError> {
            let l = match how {
                Discretisation::None => {
                    if v.fract() != 0.0 || v < 1.0 {
                        return Err(AlgoError::Param {
                            name: "discretisation".into(),
                            why: format!(
                                "\"none\" needs integer grey levels of at least 1, and the ROI holds {v}; use fbn or fbs"
                            ),
                        });
                    }
                    v
                }
                Discretisation::FixedBinNumber(n) => {
                    if max > min {
                        (f64::from(*n) * (v - min) / (max - min))
                            .floor()
                            .min(f64::from(*n - 1))
                            + 1.0
                    } else {
                        1.0
                    }
                }
                Discretisation::FixedBinSize { width, lower } => {
                    ((v - lower.unwrap_or(min)) / width).floor() + 1.0
                }
            };
            if !(1.0..=65_536.0).contains(&l) {
                return Err(AlgoError::Param {
                    name: "discretisation".into(),
                    why: format!(
                        "intensity {v} falls in bin {l}; bins run from 1 to 65536 (is the bin width too small or the lower bound above the ROI?)"
                    ),
                });
            }
            Ok(l as u32)
        };
        let mut data = vec![0u32; self.image.len()];
        let mut ng = 1;
        for ((d, v), m) in data.iter_mut().zip(&self.image).zip(&self.inten) {
            if *m {
                *d = level(*v)?;
                ng = ng.max(*d);
            }
        }
        Ok(Levels {
            dims: self.dims,
            morph: self.morph.clone(),
            data,
            ng: ng as usize,
        })
    }
}

/// Refuses a mask that is not on the image's grid: its size, or its place in space (a mask of
/// the right size but another origin, spacing or orientation would measure the wrong voxels).
pub(super) fn same_grid(image: &Volume<f32>, mask: &Volume<f32>) -> Result<(), AlgoError> {
    if image.geometry.dims != mask.geometry.dims {
        return Err(AlgoError::Input {
            role: "mask".into(),
            why: format!(
                "the mask's grid {:?} is not the image's {:?}; resample it first",
                mask.geometry.dims, image.geometry.dims
            ),
        });
    }
    if !crate::image::same_grid(image, mask) {
        return Err(AlgoError::Input {
            role: "mask".into(),
            why: format!(
                "the mask has the image's size but lies elsewhere (origin {:?} mm, spacing {:?} mm; the image's {:?}, {:?}); resample it first",
                mask.geometry.origin(),
                mask.geometry.spacing(),
                image.geometry.origin(),
                image.geometry.spacing()
            ),
        });
    }
    Ok(())
}

/// How intensities become grey levels.
#[derive(Debug, Clone, PartialEq)]
pub enum Discretisation {
    /// The intensities are the grey levels already (integers from 1).
    None,
    /// Fixed bin number over the ROI's range.
    FixedBinNumber(u32),
    /// Fixed bin size from a lower bound (the re-segmentation range's, else the ROI's minimum).
    FixedBinSize {
        /// Bin width in the image's units.
        width: f64,
        /// The first bin's lower edge.
        lower: Option<f64>,
    },
}

/// Grey levels on the cropped grid: 0 outside the intensity mask, 1..=`ng` inside.
#[derive(Debug, Clone)]
pub struct Levels {
    /// Grid size.
    pub dims: [usize; 3],
    /// Grey level per voxel.
    pub data: Vec<u32>,
    /// The morphological mask (zone distances are measured to its edge).
    pub morph: Vec<bool>,
    /// The number of grey levels (the highest level).
    pub ng: usize,
}

impl Levels {
    /// The grey level at a signed position, 0 outside the grid or the ROI.
    pub fn get(&self, i: isize, j: isize, k: isize) -> u32 {
        if i < 0 || j < 0 || k < 0 {
            return 0;
        }
        let (i, j, k) = (i as usize, j as usize, k as usize);
        if i >= self.dims[0] || j >= self.dims[1] || k >= self.dims[2] {
            return 0;
        }
        self.data[i + self.dims[0] * (j + self.dims[1] * k)]
    }

    /// Whether a signed position is in the morphological mask.
    pub fn in_morph(&self, i: isize, j: isize, k: isize) -> bool {
        if i < 0 || j < 0 || k < 0 {
            return false;
        }
        let (i, j, k) = (i as usize, j as usize, k as usize);
        i < self.dims[0]
            && j < self.dims[1]
            && k < self.dims[2]
            && self.morph[i + self.dims[0] * (j + self.dims[1] * k)]
    }

    /// The number of ROI voxels in slice `k`, or in the whole grid (`None`).
    pub fn count(&self, slice: Option<usize>) -> usize {
        let n = self.dims[0] * self.dims[1];
        match slice {
            Some(k) => self.data[k * n..(k + 1) * n]
                .iter()
                .filter(|l| **l > 0)
                .count(),
            None => self.data.iter().filter(|l| **l > 0).count(),
        }
    }
}
