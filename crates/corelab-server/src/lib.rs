//! Network services of corelab: the HTTP API, DICOMweb and sessions ([`http`]), the DICOM storage
//! SCP ([`dimse`]) and SCU ([`scu`]). Every object received, by C-STORE or STOW-RS, goes through
//! the same ingest pipeline as `corelab import`.

pub mod dimse;
pub mod http;
pub mod scu;
pub mod spool;
