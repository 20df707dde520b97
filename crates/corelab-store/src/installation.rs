//! The data directory of an installation: `corelab.toml` (its identity and, where not the
//! defaults, its database and store URLs), the audit signing key, and for the embedded default
//! the SQLite file and the blob directory.

use crate::db::sqlite_url;
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file whose presence makes a directory a corelab installation.
pub const CONFIG_FILE: &str = "corelab.toml";
/// The audit signing key's file name.
pub const KEY_FILE: &str = "audit-signing-key.pem";
/// The embedded database's file name.
pub const SQLITE_FILE: &str = "corelab.db";
/// The embedded blob store's folder.
pub const BLOB_DIR: &str = "blobs";
/// The data directory layout this binary writes and reads.
pub const FORMAT: u32 = 1;

/// `corelab.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallConfig {
    /// Identity.
    pub installation: InstallSection,
    /// Database URL, when not the embedded SQLite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Blob store URL, when not the embedded folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Audit settings.
    #[serde(default)]
    pub audit: AuditSettings,
}

/// `[installation]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallSection {
    /// A random UUID naming this installation; recorded in its database and in every checkpoint.
    pub id: String,
    /// When `init` ran.
    pub created_at: String,
    /// The data directory layout version.
    pub format: u32,
}

/// `[audit]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// A checkpoint is signed automatically every this many events.
    #[serde(default = "default_every")]
    pub checkpoint_every: i64,
}

fn default_every() -> i64 {
    1000
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_every: default_every(),
        }
    }
}

/// An opened data directory.
#[derive(Clone, Debug)]
pub struct Installation {
    /// The directory, absolute.
    pub dir: PathBuf,
    /// Its `corelab.toml`.
    pub config: InstallConfig,
}

impl Installation {
    /// Opens an existing installation, or says why `dir` is not one.
    pub fn open(dir: &Path) -> Result<Self> {
        let shown = dir.display().to_string();
        let not = |why: String| StoreError::NotAnInstallation {
            dir: shown.clone(),
            why,
        };
        if !dir.is_dir() {
            return Err(not("no such directory".into()));
        }
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not(format!("no {CONFIG_FILE}")));
            }
            Err(e) => {
                return Err(StoreError::File {
                    path: path.display().to_string(),
                    why: e.to_string(),
                });
            }
        };
        let config: InstallConfig = toml::from_str(&text).map_err(|e| StoreError::File {
            path: path.display().to_string(),
            why: format!(
                "not a corelab installation file: {}",
                corelab_core::toml_error_line(&text, &e)
            ),
        })?;
        if config.installation.format > FORMAT {
            return Err(StoreError::File {
                path: path.display().to_string(),
                why: format!(
                    "data directory format {} is newer than this corelab knows ({FORMAT}); use a newer corelab",
                    config.installation.format
                ),
            });
        }
        let dir = std::fs::canonicalize(dir).map_err(|e| not(e.to_string()))?;
        Ok(Self { dir, config })
    }

    /// The database URL: an override, else the configured one, else the embedded SQLite file.
    pub fn database_url(&self, overridden: Option<&str>) -> String {
        overridden
            .map(str::to_owned)
            .or_else(|| self.config.database.clone())
            .unwrap_or_else(|| sqlite_url(&self.dir.join(SQLITE_FILE)))
    }

    /// The blob store URL: an override, else the configured one, else the embedded folder.
    pub fn store_url(&self, overridden: Option<&str>) -> String {
        overridden
            .map(str::to_owned)
            .or_else(|| self.config.store.clone())
            .unwrap_or_else(|| file_url(&self.dir.join(BLOB_DIR)))
    }

    /// The audit signing key's path.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    /// This installation's id.
    pub fn id(&self) -> &str {
        &self.config.installation.id
    }
}

/// The `file://` URL of a directory.
pub fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}
