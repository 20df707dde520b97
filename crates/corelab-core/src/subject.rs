//! How a trial names its subjects: the `[deid] subject_id` template of `trial.toml`.
//!
//! A template is text with placeholders: `{site}` (the site id), `{seq:N}` (the subject's number
//! at its site, from 1, zero-padded to N digits) and `{hash:N}` (N upper-case hexadecimal digits
//! keyed by the trial secret and the site's own patient ID, so the same patient always gets the
//! same ID without any shared state). The default is `SUBJ-{hash:12}`, the pseudonym a site gateway
//! computes on its own with the trial secret. A site may also assign IDs itself; those take
//! precedence over the template.

use crate::secret::TrialSecret;
use serde::{Deserialize, Serialize};

/// The default template.
pub const DEFAULT_SUBJECT_ID: &str = "SUBJ-{hash:12}";

/// A subject-ID template that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("subject ID template {template:?}: {why}")]
pub struct SubjectIdError {
    template: String,
    why: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Site,
    Seq(usize),
    Hash(usize),
}

/// A parsed subject-ID template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubjectIdRule {
    text: String,
    #[serde(skip)]
    parts: Vec<Part>,
}

impl Default for SubjectIdRule {
    fn default() -> Self {
        DEFAULT_SUBJECT_ID
            .parse()
            .unwrap_or_else(|_| unreachable!("the default template parses"))
    }
}

impl std::str::FromStr for SubjectIdRule {
    type Err = SubjectIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| SubjectIdError {
            template: text.to_owned(),
            why: why.to_owned(),
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| err("a '{' without its '}'"))?;
            let inner = &rest[open + 1..open + close];
            let (name, width) = match inner.split_once(':') {
                Some((n, w)) => (
                    n,
                    Some(
                        w.parse::<usize>()
                            .ok()
                            .filter(|w| (1..=32).contains(w))
                            .ok_or_else(|| err("a width must be a number from 1 to 32"))?,
                    ),
                ),
                None => (inner, None),
            };
            parts.push(match (name, width) {
                ("site", None) => Part::Site,
                ("seq", w) => Part::Seq(w.unwrap_or(1)),
                ("hash", Some(w)) if w >= 8 => Part::Hash(w),
                ("hash", _) => {
                    return Err(err(
                        "{hash:N} needs N of at least 8 digits, or IDs would collide",
                    ));
                }
                _ => {
                    return Err(err(&format!(
                        "unknown placeholder {{{inner}}}; use {{site}}, {{seq:N}} or {{hash:N}}"
                    )));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        let unique = parts
            .iter()
            .any(|p| matches!(p, Part::Seq(_) | Part::Hash(_)));
        if !unique {
            return Err(err(
                "must contain {seq:N} or {hash:N}, or every subject would get the same ID",
            ));
        }
        let literal: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        if literal.len() > 40
            || literal
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            return Err(err(
                "its text may hold only letters, digits, '-', '_' and '.' (a DICOM LO value)",
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }
}

impl TryFrom<String> for SubjectIdRule {
    type Error = SubjectIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SubjectIdRule> for String {
    fn from(r: SubjectIdRule) -> String {
        r.text
    }
}

impl SubjectIdRule {
    /// Whether the template numbers subjects per site (then a shared counter is needed).
    pub fn uses_sequence(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Seq(_)))
    }

    /// The ID of the `seq`-th subject of `site`, known there as `patient_id`.
    pub fn render(&self, secret: &TrialSecret, site: &str, seq: u64, patient_id: &str) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Site => out.push_str(site),
                Part::Seq(w) => out.push_str(&format!("{seq:0w$}")),
                Part::Hash(w) => {
                    let hex = hash_hex(secret, patient_id);
                    out.push_str(&hex[..(*w).min(hex.len())]);
                }
            }
        }
        out
    }
}

/// 64 upper-case hexadecimal digits keyed by the trial secret and a site's patient ID.
pub fn hash_hex(secret: &TrialSecret, patient_id: &str) -> String {
    secret
        .derive("corelab-subject-v1", patient_id.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_placeholder() {
        let s = TrialSecret::from_bytes([3; 32]);
        let r: SubjectIdRule = "{site}-{seq:4}".parse().unwrap();
        assert_eq!(r.render(&s, "S01", 7, "MRN1"), "S01-0007");
        assert!(r.uses_sequence());
        let d = SubjectIdRule::default();
        let id = d.render(&s, "S01", 1, "MRN1");
        assert_eq!(id.len(), 17);
        assert!(id.starts_with("SUBJ-"));
        assert_eq!(id, d.render(&s, "S02", 9, " MRN1 "));
        assert_ne!(id, d.render(&s, "S01", 1, "MRN2"));
    }

    #[test]
    fn refuses_templates_that_cannot_name_subjects_apart() {
        for (bad, why) in [
            ("SUBJ", "must contain"),
            ("{site}", "must contain"),
            ("X-{hash:4}", "at least 8"),
            ("X-{seq:0}", "width"),
            ("X-{nope}", "unknown placeholder"),
            ("X {seq:3}", "letters, digits"),
            ("X-{seq:3", "without its"),
        ] {
            let e = bad.parse::<SubjectIdRule>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
