//! De-identification to DICOM PS3.15 Annex E: the profile table ([`profile`]), the trial secret
//! ([`secret`]), deterministic UID replacement ([`uid`]), per-subject date shifting ([`dates`]),
//! the engine that applies them to a data set ([`engine`]) and to files ([`file`]).

pub mod dates;
pub mod engine;
pub mod file;
pub mod pixels;
pub mod private;
pub mod profile;
pub mod secret;
pub mod uid;
pub mod verify;

pub use dates::{DateError, DateShift};
pub use engine::{
    ClinicalTrial, Dates, DeidError, DeidOutcome, Deidentifier, OriginalSubject, Refusal, Subject,
    SubjectResolver, original_subject,
};
pub use file::{FileError, deidentify_file, encode_part10, read_dicom, read_dicom_noted};
pub use private::{PrivatePolicy, SafePrivateList};
pub use secret::TrialSecret;
pub use uid::{UidMapper, is_valid_uid};
pub use verify::{Finding, OriginalPhi, verify_dataset};
