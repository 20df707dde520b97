//! Errors as RFC 9457 problem details (`application/problem+json`): a status, a short title, and
//! a detail that names what was wrong and where. Every handler returns [`ApiError`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corelab_store::StoreError;
use serde_json::json;

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub detail: String,
}

impl ApiError {
    /// A problem with this status and detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: known, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such thing (or none the caller may see).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => {
                tracing::error!(error = %e, "store error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let body = json!({
            "type": "about:blank",
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut r = (self.status, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    }
}

/// Result with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

/// The framework's own refusals (a path segment or query string that does not parse, a body
/// that does not deserialise or is too large, a method not allowed: plain text or nothing) as
/// problem details, so that every error of the API and DICOMweb is one. Answers that are
/// already typed (problems, STOW-RS's DICOM JSON) pass unchanged.
pub async fn problem_bodies(r: Response) -> Response {
    let status = r.status();
    let typed = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| !ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || typed {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    let mut out = ApiError::new(status, detail).into_response();
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().append(k.clone(), v.clone());
        }
    }
    out
}

/// Under `/api/` and `/dicomweb/`, a path no route matches is a 404 problem, not one of the web
/// UI's pages.
pub async fn no_route(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    let api = ["/api", "/dicomweb"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if api {
        return ApiError::not_found(format!("no route {} {path}", req.method())).into_response();
    }
    next.run(req).await
}
