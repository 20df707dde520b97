//! The trial secret lives in `corelab-core` (the catalogue derives subject IDs with it too); it is
//! re-exported here where de-identification has always found it.

pub use corelab_core::TrialSecret;
