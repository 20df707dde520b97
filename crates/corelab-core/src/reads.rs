//! The trial's central-read design (`[reads]` in `trial.toml`): what readers assess (the
//! criteria), how many read each subject and who resolves their disagreements (the paradigm),
//! which series they see, what share of subjects is read, what makes an adjudication, and the
//! pools of readers and adjudicators (user names).

use crate::problem::{FieldPath, Findings};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What readers assess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criteria {
    /// RECIST 1.1: target lesions' diameters, non-target lesions' state, new lesions; the
    /// engine's `onco.recist11` rules give each time point's response.
    Recist11,
    /// RANO (high-grade glioma): enhancing targets' perpendicular diameters, non-enhancing and
    /// non-target disease, new lesions, corticosteroids and clinical status; `onco.rano`'s rules.
    Rano,
    /// A lesion-count read (MS): lesions marked at each time point, new and enlarging ones at
    /// follow-up; a follow-up is active when it has any.
    LesionCount,
    /// A free-form read: an impression per time point in the reader's words; the response is
    /// what the reader states.
    FreeForm,
}

impl Criteria {
    /// The name as written in `trial.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Criteria::Recist11 => "recist11",
            Criteria::Rano => "rano",
            Criteria::LesionCount => "lesion-count",
            Criteria::FreeForm => "free-form",
        }
    }
}

impl fmt::Display for Criteria {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many readers read a subject, and what follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Paradigm {
    /// One reader per subject.
    Single,
    /// Two independent readers per subject; an adjudicator resolves a disagreement.
    Double,
}

impl Paradigm {
    /// Readers per subject.
    pub fn readers(self) -> usize {
        match self {
            Paradigm::Single => 1,
            Paradigm::Double => 2,
        }
    }
}

/// What makes two reads of a subject go to adjudication; any one that holds does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// The readers' responses differ at any time point.
    #[serde(default = "yes")]
    pub response_differs: bool,
    /// RECIST: the sum of diameters at any time point differs by more than this percentage of
    /// the larger sum.
    pub sld_differs_percent: Option<f64>,
    /// RANO: the sums of products of diameters at any time point differ by more than this
    /// percentage of the larger sum.
    pub spd_differs_percent: Option<f64>,
    /// Lesion count: the counts at any time point differ by more than this.
    pub count_differs_by: Option<u32>,
}

fn yes() -> bool {
    true
}

fn hundred() -> f64 {
    100.0
}

/// The `[reads]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadDesign {
    /// What readers assess.
    pub criteria: Criteria,
    /// One reader or two with adjudication.
    pub paradigm: Paradigm,
    /// The series roles readers see at each time point.
    pub roles: Vec<String>,
    /// The share of subjects read, 0–100 (chosen by a hash of the subject, so the same subjects
    /// every time).
    #[serde(default = "hundred")]
    pub sampling_percent: f64,
    /// Whether a reader's cases come in a random order (fixed per reader), else by case label.
    #[serde(default)]
    pub randomise: bool,
    /// Sequential locked reads: a reader sees time point N+1 only once they locked N, and a
    /// locked time point's findings never change (later images cannot sway earlier ones).
    #[serde(default)]
    pub sequential: bool,
    /// The readers' user names.
    pub readers: Vec<String>,
    /// The adjudicators' user names (needed for the double paradigm).
    #[serde(default)]
    pub adjudicators: Vec<String>,
    /// What sends a subject to adjudication.
    #[serde(default)]
    pub adjudicate: Triggers,
}

impl ReadDesign {
    /// Adds every problem of the design to `found`; `roles` are the trial's series roles.
    pub(crate) fn check(&self, roles: &[&str], found: &mut Findings) {
        let at = FieldPath::keys("reads");
        if self.roles.is_empty() {
            found.add(at.key("roles"), "name the series roles readers see");
        }
        for (i, r) in self.roles.iter().enumerate() {
            if !roles.contains(&r.as_str()) {
                let known = roles;
                found.add(
                    at.key("roles").at(i),
                    format!(
                        "{r:?} is not a series role of the trial ({})",
                        known.join(", ")
                    ),
                );
            }
        }
        if !(self.sampling_percent > 0.0 && self.sampling_percent <= 100.0) {
            found.add(
                at.key("sampling_percent"),
                format!(
                    "{} is not a percentage above 0 and at most 100",
                    self.sampling_percent
                ),
            );
        }
        let mut pool = |key: &str, names: &[String], need: usize| {
            for (i, n) in names.iter().enumerate() {
                if n.trim().is_empty() {
                    found.add(at.key(key).at(i), "an empty user name");
                } else if names[..i].contains(n) {
                    found.add(at.key(key).at(i), format!("{n:?} is listed twice"));
                }
            }
            if names.len() < need {
                found.add(
                    at.key(key),
                    format!(
                        "the {} paradigm needs at least {need} here, not {}",
                        match self.paradigm {
                            Paradigm::Single => "single",
                            Paradigm::Double => "double",
                        },
                        names.len()
                    ),
                );
            }
        };
        pool("readers", &self.readers, self.paradigm.readers());
        let adjudicators = usize::from(self.paradigm == Paradigm::Double);
        pool("adjudicators", &self.adjudicators, adjudicators);
        if let Some(p) = self.adjudicate.sld_differs_percent
            && !(p.is_finite() && p >= 0.0)
        {
            found.add(
                at.key("adjudicate").key("sld_differs_percent"),
                "must be a percentage of 0 or more",
            );
        }
        if self.adjudicate.sld_differs_percent.is_some() && self.criteria != Criteria::Recist11 {
            found.add(
                at.key("adjudicate").key("sld_differs_percent"),
                "applies to RECIST 1.1 reads only",
            );
        }
        if let Some(p) = self.adjudicate.spd_differs_percent
            && !(p.is_finite() && p >= 0.0)
        {
            found.add(
                at.key("adjudicate").key("spd_differs_percent"),
                "must be a percentage of 0 or more",
            );
        }
        if self.adjudicate.spd_differs_percent.is_some() && self.criteria != Criteria::Rano {
            found.add(
                at.key("adjudicate").key("spd_differs_percent"),
                "applies to RANO reads only",
            );
        }
        if self.adjudicate.count_differs_by.is_some() && self.criteria != Criteria::LesionCount {
            found.add(
                at.key("adjudicate").key("count_differs_by"),
                "applies to lesion-count reads only",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrialFile;

    const HEAD: &str = "[trial]\nid = \"T1\"\nsponsor = \"S\"\nprotocol = \"P\"\nphase = \"III\"\n\
        [[visits]]\nname = \"baseline\"\nday = 0\nrequired = [\"FLAIR\"]\n\
        [roles.FLAIR]\nmatch = { modality = [\"MR\"] }\n";

    #[test]
    fn a_double_read_design_parses() {
        let t = TrialFile::parse(&format!(
            "{HEAD}[reads]\ncriteria = \"lesion-count\"\nparadigm = \"double\"\nroles = [\"FLAIR\"]\n\
             readers = [\"r1\", \"r2\"]\nadjudicators = [\"a1\"]\nrandomise = true\n\
             [reads.adjudicate]\ncount_differs_by = 2\n"
        ))
        .unwrap();
        let r = t.reads.unwrap();
        assert_eq!(r.criteria, Criteria::LesionCount);
        assert_eq!(r.paradigm.readers(), 2);
        assert!(r.adjudicate.response_differs);
        assert_eq!(r.adjudicate.count_differs_by, Some(2));
        assert_eq!(r.sampling_percent, 100.0);
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let e = TrialFile::parse(&format!(
            "{HEAD}[reads]\ncriteria = \"recist11\"\nparadigm = \"double\"\nroles = [\"CT\"]\n\
             readers = [\"r1\", \"r1\"]\nsampling_percent = 0\n\
             [reads.adjudicate]\ncount_differs_by = 2\n"
        ))
        .unwrap_err()
        .to_string();
        for what in [
            "reads.roles[0]",
            "\"CT\" is not a series role",
            "reads.readers[1]",
            "listed twice",
            "reads.adjudicators",
            "reads.sampling_percent",
            "reads.adjudicate.count_differs_by",
        ] {
            assert!(e.contains(what), "{what} missing from {e}");
        }
        let e = TrialFile::parse(&format!(
            "{HEAD}[reads]\ncriteria = \"mrecist\"\nparadigm = \"single\"\nroles = [\"FLAIR\"]\nreaders = [\"r\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("mrecist"), "{e}");
    }
}
