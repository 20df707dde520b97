//! The REST API under `/api/v1`: the catalogue, QC, queries, jobs, results, the audit trail and
//! users, each route checking its [`Action`] on its trial and site for the caller. Lists are
//! paged (`limit`, `offset`); site users see only their sites' rows.

use super::auth::{self, Authed};
use super::problem::{ApiError, ApiResult};
use super::{AppState, PageQuery};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use corelab_core::{Action, Grant, Principal, Scope};
use corelab_store::NewUser;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(super::openapi::document))
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/status", get(status))
        .route("/api/v1/algorithms", get(algorithms))
        .route("/api/v1/quarantine", get(quarantine))
        .route("/api/v1/trials", get(trials).post(create_trial))
        .route("/api/v1/trials/{trial}", get(trial))
        .route("/api/v1/trials/{trial}/sites", get(sites))
        .route("/api/v1/trials/{trial}/subjects", get(subjects))
        .route("/api/v1/trials/{trial}/series", get(series))
        .route("/api/v1/trials/{trial}/qc", get(qc))
        .route(
            "/api/v1/trials/{trial}/qc/decisions",
            get(qc_decisions).post(decide_qc),
        )
        .route(
            "/api/v1/trials/{trial}/queries",
            get(queries).post(raise_query),
        )
        .route(
            "/api/v1/trials/{trial}/queries/{id}/answer",
            post(answer_query),
        )
        .route(
            "/api/v1/trials/{trial}/queries/{id}/close",
            post(close_query),
        )
        .route("/api/v1/trials/{trial}/jobs", get(jobs))
        .route("/api/v1/trials/{trial}/jobs/{id}", get(job))
        .route(
            "/api/v1/trials/{trial}/jobs/{id}/provenance",
            get(provenance),
        )
        .route("/api/v1/trials/{trial}/run", post(run))
        .route("/api/v1/trials/{trial}/measurements", get(measurements))
        .route("/api/v1/audit/events", get(audit_events))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/users", get(users).post(add_user))
}

/// Refuses `action` on `scope` unless a grant allows it.
pub fn allow(p: &Principal, action: Action, scope: &Scope) -> ApiResult<()> {
    if p.may(action, scope) {
        return Ok(());
    }
    let roles: Vec<&str> = action.roles().iter().map(|r| r.as_str()).collect();
    let what = match (&scope.trial, &scope.site) {
        (None, _) => "this installation".to_owned(),
        (Some(t), None) => format!("trial {t}"),
        (Some(t), Some(s)) => format!("site {s} of trial {t}"),
    };
    Err(ApiError::forbidden(format!(
        "{} may not {action:?} on {what}: it needs one of the roles {} there",
        p.username,
        roles.join(", ")
    )))
}

/// The actor recorded for a change made through the API.
pub fn actor(p: &Principal) -> String {
    format!("http:{}", p.username)
}

/// Whether a row of `site` is visible under a site filter.
pub(super) fn visible(filter: &Option<Vec<String>>, site: &str) -> bool {
    filter.as_ref().is_none_or(|f| f.iter().any(|s| s == site))
}

/// The trial `trial`, or 404.
pub async fn trial_exists(state: &AppState, trial: &str) -> ApiResult<corelab_store::TrialSummary> {
    state
        .store
        .trial(trial)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no trial {trial}")))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, description = "the caller, with their grants and what they may do: on the installation (`may`) and per trial (`trials`), so a client shows only what it may")))]
pub async fn me(State(state): State<AppState>, Authed(p): Authed) -> ApiResult<Response> {
    let allowed = |scope: &Scope| -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|a| p.may(*a, scope))
            .collect()
    };
    let mut trials = serde_json::Map::new();
    for t in state.store.trials().await? {
        let may = allowed(&Scope::trial(&t.id));
        if !may.is_empty() {
            trials.insert(t.id.clone(), json!(may));
        }
    }
    Ok(Json(json!({
        "user_id": p.user_id,
        "username": p.username,
        "display_name": p.display_name,
        "grants": p.grants,
        "may": allowed(&Scope::installation()),
        "trials": trials,
    }))
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/trials", tag = "catalogue", params(PageQuery),
    responses((status = 200, description = "a page of the trials the caller may see")))]
pub async fn trials(
    State(state): State<AppState>,
    Authed(p): Authed,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    let all = state.store.trials().await?;
    let mine: Vec<_> = all
        .into_iter()
        .filter(|t| p.may(Action::ReadCatalogue, &Scope::trial(&t.id)))
        .collect();
    Ok(Json(pq.page(mine)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}", tag = "catalogue",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 200, description = "the trial"), (status = 403), (status = 404)))]
pub async fn trial(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadCatalogue, &Scope::trial(&trial))?;
    let t = trial_exists(&state, &trial).await?;
    let locks = state.store.trial_locks(&trial).await?;
    Ok(Json(json!({
        "trial": t,
        "locked": !locks.is_empty(),
        "lock_version": locks.last().map(|l| l.version),
    }))
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/sites", tag = "catalogue",
    params(("trial" = String, Path, description = "trial id"), PageQuery),
    responses((status = 200, description = "a page of the trial's sites the caller may see")))]
pub async fn sites(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadCatalogue, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let f = p.site_filter(Action::ReadCatalogue, &trial);
    let rows: Vec<_> = state
        .store
        .sites(&trial)
        .await?
        .into_iter()
        .filter(|s| visible(&f, &s.id))
        .collect();
    Ok(Json(pq.page(rows)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/subjects", tag = "catalogue",
    params(("trial" = String, Path, description = "trial id"), PageQuery),
    responses((status = 200, description = "a page of subjects with their site, studies and series")))]
pub async fn subjects(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadCatalogue, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let f = p.site_filter(Action::ReadCatalogue, &trial);
    let mut by: BTreeMap<String, (String, BTreeSet<String>, usize)> = BTreeMap::new();
    for s in state.store.trial_series(&trial).await? {
        if !visible(&f, &s.site) {
            continue;
        }
        let e = by
            .entry(s.subject.clone())
            .or_insert_with(|| (s.site.clone(), BTreeSet::new(), 0));
        e.1.insert(s.study_instance_uid.clone());
        e.2 += 1;
    }
    let rows: Vec<Value> = by
        .into_iter()
        .map(|(subject, (site, studies, series))| {
            json!({"subject": subject, "site": site, "studies": studies.len(), "series": series})
        })
        .collect();
    Ok(Json(pq.page(rows)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/series", tag = "catalogue",
    params(("trial" = String, Path, description = "trial id"), PageQuery),
    responses((status = 200, description = "a page of the trial's catalogued series")))]
pub async fn series(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadCatalogue, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let f = p.site_filter(Action::ReadCatalogue, &trial);
    let rows: Vec<_> = state
        .store
        .trial_series(&trial)
        .await?
        .into_iter()
        .filter(|s| visible(&f, &s.site))
        .collect();
    Ok(Json(pq.page(rows)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/qc", tag = "qc",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 200, description = "the latest QC evaluation (a site user's: their sites' subjects only)")))]
pub async fn qc(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadQc, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let Some(ev) = state.store.latest_qc_evaluation(&trial).await? else {
        return Err(ApiError::not_found(format!(
            "trial {trial} has no QC evaluation yet (corelab qc {trial})"
        )));
    };
    let mut report: Value = serde_json::from_str(&ev.report_json).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("QC evaluation {}: {e}", ev.id),
        )
    })?;
    if let Some(f) = p.site_filter(Action::ReadQc, &trial) {
        if let Some(subjects) = report.get_mut("subjects").and_then(Value::as_array_mut) {
            subjects.retain(|s| {
                s.get("site")
                    .and_then(Value::as_str)
                    .is_some_and(|site| f.iter().any(|x| x == site))
            });
        }
        // Trial-wide counts would tell a site about the others.
        if let Some(o) = report.as_object_mut() {
            o.remove("series");
            o.remove("visits");
        }
    }
    Ok(Json(json!({
        "id": ev.id, "created_at": ev.created_at, "report_sha256": ev.report_sha256, "report": report,
    }))
    .into_response())
}

/// The sites and subjects of a trial's QC targets (`series:UID`, `visit:SUBJECT/VISIT`), from
/// its series read once per request.
pub(super) struct TargetSites(pub(super) Vec<corelab_store::CatalogSeries>);

impl TargetSites {
    async fn of(state: &AppState, trial: &str) -> ApiResult<Self> {
        Ok(Self(state.store.trial_series(trial).await?))
    }

    /// A catalogued series of the series or subject `target` names.
    fn find(&self, target: &str) -> Option<&corelab_store::CatalogSeries> {
        if let Some(uid) = target.strip_prefix("series:") {
            self.0.iter().find(|s| s.series_instance_uid == uid)
        } else if let Some(rest) = target.strip_prefix("visit:") {
            let subject = rest.split('/').next().unwrap_or_default();
            self.0.iter().find(|s| s.subject == subject)
        } else {
            None
        }
    }

    /// The site `target` belongs to, if the catalogue knows it.
    fn site(&self, target: &str) -> Option<&str> {
        self.find(target).map(|s| s.site.as_str())
    }

    /// The subject `target` is about, if the catalogue knows it.
    pub(super) fn subject(&self, target: &str) -> Option<&str> {
        self.find(target).map(|s| s.subject.as_str())
    }
}

/// The rows of `rows` whose QC target a caller limited to `filter`'s sites may see.
async fn visible_targets<T>(
    state: &AppState,
    trial: &str,
    filter: &Option<Vec<String>>,
    rows: Vec<T>,
    target: impl Fn(&T) -> &str,
) -> ApiResult<Vec<T>> {
    if filter.is_none() {
        return Ok(rows);
    }
    let sites = TargetSites::of(state, trial).await?;
    Ok(rows
        .into_iter()
        .filter(|r| visible(filter, sites.site(target(r)).unwrap_or_default()))
        .collect())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/qc/decisions", tag = "qc",
    params(("trial" = String, Path, description = "trial id"), PageQuery),
    responses((status = 200, description = "a page of QC decisions")))]
pub async fn qc_decisions(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadQc, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let f = p.site_filter(Action::ReadQc, &trial);
    let all = state.store.qc_decisions(&trial).await?;
    let rows = visible_targets(&state, &trial, &f, all, |d| &d.target).await?;
    Ok(Json(pq.page(rows)).into_response())
}

/// A QC decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// `series:UID` or `visit:SUBJECT/VISIT`.
    pub target: String,
    /// `pass` or `fail`.
    pub status: String,
    /// Why.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/trials/{trial}/qc/decisions", tag = "qc",
    params(("trial" = String, Path, description = "trial id")), request_body = Decision,
    responses((status = 201, description = "recorded and audited")))]
pub async fn decide_qc(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Json(d): Json<Decision>,
) -> ApiResult<Response> {
    allow(&p, Action::DecideQc, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    if d.reason.trim().is_empty() {
        return Err(ApiError::bad_request("a QC decision needs a reason"));
    }
    let rec = state
        .store
        .record_qc_decision(&actor(&p), &trial, &d.target, &d.status, &d.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(rec)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/queries", tag = "qc",
    params(("trial" = String, Path, description = "trial id"), AllQuery, PageQuery),
    responses((status = 200, description = "a page of queries (a site user's: their sites' only)")))]
pub async fn queries(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(a): Query<AllQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadQc, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let f = p.site_filter(Action::ReadQc, &trial);
    let all = state.store.queries(&trial, a.all()).await?;
    let rows = visible_targets(&state, &trial, &f, all, |q| &q.target).await?;
    Ok(Json(pq.page(rows)).into_response())
}

/// A new query to a site.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewQuery {
    /// `series:UID` or `visit:SUBJECT/VISIT`.
    pub target: String,
    /// The question.
    pub question: String,
}

#[utoipa::path(post, path = "/api/v1/trials/{trial}/queries", tag = "qc",
    params(("trial" = String, Path, description = "trial id")), request_body = NewQuery,
    responses((status = 201, description = "raised and audited")))]
pub async fn raise_query(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Json(q): Json<NewQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::DecideQc, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let rec = state
        .store
        .raise_query(&actor(&p), &trial, &q.target, &q.question)
        .await?;
    Ok((StatusCode::CREATED, Json(rec)).into_response())
}

/// The text of an answer or a closing.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StepText {
    /// The answer, or how it was resolved.
    pub text: String,
}

#[utoipa::path(post, path = "/api/v1/trials/{trial}/queries/{id}/answer", tag = "qc",
    params(("trial" = String, Path, description = "trial id"), ("id" = i64, Path, description = "query id")),
    request_body = StepText, responses((status = 200, description = "answered and audited")))]
pub async fn answer_query(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, id)): Path<(String, i64)>,
    Json(t): Json<StepText>,
) -> ApiResult<Response> {
    let q = state.store.query(&trial, id).await?;
    let site = TargetSites::of(&state, &trial)
        .await?
        .site(&q.target)
        .map(str::to_owned);
    let scope = match &site {
        Some(s) => Scope::site(&trial, s),
        None => Scope::trial(&trial),
    };
    allow(&p, Action::AnswerQuery, &scope)?;
    if site.is_none() && p.site_filter(Action::AnswerQuery, &trial).is_some() {
        return Err(ApiError::forbidden(format!(
            "query {id} is about {} which no site of yours holds",
            q.target
        )));
    }
    let rec = state
        .store
        .step_query(
            &actor(&p),
            &trial,
            id,
            corelab_store::QueryStep::Answer,
            &t.text,
        )
        .await?;
    Ok(Json(rec).into_response())
}

#[utoipa::path(post, path = "/api/v1/trials/{trial}/queries/{id}/close", tag = "qc",
    params(("trial" = String, Path, description = "trial id"), ("id" = i64, Path, description = "query id")),
    request_body = StepText, responses((status = 200, description = "closed and audited")))]
pub async fn close_query(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, id)): Path<(String, i64)>,
    Json(t): Json<StepText>,
) -> ApiResult<Response> {
    allow(&p, Action::DecideQc, &Scope::trial(&trial))?;
    let rec = state
        .store
        .step_query(
            &actor(&p),
            &trial,
            id,
            corelab_store::QueryStep::Close,
            &t.text,
        )
        .await?;
    Ok(Json(rec).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/jobs", tag = "results",
    params(("trial" = String, Path, description = "trial id"), PageQuery),
    responses((status = 200, description = "a page of the trial's jobs")))]
pub async fn jobs(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    Ok(Json(pq.page(state.store.jobs(&trial).await?)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/jobs/{id}", tag = "results",
    params(("trial" = String, Path, description = "trial id"), ("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job, with its result once it succeeded")))]
pub async fn job(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, id)): Path<(String, i64)>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    Ok(Json(state.store.job(&trial, id).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/trials/{trial}/run", tag = "results",
    params(("trial" = String, Path, description = "trial id")),
    responses((status = 202, description = "QC evaluated and the locked algorithms' jobs enqueued")))]
pub async fn run(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
) -> ApiResult<Response> {
    allow(&p, Action::RunJobs, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    let planned = corelab_engine::runner::plan_run(&state.store, &trial, &actor(&p))
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    Ok((StatusCode::ACCEPTED, Json(planned)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/measurements", tag = "results",
    params(("trial" = String, Path, description = "trial id"), PageQuery),
    responses((status = 200, description = "a page of measurements with units and provenance")))]
pub async fn measurements(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(trial): Path<String>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    trial_exists(&state, &trial).await?;
    Ok(Json(pq.page(state.store.measurements(&trial).await?)).into_response())
}

/// `?since=&actor=&action=&object_type=&object_id=&text=&newest_first=`: what to look for in
/// the audit trail.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Exactly this actor (`http:alice`, `cli:…`).
    pub actor: Option<String>,
    /// Exactly this action (`qc.decide`, `instance.store`, …).
    pub action: Option<String>,
    /// Exactly this kind of object (`series`, `trial`, `job`, …).
    pub object_type: Option<String>,
    /// Exactly this object: with `object_type`, one object's whole history.
    pub object_id: Option<String>,
    /// A substring of the actor, action, object id or reason.
    pub text: Option<String>,
    /// Newest first (default: in chain order).
    pub newest_first: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(AuditQuery, PageQuery),
    responses((status = 200, description = "a page of the audit events that match, in chain order or newest first")))]
pub async fn audit_events(
    State(state): State<AppState>,
    Authed(p): Authed,
    Query(q): Query<AuditQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadAudit, &Scope::installation())?;
    let filter = corelab_store::AuditFilter {
        since: q.since,
        actor: q.actor,
        action: q.action,
        object_type: q.object_type,
        object_id: q.object_id,
        text: q.text,
        newest_first: q.newest_first.unwrap_or(false),
    };
    let items = state
        .store
        .search_audit(&filter, pq.limit(), pq.offset())
        .await?;
    // Not counted: the trail may be long.
    Ok(Json(super::Page {
        items,
        limit: pq.limit(),
        offset: pq.offset(),
        total: -1,
    })
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "the whole chain checked: ok, events, first bad event")))]
pub async fn audit_verify(State(state): State<AppState>, Authed(p): Authed) -> ApiResult<Response> {
    allow(&p, Action::ReadAudit, &Scope::installation())?;
    let r = state.store.verify_audit().await?;
    Ok(Json(r).into_response())
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, description = "a page of users with their grants")))]
pub async fn users(
    State(state): State<AppState>,
    Authed(p): Authed,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ManageUsers, &Scope::installation())?;
    Ok(Json(pq.page(state.store.users().await?)).into_response())
}

/// A new user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AddUser {
    /// User name.
    pub username: String,
    /// Printed name.
    pub display_name: String,
    /// Initial password (at least 8 characters).
    pub password: String,
    /// Grants: `admin`, `qc@TRIAL`, `site@TRIAL/SITE`, …
    pub grants: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = AddUser,
    responses((status = 201, description = "added and audited")))]
pub async fn add_user(
    State(state): State<AppState>,
    Authed(p): Authed,
    Json(u): Json<AddUser>,
) -> ApiResult<Response> {
    allow(&p, Action::ManageUsers, &Scope::installation())?;
    let grants = u
        .grants
        .iter()
        .map(|g| Grant::parse(g))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::bad_request)?;
    let password = u.password.clone();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::bad_request)?;
    let info = state
        .store
        .add_user(
            &actor(&p),
            &NewUser {
                username: &u.username,
                display_name: &u.display_name,
                password_hash: &hash,
                grants: &grants,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

#[utoipa::path(get, path = "/api/v1/status", tag = "catalogue",
    responses((status = 200, description = "what the installation holds (corelab status --json)")))]
pub async fn status(State(state): State<AppState>, Authed(p): Authed) -> ApiResult<Response> {
    allow(&p, Action::ReadAudit, &Scope::installation())?;
    Ok(Json(state.store.status().await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/algorithms", tag = "results",
    responses((status = 200, description = "the algorithm catalogue with versions, inputs, parameters and measurements")))]
pub async fn algorithms(Authed(_p): Authed) -> ApiResult<Response> {
    let registry = corelab_algo::Registry::builtin();
    let doc: Vec<Value> = registry
        .all()
        .map(|a| {
            json!({
                "id": a.id(),
                "version": a.version(),
                "description": a.description(),
                "references": a.references(),
                "inputs": a.inputs(),
                "parameters": a.parameters(),
                "parameters_schema": corelab_algo::params::json_schema(&a.parameters()),
                "measurements": a.measurements(),
                "images": a.images(),
            })
        })
        .collect();
    Ok(Json(doc).into_response())
}

/// `?all=true`: resolved ones too (closed queries, released or discarded objects).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AllQuery {
    /// Resolved ones too.
    pub all: Option<bool>,
}

impl AllQuery {
    fn all(&self) -> bool {
        self.all.unwrap_or(false)
    }
}

#[utoipa::path(get, path = "/api/v1/quarantine", tag = "catalogue", params(AllQuery, PageQuery),
    responses((status = 200, description = "a page of quarantined objects with their reasons (never their bytes)")))]
pub async fn quarantine(
    State(state): State<AppState>,
    Authed(p): Authed,
    Query(a): Query<AllQuery>,
    Query(pq): Query<PageQuery>,
) -> ApiResult<Response> {
    allow(&p, Action::ManageTrials, &Scope::installation())?;
    let rows = state.store.quarantine_list(a.all()).await?;
    Ok(Json(pq.page(rows)).into_response())
}

#[utoipa::path(post, path = "/api/v1/trials", tag = "catalogue",
    request_body(content = String, content_type = "application/toml", description = "the trial file"),
    responses((status = 201, description = "the trial, its sites and AE titles created and audited"),
              (status = 400, description = "the trial file is not valid: every problem with its line")))]
pub async fn create_trial(
    State(state): State<AppState>,
    Authed(p): Authed,
    body: String,
) -> ApiResult<Response> {
    allow(&p, Action::ManageTrials, &Scope::installation())?;
    let file = corelab_core::TrialFile::parse(&body)
        .map_err(|e| ApiError::bad_request(format!("trial file: {e}")))?;
    let t = state.store.create_trial(&actor(&p), &file, &body).await?;
    state.store.checkpoint().await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

#[utoipa::path(get, path = "/api/v1/trials/{trial}/jobs/{id}/provenance", tag = "results",
    params(("trial" = String, Path, description = "trial id"), ("id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the W3C PROV-JSON record of the job's outputs"),
              (status = 409, description = "the job has no outputs yet")))]
pub async fn provenance(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, id)): Path<(String, i64)>,
) -> ApiResult<Response> {
    allow(&p, Action::ReadResults, &Scope::trial(&trial))?;
    let job = state.store.job(&trial, id).await?;
    match job.result.as_ref().map(|r| r["provenance"].clone()) {
        Some(prov) => Ok(Json(prov).into_response()),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "job {id} of trial {trial} is {}: it has no outputs yet",
                job.state
            ),
        )),
    }
}
