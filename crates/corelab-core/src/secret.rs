//! The trial's de-identification secret: the key of every keyed derivation (UIDs, date offsets),
//! so that they are reproducible inside the trial and meaningless outside it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// 32 secret bytes per trial, kept apart from the catalogue.
#[derive(Clone)]
pub struct TrialSecret([u8; 32]);

impl TrialSecret {
    /// Wraps the secret's bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// HMAC-SHA256 of `data` under this secret, separated by `domain` so that derivations for
    /// different purposes never coincide.
    pub fn derive(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for TrialSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrialSecret(…)") // never print the key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_derivations() {
        let s = TrialSecret::from_bytes([1; 32]);
        assert_ne!(s.derive("a", b"x"), s.derive("b", b"x"));
        assert_eq!(s.derive("a", b"x"), s.derive("a", b"x"));
    }
}
