//! Which trial and site a DICOM association's objects are for: the calling AE titles each site
//! of each trial registers (`ae_titles`, `called_ae_title` in `trial.toml`), resolved for an
//! association's calling and called AE titles. The storage SCP (`corelab-server`'s `dimse.rs`)
//! consults it during association negotiation and refuses what it does not resolve.

use corelab_store::Store;
use std::collections::BTreeMap;

/// One way in: a calling AE title of a site, and the called AE title it must use.
#[derive(Clone, Debug)]
struct Route {
    calling: String,
    /// The site's own called AE title; `None`: the node's.
    called: Option<String>,
    trial: String,
    site: String,
    /// The trial routes objects by their Clinical Trial attributes.
    by_attributes: bool,
}

/// Where an association's objects go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// One site of one trial.
    Site {
        /// The trial.
        trial: String,
        /// The site.
        site: String,
    },
    /// Several (trial, site) pairs, all in trials that allow it: each object goes where its
    /// Clinical Trial Protocol ID and Site ID say.
    ByClinicalTrial(Vec<(String, String)>),
}

/// The reason an A-ASSOCIATE-RJ gives (PS3.8 9.3.4, service user).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Calling AE title not recognised.
    CallingAeTitle,
    /// Called AE title not recognised.
    CalledAeTitle,
    /// No reason given: the routes could not be consulted.
    Unavailable,
}

/// Why an association is refused, for the A-ASSOCIATE-RJ and the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason sent to the caller.
    pub reason: Refused,
    /// What is audited.
    pub why: String,
}

/// The sites each calling AE title sends for, read from the trials' files.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    /// Per trial: the digest of the trial file the routes were read from, and the routes.
    trials: BTreeMap<String, (String, Vec<Route>)>,
}

impl Routes {
    /// The routes of every trial in the catalogue (a trial whose file cannot be read is left
    /// out, with a warning).
    pub async fn load(store: &Store) -> corelab_store::Result<Self> {
        Self::default().reload(store).await
    }

    /// The routes now: a trial whose file is unchanged (same digest) keeps the routes read
    /// before; only new trials' files are read and parsed.
    pub async fn reload(&self, store: &Store) -> corelab_store::Result<Self> {
        let mut trials = BTreeMap::new();
        for t in store.trials().await? {
            if let Some(known) = self
                .trials
                .get(&t.id)
                .filter(|(d, _)| *d == t.config_sha256)
            {
                trials.insert(t.id.clone(), known.clone());
                continue;
            }
            let file = match crate::trial::file_of(store, &t).await {
                Ok(f) => f,
                Err(crate::trial::RulesError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(trial = %t.id, error = %e, "trial not routed");
                    continue;
                }
            };
            let mut routes = Vec::new();
            for s in &file.sites {
                for ae in &s.ae_titles {
                    routes.push(Route {
                        calling: ae.as_str().to_owned(),
                        called: s.called_ae_title.as_ref().map(|a| a.as_str().to_owned()),
                        trial: t.id.clone(),
                        site: s.id.as_str().to_owned(),
                        by_attributes: file.ingest.clinical_trial_routing,
                    });
                }
            }
            trials.insert(t.id.clone(), (t.config_sha256.clone(), routes));
        }
        Ok(Self { trials })
    }

    /// Where an association from `calling` to `called` goes, this node being `node`.
    pub fn resolve(&self, node: &str, calling: &str, called: &str) -> Result<Destination, Refusal> {
        let (node, calling, called) = (node.trim(), calling.trim(), called.trim());
        let refuse = |reason, why: String| Err(Refusal { reason, why });
        let from: Vec<&Route> = self
            .trials
            .values()
            .flat_map(|(_, routes)| routes)
            .filter(|r| r.calling == calling)
            .collect();
        if from.is_empty() {
            return refuse(
                Refused::CallingAeTitle,
                format!("calling AE title {calling:?} is not registered for any site"),
            );
        }
        let to: Vec<&Route> = from
            .iter()
            .copied()
            .filter(|r| r.called.as_deref().unwrap_or(node) == called)
            .collect();
        let named = |rs: &[&Route]| {
            rs.iter()
                .map(|r| {
                    format!(
                        "{}/{} via {}",
                        r.trial,
                        r.site,
                        r.called.as_deref().unwrap_or(node)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match to.as_slice() {
            [] => refuse(
                Refused::CalledAeTitle,
                format!(
                    "called AE title {called:?} is not one that {calling:?} sends to (its sites: {})",
                    named(&from)
                ),
            ),
            [one] => Ok(Destination::Site {
                trial: one.trial.clone(),
                site: one.site.clone(),
            }),
            several if several.iter().all(|r| r.by_attributes) => Ok(Destination::ByClinicalTrial(
                several
                    .iter()
                    .map(|r| (r.trial.clone(), r.site.clone()))
                    .collect(),
            )),
            several => refuse(
                Refused::CallingAeTitle,
                format!(
                    "calling AE title {calling:?} to {called:?} names several sites ({}) and not all \
                     their trials route by Clinical Trial attributes",
                    named(several)
                ),
            ),
        }
    }
}
