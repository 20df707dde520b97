//! The sweep of what a crash leaves in a local blob folder: blobs written for a transaction that
//! never committed (an object's bytes are made durable before its row, invariant 1, so a process
//! killed between the two leaves bytes nothing names) and staging files of writes cut short.
//!
//! Safe by construction: every [`Store`] holds a shared lock on its local blob folder while it
//! is open, and the sweep runs only when it can turn its own into the exclusive lock, that is
//! when no other process has the installation open; so no write whose transaction is still to
//! commit can lose its blob. It is meant for a server's start, before it writes anything. It
//! removes only files older than itself that nothing references: no `blobs` row (instances,
//! their metadata, quarantined originals, job outputs, trial files) and no trial lock naming it
//! (a lock's file inputs). A new kind of blob reference must be added here. With PostgreSQL or
//! S3 (nodes on other machines, which no local lock reaches) nothing is swept. What was removed
//! is recorded in one `blob.sweep` audit event.

use crate::blob::BlobStore;
use crate::db::Backend;
use crate::error::{Result, StoreError};
use crate::{NewEvent, Store};
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The digests of one IN (…) query.
const BATCH: usize = 500;

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sweep {
    /// Why nothing was looked at, when nothing was.
    pub skipped: Option<String>,
    /// The unreferenced blobs removed, by digest.
    pub blobs: Vec<String>,
    /// Staging files of writes cut short, removed.
    pub staging: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Takes the shared lock on a local blob folder (waiting while a sweep has it alone); `None`
/// for S3, or where the file system has no locks (and then nothing is ever swept).
pub(crate) fn lock_shared(blobs: &BlobStore) -> Result<Option<File>> {
    let Some(dir) = blobs.local_dir() else {
        return Ok(None);
    };
    let folder = File::open(&dir).map_err(|e| StoreError::File {
        path: dir.display().to_string(),
        why: e.to_string(),
    })?;
    match folder.lock_shared() {
        Ok(()) => Ok(Some(folder)),
        Err(e) => {
            tracing::warn!(folder = %dir.display(), error = %e, "no lock on the blob folder: it will not be swept");
            Ok(None)
        }
    }
}

impl Store {
    /// Removes the unreferenced blobs and staging files a crash left in the local blob folder,
    /// when no other process has the installation open (see the module's documentation); call
    /// it before this store writes anything. `skipped` says why nothing was looked at.
    pub async fn sweep_blobs(&self, actor: &str) -> Result<Sweep> {
        let skip = |why: String| {
            Ok(Sweep {
                skipped: Some(why),
                ..Sweep::default()
            })
        };
        if self.db.backend() != Backend::Sqlite {
            return skip("the database is PostgreSQL: other nodes may be writing".into());
        }
        let (Some(dir), Some(lock)) = (self.blobs.local_dir(), self.lock.as_ref()) else {
            return skip("the blob store is not a local folder with a lock".into());
        };
        let relock = || {
            lock.lock_shared().map_err(|e| StoreError::File {
                path: dir.display().to_string(),
                why: format!("taking the shared lock again: {e}"),
            })
        };
        let _ = lock.unlock();
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                relock()?;
                return skip("another process has the installation open".into());
            }
            Err(TryLockError::Error(e)) => {
                relock()?;
                return skip(format!("cannot lock {}: {e}", dir.display()));
            }
        }
        let swept = self.sweep_alone(&dir, SystemTime::now(), actor).await;
        let _ = lock.unlock();
        relock()?;
        swept
    }

    async fn sweep_alone(&self, dir: &Path, started: SystemTime, actor: &str) -> Result<Sweep> {
        let root = dir.join("sha256");
        let listed = tokio::task::spawn_blocking(move || list(&root, started))
            .await
            .map_err(|e| StoreError::File {
                path: dir.display().to_string(),
                why: e.to_string(),
            })??;
        let mut referenced: HashSet<String> = HashSet::new();
        for chunk in listed.blobs.chunks(BATCH) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT sha256 FROM blobs WHERE sha256 IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for (sha, _, _) in chunk {
                q = q.bind(sha.clone());
            }
            referenced.extend(
                q.fetch_all(self.db.pool())
                    .await
                    .map_err(StoreError::db("sweep: reading blob rows"))?,
            );
        }
        let locks: Vec<String> = sqlx::query_scalar("SELECT lock_json FROM trial_locks")
            .fetch_all(self.db.pool())
            .await
            .map_err(StoreError::db("sweep: reading trial locks"))?;
        for text in &locks {
            referenced.extend(digests_in(text));
        }
        let mut done = Sweep::default();
        let remove = |path: &Path| {
            std::fs::remove_file(path).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(StoreError::File {
                    path: path.display().to_string(),
                    why: format!("sweep: {e}"),
                }),
            })
        };
        for (path, size) in &listed.staging {
            remove(path)?;
            done.staging += 1;
            done.bytes += size;
        }
        for (sha, path, size) in &listed.blobs {
            if !referenced.contains(sha) {
                remove(path)?;
                done.blobs.push(sha.clone());
                done.bytes += size;
            }
        }
        if !done.blobs.is_empty() || done.staging > 0 {
            let mut tx = self.begin(actor).await?;
            tx.record(
                NewEvent::new("blob.sweep", "blob-store", self.blobs.url())
                    .reason("left by a process that stopped before committing")
                    .details(json!({
                        "removed": done.blobs,
                        "staging_files": done.staging,
                        "bytes": done.bytes,
                    })),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(done)
    }
}

/// What a sweep may remove, older than `started`.
#[derive(Default)]
struct Listed {
    /// Content files: digest, path, size.
    blobs: Vec<(String, PathBuf, u64)>,
    /// Staging files (`<digest>#<n>`): path, size.
    staging: Vec<(PathBuf, u64)>,
}

/// The folder's content files (`sha256/ab/cd/<digest>`) and staging files older than `started`;
/// anything else is left alone.
fn list(root: &Path, started: SystemTime) -> Result<Listed> {
    fn walk(dir: &Path, started: SystemTime, out: &mut Listed) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(StoreError::File {
                    path: dir.display().to_string(),
                    why: format!("sweep: {e}"),
                });
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk(&path, started, out)?;
                continue;
            }
            if !meta.modified().is_ok_and(|at| at < started) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.split_once('#') {
                None if is_digest(&name) => out.blobs.push((name, path, meta.len())),
                Some((digest, n))
                    if is_digest(digest)
                        && !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    out.staging.push((path, meta.len()))
                }
                _ => {}
            }
        }
        Ok(())
    }
    let mut out = Listed::default();
    walk(root, started, &mut out)?;
    Ok(out)
}

/// A blob's name: 64 lower-case hex digits.
fn is_digest(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every run of exactly 64 hex digits in `text`, lower-cased.
fn digests_in(text: &str) -> impl Iterator<Item = String> + '_ {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            let run = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            let at = i;
            i += run.max(1);
            if run == 64 {
                return Some(text[at..at + 64].to_ascii_lowercase());
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const TRIAL: &str = "[trial]\nid = \"SWEEP-1\"\nsponsor = \"S\"\nprotocol = \"P\"\n\
                         phase = \"II\"\n\n[[sites]]\nid = \"S01\"\nname = \"A\"\n";

    #[tokio::test]
    async fn only_unreferenced_blobs_go_and_only_while_no_other_process_has_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let lab = dir.path().join("lab");
        let store = Store::init(&lab, &Default::default(), "test")
            .await
            .unwrap();
        let file = corelab_core::TrialFile::parse(TRIAL).unwrap();
        store.create_trial("test", &file, TRIAL).await.unwrap();
        let row = store
            .put_blob("test", Bytes::from_static(b"catalogued"), "text/plain")
            .await
            .unwrap();
        // A lock's file input is kept in the blob store without a row of its own.
        let template = store
            .blobs
            .put(Bytes::from_static(b"template"))
            .await
            .unwrap();
        let lock = format!(
            "{{\"files\":{{\"t.nii.gz\":{{\"sha256\":\"{}\"}}}}}}",
            template.sha256
        );
        store
            .record_lock("test", "SWEEP-1", &lock, &"0".repeat(64), None)
            .await
            .unwrap();
        // What a kill leaves: a blob without its row, and a staging file.
        let orphan = store
            .blobs
            .put(Bytes::from_static(b"orphan"))
            .await
            .unwrap();
        let staging = lab
            .join("blobs")
            .join(store.blobs.location_of(&orphan.sha256))
            .with_file_name(format!("{}#1", orphan.sha256));
        std::fs::write(&staging, b"orp").unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;

        // Another process holding the installation open: nothing is touched.
        let other = Store::open(&lab, &Default::default()).await.unwrap();
        let s = store.sweep_blobs("test").await.unwrap();
        assert_eq!(
            s.skipped.as_deref(),
            Some("another process has the installation open")
        );
        assert!(store.blobs.exists(&orphan.sha256).await.unwrap() && staging.exists());
        drop(other);

        let s = store.sweep_blobs("test").await.unwrap();
        assert_eq!(
            (s.skipped, s.blobs, s.staging),
            (None, vec![orphan.sha256.to_hex()], 1)
        );
        assert!(!store.blobs.exists(&orphan.sha256).await.unwrap() && !staging.exists());
        for kept in [row, template.sha256] {
            assert!(store.blobs.get(&kept).await.is_ok(), "{kept} kept");
        }
        let events = store.audit_events(None, None).await.unwrap();
        assert_eq!(events.last().unwrap().action, "blob.sweep");
        assert!(store.verify_audit().await.unwrap().ok);
        // The lock is shared again: another process can open the installation.
        let again = Store::open(&lab, &Default::default()).await.unwrap();
        assert_eq!(
            store.sweep_blobs("test").await.unwrap().skipped.as_deref(),
            Some("another process has the installation open")
        );
        drop(again);
        assert_eq!(store.sweep_blobs("test").await.unwrap(), Sweep::default());
    }

    #[test]
    fn digests_are_found_whole_in_text() {
        let a = "ab".repeat(32);
        let text = format!(
            "{{\"sha256\":\"{a}\",\"fingerprint\":\"{}\",\"short\":\"abc\"}}",
            "C".repeat(64)
        );
        let found: Vec<String> = digests_in(&text).collect();
        assert_eq!(found, vec![a, "c".repeat(64)]);
        assert_eq!(
            digests_in(&"a".repeat(65)).count(),
            0,
            "a longer run is no digest"
        );
    }

    #[test]
    fn staging_files_and_blobs_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = "0f".repeat(32);
        let sub = dir.path().join("0f/0f");
        std::fs::create_dir_all(&sub).unwrap();
        for name in [
            d.clone(),
            format!("{d}#1"),
            format!("{d}#x"),
            "notes.txt".into(),
        ] {
            std::fs::write(sub.join(name), b"x").unwrap();
        }
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        let l = list(dir.path(), later).unwrap();
        assert_eq!(l.blobs.len(), 1);
        assert_eq!(l.blobs[0].0, d);
        assert_eq!(l.staging.len(), 1);
        assert!(l.staging[0].0.ends_with(format!("{d}#1")));
        // Nothing newer than the sweep is taken.
        let earlier = SystemTime::now() - std::time::Duration::from_secs(3600);
        let l = list(dir.path(), earlier).unwrap();
        assert!(l.blobs.is_empty() && l.staging.is_empty());
    }
}
