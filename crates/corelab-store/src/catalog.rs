//! The trial catalogue: trials and their sites as described by `trial.toml`, and the counts
//! `corelab status` shows. Each change goes through a [`WriteTx`] with its audit event.

use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::now_text;
use bytes::Bytes;
use corelab_core::TrialFile;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// A trial as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrialSummary {
    /// The trial id.
    pub id: String,
    /// Sponsor.
    pub sponsor: String,
    /// Protocol id.
    pub protocol: String,
    /// Phase.
    pub phase: String,
    /// Number of sites.
    pub sites: i64,
    /// Number of subjects.
    pub subjects: i64,
    /// SHA-256 of the trial file as created (a blob).
    pub config_sha256: String,
}

/// A site as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteSummary {
    /// Site id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Country, if given.
    pub country: Option<String>,
    /// Calling AE titles.
    pub ae_titles: Vec<String>,
    /// The AE title the site calls this node by, when it has its own.
    pub called_ae_title: Option<String>,
    /// Trial subjects at the site.
    pub subjects: i64,
    /// DICOM instances stored for the site (all versions).
    pub instances: i64,
}

/// What the installation holds (`corelab status --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// DICOM studies.
    pub studies: i64,
    /// DICOM series.
    pub series: i64,
    /// DICOM instances (all versions).
    pub instances: i64,
    /// Quarantined objects still held.
    pub quarantined: i64,
    /// Audit events.
    pub audit_events: i64,
    /// Trials.
    pub trials: Vec<TrialSummary>,
    /// Blobs catalogued.
    pub blobs: i64,
    /// The installation id.
    pub installation: String,
    /// The database (password removed).
    pub database: String,
    /// The blob store.
    pub store: String,
    /// Schema version applied.
    pub schema_version: i64,
}

impl Store {
    /// Creates a trial and its sites from a parsed trial file; the file's text is kept as a blob.
    pub async fn create_trial(
        &self,
        actor: &str,
        file: &TrialFile,
        text: &str,
    ) -> Result<TrialSummary> {
        let key = file.trial.id.as_str();
        if self.trial(key).await?.is_some() {
            return Err(StoreError::Conflict(format!("trial {key} already exists")));
        }
        // The trial's key first: a trial must never exist without the key its subjects need.
        self.create_trial_key(key)?;
        let blob = self
            .blobs
            .put(Bytes::copy_from_slice(text.as_bytes()))
            .await?;
        let mut tx = self.begin(actor).await?;
        tx.record_blob(&blob.sha256, blob.size, "application/toml")
            .await?;
        let now = now_text();
        let phase = serde_json::to_value(file.trial.phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let trial_id: i64 = sqlx::query_scalar(
            "INSERT INTO trials (trial_key, sponsor, protocol, phase, indication, config_sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(key)
        .bind(&file.trial.sponsor)
        .bind(&file.trial.protocol)
        .bind(&phase)
        .bind(file.trial.indication.as_deref())
        .bind(blob.sha256.to_hex())
        .bind(&now)
        .fetch_one(tx.conn())
        .await
        .map_err(|e| unique_or(e, format!("trial {key} already exists"), "creating a trial"))?;
        for site in &file.sites {
            let site_id: i64 = sqlx::query_scalar(
                "INSERT INTO sites (trial_id, site_key, name, country, called_ae_title, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(trial_id)
            .bind(site.id.as_str())
            .bind(&site.name)
            .bind(site.country.as_deref())
            .bind(site.called_ae_title.as_ref().map(|a| a.as_str()))
            .bind(&now)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| unique_or(e, format!("trial {key}: site {} is listed twice", site.id), "creating a site"))?;
            for ae in &site.ae_titles {
                sqlx::query(
                    "INSERT INTO site_ae_titles (trial_id, site_id, ae_title) VALUES ($1, $2, $3)",
                )
                .bind(trial_id)
                .bind(site_id)
                .bind(ae.as_str())
                .execute(tx.conn())
                .await
                .map_err(|e| {
                    unique_or(
                        e,
                        format!("trial {key}: site {} lists AE title {ae} twice", site.id),
                        "recording an AE title",
                    )
                })?;
            }
        }
        let state = serde_json::to_value(file).unwrap_or_default();
        tx.record(
            crate::audit::NewEvent::new("trial.create", "trial", key)
                .after(&state)
                .details(json!({"config_sha256": blob.sha256.to_hex(), "sites": file.sites.len()})),
        )
        .await?;
        tx.commit().await?;
        self.trial(key)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("trial {key} vanished after creation")))
    }

    /// Every trial, by id.
    pub async fn trials(&self) -> Result<Vec<TrialSummary>> {
        self.trial_rows(None).await
    }

    /// One trial, if it exists.
    pub async fn trial(&self, key: &str) -> Result<Option<TrialSummary>> {
        Ok(self.trial_rows(Some(key)).await?.into_iter().next())
    }

    async fn trial_rows(&self, key: Option<&str>) -> Result<Vec<TrialSummary>> {
        let rows = sqlx::query(
            "SELECT t.trial_key, t.sponsor, t.protocol, t.phase, t.config_sha256, \
               (SELECT COUNT(*) FROM sites s WHERE s.trial_id = t.id) AS n_sites, \
               (SELECT COUNT(*) FROM subjects j WHERE j.trial_id = t.id) AS n_subjects \
             FROM trials t WHERE ($1 = '' OR t.trial_key = $1) ORDER BY t.trial_key",
        )
        .bind(key.unwrap_or(""))
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing trials"))?;
        rows.iter()
            .map(|r| {
                let ctx = || StoreError::db("reading trials");
                Ok(TrialSummary {
                    id: r.try_get("trial_key").map_err(ctx())?,
                    sponsor: r.try_get("sponsor").map_err(ctx())?,
                    protocol: r.try_get("protocol").map_err(ctx())?,
                    phase: r.try_get("phase").map_err(ctx())?,
                    config_sha256: r.try_get("config_sha256").map_err(ctx())?,
                    sites: r.try_get("n_sites").map_err(ctx())?,
                    subjects: r.try_get("n_subjects").map_err(ctx())?,
                })
            })
            .collect()
    }

    /// The sites of a trial, with their AE titles and what they hold.
    pub async fn sites(&self, trial_key: &str) -> Result<Vec<SiteSummary>> {
        let rows = sqlx::query(
            "SELECT s.site_key, s.name, s.country, s.called_ae_title, a.ae_title, \
             (SELECT COUNT(*) FROM subjects j WHERE j.site_id = s.id) AS n_subjects, \
             (SELECT COUNT(*) FROM instances i JOIN series se ON se.id = i.series_id \
              JOIN studies st ON st.id = se.study_id JOIN subjects j ON j.id = st.subject_id \
              WHERE j.site_id = s.id) AS n_instances \
             FROM sites s JOIN trials t ON t.id = s.trial_id \
             LEFT JOIN site_ae_titles a ON a.site_id = s.id \
             WHERE t.trial_key = $1 ORDER BY s.site_key, a.ae_title",
        )
        .bind(trial_key)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing sites"))?;
        let mut out: Vec<SiteSummary> = Vec::new();
        for r in &rows {
            let ctx = || StoreError::db("reading sites");
            let id: String = r.try_get("site_key").map_err(ctx())?;
            let ae: Option<String> = r.try_get("ae_title").map_err(ctx())?;
            if out.last().map(|s| s.id != id).unwrap_or(true) {
                out.push(SiteSummary {
                    id,
                    name: r.try_get("name").map_err(ctx())?,
                    country: r.try_get("country").map_err(ctx())?,
                    ae_titles: Vec::new(),
                    called_ae_title: r.try_get("called_ae_title").map_err(ctx())?,
                    subjects: r.try_get("n_subjects").map_err(ctx())?,
                    instances: r.try_get("n_instances").map_err(ctx())?,
                });
            }
            if let (Some(ae), Some(last)) = (ae, out.last_mut()) {
                last.ae_titles.push(ae);
            }
        }
        Ok(out)
    }

    /// Counts of what the installation holds.
    pub async fn status(&self) -> Result<Status> {
        let count = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(self.db.pool())
                .await
                .map_err(StoreError::db("counting"))
        };
        Ok(Status {
            studies: count("SELECT COUNT(*) FROM studies").await?,
            series: count("SELECT COUNT(*) FROM series").await?,
            instances: count("SELECT COUNT(*) FROM instances").await?,
            quarantined: count("SELECT COUNT(*) FROM quarantine WHERE state = 'held'").await?,
            audit_events: count("SELECT COUNT(*) FROM audit_events").await?,
            blobs: count("SELECT COUNT(*) FROM blobs").await?,
            trials: self.trials().await?,
            installation: self.installation.id().to_owned(),
            database: self.db.url().to_owned(),
            store: self.blobs.url().to_owned(),
            schema_version: self.db.applied_version().await?.unwrap_or(0),
        })
    }
}

/// Turns a uniqueness violation into a [`StoreError::Conflict`] with `message`.
pub(crate) fn unique_or(e: sqlx::Error, message: String, context: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message),
        _ => StoreError::db(context)(e),
    }
}
