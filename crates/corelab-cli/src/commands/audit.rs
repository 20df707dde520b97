//! `corelab audit verify | log | key | checkpoint`.

use super::open;
use crate::cli::{AuditCommand, Global};
use crate::exit::CHECK_FAILED;
use crate::output::emit;
use anyhow::Result;
use serde_json::json;

pub async fn run(g: &Global, c: &AuditCommand) -> Result<u8> {
    let store = open(g).await?;
    match c {
        AuditCommand::Verify => {
            let started = std::time::Instant::now();
            let r = store.verify_audit().await?;
            let seconds = started.elapsed().as_secs_f64();
            let doc = json!({
                "ok": r.ok,
                "events": r.events,
                "first_bad": r.first_bad,
                "checkpoints": r.checkpoints,
                "anchors": r.anchors,
                "warnings": r.warnings,
                "seconds": seconds,
            });
            for w in &r.warnings {
                tracing::warn!("{w}");
            }
            emit(g.json, &doc, |_| match &r.first_bad {
                None => format!(
                    "audit trail OK: {} events, {} signed checkpoints, {} anchors, verified in {seconds:.2} s",
                    r.events, r.checkpoints, r.anchors
                ),
                Some(b) => format!("audit trail BROKEN at event {}: {}", b.seq, b.why),
            })?;
            Ok(if r.ok { 0 } else { CHECK_FAILED })
        }
        AuditCommand::Log { since, limit } => {
            let events = store.audit_events(since.as_deref(), *limit).await?;
            emit(g.json, &events, |evs| {
                evs.iter()
                    .map(|e| {
                        let reason = e
                            .reason
                            .as_deref()
                            .map(|r| format!("  reason: {r}"))
                            .unwrap_or_default();
                        format!(
                            "{:>6}  {}  {}  {}  {} {}{reason}",
                            e.seq, e.at, e.actor, e.action, e.object_type, e.object_id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            Ok(0)
        }
        AuditCommand::Key => {
            let doc = json!({"algorithm": "ed25519", "public_key": store.audit_public_key(), "installation": store.installation.id()});
            emit(g.json, &doc, |d| {
                d["public_key"].as_str().unwrap_or_default().to_owned()
            })?;
            Ok(0)
        }
        AuditCommand::Checkpoint => {
            let cp = store.checkpoint().await?;
            emit(g.json, &cp, |cp| match cp {
                Some(cp) => format!(
                    "checkpoint signed at event {} (head {})",
                    cp.seq, cp.head_hash
                ),
                None => "the audit trail is empty; nothing to sign".into(),
            })?;
            Ok(0)
        }
    }
}
