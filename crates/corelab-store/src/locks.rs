//! A trial's version locks: `corelab trial lock` records version 1, each `corelab trial amend`
//! the next, with its reason and the trial file it came from. Each change goes through a
//! [`crate::WriteTx`] with its audit event (`trial.lock`, `trial.amend`).

use crate::catalog::unique_or;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::now_text;
use bytes::Bytes;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// One lock version of a trial.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrialLock {
    /// The trial.
    pub trial: String,
    /// 1 for the first lock, then one more for each amendment.
    pub version: i64,
    /// The lock's canonical JSON.
    pub lock_json: String,
    /// Its SHA-256.
    pub lock_sha256: String,
    /// The trial file it was made from (a blob).
    pub config_sha256: String,
    /// Why the amendment was made (none for the first lock).
    pub reason: Option<String>,
    /// When.
    pub created_at: String,
}

impl Store {
    /// Records the next lock version of `trial`. `amended` is the text of the trial file an
    /// amendment makes current (kept as a blob, and the trial's file from now on) with the
    /// reason; `None` locks the trial's current file, and only as its first lock.
    pub async fn record_lock(
        &self,
        actor: &str,
        trial: &str,
        lock_json: &str,
        lock_sha256: &str,
        amended: Option<(&str, &str)>,
    ) -> Result<TrialLock> {
        let row = sqlx::query("SELECT id, config_sha256 FROM trials WHERE trial_key = $1")
            .bind(trial)
            .fetch_optional(self.db.pool())
            .await
            .map_err(StoreError::db("reading a trial"))?
            .ok_or_else(|| StoreError::NotFound(format!("no trial {trial}")))?;
        let trial_id: i64 = row
            .try_get("id")
            .map_err(StoreError::db("reading a trial"))?;
        let mut config: String = row
            .try_get("config_sha256")
            .map_err(StoreError::db("reading a trial"))?;
        let blob = match amended {
            Some((text, _)) => Some(
                self.blobs
                    .put(Bytes::copy_from_slice(text.as_bytes()))
                    .await?,
            ),
            None => None,
        };
        let mut tx = self.begin(actor).await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM trial_locks WHERE trial_id = $1")
                .bind(trial_id)
                .fetch_one(tx.conn())
                .await
                .map_err(StoreError::db("reading a trial's locks"))?;
        let version = latest.unwrap_or(0) + 1;
        match (amended.is_some(), latest) {
            (false, Some(v)) => {
                return Err(StoreError::Conflict(format!(
                    "trial {trial} is already locked (version {v}); change it with corelab trial amend"
                )));
            }
            (true, None) => {
                return Err(StoreError::Conflict(format!(
                    "trial {trial} has no lock to amend; lock it first (corelab trial lock)"
                )));
            }
            _ => {}
        }
        if let Some(b) = &blob {
            tx.record_blob(&b.sha256, b.size, "application/toml")
                .await?;
            config = b.sha256.to_hex();
            sqlx::query("UPDATE trials SET config_sha256 = $1, locked = 1 WHERE id = $2")
                .bind(&config)
                .bind(trial_id)
                .execute(tx.conn())
                .await
                .map_err(StoreError::db("amending a trial"))?;
        } else {
            sqlx::query("UPDATE trials SET locked = 1 WHERE id = $1")
                .bind(trial_id)
                .execute(tx.conn())
                .await
                .map_err(StoreError::db("locking a trial"))?;
        }
        let reason = amended.map(|(_, r)| r.to_owned());
        let now = now_text();
        sqlx::query(
            "INSERT INTO trial_locks (trial_id, version, lock_json, lock_sha256, config_sha256, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(trial_id)
        .bind(version)
        .bind(lock_json)
        .bind(lock_sha256)
        .bind(&config)
        .bind(reason.as_deref())
        .bind(&now)
        .execute(tx.conn())
        .await
        .map_err(|e| {
            unique_or(
                e,
                format!("trial {trial}: lock version {version} was recorded at the same time by another command"),
                "recording a lock",
            )
        })?;
        let action = if amended.is_some() {
            "trial.amend"
        } else {
            "trial.lock"
        };
        let lock: serde_json::Value = serde_json::from_str(lock_json).unwrap_or_default();
        tx.record(
            crate::audit::NewEvent::new(action, "trial", trial)
                .after(&lock)
                .details(json!({
                    "version": version,
                    "lock_sha256": lock_sha256,
                    "config_sha256": config,
                    "reason": reason,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(TrialLock {
            trial: trial.to_owned(),
            version,
            lock_json: lock_json.to_owned(),
            lock_sha256: lock_sha256.to_owned(),
            config_sha256: config,
            reason,
            created_at: now,
        })
    }

    /// Every lock version of a trial, oldest first.
    pub async fn trial_locks(&self, trial: &str) -> Result<Vec<TrialLock>> {
        let rows = sqlx::query(
            "SELECT l.version, l.lock_json, l.lock_sha256, l.config_sha256, l.reason, l.created_at \
             FROM trial_locks l JOIN trials t ON t.id = l.trial_id \
             WHERE t.trial_key = $1 ORDER BY l.version",
        )
        .bind(trial)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing a trial's locks"))?;
        rows.iter()
            .map(|r| {
                let ctx = || StoreError::db("reading a trial's locks");
                Ok(TrialLock {
                    trial: trial.to_owned(),
                    version: r.try_get("version").map_err(ctx())?,
                    lock_json: r.try_get("lock_json").map_err(ctx())?,
                    lock_sha256: r.try_get("lock_sha256").map_err(ctx())?,
                    config_sha256: r.try_get("config_sha256").map_err(ctx())?,
                    reason: r.try_get("reason").map_err(ctx())?,
                    created_at: r.try_get("created_at").map_err(ctx())?,
                })
            })
            .collect()
    }
}
