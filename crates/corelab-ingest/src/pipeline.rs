//! The pipeline: parse → check → link the subject → de-identify → store → catalogue, or
//! quarantine. One call per object; it returns only when the outcome is durable (stored and
//! catalogued, or sealed in quarantine), so a sender may be told success exactly then.

use crate::checks::{check_required, is_dicomdir, text};
use crate::trial::{RulesError, TrialRules};
use bytes::Bytes;
use corelab_core::{DeidProfile, Sha256Digest};
use corelab_dicom::deid::{OriginalSubject, Subject, encode_part10, original_subject};
use corelab_store::ingest::{Catalogued, InstanceMetadata, NewInstance, StudyAttributes, ToHold};
use corelab_store::{OriginalIdentity, Store, StoreError};
use dicom_dictionary_std::tags;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where an object comes from.
#[derive(Clone, Debug)]
pub struct Source {
    /// The trial it is for.
    pub trial: String,
    /// The site that sent it.
    pub site: String,
    /// How it came (`import:<path>`, `dimse:<calling AE>-><called AE>@<address>`), for the audit trail.
    pub origin: String,
    /// The trial subject the objects belong to, when the sender says so (objects that carry no
    /// usable Patient ID); otherwise the subject is found from the Patient ID.
    pub subject: Option<String>,
}

/// What happened to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// De-identified, stored and catalogued.
    Stored {
        /// The de-identified SOP Instance UID.
        sop_instance_uid: String,
        /// The trial subject.
        subject: String,
        /// Version 1, or the next one for a changed object.
        version: i64,
        /// Why it needs pixel review, if it does.
        #[serde(skip_serializing_if = "Option::is_none")]
        review: Option<String>,
    },
    /// Already stored with identical content: acknowledged, not stored twice.
    Duplicate {
        /// The de-identified SOP Instance UID.
        sop_instance_uid: String,
        /// The version it matched.
        version: i64,
    },
    /// The same SOP Instance UID with different content: stored as a new version, flagged.
    Conflict {
        /// The de-identified SOP Instance UID.
        sop_instance_uid: String,
        /// The new version.
        version: i64,
    },
    /// Held in quarantine with the reason (the original, sealed).
    Quarantined {
        /// The quarantine id.
        id: i64,
        /// Why.
        reason: String,
    },
    /// Not an object to store (a DICOMDIR index); nothing kept.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Not ingested and not quarantined (a retry from quarantine that still fails, or an object
    /// refused before it could be read, such as one over the size limit).
    Refused {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// Whether the object is safely in the catalogue (stored, duplicate or new version).
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            Outcome::Stored { .. } | Outcome::Duplicate { .. } | Outcome::Conflict { .. }
        )
    }
}

/// A failure of the installation itself (database, blob store, keys): nothing was acknowledged
/// and nothing is half-written; the sender must try again.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker task failed.
    #[error("internal: {0}")]
    Internal(String),
}

/// The pipeline, shared by every connection and import.
#[derive(Debug)]
pub struct Ingestor {
    store: Arc<Store>,
    actor: String,
    rules: Mutex<HashMap<String, Arc<TrialRules>>>,
    /// Subjects already linked: (trial, site, Patient ID) → subject (see [`Ingestor::subject_of`]).
    subjects: Arc<SubjectCache>,
}

impl Ingestor {
    /// A pipeline writing through `store`, recording `actor` in the audit trail.
    pub fn new(store: Arc<Store>, actor: &str) -> Self {
        Self {
            store,
            actor: actor.to_owned(),
            rules: Mutex::new(HashMap::new()),
            subjects: Arc::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A trial's rules, loaded once.
    pub async fn rules(&self, trial: &str) -> Result<Arc<TrialRules>, RulesError> {
        if let Some(r) = self.rules.lock().ok().and_then(|m| m.get(trial).cloned()) {
            return Ok(r);
        }
        let loaded = Arc::new(TrialRules::load(&self.store, trial).await?);
        if let Ok(mut m) = self.rules.lock() {
            m.insert(trial.to_owned(), loaded.clone());
        }
        Ok(loaded)
    }

    /// Runs one object through the pipeline; what fails is quarantined.
    pub async fn ingest(&self, source: &Source, bytes: Bytes) -> Result<Outcome, IngestError> {
        self.run(source, bytes, true).await
    }

    /// Runs a quarantined object through the pipeline again; what still fails is
    /// [`Outcome::Refused`] (it stays in quarantine, once).
    pub async fn retry(&self, source: &Source, bytes: Bytes) -> Result<Outcome, IngestError> {
        self.run(source, bytes, false).await
    }

    async fn run(&self, source: &Source, bytes: Bytes, hold: bool) -> Result<Outcome, IngestError> {
        let held = Hold { hold };
        let rules = match self.rules(&source.trial).await {
            Ok(r) => r,
            Err(RulesError::Store(e)) => return Err(e.into()),
            Err(e) => return self.hold(held, source, None, &e.to_string(), &bytes).await,
        };
        let Some(module) = rules.clinical_trial(&source.site, None) else {
            let why = format!(
                "trial {} has no site {:?} (sites: {})",
                rules.id,
                source.site,
                rules.site_ids().join(", ")
            );
            return self.hold(held, source, Some(&rules.id), &why, &bytes).await;
        };
        // A returning patient (subject linked already) is parsed and de-identified in one
        // worker step; any other object is parsed first, linked, then de-identified.
        let known = match source.subject {
            Some(_) => None,
            None => Some((self.subjects.clone(), source.site.clone(), module.clone())),
        };
        let first = {
            let (bytes, rules) = (bytes.clone(), rules.clone());
            tokio::task::spawn_blocking(move || {
                let parsed = match parse_now(&bytes) {
                    Parse::Object(p) => p,
                    other => return First::Parsed(other),
                };
                let Some((subjects, site, module)) = known else {
                    return First::Parsed(Parse::Object(parsed));
                };
                let original = original_subject(&parsed.dataset);
                match subjects.get(&rules.id, &site, &original.patient_id) {
                    Some(id) => {
                        let subject = Subject {
                            id: id.clone(),
                            trial: Some(module),
                        };
                        First::Cleaned(id, clean(&rules, parsed, &subject, &bytes).map(Box::new))
                    }
                    None => First::Parsed(Parse::Object(parsed)),
                }
            })
            .await
            .map_err(|e| IngestError::Internal(e.to_string()))?
        };
        match first {
            First::Parsed(Parse::Object(parsed)) => {
                self.run_parsed(held, source, &rules, module, parsed, bytes)
                    .await
            }
            First::Cleaned(subject, Ok(cleaned)) => {
                self.file(held, source, &rules, subject, *cleaned, bytes)
                    .await
            }
            First::Cleaned(_, Err(why)) | First::Parsed(Parse::Bad(why)) => {
                self.hold(held, source, Some(&rules.id), &why, &bytes).await
            }
            First::Parsed(Parse::Dicomdir) => Ok(dicomdir_skipped()),
        }
    }

    /// Runs one object through the pipeline for the one of `sites` (trial, site) that its
    /// Clinical Trial Protocol ID (0012,0020) and Clinical Trial Site ID (0012,0030) name: the
    /// trial's `[trial] protocol` or id, and the site's id. An object that names none of them is
    /// quarantined, with no trial.
    pub async fn ingest_routed(
        &self,
        sites: &[(String, String)],
        origin: &str,
        bytes: Bytes,
    ) -> Result<Outcome, IngestError> {
        let held = Hold { hold: true };
        let listed = sites
            .iter()
            .map(|(t, s)| format!("{t}/{s}"))
            .collect::<Vec<_>>()
            .join(", ");
        let unrouted = || ToHold {
            trial: None,
            site: None,
            source: origin,
            reason: "",
            details: serde_json::json!({"size": bytes.len(), "routes": listed}),
        };
        let parsed = match parse(bytes.clone()).await? {
            Parse::Object(p) => p,
            Parse::Dicomdir => return Ok(dicomdir_skipped()),
            Parse::Bad(why) => return self.hold_as(held, unrouted(), &why, &bytes).await,
        };
        let protocol = text(&parsed.dataset, tags::CLINICAL_TRIAL_PROTOCOL_ID).unwrap_or_default();
        let site_id = text(&parsed.dataset, tags::CLINICAL_TRIAL_SITE_ID).unwrap_or_default();
        let (protocol, site_id) = (protocol.trim(), site_id.trim());
        for (trial, site) in sites {
            if site != site_id {
                continue;
            }
            let rules = match self.rules(trial).await {
                Ok(r) => r,
                Err(RulesError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(trial, error = %e, "trial cannot take objects");
                    continue;
                }
            };
            if protocol != rules.file.trial.protocol && protocol != rules.id {
                continue;
            }
            let Some(module) = rules.clinical_trial(site, None) else {
                continue;
            };
            let source = Source {
                trial: trial.clone(),
                site: site.clone(),
                origin: origin.to_owned(),
                subject: None,
            };
            return self
                .run_parsed(held, &source, &rules, module, parsed, bytes)
                .await;
        }
        let why = format!(
            "no route: Clinical Trial Protocol ID (0012,0020) {protocol:?} and Site ID (0012,0030) \
             {site_id:?} name none of the sites this sender routes to ({listed})"
        );
        self.hold_as(held, unrouted(), &why, &bytes).await
    }

    /// The pipeline after parsing, once trial and site are known.
    async fn run_parsed(
        &self,
        held: Hold,
        source: &Source,
        rules: &Arc<TrialRules>,
        module: corelab_dicom::deid::ClinicalTrial,
        parsed: corelab_dicom::read::Parsed,
        bytes: Bytes,
    ) -> Result<Outcome, IngestError> {
        let original = original_subject(&parsed.dataset);
        let subject_id = match &source.subject {
            Some(id) => {
                match self
                    .store
                    .ensure_subject(&self.actor, &rules.id, &source.site, id)
                    .await
                {
                    Ok(()) => id.clone(),
                    Err(StoreError::Conflict(why)) => {
                        return self.hold(held, source, Some(&rules.id), &why, &bytes).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None if original.patient_id.trim().is_empty() => {
                let why = "missing (0010,0020) Patient ID: the object cannot be linked to a trial subject (name the subject when importing: --subject)";
                return self.hold(held, source, Some(&rules.id), why, &bytes).await;
            }
            None => match self.subject_of(rules, &source.site, &original).await {
                Ok(id) => id,
                // The trial's subject ID rule gives an ID another site's subject has (the same
                // Patient ID at two sites under a template without `{site}`): a person decides.
                Err(IngestError::Store(StoreError::Conflict(why))) => {
                    let why = format!(
                        "{why}: the subject ID rule gives this patient an ID another subject has; \
                         assign the subject (corelab subject assign) or release with --subject"
                    );
                    return self.hold(held, source, Some(&rules.id), &why, &bytes).await;
                }
                Err(e) => return Err(e),
            },
        };
        let subject = Subject {
            id: subject_id.clone(),
            trial: Some(module),
        };
        let cleaned = {
            let (rules, bytes) = (rules.clone(), bytes.clone());
            tokio::task::spawn_blocking(move || clean(&rules, parsed, &subject, &bytes))
                .await
                .map_err(|e| IngestError::Internal(e.to_string()))?
        };
        match cleaned {
            Ok(cleaned) => {
                self.file(held, source, rules, subject_id, cleaned, bytes)
                    .await
            }
            Err(why) => self.hold(held, source, Some(&rules.id), &why, &bytes).await,
        }
    }

    /// Stores and catalogues a de-identified object.
    async fn file(
        &self,
        held: Hold,
        source: &Source,
        rules: &TrialRules,
        subject_id: String,
        cleaned: Cleaned,
        bytes: Bytes,
    ) -> Result<Outcome, IngestError> {
        let Cleaned {
            sha256,
            bytes: clean_bytes,
            fields,
            metadata,
            transfer_syntax,
            review,
        } = cleaned;
        let size = clean_bytes.len() as u64;
        let catalogued = self
            .store
            .store_instance(
                &self.actor,
                &NewInstance {
                    trial: rules.id.clone(),
                    site: source.site.clone(),
                    subject: subject_id.clone(),
                    visit: "unscheduled".into(),
                    study_uid: fields.study_uid,
                    study_date: fields.study_date,
                    study_description: fields.study_description,
                    study: fields.study,
                    instance_number: fields.instance_number,
                    metadata,
                    series_uid: fields.series_uid,
                    modality: fields.modality,
                    series_number: fields.series_number,
                    series_description: fields.series_description,
                    sop_instance_uid: fields.sop_instance_uid.clone(),
                    sop_class_uid: fields.sop_class_uid,
                    transfer_syntax,
                    sha256,
                    size,
                    source: source.origin.clone(),
                },
                clean_bytes,
            )
            .await?;
        Ok(match catalogued {
            Catalogued::Stored { .. } => Outcome::Stored {
                sop_instance_uid: fields.sop_instance_uid,
                subject: subject_id,
                version: 1,
                review,
            },
            Catalogued::Duplicate { version, .. } => Outcome::Duplicate {
                sop_instance_uid: fields.sop_instance_uid,
                version,
            },
            Catalogued::Conflict { version, .. } => Outcome::Conflict {
                sop_instance_uid: fields.sop_instance_uid,
                version,
            },
            Catalogued::Refused { reason } => {
                return self
                    .hold(held, source, Some(&rules.id), &reason, &bytes)
                    .await;
            }
        })
    }

    /// The trial subject of an original identity at a site (its Patient ID must not be empty):
    /// found or created through the sealed link, then remembered. A link never changes once made,
    /// so a returning patient costs no database round trip.
    pub async fn subject_of(
        &self,
        rules: &TrialRules,
        site: &str,
        original: &OriginalSubject,
    ) -> Result<String, IngestError> {
        let patient_id = original.patient_id.trim();
        if let Some(id) = self.subjects.get(&rules.id, site, patient_id) {
            return Ok(id);
        }
        let id = self
            .store
            .subject_for(
                &self.actor,
                &rules.id,
                site,
                &OriginalIdentity {
                    patient_id: patient_id.to_owned(),
                    patient_name: original.patient_name.clone(),
                    issuer: original.issuer.clone(),
                    birth_date: original.birth_date.clone(),
                },
                &rules.subject_rule,
            )
            .await?
            .subject;
        self.subjects.put(&rules.id, site, patient_id, &id);
        Ok(id)
    }

    async fn hold(
        &self,
        held: Hold,
        source: &Source,
        trial: Option<&str>,
        reason: &str,
        original: &[u8],
    ) -> Result<Outcome, IngestError> {
        let at = ToHold {
            trial,
            site: Some(&source.site),
            source: &source.origin,
            reason,
            details: serde_json::json!({
                "size": original.len(), "trial": source.trial, "site": source.site,
            }),
        };
        self.hold_as(held, at, reason, original).await
    }

    /// Quarantines `original` as `at` says, with `reason` (or, on a retry, only reports it).
    async fn hold_as(
        &self,
        held: Hold,
        at: ToHold<'_>,
        reason: &str,
        original: &[u8],
    ) -> Result<Outcome, IngestError> {
        if !held.hold {
            return Ok(Outcome::Refused {
                reason: reason.to_owned(),
            });
        }
        let id = self
            .store
            .quarantine(&self.actor, &ToHold { reason, ..at }, original)
            .await?;
        Ok(Outcome::Quarantined {
            id,
            reason: reason.to_owned(),
        })
    }
}

/// What parsing found.
enum Parse {
    Object(corelab_dicom::read::Parsed),
    Dicomdir,
    Bad(String),
}

/// What the first worker step of an object with a known route did.
enum First {
    /// Parsed (or not) only.
    Parsed(Parse),
    /// Parsed and de-identified for this (already linked) subject.
    Cleaned(String, Result<Box<Cleaned>, String>),
}

/// Parses and checks an object.
fn parse_now(bytes: &[u8]) -> Parse {
    match corelab_dicom::read::read_bytes(bytes) {
        Err(why) => Parse::Bad(why),
        Ok(p) if is_dicomdir(&p.dataset) => Parse::Dicomdir,
        Ok(p) => match check_required(&p.dataset) {
            Ok(()) => Parse::Object(p),
            Err(why) => Parse::Bad(why),
        },
    }
}

/// Parses and checks an object; CPU work, so off the async threads.
async fn parse(bytes: Bytes) -> Result<Parse, IngestError> {
    tokio::task::spawn_blocking(move || parse_now(&bytes))
        .await
        .map_err(|e| IngestError::Internal(e.to_string()))
}

/// A de-identified object, encoded and hashed.
struct Cleaned {
    sha256: Sha256Digest,
    bytes: Bytes,
    fields: Fields,
    metadata: Option<InstanceMetadata>,
    transfer_syntax: String,
    review: Option<String>,
}

/// De-identifies, encodes and hashes an object for `subject` (CPU work: call it off the async
/// threads). A test trial without de-identification keeps the `original` bytes exactly.
fn clean(
    rules: &TrialRules,
    parsed: corelab_dicom::read::Parsed,
    subject: &Subject,
    original: &Bytes,
) -> Result<Cleaned, String> {
    if rules.file.deid.profile == DeidProfile::None {
        return Ok(Cleaned {
            sha256: Sha256Digest::of(original),
            bytes: original.clone(),
            fields: Fields::of(&parsed.dataset),
            metadata: index_metadata(&parsed.dataset),
            transfer_syntax: parsed.transfer_syntax,
            review: None,
        });
    }
    let (clean, outcome) = rules
        .deid
        .deidentify_as(&parsed.dataset, subject)
        .map_err(|r| format!("de-identification refused: {r}"))?;
    let fields = Fields::of(&clean);
    let metadata = index_metadata(&clean);
    let bytes = encode_part10(clean, &parsed.transfer_syntax)
        .map_err(|e| format!("cannot encode the de-identified object: {e}"))?;
    Ok(Cleaned {
        sha256: Sha256Digest::of(&bytes),
        bytes: Bytes::from(bytes),
        fields,
        metadata,
        transfer_syntax: parsed.transfer_syntax,
        review: outcome.burned_in_risk,
    })
}

/// The DICOM JSON metadata the index keeps of a de-identified object. An object whose metadata
/// cannot be written as DICOM JSON is still stored (its bytes are what counts), only without it;
/// WADO-RS metadata then says so.
fn index_metadata(obj: &dicom_object::InMemDicomObject) -> Option<InstanceMetadata> {
    match corelab_dicom::metadata::metadata(obj) {
        Ok(m) => Some(InstanceMetadata {
            sha256: Sha256Digest::of(&m.json),
            json: Bytes::from(m.json),
            attributes: m.attributes,
        }),
        Err(why) => {
            tracing::warn!(%why, "no DICOM JSON metadata for an instance");
            None
        }
    }
}

/// Subjects already linked: (trial, site, Patient ID) → subject. A link never changes once made.
#[derive(Debug, Default)]
struct SubjectCache(Mutex<HashMap<(String, String, String), String>>);

impl SubjectCache {
    fn get(&self, trial: &str, site: &str, patient_id: &str) -> Option<String> {
        let key = (
            trial.to_owned(),
            site.to_owned(),
            patient_id.trim().to_owned(),
        );
        self.0.lock().ok()?.get(&key).cloned()
    }

    fn put(&self, trial: &str, site: &str, patient_id: &str, subject: &str) {
        if let Ok(mut m) = self.0.lock() {
            let key = (
                trial.to_owned(),
                site.to_owned(),
                patient_id.trim().to_owned(),
            );
            m.insert(key, subject.to_owned());
        }
    }
}

fn dicomdir_skipped() -> Outcome {
    Outcome::Skipped {
        reason: "a DICOMDIR (media directory): the index of a file set, not an object to store"
            .into(),
    }
}

/// Whether failures are quarantined (first arrival) or only reported (a retry).
#[derive(Clone, Copy)]
struct Hold {
    hold: bool,
}

/// What the catalogue files an instance under, read from the de-identified object.
struct Fields {
    study_uid: String,
    study_date: Option<String>,
    study_description: Option<String>,
    study: StudyAttributes,
    instance_number: Option<i64>,
    series_uid: String,
    modality: String,
    series_number: Option<i64>,
    series_description: Option<String>,
    sop_instance_uid: String,
    sop_class_uid: String,
}

impl Fields {
    fn of(obj: &dicom_object::InMemDicomObject) -> Self {
        let t = |tag| text(obj, tag);
        Self {
            study_uid: t(tags::STUDY_INSTANCE_UID).unwrap_or_default(),
            study_date: t(tags::STUDY_DATE),
            study_description: t(tags::STUDY_DESCRIPTION),
            study: StudyAttributes {
                time: t(tags::STUDY_TIME),
                accession_number: t(tags::ACCESSION_NUMBER),
                patient_id: t(tags::PATIENT_ID),
                patient_name: t(tags::PATIENT_NAME),
                study_id: t(tags::STUDY_ID),
                referring_physician: t(tags::REFERRING_PHYSICIAN_NAME),
            },
            instance_number: t(tags::INSTANCE_NUMBER).and_then(|n| n.trim().parse().ok()),
            series_uid: t(tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            modality: t(tags::MODALITY).unwrap_or_default(),
            series_number: t(tags::SERIES_NUMBER).and_then(|n| n.trim().parse().ok()),
            series_description: t(tags::SERIES_DESCRIPTION),
            sop_instance_uid: t(tags::SOP_INSTANCE_UID).unwrap_or_default(),
            sop_class_uid: t(tags::SOP_CLASS_UID).unwrap_or_default(),
        }
    }
}
