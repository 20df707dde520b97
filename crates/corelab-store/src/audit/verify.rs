//! Recomputing the chain: every event's hash, every link, every checkpoint signature, the head
//! row, and the anchors kept outside the database.

use super::chain::{AuditEvent, Checkpoint, checkpoint_columns, event_columns};
use crate::blob::BlobStore;
use crate::error::{Result, StoreError};
use corelab_core::Sha256Digest;
use ed25519_dalek::VerifyingKey;
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::AnyPool;
use std::collections::BTreeMap;

/// The first event found wrong, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadEvent {
    /// Its sequence number (for a truncated log: the first one missing).
    pub seq: i64,
    /// What is wrong, in words.
    pub why: String,
}

/// The outcome of `audit verify`.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// True when nothing is wrong.
    pub ok: bool,
    /// Events read.
    pub events: u64,
    /// Checkpoints whose signature was checked.
    pub checkpoints: u64,
    /// Anchors read from the blob store.
    pub anchors: u64,
    /// The first problem, if any.
    pub first_bad: Option<BadEvent>,
    /// Things worth knowing that do not break the chain.
    pub warnings: Vec<String>,
}

fn bad(seq: i64, why: String) -> Option<BadEvent> {
    Some(BadEvent { seq, why })
}

pub(crate) async fn verify(
    pool: &AnyPool,
    blobs: &BlobStore,
    installation_id: &str,
    key: &VerifyingKey,
) -> Result<VerifyReport> {
    let key_hex = hex::encode(key.as_bytes());
    let checkpoints: BTreeMap<i64, Checkpoint> = {
        let rows = sqlx::query(concat!(
            "SELECT ",
            checkpoint_columns!(),
            " FROM audit_checkpoints ORDER BY seq"
        ))
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("reading audit_checkpoints"))?;
        rows.iter()
            .map(|r| Checkpoint::from_row(r).map(|c| (c.seq, c)))
            .collect::<Result<_>>()?
    };
    let mut report = VerifyReport {
        ok: true,
        events: 0,
        checkpoints: checkpoints.len() as u64,
        anchors: 0,
        first_bad: None,
        warnings: Vec::new(),
    };

    // 1. Signatures, independent of the events.
    let mut first_bad = checkpoints.values().find_map(|cp| {
        if cp.public_key != key_hex {
            bad(cp.seq, format!("checkpoint at seq {} was signed by key {}, not this installation's key {key_hex}", cp.seq, cp.public_key))
        } else if !cp.signature_valid(installation_id, key) {
            bad(cp.seq, format!("checkpoint at seq {}: signature does not verify (forged or altered checkpoint)", cp.seq))
        } else {
            None
        }
    });

    // 2. The chain, streamed in order.
    let mut prev = Sha256Digest::ZERO;
    let mut expected_seq = 1i64;
    let mut chain_bad: Option<BadEvent> = None;
    {
        let mut rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM audit_events ORDER BY seq"
        ))
        .fetch(pool);
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(StoreError::db("reading audit_events"))?
        {
            let ev = AuditEvent::from_row(&row)?;
            report.events += 1;
            if chain_bad.is_some() {
                continue; // keep counting
            }
            chain_bad = check_event(&ev, expected_seq, &prev, &checkpoints);
            prev = ev.hash;
            expected_seq = ev.seq + 1;
        }
    }
    let last_seq = expected_seq - 1;
    first_bad = earliest(first_bad, chain_bad);

    // 3. Checkpoints beyond the end of the log, and the head row.
    if let Some((_, cp)) = checkpoints.range(last_seq + 1..).next() {
        first_bad = earliest(
            first_bad,
            bad(
                last_seq + 1,
                format!(
                    "checkpoint at seq {} signs head hash {} but the log ends at seq {last_seq}: events were removed from the tail",
                    cp.seq, cp.head_hash
                ),
            ),
        );
    }
    let (head_seq, head_hash) = super::read_head_text(pool).await?;
    if head_seq != last_seq || (last_seq > 0 && head_hash != prev.to_hex()) {
        first_bad = earliest(
            first_bad,
            bad(
                last_seq.min(head_seq) + 1,
                format!(
                    "the audit head says seq {head_seq} with hash {head_hash}, but the log ends at seq {last_seq} with hash {prev}: events were removed or altered at the tail"
                ),
            ),
        );
    }

    // 4. Anchors outside the database.
    let anchors = blobs
        .list_records(&super::anchor_folder(installation_id))
        .await?;
    report.anchors = anchors.len() as u64;
    for (name, bytes) in anchors {
        let anchored: Checkpoint = match serde_json::from_slice(&bytes) {
            Ok(c) => c,
            Err(e) => {
                report
                    .warnings
                    .push(format!("anchor {name} is unreadable: {e}"));
                continue;
            }
        };
        let problem = match checkpoints.get(&anchored.seq) {
            _ if anchored.seq > last_seq => Some(format!(
                "checkpoint anchored in the blob store at seq {} (head hash {}) is beyond the end of the log at seq {last_seq}: events were removed from the tail",
                anchored.seq, anchored.head_hash
            )),
            None => Some(format!(
                "checkpoint anchored in the blob store at seq {} is missing from the database: checkpoints were deleted",
                anchored.seq
            )),
            Some(cp) if *cp != anchored => Some(format!(
                "checkpoint at seq {} differs from its anchor in the blob store: it was altered",
                anchored.seq
            )),
            Some(_) => None,
        };
        if let Some(why) = problem {
            let seq = if anchored.seq > last_seq {
                last_seq + 1
            } else {
                anchored.seq
            };
            first_bad = earliest(first_bad, bad(seq, why));
        }
    }
    let anchored_count = report.anchors;
    if anchored_count < report.checkpoints {
        report.warnings.push(format!(
            "{} of {} checkpoints have no anchor in the blob store (a crash between commit and anchoring, or a store that was replaced)",
            report.checkpoints - anchored_count,
            report.checkpoints
        ));
    }
    report.ok = first_bad.is_none();
    report.first_bad = first_bad;
    Ok(report)
}

fn check_event(
    ev: &AuditEvent,
    expected_seq: i64,
    prev: &Sha256Digest,
    checkpoints: &BTreeMap<i64, Checkpoint>,
) -> Option<BadEvent> {
    if ev.seq != expected_seq {
        return bad(
            expected_seq,
            format!(
                "event seq {expected_seq} is missing (the next event is seq {}): events were deleted",
                ev.seq
            ),
        );
    }
    let recomputed = ev.recompute_hash();
    if recomputed != ev.hash {
        return bad(
            ev.seq,
            format!(
                "stored hash {} does not match the event's content (recomputed {recomputed}): a field was changed",
                ev.hash
            ),
        );
    }
    if ev.prev_hash != *prev {
        return bad(
            ev.seq,
            format!(
                "prev_hash {} is not the hash of the event before it ({prev}): events were removed, inserted or reordered",
                ev.prev_hash
            ),
        );
    }
    match checkpoints.get(&ev.seq) {
        Some(cp) if cp.head_hash != ev.hash.to_hex() => bad(
            ev.seq,
            format!(
                "checkpoint at seq {} signed hash {} but the event's hash is {}: the event was rewritten after it was signed",
                ev.seq, cp.head_hash, ev.hash
            ),
        ),
        _ => None,
    }
}

fn earliest(a: Option<BadEvent>, b: Option<BadEvent>) -> Option<BadEvent> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.seq < a.seq { b } else { a }),
        (a, b) => a.or(b),
    }
}
