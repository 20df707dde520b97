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

/// A DICOM node to send to: `AE@host:port` (the called AE title, the host name or address, the
/// TCP port), as `storescu` and corelab's SCU take it. IPv6 addresses go in brackets
/// (`PACS@[::1]:104`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct DicomNode {
    /// The called AE title.
    pub ae: AeTitle,
    /// Host name or address.
    pub host: String,
    /// TCP port (1 to 65535).
    pub port: u16,
}

impl DicomNode {
    /// Parses `AE@host:port`.
    pub fn new(s: &str) -> Result<Self, IdError> {
        let bad = || IdError {
            kind: "DICOM node",
            value: s.to_owned(),
            expected: "AE@host:port (an AE title of 1 to 16 characters, a host, a port from 1 to 65535)",
        };
        let (ae, rest) = s.rsplit_once('@').ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
        if port == 0 || !host_ok {
            return Err(bad());
        }
        Ok(Self {
            ae: AeTitle::new(ae).map_err(|_| bad())?,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for DicomNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.ae, self.host, self.port)
    }
}

impl From<DicomNode> for String {
    fn from(n: DicomNode) -> String {
        n.to_string()
    }
}

impl<'de> Deserialize<'de> for DicomNode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dicom_nodes_are_ae_at_host_colon_port() {
        let n = DicomNode::new("PACS@pacs.hospital-a.org:104").unwrap();
        assert_eq!(
            (n.ae.as_str(), n.host.as_str(), n.port),
            ("PACS", "pacs.hospital-a.org", 104)
        );
        assert_eq!(n.to_string(), "PACS@pacs.hospital-a.org:104");
        assert_eq!(DicomNode::new("PACS@[::1]:11112").unwrap().host, "[::1]");
        for bad in [
            "PACS",
            "PACS@host",
            "@host:104",
            "PACS@:104",
            "PACS@host:0",
            "PACS@host:x",
            "A\\B@host:1",
            "P@ho st:1",
        ] {
            let e = DicomNode::new(bad).unwrap_err();
            assert_eq!(e.kind, "DICOM node", "{bad}");
        }
    }

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
