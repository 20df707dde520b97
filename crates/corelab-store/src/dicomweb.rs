//! What DICOMweb reads from the index: QIDO-RS searches of studies, series and instances with the
//! standard's matching (single value, UID list, wildcard, date range, fuzzy person names), paged,
//! answered from catalogue columns only, never by reading files; and the blobs WADO-RS serves (an
//! instance's bytes and its DICOM JSON metadata, written at ingest).
//!
//! Rows are limited to one trial, and to a list of its sites when the caller says so (a site
//! user's scope); the HTTP layer decides that scope, this module applies it in SQL.

pub mod query;

use crate::error::{Result, StoreError};
use crate::store::Store;
use corelab_core::Sha256Digest;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// How a QIDO key's value matches (PS3.4 C.2.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// The value exactly.
    Exact(String),
    /// Any of these values (a UID list, `\`-separated on the wire).
    AnyOf(Vec<String>),
    /// A pattern with `*` (any run) and `?` (one character).
    Wildcard(String),
    /// Person-name fuzzy matching: each word of the query starts a word of the name, any case.
    Fuzzy(String),
    /// An inclusive range of DICOM dates or times (either end open).
    Range(Option<String>, Option<String>),
}

impl Match {
    /// Parses a query value for an attribute of VR `vr`: a UID list, a date or time range, a
    /// wildcard, or a single value. `fuzzy` turns person-name values into fuzzy matches.
    pub fn parse(value: &str, vr: &str, fuzzy: bool) -> Self {
        let value = value.trim();
        if vr == "UI" && value.contains('\\') {
            return Match::AnyOf(value.split('\\').map(|v| v.trim().to_owned()).collect());
        }
        if matches!(vr, "DA" | "TM" | "DT")
            && let Some((a, b)) = value.split_once('-')
        {
            let end = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
            return Match::Range(end(a), end(b));
        }
        if vr == "PN" && fuzzy {
            return Match::Fuzzy(value.trim_end_matches('*').to_owned());
        }
        if value.contains('*') || value.contains('?') {
            return Match::Wildcard(value.to_owned());
        }
        Match::Exact(value.to_owned())
    }
}

/// SQL text with its bound values, built as filters are added.
struct Sql {
    text: String,
    args: Vec<Arg>,
}

enum Arg {
    Text(String),
    Int(i64),
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// `$N` for a new bound value.
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn and(&mut self, clause: &str) {
        self.text.push_str(" AND ");
        self.text.push_str(clause);
    }

    /// Adds `column` matching `m`.
    fn matching(&mut self, column: &str, m: &Match) {
        match m {
            Match::Exact(v) => {
                let p = self.arg(Arg::Text(v.clone()));
                self.and(&format!("{column} = {p}"));
            }
            Match::AnyOf(vs) => {
                let ps: Vec<String> = vs.iter().map(|v| self.arg(Arg::Text(v.clone()))).collect();
                self.and(&format!("{column} IN ({})", ps.join(", ")));
            }
            Match::Wildcard(v) => {
                let p = self.arg(Arg::Text(like_pattern(v)));
                self.and(&format!("{column} LIKE {p} ESCAPE '\\'"));
            }
            Match::Fuzzy(v) => {
                // Each word of the query must start the name or one of its components
                // (family^given, or words separated by spaces).
                for word in v.split(|c: char| c == '^' || c.is_whitespace()) {
                    if word.is_empty() {
                        continue;
                    }
                    let w = like_escape(&word.to_lowercase());
                    let (a, b, c) = (
                        self.arg(Arg::Text(format!("{w}%"))),
                        self.arg(Arg::Text(format!("%^{w}%"))),
                        self.arg(Arg::Text(format!("% {w}%"))),
                    );
                    self.and(&format!(
                        "(LOWER({column}) LIKE {a} ESCAPE '\\' OR LOWER({column}) LIKE {b} ESCAPE '\\' \
                         OR LOWER({column}) LIKE {c} ESCAPE '\\')"
                    ));
                }
            }
            Match::Range(from, to) => {
                if let Some(f) = from {
                    let p = self.arg(Arg::Text(f.clone()));
                    self.and(&format!("{column} >= {p}"));
                }
                if let Some(t) = to {
                    let p = self.arg(Arg::Text(t.clone()));
                    self.and(&format!("{column} <= {p}"));
                }
            }
        }
    }

    async fn fetch(self, store: &Store, what: &str) -> Result<Vec<AnyRow>> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text));
        for a in self.args {
            q = match a {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            };
        }
        q.fetch_all(store.db.pool())
            .await
            .map_err(StoreError::db(format!("searching {what}")))
    }
}

fn like_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A DICOM wildcard as a LIKE pattern.
fn like_pattern(v: &str) -> String {
    like_escape(v).replace('*', "%").replace('?', "_")
}

/// The scope and page of a search.
#[derive(Clone, Debug)]
pub struct Within {
    /// The trial.
    pub trial: String,
    /// Only these sites of it, when set (a site user's scope).
    pub sites: Option<Vec<String>>,
    /// At most this many rows.
    pub limit: i64,
    /// After skipping this many.
    pub offset: i64,
}

impl Within {
    fn scope(&self, sql: &mut Sql, study_alias: &str) {
        let t = sql.arg(Arg::Text(self.trial.clone()));
        sql.and(&format!(
            "{study_alias}.trial_id = (SELECT id FROM trials WHERE trial_key = {t})"
        ));
        if let Some(sites) = &self.sites {
            if sites.is_empty() {
                sql.and("1 = 0");
                return;
            }
            let ps: Vec<String> = sites
                .iter()
                .map(|s| sql.arg(Arg::Text(s.clone())))
                .collect();
            sql.and(&format!(
                "{study_alias}.subject_id IN (SELECT j.id FROM subjects j JOIN sites s ON s.id = j.site_id \
                 WHERE j.trial_id = {study_alias}.trial_id AND s.site_key IN ({}))",
                ps.join(", ")
            ));
        }
    }

    fn page(&self, sql: &mut Sql) {
        let l = sql.arg(Arg::Int(self.limit));
        let o = sql.arg(Arg::Int(self.offset));
        sql.text.push_str(&format!(" LIMIT {l} OFFSET {o}"));
    }
}

/// Study-level keys (PS3.18 Table 10.6.1-5) the index matches on.
#[derive(Clone, Debug, Default)]
pub struct StudyKeys {
    /// Study Instance UID.
    pub study_uid: Option<Match>,
    /// Study Date.
    pub study_date: Option<Match>,
    /// Study Time.
    pub study_time: Option<Match>,
    /// Accession Number.
    pub accession_number: Option<Match>,
    /// Modalities in Study.
    pub modality: Option<Match>,
    /// Patient ID.
    pub patient_id: Option<Match>,
    /// Patient's Name.
    pub patient_name: Option<Match>,
    /// Study ID.
    pub study_id: Option<Match>,
    /// Referring Physician's Name.
    pub referring_physician: Option<Match>,
    /// Study Description.
    pub description: Option<Match>,
}

/// Series-level keys.
#[derive(Clone, Debug, Default)]
pub struct SeriesKeys {
    /// Series Instance UID.
    pub series_uid: Option<Match>,
    /// Modality.
    pub modality: Option<Match>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub description: Option<Match>,
}

/// Instance-level keys.
#[derive(Clone, Debug, Default)]
pub struct InstanceKeys {
    /// SOP Instance UID.
    pub sop_instance_uid: Option<Match>,
    /// SOP Class UID.
    pub sop_class_uid: Option<Match>,
    /// Instance Number.
    pub instance_number: Option<i64>,
}

/// A study as QIDO-RS answers it.
#[derive(Clone, Debug, Serialize)]
pub struct StudyRow {
    /// Study Instance UID.
    pub study_uid: String,
    /// Study Date.
    pub study_date: Option<String>,
    /// Study Time.
    pub study_time: Option<String>,
    /// Accession Number.
    pub accession_number: Option<String>,
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Patient's Name.
    pub patient_name: Option<String>,
    /// Study ID.
    pub study_id: Option<String>,
    /// Referring Physician's Name.
    pub referring_physician: Option<String>,
    /// Study Description.
    pub description: Option<String>,
    /// The trial subject.
    pub subject: String,
    /// The site.
    pub site: String,
    /// Modalities in Study.
    pub modalities: Vec<String>,
    /// Number of Study Related Series.
    pub series: i64,
    /// Number of Study Related Instances.
    pub instances: i64,
    /// The short attributes of one instance of the study (for `includefield`).
    pub attributes: Option<String>,
}

/// A series as QIDO-RS answers it.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesRow {
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Modality.
    pub modality: String,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub description: Option<String>,
    /// Number of Series Related Instances.
    pub instances: i64,
    /// The site.
    pub site: String,
    /// The short attributes of one instance of the series (for `includefield`).
    pub attributes: Option<String>,
}

/// An instance as QIDO-RS answers it (its latest version).
#[derive(Clone, Debug, Serialize)]
pub struct InstanceRow {
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// Transfer syntax as stored.
    pub transfer_syntax: String,
    /// The site.
    pub site: String,
    /// Its short attributes as a DICOM JSON object.
    pub attributes: Option<String>,
    /// The stored bytes.
    pub blob_sha256: String,
    /// The stored DICOM JSON metadata, if any.
    pub metadata_sha256: Option<String>,
}

/// The site of a study's subject.
const SITE_OF_STUDY: &str = "(SELECT s.site_key FROM subjects j JOIN sites s ON s.id = j.site_id WHERE j.id = st.subject_id)";

/// The latest version of an instance only.
const LATEST: &str = "NOT EXISTS (SELECT 1 FROM instances n WHERE n.supersedes_id = i.id)";

fn text(r: &AnyRow, c: &str) -> Result<Option<String>> {
    r.try_get(c)
        .map_err(StoreError::db(format!("reading column {c}")))
}

fn need(r: &AnyRow, c: &str) -> Result<String> {
    Ok(text(r, c)?.unwrap_or_default())
}

fn int(r: &AnyRow, c: &str) -> Result<Option<i64>> {
    r.try_get(c)
        .map_err(StoreError::db(format!("reading column {c}")))
}

impl Store {
    /// QIDO-RS: studies matching `keys` within `w`, in catalogue order.
    pub async fn search_studies(&self, w: &Within, keys: &StudyKeys) -> Result<Vec<StudyRow>> {
        let mut sql = Sql::new(&format!(
            "SELECT st.id, st.study_instance_uid, st.study_date, st.study_time, st.accession_number, \
               st.patient_id, st.patient_name, st.study_id, st.referring_physician, st.description, \
               (SELECT subject_key FROM subjects j WHERE j.id = st.subject_id) AS subject, \
               {SITE_OF_STUDY} AS site, \
               (SELECT COUNT(*) FROM series se WHERE se.study_id = st.id) AS n_series, \
               (SELECT COUNT(*) FROM instances i JOIN series se ON se.id = i.series_id \
                  WHERE se.study_id = st.id AND {LATEST}) AS n_instances, \
               (SELECT i.attributes FROM instances i JOIN series se ON se.id = i.series_id \
                  WHERE se.study_id = st.id ORDER BY i.id LIMIT 1) AS attributes \
             FROM studies st WHERE 1 = 1"
        ));
        w.scope(&mut sql, "st");
        let cols = [
            ("st.study_instance_uid", &keys.study_uid),
            ("st.study_date", &keys.study_date),
            ("st.study_time", &keys.study_time),
            ("st.accession_number", &keys.accession_number),
            ("st.patient_id", &keys.patient_id),
            ("st.patient_name", &keys.patient_name),
            ("st.study_id", &keys.study_id),
            ("st.referring_physician", &keys.referring_physician),
            ("st.description", &keys.description),
        ];
        for (c, m) in cols {
            if let Some(m) = m {
                sql.matching(c, m);
            }
        }
        if let Some(m) = &keys.modality {
            let mut inner = Sql {
                text: String::new(),
                args: std::mem::take(&mut sql.args),
            };
            inner.matching("se.modality", m);
            sql.args = inner.args;
            sql.and(&format!(
                "EXISTS (SELECT 1 FROM series se WHERE se.study_id = st.id{})",
                inner.text
            ));
        }
        sql.text.push_str(" ORDER BY st.id");
        w.page(&mut sql);
        let rows = sql.fetch(self, "studies").await?;
        let ids = rows
            .iter()
            .map(|r| r.try_get::<i64, _>("id"))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::db("reading studies"))?;
        let mut modalities = self.modalities_in(&ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (r, id) in rows.iter().zip(&ids) {
            let modalities = modalities.remove(id).unwrap_or_default();
            out.push(StudyRow {
                study_uid: need(r, "study_instance_uid")?,
                study_date: text(r, "study_date")?,
                study_time: text(r, "study_time")?,
                accession_number: text(r, "accession_number")?,
                patient_id: text(r, "patient_id")?,
                patient_name: text(r, "patient_name")?,
                study_id: text(r, "study_id")?,
                referring_physician: text(r, "referring_physician")?,
                description: text(r, "description")?,
                subject: need(r, "subject")?,
                site: need(r, "site")?,
                modalities,
                series: int(r, "n_series")?.unwrap_or(0),
                instances: int(r, "n_instances")?.unwrap_or(0),
                attributes: text(r, "attributes")?,
            });
        }
        Ok(out)
    }

    /// Modalities in Study of each of `studies`, in one query.
    async fn modalities_in(
        &self,
        studies: &[i64],
    ) -> Result<std::collections::HashMap<i64, Vec<String>>> {
        let mut by = std::collections::HashMap::<i64, Vec<String>>::new();
        if studies.is_empty() {
            return Ok(by);
        }
        let mut sql = Sql::new("SELECT DISTINCT study_id, modality FROM series WHERE 1 = 1");
        let ps: Vec<String> = studies.iter().map(|id| sql.arg(Arg::Int(*id))).collect();
        sql.and(&format!("study_id IN ({})", ps.join(", ")));
        sql.text.push_str(" ORDER BY study_id, modality");
        for r in sql.fetch(self, "modalities in studies").await? {
            let ctx = || StoreError::db("reading modalities in studies");
            by.entry(r.try_get("study_id").map_err(ctx())?)
                .or_default()
                .push(r.try_get("modality").map_err(ctx())?);
        }
        Ok(by)
    }

    /// QIDO-RS: series matching `keys` (of one study, or of any study matching `study`).
    pub async fn search_series(
        &self,
        w: &Within,
        study: &StudyKeys,
        keys: &SeriesKeys,
    ) -> Result<Vec<SeriesRow>> {
        let mut sql = Sql::new(&format!(
            "SELECT st.study_instance_uid, se.series_instance_uid, se.modality, se.series_number, se.description, \
               {SITE_OF_STUDY} AS site, \
               (SELECT COUNT(*) FROM instances i WHERE i.series_id = se.id AND {LATEST}) AS n_instances, \
               (SELECT i.attributes FROM instances i WHERE i.series_id = se.id ORDER BY i.id LIMIT 1) AS attributes \
             FROM series se JOIN studies st ON st.id = se.study_id WHERE 1 = 1"
        ));
        w.scope(&mut sql, "st");
        if let Some(m) = &study.study_uid {
            sql.matching("st.study_instance_uid", m);
        }
        if let Some(m) = &study.patient_id {
            sql.matching("st.patient_id", m);
        }
        if let Some(m) = &study.study_date {
            sql.matching("st.study_date", m);
        }
        if let Some(m) = &keys.series_uid {
            sql.matching("se.series_instance_uid", m);
        }
        if let Some(m) = &keys.modality {
            sql.matching("se.modality", m);
        }
        if let Some(m) = &keys.description {
            sql.matching("se.description", m);
        }
        if let Some(n) = keys.series_number {
            let p = sql.arg(Arg::Int(n));
            sql.and(&format!("se.series_number = {p}"));
        }
        sql.text.push_str(" ORDER BY se.id");
        w.page(&mut sql);
        let rows = sql.fetch(self, "series").await?;
        rows.iter()
            .map(|r| {
                Ok(SeriesRow {
                    study_uid: need(r, "study_instance_uid")?,
                    series_uid: need(r, "series_instance_uid")?,
                    modality: need(r, "modality")?,
                    series_number: int(r, "series_number")?,
                    description: text(r, "description")?,
                    instances: int(r, "n_instances")?.unwrap_or(0),
                    site: need(r, "site")?,
                    attributes: text(r, "attributes")?,
                })
            })
            .collect()
    }

    /// QIDO-RS: instances matching `keys` (latest versions), ordered by series and number.
    pub async fn search_instances(
        &self,
        w: &Within,
        study: &StudyKeys,
        series: &SeriesKeys,
        keys: &InstanceKeys,
    ) -> Result<Vec<InstanceRow>> {
        let mut sql = Sql::new(&format!(
            "SELECT st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, i.sop_class_uid, \
               i.instance_number, i.transfer_syntax, i.attributes, i.blob_sha256, i.metadata_sha256, \
               {SITE_OF_STUDY} AS site \
             FROM instances i JOIN series se ON se.id = i.series_id JOIN studies st ON st.id = se.study_id \
             WHERE {LATEST}"
        ));
        w.scope(&mut sql, "st");
        if let Some(m) = &study.study_uid {
            sql.matching("st.study_instance_uid", m);
        }
        if let Some(m) = &study.patient_id {
            sql.matching("st.patient_id", m);
        }
        if let Some(m) = &series.series_uid {
            sql.matching("se.series_instance_uid", m);
        }
        if let Some(m) = &series.modality {
            sql.matching("se.modality", m);
        }
        if let Some(m) = &keys.sop_instance_uid {
            sql.matching("i.sop_instance_uid", m);
        }
        if let Some(m) = &keys.sop_class_uid {
            sql.matching("i.sop_class_uid", m);
        }
        if let Some(n) = keys.instance_number {
            let p = sql.arg(Arg::Int(n));
            sql.and(&format!("i.instance_number = {p}"));
        }
        sql.text
            .push_str(" ORDER BY se.id, i.instance_number, i.id");
        w.page(&mut sql);
        let rows = sql.fetch(self, "instances").await?;
        rows.iter()
            .map(|r| {
                Ok(InstanceRow {
                    study_uid: need(r, "study_instance_uid")?,
                    series_uid: need(r, "series_instance_uid")?,
                    sop_instance_uid: need(r, "sop_instance_uid")?,
                    sop_class_uid: need(r, "sop_class_uid")?,
                    instance_number: int(r, "instance_number")?,
                    transfer_syntax: need(r, "transfer_syntax")?,
                    site: need(r, "site")?,
                    attributes: text(r, "attributes")?,
                    blob_sha256: need(r, "blob_sha256")?,
                    metadata_sha256: text(r, "metadata_sha256")?,
                })
            })
            .collect()
    }

    /// A blob's bytes by its hex digest (WADO-RS: an instance or its metadata), verified.
    pub async fn blob_bytes(&self, sha256_hex: &str) -> Result<bytes::Bytes> {
        let digest: Sha256Digest = sha256_hex.parse().map_err(|_| {
            StoreError::Conflict(format!("the index names blob {sha256_hex:?}, not a digest"))
        })?;
        self.blobs.get(&digest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_parse_by_vr() {
        assert_eq!(
            Match::parse("1.2\\1.3", "UI", false),
            Match::AnyOf(vec!["1.2".into(), "1.3".into()])
        );
        assert_eq!(
            Match::parse("20240101-", "DA", false),
            Match::Range(Some("20240101".into()), None)
        );
        assert_eq!(
            Match::parse("-20240101", "DA", false),
            Match::Range(None, Some("20240101".into()))
        );
        assert_eq!(
            Match::parse("MR*", "CS", false),
            Match::Wildcard("MR*".into())
        );
        assert_eq!(Match::parse("doe", "PN", true), Match::Fuzzy("doe".into()));
        assert_eq!(
            Match::parse("DOE^J", "PN", false),
            Match::Exact("DOE^J".into())
        );
        assert_eq!(like_pattern("50%_a*b?"), "50\\%\\_a%b_");
    }
}
