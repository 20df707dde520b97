//! A site gateway's outbox: the instances it catalogued (de-identified, durable) that the hub has
//! not yet acknowledged. Each is marked sent when the hub stores it, or failed (the dead-letter
//! list, with the hub's reason) when the hub refuses it; both with an audit event. Nothing is
//! marked while the hub cannot be reached: those instances stay pending and are sent again.

use crate::audit::NewEvent;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::now_text;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// An instance to forward.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Its row.
    pub id: i64,
    /// The trial.
    pub trial: String,
    /// The site.
    pub site: String,
    /// Its (locally de-identified) SOP Instance UID.
    pub sop_instance_uid: String,
    /// Its bytes' digest.
    pub blob_sha256: String,
}

/// One instance the hub refused.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    /// Its SOP Instance UID (local).
    pub sop_instance_uid: String,
    /// The hub's HTTP status.
    pub hub_status: i64,
    /// The hub's reason.
    pub reason: Option<String>,
    /// When.
    pub at: String,
}

/// `corelab gateway status`.
#[derive(Clone, Debug, Serialize)]
pub struct ForwardStatus {
    /// Catalogued here, not yet acknowledged by the hub.
    pub pending: i64,
    /// Acknowledged by the hub.
    pub sent: i64,
    /// Refused by the hub (the dead-letter list).
    pub failed: Vec<DeadLetter>,
}

impl Store {
    /// The oldest instances not yet sent nor failed, at most `limit`.
    pub async fn forward_pending(&self, limit: i64) -> Result<Vec<Outgoing>> {
        let rows = sqlx::query(
            "SELECT i.id, t.trial_key, s.site_key, i.sop_instance_uid, i.blob_sha256 \
             FROM instances i JOIN trials t ON t.id = i.trial_id \
             JOIN series se ON se.id = i.series_id JOIN studies st ON st.id = se.study_id \
             JOIN subjects j ON j.id = st.subject_id JOIN sites s ON s.id = j.site_id \
             WHERE NOT EXISTS (SELECT 1 FROM forwarding f WHERE f.instance_id = i.id) \
             ORDER BY i.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing the outbox"))?;
        rows.iter()
            .map(|r| {
                let ctx = || StoreError::db("reading the outbox");
                Ok(Outgoing {
                    id: r.try_get("id").map_err(ctx())?,
                    trial: r.try_get("trial_key").map_err(ctx())?,
                    site: r.try_get("site_key").map_err(ctx())?,
                    sop_instance_uid: r.try_get("sop_instance_uid").map_err(ctx())?,
                    blob_sha256: r.try_get("blob_sha256").map_err(ctx())?,
                })
            })
            .collect()
    }

    /// Records the hub's answer for an instance: sent (`reason` None) or failed for good.
    pub async fn forwarded(
        &self,
        actor: &str,
        o: &Outgoing,
        hub_status: u16,
        failed: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin(actor).await?;
        let state = if failed.is_some() { "failed" } else { "sent" };
        sqlx::query(
            "INSERT INTO forwarding (instance_id, state, hub_status, reason, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (instance_id) DO NOTHING",
        )
        .bind(o.id)
        .bind(state)
        .bind(i64::from(hub_status))
        .bind(failed)
        .bind(now_text())
        .execute(tx.conn())
        .await
        .map_err(StoreError::db("recording a forward"))?;
        let action = if failed.is_some() {
            "gateway.dead_letter"
        } else {
            "gateway.sent"
        };
        tx.record(
            NewEvent::new(action, "instance", &o.sop_instance_uid)
                .details(json!({"trial": o.trial, "hub_status": hub_status, "reason": failed})),
        )
        .await?;
        tx.commit().await
    }

    /// What is pending, sent and failed.
    pub async fn forward_status(&self) -> Result<ForwardStatus> {
        let count = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(self.db.pool())
                .await
                .map_err(StoreError::db("counting the outbox"))
        };
        let pending = count(
            "SELECT COUNT(*) FROM instances i WHERE NOT EXISTS (SELECT 1 FROM forwarding f WHERE f.instance_id = i.id)",
        )
        .await?;
        let sent = count("SELECT COUNT(*) FROM forwarding WHERE state = 'sent'").await?;
        let rows = sqlx::query(
            "SELECT i.sop_instance_uid, f.hub_status, f.reason, f.updated_at FROM forwarding f \
             JOIN instances i ON i.id = f.instance_id WHERE f.state = 'failed' ORDER BY f.instance_id",
        )
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing dead letters"))?;
        let failed = rows
            .iter()
            .map(|r| {
                let ctx = || StoreError::db("reading dead letters");
                Ok(DeadLetter {
                    sop_instance_uid: r.try_get("sop_instance_uid").map_err(ctx())?,
                    hub_status: r.try_get("hub_status").map_err(ctx())?,
                    reason: r.try_get("reason").map_err(ctx())?,
                    at: r.try_get("updated_at").map_err(ctx())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ForwardStatus {
            pending,
            sent,
            failed,
        })
    }
}
