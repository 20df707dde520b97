//! The QC report: every series and visit of a trial with its checks and status, and how a
//! status is rolled up. Statuses order `pass < review < fail`; an item's status is the worst of
//! its checks, and a person's decision (`pass` or `fail` with a reason) stands over the computed
//! one, which is kept beside it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The QC status of a check, a series or a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Conforms.
    Pass,
    /// Nothing received yet for a visit that is not yet known to be missed.
    Pending,
    /// A person must judge (ambiguous, unmatched, unreadable, absurd or missing values).
    Review,
    /// Does not conform to the protocol.
    Fail,
}

impl Status {
    /// The word used in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Pending => "pending",
            Status::Review => "review",
            Status::Fail => "fail",
        }
    }

    /// Whether a person or the site must act on it.
    pub fn is_problem(self) -> bool {
        matches!(self, Status::Review | Status::Fail)
    }
}

/// One check: what was measured, what was required, and the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is checked, e.g. `slice_thickness_mm`, `window`, `scanner.model`.
    pub item: String,
    /// The value found (with its unit where it has one), if any.
    pub measured: Option<String>,
    /// What the protocol requires.
    pub required: String,
    /// The verdict.
    pub status: Status,
    /// Why, when it is not a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Check {
    /// A check with a verdict and no note.
    pub fn new(item: &str, measured: Option<String>, required: String, status: Status) -> Self {
        Self {
            item: item.to_owned(),
            measured,
            required,
            status,
            note: None,
        }
    }

    /// The same check with a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// A one-line account of a check that is not a pass: `item: note (measured …, required …)`.
    pub fn summary(&self) -> String {
        let mut s = self.item.clone();
        if let Some(n) = &self.note {
            s.push_str(": ");
            s.push_str(n);
        }
        match &self.measured {
            Some(m) => s.push_str(&format!(" (found {m}; required {})", self.required)),
            None => s.push_str(&format!(" (required {})", self.required)),
        }
        s
    }
}

/// The worst status of some checks (`pass` when there are none).
pub fn worst<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Status {
    checks
        .into_iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Status::Pass)
}

/// A person's decision standing over a computed status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// `pass` or `fail`.
    pub status: Status,
    /// Why.
    pub reason: String,
    /// Who decided.
    pub actor: String,
    /// When.
    pub at: String,
}

/// QC of one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesQc {
    /// Series Instance UID (de-identified); the target `series:UID` of decisions and queries.
    pub series_instance_uid: String,
    /// The study it belongs to.
    pub study_instance_uid: String,
    /// Modality.
    pub modality: String,
    /// Series Description.
    pub description: Option<String>,
    /// Images in the series.
    pub instances: usize,
    /// The role it was classified as, if exactly one matched.
    pub role: Option<String>,
    /// `role`, `ambiguous` or `unmatched`.
    pub classification: String,
    /// The roles that matched, when several did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// Conformance, plausibility, geometry and quality checks.
    pub checks: Vec<Check>,
    /// Image-quality metrics measured from the pixels, by name.
    pub quality: BTreeMap<String, f64>,
    /// The status computed from the checks.
    pub computed_status: Status,
    /// The status that stands (the decision's, or the computed one).
    pub status: Status,
    /// A person's decision, if one was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// QC of one subject's visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitQc {
    /// The protocol's visit name, or `unscheduled` for studies that could not be filed.
    pub visit: String,
    /// The target day from baseline.
    pub target_day: Option<i64>,
    /// ± days allowed.
    pub window_days: Option<i64>,
    /// The study date (de-identified).
    pub date: Option<String>,
    /// Days from baseline of the visit's study.
    pub day: Option<i64>,
    /// Whether `day` lies in the window.
    pub in_window: Option<bool>,
    /// Required roles.
    pub required: Vec<String>,
    /// Roles received (classified series).
    pub received: Vec<String>,
    /// Required roles not received.
    pub missing: Vec<String>,
    /// Visit-level checks (window, completeness, scanner consistency).
    pub checks: Vec<Check>,
    /// The series filed to this visit.
    pub series: Vec<SeriesQc>,
    /// The status computed from its checks and its series.
    pub computed_status: Status,
    /// The status that stands.
    pub status: Status,
    /// A person's decision, if one was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

impl VisitQc {
    /// The target of decisions and queries about this visit.
    pub fn target(subject: &str, visit: &str) -> String {
        format!("visit:{subject}/{visit}")
    }
}

/// QC of one subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubjectQc {
    /// The subject (pseudonym).
    pub subject: String,
    /// The site.
    pub site: String,
    /// The baseline date the days are counted from (de-identified).
    pub baseline_date: Option<String>,
    /// Each protocol visit (received or not), then any unscheduled studies.
    pub visits: Vec<VisitQc>,
}

/// Counts of statuses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Passed.
    pub pass: usize,
    /// Pending.
    pub pending: usize,
    /// To review.
    pub review: usize,
    /// Failed.
    pub fail: usize,
}

impl Counts {
    fn add(&mut self, s: Status) {
        match s {
            Status::Pass => self.pass += 1,
            Status::Pending => self.pending += 1,
            Status::Review => self.review += 1,
            Status::Fail => self.fail += 1,
        }
    }
}

/// The QC of a trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QcReport {
    /// The trial.
    pub trial: String,
    /// SHA-256 of the trial file it was judged by.
    pub protocol_sha256: String,
    /// Every subject with data.
    pub subjects: Vec<SubjectQc>,
    /// Series counts by status.
    pub series: Counts,
    /// Visit counts by status.
    pub visits: Counts,
}

impl QcReport {
    /// Counts the statuses of the subjects' series and visits.
    pub fn new(trial: &str, protocol_sha256: &str, subjects: Vec<SubjectQc>) -> Self {
        let mut series = Counts::default();
        let mut visits = Counts::default();
        for v in subjects.iter().flat_map(|s| &s.visits) {
            visits.add(v.status);
            for s in &v.series {
                series.add(s.status);
            }
        }
        Self {
            trial: trial.to_owned(),
            protocol_sha256: protocol_sha256.to_owned(),
            subjects,
            series,
            visits,
        }
    }

    /// This (stored) report with `decision` — the latest decision on each target — standing
    /// over the computed statuses again, rolled up as the evaluation does: a scheduled visit that
    /// is not pending is the worst of its own checks and its series' statuses. It shows a stored
    /// evaluation with the decisions made since, without measuring the images again; the next
    /// evaluation gives the same statuses.
    pub fn redecide(self, decision: &dyn Fn(&str) -> Option<Decision>) -> Self {
        let mut subjects = self.subjects;
        for s in &mut subjects {
            for v in &mut s.visits {
                for x in &mut v.series {
                    x.decision = decision(&format!("series:{}", x.series_instance_uid));
                    x.status = x.decision.as_ref().map_or(x.computed_status, |d| d.status);
                }
                if v.target_day.is_some() && v.computed_status != Status::Pending {
                    v.computed_status = worst(&v.checks).max(
                        v.series
                            .iter()
                            .map(|x| x.status)
                            .max()
                            .unwrap_or(Status::Pass),
                    );
                }
                v.decision = decision(&VisitQc::target(&s.subject, &v.visit));
                v.status = v.decision.as_ref().map_or(v.computed_status, |d| d.status);
            }
        }
        Self::new(&self.trial, &self.protocol_sha256, subjects)
    }

    /// Whether anything is to be reviewed or failed.
    pub fn has_problems(&self) -> bool {
        self.series.review + self.series.fail + self.visits.review + self.visits.fail > 0
    }

    /// Every problem as `(target, status, reason)`, series first within each visit: what a
    /// coordinator works through.
    pub fn problems(&self) -> Vec<(String, Status, String)> {
        let mut out = Vec::new();
        for subject in &self.subjects {
            for v in &subject.visits {
                for s in &v.series {
                    if s.status.is_problem() {
                        let target = format!("series:{}", s.series_instance_uid);
                        for c in s.checks.iter().filter(|c| c.status.is_problem()) {
                            out.push((target.clone(), c.status, c.summary()));
                        }
                    }
                }
                if v.status.is_problem() {
                    let target = VisitQc::target(&subject.subject, &v.visit);
                    for c in v.checks.iter().filter(|c| c.status.is_problem()) {
                        out.push((target.clone(), c.status, c.summary()));
                    }
                }
            }
        }
        out
    }
}
