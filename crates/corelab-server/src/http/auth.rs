//! Authentication: argon2id password hashes, random secrets for sessions and API tokens (kept in
//! the database only as their SHA-256), the [`Authed`] extractor every handler takes, and login
//! with throttling (five failures lock an account for fifteen minutes, counted in the database so
//! every API node sees them).

use super::AppState;
use super::problem::{ApiError, ApiResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use corelab_core::{Principal, Sha256Digest};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "corelab_session";

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// Failed logins after which an account is locked for [`LOCKOUT`].
pub const MAX_FAILURES: i64 = 5;

/// How long a locked account stays locked after its last failure.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id PHC string of a password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < 8 {
        return Err("a password needs at least 8 characters".into());
    }
    let mut salt = [0_u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A new random secret (256 bits, base64url): a session id or an API token.
pub fn new_secret() -> Result<String, String> {
    let mut b = [0_u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness for a secret: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// The digest a secret is stored and looked up by.
pub fn secret_digest(secret: &str) -> Sha256Digest {
    Sha256Digest::of(secret.as_bytes())
}

/// The principal of a request, from `Authorization: Bearer TOKEN` (an API token or a session
/// id) or the session cookie. A handler that takes it refuses anonymous requests with 401.
#[derive(Clone, Debug)]
pub struct Authed(pub Principal);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if let Some(token) = bearer(&parts.headers) {
            let d = secret_digest(token);
            if let Some(p) = state.store.token_principal(&d).await? {
                return Ok(Authed(p));
            }
            if let Some(p) = state.store.session_principal(&d).await? {
                return Ok(Authed(p));
            }
            return Err(ApiError::unauthorized(
                "the bearer token is unknown, expired or revoked",
            ));
        }
        if let Some(s) = session_cookie(&parts.headers) {
            if let Some(p) = state.store.session_principal(&secret_digest(&s)).await? {
                return Ok(Authed(p));
            }
            return Err(ApiError::unauthorized(
                "the session has ended or expired: log in again",
            ));
        }
        Err(ApiError::unauthorized(
            "log in (POST /api/v1/login) or send Authorization: Bearer TOKEN",
        ))
    }
}

/// A login request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Login {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /api/v1/login`: checks the password (argon2id, off the async threads) and starts a
/// session: an HTTP-only, secure, same-site cookie, and the same secret in the body for clients
/// that send it as a bearer token.
/// Checks `password` for `username`, with the lockout after [`MAX_FAILURES`] and every failure
/// counted: the user's credentials, or the refusal to answer with (429 while locked).
async fn check_password(
    state: &AppState,
    actor: &str,
    username: &str,
    password: &str,
) -> ApiResult<Result<corelab_store::Credentials, Response>> {
    let creds = state.store.credentials(username).await?;
    if let Some(c) = &creds
        && c.failed_logins >= MAX_FAILURES
        && let Some(last) = c.last_failed_at.as_deref()
        && let Ok(last) = chrono::DateTime::parse_from_rfc3339(last)
    {
        let until = last.to_utc() + chrono::Duration::from_std(LOCKOUT).unwrap_or_default();
        let left = (until - chrono::Utc::now()).num_seconds();
        if left > 0 {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{} failed logins for {username}: locked for another {left} s",
                    c.failed_logins
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&left.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(Err(r));
        }
    }
    // An unknown user costs the same hash as a known one, so timing does not tell them apart.
    let hash = creds
        .as_ref()
        .map(|c| c.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match creds {
        Some(c) if ok && !c.disabled => Ok(Ok(c)),
        other => {
            let why = match other {
                None => "no such user",
                Some(c) if c.disabled => "account disabled",
                Some(_) => "wrong password",
            };
            state.store.login_failed(actor, username, why).await?;
            Err(ApiError::unauthorized("wrong user name or password"))
        }
    }
}

/// An electronic signature's re-authentication (21 CFR 11.200): the signer types their password
/// again; a wrong one counts as a failed login and five lock the account.
pub async fn confirm_password(state: &AppState, p: &Principal, password: &str) -> ApiResult<()> {
    let actor = format!("http:{}", p.username);
    match check_password(state, &actor, &p.username, password).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins for {}: locked for now", p.username),
        )),
        Err(_) => Err(ApiError::unauthorized(
            "the password is wrong: a signature needs the signer's own password",
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = Login,
    responses((status = 200, description = "logged in; the session cookie is set"),
              (status = 401, description = "wrong user name or password"),
              (status = 429, description = "too many failed logins: try again later")))]
pub async fn login(State(state): State<AppState>, Json(l): Json<Login>) -> ApiResult<Response> {
    let actor = format!("http:{}", l.username);
    let c = match check_password(&state, &actor, &l.username, &l.password).await? {
        Ok(c) => c,
        Err(refused) => return Ok(refused),
    };
    let secret = new_secret().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let expires = corelab_store::time::now_plus(SESSION_TTL);
    state
        .store
        .start_session(&actor, c.user_id, &secret_digest(&secret), &expires)
        .await?;
    let principal = state
        .store
        .session_principal(&secret_digest(&secret))
        .await?
        .ok_or_else(|| ApiError::unauthorized("the new session could not be read back"))?;
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    let mut r = Json(json!({
        "username": principal.username,
        "display_name": principal.display_name,
        "grants": principal.grants,
        "session": secret,
        "expires_at": expires,
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// `POST /api/v1/logout`: ends the session the request carries.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "logged out")))]
pub async fn logout(
    State(state): State<AppState>,
    Authed(p): Authed,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let secret = bearer(&headers)
        .map(str::to_owned)
        .or_else(|| session_cookie(&headers));
    if let Some(s) = secret {
        state
            .store
            .end_session(&format!("http:{}", p.username), &secret_digest(&s))
            .await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("not a hash", "x"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; corelab_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
    }
}
