//! The API the web UI's pages read besides the plain lists: a trial's dashboard (sites ×
//! subjects × visits with QC status, completeness, queries and jobs), one series with its QC,
//! queries and the jobs that read it, and images as NIfTI for the viewer (a series' volume, a
//! job's derived image). Every route checks its [`Action`] as the rest of the API does; site users
//! see only their sites.

use super::AppState;
use super::api::{TargetSites, allow, trial_exists, visible};
use super::auth::Authed;
use super::problem::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use corelab_core::{Action, Principal, Scope};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trials/{trial}/dashboard", get(dashboard))
        .route("/api/v1/trials/{trial}/series/{uid}", get(series_detail))
        .route(
            "/api/v1/trials/{trial}/series/{uid}/volume.nii.gz",
            get(series_volume),
        )
        .route(
            "/api/v1/trials/{trial}/jobs/{id}/images/{file}",
            get(job_image),
        )
}

/// The latest QC report of `trial` as JSON, if it has been evaluated, with the decisions made
/// since standing over its statuses.
async fn qc_report(
    state: &AppState,
    trial: &str,
    decisions: &[corelab_store::QcDecision],
) -> ApiResult<Option<Value>> {
    let report = corelab_engine::evaluate::current_report(&state.store, trial, decisions)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(report.map(|r| serde_json::to_value(r).unwrap_or_default()))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/dashboard", tag = "catalogue",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 200, description = "sites × subjects × visits with series counts, QC status, open queries; jobs by state for callers who may see results")))]
pub async fn dashboard(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadCatalogue, &Scope::trial(&trial))?;
    let summary = trial_exists(&state, &trial).await?;
    let filter = p.site_filter(Action::ReadCatalogue, &trial);
    let sites: Vec<_> = state
        .store
        .sites(&trial)
        .await?
        .into_iter()
        .filter(|s| visible(&filter, &s.id))
        .collect();
    let catalogue = TargetSites(state.store.trial_series(&trial).await?);
    // Subjects with their site, from the catalogue (a subject without a QC evaluation yet still
    // shows, with its series counted but no status).
    let mut subjects: BTreeMap<String, Value> = BTreeMap::new();
    for s in catalogue.0.iter().filter(|s| visible(&filter, &s.site)) {
        let e = subjects.entry(s.subject.clone()).or_insert_with(|| {
            json!({"subject": s.subject, "site": s.site, "series": 0, "visits": {}, "open_queries": 0})
        });
        e["series"] = json!(e["series"].as_u64().unwrap_or(0) + 1);
    }
    let decisions = state.store.qc_decisions(&trial).await?;
    let report = qc_report(&state, &trial, &decisions).await?;
    // The visits in protocol order (by target day), from the evaluation.
    let mut visits: Vec<(i64, String)> = Vec::new();
    let mut expected = 0usize;
    let mut complete = 0usize;
    for s in report
        .as_ref()
        .and_then(|r| r["subjects"].as_array())
        .into_iter()
        .flatten()
    {
        let subject = text(s, "subject");
        let Some(row) = subjects.get_mut(subject) else {
            continue;
        };
        for v in s["visits"].as_array().into_iter().flatten() {
            let name = text(v, "visit").to_owned();
            if !visits.iter().any(|(_, n)| *n == name) {
                visits.push((v["target_day"].as_i64().unwrap_or(i64::MAX), name.clone()));
            }
            let missing = v["missing"].as_array().map_or(0, Vec::len);
            expected += 1;
            if missing == 0 {
                complete += 1;
            }
            let series: Vec<Value> = v["series"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    json!({
                        "series_instance_uid": x["series_instance_uid"],
                        "role": x["role"], "modality": x["modality"],
                        "description": x["description"], "status": x["status"],
                    })
                })
                .collect();
            row["visits"][name] = json!({
                "status": v["status"], "date": v["date"], "in_window": v["in_window"],
                "missing": v["missing"], "series": series, "decision": v["decision"],
            });
        }
    }
    visits.sort();
    let queries = state.store.queries(&trial, false).await?;
    let mut open = 0usize;
    for q in &queries {
        if let Some(subject) = catalogue.subject(&q.target)
            && let Some(row) = subjects.get_mut(subject)
        {
            row["open_queries"] = json!(row["open_queries"].as_u64().unwrap_or(0) + 1);
            open += 1;
        }
    }
    let jobs = if p.may(Action::ReadResults, &Scope::trial(&trial)) {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for j in state.store.jobs(&trial).await? {
            *by.entry(j.state).or_default() += 1;
        }
        Some(by)
    } else {
        None
    };
    let locks = state.store.trial_locks(&trial).await?;
    Ok(Json(json!({
        "trial": summary,
        "locked": !locks.is_empty(),
        "lock_version": locks.last().map(|l| l.version),
        "evaluated": report.is_some(),
        "sites": sites,
        "visits": visits.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
        "subjects": subjects.into_values().collect::<Vec<_>>(),
        "completeness": {"expected_visits": expected, "complete_visits": complete},
        "open_queries": open,
        "jobs": jobs,
    }))
    .into_response())
}

/// The catalogued series `uid` of `trial`, if the caller may see its site for `action`.
async fn visible_series(
    state: &AppState,
    p: &Principal,
    action: Action,
    trial: &str,
    uid: &str,
) -> ApiResult<corelab_store::CatalogSeries> {
    allow(p, action, &Scope::trial(trial))?;
    trial_exists(state, trial).await?;
    let found = state
        .store
        .trial_series(trial)
        .await?
        .into_iter()
        .find(|s| s.series_instance_uid == uid);
    match found {
        Some(s) if visible(&p.site_filter(action, trial), &s.site) => Ok(s),
        // Another site's series is as absent as one that does not exist.
        _ => Err(ApiError::not_found(format!(
            "trial {trial} has no series {uid}"
        ))),
    }
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/series/{uid}", tag = "qc",
    params(("trial" = String, Path, description = "trial id"), ("uid" = String, Path, description = "Series Instance UID")),
    responses((status = 200, description = "the series: catalogue row, its QC (checks, quality metrics, decision), its queries, and the jobs that read it with their images and measurements"), (status = 404)))]
pub async fn series_detail(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, uid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = visible_series(&state, &p, Action::ReadQc, &trial, &uid).await?;
    let target = format!("series:{uid}");
    let all_decisions = state.store.qc_decisions(&trial).await?;
    let mut qc = Value::Null;
    let mut visit = Value::Null;
    if let Some(r) = qc_report(&state, &trial, &all_decisions).await? {
        for subj in r["subjects"].as_array().into_iter().flatten() {
            for v in subj["visits"].as_array().into_iter().flatten() {
                for x in v["series"].as_array().into_iter().flatten() {
                    if text(x, "series_instance_uid") == uid {
                        qc = x.clone();
                        visit = json!({
                            "visit": v["visit"], "status": v["status"], "date": v["date"],
                            "checks": v["checks"], "missing": v["missing"],
                        });
                    }
                }
            }
        }
    }
    let queries: Vec<_> = state
        .store
        .queries(&trial, true)
        .await?
        .into_iter()
        .filter(|q| q.target == target)
        .collect();
    // Each decision with its e-signatures (printed name, meaning, time; checked by the auditors'
    // signature route).
    let signatures = state.store.signatures(&trial, None).await?;
    let decisions: Vec<Value> = all_decisions
        .into_iter()
        .filter(|d| d.target == target)
        .map(|d| {
            let signed: Vec<Value> = signatures
                .iter()
                .filter(|s| s.record_type == "qc_decision" && s.record_id == d.id)
                .map(|s| json!({"printed_name": s.printed_name, "meaning": s.meaning, "signed_at": s.signed_at}))
                .collect();
            let mut v = json!(d);
            v["signatures"] = json!(signed);
            v
        })
        .collect();
    // The jobs that read this series, with their derived images and measurements, for callers
    // who may see results.
    let jobs: Option<Vec<Value>> = if p.may(Action::ReadResults, &Scope::trial(&trial)) {
        let measurements = state.store.measurements(&trial).await?;
        let registry = corelab_algo::Registry::builtin();
        Some(
            state
                .store
                .jobs(&trial)
                .await?
                .into_iter()
                .filter(|j| {
                    j.inputs.as_object().is_some_and(|m| {
                        m.values()
                            .any(|i| i["series_instance_uid"].as_str() == Some(uid.as_str()))
                    })
                })
                .map(|j| {
                    let specs = registry
                        .get(&j.algorithm_id)
                        .map(|a| a.images())
                        .unwrap_or_default();
                    let images: Vec<Value> = j
                        .result
                        .as_ref()
                        .and_then(|r| r["images"].as_array().cloned())
                        .into_iter()
                        .flatten()
                        .map(|mut i| {
                            let role = i["role"].as_str().unwrap_or_default().to_owned();
                            if let Some(spec) = specs.iter().find(|s| s.role == role) {
                                i["description"] = json!(spec.description);
                            }
                            i
                        })
                        .collect();
                    let ms: Vec<_> = measurements.iter().filter(|m| m.job_id == j.id).collect();
                    json!({
                        "id": j.id, "algorithm": format!("{}@{}", j.algorithm_id, j.algorithm_version),
                        "visit": j.visit, "state": j.state, "images": images, "measurements": ms,
                    })
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(Json(json!({
        "series": s, "visit": visit, "qc": qc, "decisions": decisions, "queries": queries, "jobs": jobs,
        "may_decide": p.may(Action::DecideQc, &Scope::trial(&trial)),
    }))
    .into_response())
}

fn nifti_response(bytes: bytes::Bytes, units: Option<&str>) -> Response {
    let mut r = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            ),
        ],
        bytes,
    )
        .into_response();
    if let Some(u) = units.and_then(|u| HeaderValue::from_str(u).ok()) {
        r.headers_mut().insert("x-corelab-units", u);
    }
    r
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/series/{uid}/volume.nii.gz", tag = "images",
    params(("trial" = String, Path, description = "trial id"), ("uid" = String, Path, description = "Series Instance UID")),
    responses((status = 200, description = "the series as one NIfTI-1 volume (gzip), PET in SUVbw where its header allows (X-Corelab-Units)"), (status = 404), (status = 422, description = "the series does not form one volume")))]
pub async fn series_volume(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, uid)): Path<(String, String)>,
) -> ApiResult<Response> {
    // Its site is checked with the series: another site's series is a 404.
    let s = visible_series(&state, &p, Action::ReadImages, &trial, &uid).await?;
    let mut blobs = Vec::with_capacity(s.instances.len());
    for (sop, sha) in &s.instances {
        blobs.push((sop.clone(), state.store.blob_bytes(sha).await?));
    }
    let (bytes, units) =
        tokio::task::spawn_blocking(move || corelab_engine::images::series_nifti(blobs))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("series {uid}: {e}"),
                )
            })?;
    Ok(nifti_response(bytes.into(), units))
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/jobs/{id}/images/{file}", tag = "images",
    params(("trial" = String, Path, description = "trial id"), ("id" = i64, Path, description = "job id"),
           ("file" = String, Path, description = "the image's role followed by .nii.gz")),
    responses((status = 200, description = "a job's derived image (NIfTI-1, gzip)"), (status = 404)))]
pub async fn job_image(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, id, file)): Path<(String, i64, String)>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    let job = state.store.job(&trial, id).await?;
    let role = file.strip_suffix(".nii.gz").unwrap_or(&file);
    let sha = job
        .result
        .as_ref()
        .and_then(|r| r["images"].as_array().cloned())
        .into_iter()
        .flatten()
        .find(|i| i["role"].as_str() == Some(role))
        .and_then(|i| i["sha256"].as_str().map(str::to_owned))
        .ok_or_else(|| ApiError::not_found(format!("job {id} made no image {role:?}")))?;
    Ok(nifti_response(state.store.blob_bytes(&sha).await?, None))
}
