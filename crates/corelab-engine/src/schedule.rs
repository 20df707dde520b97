//! Filing a subject's studies to the protocol's visits, and each visit's day from baseline and
//! window. Dates are the de-identified ones: de-identification shifts all of a subject's dates
//! by one offset, so the days between them are the real ones (a trial that keeps dates at all
//! uses `retain-long-modified-dates`; without dates a study cannot be filed and goes to review).
//!
//! A study whose Clinical Trial Time Point ID names a visit (its `time_point`, or its name) is
//! that visit. The baseline date is that of the study filed to the first visit that way, or
//! else the subject's earliest study. Any other study is filed by its day: to the visit whose
//! window holds it (the nearest target when windows overlap), or else to the visit with the
//! nearest target day, out of window. A protocol of one visit files every study to it.

use chrono::NaiveDate;
use corelab_core::protocol::VisitSpec;

/// A study to file.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyDate {
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Study Date (`YYYYMMDD`), if the header kept one.
    pub date: Option<String>,
    /// Clinical Trial Time Point ID, if sent.
    pub time_point: Option<String>,
}

/// Where a study was filed.
#[derive(Clone, Debug, PartialEq)]
pub struct Filed {
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// The visit's index in the schedule, or `None` (unscheduled).
    pub visit: Option<usize>,
    /// Days from baseline.
    pub day: Option<i64>,
    /// Whether the day lies in the visit's window.
    pub in_window: Option<bool>,
    /// How it was filed, or why it could not be.
    pub how: String,
}

/// A `YYYYMMDD` date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y%m%d").ok()
}

fn names(v: &VisitSpec, time_point: &str) -> bool {
    let tp = time_point.trim();
    v.time_point
        .as_deref()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(tp))
        || v.name.eq_ignore_ascii_case(tp)
}

/// Files one subject's studies. Returns them in the order given, with the baseline date.
pub fn file_studies(
    visits: &[VisitSpec],
    studies: &[StudyDate],
) -> (Option<NaiveDate>, Vec<Filed>) {
    let by_time_point = |s: &StudyDate| {
        s.time_point
            .as_deref()
            .and_then(|tp| visits.iter().position(|v| names(v, tp)))
    };
    let date_of = |s: &StudyDate| s.date.as_deref().and_then(parse_date);
    let baseline = studies
        .iter()
        .filter(|s| by_time_point(s) == Some(0))
        .filter_map(date_of)
        .min()
        .or_else(|| studies.iter().filter_map(date_of).min());
    let filed = studies
        .iter()
        .map(|s| {
            let day = date_of(s).zip(baseline).map(|(d, b)| (d - b).num_days());
            let window = |i: usize, day: i64| {
                let v = &visits[i];
                (day - v.day).abs() <= v.window_days
            };
            let (visit, how) = match (by_time_point(s), day) {
                (Some(i), _) => (
                    Some(i),
                    format!(
                        "Clinical Trial Time Point ID {:?}",
                        s.time_point.as_deref().unwrap_or_default()
                    ),
                ),
                (None, Some(day)) if !visits.is_empty() => {
                    let nearest = |candidates: &mut dyn Iterator<Item = usize>| {
                        candidates.min_by_key(|&i| ((day - visits[i].day).abs(), i))
                    };
                    let inside = nearest(&mut (0..visits.len()).filter(|&i| window(i, day)));
                    match inside {
                        Some(i) => (Some(i), format!("study day {day}")),
                        None => (
                            nearest(&mut (0..visits.len())),
                            format!("study day {day}, nearest target day"),
                        ),
                    }
                }
                (None, Some(_)) => (None, "the protocol has no visits".to_owned()),
                // One visit needs no date to be told apart.
                (None, None) if visits.len() == 1 => (
                    Some(0),
                    "the protocol's only visit (no date to count days from)".to_owned(),
                ),
                (None, None) => (
                    None,
                    match &s.date {
                        Some(d) => format!("Study Date {d:?} is not a date (YYYYMMDD)"),
                        None => "no Study Date (the trial's de-identification may remove dates: keep them with retain-long-modified-dates)".to_owned(),
                    },
                ),
            };
            Filed {
                study_instance_uid: s.study_instance_uid.clone(),
                in_window: visit.zip(day).map(|(i, d)| window(i, d)),
                visit,
                day,
                how,
            }
        })
        .collect();
    (baseline, filed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visits() -> Vec<VisitSpec> {
        let v = |name: &str, day: i64, window_days: i64| VisitSpec {
            name: name.into(),
            day,
            window_days,
            required: vec![],
            optional: vec![],
            time_point: None,
        };
        vec![v("baseline", 0, 0), v("W24", 168, 14), v("W48", 336, 14)]
    }

    fn study(uid: &str, date: Option<&str>, tp: Option<&str>) -> StudyDate {
        StudyDate {
            study_instance_uid: uid.into(),
            date: date.map(Into::into),
            time_point: tp.map(Into::into),
        }
    }

    #[test]
    fn files_studies_by_day_from_the_earliest_and_flags_the_window() {
        let (baseline, filed) = file_studies(
            &visits(),
            &[
                study("b", Some("20260110"), None),
                study("w24", Some("20260630"), None),  // day 171
                study("late", Some("20261231"), None), // day 355: W48 + 19
            ],
        );
        assert_eq!(baseline, parse_date("20260110"));
        let got: Vec<(Option<usize>, Option<i64>, Option<bool>)> = filed
            .iter()
            .map(|f| (f.visit, f.day, f.in_window))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(0), Some(0), Some(true)),
                (Some(1), Some(171), Some(true)),
                (Some(2), Some(355), Some(false)),
            ]
        );
    }

    #[test]
    fn a_time_point_names_the_visit_and_sets_the_baseline() {
        let (baseline, filed) = file_studies(
            &visits(),
            &[
                study("screening", Some("20260101"), Some("SCREEN")),
                study("b", Some("20260110"), Some("baseline")),
                study("w24", Some("20260701"), Some("W24")),
            ],
        );
        assert_eq!(baseline, parse_date("20260110"));
        assert_eq!(
            filed[0].visit,
            Some(0),
            "screening falls on baseline's nearest target"
        );
        assert_eq!(filed[0].in_window, Some(false));
        assert_eq!((filed[1].visit, filed[1].day), (Some(0), Some(0)));
        assert_eq!((filed[2].visit, filed[2].day), (Some(1), Some(172)));
    }

    #[test]
    fn a_study_without_a_date_is_left_unscheduled_with_the_reason() {
        let (_, filed) = file_studies(
            &visits(),
            &[study("x", None, None), study("y", Some("2026-01-10"), None)],
        );
        assert_eq!(filed[0].visit, None);
        assert!(
            filed[0].how.contains("retain-long-modified-dates"),
            "{}",
            filed[0].how
        );
        assert!(filed[1].how.contains("not a date"), "{}", filed[1].how);
        let (_, one) = file_studies(&visits()[..1], &[study("x", None, None)]);
        assert_eq!(
            (one[0].visit, one[0].day, one[0].in_window),
            (Some(0), None, None)
        );
    }
}
