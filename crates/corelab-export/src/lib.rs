//! What leaves corelab for sponsors and regulators: the endpoint dataset (one row per subject ×
//! visit × measurement) as CSV, JSON or Parquet with its data dictionary (`endpoints`), and CDISC
//! SDTM datasets written as CSV and SAS transport v5 with a define.xml describing them; and PDF
//! reports of a subject and of a trial's QC (`report`). It reads no store: callers gather.

/// A typed SDTM-style dataset, its validation and its CSV form.
pub mod dataset;
/// define.xml (Define-XML 2.0) describing a set of datasets.
pub mod define;
pub mod endpoints;
/// PDF reports: the per-subject report and the trial QC report (pure renderer, no I/O).
pub mod report;
/// The SDTM domains TU, TR, RS and NV, and the package writer.
pub mod sdtm;
/// SAS transport (XPT) version 5 writer, with IBM 370 floating point.
pub mod xpt;
