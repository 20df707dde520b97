//! Network services of corelab: the DICOM storage SCP ([`dimse`]) and SCU ([`scu`]). Every object
//! received goes through the same ingest pipeline as `corelab import`.

pub mod dimse;
pub mod scu;
pub mod spool;
