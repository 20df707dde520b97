//! corelab's persistence: the metadata database, the content-addressed blob store and the
//! hash-chained, signed audit trail, behind one [`Store`].
//!
//! The database is SQLite (a file in the data directory) by default and PostgreSQL for scale-out,
//! from one code base; the blob store is a local directory or any S3-compatible store. Every state
//! change goes through a [`WriteTx`], which writes its audit event in the same transaction. This
//! crate never parses DICOM or runs algorithms; it stores what others hand it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), corelab_store::StoreError> {
//! use corelab_store::{Overrides, Store};
//! let store = Store::init(std::path::Path::new("/tmp/lab"), &Overrides::default(), "cli:me").await?;
//! let report = store.verify_audit().await?;
//! assert!(report.ok);
//! # Ok(()) }
//! ```

pub mod audit;
pub mod blob;
pub mod catalog;
pub mod db;
pub mod dicomweb;
pub mod error;
pub mod forwarding;
pub mod ingest;
pub mod installation;
pub mod jobs;
mod keyfile;
pub mod locks;
pub mod qc;
pub mod reads;
mod store;
pub mod subjects;
pub mod sweep;
pub mod time;
pub mod users;

pub use audit::{AuditEvent, Checkpoint, NewEvent, VerifyReport};
pub use blob::{BlobRef, BlobStore};
pub use catalog::{SiteSummary, Status, TrialSummary};
pub use db::{Backend, Db};
pub use error::{Result, StoreError};
pub use installation::Installation;
pub use jobs::{Enqueued, Job, JobDone, NewJob, NewMeasurement, StoredMeasurement};
pub use locks::TrialLock;
pub use qc::{CatalogSeries, QcDecision, QcEvaluation, QcQuery, QueryStep};
pub use reads::{NewReadTask, ReadTask, SignRequest, Signature, SignatureCheck};
pub use store::{AuditFilter, Overrides, Store, WriteTx};
pub use subjects::{OriginalIdentity, Revealed, SubjectLink};
pub use users::{Credentials, NewUser, UserInfo};
