//! What QC reads and writes (issue 6): the catalogued series of a trial with their instances'
//! blobs, each evaluation of the trial against its protocol (kept whole, never overwritten),
//! the decisions people take over computed statuses, and the queries raised to sites. Every
//! change goes through a [`crate::WriteTx`] with its audit event (`qc.evaluate`, `qc.decide`,
//! `query.raise`, `query.answer`, `query.close`). The QC itself is computed elsewhere
//! (`corelab-engine`); this module stores what it is handed.

use crate::audit::{NewEvent, canonical_json};
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::now_text;
use corelab_core::Sha256Digest;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// One catalogued series of a trial, with where it is filed and its instances' blobs (latest
/// versions only).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CatalogSeries {
    /// The site.
    pub site: String,
    /// The subject (pseudonym).
    pub subject: String,
    /// The study's (de-identified) Study Instance UID.
    pub study_instance_uid: String,
    /// The study's date as catalogued (de-identified; shifted with the subject).
    pub study_date: Option<String>,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Modality.
    pub modality: String,
    /// Series Description.
    pub description: Option<String>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// `(SOP Instance UID, blob SHA-256)` of each instance, by SOP Instance UID.
    pub instances: Vec<(String, String)>,
}

/// One stored QC evaluation of a trial.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QcEvaluation {
    /// Its id (counts up).
    pub id: i64,
    /// The trial file it judged by.
    pub config_sha256: String,
    /// The report (canonical JSON).
    pub report_json: String,
    /// SHA-256 of `report_json`.
    pub report_sha256: String,
    /// When.
    pub created_at: String,
}

/// A person's decision on a QC target (`series:UID` or `visit:SUBJECT/VISIT`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QcDecision {
    /// Its id.
    pub id: i64,
    /// What it decides on.
    pub target: String,
    /// `pass` or `fail`.
    pub status: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
    /// When.
    pub created_at: String,
}

/// A query raised to a site about a QC target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QcQuery {
    /// Its id.
    pub id: i64,
    /// What it is about (`series:UID` or `visit:SUBJECT/VISIT`).
    pub target: String,
    /// The question put to the site.
    pub question: String,
    /// `open`, `answered` or `closed`.
    pub state: String,
    /// Who raised it, and when.
    pub raised_by: String,
    /// When it was raised.
    pub raised_at: String,
    /// The site's answer.
    pub answer: Option<String>,
    /// Who answered.
    pub answered_by: Option<String>,
    /// When.
    pub answered_at: Option<String>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// When.
    pub closed_at: Option<String>,
    /// How it was closed.
    pub resolution: Option<String>,
}

/// The next state a query moves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryStep {
    /// The site answers an open query.
    Answer,
    /// The core lab closes an open or answered query.
    Close,
}

impl Store {
    pub(crate) async fn trial_row_id(&self, trial: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT id FROM trials WHERE trial_key = $1")
            .bind(trial)
            .fetch_optional(self.db.pool())
            .await
            .map_err(StoreError::db("reading a trial"))?
            .ok_or_else(|| StoreError::NotFound(format!("no trial {trial}")))
    }

    /// The text of a trial's current trial file, with its SHA-256.
    pub async fn trial_file_text(&self, trial: &str) -> Result<(String, String)> {
        let sha: String =
            sqlx::query_scalar("SELECT config_sha256 FROM trials WHERE trial_key = $1")
                .bind(trial)
                .fetch_optional(self.db.pool())
                .await
                .map_err(StoreError::db("reading a trial"))?
                .ok_or_else(|| StoreError::NotFound(format!("no trial {trial}")))?;
        let digest: Sha256Digest = sha.parse().map_err(|_| {
            StoreError::Conflict(format!("trials.config_sha256 {sha:?} is not a digest"))
        })?;
        let bytes = self.blobs.get(&digest).await?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
            StoreError::Conflict(format!("trial {trial}: its trial file is not UTF-8 text"))
        })?;
        Ok((sha, text))
    }

    /// Every catalogued series of a trial, by site, subject, study and series; each with its
    /// instances' latest versions.
    pub async fn trial_series(&self, trial: &str) -> Result<Vec<CatalogSeries>> {
        let trial_id = self.trial_row_id(trial).await?;
        let rows = sqlx::query(
            "SELECT si.site_key, j.subject_key, st.study_instance_uid, st.study_date, \
               se.series_instance_uid, se.modality, se.description, se.series_number, \
               i.sop_instance_uid, i.blob_sha256 \
             FROM instances i JOIN series se ON se.id = i.series_id \
             JOIN studies st ON st.id = se.study_id JOIN subjects j ON j.id = st.subject_id \
             JOIN sites si ON si.id = j.site_id \
             WHERE i.trial_id = $1 \
               AND NOT EXISTS (SELECT 1 FROM instances n WHERE n.supersedes_id = i.id) \
             ORDER BY si.site_key, j.subject_key, st.study_date, st.study_instance_uid, \
               se.series_number, se.series_instance_uid, i.sop_instance_uid",
        )
        .bind(trial_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing a trial's series"))?;
        let mut out: Vec<CatalogSeries> = Vec::new();
        for r in &rows {
            let ctx = || StoreError::db("reading a trial's series");
            let series: String = r.try_get("series_instance_uid").map_err(ctx())?;
            let study: String = r.try_get("study_instance_uid").map_err(ctx())?;
            let instance = (
                r.try_get("sop_instance_uid").map_err(ctx())?,
                r.try_get("blob_sha256").map_err(ctx())?,
            );
            match out.last_mut() {
                Some(last)
                    if last.series_instance_uid == series && last.study_instance_uid == study =>
                {
                    last.instances.push(instance)
                }
                _ => out.push(CatalogSeries {
                    site: r.try_get("site_key").map_err(ctx())?,
                    subject: r.try_get("subject_key").map_err(ctx())?,
                    study_instance_uid: study,
                    study_date: r.try_get("study_date").map_err(ctx())?,
                    series_instance_uid: series,
                    modality: r.try_get("modality").map_err(ctx())?,
                    description: r.try_get("description").map_err(ctx())?,
                    series_number: r.try_get("series_number").map_err(ctx())?,
                    instances: vec![instance],
                }),
            }
        }
        Ok(out)
    }

    /// Stores an evaluation of `trial` (its report as JSON) judged by the trial file
    /// `config_sha256`, with its `qc.evaluate` event carrying `summary`.
    pub async fn record_qc_evaluation(
        &self,
        actor: &str,
        trial: &str,
        config_sha256: &str,
        report: &serde_json::Value,
        summary: serde_json::Value,
    ) -> Result<QcEvaluation> {
        let trial_id = self.trial_row_id(trial).await?;
        let report_json = canonical_json(report);
        let report_sha256 = Sha256Digest::of(report_json.as_bytes()).to_hex();
        let created_at = now_text();
        let mut tx = self.begin(actor).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO qc_evaluations (trial_id, config_sha256, report_json, report_sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(trial_id)
        .bind(config_sha256)
        .bind(&report_json)
        .bind(&report_sha256)
        .bind(&created_at)
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::db("recording a QC evaluation"))?;
        tx.record(
            NewEvent::new("qc.evaluate", "qc_evaluation", &format!("{trial}/{id}"))
                .details(json!({"report_sha256": report_sha256, "config_sha256": config_sha256, "summary": summary})),
        )
        .await?;
        tx.commit().await?;
        Ok(QcEvaluation {
            id,
            config_sha256: config_sha256.to_owned(),
            report_json,
            report_sha256,
            created_at,
        })
    }

    /// The latest evaluation of a trial, if any.
    pub async fn latest_qc_evaluation(&self, trial: &str) -> Result<Option<QcEvaluation>> {
        let trial_id = self.trial_row_id(trial).await?;
        let row = sqlx::query(
            "SELECT id, config_sha256, report_json, report_sha256, created_at FROM qc_evaluations \
             WHERE trial_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(trial_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::db("reading QC evaluations"))?;
        row.map(|r| {
            let ctx = || StoreError::db("reading QC evaluations");
            Ok(QcEvaluation {
                id: r.try_get("id").map_err(ctx())?,
                config_sha256: r.try_get("config_sha256").map_err(ctx())?,
                report_json: r.try_get("report_json").map_err(ctx())?,
                report_sha256: r.try_get("report_sha256").map_err(ctx())?,
                created_at: r.try_get("created_at").map_err(ctx())?,
            })
        })
        .transpose()
    }

    /// Records a person's decision (`pass` or `fail`, with a reason) on a QC target.
    pub async fn record_qc_decision(
        &self,
        actor: &str,
        trial: &str,
        target: &str,
        status: &str,
        reason: &str,
    ) -> Result<QcDecision> {
        if !matches!(status, "pass" | "fail") {
            return Err(StoreError::Conflict(format!(
                "a QC decision is pass or fail, not {status:?}"
            )));
        }
        if reason.trim().is_empty() {
            return Err(StoreError::Conflict(
                "a QC decision needs a reason".to_owned(),
            ));
        }
        let trial_id = self.trial_row_id(trial).await?;
        let created_at = now_text();
        let mut tx = self.begin(actor).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO qc_decisions (trial_id, target, status, reason, actor, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(trial_id)
        .bind(target)
        .bind(status)
        .bind(reason)
        .bind(actor)
        .bind(&created_at)
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::db("recording a QC decision"))?;
        tx.record(
            NewEvent::new("qc.decide", "qc_target", &format!("{trial}/{target}"))
                .reason(reason)
                .after(&json!({"status": status})),
        )
        .await?;
        tx.commit().await?;
        Ok(QcDecision {
            id,
            target: target.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            actor: actor.to_owned(),
            created_at,
        })
    }

    /// Every decision on a trial's QC targets, oldest first (the last on a target stands).
    pub async fn qc_decisions(&self, trial: &str) -> Result<Vec<QcDecision>> {
        let trial_id = self.trial_row_id(trial).await?;
        let rows = sqlx::query(
            "SELECT id, target, status, reason, actor, created_at FROM qc_decisions \
             WHERE trial_id = $1 ORDER BY id",
        )
        .bind(trial_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("reading QC decisions"))?;
        rows.iter()
            .map(|r| {
                let ctx = || StoreError::db("reading QC decisions");
                Ok(QcDecision {
                    id: r.try_get("id").map_err(ctx())?,
                    target: r.try_get("target").map_err(ctx())?,
                    status: r.try_get("status").map_err(ctx())?,
                    reason: r.try_get("reason").map_err(ctx())?,
                    actor: r.try_get("actor").map_err(ctx())?,
                    created_at: r.try_get("created_at").map_err(ctx())?,
                })
            })
            .collect()
    }

    /// Raises a query to the site about a QC target; returns it (open).
    pub async fn raise_query(
        &self,
        actor: &str,
        trial: &str,
        target: &str,
        question: &str,
    ) -> Result<QcQuery> {
        if question.trim().is_empty() {
            return Err(StoreError::Conflict("a query needs a question".to_owned()));
        }
        let trial_id = self.trial_row_id(trial).await?;
        let now = now_text();
        let mut tx = self.begin(actor).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO qc_queries (trial_id, target, question, raised_by, raised_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(trial_id)
        .bind(target)
        .bind(question)
        .bind(actor)
        .bind(&now)
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::db("raising a query"))?;
        tx.record(
            NewEvent::new("query.raise", "query", &format!("{trial}/{id}"))
                .after(&json!({"target": target, "question": question, "state": "open"})),
        )
        .await?;
        tx.commit().await?;
        self.query(trial, id).await
    }

    /// Moves a query on: the site's answer to an open query, or the core lab closing an open
    /// or answered one (`text` is the answer or the resolution).
    pub async fn step_query(
        &self,
        actor: &str,
        trial: &str,
        id: i64,
        step: QueryStep,
        text: &str,
    ) -> Result<QcQuery> {
        if text.trim().is_empty() {
            return Err(StoreError::Conflict(match step {
                QueryStep::Answer => "an answer needs text".to_owned(),
                QueryStep::Close => "closing a query needs a resolution".to_owned(),
            }));
        }
        let before = self.query(trial, id).await?;
        let (allowed, next, action, sql) = match step {
            QueryStep::Answer => (
                before.state == "open",
                "answered",
                "query.answer",
                "UPDATE qc_queries SET state = 'answered', answer = $1, answered_by = $2, answered_at = $3 \
                 WHERE id = $4 AND state = 'open'",
            ),
            QueryStep::Close => (
                before.state != "closed",
                "closed",
                "query.close",
                "UPDATE qc_queries SET state = 'closed', resolution = $1, closed_by = $2, closed_at = $3 \
                 WHERE id = $4 AND state <> 'closed'",
            ),
        };
        if !allowed {
            return Err(StoreError::Conflict(format!(
                "query {id} of trial {trial} is {}; it cannot become {next}",
                before.state
            )));
        }
        let mut tx = self.begin(actor).await?;
        let done = sqlx::query(sql)
            .bind(text)
            .bind(actor)
            .bind(now_text())
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::db("moving a query on"))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "query {id} of trial {trial} changed while it was being updated; try again"
            )));
        }
        tx.record(
            NewEvent::new(action, "query", &format!("{trial}/{id}"))
                .reason(text)
                .after(&json!({"state": next})),
        )
        .await?;
        tx.commit().await?;
        self.query(trial, id).await
    }

    /// One query of a trial.
    pub async fn query(&self, trial: &str, id: i64) -> Result<QcQuery> {
        self.query_rows(trial, Some(id), true)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(format!("trial {trial} has no query {id}")))
    }

    /// A trial's queries, oldest first: those not closed, or all.
    pub async fn queries(&self, trial: &str, all: bool) -> Result<Vec<QcQuery>> {
        self.query_rows(trial, None, all).await
    }

    async fn query_rows(&self, trial: &str, id: Option<i64>, all: bool) -> Result<Vec<QcQuery>> {
        let trial_id = self.trial_row_id(trial).await?;
        let rows = sqlx::query(
            "SELECT id, target, question, state, raised_by, raised_at, answer, answered_by, \
               answered_at, closed_by, closed_at, resolution FROM qc_queries \
             WHERE trial_id = $1 AND ($2 = 0 OR id = $2) AND ($3 = 1 OR state <> 'closed') ORDER BY id",
        )
        .bind(trial_id)
        .bind(id.unwrap_or(0))
        .bind(i64::from(all))
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("reading queries"))?;
        rows.iter()
            .map(|r| {
                let ctx = || StoreError::db("reading queries");
                Ok(QcQuery {
                    id: r.try_get("id").map_err(ctx())?,
                    target: r.try_get("target").map_err(ctx())?,
                    question: r.try_get("question").map_err(ctx())?,
                    state: r.try_get("state").map_err(ctx())?,
                    raised_by: r.try_get("raised_by").map_err(ctx())?,
                    raised_at: r.try_get("raised_at").map_err(ctx())?,
                    answer: r.try_get("answer").map_err(ctx())?,
                    answered_by: r.try_get("answered_by").map_err(ctx())?,
                    answered_at: r.try_get("answered_at").map_err(ctx())?,
                    closed_by: r.try_get("closed_by").map_err(ctx())?,
                    closed_at: r.try_get("closed_at").map_err(ctx())?,
                    resolution: r.try_get("resolution").map_err(ctx())?,
                })
            })
            .collect()
    }
}
