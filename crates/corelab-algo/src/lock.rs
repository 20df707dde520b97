//! A trial's version lock: each algorithm of the protocol resolved to one exact version, with
//! its complete parameters and its fingerprint (id, version, corelab build, parameters). After
//! the lock, a run whose fingerprint differs from the locked one is refused as version drift.

use crate::{AlgoError, Algorithm, Params, Registry, params, provenance};
use corelab_core::Sha256Digest;
use corelab_core::trial::AlgorithmSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One algorithm, locked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Locked {
    /// Its id.
    pub id: String,
    /// The exact version.
    pub version: String,
    /// The requirement it was resolved from.
    pub requirement: String,
    /// Every parameter, defaults included.
    pub parameters: serde_json::Value,
    /// The corelab build it is locked to.
    pub build: String,
    /// [`provenance::fingerprint`]; for an external program, the SHA-256 of the canonical JSON
    /// of id, version, build, parameters and the program (its executable's hash included).
    pub fingerprint: String,
    /// An external program's declaration (`[algorithms.program]`), as locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<serde_json::Value>,
    /// The files it takes (a template, atlas regions), by input role, each with its SHA-256:
    /// a run reads the locked bytes (kept in the blob store), never the path again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, LockedFile>,
}

/// A file input, locked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockedFile {
    /// Where it was read when the trial was locked (absolute).
    pub path: String,
    /// SHA-256 of its bytes (hex).
    pub sha256: String,
}

/// Files read for a lock, by the path as the trial file writes it.
pub type FileHashes = BTreeMap<String, LockedFile>;

/// A trial's lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// The trial.
    pub trial: String,
    /// The algorithms, in the trial file's order.
    pub algorithms: Vec<Locked>,
}

impl Lock {
    /// The lock's canonical JSON (what is stored, exported as `trial.lock`, and hashed).
    pub fn canonical(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// SHA-256 of [`Lock::canonical`].
    pub fn sha256(&self) -> String {
        Sha256Digest::of(self.canonical().as_bytes()).to_hex()
    }
}

/// Why a lock cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LockError {
    /// The catalogue has no such algorithm.
    #[error("algorithms[{index}]: no algorithm {id:?} in this corelab (it has {known})")]
    Unknown {
        /// Position in the trial file.
        index: usize,
        /// The id.
        id: String,
        /// The catalogue's ids.
        known: String,
    },
    /// No version in this build meets the requirement.
    #[error(
        "algorithms[{index}]: {id} {requirement} is not met: this corelab has {id}@{available}"
    )]
    NoVersion {
        /// Position in the trial file.
        index: usize,
        /// The id.
        id: String,
        /// The requirement.
        requirement: String,
        /// The version this build has.
        available: String,
    },
    /// An input is not one the algorithm takes, or a file input was not read.
    #[error("algorithms[{index}] ({id}): {why}")]
    Input {
        /// Position in the trial file.
        index: usize,
        /// The id.
        id: String,
        /// Why.
        why: String,
    },
    /// A parameter is refused by the algorithm.
    #[error("algorithms[{index}] ({id}): {source}")]
    Param {
        /// Position in the trial file.
        index: usize,
        /// The id.
        id: String,
        /// Why.
        source: AlgoError,
    },
}

/// Resolves a trial's algorithms against this build's catalogue; `files` holds every file input
/// the specs name, read and hashed by the caller (none for a trial without file inputs).
pub fn resolve(
    trial: &str,
    specs: &[AlgorithmSpec],
    registry: &Registry,
    files: &FileHashes,
) -> Result<Lock, LockError> {
    let mut algorithms = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let mut locked_files = BTreeMap::new();
        for (role, path) in &spec.files {
            let file = files.get(path).ok_or_else(|| LockError::Input {
                index,
                id: spec.id.clone(),
                why: format!("file input {role} = {path:?} was not read"),
            })?;
            locked_files.insert(role.clone(), file.clone());
        }
        if let Some(program) = &spec.program {
            let mut locked = external(spec, program);
            locked.files = locked_files;
            algorithms.push(locked);
            continue;
        }
        let a = registry.get(&spec.id).ok_or_else(|| LockError::Unknown {
            index,
            id: spec.id.clone(),
            known: registry.ids().join(", "),
        })?;
        let meets = semver::VersionReq::parse(&spec.version)
            .ok()
            .zip(semver::Version::parse(a.version()).ok())
            .is_some_and(|(req, v)| req.matches(&v));
        if !meets {
            return Err(LockError::NoVersion {
                index,
                id: spec.id.clone(),
                requirement: spec.version.clone(),
                available: a.version().to_owned(),
            });
        }
        let roles = a.inputs();
        for role in spec.inputs.keys().chain(spec.files.keys()) {
            if !roles.iter().any(|r| r.role == role) {
                let known: Vec<&str> = roles.iter().map(|r| r.role).collect();
                return Err(LockError::Input {
                    index,
                    id: spec.id.clone(),
                    why: format!("it takes no input {role:?} (it takes {})", known.join(", ")),
                });
            }
        }
        let params = params::resolve(&a.parameters(), &spec.param_text()).map_err(|source| {
            LockError::Param {
                index,
                id: spec.id.clone(),
                source,
            }
        })?;
        algorithms.push(Locked {
            id: a.id().to_owned(),
            version: a.version().to_owned(),
            requirement: spec.version.clone(),
            parameters: serde_json::to_value(&params).unwrap_or_default(),
            build: provenance::build(),
            fingerprint: provenance::fingerprint(a, &params),
            program: None,
            files: locked_files,
        });
    }
    Ok(Lock {
        trial: trial.to_owned(),
        algorithms,
    })
}

/// An external program locked: its exact version, parameters as written, and its declaration
/// (path, executable hash, arguments, timeout, outputs) in the fingerprint, so a changed
/// executable or declaration is a different algorithm and needs an amendment.
fn external(spec: &AlgorithmSpec, program: &corelab_core::ProgramSpec) -> Locked {
    let parameters: serde_json::Value = spec
        .param_text()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let program = serde_json::to_value(program).unwrap_or_default();
    let build = provenance::build();
    let canonical = serde_json::json!({
        "id": spec.id, "version": spec.version, "build": build,
        "parameters": parameters, "program": program,
    })
    .to_string();
    Locked {
        id: spec.id.clone(),
        version: spec.version.clone(),
        requirement: spec.version.clone(),
        parameters,
        build,
        fingerprint: Sha256Digest::of(canonical.as_bytes()).to_hex(),
        program: Some(program),
        files: BTreeMap::new(),
    }
}

/// A run refused because it is not what the trial locked.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "version drift: trial {trial} locked {locked}, this run would be {running}; run the locked version, or amend the trial (corelab trial amend)"
)]
pub struct Drift {
    /// The trial.
    pub trial: String,
    /// What was locked (`id@version fingerprint`), or "nothing" for an algorithm not in the lock.
    pub locked: String,
    /// What would run.
    pub running: String,
}

/// Whether running `algorithm` with `params` is what `lock` says.
pub fn check(lock: &Lock, algorithm: &dyn Algorithm, params: &Params) -> Result<(), Drift> {
    let running = format!(
        "{}@{} (fingerprint {})",
        algorithm.id(),
        algorithm.version(),
        provenance::fingerprint(algorithm, params)
    );
    match lock.algorithms.iter().find(|l| l.id == algorithm.id()) {
        Some(l)
            if l.version == algorithm.version()
                && l.fingerprint == provenance::fingerprint(algorithm, params) =>
        {
            Ok(())
        }
        Some(l) => Err(Drift {
            trial: lock.trial.clone(),
            locked: format!("{}@{} (fingerprint {})", l.id, l.version, l.fingerprint),
            running,
        }),
        None => Err(Drift {
            trial: lock.trial.clone(),
            locked: format!("no {}", algorithm.id()),
            running,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(id: &str, version: &str, params: &[(&str, &str)]) -> AlgorithmSpec {
        AlgorithmSpec {
            id: id.into(),
            version: version.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string())))
                .collect(),
            inputs: BTreeMap::new(),
            files: BTreeMap::new(),
            program: None,
        }
    }

    #[test]
    fn a_lock_names_exact_versions_complete_parameters_and_fingerprints() {
        let r = Registry::builtin();
        let lock = resolve(
            "T1",
            &[spec("image.mask-volume", "^1.0", &[("connectivity", "18")])],
            &r,
            &FileHashes::new(),
        )
        .unwrap();
        let l = &lock.algorithms[0];
        assert_eq!(l.version, "1.0.0");
        assert_eq!(l.parameters["connectivity"], "18");
        assert_eq!(l.parameters["threshold"], 0.5);
        // The same protocol gives the same lock; other parameters another fingerprint.
        let again = resolve(
            "T1",
            &[spec("image.mask-volume", "^1.0", &[("connectivity", "18")])],
            &r,
            &FileHashes::new(),
        )
        .unwrap();
        assert_eq!(again.sha256(), lock.sha256());
        let other = resolve(
            "T1",
            &[spec("image.mask-volume", "^1.0", &[])],
            &r,
            &FileHashes::new(),
        )
        .unwrap();
        assert_ne!(other.algorithms[0].fingerprint, l.fingerprint);
    }

    #[test]
    fn runs_that_are_not_the_locked_ones_are_version_drift() {
        let r = Registry::builtin();
        let lock = resolve(
            "T1",
            &[spec(
                "image.mask-volume",
                "=1.0.0",
                &[("connectivity", "18")],
            )],
            &r,
            &FileHashes::new(),
        )
        .unwrap();
        let a = r.get("image.mask-volume").unwrap();
        let locked = params::resolve(
            &a.parameters(),
            &BTreeMap::from([("connectivity".into(), "18".into())]),
        )
        .unwrap();
        assert!(check(&lock, a, &locked).is_ok());
        let changed = params::resolve(&a.parameters(), &BTreeMap::new()).unwrap();
        let e = check(&lock, a, &changed).unwrap_err().to_string();
        assert!(
            e.starts_with("version drift: trial T1 locked image.mask-volume@1.0.0"),
            "{e}"
        );
        let n4 = r.get("image.bias-n4").unwrap();
        let p = params::resolve(&n4.parameters(), &BTreeMap::new()).unwrap();
        let e = check(&lock, n4, &p).unwrap_err().to_string();
        assert!(e.contains("locked no image.bias-n4"), "{e}");
    }

    #[test]
    fn what_cannot_be_locked_is_refused_saying_why() {
        let r = Registry::builtin();
        let e = resolve(
            "T1",
            &[spec("neuro.nothing", "^1", &[])],
            &r,
            &FileHashes::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("algorithms[0]: no algorithm \"neuro.nothing\""),
            "{e}"
        );
        let e = resolve(
            "T1",
            &[spec("image.mask-volume", "^2", &[])],
            &r,
            &FileHashes::new(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "algorithms[0]: image.mask-volume ^2 is not met: this corelab has image.mask-volume@1.0.0"
        );
        let e = resolve(
            "T1",
            &[spec("image.mask-volume", "^1", &[("connectivity", "5")])],
            &r,
            &FileHashes::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("\"5\" is not one of 6, 18, 26"),
            "{e}"
        );
    }

    #[test]
    fn file_inputs_are_locked_by_hash_and_must_be_inputs_the_algorithm_takes() {
        let r = Registry::builtin();
        let mut s = spec("image.bias-n4", "^1", &[]);
        s.files.insert("mask".into(), "brain.nii.gz".into());
        let e = resolve("T1", std::slice::from_ref(&s), &r, &FileHashes::new()).unwrap_err();
        assert!(e.to_string().contains("was not read"), "{e}");
        let files = FileHashes::from([(
            "brain.nii.gz".to_owned(),
            LockedFile {
                path: "/data/brain.nii.gz".into(),
                sha256: "ab".repeat(32),
            },
        )]);
        let lock = resolve("T1", std::slice::from_ref(&s), &r, &files).unwrap();
        assert_eq!(lock.algorithms[0].files["mask"].sha256, "ab".repeat(32));
        s.files = BTreeMap::from([("atlas".to_owned(), "brain.nii.gz".to_owned())]);
        let e = resolve("T1", &[s], &r, &files).unwrap_err();
        assert!(e.to_string().contains("it takes no input \"atlas\""), "{e}");
    }
}
