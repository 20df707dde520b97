//! The installation's ed25519 audit signing key: generated at `init`, kept in the data directory
//! as PKCS#8 PEM with mode 0600.

use crate::error::{Result, StoreError};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The signing key of one installation.
pub struct AuditKey {
    signing: SigningKey,
    path: PathBuf,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AuditKey({}, public {})",
            self.path.display(),
            self.public_hex()
        )
    }
}

impl AuditKey {
    /// A fresh key from the operating system's random source, not yet written anywhere.
    pub fn generate(path: &Path) -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| StoreError::Key {
            path: path.display().to_string(),
            why: format!("no random source: {e}"),
        })?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
            path: path.to_owned(),
        })
    }

    /// Writes the key to its path, readable by the owner only. Refuses to replace a file.
    pub fn write_new(&self) -> Result<()> {
        let err = |why: String| StoreError::Key {
            path: self.path.display().to_string(),
            why,
        };
        let pem = self
            .signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| err(e.to_string()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&self.path).map_err(|e| err(e.to_string()))?;
        f.write_all(pem.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| err(e.to_string()))
    }

    /// Loads the key from its file.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |why: String| StoreError::Key {
            path: path.display().to_string(),
            why,
        };
        let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| err(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "audit signing key is readable by others; chmod 600 it");
            }
        }
        let signing = SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| err(format!("not an ed25519 PKCS#8 PEM key: {e}")))?;
        Ok(Self {
            signing,
            path: path.to_owned(),
        })
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as 64 hexadecimal characters.
    pub fn public_hex(&self) -> String {
        hex::encode(self.verifying_key().as_bytes())
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
