//! Central reads: read and adjudication tasks with the reader's data and the outcome the engine
//! computed from it, and electronic signatures (21 CFR Part 11) bound to the SHA-256 of the
//! record they sign. A signed task never changes again; a signature whose record no longer hashes
//! to what was signed is reported invalid. Every change is audited in its transaction.

use crate::audit::NewEvent;
use crate::audit::canonical_json;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::now_text;
use corelab_core::Sha256Digest;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

/// A task to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReadTask {
    /// The subject (pseudonym).
    pub subject: String,
    /// `read` or `adjudication`.
    pub kind: String,
    /// The reader's or adjudicator's user name.
    pub reader: String,
    /// The label readers know the case by.
    pub case_label: String,
    /// Sorts the reader's worklist.
    pub order_key: String,
    /// Why the task exists, when not by the plan (an adjudication's trigger).
    pub reason: Option<String>,
}

/// A task as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReadTask {
    /// Its id.
    pub id: i64,
    /// The trial.
    pub trial: String,
    /// The subject.
    pub subject: String,
    /// `read` or `adjudication`.
    pub kind: String,
    /// Who it is assigned to.
    pub reader: String,
    /// The label readers know the case by.
    pub case_label: String,
    /// Sorts the reader's worklist.
    pub order_key: String,
    /// Why the task exists, when not by the plan (an adjudication's trigger).
    pub reason: Option<String>,
    /// `assigned`, `in_progress` or `signed`.
    pub state: String,
    /// The reader's data, once saved.
    pub data: Option<Value>,
    /// What the engine computed from it.
    pub outcome: Option<Value>,
    /// When it was made.
    pub created_at: String,
    /// When it was first saved.
    pub started_at: Option<String>,
    /// When it was last saved.
    pub saved_at: Option<String>,
    /// When it was signed.
    pub signed_at: Option<String>,
}

/// A signature to apply.
#[derive(Clone, Debug)]
pub struct SignRequest<'a> {
    /// `read`, `adjudication` or `qc_decision`.
    pub record_type: &'a str,
    /// The record's id.
    pub record_id: i64,
    /// The signer's user name (already re-authenticated by the caller).
    pub username: &'a str,
    /// Their printed name.
    pub printed_name: &'a str,
    /// `authored`, `reviewed` or `approved`.
    pub meaning: &'a str,
}

/// A signature as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signature {
    /// Its id.
    pub id: i64,
    /// The trial.
    pub trial: String,
    /// What it signs.
    pub record_type: String,
    /// Its id.
    pub record_id: i64,
    /// The record's SHA-256 when signed.
    pub record_sha256: String,
    /// Who signed.
    pub username: String,
    /// Their printed name.
    pub printed_name: String,
    /// What the signature means.
    pub meaning: String,
    /// When.
    pub signed_at: String,
    /// SHA-256 of the signature's own fields with the record's hash: it cannot be moved to
    /// another record or changed without this failing.
    pub binding_sha256: String,
}

/// A signature checked against its record as it is now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignatureCheck {
    /// The signature.
    pub signature: Signature,
    /// The record's SHA-256 now (None if the record is gone).
    pub record_sha256_now: Option<String>,
    /// Whether the record still hashes to what was signed and the binding holds.
    pub valid: bool,
    /// Why not, when not.
    pub problem: Option<String>,
}

/// The meanings a signature may carry.
pub const MEANINGS: [&str; 3] = ["authored", "reviewed", "approved"];

const TASK_COLUMNS: &str = "r.id, t.trial_key, r.subject, r.kind, r.reader, r.case_label, \
     r.order_key, r.reason, r.state, r.data_json, r.outcome_json, r.created_at, r.started_at, r.saved_at, \
     r.signed_at";

fn task_row(r: &sqlx::any::AnyRow) -> Result<ReadTask> {
    let ctx = || StoreError::db("reading a read task");
    let json_of = |col: &str| -> Result<Option<Value>> {
        let text: Option<String> = r.try_get(col).map_err(ctx())?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Invalid(format!("read task {col}: {e}")))
        })
        .transpose()
    };
    Ok(ReadTask {
        id: r.try_get(0).map_err(ctx())?,
        trial: r.try_get(1).map_err(ctx())?,
        subject: r.try_get(2).map_err(ctx())?,
        kind: r.try_get(3).map_err(ctx())?,
        reader: r.try_get(4).map_err(ctx())?,
        case_label: r.try_get(5).map_err(ctx())?,
        order_key: r.try_get(6).map_err(ctx())?,
        reason: r.try_get(7).map_err(ctx())?,
        state: r.try_get(8).map_err(ctx())?,
        data: json_of("data_json")?,
        outcome: json_of("outcome_json")?,
        created_at: r.try_get(11).map_err(ctx())?,
        started_at: r.try_get(12).map_err(ctx())?,
        saved_at: r.try_get(13).map_err(ctx())?,
        signed_at: r.try_get(14).map_err(ctx())?,
    })
}

/// The canonical content a task's signature covers.
fn task_record(t: &ReadTask) -> Value {
    json!({
        "id": t.id, "trial": t.trial, "subject": t.subject, "kind": t.kind, "reader": t.reader,
        "data": t.data, "outcome": t.outcome,
    })
}

fn sha_of(v: &Value) -> String {
    Sha256Digest::of(canonical_json(v).as_bytes()).to_hex()
}

fn binding(s: &Signature) -> String {
    sha_of(&json!({
        "trial": s.trial, "record_type": s.record_type, "record_id": s.record_id,
        "record_sha256": s.record_sha256, "username": s.username,
        "printed_name": s.printed_name, "meaning": s.meaning, "signed_at": s.signed_at,
    }))
}

impl Store {
    /// Creates the tasks of `trial` that do not exist yet (same subject, kind and reader);
    /// returns the ids of those created.
    pub async fn create_read_tasks(
        &self,
        actor: &str,
        trial: &str,
        tasks: &[NewReadTask],
    ) -> Result<Vec<i64>> {
        let trial_id = self.trial_row_id(trial).await?;
        let created_at = now_text();
        let mut tx = self.begin(actor).await?;
        let mut made = Vec::new();
        for t in tasks {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM read_tasks WHERE trial_id = $1 AND subject = $2 AND kind = $3 AND reader = $4",
            )
            .bind(trial_id)
            .bind(&t.subject)
            .bind(&t.kind)
            .bind(&t.reader)
            .fetch_optional(tx.conn())
            .await
            .map_err(StoreError::db("looking for a read task"))?;
            if exists.is_some() {
                continue;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO read_tasks (trial_id, subject, kind, reader, case_label, order_key, reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(trial_id)
            .bind(&t.subject)
            .bind(&t.kind)
            .bind(&t.reader)
            .bind(&t.case_label)
            .bind(&t.order_key)
            .bind(&t.reason)
            .bind(&created_at)
            .fetch_one(tx.conn())
            .await
            .map_err(StoreError::db("creating a read task"))?;
            tx.record(
                NewEvent::new("read.assign", "read_task", &format!("{trial}/{id}"))
                    .after(&json!({
                        "subject": t.subject, "kind": t.kind, "reader": t.reader,
                        "case_label": t.case_label,
                    }))
                    .reason(
                        t.reason
                            .as_deref()
                            .unwrap_or("planned by the trial's read design"),
                    ),
            )
            .await?;
            made.push(id);
        }
        tx.commit().await?;
        Ok(made)
    }

    /// The tasks of a trial (all trials when None), of one reader when given, in worklist order.
    pub async fn read_tasks(
        &self,
        trial: Option<&str>,
        reader: Option<&str>,
    ) -> Result<Vec<ReadTask>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM read_tasks r JOIN trials t ON t.id = r.trial_id \
             WHERE ($1 = '' OR t.trial_key = $1) AND ($2 = '' OR r.reader = $2) \
             ORDER BY t.trial_key, r.order_key, r.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(trial.unwrap_or_default())
            .bind(reader.unwrap_or_default())
            .fetch_all(self.db.pool())
            .await
            .map_err(StoreError::db("listing read tasks"))?;
        rows.iter().map(task_row).collect()
    }

    /// One task.
    pub async fn read_task(&self, id: i64) -> Result<ReadTask> {
        let mut conn = self
            .db
            .pool()
            .acquire()
            .await
            .map_err(StoreError::db("reading a read task"))?;
        task_in(&mut conn, id).await
    }

    /// Saves a reader's data and the outcome computed from it on an unsigned task.
    pub async fn save_read(
        &self,
        actor: &str,
        id: i64,
        data: &Value,
        outcome: &Value,
    ) -> Result<ReadTask> {
        let now = now_text();
        let mut tx = self.begin(actor).await?;
        let before = task_in(tx.conn(), id).await?;
        if before.state == "signed" {
            return Err(StoreError::Conflict(format!(
                "task {id} is signed; a signed read does not change"
            )));
        }
        sqlx::query(
            "UPDATE read_tasks SET data_json = $1, outcome_json = $2, state = 'in_progress', \
             started_at = COALESCE(started_at, $3), saved_at = $3 WHERE id = $4",
        )
        .bind(canonical_json(data))
        .bind(canonical_json(outcome))
        .bind(&now)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::db("saving a read"))?;
        let after = task_in(tx.conn(), id).await?;
        tx.record(
            NewEvent::new("read.save", "read_task", &format!("{}/{id}", before.trial))
                .after(&json!({"record_sha256": sha_of(&task_record(&after)), "outcome": outcome})),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Signs a record after the caller re-authenticated the signer; a read or adjudication task
    /// becomes `signed` in the same transaction and never changes again.
    pub async fn sign(&self, actor: &str, trial: &str, req: &SignRequest<'_>) -> Result<Signature> {
        if !MEANINGS.contains(&req.meaning) {
            return Err(StoreError::Conflict(format!(
                "a signature's meaning is one of {}, not {:?}",
                MEANINGS.join(", "),
                req.meaning
            )));
        }
        let trial_id = self.trial_row_id(trial).await?;
        let signed_at = now_text();
        let mut tx = self.begin(actor).await?;
        let record_sha256 = record_sha256(tx.conn(), trial, req.record_type, req.record_id)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no {} {} in trial {trial}",
                    req.record_type, req.record_id
                ))
            })?;
        if matches!(req.record_type, "read" | "adjudication") {
            let t = task_in(tx.conn(), req.record_id).await?;
            if t.state == "signed" {
                return Err(StoreError::Conflict(format!(
                    "task {} is already signed",
                    t.id
                )));
            }
            if t.data.is_none() {
                return Err(StoreError::Conflict(format!(
                    "task {} has nothing saved to sign",
                    t.id
                )));
            }
            sqlx::query("UPDATE read_tasks SET state = 'signed', signed_at = $1 WHERE id = $2")
                .bind(&signed_at)
                .bind(req.record_id)
                .execute(tx.conn())
                .await
                .map_err(StoreError::db("signing a read task"))?;
        }
        let mut s = Signature {
            id: 0,
            trial: trial.to_owned(),
            record_type: req.record_type.to_owned(),
            record_id: req.record_id,
            record_sha256,
            username: req.username.to_owned(),
            printed_name: req.printed_name.to_owned(),
            meaning: req.meaning.to_owned(),
            signed_at,
            binding_sha256: String::new(),
        };
        s.binding_sha256 = binding(&s);
        s.id = sqlx::query_scalar(
            "INSERT INTO signatures (trial_id, record_type, record_id, record_sha256, username, \
             printed_name, meaning, signed_at, binding_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(trial_id)
        .bind(&s.record_type)
        .bind(s.record_id)
        .bind(&s.record_sha256)
        .bind(&s.username)
        .bind(&s.printed_name)
        .bind(&s.meaning)
        .bind(&s.signed_at)
        .bind(&s.binding_sha256)
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::db("recording a signature"))?;
        tx.record(
            NewEvent::new(
                "signature.apply",
                req.record_type,
                &format!("{trial}/{}", req.record_id),
            )
            .after(&json!({
                "signature": s.id, "meaning": s.meaning, "printed_name": s.printed_name,
                "record_sha256": s.record_sha256, "binding_sha256": s.binding_sha256,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(s)
    }

    /// The signatures of a trial, of one record when given, oldest first.
    pub async fn signatures(
        &self,
        trial: &str,
        record: Option<(&str, i64)>,
    ) -> Result<Vec<Signature>> {
        let (rtype, rid) = record.unwrap_or(("", -1));
        self.signature_rows(trial, rtype, rid, -1).await
    }

    /// The signatures of a trial matching a record type (all when empty), a record id and a
    /// signature id (each all when negative).
    async fn signature_rows(
        &self,
        trial: &str,
        rtype: &str,
        rid: i64,
        id: i64,
    ) -> Result<Vec<Signature>> {
        let rows = sqlx::query(
            "SELECT s.id, t.trial_key, s.record_type, s.record_id, s.record_sha256, s.username, \
             s.printed_name, s.meaning, s.signed_at, s.binding_sha256 \
             FROM signatures s JOIN trials t ON t.id = s.trial_id \
             WHERE t.trial_key = $1 AND ($2 = '' OR s.record_type = $2) \
             AND ($3 < 0 OR s.record_id = $3) AND ($4 < 0 OR s.id = $4) ORDER BY s.id",
        )
        .bind(trial)
        .bind(rtype)
        .bind(rid)
        .bind(id)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing signatures"))?;
        rows.iter()
            .map(|r| {
                let ctx = || StoreError::db("reading a signature");
                Ok(Signature {
                    id: r.try_get(0).map_err(ctx())?,
                    trial: r.try_get(1).map_err(ctx())?,
                    record_type: r.try_get(2).map_err(ctx())?,
                    record_id: r.try_get(3).map_err(ctx())?,
                    record_sha256: r.try_get(4).map_err(ctx())?,
                    username: r.try_get(5).map_err(ctx())?,
                    printed_name: r.try_get(6).map_err(ctx())?,
                    meaning: r.try_get(7).map_err(ctx())?,
                    signed_at: r.try_get(8).map_err(ctx())?,
                    binding_sha256: r.try_get(9).map_err(ctx())?,
                })
            })
            .collect()
    }

    /// Checks a signature of `trial` against its record as it is now.
    pub async fn verify_signature(&self, trial: &str, id: i64) -> Result<SignatureCheck> {
        let signature = self
            .signature_rows(trial, "", -1, id)
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("no signature {id} in trial {trial}")))?;
        self.check_signature(signature).await
    }

    /// Every signature of `trial`, oldest first, each checked against its record as it is now.
    pub async fn verify_signatures(&self, trial: &str) -> Result<Vec<SignatureCheck>> {
        let mut out = Vec::new();
        for s in self.signatures(trial, None).await? {
            out.push(self.check_signature(s).await?);
        }
        Ok(out)
    }

    /// `signature` checked against its record as it is now: the record's hash, and the binding
    /// hash over the signature's own fields.
    async fn check_signature(&self, signature: Signature) -> Result<SignatureCheck> {
        let trial = signature.trial.clone();
        let mut conn = self
            .db
            .pool()
            .acquire()
            .await
            .map_err(StoreError::db("verifying a signature"))?;
        let now = record_sha256(
            &mut conn,
            &trial,
            &signature.record_type,
            signature.record_id,
        )
        .await?;
        let problem = if binding(&signature) != signature.binding_sha256 {
            Some("the signature's fields do not match its binding hash: it was altered".to_owned())
        } else {
            match &now {
                None => Some("the signed record is gone".to_owned()),
                Some(h) if *h != signature.record_sha256 => Some(format!(
                    "the record has changed since it was signed (signed {}, now {h})",
                    signature.record_sha256
                )),
                Some(_) => None,
            }
        };
        Ok(SignatureCheck {
            valid: problem.is_none(),
            record_sha256_now: now,
            problem,
            signature,
        })
    }
}

async fn task_in(conn: &mut AnyConnection, id: i64) -> Result<ReadTask> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM read_tasks r JOIN trials t ON t.id = r.trial_id WHERE r.id = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::db("reading a read task"))?
        .ok_or_else(|| StoreError::NotFound(format!("no read task {id}")))?;
    task_row(&row)
}

/// The SHA-256 of a record's canonical content now, or None when there is no such record in
/// `trial`.
async fn record_sha256(
    conn: &mut AnyConnection,
    trial: &str,
    record_type: &str,
    id: i64,
) -> Result<Option<String>> {
    match record_type {
        "read" | "adjudication" => match task_in(conn, id).await {
            Ok(t) if t.trial == trial && t.kind == record_type => {
                Ok(Some(sha_of(&task_record(&t))))
            }
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        },
        "qc_decision" => {
            let row = sqlx::query(
                "SELECT d.target, d.status, d.reason, d.actor, d.created_at FROM qc_decisions d \
                 JOIN trials t ON t.id = d.trial_id WHERE d.id = $1 AND t.trial_key = $2",
            )
            .bind(id)
            .bind(trial)
            .fetch_optional(conn)
            .await
            .map_err(StoreError::db("reading a QC decision"))?;
            row.map(|r| {
                let ctx = || StoreError::db("reading a QC decision");
                let get = |i: usize| -> Result<String> { r.try_get(i).map_err(ctx()) };
                Ok(sha_of(&json!({
                    "id": id, "trial": trial, "target": get(0)?, "status": get(1)?,
                    "reason": get(2)?, "actor": get(3)?, "created_at": get(4)?,
                })))
            })
            .transpose()
        }
        other => Err(StoreError::Conflict(format!(
            "{other:?} cannot be signed (read, adjudication or qc_decision)"
        ))),
    }
}
