//! DICOM for corelab, on dicom-rs. Today it owns reading objects with reasons that name what is
//! wrong ([`read`]), de-identification to PS3.15 Annex E ([`deid`]), series to volumes
//! ([`series`]), volumes written as series ([`write`]), derived objects that reference a
//! source series — DICOM SEG of masks and SR TID 1500 measurement reports ([`write::seg`],
//! [`write::sr`]) — and the digital phantoms on disk ([`phantom`]). It never touches the catalogue or the
//! audit trail: it transforms objects.
//!
//! ```
//! use corelab_dicom::deid::profile::{ProfileTable, Action};
//! let table = ProfileTable::standard();
//! let row = table.lookup(0x0010, 0x0010).unwrap(); // Patient's Name
//! assert_eq!(row.basic.alternatives(), &[Action::Zero]);
//! ```

pub mod acquisition;
pub mod deid;
pub mod dimse;
mod enhanced;
pub mod metadata;
mod nm;
pub mod pet;
pub mod phantom;
pub mod read;
pub mod rtstruct;
pub mod seg;
pub mod series;
pub mod skim;
pub mod synthetic;
pub mod values;
pub mod write;
