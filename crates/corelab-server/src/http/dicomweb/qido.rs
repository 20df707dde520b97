//! QIDO-RS (PS3.18 §10.6): studies, series and instances searched by the standard's keys
//! (attribute keyword or tag), with `limit`, `offset`, `fuzzymatching` and `includefield`,
//! answered from the index only. Keys this server does not match on are ignored with a
//! `Warning` header, as the standard allows.

use super::blind::{SITE_TAGS, blind, is_temporal};
use crate::http::AppState;
use crate::http::api::allow;
use crate::http::auth::Authed;
use crate::http::problem::{ApiError, ApiResult};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use corelab_core::{Action, Principal, Scope};
use corelab_store::dicomweb::query::{Level, Query};
use corelab_store::dicomweb::{InstanceRow, Match, SeriesRow, StudyRow, Within};
use serde_json::{Map, Value, json};

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
    let mut q = Query::parse(raw.as_deref()).map_err(ApiError::bad_request)?;
    // Matching on a date, a time or what names the site would tell a blinded caller the values
    // their answers leave out.
    let unblinding = q
        .matched
        .iter()
        .any(|(tag, vr)| is_temporal(vr) || SITE_TAGS.contains(tag));
    if reach.blinded && unblinding {
        return Err(ApiError::forbidden(
            "blinded readers may not search by date, time or an attribute that names the site",
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
