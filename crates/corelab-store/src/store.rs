//! [`Store`]: an opened installation — database, blob store and audit key together — and
//! [`WriteTx`], the only way to change state, which makes every change carry its audit event.

use crate::audit::{self, AuditEvent, AuditKey, Checkpoint, NewEvent, VerifyReport};
use crate::blob::BlobStore;
use crate::db::{Backend, Db};
use crate::error::{Result, StoreError};
use crate::installation::{
    AuditSettings, BLOB_DIR, CONFIG_FILE, FORMAT, InstallConfig, InstallSection, Installation,
    KEY_FILE,
};
use crate::time::now_text;
use bytes::Bytes;
use corelab_core::Sha256Digest;
use serde_json::json;
use sqlx::{Any, AnyConnection, Transaction};
use std::path::Path;

/// Where to find the database and the blob store, when not the installation's own.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--database URL`.
    pub database: Option<String>,
    /// `--store URL`.
    pub store: Option<String>,
    /// S3 settings that take precedence over the `AWS_*` environment variables.
    pub s3_settings: Vec<(String, String)>,
}

/// An opened installation.
#[derive(Debug)]
pub struct Store {
    /// The data directory.
    pub installation: Installation,
    /// The metadata database.
    pub db: Db,
    /// The blob store.
    pub blobs: BlobStore,
    key: AuditKey,
    /// Where catalogued series are filed (see `ingest::Places`).
    pub(crate) places: crate::ingest::Places,
    /// A shared lock on a local blob folder, held while the store is open: the sweep of what a
    /// crash left there (`sweep.rs`) runs only where it can have the folder alone.
    pub(crate) lock: Option<std::fs::File>,
}

impl Store {
    /// Creates a new installation in `dir` (absent or empty). On any failure, what it created is
    /// removed again and nothing else is changed.
    pub async fn init(dir: &Path, over: &Overrides, actor: &str) -> Result<Self> {
        let shown = dir.display().to_string();
        let refuse = |why: &str| StoreError::InitRefused {
            dir: shown.clone(),
            why: why.to_owned(),
        };
        if dir.join(CONFIG_FILE).exists() {
            return Err(refuse("it is already a corelab installation"));
        }
        let created_dir = !dir.exists();
        if !created_dir {
            let mut entries = std::fs::read_dir(dir).map_err(|e| refuse(&e.to_string()))?;
            if entries.next().is_some() {
                return Err(refuse("the directory is not empty"));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| refuse(&e.to_string()))?;
        let result = Self::init_in(dir, over, actor).await;
        if result.is_err() {
            // Undo: the directory was absent or empty before.
            if created_dir {
                let _ = std::fs::remove_dir_all(dir);
            } else if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        result
    }

    async fn init_in(dir: &Path, over: &Overrides, actor: &str) -> Result<Self> {
        let dir = std::fs::canonicalize(dir).map_err(|e| StoreError::File {
            path: dir.display().to_string(),
            why: e.to_string(),
        })?;
        let config = InstallConfig {
            installation: InstallSection {
                id: uuid::Uuid::new_v4().to_string(),
                created_at: now_text(),
                format: FORMAT,
            },
            database: over.database.clone(),
            store: over.store.clone(),
            audit: AuditSettings::default(),
        };
        let installation = Installation {
            dir: dir.clone(),
            config,
        };
        if over.store.is_none() {
            std::fs::create_dir(dir.join(BLOB_DIR)).map_err(|e| StoreError::File {
                path: dir.join(BLOB_DIR).display().to_string(),
                why: e.to_string(),
            })?;
        }
        let blobs = BlobStore::open_with(&installation.store_url(None), &over.s3_settings)?;
        blobs.check().await?;
        let db = Db::connect(&installation.database_url(None), true).await?;
        if let Some(other) = installation_id_in(&db).await? {
            return Err(StoreError::InitRefused {
                dir: dir.display().to_string(),
                why: format!(
                    "database {} already belongs to installation {other}",
                    db.url()
                ),
            });
        }
        let key = AuditKey::generate(&dir.join(KEY_FILE))?;
        key.write_new()?;
        let lock = crate::sweep::lock_shared(&blobs)?;
        let store = Store {
            installation,
            db,
            blobs,
            key,
            places: Default::default(),
            lock,
        };
        let mut tx = store.begin(actor).await?;
        for (k, v) in [
            ("installation_id", store.installation.id().to_owned()),
            ("audit_public_key", store.key.public_hex()),
        ] {
            sqlx::query("INSERT INTO corelab_meta (key, value) VALUES ($1, $2)")
                .bind(k)
                .bind(v)
                .execute(tx.conn())
                .await
                .map_err(StoreError::db("recording the installation"))?;
        }
        let state = json!({
            "database": store.db.url(),
            "store": store.blobs.url(),
            "audit_public_key": store.key.public_hex(),
        });
        tx.record(
            NewEvent::new("installation.init", "installation", store.installation.id())
                .after(&state)
                .details(state),
        )
        .await?;
        tx.commit().await?;
        let text = toml::to_string(&store.installation.config).map_err(|e| StoreError::File {
            path: CONFIG_FILE.into(),
            why: e.to_string(),
        })?;
        write_file_durably(&dir.join(CONFIG_FILE), text.as_bytes())?;
        Ok(store)
    }

    /// Opens the installation in `dir`, with its database and blob store (or the overrides).
    pub async fn open(dir: &Path, over: &Overrides) -> Result<Self> {
        let installation = Installation::open(dir)?;
        let key = AuditKey::load(&installation.key_path())?;
        let db = Db::connect(&installation.database_url(over.database.as_deref()), false).await?;
        match installation_id_in(&db).await? {
            Some(found) if found == installation.id() => {}
            Some(found) => {
                return Err(StoreError::WrongInstallation {
                    url: db.url().to_owned(),
                    dir: installation.dir.display().to_string(),
                    found,
                    expected: installation.id().to_owned(),
                });
            }
            None => {
                return Err(StoreError::NotAnInstallation {
                    dir: installation.dir.display().to_string(),
                    why: format!("its database {} holds no installation", db.url()),
                });
            }
        }
        let blobs = BlobStore::open_with(
            &installation.store_url(over.store.as_deref()),
            &over.s3_settings,
        )?;
        blobs.check().await?;
        let lock = crate::sweep::lock_shared(&blobs)?;
        Ok(Store {
            installation,
            db,
            blobs,
            key,
            places: Default::default(),
            lock,
        })
    }

    /// Starts a write transaction on behalf of `actor`.
    pub async fn begin(&self, actor: &str) -> Result<WriteTx<'_>> {
        Ok(WriteTx {
            tx: self.db.begin_write().await?,
            store: self,
            actor: actor.to_owned(),
            head: None,
            head_dirty: false,
            pending: Vec::new(),
        })
    }

    /// Signs the current head, unless it is already signed or the log is empty, and anchors it.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let mut tx = self.begin("system").await?;
        let (seq, hash) = tx.head().await?;
        if seq == 0 {
            return Ok(None);
        }
        let existing = sqlx::query(concat!(
            "SELECT ",
            audit::checkpoint_columns!(),
            " FROM audit_checkpoints WHERE seq = $1"
        ))
        .bind(seq)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("reading audit_checkpoints"))?;
        if let Some(row) = existing {
            return Checkpoint::from_row(&row).map(Some);
        }
        let cp = audit::insert_checkpoint(tx.conn(), &self.key, self.installation.id(), seq, &hash)
            .await?;
        tx.pending.push(cp.clone());
        tx.commit().await?;
        Ok(Some(cp))
    }

    /// Recomputes the whole audit chain and its checkpoints.
    pub async fn verify_audit(&self) -> Result<VerifyReport> {
        audit::verify(
            self.db.pool(),
            &self.blobs,
            self.installation.id(),
            &self.key.verifying_key(),
        )
        .await
    }

    /// Events with `at >= since` (all when `None`), in order.
    pub async fn audit_events(
        &self,
        since: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit::event_columns!(),
            " FROM audit_events WHERE at >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(since.unwrap_or(""))
        .bind(limit.unwrap_or(i64::MAX))
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("reading audit_events"))?;
        rows.iter().map(AuditEvent::from_row).collect()
    }

    /// Events matching `f`, newest first when `f.newest_first`: at most `limit` after skipping
    /// `offset`. Each given field must match exactly, `text` anywhere in the actor, action,
    /// object or reason (case-sensitive substring).
    pub async fn search_audit(
        &self,
        f: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEvent>> {
        let order = if f.newest_first { "DESC" } else { "ASC" };
        let text = f.text.as_deref().filter(|t| !t.is_empty()).map(|t| {
            format!(
                "%{}%",
                t.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        let sql = format!(
            "SELECT {} FROM audit_events WHERE at >= $1 \
             AND ($2 = '' OR actor = $2) AND ($3 = '' OR action = $3) \
             AND ($4 = '' OR object_type = $4) AND ($5 = '' OR object_id = $5) \
             AND ($6 = '' OR actor LIKE $6 ESCAPE '\\' OR action LIKE $6 ESCAPE '\\' \
                  OR object_id LIKE $6 ESCAPE '\\' OR COALESCE(reason, '') LIKE $6 ESCAPE '\\') \
             ORDER BY seq {order} LIMIT $7 OFFSET $8",
            audit::event_columns!()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(f.since.clone().unwrap_or_default())
            .bind(f.actor.clone().unwrap_or_default())
            .bind(f.action.clone().unwrap_or_default())
            .bind(f.object_type.clone().unwrap_or_default())
            .bind(f.object_id.clone().unwrap_or_default())
            .bind(text.unwrap_or_default())
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all(self.db.pool())
            .await
            .map_err(StoreError::db("searching audit_events"))?;
        rows.iter().map(AuditEvent::from_row).collect()
    }

    /// The installation's audit public key, hex.
    pub fn audit_public_key(&self) -> String {
        self.key.public_hex()
    }

    /// Puts bytes in the blob store and records the blob in the catalogue, with its audit event.
    pub async fn put_blob(
        &self,
        actor: &str,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<Sha256Digest> {
        let blob = self.blobs.put(bytes).await?;
        let mut tx = self.begin(actor).await?;
        tx.record_blob(&blob.sha256, blob.size, media_type).await?;
        tx.commit().await?;
        Ok(blob.sha256)
    }
}

async fn installation_id_in(db: &Db) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM corelab_meta WHERE key = 'installation_id'")
        .fetch_optional(db.pool())
        .await
        .map_err(StoreError::db("reading corelab_meta"))
}

fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let err = |e: std::io::Error| StoreError::File {
        path: path.display().to_string(),
        why: e.to_string(),
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

/// A write transaction. Every change made through [`WriteTx::conn`] must be described by a
/// [`WriteTx::record`] call before [`WriteTx::commit`]; both land together or not at all.
pub struct WriteTx<'s> {
    tx: Transaction<'static, Any>,
    store: &'s Store,
    actor: String,
    head: Option<(i64, Sha256Digest)>,
    head_dirty: bool,
    pending: Vec<Checkpoint>,
}

impl WriteTx<'_> {
    /// The transaction's connection, for the change itself.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    async fn head(&mut self) -> Result<(i64, Sha256Digest)> {
        if let Some(h) = self.head {
            return Ok(h);
        }
        let lock = self.store.db.backend() == Backend::Postgres;
        let h = audit::read_head(&mut self.tx, lock).await?;
        self.head = Some(h);
        Ok(h)
    }

    /// Appends the audit event for a change made in this transaction. Every
    /// `checkpoint_every` events a signed checkpoint is written too.
    pub async fn record(&mut self, ev: NewEvent) -> Result<AuditEvent> {
        let head = self.head().await?;
        let event = audit::append(&mut self.tx, head, &self.actor, &ev).await?;
        self.head = Some((event.seq, event.hash));
        self.head_dirty = true;
        let every = self.store.installation.config.audit.checkpoint_every;
        if every > 0 && event.seq % every == 0 {
            let cp = audit::insert_checkpoint(
                &mut self.tx,
                &self.store.key,
                self.store.installation.id(),
                event.seq,
                &event.hash,
            )
            .await?;
            self.pending.push(cp);
        }
        Ok(event)
    }

    /// Records a blob already in the blob store (no-op if catalogued), with its event.
    pub async fn record_blob(
        &mut self,
        sha256: &Sha256Digest,
        size: u64,
        media_type: &str,
    ) -> Result<bool> {
        let inserted = self.record_blob_row(sha256, size, media_type).await?;
        if inserted {
            self.record(blob_put_event(sha256, size, media_type))
                .await?;
        }
        Ok(inserted)
    }

    /// Records a blob row without an event of its own: for a change whose own event names the
    /// blob's digest and size (an instance stored), so one event describes both.
    pub(crate) async fn record_blob_row(
        &mut self,
        sha256: &Sha256Digest,
        size: u64,
        media_type: &str,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO blobs (sha256, size, media_type, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256.to_hex())
        .bind(size as i64)
        .bind(media_type)
        .bind(now_text())
        .execute(self.conn())
        .await
        .map_err(StoreError::db("recording a blob"))?
        .rows_affected()
            == 1)
    }

    /// Commits the change and its events, then anchors any checkpoint in the blob store.
    pub async fn commit(mut self) -> Result<()> {
        if let (true, Some((seq, hash))) = (self.head_dirty, self.head) {
            audit::write_head(&mut self.tx, seq, &hash).await?;
        }
        self.tx
            .commit()
            .await
            .map_err(StoreError::db("committing"))?;
        for cp in &self.pending {
            anchor(self.store, cp).await;
        }
        Ok(())
    }
}

/// The event of a blob newly recorded (what [`WriteTx::record_blob`] appends).
pub(crate) fn blob_put_event(sha256: &Sha256Digest, size: u64, media_type: &str) -> NewEvent {
    NewEvent::new("blob.put", "blob", &sha256.to_hex())
        .after(&json!({"sha256": sha256.to_hex(), "size": size, "media_type": media_type}))
}

/// Writes a checkpoint outside the database. A failure here leaves the checkpoint in the
/// database only; `audit verify` reports it as a warning, not as tampering.
async fn anchor(store: &Store, cp: &Checkpoint) {
    let name = format!(
        "{}/{:020}.json",
        audit::anchor_folder(store.installation.id()),
        cp.seq
    );
    let bytes = match serde_json::to_vec(cp) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::warn!(seq = cp.seq, error = %e, "cannot encode audit anchor");
            return;
        }
    };
    if let Err(e) = store.blobs.put_record(&name, bytes).await {
        tracing::warn!(seq = cp.seq, error = %e, "audit checkpoint committed but not anchored in the blob store");
    }
}

/// What [`Store::search_audit`] looks for; `None` fields match anything.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AuditFilter {
    /// Events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Exactly this action.
    pub action: Option<String>,
    /// Exactly this kind of object.
    pub object_type: Option<String>,
    /// Exactly this object (with `object_type`: one object's history).
    pub object_id: Option<String>,
    /// A substring of the actor, action, object id or reason.
    pub text: Option<String>,
    /// Newest first.
    #[serde(default)]
    pub newest_first: bool,
}
