//! A trial's de-identification rules as read from its stored `trial.toml`: the options, the
//! private-attribute rules, the blackout rules, the subject-ID template and the trial key.

use corelab_core::{SubjectIdRule, TrialFile, TrialSecret};
use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{ClinicalTrial, Deidentifier, PrivatePolicy, SafePrivateList};
use corelab_store::Store;
use std::sync::Arc;

/// Date shifts drawn per subject: one to ten years earlier.
pub const DATE_SHIFT_DAYS: std::ops::RangeInclusive<i64> = -3650..=-365;

/// A trial's rules, loaded once.
#[derive(Debug)]
pub struct TrialRules {
    /// The trial id.
    pub id: String,
    /// Its trial file.
    pub file: TrialFile,
    /// The de-identifier configured from it.
    pub deid: Deidentifier,
    /// How subjects are named.
    pub subject_rule: SubjectIdRule,
}

/// A trial that cannot be used for ingest or de-identification, and why.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// No such trial.
    #[error("no trial {0:?} in this installation")]
    NoTrial(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] corelab_store::StoreError),
    /// The stored trial file or its options are invalid.
    #[error("trial {trial}: {why}")]
    Invalid {
        /// The trial.
        trial: String,
        /// Why.
        why: String,
    },
}

/// A trial's stored trial file.
pub async fn trial_file(store: &Store, trial: &str) -> Result<TrialFile, RulesError> {
    let Some(t) = store.trial(trial).await? else {
        return Err(RulesError::NoTrial(trial.to_owned()));
    };
    file_of(store, &t).await
}

/// The trial file of a trial already looked up.
pub async fn file_of(
    store: &Store,
    t: &corelab_store::TrialSummary,
) -> Result<TrialFile, RulesError> {
    let invalid = |why: String| RulesError::Invalid {
        trial: t.id.clone(),
        why,
    };
    let digest = t
        .config_sha256
        .parse()
        .map_err(|_| invalid("its trial file digest is not valid".into()))?;
    let text = store.blobs.get(&digest).await?;
    TrialFile::parse(&String::from_utf8_lossy(&text))
        .map_err(|e| invalid(format!("stored trial file: {e}")))
}

impl TrialRules {
    /// Loads a trial's rules from the store (its trial file blob and its key).
    pub async fn load(store: &Store, trial: &str) -> Result<Self, RulesError> {
        let file = trial_file(store, trial).await?;
        let invalid = |why: String| RulesError::Invalid {
            trial: trial.to_owned(),
            why,
        };
        let secret = store.trial_secret(trial)?;
        let options = file
            .deid
            .options
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| o.trim().parse::<ProfileOption>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("[deid] options: {e}")))?;
        let deid = Self::deidentifier(&file, options, secret)
            .map_err(|e| invalid(format!("[deid]: {e}")))?;
        Ok(Self {
            id: trial.to_owned(),
            subject_rule: file.deid.subject_id.clone().unwrap_or_default(),
            file,
            deid,
        })
    }

    fn deidentifier(
        file: &TrialFile,
        options: Vec<ProfileOption>,
        secret: TrialSecret,
    ) -> Result<Deidentifier, corelab_dicom::deid::DeidError> {
        let deid = &file.deid;
        Ok(Deidentifier::new(options, secret, DATE_SHIFT_DAYS)?
            .with_private(PrivatePolicy {
                safe: Arc::new(SafePrivateList::with_additions(&deid.safe_private)),
                keep: deid.keep_private.iter().cloned().collect(),
                ..PrivatePolicy::default()
            })
            .with_blackout(deid.blackout.clone())
            .for_trial())
    }

    /// The Clinical Trial module values for objects of `site`, or `None` if the trial has no
    /// such site.
    pub fn clinical_trial(&self, site: &str, time_point: Option<&str>) -> Option<ClinicalTrial> {
        let spec = self.file.sites.iter().find(|s| s.id.as_str() == site)?;
        Some(ClinicalTrial {
            sponsor: self.file.trial.sponsor.clone(),
            protocol_id: self.file.trial.protocol.clone(),
            site_id: site.to_owned(),
            site_name: spec.name.clone(),
            time_point: time_point.map(str::to_owned),
            coordinating_center: String::new(),
        })
    }

    /// The trial's site ids.
    pub fn site_ids(&self) -> Vec<&str> {
        self.file.sites.iter().map(|s| s.id.as_str()).collect()
    }
}
