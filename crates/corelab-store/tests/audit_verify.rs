//! `audit verify` against every kind of tampering the issue names, on both backends: a changed
//! field in any event, a deleted event, two swapped events, a truncated tail, a forged checkpoint
//! signature; and an untouched log of 100,000 events.

mod common;

use common::{Fixture, Kind};
use corelab_store::{AuditEvent, VerifyReport};
use std::time::Instant;

async fn event(f: &Fixture, seq: i64) -> AuditEvent {
    f.store
        .audit_events(None, None)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.seq == seq)
        .unwrap()
}

/// Overwrites every column of the row at `seq` with `ev`'s values (as a tamperer would).
async fn set_event(f: &Fixture, seq: i64, ev: &AuditEvent) {
    sqlx::query(
        "UPDATE audit_events SET at = $1, actor = $2, action = $3, object_type = $4, object_id = $5, \
         reason = $6, payload = $7, prev_hash = $8, hash = $9 WHERE seq = $10",
    )
    .bind(&ev.at)
    .bind(&ev.actor)
    .bind(&ev.action)
    .bind(&ev.object_type)
    .bind(&ev.object_id)
    .bind(ev.reason.as_deref())
    .bind(&ev.payload)
    .bind(ev.prev_hash.to_hex())
    .bind(ev.hash.to_hex())
    .bind(seq)
    .execute(f.store.db.pool())
    .await
    .unwrap();
}

async fn verify(f: &Fixture) -> VerifyReport {
    f.store.verify_audit().await.unwrap()
}

fn assert_bad(r: &VerifyReport, seq: i64, words: &str) {
    assert!(!r.ok, "tampering not found: {r:?}");
    let bad = r.first_bad.as_ref().unwrap();
    assert_eq!(bad.seq, seq, "{bad:?}");
    assert!(
        bad.why.contains(words),
        "expected {words:?} in {:?}",
        bad.why
    );
}

both_backends! {
    async fn a_changed_field_in_any_event_is_found_at_that_event(kind: Kind) {
        let f = Fixture::new(kind).await;
        f.append(20, 20).await;
        assert!(verify(&f).await.ok);
        for seq in [1, 9, 21] {
            let original = event(&f, seq).await;
            let mut variants = Vec::new();
            let mut e = original.clone(); e.at = "2020-01-01T00:00:00.000000Z".into(); variants.push(("at", e));
            let mut e = original.clone(); e.actor = "mallory".into(); variants.push(("actor", e));
            let mut e = original.clone(); e.action = "trial.delete".into(); variants.push(("action", e));
            let mut e = original.clone(); e.object_type = "site".into(); variants.push(("object_type", e));
            let mut e = original.clone(); e.object_id = "T999".into(); variants.push(("object_id", e));
            let mut e = original.clone(); e.reason = Some("because".into()); variants.push(("reason", e));
            let mut e = original.clone(); e.payload = e.payload.replace('{', "{\"x\":1,"); variants.push(("payload", e));
            let mut e = original.clone(); e.prev_hash = corelab_core::Sha256Digest::of(b"other"); variants.push(("prev_hash", e));
            let mut e = original.clone(); e.hash = corelab_core::Sha256Digest::of(b"other"); variants.push(("hash", e));
            for (field, tampered) in variants {
                set_event(&f, seq, &tampered).await;
                let r = verify(&f).await;
                assert!(!r.ok, "changed {field} of event {seq} was not found");
                assert_eq!(r.first_bad.as_ref().unwrap().seq, seq, "changed {field}: {r:?}");
                set_event(&f, seq, &original).await;
            }
        }
        assert!(verify(&f).await.ok, "restoring every field should verify again");
    }
}

both_backends! {
    async fn a_deleted_event_is_found(kind: Kind) {
        let f = Fixture::new(kind).await;
        f.append(20, 7).await;
        f.sql("DELETE FROM audit_events WHERE seq = 7").await;
        assert_bad(&verify(&f).await, 7, "missing");
    }
}

both_backends! {
    async fn two_swapped_events_are_found(kind: Kind) {
        let f = Fixture::new(kind).await;
        f.append(20, 20).await;
        let (a, b) = (event(&f, 5).await, event(&f, 6).await);
        let mut placeholder = a.clone();
        placeholder.hash = corelab_core::Sha256Digest::of(b"placeholder");
        set_event(&f, 5, &placeholder).await;
        set_event(&f, 6, &a).await;
        set_event(&f, 5, &b).await;
        assert_bad(&verify(&f).await, 5, "");
    }
}

both_backends! {
    async fn a_truncated_tail_is_found_even_when_the_head_and_checkpoints_are_cut_too(kind: Kind) {
        let f = Fixture::new(kind).await;
        f.append(20, 20).await;
        f.store.checkpoint().await.unwrap().unwrap(); // signs seq 21
        f.append(9, 9).await;
        let cp = f.store.checkpoint().await.unwrap().unwrap();
        assert_eq!(cp.seq, 30);
        assert!(verify(&f).await.ok);

        // Naive: the newest events only.
        f.sql("DELETE FROM audit_checkpoints WHERE seq = 30").await;
        f.sql("DELETE FROM audit_events WHERE seq > 27").await;
        assert_bad(&verify(&f).await, 28, "removed");

        // Thorough: events, their checkpoint and the head row, consistently.
        let last = event(&f, 27).await;
        f.sql(&format!("UPDATE audit_head SET seq = 27, hash = '{}'", last.hash)).await;
        let r = verify(&f).await;
        assert_bad(&r, 28, "anchored in the blob store");
        assert!(r.first_bad.unwrap().why.contains("beyond the end of the log"));
    }
}

both_backends! {
    async fn a_forged_checkpoint_signature_is_found(kind: Kind) {
        let f = Fixture::new(kind).await;
        f.append(10, 10).await;
        let cp = f.store.checkpoint().await.unwrap().unwrap();
        // One flipped bit in the signature.
        let mut sig = hex::decode(&cp.signature).unwrap();
        sig[10] ^= 1;
        f.sql(&format!("UPDATE audit_checkpoints SET signature = '{}' WHERE seq = {}", hex::encode(&sig), cp.seq)).await;
        assert_bad(&verify(&f).await, cp.seq, "signature does not verify");

        // A valid signature by another key, with that key's public half written beside it.
        let other = corelab_store::audit::AuditKey::generate(std::path::Path::new("/nonexistent")).unwrap();
        let msg = corelab_store::audit::checkpoint_message(f.store.installation.id(), cp.seq, &cp.head_hash, &cp.at);
        let forged = hex::encode(other.sign(&msg).to_bytes());
        f.sql(&format!("UPDATE audit_checkpoints SET signature = '{forged}', public_key = '{}' WHERE seq = {}", other.public_hex(), cp.seq)).await;
        assert_bad(&verify(&f).await, cp.seq, "not this installation's key");
    }
}

both_backends! {
    async fn a_rewritten_chain_with_recomputed_hashes_is_found_by_its_checkpoint(kind: Kind) {
        let f = Fixture::new(kind).await;
        f.append(20, 20).await;
        f.store.checkpoint().await.unwrap().unwrap(); // seq 21
        // Rewrite event 4 and recompute every hash after it, as a tamperer who knows the format would.
        let events = f.store.audit_events(None, None).await.unwrap();
        let mut prev = events[2].hash;
        for mut ev in events.into_iter().skip(3) {
            if ev.seq == 4 { ev.actor = "mallory".into(); }
            ev.prev_hash = prev;
            ev.hash = ev.recompute_hash();
            prev = ev.hash;
            // hashes are unique: park the old one first
            set_event(&f, ev.seq, &ev).await;
        }
        f.sql(&format!("UPDATE audit_head SET hash = '{prev}'")).await;
        assert_bad(&verify(&f).await, 21, "rewritten after it was signed");
    }
}

both_backends! {
    async fn an_untouched_log_of_100000_events_verifies(kind: Kind) {
        let f = Fixture::new(kind).await;
        let t = Instant::now();
        f.append(100_000, 2_000).await;
        let appended = t.elapsed();
        let t = Instant::now();
        let r = verify(&f).await;
        let verified = t.elapsed();
        eprintln!("{kind:?}: appended 100,000 events in {appended:.2?}, verified {} events in {verified:.2?}", r.events);
        assert!(r.ok, "{r:?}");
        assert_eq!(r.events, 100_001);
        assert_eq!(r.checkpoints, 100); // one every 1,000 events
        assert_eq!(r.anchors, 100);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }
}
