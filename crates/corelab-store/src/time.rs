//! Timestamps as the store keeps them: UTC, RFC 3339, always six fractional digits, so that the
//! same instant has one text on every backend and in every hash.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, in the store's text form.
pub fn now_text() -> String {
    to_text(Utc::now())
}

/// `t` in the store's text form, e.g. `2026-11-22T23:20:00.123456Z`.
pub fn to_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_has_microseconds_and_z() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(super::to_text(t.into()), "2026-01-02T03:04:05.000000Z");
    }
}
