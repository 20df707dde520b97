//! What ingest writes: de-identified instances catalogued under trial / site / subject / visit /
//! study / series with de-duplication and versioning, and quarantined originals, sealed.
//!
//! An instance is catalogued in one transaction with its audit event, after its bytes are durable
//! in the blob store, so whatever is acknowledged is whole. The same SOP Instance UID with the same
//! bytes is a duplicate (acknowledged, not stored twice); with other bytes it becomes the next
//! version, flagged `conflict` for review (invariant 2: nothing is overwritten).
//!
//! Quarantined objects are originals, with PHI: they are sealed (XChaCha20-Poly1305) under the
//! installation's quarantine key (`quarantine.key` in the data directory, mode 0600) before they
//! reach the blob store, so the central store never holds identifying data in the clear.

use crate::Store;
use crate::audit::NewEvent;
use crate::error::{Result, StoreError};
use crate::time::now_text;
use bytes::Bytes;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use corelab_core::Sha256Digest;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// Where instances are filed: (trial, site, subject, visit, study UID, series UID).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PlaceKey([String; 6]);

impl PlaceKey {
    fn of(n: &NewInstance) -> Self {
        Self([
            n.trial.clone(),
            n.site.clone(),
            n.subject.clone(),
            n.visit.clone(),
            n.study_uid.clone(),
            n.series_uid.clone(),
        ])
    }
}

/// The rows a series' instances are filed under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    trial_id: i64,
    subject_id: i64,
    series_id: i64,
}

/// The places of series already catalogued. Those rows are never changed nor deleted (invariant
/// 2) and a place is remembered only after the transaction that made it commits, so a hit saves
/// four lookups per instance and is never stale, whatever other nodes do.
#[derive(Debug, Default)]
pub(crate) struct Places(std::sync::Mutex<std::collections::HashMap<PlaceKey, Place>>);

impl Places {
    /// Series remembered at most; past it the memory starts over.
    const MAX: usize = 100_000;

    fn get(&self, key: &PlaceKey) -> Option<Place> {
        self.0.lock().ok()?.get(key).copied()
    }

    fn put(&self, key: PlaceKey, place: Place) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= Self::MAX {
                m.clear();
            }
            m.insert(key, place);
        }
    }
}

/// A blob write under way, started by [`Store::store_instance`].
type PendingWrite = tokio::task::JoinHandle<Result<crate::blob::BlobRef>>;

/// The quarantine key's file name in the data directory.
pub const QUARANTINE_KEY_FILE: &str = "quarantine.key";

/// A de-identified instance to catalogue; its bytes are already in the blob store.
#[derive(Clone, Debug)]
pub struct NewInstance {
    /// Trial id.
    pub trial: String,
    /// Site id.
    pub site: String,
    /// Trial subject id (already linked).
    pub subject: String,
    /// Visit name (`unscheduled` until a protocol assigns visits).
    pub visit: String,
    /// Study Instance UID (de-identified).
    pub study_uid: String,
    /// Study Date (de-identified), if any.
    pub study_date: Option<String>,
    /// Study Description, if kept.
    pub study_description: Option<String>,
    /// The study's other attributes as the index keeps them (for QIDO-RS).
    pub study: StudyAttributes,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// The instance's DICOM JSON metadata, if it could be written.
    pub metadata: Option<InstanceMetadata>,
    /// Series Instance UID (de-identified).
    pub series_uid: String,
    /// Modality.
    pub modality: String,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description, if kept.
    pub series_description: Option<String>,
    /// SOP Instance UID (de-identified).
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Transfer syntax as stored.
    pub transfer_syntax: String,
    /// The stored bytes' digest.
    pub sha256: Sha256Digest,
    /// Their size.
    pub size: u64,
    /// Where it came from (`import:<file>`, `dimse:<AE>@<address>`).
    pub source: String,
}

/// A study's attributes that QIDO-RS matches and returns, from the de-identified object that
/// created the study.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StudyAttributes {
    /// Study Time.
    pub time: Option<String>,
    /// Accession Number.
    pub accession_number: Option<String>,
    /// Patient ID (the trial subject, after de-identification).
    pub patient_id: Option<String>,
    /// Patient's Name (as de-identified).
    pub patient_name: Option<String>,
    /// Study ID.
    pub study_id: Option<String>,
    /// Referring Physician's Name (as de-identified).
    pub referring_physician: Option<String>,
}

/// An instance's metadata as the index keeps it: the whole DICOM JSON (a blob) and its short
/// attributes (a column).
#[derive(Clone, Debug)]
pub struct InstanceMetadata {
    /// The DICOM JSON's digest.
    pub sha256: Sha256Digest,
    /// The DICOM JSON, bulk data as relative `BulkDataURI`s.
    pub json: Bytes,
    /// The short top-level attributes as a DICOM JSON object.
    pub attributes: String,
}

/// What cataloguing did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Catalogued {
    /// A new instance (version 1).
    Stored {
        /// Its row id.
        id: i64,
    },
    /// The same UID with the same bytes: nothing new stored.
    Duplicate {
        /// The existing row.
        id: i64,
        /// Its version.
        version: i64,
    },
    /// The same UID with other bytes: a new version, flagged for review.
    Conflict {
        /// The new row.
        id: i64,
        /// Its version.
        version: i64,
    },
    /// The object contradicts the catalogue (its study is filed under another subject): nothing
    /// written; a person must look.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Why and whence an object is held.
#[derive(Clone, Debug)]
pub struct ToHold<'a> {
    /// Trial, if known.
    pub trial: Option<&'a str>,
    /// Site, if known.
    pub site: Option<&'a str>,
    /// Where it came from.
    pub source: &'a str,
    /// Why it is held.
    pub reason: &'a str,
    /// Free-form details (sizes, the trial and site as sent).
    pub details: serde_json::Value,
}

/// A quarantined object, as listed.
#[derive(Clone, Debug, Serialize)]
pub struct QuarantineEntry {
    /// Its id.
    pub id: i64,
    /// Trial, if known.
    pub trial: Option<String>,
    /// Site, if known.
    pub site: Option<String>,
    /// Where it came from.
    pub source: String,
    /// Why it is held.
    pub reason: String,
    /// `held`, `released` or `discarded`.
    pub state: String,
    /// When it arrived.
    pub received_at: String,
    /// Who resolved it, when, and why.
    pub resolved_by: Option<String>,
    /// When it was resolved.
    pub resolved_at: Option<String>,
    /// The reason given when resolving.
    pub resolution_reason: Option<String>,
    /// The sealed blob.
    pub blob_sha256: String,
    /// Free-form details (calling AE, file name, size).
    pub details: serde_json::Value,
}

impl Store {
    /// Catalogues a de-identified instance whose bytes are in the blob store, with its event.
    pub async fn catalogue_instance(&self, actor: &str, n: &NewInstance) -> Result<Catalogued> {
        self.catalogue(actor, n, None).await
    }

    /// Stores a de-identified instance: its bytes (whose digest and size `n` gives) are written
    /// to the blob store while its catalogue rows are prepared, and the transaction commits only
    /// once the bytes are durable (invariant 1), so the two waits overlap instead of adding up.
    pub async fn store_instance(
        &self,
        actor: &str,
        n: &NewInstance,
        bytes: Bytes,
    ) -> Result<Catalogued> {
        debug_assert_eq!(
            bytes.len() as u64,
            n.size,
            "NewInstance.size is the bytes' length"
        );
        let (blobs, digest) = (self.blobs.clone(), n.sha256);
        let meta = n.metadata.as_ref().map(|m| (m.sha256, m.json.clone()));
        let write = tokio::spawn(async move {
            let stored = blobs.put_digested(digest, bytes).await?;
            if let Some((sha, json)) = meta {
                blobs.put_digested(sha, json).await?;
            }
            Ok(stored)
        });
        self.catalogue(actor, n, Some(write)).await
    }

    async fn catalogue(
        &self,
        actor: &str,
        n: &NewInstance,
        mut write: Option<PendingWrite>,
    ) -> Result<Catalogued> {
        // Two writers racing on one UID end in a unique violation; the retry sees the winner.
        for _ in 0..5 {
            match self.try_catalogue(actor, n, &mut write).await {
                Err(StoreError::Db { source, .. }) if is_unique(&source) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict(format!(
            "instance {}: could not be catalogued after 5 attempts (concurrent writers)",
            n.sop_instance_uid
        )))
    }

    async fn try_catalogue(
        &self,
        actor: &str,
        n: &NewInstance,
        write: &mut Option<PendingWrite>,
    ) -> Result<Catalogued> {
        let mut tx = self.begin(actor).await?;
        let ctx =
            |what: &str| StoreError::db(format!("cataloguing {}: {what}", n.sop_instance_uid));
        let key = PlaceKey::of(n);
        let cached = self.places.get(&key);
        let (trial_id, subject_id) = match &cached {
            Some(p) => (p.trial_id, p.subject_id),
            None => {
                let ids = sqlx::query(
                    "SELECT t.id AS trial_id, j.id AS subject_id FROM trials t \
                     JOIN subjects j ON j.trial_id = t.id JOIN sites s ON s.id = j.site_id \
                     WHERE t.trial_key = $1 AND s.site_key = $2 AND j.subject_key = $3",
                )
                .bind(&n.trial)
                .bind(&n.site)
                .bind(&n.subject)
                .fetch_optional(tx.conn())
                .await
                .map_err(ctx("finding the subject"))?
                .ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "trial {} site {} has no subject {}",
                        n.trial, n.site, n.subject
                    ))
                })?;
                (
                    ids.try_get::<i64, _>("trial_id").map_err(ctx("trial"))?,
                    ids.try_get::<i64, _>("subject_id")
                        .map_err(ctx("subject"))?,
                )
            }
        };
        let sha = n.sha256.to_hex();
        let latest = sqlx::query(
            "SELECT id, version, blob_sha256 FROM instances WHERE trial_id = $1 AND sop_instance_uid = $2 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(trial_id)
        .bind(&n.sop_instance_uid)
        .fetch_optional(tx.conn())
        .await
        .map_err(ctx("looking for an earlier version"))?;
        let earlier = match latest {
            Some(r) => Some((
                r.try_get::<i64, _>("id").map_err(ctx("id"))?,
                r.try_get::<i64, _>("version").map_err(ctx("version"))?,
                r.try_get::<String, _>("blob_sha256").map_err(ctx("blob"))?,
            )),
            None => None,
        };
        if let Some((id, version, blob)) = &earlier
            && *blob == sha
        {
            tx.record(
                NewEvent::new("instance.duplicate", "instance", &n.sop_instance_uid).details(
                    json!({"trial": n.trial, "version": version, "sha256": sha, "source": n.source}),
                ),
            )
            .await?;
            tx.commit().await?;
            return Ok(Catalogued::Duplicate {
                id: *id,
                version: *version,
            });
        }
        let now = now_text();
        // The instance event below names the blob (sha256, size): one event for both rows.
        tx.record_blob_row(&n.sha256, n.size, "application/dicom")
            .await?;
        if let Some(m) = &n.metadata {
            tx.record_blob_row(&m.sha256, m.json.len() as u64, "application/dicom+json")
                .await?;
        }
        let place = match cached {
            Some(p) => p,
            None => {
                let visit_id = upsert_id(
                    &mut tx,
                    "SELECT id FROM visits WHERE subject_id = $1 AND visit_name = $2",
                    "INSERT INTO visits (subject_id, visit_name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    (subject_id, &n.visit),
                    &now,
                )
                .await
                .map_err(ctx("the visit"))?;
                let study = sqlx::query(
                    "SELECT st.id, j.subject_key FROM studies st JOIN subjects j ON j.id = st.subject_id \
                     WHERE st.trial_id = $1 AND st.study_instance_uid = $2",
                )
                .bind(trial_id)
                .bind(&n.study_uid)
                .fetch_optional(tx.conn())
                .await
                .map_err(ctx("the study"))?;
                let study_id = match study {
                    Some(r) => {
                        let owner: String = r.try_get("subject_key").map_err(ctx("the study"))?;
                        if owner != n.subject {
                            // Rolled back on drop: the visit and blob rows above are not kept.
                            return Ok(Catalogued::Refused {
                                reason: format!(
                                    "study {} is filed under subject {owner}, and this object of it came for subject {} \
                                     (the same study sent for two patients or from two sites): not filed",
                                    n.study_uid, n.subject
                                ),
                            });
                        }
                        r.try_get::<i64, _>("id").map_err(ctx("the study"))?
                    }
                    None => sqlx::query_scalar(
                        "INSERT INTO studies (trial_id, subject_id, visit_id, study_instance_uid, study_date, description, created_at, \
                         study_time, accession_number, patient_id, patient_name, study_id, referring_physician) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                    )
                    .bind(trial_id)
                    .bind(subject_id)
                    .bind(visit_id)
                    .bind(&n.study_uid)
                    .bind(n.study_date.as_deref())
                    .bind(n.study_description.as_deref())
                    .bind(&now)
                    .bind(n.study.time.as_deref())
                    .bind(n.study.accession_number.as_deref())
                    .bind(n.study.patient_id.as_deref())
                    .bind(n.study.patient_name.as_deref())
                    .bind(n.study.study_id.as_deref())
                    .bind(n.study.referring_physician.as_deref())
                    .fetch_one(tx.conn())
                    .await
                    .map_err(ctx("creating the study"))?,
                };
                let series_id = match sqlx::query_scalar::<_, i64>(
                    "SELECT id FROM series WHERE study_id = $1 AND series_instance_uid = $2",
                )
                .bind(study_id)
                .bind(&n.series_uid)
                .fetch_optional(tx.conn())
                .await
                .map_err(ctx("the series"))?
                {
                    Some(id) => id,
                    None => sqlx::query_scalar(
                        "INSERT INTO series (study_id, series_instance_uid, modality, series_number, description, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(study_id)
                    .bind(&n.series_uid)
                    .bind(&n.modality)
                    .bind(n.series_number)
                    .bind(n.series_description.as_deref())
                    .bind(&now)
                    .fetch_one(tx.conn())
                    .await
                    .map_err(ctx("creating the series"))?,
                };
                Place {
                    trial_id,
                    subject_id,
                    series_id,
                }
            }
        };
        let (version, supersedes, review) = match &earlier {
            Some((id, v, _)) => (v + 1, Some(*id), Some("conflict")),
            None => (1, None, None),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO instances (trial_id, series_id, sop_instance_uid, sop_class_uid, version, supersedes_id, \
             blob_sha256, transfer_syntax, received_at, review, size, instance_number, attributes, metadata_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(trial_id)
        .bind(place.series_id)
        .bind(&n.sop_instance_uid)
        .bind(&n.sop_class_uid)
        .bind(version)
        .bind(supersedes)
        .bind(&sha)
        .bind(&n.transfer_syntax)
        .bind(&now)
        .bind(review)
        .bind(n.size as i64)
        .bind(n.instance_number)
        .bind(n.metadata.as_ref().map(|m| m.attributes.as_str()))
        .bind(n.metadata.as_ref().map(|m| m.sha256.to_hex()))
        .fetch_one(tx.conn())
        .await
        .map_err(ctx("inserting the instance"))?;
        let action = if review.is_some() {
            "instance.conflict"
        } else {
            "instance.store"
        };
        tx.record(
            NewEvent::new(action, "instance", &n.sop_instance_uid)
                .after(&json!({
                    "trial": n.trial, "site": n.site, "subject": n.subject, "visit": n.visit,
                    "study": n.study_uid, "series": n.series_uid, "sop_class": n.sop_class_uid,
                    "version": version, "sha256": sha, "size": n.size,
                    "transfer_syntax": n.transfer_syntax,
                }))
                .details(json!({"source": n.source})),
        )
        .await?;
        // The bytes must be durable before the rows that name them are.
        if let Some(w) = write.take() {
            w.await.map_err(|e| StoreError::Blob {
                url: self.blobs.url().to_owned(),
                op: "put",
                location: n.sha256.to_hex(),
                why: format!("the write task failed: {e}"),
            })??;
        }
        tx.commit().await?;
        self.places.put(key, place);
        Ok(if review.is_some() {
            Catalogued::Conflict { id, version }
        } else {
            Catalogued::Stored { id }
        })
    }

    /// The bytes of an instance's latest version, by SOP Instance UID.
    pub async fn instance_bytes(&self, trial: &str, sop_instance_uid: &str) -> Result<Bytes> {
        let sha: String = sqlx::query_scalar(
            "SELECT i.blob_sha256 FROM instances i JOIN trials t ON t.id = i.trial_id \
             WHERE t.trial_key = $1 AND i.sop_instance_uid = $2 ORDER BY i.version DESC LIMIT 1",
        )
        .bind(trial)
        .bind(sop_instance_uid)
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::db("finding an instance"))?
        .ok_or_else(|| {
            StoreError::NotFound(format!("trial {trial} has no instance {sop_instance_uid}"))
        })?;
        let digest = sha.parse().map_err(|_| {
            StoreError::Conflict(format!("instances.blob_sha256 {sha:?} is not a digest"))
        })?;
        self.blobs.get(&digest).await
    }

    /// Holds an original object that could not be ingested: sealed into the blob store, listed
    /// with its reason. Returns the quarantine id.
    pub async fn quarantine(&self, actor: &str, held: &ToHold<'_>, original: &[u8]) -> Result<i64> {
        let ToHold {
            trial,
            site,
            source,
            reason,
            details,
        } = held;
        let (trial, site) = (*trial, *site);
        let sealed = self.seal_quarantined(original)?;
        let blob = self.blobs.put(Bytes::from(sealed)).await?;
        let mut tx = self.begin(actor).await?;
        tx.record_blob(&blob.sha256, blob.size, "application/x-corelab-sealed")
            .await?;
        let (trial_id, site_id) = match trial {
            Some(t) => {
                let row = sqlx::query(
                    "SELECT t.id AS trial_id, s.id AS site_id FROM trials t LEFT JOIN sites s \
                     ON s.trial_id = t.id AND s.site_key = $2 WHERE t.trial_key = $1",
                )
                .bind(t)
                .bind(site.unwrap_or(""))
                .fetch_optional(tx.conn())
                .await
                .map_err(StoreError::db("quarantine: finding the trial"))?;
                match row {
                    Some(r) => (
                        r.try_get::<Option<i64>, _>("trial_id").ok().flatten(),
                        r.try_get::<Option<i64>, _>("site_id").ok().flatten(),
                    ),
                    None => (None, None),
                }
            }
            None => (None, None),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO quarantine (trial_id, site_id, source, reason, blob_sha256, received_at, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(trial_id)
        .bind(site_id)
        .bind(source)
        .bind(reason)
        .bind(blob.sha256.to_hex())
        .bind(now_text())
        .bind(details.to_string())
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::db("quarantine: recording"))?;
        tx.record(
            NewEvent::new("quarantine.hold", "quarantine", &id.to_string()).details(json!({
                "trial": trial, "site": site, "source": source, "reason": reason,
                "sealed_sha256": blob.sha256.to_hex(),
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Quarantined objects, newest first; only those `held` unless `all`.
    pub async fn quarantine_list(&self, all: bool) -> Result<Vec<QuarantineEntry>> {
        self.quarantine_rows(None, all).await
    }

    /// One quarantined object and its original bytes (unsealed).
    pub async fn quarantine_get(&self, id: i64) -> Result<(QuarantineEntry, Vec<u8>)> {
        let entry = self
            .quarantine_rows(Some(id), true)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(format!("no quarantined object {id}")))?;
        let digest: Sha256Digest = entry.blob_sha256.parse().map_err(|_| {
            StoreError::Conflict(format!("quarantine {id}: blob digest is not valid"))
        })?;
        let sealed = self.blobs.get(&digest).await?;
        let original = self.open_quarantined(&sealed)?;
        Ok((entry, original))
    }

    /// Marks a held object released (after the caller ingested it again) or discarded, with who
    /// and why; audited.
    pub async fn quarantine_resolve(
        &self,
        actor: &str,
        id: i64,
        state: &str,
        reason: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        if !matches!(state, "released" | "discarded") {
            return Err(StoreError::Conflict(format!(
                "quarantine state {state:?} is not released or discarded"
            )));
        }
        if reason.trim().is_empty() {
            return Err(StoreError::Conflict(format!(
                "quarantine {id}: a reason is required"
            )));
        }
        let mut tx = self.begin(actor).await?;
        let changed = sqlx::query(
            "UPDATE quarantine SET state = $1, resolved_at = $2, resolved_by = $3, resolution_reason = $4 \
             WHERE id = $5 AND state = 'held'",
        )
        .bind(state)
        .bind(now_text())
        .bind(actor)
        .bind(reason)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::db("quarantine: resolving"))?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::Conflict(format!(
                "quarantine {id} is not held (unknown, or already released or discarded)"
            )));
        }
        let action = if state == "released" {
            "quarantine.release"
        } else {
            "quarantine.discard"
        };
        tx.record(
            NewEvent::new(action, "quarantine", &id.to_string())
                .details(json!({"reason": reason, "result": details})),
        )
        .await?;
        tx.commit().await
    }

    async fn quarantine_rows(&self, id: Option<i64>, all: bool) -> Result<Vec<QuarantineEntry>> {
        let rows = sqlx::query(
            "SELECT q.id, t.trial_key, s.site_key, q.source, q.reason, q.state, q.received_at, \
             q.resolved_by, q.resolved_at, q.resolution_reason, q.blob_sha256, q.details \
             FROM quarantine q LEFT JOIN trials t ON t.id = q.trial_id LEFT JOIN sites s ON s.id = q.site_id \
             WHERE ($1 < 0 OR q.id = $1) AND ($2 = 1 OR q.state = 'held') ORDER BY q.id DESC",
        )
        .bind(id.unwrap_or(-1))
        .bind(i64::from(all))
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing the quarantine"))?;
        rows.iter()
            .map(|r| {
                let c = |what: &str| StoreError::db(format!("quarantine.{what}"));
                let details: String = r.try_get("details").map_err(c("details"))?;
                Ok(QuarantineEntry {
                    id: r.try_get("id").map_err(c("id"))?,
                    trial: r.try_get("trial_key").map_err(c("trial"))?,
                    site: r.try_get("site_key").map_err(c("site"))?,
                    source: r.try_get("source").map_err(c("source"))?,
                    reason: r.try_get("reason").map_err(c("reason"))?,
                    state: r.try_get("state").map_err(c("state"))?,
                    received_at: r.try_get("received_at").map_err(c("received_at"))?,
                    resolved_by: r.try_get("resolved_by").map_err(c("resolved_by"))?,
                    resolved_at: r.try_get("resolved_at").map_err(c("resolved_at"))?,
                    resolution_reason: r
                        .try_get("resolution_reason")
                        .map_err(c("resolution_reason"))?,
                    blob_sha256: r.try_get("blob_sha256").map_err(c("blob_sha256"))?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    fn quarantine_cipher(&self) -> Result<XChaCha20Poly1305> {
        let path = self.installation.dir.join(QUARANTINE_KEY_FILE);
        crate::keyfile::create(&path)?;
        let key = crate::keyfile::read(&path, "quarantined objects cannot be sealed or opened")?;
        Ok(XChaCha20Poly1305::new(&key.into()))
    }

    fn seal_quarantined(&self, original: &[u8]) -> Result<Vec<u8>> {
        let cipher = self.quarantine_cipher()?;
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Key {
            path: QUARANTINE_KEY_FILE.into(),
            why: format!("no randomness: {e}"),
        })?;
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: original,
                    aad: b"corelab-quarantine-v1",
                },
            )
            .map_err(|_| StoreError::Key {
                path: QUARANTINE_KEY_FILE.into(),
                why: "sealing failed".into(),
            })?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open_quarantined(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        let cipher = self.quarantine_cipher()?;
        let fail = |why: &str| StoreError::Key {
            path: self
                .installation
                .dir
                .join(QUARANTINE_KEY_FILE)
                .display()
                .to_string(),
            why: why.to_owned(),
        };
        if sealed.len() < 24 + 16 {
            return Err(fail("sealed quarantine object is too short"));
        }
        let (nonce, ct) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| fail("bad nonce"))?;
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: b"corelab-quarantine-v1",
                },
            )
            .map_err(|_| fail("the quarantined object does not open with this key"))
    }
}

pub(crate) fn is_unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The id of a row found by `select`, inserted by `insert` when absent (races tolerated by the
/// insert's ON CONFLICT DO NOTHING and a second select).
async fn upsert_id(
    tx: &mut crate::WriteTx<'_>,
    select: &'static str,
    insert: &'static str,
    key: (i64, &str),
    now: &str,
) -> std::result::Result<i64, sqlx::Error> {
    let find = || sqlx::query_scalar::<_, i64>(select).bind(key.0).bind(key.1);
    if let Some(id) = find().fetch_optional(tx.conn()).await? {
        return Ok(id);
    }
    sqlx::query(insert)
        .bind(key.0)
        .bind(key.1)
        .bind(now)
        .execute(tx.conn())
        .await?;
    find().fetch_one(tx.conn()).await
}
