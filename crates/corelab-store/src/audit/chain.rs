//! Audit events, their canonical hash, and appending to the chain inside a transaction.

use super::canonical::canonical_json;
use super::key::AuditKey;
use crate::error::{Result, StoreError};
use crate::time::now_text;
use corelab_core::Sha256Digest;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

/// The columns of `audit_events`, in the order [`AuditEvent::from_row`] reads them.
macro_rules! event_columns {
    () => {
        "seq, at, actor, action, object_type, object_id, reason, payload, prev_hash, hash"
    };
}
/// The columns of `audit_checkpoints`, in the order [`Checkpoint::from_row`] reads them.
macro_rules! checkpoint_columns {
    () => {
        "seq, at, head_hash, public_key, signature"
    };
}
pub(crate) use {checkpoint_columns, event_columns};

/// An event to be appended: what changed, on which object, and why. The store adds the sequence
/// number, time, actor and hashes.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Dotted verb, e.g. `trial.create`, `blob.put`, `installation.init`.
    pub action: String,
    /// The kind of object changed, e.g. `trial`.
    pub object_type: String,
    /// The object's id as users see it.
    pub object_id: String,
    /// The reason a person gave, where one was asked for.
    pub reason: Option<String>,
    /// SHA-256 of the canonical JSON of the object before the change, if it existed.
    pub before_sha256: Option<Sha256Digest>,
    /// SHA-256 of the canonical JSON of the object after the change, if it still exists.
    pub after_sha256: Option<Sha256Digest>,
    /// Further details of the change.
    pub details: Value,
}

impl NewEvent {
    /// An event with no states, reason or details yet.
    pub fn new(action: &str, object_type: &str, object_id: &str) -> Self {
        Self {
            action: action.to_owned(),
            object_type: object_type.to_owned(),
            object_id: object_id.to_owned(),
            reason: None,
            before_sha256: None,
            after_sha256: None,
            details: Value::Null,
        }
    }

    /// Records the object's state before the change (hashed, not stored).
    pub fn before(mut self, state: &Value) -> Self {
        self.before_sha256 = Some(Sha256Digest::of(canonical_json(state).as_bytes()));
        self
    }

    /// Records the object's state after the change (hashed, not stored).
    pub fn after(mut self, state: &Value) -> Self {
        self.after_sha256 = Some(Sha256Digest::of(canonical_json(state).as_bytes()));
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// Sets the details.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    fn payload(&self) -> String {
        canonical_json(&json!({
            "before_sha256": self.before_sha256.map(|d| d.to_hex()),
            "after_sha256": self.after_sha256.map(|d| d.to_hex()),
            "details": self.details,
        }))
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// UTC time, RFC 3339 with microseconds.
    pub at: String,
    /// Who did it.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// The kind of object.
    pub object_type: String,
    /// The object's id.
    pub object_id: String,
    /// Why, where a reason was given.
    pub reason: Option<String>,
    /// Canonical JSON: before/after hashes and details.
    #[serde(serialize_with = "raw_json")]
    pub payload: String,
    /// The previous event's hash (zeros for the first).
    pub prev_hash: Sha256Digest,
    /// This event's hash.
    pub hash: Sha256Digest,
}

fn raw_json<S: serde::Serializer>(text: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => v.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

/// The hash of an event: SHA-256 over the canonical JSON array of its fields, after a version tag.
#[allow(clippy::too_many_arguments)]
pub fn event_hash(
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    reason: Option<&str>,
    payload: &str,
    prev_hash: &Sha256Digest,
) -> Sha256Digest {
    let doc = json!([
        "corelab-audit-v1",
        seq,
        at,
        actor,
        action,
        object_type,
        object_id,
        reason,
        payload,
        prev_hash.to_hex()
    ]);
    Sha256Digest::of(canonical_json(&doc).as_bytes())
}

impl AuditEvent {
    /// Recomputes this event's hash from its fields.
    pub fn recompute_hash(&self) -> Sha256Digest {
        event_hash(
            self.seq,
            &self.at,
            &self.actor,
            &self.action,
            &self.object_type,
            &self.object_id,
            self.reason.as_deref(),
            &self.payload,
            &self.prev_hash,
        )
    }

    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        let ctx = || StoreError::db("reading audit_events");
        let digest = |col: &str| -> Result<Sha256Digest> {
            let text: String = row.try_get(col).map_err(ctx())?;
            // A malformed digest is itself tampering; keep it visible as a digest that can never
            // match, rather than failing the read.
            Ok(text.parse().unwrap_or(Sha256Digest::from_bytes([0xff; 32])))
        };
        Ok(Self {
            seq: row.try_get("seq").map_err(ctx())?,
            at: row.try_get("at").map_err(ctx())?,
            actor: row.try_get("actor").map_err(ctx())?,
            action: row.try_get("action").map_err(ctx())?,
            object_type: row.try_get("object_type").map_err(ctx())?,
            object_id: row.try_get("object_id").map_err(ctx())?,
            reason: row.try_get("reason").map_err(ctx())?,
            payload: row.try_get("payload").map_err(ctx())?,
            prev_hash: digest("prev_hash")?,
            hash: digest("hash")?,
        })
    }
}

/// A signed statement that the chain's event `seq` has hash `head_hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// The sequence number signed.
    pub seq: i64,
    /// When it was signed.
    pub at: String,
    /// The hash of event `seq`.
    pub head_hash: String,
    /// The signer's public key, hex.
    pub public_key: String,
    /// The ed25519 signature of [`checkpoint_message`], hex.
    pub signature: String,
}

/// The exact bytes a checkpoint signs.
pub fn checkpoint_message(installation_id: &str, seq: i64, head_hash: &str, at: &str) -> Vec<u8> {
    format!("corelab-audit-checkpoint-v1\n{installation_id}\n{seq}\n{head_hash}\n{at}").into_bytes()
}

/// Reads the chain's head (sequence number and hash of the last event), locking it for this
/// transaction on PostgreSQL; on SQLite the transaction already holds the write lock.
pub(crate) async fn read_head(conn: &mut AnyConnection, lock: bool) -> Result<(i64, Sha256Digest)> {
    let sql = if lock {
        "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM audit_head WHERE id = 1"
    };
    let row = sqlx::query(sql)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::db("reading the audit head"))?;
    let seq: i64 = row
        .try_get("seq")
        .map_err(StoreError::db("reading the audit head"))?;
    let hash: String = row
        .try_get("hash")
        .map_err(StoreError::db("reading the audit head"))?;
    let hash = hash
        .parse()
        .map_err(|e| StoreError::Conflict(format!("audit head: {e}")))?;
    Ok((seq, hash))
}

/// Reads the head row as stored, without parsing or locking (for verification, where a malformed
/// hash is a finding, not an error).
pub(crate) async fn read_head_text(pool: &sqlx::AnyPool) -> Result<(i64, String)> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(pool)
        .await
        .map_err(StoreError::db("reading the audit head"))?;
    Ok((
        row.try_get("seq")
            .map_err(StoreError::db("reading the audit head"))?,
        row.try_get("hash")
            .map_err(StoreError::db("reading the audit head"))?,
    ))
}

/// Appends `ev` after `head` and returns the stored event; the caller moves the head row.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    head: (i64, Sha256Digest),
    actor: &str,
    ev: &NewEvent,
) -> Result<AuditEvent> {
    let payload = ev.payload();
    let seq = head.0 + 1;
    let at = now_text();
    let hash = event_hash(
        seq,
        &at,
        actor,
        &ev.action,
        &ev.object_type,
        &ev.object_id,
        ev.reason.as_deref(),
        &payload,
        &head.1,
    );
    let event = AuditEvent {
        seq,
        at,
        actor: actor.to_owned(),
        action: ev.action.clone(),
        object_type: ev.object_type.clone(),
        object_id: ev.object_id.clone(),
        reason: ev.reason.clone(),
        payload,
        prev_hash: head.1,
        hash,
    };
    sqlx::query(concat!(
        "INSERT INTO audit_events (",
        event_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(event.seq)
    .bind(&event.at)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.object_type)
    .bind(&event.object_id)
    .bind(event.reason.as_deref())
    .bind(&event.payload)
    .bind(event.prev_hash.to_hex())
    .bind(event.hash.to_hex())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("appending an audit event"))?;
    Ok(event)
}

/// Moves the head row to `(seq, hash)`; done once per transaction, before commit.
pub(crate) async fn write_head(
    conn: &mut AnyConnection,
    seq: i64,
    hash: &Sha256Digest,
) -> Result<()> {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash.to_hex())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::db("moving the audit head"))?;
    Ok(())
}

/// Signs the head `(seq, hash)` and stores the checkpoint in this transaction.
pub(crate) async fn insert_checkpoint(
    conn: &mut AnyConnection,
    key: &AuditKey,
    installation_id: &str,
    seq: i64,
    hash: &Sha256Digest,
) -> Result<Checkpoint> {
    let at = now_text();
    let head_hash = hash.to_hex();
    let signature = key.sign(&checkpoint_message(installation_id, seq, &head_hash, &at));
    let cp = Checkpoint {
        seq,
        at,
        head_hash,
        public_key: key.public_hex(),
        signature: hex::encode(signature.to_bytes()),
    };
    sqlx::query(concat!(
        "INSERT INTO audit_checkpoints (",
        checkpoint_columns!(),
        ") VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(cp.seq)
    .bind(&cp.at)
    .bind(&cp.head_hash)
    .bind(&cp.public_key)
    .bind(&cp.signature)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::db("writing an audit checkpoint"))?;
    Ok(cp)
}

impl Checkpoint {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        let ctx = || StoreError::db("reading audit_checkpoints");
        Ok(Self {
            seq: row.try_get("seq").map_err(ctx())?,
            at: row.try_get("at").map_err(ctx())?,
            head_hash: row.try_get("head_hash").map_err(ctx())?,
            public_key: row.try_get("public_key").map_err(ctx())?,
            signature: row.try_get("signature").map_err(ctx())?,
        })
    }

    /// Whether the signature is valid for `key` and this installation.
    pub fn signature_valid(
        &self,
        installation_id: &str,
        key: &ed25519_dalek::VerifyingKey,
    ) -> bool {
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify_strict(
            &checkpoint_message(installation_id, self.seq, &self.head_hash, &self.at),
            &sig,
        )
        .is_ok()
    }
}
