//! The audit trail: every state change writes an event in the same transaction as the change
//! (invariant 3). Events form a SHA-256 hash chain over a canonical encoding; every N events, and
//! on demand, the head is signed with the installation's ed25519 key (a checkpoint), and each
//! checkpoint is also anchored in the blob store, outside the database, so that removing the
//! newest events and their checkpoints together is still found.

mod canonical;
mod chain;
mod key;
mod verify;

pub use canonical::canonical_json;
pub use chain::{AuditEvent, Checkpoint, NewEvent, checkpoint_message, event_hash};
pub use key::AuditKey;
pub use verify::{BadEvent, VerifyReport};

pub(crate) use chain::{
    append, checkpoint_columns, event_columns, insert_checkpoint, read_head, read_head_text,
    write_head,
};
pub(crate) use verify::verify;

/// Folder of the blob store that holds checkpoint anchors, per installation.
pub(crate) fn anchor_folder(installation_id: &str) -> String {
    format!("audit-anchors/{installation_id}")
}
