//! UID replacement (action U of PS3.15 Table E.1-1) that is deterministic per trial: the same
//! original UID maps to the same new UID in every file, at every site, at any time, so that
//! Study/Series/Instance, Frame of Reference and every Referenced … UID inside sequences stay
//! consistent without a shared lookup table.
//!
//! New UID = `2.25.` + the decimal form of a 128-bit value taken from HMAC-SHA256(trial secret,
//! original UID), with the version (8) and variant bits of an RFC 9562 UUIDv8 set, as PS3.5 §B.2
//! allows for UUID-derived UIDs. At most 44 characters, within the 64 a UID may have. Without the
//! secret the mapping cannot be reversed or reproduced.

use super::secret::TrialSecret;

/// Maps original UIDs to their trial-specific replacements.
#[derive(Clone, Debug)]
pub struct UidMapper {
    secret: TrialSecret,
}

impl UidMapper {
    /// A mapper for one trial.
    pub fn new(secret: TrialSecret) -> Self {
        Self { secret }
    }

    /// The replacement for `uid`. Trailing padding (NUL or space, PS3.5 §6.2) and surrounding
    /// white space are not part of a UID, so `"1.2.3\0"` and `"1.2.3"` map alike.
    pub fn map(&self, uid: &str) -> String {
        let uid = uid.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        let digest = self.secret.derive("corelab-uid-v1", uid.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
        format!("2.25.{}", u128::from_be_bytes(bytes))
    }
}

/// Whether `uid` has the form PS3.5 §9.1 requires: 1 to 64 characters, components of digits
/// separated by single periods, no leading zero in a component other than `0` itself.
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(seed: u8) -> UidMapper {
        UidMapper::new(TrialSecret::from_bytes([seed; 32]))
    }

    #[test]
    fn the_same_uid_maps_alike_padding_or_not_and_differs_between_trials() {
        let m = mapper(1);
        let a = m.map("1.2.840.113619.2.55.3.604688119.969.1268071029.320");
        assert_eq!(
            a,
            m.map("1.2.840.113619.2.55.3.604688119.969.1268071029.320\0")
        );
        assert_eq!(
            a,
            mapper(1).map(" 1.2.840.113619.2.55.3.604688119.969.1268071029.320 ")
        );
        assert_ne!(
            a,
            mapper(2).map("1.2.840.113619.2.55.3.604688119.969.1268071029.320")
        );
        assert!(
            a.starts_with("2.25.") && is_valid_uid(&a) && a.len() <= 44,
            "{a}"
        );
    }

    #[test]
    fn uid_syntax_is_checked() {
        assert!(is_valid_uid("1.2.840.10008.1.2.1"));
        assert!(is_valid_uid("2.25.0"));
        for bad in ["", "1..2", "1.02", "1.2.", "1.2a", &"1".repeat(65)] {
            assert!(!is_valid_uid(bad), "{bad:?}");
        }
    }
}
