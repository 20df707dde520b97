//! Timestamps as the store keeps them: UTC, RFC 3339, always six fractional digits, so that the
//! same instant has one text on every backend and in every hash.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, in the store's text form.
pub fn now_text() -> String {
    to_text(Utc::now())
}

/// Now plus `d`, in the store's text form (for leases and retry times; compares as text with
/// [`now_text`]). Saturates at the end of year 9999, the last instant whose text still has a
/// four-digit year and so still compares as text.
pub fn now_plus(d: std::time::Duration) -> String {
    let last = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|day| day.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let t = chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .unwrap_or(last);
    to_text(t.min(last))
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

    #[test]
    fn now_plus_compares_as_text_after_now() {
        let now = super::now_text();
        let later = super::now_plus(std::time::Duration::from_secs(3600));
        assert!(later > now, "{later} {now}");
        assert_eq!(later.len(), now.len());
        let far = super::now_plus(std::time::Duration::MAX);
        assert_eq!(far, "9999-12-31T23:59:59.999999Z");
    }
}
