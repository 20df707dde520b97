//! QIDO-RS (PS3.18 §10.6): studies, series and instances searched by the standard's keys
//! (attribute keyword or tag), with `limit`, `offset`, `fuzzymatching` and `includefield`,
//! answered from the index only. Keys this server does not match on are ignored with a
//! `Warning` header, as the standard allows.

use super::blind::{blind, is_temporal};
use crate::http::AppState;
use crate::http::api::allow;
use crate::http::auth::Authed;
use crate::http::problem::{ApiError, ApiResult};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use corelab_core::{Action, Principal, Scope};
use corelab_store::dicomweb::{
    InstanceKeys, InstanceRow, Match, SeriesKeys, SeriesRow, StudyKeys, StudyRow, Within,
};
use dicom_core::dictionary::DataDictionary;
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{Map, Value, json};

/// The query level of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Study,
    Series,
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
    study: StudyKeys,
    series: SeriesKeys,
    instance: InstanceKeys,
    /// Tags to add from the index's attribute sets (`GGGGEEEE`); `all` adds every one.
    include: Vec<String>,
    include_all: bool,
    limit: i64,
    offset: i64,
    /// Keys given that were not used, for the `Warning` header.
    unused: Vec<String>,
    /// Whether a date or time key was given (refused for blinded callers).
    temporal: bool,
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
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
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
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("{what}={v:?}: expected a whole number"))
                })
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

    fn key(&mut self, k: &str, v: &str, fuzzy: bool) -> ApiResult<()> {
        let tag = tag_of(k);
        let Some(&(name, _, vr, _)) = KEYS
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
        self.temporal |= is_temporal(vr);
        let m = Match::parse(v, vr, fuzzy);
        let int = || {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("{name}={v:?}: expected a whole number"))
            })
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

/// Who is asking, within which rows, blinded or not.
pub struct Reach {
    /// The rows' scope.
    pub within: Within,
    /// Whether answers are blinded.
    pub blinded: bool,
}

/// Checks `action` on the trial for the caller and gives the rows they may see.
pub fn reach(p: &Principal, trial: &str, action: Action) -> ApiResult<Reach> {
    allow(p, action, &Scope::trial(trial))?;
    Ok(Reach {
        within: Within {
            trial: trial.to_owned(),
            sites: p.site_filter(action, trial),
            limit: 100,
            offset: 0,
        },
        blinded: p.blinded(action, trial),
    })
}

/// The base URL of a trial's DICOMweb service as the caller reached it.
pub fn base_url(headers: &HeaderMap, trial: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{scheme}://{host}/dicomweb/{trial}")
}

fn put(o: &mut Map<String, Value>, tag: &str, vr: &str, v: Option<Value>) {
    let mut e = Map::new();
    e.insert("vr".into(), json!(vr));
    if let Some(v) = v {
        e.insert("Value".into(), v);
    }
    o.insert(tag.to_owned(), Value::Object(e));
}

fn s(v: &Option<String>) -> Option<Value> {
    v.as_ref().filter(|x| !x.is_empty()).map(|x| json!([x]))
}

fn pn(v: &Option<String>) -> Option<Value> {
    v.as_ref()
        .filter(|x| !x.is_empty())
        .map(|x| json!([{"Alphabetic": x}]))
}

/// Adds the asked-for attributes from an index attribute set, never replacing one already there.
fn include(o: &mut Map<String, Value>, attrs: &Option<String>, q: &Query) {
    let Some(Ok(Value::Object(a))) = attrs.as_deref().map(serde_json::from_str::<Value>) else {
        return;
    };
    for (k, v) in a {
        if (q.include_all || q.include.contains(&k)) && !o.contains_key(&k) {
            o.insert(k, v);
        }
    }
}

fn study_json(r: &StudyRow, q: &Query, base: &str) -> Value {
    let mut o = Map::new();
    put(&mut o, "00080020", "DA", s(&r.study_date));
    put(&mut o, "00080030", "TM", s(&r.study_time));
    put(&mut o, "00080050", "SH", s(&r.accession_number));
    put(&mut o, "00080061", "CS", Some(json!(r.modalities)));
    put(&mut o, "00080090", "PN", pn(&r.referring_physician));
    put(&mut o, "00081030", "LO", s(&r.description));
    put(
        &mut o,
        "00081190",
        "UR",
        Some(json!([format!("{base}/studies/{}", r.study_uid)])),
    );
    put(&mut o, "00100010", "PN", pn(&r.patient_name));
    put(&mut o, "00100020", "LO", s(&r.patient_id));
    put(&mut o, "0020000D", "UI", Some(json!([r.study_uid])));
    put(&mut o, "00200010", "SH", s(&r.study_id));
    put(&mut o, "00201206", "IS", Some(json!([r.series])));
    put(&mut o, "00201208", "IS", Some(json!([r.instances])));
    include(&mut o, &r.attributes, q);
    Value::Object(o)
}

fn series_json(r: &SeriesRow, q: &Query, base: &str) -> Value {
    let mut o = Map::new();
    put(&mut o, "00080060", "CS", Some(json!([r.modality])));
    put(&mut o, "0008103E", "LO", s(&r.description));
    put(
        &mut o,
        "00081190",
        "UR",
        Some(json!([format!(
            "{base}/studies/{}/series/{}",
            r.study_uid, r.series_uid
        )])),
    );
    put(&mut o, "0020000D", "UI", Some(json!([r.study_uid])));
    put(&mut o, "0020000E", "UI", Some(json!([r.series_uid])));
    put(
        &mut o,
        "00200011",
        "IS",
        r.series_number.map(|n| json!([n])),
    );
    put(&mut o, "00201209", "IS", Some(json!([r.instances])));
    include(&mut o, &r.attributes, q);
    Value::Object(o)
}

fn instance_json(r: &InstanceRow, base: &str) -> Value {
    let mut o = Map::new();
    put(&mut o, "00080016", "UI", Some(json!([r.sop_class_uid])));
    put(&mut o, "00080018", "UI", Some(json!([r.sop_instance_uid])));
    put(
        &mut o,
        "00081190",
        "UR",
        Some(json!([format!(
            "{base}/studies/{}/series/{}/instances/{}",
            r.study_uid, r.series_uid, r.sop_instance_uid
        )])),
    );
    put(&mut o, "00083002", "UI", Some(json!([r.transfer_syntax])));
    put(&mut o, "0020000D", "UI", Some(json!([r.study_uid])));
    put(&mut o, "0020000E", "UI", Some(json!([r.series_uid])));
    put(
        &mut o,
        "00200013",
        "IS",
        r.instance_number.map(|n| json!([n])),
    );
    // The instance level answers its common attributes (rows, columns, frames …) always.
    let all = Query {
        include_all: true,
        ..Query::default()
    };
    include(&mut o, &r.attributes, &all);
    Value::Object(o)
}

/// The answer: a DICOM JSON array, blinded when it must be, with a `Warning` for unused keys.
fn answer(mut items: Vec<Value>, q: &Query, blinded: bool) -> Response {
    if blinded {
        items.iter_mut().for_each(blind);
    }
    let mut r = (
        [(header::CONTENT_TYPE, "application/dicom+json")],
        Value::Array(items).to_string(),
    )
        .into_response();
    if !q.unused.is_empty()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "299 corelab \"these query keys were not used: {}\"",
            q.unused.join(", ")
        ))
    {
        r.headers_mut().insert(header::WARNING, v);
    }
    r
}

/// What a search path names: its level, and the study and series it is under.
struct At {
    level: Level,
    study: Option<String>,
    series: Option<String>,
}

async fn search(
    state: &AppState,
    p: &Principal,
    trial: &str,
    headers: &HeaderMap,
    raw: Option<String>,
    at: At,
) -> ApiResult<Response> {
    let At {
        level,
        study,
        series,
    } = at;
    let mut reach = reach(p, trial, Action::ReadImages)?;
    if state.store.trial(trial).await?.is_none() {
        return Err(ApiError::not_found(format!("no trial {trial}")));
    }
    let mut q = Query::parse(raw.as_deref())?;
    if reach.blinded && q.temporal {
        return Err(ApiError::forbidden(
            "blinded readers may not search by date or time",
        ));
    }
    if let Some(st) = study {
        q.study.study_uid = Some(Match::Exact(st));
    }
    if let Some(se) = series {
        q.series.series_uid = Some(Match::Exact(se));
    }
    reach.within.limit = q.limit;
    reach.within.offset = q.offset;
    let base = base_url(headers, trial);
    let items: Vec<Value> = match level {
        Level::Study => state
            .store
            .search_studies(&reach.within, &q.study)
            .await?
            .iter()
            .map(|r| study_json(r, &q, &base))
            .collect(),
        Level::Series => state
            .store
            .search_series(&reach.within, &q.study, &q.series)
            .await?
            .iter()
            .map(|r| series_json(r, &q, &base))
            .collect(),
        Level::Instance => state
            .store
            .search_instances(&reach.within, &q.study, &q.series, &q.instance)
            .await?
            .iter()
            .map(|r| instance_json(r, &base))
            .collect(),
    };
    Ok(answer(items, &q, reach.blinded))
}

/// `GET /dicomweb/{trial}/studies`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies", tag = "dicomweb", params(("trial" = String, Path)),
    responses((status = 200, description = "QIDO-RS: studies matching the query keys (from the index)")))]
pub async fn studies(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    search(
        &state,
        &p,
        &trial,
        &headers,
        raw,
        At {
            level: Level::Study,
            study: None,
            series: None,
        },
    )
    .await
}

/// `GET /dicomweb/{trial}/series`.
#[utoipa::path(get, path = "/dicomweb/{trial}/series", tag = "dicomweb", params(("trial" = String, Path)),
    responses((status = 200, description = "QIDO-RS: series")))]
pub async fn all_series(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    search(
        &state,
        &p,
        &trial,
        &headers,
        raw,
        At {
            level: Level::Series,
            study: None,
            series: None,
        },
    )
    .await
}

/// `GET /dicomweb/{trial}/studies/{study}/series`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path)),
    responses((status = 200, description = "QIDO-RS: series of a study")))]
pub async fn study_series(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    search(
        &state,
        &p,
        &trial,
        &headers,
        raw,
        At {
            level: Level::Series,
            study: Some(study),
            series: None,
        },
    )
    .await
}

/// `GET /dicomweb/{trial}/instances`.
#[utoipa::path(get, path = "/dicomweb/{trial}/instances", tag = "dicomweb", params(("trial" = String, Path)),
    responses((status = 200, description = "QIDO-RS: instances")))]
pub async fn all_instances(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    search(
        &state,
        &p,
        &trial,
        &headers,
        raw,
        At {
            level: Level::Instance,
            study: None,
            series: None,
        },
    )
    .await
}

/// `GET /dicomweb/{trial}/studies/{study}/instances`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/instances", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path)),
    responses((status = 200, description = "QIDO-RS: instances of a study")))]
pub async fn study_instances(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    search(
        &state,
        &p,
        &trial,
        &headers,
        raw,
        At {
            level: Level::Instance,
            study: Some(study),
            series: None,
        },
    )
    .await
}

/// `GET /dicomweb/{trial}/studies/{study}/series/{series}/instances`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/instances", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path)),
    responses((status = 200, description = "QIDO-RS: instances of a series")))]
pub async fn series_instances(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study, series)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    search(
        &state,
        &p,
        &trial,
        &headers,
        raw,
        At {
            level: Level::Instance,
            study: Some(study),
            series: Some(series),
        },
    )
    .await
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
        assert!(q.temporal);
        assert_eq!((q.limit, q.offset), (5, 10));
        assert_eq!(q.include, vec!["00280010", "00280010"]);
        assert_eq!(q.unused, vec!["Foo"]);
        assert!(Query::parse(Some("limit=x")).is_err());
        let f = Query::parse(Some("PatientName=doe&fuzzymatching=true")).unwrap();
        assert_eq!(f.study.patient_name, Some(Match::Fuzzy("doe".into())));
    }
}
