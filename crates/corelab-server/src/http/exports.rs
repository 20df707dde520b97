//! The endpoint dataset over HTTP (`docs/exports.md`): what a sponsor's statistician downloads,
//! as `corelab results` writes it, audited as `results.export` under the caller's name.

use super::AppState;
use super::api::{actor, allow, trial_exists};
use super::auth::Authed;
use super::problem::{ApiError, ApiResult};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use corelab_core::{Action, Scope, Sha256Digest};
use corelab_export::endpoints::{self, Format};
use serde::Deserialize;
use serde_json::json;

/// The exports' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trials/{trial}/results", get(results))
        .route("/api/v1/results/dictionary", get(dictionary))
}

/// `?format=csv|json|parquet` (csv when absent).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ResultsQuery {
    /// `csv` (default), `json` or `parquet`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/results", tag = "results",
    params(("trial" = String, Path, description = "trial id"), ResultsQuery),
    responses((status = 200, description = "the endpoint dataset: one row per subject × visit × measure (text/csv, application/json or application/vnd.apache.parquet), audited as results.export"),
        (status = 400, description = "an unknown format"), (status = 403), (status = 404)))]
pub async fn results(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(q): Query<ResultsQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    let (format, media, extension) = match q.format.as_deref().unwrap_or("csv") {
        "csv" => (Format::Csv, "text/csv; charset=utf-8", "csv"),
        "json" => (Format::Json, "application/json", "json"),
        "parquet" => (Format::Parquet, "application/vnd.apache.parquet", "parquet"),
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("format {other:?}: csv, json or parquet"),
            ));
        }
    };
    trial_exists(&state, &trial).await?;
    let rows = corelab_engine::results::endpoints(&state.store, &trial)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let bytes = endpoints::encode(format, &trial, &rows)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let details = json!({"format": extension, "rows": rows.len(), "sha256": Sha256Digest::of(&bytes).to_hex(), "via": "http"});
    corelab_engine::results::record_export(&state.store, &actor(&p), &trial, details)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    // The trial id is validated at creation (letters, digits, `-`, `_`, `.`): safe in a header.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{trial}-endpoints.{extension}\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/results/dictionary", tag = "results",
    responses((status = 200, description = "the endpoint dataset's data dictionary: name, type, nullable, description of each column")))]
pub async fn dictionary(Authed(_): Authed) -> ApiResult<Response> {
    Ok(Json(endpoints::DICTIONARY).into_response())
}
