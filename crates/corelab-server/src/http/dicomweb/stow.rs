//! STOW-RS (PS3.18 §10.5): `multipart/related; type="application/dicom"` bodies, each part run
//! through the same ingest pipeline as C-STORE and import (de-identified, stored, catalogued,
//! or quarantined with its reason). The answer names each instance stored (its de-identified
//! UIDs and retrieve URL) and each that failed. Sending the same instance again is acknowledged
//! as stored without storing it twice, so a sender may retry a whole request.
//!
//! The site is the caller's when they hold one site of the trial; a caller with several sites,
//! or with the whole trial, has each object routed by its Clinical Trial Site ID, unless
//! `?site=SITE` names one.

use super::qido::base_url;
use crate::http::AppState;
use crate::http::api::allow;
use crate::http::auth::Authed;
use crate::http::problem::{ApiError, ApiResult};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use corelab_core::{Action, Principal, Scope};
use corelab_ingest::{Outcome, Source};
use corelab_store::dicomweb::{InstanceKeys, Match, SeriesKeys, StudyKeys, Within};
use dicom_dictionary_std::tags;
use serde_json::{Value, json};

/// Failure Reason (0008,1197): processing failure.
const PROCESSING_FAILURE: u16 = 0x0110;
/// Failure Reason: cannot understand (not DICOM, or refused by the pipeline).
const CANNOT_UNDERSTAND: u16 = 0xC000;
/// Failure Reason: the instance is not of the study the request names.
const STUDY_MISMATCH: u16 = 0xA900;

/// Where the objects of one request go.
enum Target {
    /// One site.
    Site(String),
    /// Routed by each object's Clinical Trial attributes among these (trial, site) pairs.
    Routed(Vec<(String, String)>),
}

async fn target(
    state: &AppState,
    p: &Principal,
    trial: &str,
    raw: Option<&str>,
) -> ApiResult<Target> {
    allow(p, Action::StoreImages, &Scope::trial(trial))?;
    if state.store.trial(trial).await?.is_none() {
        return Err(ApiError::not_found(format!("no trial {trial}")));
    }
    let site = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "site")
        .map(|(_, v)| v.into_owned());
    if let Some(site) = site {
        allow(p, Action::StoreImages, &Scope::site(trial, &site))?;
        return Ok(Target::Site(site));
    }
    let sites = match p.site_filter(Action::StoreImages, trial) {
        Some(mine) if mine.len() == 1 => return Ok(Target::Site(mine[0].clone())),
        Some(mine) => mine,
        None => state
            .store
            .sites(trial)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect(),
    };
    Ok(Target::Routed(
        sites.into_iter().map(|s| (trial.to_owned(), s)).collect(),
    ))
}

/// The boundary of a `multipart/related` request whose parts are `application/dicom`.
fn boundary(headers: &HeaderMap) -> ApiResult<String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "STOW-RS needs Content-Type: multipart/related; type=\"application/dicom\"; boundary=…",
            )
        })?;
    let m: mime::Mime = ct.parse().map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {ct:?}: {e}"),
        )
    })?;
    if m.essence_str() != "multipart/related" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {ct:?}: STOW-RS takes multipart/related"),
        ));
    }
    if let Some(t) = m.get_param("type")
        && t.as_str() != "application/dicom"
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("parts of type {t} are not taken: send application/dicom (Part 10) parts"),
        ));
    }
    m.get_param(mime::BOUNDARY)
        .map(|b| b.as_str().to_owned())
        .ok_or_else(|| ApiError::bad_request(format!("Content-Type {ct:?} has no boundary")))
}

/// The SOP Class and Instance UIDs and the Study Instance UID an object was sent with (parsing
/// is CPU work: off the async threads).
async fn sent_uids(bytes: Bytes) -> ApiResult<Option<(String, String, String)>> {
    tokio::task::spawn_blocking(move || {
        let p = corelab_dicom::read::read_bytes(&bytes).ok()?;
        let t = |tag| corelab_dicom::values::text(&p.dataset, tag).unwrap_or_default();
        Some((
            t(tags::SOP_CLASS_UID),
            t(tags::SOP_INSTANCE_UID),
            t(tags::STUDY_INSTANCE_UID),
        ))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn failed_item(uids: &Option<(String, String, String)>, reason: u16) -> Value {
    let mut o = serde_json::Map::new();
    if let Some((class, sop, _)) = uids {
        o.insert("00081150".into(), json!({"vr": "UI", "Value": [class]}));
        o.insert("00081155".into(), json!({"vr": "UI", "Value": [sop]}));
    }
    o.insert("00081197".into(), json!({"vr": "US", "Value": [reason]}));
    Value::Object(o)
}

async fn stow(
    state: AppState,
    p: Principal,
    trial: String,
    study: Option<String>,
    headers: HeaderMap,
    raw: Option<String>,
    body: Body,
) -> ApiResult<Response> {
    let target = target(&state, &p, &trial, raw.as_deref()).await?;
    let boundary = boundary(&headers)?;
    let mut parts = multer::Multipart::new(body.into_data_stream(), boundary);
    let origin = format!("stow:{}", p.username);
    let base = base_url(&headers, &trial);
    let (mut stored, mut failed, mut reasons) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0_usize;
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("multipart body, part {}: {e}", n + 1)))?
    {
        n += 1;
        let kind = field
            .content_type()
            .map(|m| m.essence_str().to_owned())
            .unwrap_or_else(|| "application/dicom".into());
        let bytes: Bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(format!("multipart body, part {n}: {e}")))?;
        if kind != "application/dicom" {
            failed.push(failed_item(&None, CANNOT_UNDERSTAND));
            reasons.push(format!("part {n}: {kind} is not application/dicom"));
            continue;
        }
        if let Some(study) = &study {
            let uids = sent_uids(bytes.clone()).await?;
            if let Some((_, _, st)) = &uids
                && st != study
            {
                failed.push(failed_item(&uids, STUDY_MISMATCH));
                reasons.push(format!("part {n}: of study {st}, not {study}"));
                continue;
            }
        }
        let outcome = match &target {
            Target::Site(site) => {
                let source = Source {
                    trial: trial.clone(),
                    site: site.clone(),
                    origin: origin.clone(),
                    subject: None,
                };
                state.ingestor.ingest(&source, bytes.clone()).await
            }
            Target::Routed(sites) => {
                state
                    .ingestor
                    .ingest_routed(sites, &origin, bytes.clone())
                    .await
            }
        };
        // A failure of the installation itself: nothing of this part was acknowledged; the
        // sender retries the request (what was stored is acknowledged again as a duplicate).
        let outcome = outcome.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("part {n} could not be stored ({e}); send the request again"),
            )
        })?;
        match outcome {
            Outcome::Stored {
                sop_instance_uid, ..
            }
            | Outcome::Duplicate {
                sop_instance_uid, ..
            }
            | Outcome::Conflict {
                sop_instance_uid, ..
            } => {
                stored.push(stored_item(&state, &trial, &base, &sop_instance_uid).await?);
            }
            Outcome::Quarantined { reason, .. }
            | Outcome::Refused { reason }
            | Outcome::Skipped { reason } => {
                let uids = sent_uids(bytes.clone()).await?;
                let code = if uids.is_some() {
                    PROCESSING_FAILURE
                } else {
                    CANNOT_UNDERSTAND
                };
                failed.push(failed_item(&uids, code));
                reasons.push(format!("part {n}: {reason}"));
            }
        }
    }
    if n == 0 {
        return Err(ApiError::bad_request("the multipart body has no parts"));
    }
    let status = match (stored.is_empty(), failed.is_empty()) {
        (_, true) => StatusCode::OK,
        (false, false) => StatusCode::ACCEPTED,
        (true, false) => StatusCode::CONFLICT,
    };
    let mut o = serde_json::Map::new();
    if let Some(study) = &study {
        o.insert(
            "00081190".into(),
            json!({"vr": "UR", "Value": [format!("{base}/studies/{study}")]}),
        );
    }
    if !failed.is_empty() {
        o.insert("00081198".into(), json!({"vr": "SQ", "Value": failed}));
    }
    o.insert("00081199".into(), json!({"vr": "SQ", "Value": stored}));
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/dicom+json")],
        Value::Object(o).to_string(),
    )
        .into_response();
    if !reasons.is_empty() {
        let text: String = reasons.join("; ").chars().take(2000).collect();
        let text = text.replace(['"', '\r', '\n'], "'");
        if let Ok(v) = HeaderValue::from_str(&format!("299 corelab \"{text}\"")) {
            r.headers_mut().insert(header::WARNING, v);
        }
    }
    Ok(r)
}

/// A Referenced SOP Sequence item for a stored instance (its de-identified UIDs).
async fn stored_item(state: &AppState, trial: &str, base: &str, sop: &str) -> ApiResult<Value> {
    let within = Within {
        trial: trial.to_owned(),
        sites: None,
        limit: 1,
        offset: 0,
    };
    let keys = InstanceKeys {
        sop_instance_uid: Some(Match::Exact(sop.to_owned())),
        ..InstanceKeys::default()
    };
    let rows = state
        .store
        .search_instances(
            &within,
            &StudyKeys::default(),
            &SeriesKeys::default(),
            &keys,
        )
        .await?;
    let mut o = serde_json::Map::new();
    o.insert("00081155".into(), json!({"vr": "UI", "Value": [sop]}));
    if let Some(r) = rows.first() {
        o.insert(
            "00081150".into(),
            json!({"vr": "UI", "Value": [r.sop_class_uid]}),
        );
        o.insert(
            "00081190".into(),
            json!({"vr": "UR", "Value": [format!(
                "{base}/studies/{}/series/{}/instances/{}",
                r.study_uid, r.series_uid, r.sop_instance_uid
            )]}),
        );
    }
    Ok(Value::Object(o))
}

/// `POST /dicomweb/{trial}/studies`.
#[utoipa::path(post, path = "/dicomweb/{trial}/studies", tag = "dicomweb", params(("trial" = String, Path)),
    responses((status = 200, description = "STOW-RS: multipart/related application/dicom through the ingest pipeline")))]
pub async fn store(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    stow(state, p, trial, None, headers, raw, body).await
}

/// `POST /dicomweb/{trial}/studies/{study}`: every instance must be of that study (as sent).
#[utoipa::path(post, path = "/dicomweb/{trial}/studies/{study}", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path)),
    responses((status = 200, description = "STOW-RS into one study")))]
pub async fn store_in_study(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    stow(state, p, trial, Some(study), headers, raw, body).await
}
