//! Domain types of corelab: identifiers, content digests and the trial description (`trial.toml`:
//! sites, de-identification, algorithms, and the protocol of visits, series roles, QC and endpoints).
//!
//! This crate owns the vocabulary that every other crate speaks. It never does I/O: no files, no
//! database, no network. Parsing functions take text and return typed values or an error that names
//! the field and what was expected.
//!
//! ```
//! use corelab_core::{Sha256Digest, TrialFile};
//! let d = Sha256Digest::of(b"abc");
//! assert!(d.to_hex().starts_with("ba7816bf"));
//! let t = TrialFile::parse("[trial]\nid = \"T1\"\nsponsor = \"S\"\nprotocol = \"P\"\nphase = \"III\"\n").unwrap();
//! assert_eq!(t.trial.id.as_str(), "T1");
//! ```

pub mod access;
pub mod digest;
pub mod ids;
pub mod problem;
pub mod protocol;
pub mod reads;
pub mod secret;
pub mod subject;
pub mod toml_error;
pub mod trial;

pub use access::{Action, Grant, Principal, Role, Scope};
pub use digest::{DigestError, Sha256Digest};
pub use ids::{AeTitle, DicomNode, IdError, SiteId, TrialId};
pub use problem::Problem;
pub use protocol::{
    EndpointSpec, MatchRule, Orientation, QcSection, QualityThresholds, Range, Requirements,
    RoleSpec, UnmatchedPolicy, VisitSpec, glob_match,
};
pub use secret::TrialSecret;
pub use subject::{SubjectIdError, SubjectIdRule};
pub use toml_error::{Position, toml_error_line};
pub use trial::{
    AlgorithmSpec, BlackoutRule, DeidProfile, DeidSection, IngestSection, Phase, PrivateTag,
    ProgramMeasurement, ProgramSpec, SafePrivateSpec, SiteSpec, TrialError, TrialFile,
    TrialSection,
};
