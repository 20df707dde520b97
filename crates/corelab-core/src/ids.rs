//! Identifiers that appear in commands, files and the catalogue, each validated once at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An identifier that does not have the expected form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind} {value:?}: {expected}")]
pub struct IdError {
    /// What kind of identifier was being read ("trial id", "AE title", …).
    pub kind: &'static str,
    /// The offending value.
    pub value: String,
    /// What was expected instead.
    pub expected: &'static str,
}

const KEY_EXPECTED: &str =
    "1 to 64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit";

fn check_key(kind: &'static str, s: &str) -> Result<(), IdError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(IdError {
            kind,
            value: s.to_owned(),
            expected: KEY_EXPECTED,
        })
    }
}

macro_rules! key_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            pub fn new(s: &str) -> Result<Self, IdError> {
                check_key($kind, s)?;
                Ok(Self(s.to_owned()))
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

key_type!(
    /// A trial's identifier, as used in commands (`MS-PHASE2-001`).
    TrialId,
    "trial id"
);
key_type!(
    /// A site's identifier within its trial; becomes the Clinical Trial Site ID (0012,0030).
    SiteId,
    "site id"
);

/// A DICOM Application Entity title: 1–16 characters of the default character repertoire, no
/// backslash or control characters, not only spaces (PS3.5 §6.2, VR AE). Leading and trailing
/// spaces are not significant and are removed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AeTitle(String);

impl AeTitle {
    /// Validates and wraps `s` (trimmed of spaces).
    pub fn new(s: &str) -> Result<Self, IdError> {
        let t = s.trim_matches(' ');
        let ok = !t.is_empty()
            && t.len() <= 16
            && t.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\');
        if ok {
            Ok(Self(t.to_owned()))
        } else {
            Err(IdError {
                kind: "AE title",
                value: s.to_owned(),
                expected: "1 to 16 printable ASCII characters, no backslash, not only spaces",
            })
        }
    }
    /// The title as text, without padding.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AeTitle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_id_rejects_spaces_slashes_and_empty() {
        assert!(TrialId::new("MS-PHASE2-001").is_ok());
        for bad in ["", "a b", "a/b", "-x", &"x".repeat(65)] {
            let e = TrialId::new(bad).unwrap_err();
            assert_eq!(e.kind, "trial id");
        }
    }

    #[test]
    fn ae_title_is_trimmed_and_bounded() {
        assert_eq!(AeTitle::new(" S01PACS ").unwrap().as_str(), "S01PACS");
        assert!(AeTitle::new("   ").is_err());
        assert!(AeTitle::new("A\\B").is_err());
        assert!(AeTitle::new("ABCDEFGHIJKLMNOPQ").is_err());
    }
}
