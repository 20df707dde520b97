//! The trial protocol at work (issue 6). Given a trial's `trial.toml` (typed in
//! [`corelab_core::TrialFile`]) and what was catalogued for it, this crate classifies each
//! series into a role ([`classify`]), checks it against its role's acquisition requirements and
//! for absurd header values ([`conformance`]), measures image quality from the pixels
//! ([`quality`]), files each study to a protocol visit with its day from baseline and window
//! ([`schedule`]), flags scanner changes across a subject's visits ([`consistency`]), and rolls it
//! all up into `pass` / `review` / `fail` statuses over which people's decisions stand
//! ([`report`]). [`evaluate`] reads the store and records the evaluation. [`jobs`] plans the
//! locked algorithms' jobs on what passed QC and runs one; [`worker`] claims jobs from the
//! store's queue and records what they made. It never changes what was catalogued.

/// Agreement statistics (κ, ICC) live with the other statistics in `corelab_algo::stats`.
pub use corelab_algo::stats::agreement;
pub mod classify;
pub mod conformance;
pub mod consistency;
pub mod evaluate;
pub mod external;
pub mod files;
pub mod images;
pub mod jobs;
pub mod quality;
pub mod reads;
pub mod report;
pub mod results;
pub mod runner;
pub mod schedule;
pub mod worker;

pub use report::{Check, QcReport, Status};
