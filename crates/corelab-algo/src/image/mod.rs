//! Image-level tools (like FSL's `fslstats` or ANTs' `N4BiasFieldCorrection`): algorithms that
//! work on any image, before or beside the area-specific ones.

mod bias_n4;
mod mask_volume;

pub use bias_n4::BiasN4;
pub use mask_volume::MaskVolume;

use crate::{AlgoError, Inputs, Measurement};
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

/// A follow-up visit registered rigidly to its baseline (the follow-up the fixed image, 30 000
/// samples instead of the default 100 000: a rigid fit between visits needs far fewer, a third
/// of the time): the matrices carrying baseline points (LPS mm) to the follow-up and back. A
/// failure is the follow-up's, named as such.
pub(crate) fn visit_transforms(
    baseline: &Volume<f32>,
    followup: &Volume<f32>,
) -> Result<(nalgebra::Matrix4<f64>, nalgebra::Matrix4<f64>), AlgoError> {
    use corelab_image::registration::{self, Kind, register};
    let reg = register(
        baseline,
        followup,
        &registration::Options {
            kind: Kind::Rigid,
            samples: 30_000,
            ..registration::Options::default()
        },
    )
    .map_err(|e| AlgoError::Input {
        role: "followup".into(),
        why: format!("cannot be registered to the baseline: {e}"),
    })?;
    let base_to_follow = reg.transform.to_matrix4();
    let follow_to_base = base_to_follow
        .try_inverse()
        .ok_or_else(|| AlgoError::Failed("the registration is singular".into()))?;
    Ok((base_to_follow, follow_to_base))
}

/// A measurement (every area's algorithms make them this way).
pub(crate) fn measurement(name: &str, value: f64, unit: &str) -> Measurement {
    Measurement {
        name: name.to_owned(),
        value,
        unit: unit.to_owned(),
    }
}
