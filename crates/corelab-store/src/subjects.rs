//! Trial subjects and the sealed link to who they are at their site (DESIGN.md invariant 5: PHI
//! stays at the edge; the subject-pseudonym key is kept apart, encrypted).
//!
//! Each trial has a 32-byte key in the data directory (`trial-keys/<TRIAL>.key`, mode 0600),
//! outside the database and the blob store. From it derive, each under its own label: the
//! de-identification secret (UIDs, date shifts, `{hash:N}` subject IDs), the lookup hash of a
//! site's patient ID, and the XChaCha20-Poly1305 key that seals the original identity. The
//! `subject_links` table holds only the lookup hash and the sealed record: without the key file,
//! the database reveals no identity. Revealing one is an audited act.

use crate::Store;
use crate::error::{Result, StoreError};
use crate::time::now_text;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use corelab_core::{SubjectIdRule, TrialSecret};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::path::PathBuf;

/// The folder of trial keys inside the data directory.
pub const TRIAL_KEY_DIR: &str = "trial-keys";

/// Who a subject is at the site: sealed in the link, never stored in the clear.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalIdentity {
    /// PatientID at the site.
    pub patient_id: String,
    /// PatientName at the site.
    pub patient_name: String,
    /// IssuerOfPatientID, if any.
    pub issuer: String,
    /// PatientBirthDate, if any.
    pub birth_date: String,
}

/// A subject found or created for an original identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubjectLink {
    /// The trial subject ID.
    pub subject: String,
    /// The site.
    pub site: String,
    /// Whether this call created it.
    pub created: bool,
}

/// A revealed link: the subject and who it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revealed {
    /// The trial subject ID.
    pub subject: String,
    /// The site.
    pub site: String,
    /// `rule` (named by the trial's template) or `site` (assigned by the site).
    pub origin: String,
    /// The original identity.
    pub original: OriginalIdentity,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    site: String,
    original: OriginalIdentity,
}

/// What a subject ID may hold: a DICOM LO value (at most 64 characters, no backslash or control
/// characters), not empty.
fn check_subject_id(id: &str) -> Result<()> {
    if id.trim().is_empty()
        || id.chars().count() > 64
        || id.chars().any(|c| c == '\\' || c.is_control())
        || id != id.trim()
    {
        return Err(StoreError::Conflict(format!(
            "subject ID {id:?} is not usable: 1-64 characters, no backslash, control characters or surrounding spaces"
        )));
    }
    Ok(())
}

impl Store {
    fn trial_key_path(&self, trial: &str) -> PathBuf {
        self.installation
            .dir
            .join(TRIAL_KEY_DIR)
            .join(format!("{trial}.key"))
    }

    /// Creates the trial's key file, unless it exists (a retried creation keeps the first key).
    pub(crate) fn create_trial_key(&self, trial: &str) -> Result<()> {
        crate::keyfile::create(&self.trial_key_path(trial))
    }

    /// The trial's secret, read from its key file.
    pub fn trial_secret(&self, trial: &str) -> Result<TrialSecret> {
        crate::keyfile::read(
            &self.trial_key_path(trial),
            "without it no subject can be named or revealed",
        )
        .map(TrialSecret::from_bytes)
    }

    /// The subject of `original` at `site`: the one already linked, else a new one named by
    /// `rule`. Concurrent callers for the same identity get the same subject.
    pub async fn subject_for(
        &self,
        actor: &str,
        trial: &str,
        site: &str,
        original: &OriginalIdentity,
        rule: &SubjectIdRule,
    ) -> Result<SubjectLink> {
        let secret = self.trial_secret(trial)?;
        let lookup = lookup(&secret, site, &original.patient_id);
        // Races between nodes end in a unique violation; the retry then finds the winner's row.
        // A conflict that outlasts the retries is not a race: the rule names this patient with
        // an ID another subject of the trial has.
        let mut last = String::new();
        for _ in 0..5 {
            if let Some(found) = self.linked(trial, &lookup).await? {
                return Ok(found);
            }
            match self
                .link(actor, trial, site, original, &secret, &lookup, None, rule)
                .await
            {
                Err(StoreError::Conflict(why)) => last = why,
                other => return other,
            }
        }
        Err(StoreError::Conflict(format!(
            "trial {trial} site {site}: no new subject could be named ({last})"
        )))
    }

    /// Records the site's own subject ID for an original identity (before or instead of the
    /// trial's rule). Refused if the identity is linked to another subject or the ID is taken.
    pub async fn assign_subject(
        &self,
        actor: &str,
        trial: &str,
        site: &str,
        original: &OriginalIdentity,
        subject: &str,
    ) -> Result<SubjectLink> {
        check_subject_id(subject)?;
        let secret = self.trial_secret(trial)?;
        let lookup = lookup(&secret, site, &original.patient_id);
        if let Some(found) = self.linked(trial, &lookup).await? {
            if found.subject == subject && found.site == site {
                return Ok(found);
            }
            return Err(StoreError::Conflict(format!(
                "trial {trial}: this patient of site {site} is already subject {}",
                found.subject
            )));
        }
        self.link(
            actor,
            trial,
            site,
            original,
            &secret,
            &lookup,
            Some(subject),
            &SubjectIdRule::default(),
        )
        .await
    }

    /// Makes sure `subject` exists at `site` (created, audited, when absent), for objects whose
    /// sender names the subject instead of carrying a Patient ID. Refused if the subject belongs
    /// to another site.
    pub async fn ensure_subject(
        &self,
        actor: &str,
        trial: &str,
        site: &str,
        subject: &str,
    ) -> Result<()> {
        check_subject_id(subject)?;
        let found: Option<String> = sqlx::query_scalar(
            "SELECT s.site_key FROM subjects j JOIN trials t ON t.id = j.trial_id              JOIN sites s ON s.id = j.site_id WHERE t.trial_key = $1 AND j.subject_key = $2",
        )
        .bind(trial)
        .bind(subject)
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::db("finding a subject"))?;
        match found {
            Some(s) if s == site => return Ok(()),
            Some(s) => {
                return Err(StoreError::Conflict(format!(
                    "trial {trial}: subject {subject} belongs to site {s}, not {site}"
                )));
            }
            None => {}
        }
        let mut tx = self.begin(actor).await?;
        let inserted = sqlx::query(
            "INSERT INTO subjects (trial_id, site_id, subject_key, created_at)              SELECT t.id, s.id, $3, $4 FROM trials t JOIN sites s ON s.trial_id = t.id              WHERE t.trial_key = $1 AND s.site_key = $2 ON CONFLICT DO NOTHING",
        )
        .bind(trial)
        .bind(site)
        .bind(subject)
        .bind(now_text())
        .execute(tx.conn())
        .await
        .map_err(StoreError::db("creating a subject"))?
        .rows_affected();
        if inserted == 1 {
            tx.record(
                crate::audit::NewEvent::new(
                    "subject.create",
                    "subject",
                    &format!("{trial}/{subject}"),
                )
                .after(
                    &json!({"trial": trial, "site": site, "subject": subject, "origin": "named"}),
                ),
            )
            .await?;
        }
        tx.commit().await
    }

    async fn linked(&self, trial: &str, lookup: &str) -> Result<Option<SubjectLink>> {
        let row = sqlx::query(
            "SELECT j.subject_key, s.site_key FROM subject_links l \
             JOIN trials t ON t.id = l.trial_id \
             JOIN subjects j ON j.id = l.subject_id \
             JOIN sites s ON s.id = j.site_id \
             WHERE t.trial_key = $1 AND l.lookup = $2",
        )
        .bind(trial)
        .bind(lookup)
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::db("finding a subject link"))?;
        row.map(|r| {
            Ok(SubjectLink {
                subject: r
                    .try_get("subject_key")
                    .map_err(StoreError::db("subject_links"))?,
                site: r
                    .try_get("site_key")
                    .map_err(StoreError::db("subject_links"))?,
                created: false,
            })
        })
        .transpose()
    }

    #[allow(clippy::too_many_arguments)]
    async fn link(
        &self,
        actor: &str,
        trial: &str,
        site: &str,
        original: &OriginalIdentity,
        secret: &TrialSecret,
        lookup: &str,
        assigned: Option<&str>,
        rule: &SubjectIdRule,
    ) -> Result<SubjectLink> {
        let mut tx = self.begin(actor).await?;
        let ids = sqlx::query(
            "SELECT t.id AS trial_id, s.id AS site_id FROM trials t JOIN sites s ON s.trial_id = t.id \
             WHERE t.trial_key = $1 AND s.site_key = $2",
        )
        .bind(trial)
        .bind(site)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("finding the trial and site"))?
        .ok_or_else(|| StoreError::NotFound(format!("trial {trial} has no site {site}")))?;
        let trial_id: i64 = ids.try_get("trial_id").map_err(StoreError::db("trials"))?;
        let site_id: i64 = ids.try_get("site_id").map_err(StoreError::db("sites"))?;
        let subject = match assigned {
            Some(s) => s.to_owned(),
            None => {
                let seq: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM subjects WHERE trial_id = $1 AND site_id = $2",
                )
                .bind(trial_id)
                .bind(site_id)
                .fetch_one(tx.conn())
                .await
                .map_err(StoreError::db("numbering a subject"))?;
                rule.render(secret, site, seq as u64 + 1, &original.patient_id)
            }
        };
        let now = now_text();
        let subject_id: i64 = sqlx::query_scalar(
            "INSERT INTO subjects (trial_id, site_id, subject_key, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(trial_id)
        .bind(site_id)
        .bind(&subject)
        .bind(&now)
        .fetch_one(tx.conn())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!(
                "trial {trial}: subject ID {subject} is already taken"
            )),
            _ => StoreError::db("creating a subject")(e),
        })?;
        let sealed = seal(
            secret,
            trial,
            lookup,
            &Sealed {
                site: site.to_owned(),
                original: original.clone(),
            },
        )?;
        let origin = if assigned.is_some() { "site" } else { "rule" };
        sqlx::query(
            "INSERT INTO subject_links (trial_id, subject_id, lookup, sealed, origin, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(trial_id)
        .bind(subject_id)
        .bind(lookup)
        .bind(&sealed)
        .bind(origin)
        .bind(&now)
        .execute(tx.conn())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!(
                "trial {trial}: this patient of site {site} was linked concurrently"
            )),
            _ => StoreError::db("linking a subject")(e),
        })?;
        // The event names the subject and site only: no identifying value enters the audit trail.
        tx.record(
            crate::audit::NewEvent::new("subject.create", "subject", &format!("{trial}/{subject}"))
                .after(
                    &json!({"trial": trial, "site": site, "subject": subject, "origin": origin}),
                ),
        )
        .await?;
        tx.commit().await?;
        Ok(SubjectLink {
            subject,
            site: site.to_owned(),
            created: true,
        })
    }

    /// Opens the sealed links of a subject (or of every subject of the trial when `subject` is
    /// `None`): an audited act, recorded before anything is returned.
    pub async fn reveal_subjects(
        &self,
        actor: &str,
        trial: &str,
        subject: Option<&str>,
        reason: &str,
    ) -> Result<Vec<Revealed>> {
        if reason.trim().is_empty() {
            return Err(StoreError::Conflict(
                "revealing who a subject is needs a reason".into(),
            ));
        }
        let secret = self.trial_secret(trial)?;
        let rows = sqlx::query(
            "SELECT j.subject_key, l.lookup, l.sealed, l.origin FROM subject_links l \
             JOIN trials t ON t.id = l.trial_id JOIN subjects j ON j.id = l.subject_id \
             WHERE t.trial_key = $1 AND ($2 = '' OR j.subject_key = $2) ORDER BY j.subject_key",
        )
        .bind(trial)
        .bind(subject.unwrap_or(""))
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("reading subject links"))?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(match subject {
                Some(s) => format!("trial {trial} has no linked subject {s}"),
                None => format!("trial {trial} has no linked subjects"),
            }));
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let get = |c: &str| -> Result<String> {
                r.try_get::<String, _>(c)
                    .map_err(StoreError::db("subject_links"))
            };
            let (subject_key, lookup) = (get("subject_key")?, get("lookup")?);
            let sealed: Sealed =
                open(&secret, trial, &lookup, &get("sealed")?).map_err(|why| StoreError::Key {
                    path: self.trial_key_path(trial).display().to_string(),
                    why: format!("subject {subject_key}: {why}"),
                })?;
            out.push(Revealed {
                subject: subject_key,
                site: sealed.site,
                origin: get("origin")?,
                original: sealed.original,
            });
        }
        let mut tx = self.begin(actor).await?;
        tx.record(
            crate::audit::NewEvent::new("subject.reveal", "trial", trial).details(json!({
                "subjects": out.iter().map(|r| r.subject.as_str()).collect::<Vec<_>>(),
                "reason": reason,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// The keyed hash that finds a site's patient without decrypting anything.
fn lookup(secret: &TrialSecret, site: &str, patient_id: &str) -> String {
    let mut data = site.as_bytes().to_vec();
    data.push(0);
    data.extend_from_slice(patient_id.trim().as_bytes());
    hex::encode(secret.derive("corelab-link-lookup-v1", &data))
}

fn cipher(secret: &TrialSecret) -> XChaCha20Poly1305 {
    let key = secret.derive("corelab-link-seal-v1", b"");
    XChaCha20Poly1305::new(&key.into())
}

/// The trial and lookup are bound to the ciphertext as associated data: a sealed record copied to
/// another row or trial does not open.
fn aad(trial: &str, lookup: &str) -> Vec<u8> {
    format!("corelab-link-v1\0{trial}\0{lookup}").into_bytes()
}

fn seal(secret: &TrialSecret, trial: &str, lookup: &str, record: &Sealed) -> Result<String> {
    let mut nonce = [0u8; 24];
    let err = |why: String| StoreError::Key {
        path: "trial key".into(),
        why,
    };
    getrandom::fill(&mut nonce).map_err(|e| err(format!("no randomness: {e}")))?;
    let msg = serde_json::to_vec(record).map_err(|e| err(e.to_string()))?;
    let aad = aad(trial, lookup);
    let ct = cipher(secret)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &msg,
                aad: &aad,
            },
        )
        .map_err(|_| err("sealing failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(hex::encode(out))
}

fn open(
    secret: &TrialSecret,
    trial: &str,
    lookup: &str,
    sealed: &str,
) -> std::result::Result<Sealed, String> {
    let bytes = hex::decode(sealed).map_err(|e| format!("sealed link is not hexadecimal: {e}"))?;
    if bytes.len() < 24 + 16 {
        return Err("sealed link is too short".into());
    }
    let (nonce, ct) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| "bad nonce".to_owned())?;
    let aad = aad(trial, lookup);
    let msg = cipher(secret)
        .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &aad })
        .map_err(|_| {
            "the sealed link does not open with this trial's key (wrong key, or the record was altered or moved)".to_owned()
        })?;
    serde_json::from_slice(&msg).map_err(|e| format!("sealed link content: {e}"))
}
