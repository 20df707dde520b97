//! De-identification to DICOM PS3.15 Annex E. Today: the profile table ([`profile`]).

pub mod profile;
