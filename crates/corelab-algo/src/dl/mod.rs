//! Deep-learning segmentation: ONNX networks run as locked algorithms (`docs/algorithms/dl.md`).
//!
//! - [`spec`]: what a model needs besides its weights (`ModelSpec`: preprocessing, patch,
//!   overlap, test-time mirroring, classes, post-processing), given as a trial's parameters.
//! - [`preprocess`]: the input on the model's grid (reorientation, resampling to the target
//!   spacing, intensity normalisation), and the way back.
//! - [`sliding`]: sliding-window inference with Gaussian importance weighting, as nnU-Net does it.
//! - [`backend`]: where the network runs (tract on every machine, ONNX Runtime on CPU or CUDA
//!   when installed).
//! - [`postprocess`]: argmax back on the input grid, largest component, minimum component size.
//! - [`monitor`]: the input's statistics against the model's training distribution (drift).
//! - [`segment`]: the whole chain, and the algorithms `dl.segment` (a trial's own model) and
//!   `dl.flair-lesions` (the reference model trained by the project, `training/flair_lesions/`).

pub mod backend;
pub mod monitor;
pub mod postprocess;
pub mod preprocess;
pub mod segment;
pub mod sliding;
pub mod spec;

pub use backend::{BackendError, BackendKind, Network};
pub use spec::ModelSpec;

/// Why a deep-learning run failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DlError {
    /// The model specification is inconsistent (patch, classes, normalisation).
    #[error("model specification: {0}")]
    Spec(String),
    /// The input cannot be prepared for the model.
    #[error("{0}")]
    Input(String),
    /// The network could not be loaded or run.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Checks that `bytes` are an ONNX network with one input and at least one output, as read by
/// tract (parsed, not run): what a trial's model file must be before it is locked.
pub fn check_model(bytes: &[u8]) -> Result<(), BackendError> {
    use tract_onnx::prelude::Framework;
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| BackendError::Model(format!("not an ONNX network tract can read: {e}")))?;
    if model.inputs.len() != 1 || model.outputs.is_empty() {
        return Err(BackendError::Model(format!(
            "the network has {} inputs and {} outputs; one image input and a logits output are expected",
            model.inputs.len(),
            model.outputs.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod flair_tests;
