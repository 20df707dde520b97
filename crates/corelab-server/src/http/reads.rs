//! Central reads over HTTP (`docs/reads.md`): a reader's or adjudicator's worklist and cases
//! (only their own, blinded on the server for blinded roles), saving a read with its response
//! computed live, electronic signatures with re-authentication (reads, adjudications and QC
//! decisions), a trial's read plan, its tasks with the accepted read, and reader statistics.

use super::AppState;
use super::api::{actor, allow, trial_exists};
use super::auth::{self, Authed};
use super::problem::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use corelab_core::{Action, Principal, Scope};
use corelab_engine::reads::{self, ReadError};
use corelab_store::{ReadTask, SignRequest};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reads/worklist", get(worklist))
        .route("/api/v1/reads/tasks/{id}", get(task).put(save))
        .route("/api/v1/reads/tasks/{id}/sign", post(sign_task))
        .route("/api/v1/reads/tasks/{id}/propose", post(propose))
        .route("/api/v1/trials/{trial}/reads", get(trial_reads))
        .route("/api/v1/trials/{trial}/reads/plan", post(plan))
        .route("/api/v1/trials/{trial}/reads/stats", get(stats))
        .route(
            "/api/v1/trials/{trial}/signatures",
            get(signatures).post(sign_record),
        )
        .route("/api/v1/trials/{trial}/signatures/{id}", get(signature))
}

fn read_error(e: ReadError) -> ApiError {
    match e {
        ReadError::Engine(corelab_engine::evaluate::EngineError::Store(s)) => s.into(),
        ReadError::NoDesign(_) => ApiError::not_found(e.to_string()),
        ReadError::Refused(why) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// The caller's own task, or 404 (another's task is not shown to exist).
async fn my_task(state: &AppState, p: &Principal, id: i64) -> ApiResult<ReadTask> {
    let t = state.store.read_task(id).await.ok();
    match t {
        Some(t) if t.reader == p.username && p.may(Action::ReadCases, &Scope::trial(&t.trial)) => {
            Ok(t)
        }
        _ => Err(ApiError::not_found(format!("no read task {id} of yours"))),
    }
}

#[utoipa::path(get, path = "/api/v1/reads/worklist", tag = "reads",
    responses((status = 200, description = "the caller's read and adjudication tasks in worklist order: id, trial, kind, case label, state; no dates or subjects")))]
pub async fn worklist(State(state): State<AppState>, Authed(p): Authed) -> ApiResult<Response> {
    let mine = state.store.read_tasks(None, Some(&p.username)).await?;
    let items: Vec<Value> = mine
        .iter()
        .filter(|t| p.may(Action::ReadCases, &Scope::trial(&t.trial)))
        .map(|t| {
            json!({"id": t.id, "trial": t.trial, "kind": t.kind, "case_label": t.case_label, "state": t.state})
        })
        .collect();
    Ok(Json(json!({"items": items})).into_response())
}

#[utoipa::path(get, path = "/api/v1/reads/tasks/{id}", tag = "reads",
    params(("id" = i64, Path, description = "task id")),
    responses((status = 200, description = "the case: time points with their series, the engine's proposals, the saved read and its computed response; for an adjudication both reads as A and B. Blinded for readers and adjudicators"), (status = 404)))]
pub async fn task(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let t = my_task(&state, &p, id).await?;
    let blinded = p.blinded(Action::ReadCases, &t.trial);
    let case = reads::Case::load(&state.store, &t.trial)
        .await
        .map_err(read_error)?;
    let v = reads::view(&state.store, &case, &t, blinded)
        .await
        .map_err(read_error)?;
    Ok(Json(v).into_response())
}

#[utoipa::path(put, path = "/api/v1/reads/tasks/{id}", tag = "reads",
    params(("id" = i64, Path, description = "task id")),
    request_body(content = Value, description = "the read's data (lesions, time points) or an adjudication's {accepted: A|B, reason}"),
    responses((status = 200, description = "saved; the case with the response computed from it"), (status = 409, description = "already signed"), (status = 422, description = "the data is not a read of this case")))]
pub async fn save(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(id): Path<i64>,
    Json(data): Json<Value>,
) -> ApiResult<Response> {
    let t = my_task(&state, &p, id).await?;
    // One read of the design and QC report serves the save and the view it answers with.
    let case = reads::Case::load(&state.store, &t.trial)
        .await
        .map_err(read_error)?;
    let saved = reads::save(&state.store, &case, &actor(&p), &t, &data)
        .await
        .map_err(read_error)?;
    let blinded = p.blinded(Action::ReadCases, &t.trial);
    let v = reads::view(&state.store, &case, &saved, blinded)
        .await
        .map_err(read_error)?;
    Ok(Json(v).into_response())
}

/// A lesion the reader clicked.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Click {
    /// The time point (`TP0`, …).
    pub label: String,
    /// The point (LPS mm).
    pub point: [f64; 3],
}

#[utoipa::path(post, path = "/api/v1/reads/tasks/{id}/propose", tag = "reads",
    params(("id" = i64, Path, description = "task id")), request_body = Click,
    responses((status = 200, description = "the engine's measurement of the clicked lesion (onco.lesion-seg): long and short axes as lines and lengths, volume"), (status = 422, description = "why the lesion cannot be segmented from there")))]
pub async fn propose(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(id): Path<i64>,
    Json(c): Json<Click>,
) -> ApiResult<Response> {
    let t = my_task(&state, &p, id).await?;
    let case = reads::Case::load(&state.store, &t.trial)
        .await
        .map_err(read_error)?;
    let v = reads::propose(&state.store, &case, &t, &c.label, c.point)
        .await
        .map_err(read_error)?;
    Ok(Json(v).into_response())
}

/// An electronic signature's request: the signer's password again and what the signature means.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignBody {
    /// The signer's password (re-authentication).
    pub password: String,
    /// `authored`, `reviewed` or `approved`.
    pub meaning: String,
    /// For `POST /trials/{trial}/signatures`: `qc_decision`.
    #[serde(default)]
    pub record_type: Option<String>,
    /// For `POST /trials/{trial}/signatures`: the record's id.
    #[serde(default)]
    pub record_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/reads/tasks/{id}/sign", tag = "reads",
    params(("id" = i64, Path, description = "task id")), request_body = SignBody,
    responses((status = 200, description = "signed: the signature, bound to the SHA-256 of the read as saved; the read never changes again"), (status = 401, description = "wrong password"), (status = 422, description = "the read is not complete")))]
pub async fn sign_task(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(id): Path<i64>,
    Json(b): Json<SignBody>,
) -> ApiResult<Response> {
    let t = my_task(&state, &p, id).await?;
    auth::confirm_password(&state, &p, &b.password).await?;
    reads::signable(&t).map_err(read_error)?;
    let who = actor(&p);
    let signature = state
        .store
        .sign(
            &who,
            &t.trial,
            &SignRequest {
                record_type: &t.kind,
                record_id: t.id,
                username: &p.username,
                printed_name: &p.display_name,
                meaning: &b.meaning,
            },
        )
        .await?;
    let signed = state.store.read_task(t.id).await?;
    // Whether the reads now go to adjudication is not told to a blinded reader: it would say
    // whether the other reader agreed.
    let adjudication = reads::after_signing(&state.store, &who, &signed)
        .await
        .map_err(read_error)?;
    let mut v = json!({
        "signature": {"id": signature.id, "printed_name": signature.printed_name,
                      "meaning": signature.meaning, "record_sha256": signature.record_sha256},
        "state": signed.state,
    });
    if !p.blinded(Action::ReadCases, &t.trial) {
        v["signature"]["signed_at"] = json!(signature.signed_at);
        v["adjudication_task"] = json!(adjudication);
    }
    Ok(Json(v).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/reads", tag = "reads",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 200, description = "the read design and every read and adjudication task of the trial with its reader, state, response, and per subject the accepted read; `design` null for a trial without central reads")))]
pub async fn trial_reads(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let design = match reads::design(&state.store, &trial).await {
        Ok(d) => d,
        // A trial without central reads has none: an empty list, not an error.
        Err(ReadError::NoDesign(_)) => {
            return Ok(Json(json!({"design": null, "items": []})).into_response());
        }
        Err(e) => return Err(read_error(e)),
    };
    let tasks = state.store.read_tasks(Some(&trial), None).await?;
    let items = reads::listing(&design, &tasks);
    Ok(Json(json!({"design": design, "items": items})).into_response())
}

#[utoipa::path(post, path = "/api/v1/trials/{trial}/reads/plan", tag = "reads",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 200, description = "the tasks made for subjects ready for reading, and the subjects not ready with why")))]
pub async fn plan(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::ManageReads, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let planned = reads::plan(&state.store, &actor(&p), &trial)
        .await
        .map_err(read_error)?;
    Ok(Json(planned).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/reads/stats", tag = "reads",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 200, description = "per reader and pair: reads, time per read, adjudication rate, Cohen's κ on the response, ICC of the size measure")))]
pub async fn stats(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let tasks = state.store.read_tasks(Some(&trial), None).await?;
    Ok(Json(reads::stats::reader_stats(&tasks)).into_response())
}

#[utoipa::path(post, path = "/api/v1/trials/{trial}/signatures", tag = "reads",
    params(("trial" = String, Path, description = "trial id")), request_body = SignBody,
    responses((status = 200, description = "a QC decision signed"), (status = 401, description = "wrong password")))]
pub async fn sign_record(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Json(b): Json<SignBody>,
) -> ApiResult<Response> {
    allow(&p, Action::DecideQc, &Scope::trial(&trial))?;
    if b.record_type.as_deref() != Some("qc_decision") {
        return Err(ApiError::bad_request(
            "record_type \"qc_decision\" is signed here; reads and adjudications are signed on their task",
        ));
    }
    let record_id = b
        .record_id
        .ok_or_else(|| ApiError::bad_request("record_id: the QC decision's id is needed"))?;
    auth::confirm_password(&state, &p, &b.password).await?;
    let s = state
        .store
        .sign(
            &actor(&p),
            &trial,
            &SignRequest {
                record_type: "qc_decision",
                record_id,
                username: &p.username,
                printed_name: &p.display_name,
                meaning: &b.meaning,
            },
        )
        .await?;
    Ok(Json(s).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/signatures", tag = "reads",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 200, description = "the trial's signatures, each checked against its record now")))]
pub async fn signatures(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let items = state.store.verify_signatures(&trial).await?;
    Ok(Json(json!({"items": items})).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/signatures/{id}", tag = "reads",
    params(("trial" = String, Path, description = "trial id"), ("id" = i64, Path, description = "signature id")),
    responses((status = 200, description = "the signature checked against its record now: valid, or what changed")))]
pub async fn signature(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, id)): Path<(String, i64)>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    Ok(Json(state.store.verify_signature(&trial, id).await?).into_response())
}
