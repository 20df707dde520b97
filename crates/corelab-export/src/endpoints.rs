//! The endpoint dataset: one row per subject × visit × measure, from the trial's locked
//! algorithms and its signed central reads, with what a statistician needs to trust each number
//! (unit, algorithm@version, lock version, provenance, QC status, reader, accepted flag). Written
//! as CSV, JSON or Parquet, always with its data dictionary (`DICTIONARY`), which the writers and
//! the documentation share so they cannot disagree.

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// One row of the endpoint dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointRow {
    /// The trial.
    pub trial: String,
    /// The subject's site.
    pub site: String,
    /// The subject (pseudonym).
    pub subject: String,
    /// The protocol visit.
    pub visit: String,
    /// The visit's (de-identified) study date, ISO 8601, where known.
    pub visit_date: Option<String>,
    /// The series measured, where one.
    pub series_instance_uid: Option<String>,
    /// `algorithm` (a locked algorithm's job) or `read` (a signed central read).
    pub source: Source,
    /// `id@version` of the algorithm that computed the value (for reads: the response engine).
    pub algorithm: Option<String>,
    /// What was measured, as the algorithm or the read names it.
    pub measure: String,
    /// The number, for numeric measures.
    pub value: Option<f64>,
    /// The category, for categorical measures (a response such as `PR`).
    pub value_text: Option<String>,
    /// UCUM unit (`1` for a dimensionless ratio, `{lesions}` for a count); empty for categories.
    pub unit: String,
    /// The trial lock version the job ran under.
    pub lock_version: Option<i64>,
    /// The job that made it.
    pub job_id: Option<i64>,
    /// The read task that made it.
    pub read_id: Option<i64>,
    /// The W3C PROV entity of the value (`corelab:run/…/measurement/NAME`, `corelab:read/N/…`).
    pub provenance_id: String,
    /// QC status of the series measured (of the visit when no series is named).
    pub qc_status: Option<String>,
    /// The reader, for reads.
    pub reader: Option<String>,
    /// For reads: whether this read is the subject's accepted one (adjudication).
    pub accepted: Option<bool>,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
}

/// Where a row comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A locked algorithm's job.
    Algorithm,
    /// A signed central read.
    Read,
}

impl Source {
    /// The word written.
    pub fn word(self) -> &'static str {
        match self {
            Source::Algorithm => "algorithm",
            Source::Read => "read",
        }
    }
}

/// One column of the dictionary: name, type, unit and meaning.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Variable {
    /// Column name.
    pub name: &'static str,
    /// `string`, `float64`, `int64` or `boolean` (as Parquet stores it; CSV writes text).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether it may be empty.
    pub nullable: bool,
    /// What it holds.
    pub description: &'static str,
}

const fn var(
    name: &'static str,
    kind: &'static str,
    nullable: bool,
    description: &'static str,
) -> Variable {
    Variable {
        name,
        kind,
        nullable,
        description,
    }
}

/// The data dictionary, in column order.
pub const DICTIONARY: [Variable; 20] = [
    var("trial", "string", false, "Trial identifier."),
    var(
        "site",
        "string",
        false,
        "The subject's site (Clinical Trial Site ID).",
    ),
    var(
        "subject",
        "string",
        false,
        "Subject pseudonym (Clinical Trial Subject ID); never a patient identifier.",
    ),
    var(
        "visit",
        "string",
        false,
        "Protocol visit name from trial.toml.",
    ),
    var(
        "visit_date",
        "string",
        true,
        "The visit's study date (ISO 8601), de-identified as the trial's profile shifts dates.",
    ),
    var(
        "series_instance_uid",
        "string",
        true,
        "Series Instance UID (de-identified) of the series measured, where one.",
    ),
    var(
        "source",
        "string",
        false,
        "`algorithm`: a locked algorithm's job; `read`: a signed blinded central read.",
    ),
    var(
        "algorithm",
        "string",
        true,
        "`id@version` of the algorithm that computed the value; for reads, the response engine (empty for free-form reads).",
    ),
    var(
        "measure",
        "string",
        false,
        "What was measured, as the algorithm or read names it.",
    ),
    var("value", "float64", true, "The value of a numeric measure."),
    var(
        "value_text",
        "string",
        true,
        "The value of a categorical measure (e.g. a response: CR, PR, SD, PD, NE).",
    ),
    var(
        "unit",
        "string",
        false,
        "UCUM unit of `value` (`1`: dimensionless; `{…}`: a count); empty for categorical measures.",
    ),
    var(
        "lock_version",
        "int64",
        true,
        "The trial's version lock the job ran under (`corelab trial locks TRIAL`).",
    ),
    var(
        "job_id",
        "int64",
        true,
        "The job that made the value (`corelab provenance TRIAL JOB`).",
    ),
    var(
        "read_id",
        "int64",
        true,
        "The read task that made the value.",
    ),
    var(
        "provenance_id",
        "string",
        false,
        "W3C PROV entity of the value: `corelab:run/RUN/measurement/NAME` in the job's provenance record, or `corelab:read/TASK/TIMEPOINT/NAME`.",
    ),
    var(
        "qc_status",
        "string",
        true,
        "QC status (pass, review, fail, pending) of the series measured, or of the visit when no series is named, people's decisions applied.",
    ),
    var(
        "reader",
        "string",
        true,
        "The reader (user name) of a read; empty for algorithms.",
    ),
    var(
        "accepted",
        "boolean",
        true,
        "For reads: true for the subject's accepted read (the adjudicator's choice, else the first reader's when reads agree, else the single reader's).",
    ),
    var(
        "recorded_at",
        "string",
        false,
        "When the value was recorded (RFC 3339, UTC).",
    ),
];

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON document: `{"trial", "dictionary", "rows"}`.
    Json,
    /// Apache Parquet (ZSTD), the dictionary's descriptions in the schema's field metadata.
    Parquet,
}

/// A failure to write the dataset.
#[derive(Debug, thiserror::Error)]
#[error("endpoint dataset: {0}")]
pub struct EndpointError(String);

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// A row's fields as text, in dictionary order (CSV).
fn text_fields(r: &EndpointRow) -> [String; 20] {
    [
        r.trial.clone(),
        r.site.clone(),
        r.subject.clone(),
        r.visit.clone(),
        opt(&r.visit_date),
        opt(&r.series_instance_uid),
        r.source.word().to_owned(),
        opt(&r.algorithm),
        r.measure.clone(),
        // Shortest text that reads back as the same f64.
        r.value.map(|v| format!("{v:?}")).unwrap_or_default(),
        opt(&r.value_text),
        r.unit.clone(),
        opt(&r.lock_version),
        opt(&r.job_id),
        opt(&r.read_id),
        r.provenance_id.clone(),
        opt(&r.qc_status),
        opt(&r.reader),
        opt(&r.accepted),
        r.recorded_at.clone(),
    ]
}

/// The dataset as CSV text.
pub fn to_csv(rows: &[EndpointRow]) -> String {
    let mut out = DICTIONARY.map(|v| v.name).join(",");
    out.push('\n');
    for r in rows {
        let fields = text_fields(r).map(|f| corelab_algo::csv::field(&f));
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// The dictionary as CSV text (`name,type,nullable,description`).
pub fn dictionary_csv() -> String {
    let mut out = String::from("name,type,nullable,description\n");
    for v in DICTIONARY {
        out.push_str(&format!(
            "{},{},{},{}\n",
            v.name,
            v.kind,
            v.nullable,
            corelab_algo::csv::field(v.description)
        ));
    }
    out
}

/// The dataset as one JSON document, with its dictionary.
pub fn to_json(trial: &str, rows: &[EndpointRow]) -> serde_json::Value {
    serde_json::json!({"trial": trial, "dictionary": DICTIONARY, "rows": rows})
}

fn arrow_type(kind: &str) -> DataType {
    match kind {
        "float64" => DataType::Float64,
        "int64" => DataType::Int64,
        "boolean" => DataType::Boolean,
        _ => DataType::Utf8,
    }
}

/// The Arrow schema: the dictionary's columns, each with its description as field metadata.
pub fn schema() -> Schema {
    Schema::new(
        DICTIONARY
            .iter()
            .map(|v| {
                Field::new(v.name, arrow_type(v.kind), v.nullable).with_metadata(HashMap::from([(
                    "description".to_owned(),
                    v.description.to_owned(),
                )]))
            })
            .collect::<Vec<_>>(),
    )
}

/// The dataset as one Arrow record batch.
pub fn to_batch(rows: &[EndpointRow]) -> Result<RecordBatch, EndpointError> {
    let strings = |f: &dyn Fn(&EndpointRow) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| Some(r.trial.clone())),
        strings(&|r| Some(r.site.clone())),
        strings(&|r| Some(r.subject.clone())),
        strings(&|r| Some(r.visit.clone())),
        strings(&|r| r.visit_date.clone()),
        strings(&|r| r.series_instance_uid.clone()),
        strings(&|r| Some(r.source.word().to_owned())),
        strings(&|r| r.algorithm.clone()),
        strings(&|r| Some(r.measure.clone())),
        Arc::new(rows.iter().map(|r| r.value).collect::<Float64Array>()),
        strings(&|r| r.value_text.clone()),
        strings(&|r| Some(r.unit.clone())),
        Arc::new(rows.iter().map(|r| r.lock_version).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.job_id).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.read_id).collect::<Int64Array>()),
        strings(&|r| Some(r.provenance_id.clone())),
        strings(&|r| r.qc_status.clone()),
        strings(&|r| r.reader.clone()),
        Arc::new(rows.iter().map(|r| r.accepted).collect::<BooleanArray>()),
        strings(&|r| Some(r.recorded_at.clone())),
    ];
    RecordBatch::try_new(Arc::new(schema()), columns).map_err(|e| EndpointError(e.to_string()))
}

/// The dataset as Parquet bytes (ZSTD), the trial named in the file's key-value metadata.
pub fn to_parquet(trial: &str, rows: &[EndpointRow]) -> Result<Vec<u8>, EndpointError> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let batch = to_batch(rows)?;
    let zstd = ZstdLevel::try_new(3).map_err(|e| EndpointError(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_created_by(format!("corelab {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "corelab.trial".to_owned(),
            trial.to_owned(),
        )]))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))
        .map_err(|e| EndpointError(e.to_string()))?;
    w.write(&batch).map_err(|e| EndpointError(e.to_string()))?;
    w.close().map_err(|e| EndpointError(e.to_string()))?;
    Ok(out)
}

/// The dataset in `format`, as bytes.
pub fn encode(format: Format, trial: &str, rows: &[EndpointRow]) -> Result<Vec<u8>, EndpointError> {
    Ok(match format {
        Format::Csv => to_csv(rows).into_bytes(),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&to_json(trial, rows))
                .map_err(|e| EndpointError(e.to_string()))?;
            text.push('\n');
            text.into_bytes()
        }
        Format::Parquet => to_parquet(trial, rows)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(measure: &str, value: Option<f64>, text: Option<&str>) -> EndpointRow {
        EndpointRow {
            trial: "T1".into(),
            site: "S01".into(),
            subject: "SUBJ-001".into(),
            visit: "baseline".into(),
            visit_date: Some("2026-01-02".into()),
            series_instance_uid: Some("1.2.3".into()),
            source: Source::Algorithm,
            algorithm: Some("neuro.pbvc@1.0.0".into()),
            measure: measure.into(),
            value,
            value_text: text.map(str::to_owned),
            unit: "mL".into(),
            lock_version: Some(1),
            job_id: Some(7),
            read_id: None,
            provenance_id: "corelab:run/x/measurement/m".into(),
            qc_status: Some("pass".into()),
            reader: None,
            accepted: None,
            recorded_at: "2026-01-03T00:00:00Z".into(),
        }
    }

    #[test]
    fn the_dictionary_names_every_field_a_row_serialises() {
        let v = serde_json::to_value(row("m", Some(1.0), None)).unwrap_or_default();
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut names: Vec<&str> = DICTIONARY.iter().map(|d| d.name).collect();
        let mut keys = keys;
        keys.sort();
        names.sort();
        assert_eq!(keys, names);
    }

    #[test]
    fn csv_quotes_text_and_keeps_every_digit() {
        let mut r = row("volume, left", Some(0.1 + 0.2), None);
        r.reader = Some("a \"b\"".into());
        let csv = to_csv(&[r]);
        let records = corelab_algo::csv::records(&csv, "test").unwrap_or_default();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1][8], "volume, left");
        assert_eq!(records[1][9].parse::<f64>().ok(), Some(0.1 + 0.2));
        assert_eq!(records[1][17], "a \"b\"");
        assert_eq!(records[1][14], "", "no read id");
    }

    #[test]
    fn a_batch_has_the_dictionarys_schema_and_nulls() {
        let b = to_batch(&[row("a", None, Some("PR")), row("b", Some(2.5), None)]);
        let b = b.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.num_columns(), DICTIONARY.len());
        assert_eq!(b.column(9).null_count(), 1);
        assert_eq!(b.column(14).null_count(), 2);
    }
}
