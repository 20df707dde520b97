//! `neuro.brain-extraction` (being written): the signatures other neuro algorithms call.

use crate::AlgoError;
use corelab_image::Volume;
use ndarray::Array3;

/// How extraction runs.
#[derive(Clone, Debug, Default)]
pub struct Options {}

/// What extraction finds, on the image's grid.
#[derive(Clone, Debug)]
pub struct Extracted {
    /// The brain: inside the pial surface, ventricles included (as BET's mask).
    pub brain: Array3<bool>,
    /// The intracranial volume: inside the inner skull surface (brain and CSF).
    pub icv: Array3<bool>,
}

/// Extracts the brain of a head image (T1w).
pub fn extract(_image: &Volume<f32>, _options: &Options) -> Result<Extracted, AlgoError> {
    Err(AlgoError::Failed(
        "brain extraction is being written".into(),
    ))
}

/// A mask of `from`'s grid carried onto `to`'s grid by registering `to` to `from` (rigid, Mattes
/// mutual information, so across contrasts: a T1w brain mask onto the FLAIR of the same visit).
pub fn transfer(
    _mask: &Array3<bool>,
    _from: &Volume<f32>,
    _to: &Volume<f32>,
) -> Result<Array3<bool>, AlgoError> {
    Err(AlgoError::Failed(
        "brain extraction is being written".into(),
    ))
}
