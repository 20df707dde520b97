//! Image-level tools (like FSL's `fslstats` or ANTs' `N4BiasFieldCorrection`): algorithms that
//! work on any image, before or beside the area-specific ones.

mod bias_n4;
mod mask_volume;

pub use bias_n4::BiasN4;
pub use mask_volume::MaskVolume;

use crate::{AlgoError, Inputs};
use corelab_image::Volume;

/// The input of a role, or an error naming it.
pub(crate) fn input<'a>(inputs: &'a Inputs, role: &str) -> Result<&'a Volume<f32>, AlgoError> {
    inputs.get(role).ok_or_else(|| AlgoError::Input {
        role: role.to_owned(),
        why: "missing".to_owned(),
    })
}

/// Whether two volumes share a grid (same dimensions, affines within 1e-4 mm).
pub(crate) fn same_grid(a: &Volume<f32>, b: &Volume<f32>) -> bool {
    a.geometry.dims == b.geometry.dims && (a.geometry.affine - b.geometry.affine).abs().max() < 1e-4
}

/// Mean and population standard deviation (`None` for no values).
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    Some((mean, sd))
}
