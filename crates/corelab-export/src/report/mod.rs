//! PDF reports: a per-subject report (key images with their label overlays, measurements over
//! time as line plots, the measurement table, notes) and a trial QC report (status counts with a
//! bar chart, a subject × visit status grid, the list of problems).
//!
//! This module is a pure renderer: it takes the report content as plain values and returns the
//! bytes of an A4 PDF. It reads no database, no store and no clock; the caller gathers the data.
//!
//! How the PDF is made:
//! - printpdf (without its HTML layout engine) writes the pages; all text uses the PDF built-in
//!   font Helvetica, so no font file is needed on the machine that makes or reads the report.
//! - Plots and the status grid are vector drawings (lines and rectangles); key images are raw
//!   RGB pixels compressed with Flate (lossless).
//! - The output is deterministic: the document dates come from the report's `generated_at`
//!   field, resource names are fixed, and the trailer `/ID` is a SHA-256 of the document itself.
//!   The same input gives the same bytes.
//!
//! Text: the built-in fonts are single-byte WinAnsi (CP1252) fonts, so every character that
//! WinAnsi cannot encode (for example CJK, Greek, emoji) is written as `?`, and control
//! characters as a space. PDF string escaping is done by the writer.

mod image;
mod pdf;
mod plot;
mod qc;
mod subject;
mod text;

use chrono::{DateTime, Utc};

pub use image::{LABEL_PALETTE, OVERLAY_ALPHA};

/// A per-subject report: everything the renderer needs, gathered by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectReport {
    /// Trial identifier, shown in every page header.
    pub trial: String,
    /// Subject identifier, shown in every page header.
    pub subject: String,
    /// Site identifier.
    pub site: String,
    /// The software that made the report, e.g. `corelab 0.1.0`.
    pub generated_by: String,
    /// When the report was made; becomes the PDF creation and modification date, so the same
    /// input gives the same bytes (the renderer never reads the clock).
    pub generated_at: DateTime<Utc>,
    /// The data lock the numbers come from: lock version and SHA-256 prefix.
    pub lock: String,
    /// Key images, drawn two per row.
    pub key_images: Vec<KeyImage>,
    /// One line plot per measure.
    pub series: Vec<MeasureSeries>,
    /// The measurement table, paginated as needed.
    pub table: Vec<MeasureRow>,
    /// Free-text notes shown on the first page.
    pub notes: Vec<String>,
}

/// One key image: a grey slice with an optional label overlay.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyImage {
    /// Caption printed under the image; also names the image in errors.
    pub caption: String,
    /// The grey-level slice.
    pub slice: GreySlice,
    /// One label per pixel (0 = no label), row-major, the same size as the slice. Label `n`
    /// is drawn in `LABEL_PALETTE[(n - 1) % len]` blended at `OVERLAY_ALPHA`.
    pub overlay: Option<Vec<u8>>,
    /// Physical height of a pixel divided by its width (row spacing / column spacing), so the
    /// image keeps its true shape on the page. Values that are not finite and positive are
    /// treated as 1.
    pub pixel_aspect: f64,
}

/// A 2-D grey-level image with the display window to map it to grey.
#[derive(Debug, Clone, PartialEq)]
pub struct GreySlice {
    /// Number of columns.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
    /// `width * height` values, row-major, first row at the top of the page.
    pub pixels: Vec<f32>,
    /// Display window as (centre, width), in pixel units. A width that is not finite and
    /// positive means "use the range of the pixels".
    pub window: (f64, f64),
}

/// One measure over the visits, drawn as one line plot.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureSeries {
    /// Measure name, the plot title.
    pub measure: String,
    /// Unit (UCUM), shown on the y axis.
    pub unit: String,
    /// Algorithm and version that made the values.
    pub algorithm: String,
    /// `(visit, x, value)`: the visit name labels the x axis at `x` (study day or visit
    /// index). Points whose x or value is not finite are left out and counted under the plot.
    pub points: Vec<(String, f64, f64)>,
}

/// One row of the measurement table; values are preformatted by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureRow {
    /// Visit name.
    pub visit: String,
    /// Measure name.
    pub measure: String,
    /// The value as the caller wants it shown (rounding is the caller's choice).
    pub value: String,
    /// Unit (UCUM).
    pub unit: String,
    /// Algorithm and version.
    pub algorithm: String,
    /// QC status of the measurement.
    pub qc_status: String,
}

/// The trial QC report.
#[derive(Debug, Clone, PartialEq)]
pub struct QcReport {
    /// Trial identifier, shown in every page header.
    pub trial: String,
    /// The software that made the report, e.g. `corelab 0.1.0`.
    pub generated_by: String,
    /// When the report was made; becomes the PDF dates (see [`SubjectReport::generated_at`]).
    pub generated_at: DateTime<Utc>,
    /// QC status counts over series.
    pub series_counts: StatusCounts,
    /// QC status counts over visits.
    pub visit_counts: StatusCounts,
    /// One row per subject for the status grid.
    pub subjects: Vec<QcSubjectRow>,
    /// Problems to list, one per line (wrapped when long).
    pub problems: Vec<String>,
}

/// Counts of QC statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Passed QC.
    pub pass: u64,
    /// Waiting for a reviewer's decision.
    pub review: u64,
    /// Failed QC.
    pub fail: u64,
    /// Not yet checked.
    pub pending: u64,
}

impl StatusCounts {
    /// The sum of the four counts (saturating, so absurd inputs cannot overflow).
    pub fn total(&self) -> u64 {
        self.pass
            .saturating_add(self.review)
            .saturating_add(self.fail)
            .saturating_add(self.pending)
    }
}

/// One subject's row of the QC grid.
#[derive(Debug, Clone, PartialEq)]
pub struct QcSubjectRow {
    /// Subject identifier.
    pub subject: String,
    /// Site identifier.
    pub site: String,
    /// `(visit, status)`; visits become grid columns in order of first appearance over all
    /// subjects. Status `pass`, `review`, `fail` or `pending` (any case) picks the cell colour;
    /// anything else is drawn uncoloured with its text.
    pub visits: Vec<(String, String)>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// A key image's overlay does not have one label per pixel.
    #[error(
        "key image {index} ({caption:?}): overlay has {found} labels, the slice has {expected} pixels ({width}×{height})"
    )]
    OverlaySize {
        /// Position of the key image in `key_images`.
        index: usize,
        /// Its caption.
        caption: String,
        /// `width * height` of the slice.
        expected: usize,
        /// Length of the overlay.
        found: usize,
        /// Slice width.
        width: usize,
        /// Slice height.
        height: usize,
    },
    /// A key image's pixel buffer does not match its declared size.
    #[error(
        "key image {index} ({caption:?}): slice has {found} pixels, {width}×{height} needs {expected}"
    )]
    SliceSize {
        /// Position of the key image in `key_images`.
        index: usize,
        /// Its caption.
        caption: String,
        /// `width * height`, or `usize::MAX` when that overflows.
        expected: usize,
        /// Length of `pixels`.
        found: usize,
        /// Slice width.
        width: usize,
        /// Slice height.
        height: usize,
    },
    /// The PDF writer failed (it writes to memory, so this is not expected).
    #[error("writing the PDF failed: {0}")]
    Write(String),
}

/// A key image as 8-bit RGB, top row first, its overlay blended in as the reports show it:
/// `(width, height, bytes)`, None for an empty image. Refused as [`subject_pdf`] refuses it.
pub fn key_image_rgb(image: &KeyImage) -> Result<Option<(usize, usize, Vec<u8>)>, ReportError> {
    Ok(image::render(image, 0)?.map(|r| (r.width, r.height, r.rgb)))
}

/// Renders the per-subject report as PDF bytes (A4, portrait).
///
/// Pages: subject details and notes, key images two per row, one plot per measure, then the
/// measurement table over as many pages as needed. Every page has a header with the trial and
/// subject and a footer with "page n of N".
///
/// # Errors
/// [`ReportError::OverlaySize`] or [`ReportError::SliceSize`] naming the key image whose buffers
/// do not match its size. Empty images, empty series and non-finite values are drawn as such
/// and noted, not refused.
pub fn subject_pdf(report: &SubjectReport) -> Result<Vec<u8>, ReportError> {
    subject::render(report)
}

/// Renders the trial QC report as PDF bytes (A4, portrait).
///
/// Pages: status counts for series and visits with a bar chart, the subject × visit grid
/// coloured by status (split over pages by rows and, for many visits, by columns), then the
/// list of problems.
///
/// # Errors
/// Only [`ReportError::Write`], which writing to memory does not produce in practice.
pub fn qc_pdf(report: &QcReport) -> Result<Vec<u8>, ReportError> {
    qc::render(report)
}
