//! The QIDO-RS query string (PS3.18 §8.3.4, §10.6): the standard's keys (attribute keyword or
//! tag) parsed into the catalogue's search keys, with `limit`, `offset`, `fuzzymatching` and
//! `includefield`. Pure parsing, no I/O: the HTTP layer (`corelab-server`'s `qido.rs`) decides
//! who may match on what, and the fuzz target `dicomweb_query` runs it without a server.

use super::{InstanceKeys, Match, SeriesKeys, StudyKeys};
use dicom_core::dictionary::DataDictionary;
use dicom_dictionary_std::StandardDataDictionary;

/// The query level of a key, and of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Studies.
    Study,
    /// Series.
    Series,
    /// Instances.
    Instance,
}

/// The keys matched on: keyword, tag, VR, level.
const KEYS: &[(&str, &str, &str, Level)] = &[
    ("StudyInstanceUID", "0020000D", "UI", Level::Study),
    ("StudyDate", "00080020", "DA", Level::Study),
    ("StudyTime", "00080030", "TM", Level::Study),
    ("AccessionNumber", "00080050", "SH", Level::Study),
    ("ModalitiesInStudy", "00080061", "CS", Level::Study),
    ("PatientID", "00100020", "LO", Level::Study),
    ("PatientName", "00100010", "PN", Level::Study),
    ("StudyID", "00200010", "SH", Level::Study),
    ("ReferringPhysicianName", "00080090", "PN", Level::Study),
    ("StudyDescription", "00081030", "LO", Level::Study),
    ("SeriesInstanceUID", "0020000E", "UI", Level::Series),
    ("Modality", "00080060", "CS", Level::Series),
    ("SeriesNumber", "00200011", "IS", Level::Series),
    ("SeriesDescription", "0008103E", "LO", Level::Series),
    ("SOPInstanceUID", "00080018", "UI", Level::Instance),
    ("SOPClassUID", "00080016", "UI", Level::Instance),
    ("InstanceNumber", "00200013", "IS", Level::Instance),
];

/// A parsed QIDO query.
#[derive(Debug, Default)]
pub struct Query {
    /// Study-level keys matched on.
    pub study: StudyKeys,
    /// Series-level keys matched on.
    pub series: SeriesKeys,
    /// Instance-level keys matched on.
    pub instance: InstanceKeys,
    /// Tags to add from the index's attribute sets (`GGGGEEEE`).
    pub include: Vec<String>,
    /// `includefield=all`: every attribute the index holds is added.
    pub include_all: bool,
    /// The page size, 1 to 1000 (100 when not given).
    pub limit: i64,
    /// Rows skipped, 0 or more.
    pub offset: i64,
    /// Keys given that were not used, for the `Warning` header.
    pub unused: Vec<String>,
    /// The keys matched on with a value, as (tag `GGGGEEEE`, VR): the HTTP layer refuses some to
    /// blinded callers.
    pub matched: Vec<(&'static str, &'static str)>,
}

/// A keyword or `GGGGEEEE` tag as the tag.
fn tag_of(key: &str) -> Option<String> {
    if key.len() == 8 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(key.to_ascii_uppercase());
    }
    let e = StandardDataDictionary.by_name(key)?;
    let t = e.tag.inner();
    Some(format!("{:04X}{:04X}", t.group(), t.element()))
}

impl Query {
    /// Parses the query string.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let fuzzy = pairs.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("fuzzymatching") && v.eq_ignore_ascii_case("true")
        });
        let mut q = Query {
            limit: 100,
            ..Query::default()
        };
        for (k, v) in &pairs {
            let number = |what: &str| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{what}={v:?}: expected a whole number"))
            };
            match k.to_ascii_lowercase().as_str() {
                "limit" => q.limit = number("limit")?.clamp(1, 1000),
                "offset" => q.offset = number("offset")?.max(0),
                "fuzzymatching" => {}
                "includefield" => {
                    for f in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                        if f.eq_ignore_ascii_case("all") {
                            q.include_all = true;
                        } else {
                            match tag_of(f) {
                                Some(t) => q.include.push(t),
                                None => q.unused.push(format!("includefield={f}")),
                            }
                        }
                    }
                }
                _ => q.key(k, v, fuzzy)?,
            }
        }
        Ok(q)
    }

    fn key(&mut self, k: &str, v: &str, fuzzy: bool) -> Result<(), String> {
        let tag = tag_of(k);
        let Some(&(name, key_tag, vr, _)) = KEYS
            .iter()
            .find(|(n, t, _, _)| *n == k || tag.as_deref() == Some(*t))
        else {
            self.unused.push(k.to_owned());
            return Ok(());
        };
        if v.is_empty() {
            // An empty value asks for the attribute to be returned: it always is.
            return Ok(());
        }
        self.matched.push((key_tag, vr));
        let m = Match::parse(v, vr, fuzzy);
        let int = || {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("{name}={v:?}: expected a whole number"))
        };
        match name {
            "StudyInstanceUID" => self.study.study_uid = Some(m),
            "StudyDate" => self.study.study_date = Some(m),
            "StudyTime" => self.study.study_time = Some(m),
            "AccessionNumber" => self.study.accession_number = Some(m),
            "ModalitiesInStudy" => self.study.modality = Some(m),
            "PatientID" => self.study.patient_id = Some(m),
            "PatientName" => self.study.patient_name = Some(m),
            "StudyID" => self.study.study_id = Some(m),
            "ReferringPhysicianName" => self.study.referring_physician = Some(m),
            "StudyDescription" => self.study.description = Some(m),
            "SeriesInstanceUID" => self.series.series_uid = Some(m),
            "Modality" => self.series.modality = Some(m),
            "SeriesNumber" => self.series.series_number = Some(int()?),
            "SeriesDescription" => self.series.description = Some(m),
            "SOPInstanceUID" => self.instance.sop_instance_uid = Some(m),
            "SOPClassUID" => self.instance.sop_class_uid = Some(m),
            "InstanceNumber" => self.instance.instance_number = Some(int()?),
            _ => self.unused.push(k.to_owned()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_by_keyword_or_tag_and_unknown_ones_are_reported() {
        let q = Query::parse(Some(
            "PatientID=SUBJ*&00080020=20260101-20261231&limit=5&offset=10&includefield=00280010,Rows&Foo=1",
        ))
        .unwrap();
        assert_eq!(q.study.patient_id, Some(Match::Wildcard("SUBJ*".into())));
        assert_eq!(
            q.study.study_date,
            Some(Match::Range(
                Some("20260101".into()),
                Some("20261231".into())
            ))
        );
        assert_eq!(q.matched, vec![("00100020", "LO"), ("00080020", "DA")]);
        assert_eq!((q.limit, q.offset), (5, 10));
        assert_eq!(q.include, vec!["00280010", "00280010"]);
        assert_eq!(q.unused, vec!["Foo"]);
        assert!(Query::parse(Some("limit=x")).is_err());
        let f = Query::parse(Some("PatientName=doe&fuzzymatching=true")).unwrap();
        assert_eq!(f.study.patient_name, Some(Match::Fuzzy("doe".into())));
    }
}
