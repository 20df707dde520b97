//! Network services of corelab: the HTTP API, DICOMweb and sessions ([`http`]), the DICOM storage
//! SCP ([`dimse`]) and SCU ([`scu`]), and a site gateway's forwarder to the hub ([`gateway`]). Every object received, by C-STORE or STOW-RS, goes through
//! the same ingest pipeline as `corelab import`.

pub mod dimse;
pub mod gateway;
pub mod http;
pub mod scu;
pub mod spool;
