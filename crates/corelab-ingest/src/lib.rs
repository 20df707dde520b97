//! Ingest: the one pipeline every object goes through, from `corelab import` and from the DICOM
//! network alike ([`Ingestor::ingest`]), the trial rules it applies ([`TrialRules`]), what it
//! checks ([`checks`]), and reading files, folders and zip archives for import ([`files`]).

pub mod checks;
pub mod files;
pub mod pipeline;
pub mod routes;
pub mod trial;

pub use pipeline::{IngestError, Ingestor, Outcome, Source};
pub use trial::{RulesError, TrialRules};
