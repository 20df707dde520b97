//! 32-byte secret keys kept as files outside the database and the blob store (trial keys, the
//! quarantine key): 64 hexadecimal characters, created once with mode 0600 and fsynced.

use crate::error::{Result, StoreError};
use std::io::Write;
use std::path::Path;

/// Creates the key file with a fresh random key, unless it exists (then it is left as it is, so a
/// concurrent or retried creation keeps the first key).
pub fn create(path: &Path) -> Result<()> {
    let err = |why: String| StoreError::Key {
        path: path.display().to_string(),
        why,
    };
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| err(format!("no randomness: {e}")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => f
            .write_all(format!("{}\n", hex::encode(key)).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| err(e.to_string())),
        // Created by another process in the meantime: theirs is the key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Reads a key file; `missing` says what cannot be done without it.
pub fn read(path: &Path, missing: &str) -> Result<[u8; 32]> {
    let err = |why: String| StoreError::Key {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(format!("the key cannot be read ({e}); {missing}")))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|e| err(format!("expected 64 hexadecimal characters: {e}")))?;
    Ok(key)
}
