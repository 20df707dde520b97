//! The web UI's files: the single-page application that `ui/` builds (`npm run build` writes
//! `ui/dist`: `index.html`, one bundled script with NiiVue in it, one style sheet), served under
//! `/` with a strict content security policy. The pages talk to the API only; nothing here knows
//! about them. Without a built UI, `/` says how to build it.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};
use std::path::{Path, PathBuf};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Scripts and styles from this origin only; images also as data/blob URLs (NiiVue, plot
/// exports); no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The UI's folder: `explicit` if given, else the first of `./ui/dist` and the source
/// checkout's `ui/dist` that holds an `index.html`.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = explicit {
        return Some(d.to_owned());
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist");
    [PathBuf::from("ui/dist"), built]
        .into_iter()
        .find(|d| d.join("index.html").is_file())
}

/// The routes serving `dir` (or the how-to-build page when there is none).
pub fn routes<S: Clone + Send + Sync + 'static>(dir: Option<&Path>) -> Router<S> {
    let router = match dir {
        Some(d) => Router::new()
            .fallback_service(ServeDir::new(d))
            .layer(axum::middleware::from_fn(no_nul)),
        None => Router::new().fallback(not_built),
    };
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// A path holding a NUL (`%00`) names no file: not found, before the file system refuses it
/// with an error (which the file service would answer with a 500).
async fn no_nul(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.uri().path().to_ascii_lowercase().contains("%00") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    next.run(req).await
}

/// The how-to-build page at `/`; any other path is not found (a 503 would tell a prober the
/// server is failing).
async fn not_built(uri: axum::http::Uri) -> axum::response::Response {
    if !matches!(uri.path(), "/" | "/index.html") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(
            "<!doctype html><title>corelab</title><h1>The web UI is not built</h1>\
             <p>Build it with <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code> \
             (the README's set-up does), or start <code>corelab serve</code> with \
             <code>--ui DIR</code>. The API is at <code>/api/v1</code>.</p>",
        ),
    )
        .into_response()
}
