//! Date shifting for the Retain Longitudinal Temporal Information with Modified Dates option
//! (PS3.15 §E.3.6): every date of one subject moves by the same whole number of days, so intervals
//! between visits are preserved exactly, and times are left as they are, so intervals inside a
//! study are too (radiopharmaceutical start time against series time: PET SUV decay correction
//! stays right).
//!
//! The offset is per subject and derived from the trial secret, so it is the same in every file of
//! that subject, from every site, at any time, without a lookup table.

use super::secret::TrialSecret;
use chrono::{Days, NaiveDate};
use std::ops::RangeInclusive;

/// A value that cannot be shifted, with why; the caller then removes it rather than keep it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{vr} value {value:?}: {why}")]
pub struct DateError {
    /// `DA` or `DT`.
    pub vr: &'static str,
    /// The value as found.
    pub value: String,
    /// What is wrong with it.
    pub why: String,
}

/// A whole-day offset applied to every date of one subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateShift {
    days: i64,
}

impl DateShift {
    /// A shift by `days` (negative moves dates earlier).
    pub fn days(days: i64) -> Self {
        Self { days }
    }

    /// The subject's shift: a whole number of days in `range`, derived from the trial secret and
    /// the subject's pseudonym, the same wherever and whenever it is computed.
    pub fn for_subject(secret: &TrialSecret, subject: &str, range: RangeInclusive<i64>) -> Self {
        let d = secret.derive("corelab-date-offset-v1", subject.as_bytes());
        let x = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        let (lo, hi) = (*range.start(), *range.end());
        let width = (hi - lo).unsigned_abs() + 1;
        Self {
            days: lo.min(hi) + (x % width) as i64,
        }
    }

    /// The offset in days.
    pub fn offset_days(&self) -> i64 {
        self.days
    }

    /// Shifts a DA value (`YYYYMMDD`, or the ACR-NEMA `YYYY.MM.DD`), each of several values
    /// separated by `\`. Padding is dropped; an empty value stays empty.
    pub fn shift_da(&self, value: &str) -> Result<String, DateError> {
        self.each(value, "DA", |v| {
            let digits: String =
                if v.len() == 10 && v.as_bytes()[4] == b'.' && v.as_bytes()[7] == b'.' {
                    v.replace('.', "")
                } else {
                    v.to_owned()
                };
            self.shift_yyyymmdd(&digits)
        })
    }

    /// Shifts a DT value (`YYYYMMDDHHMMSS.FFFFFF&ZZXX`, components after the day optional): the
    /// date moves, the time, fraction and UTC offset are kept. A DT with less than a full date
    /// cannot be shifted exactly and is refused.
    pub fn shift_dt(&self, value: &str) -> Result<String, DateError> {
        self.each(value, "DT", |v| {
            if v.len() < 8 || !v.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
                return Err("less than a full date (YYYYMMDD); cannot shift it exactly".into());
            }
            let rest = &v[8..];
            if !rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.".contains(&b))
            {
                return Err("characters other than digits, '.', '+' and '-' after the date".into());
            }
            Ok(format!("{}{rest}", self.shift_yyyymmdd(&v[..8])?))
        })
    }

    fn shift_yyyymmdd(&self, v: &str) -> Result<String, String> {
        if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err("expected YYYYMMDD".into());
        }
        let date =
            NaiveDate::parse_from_str(v, "%Y%m%d").map_err(|_| "not a calendar date".to_owned())?;
        let moved = if self.days >= 0 {
            date.checked_add_days(Days::new(self.days as u64))
        } else {
            date.checked_sub_days(Days::new(self.days.unsigned_abs()))
        };
        let moved =
            moved.ok_or_else(|| format!("shifting by {} days leaves the calendar", self.days))?;
        let text = moved.format("%Y%m%d").to_string();
        if text.len() != 8 {
            return Err(format!(
                "shifting by {} days leaves years 0000-9999",
                self.days
            ));
        }
        Ok(text)
    }

    /// Applies `f` to each of the `\`-separated values, reporting the whole value on failure.
    fn each(
        &self,
        value: &str,
        vr: &'static str,
        f: impl Fn(&str) -> Result<String, String>,
    ) -> Result<String, DateError> {
        let unpad = |v: &str| v.trim_matches(|c: char| c == '\0' || c == ' ').to_owned();
        let trimmed = unpad(value);
        if trimmed.is_empty() {
            return Ok(String::new());
        }
        trimmed
            .split('\\')
            .map(|v| f(&unpad(v)))
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.join("\\"))
            .map_err(|why| DateError {
                vr,
                value: value.to_owned(),
                why,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn da_values_move_by_whole_days_across_months_and_leap_years() {
        let s = DateShift::days(-30);
        assert_eq!(s.shift_da("20240301").unwrap(), "20240131");
        assert_eq!(DateShift::days(1).shift_da("20240228").unwrap(), "20240229");
        assert_eq!(s.shift_da("1999.03.01").unwrap(), "19990130"); // ACR-NEMA form
        assert_eq!(
            s.shift_da("20240301\\20240401 ").unwrap(),
            "20240131\\20240302"
        );
        assert_eq!(s.shift_da("").unwrap(), "");
    }

    #[test]
    fn dt_values_keep_time_fraction_and_utc_offset() {
        let s = DateShift::days(-365);
        assert_eq!(
            s.shift_dt("20250110093015.123456+0100").unwrap(),
            "20240111093015.123456+0100"
        );
        assert_eq!(s.shift_dt("20250110").unwrap(), "20240111");
    }

    #[test]
    fn what_cannot_be_shifted_exactly_is_refused_naming_the_value() {
        let s = DateShift::days(10);
        let e = s.shift_dt("2025").unwrap_err();
        assert_eq!((e.vr, e.value.as_str()), ("DT", "2025"));
        assert!(
            s.shift_da("20250230")
                .unwrap_err()
                .why
                .contains("not a calendar date")
        );
        assert!(
            s.shift_da("2025-01-01")
                .unwrap_err()
                .why
                .contains("YYYYMMDD")
        );
        assert!(s.shift_da("20250101-20250201").is_err()); // a range is a query, not a value
    }

    #[test]
    fn a_subject_s_offset_is_stable_within_range_and_differs_between_subjects() {
        let secret = TrialSecret::from_bytes([7; 32]);
        let a = DateShift::for_subject(&secret, "SUBJ-001", -3650..=-365);
        assert_eq!(a, DateShift::for_subject(&secret, "SUBJ-001", -3650..=-365));
        assert!((-3650..=-365).contains(&a.offset_days()));
        let offsets: std::collections::BTreeSet<i64> = (0..50)
            .map(|i| DateShift::for_subject(&secret, &format!("S{i}"), -3650..=-365).offset_days())
            .collect();
        assert!(offsets.len() > 40, "offsets barely vary: {offsets:?}");
    }
}
