//! The minimal form of `trial.toml` that every trial file has (DESIGN.md): the trial, its sites
//! with their calling AE titles, and the de-identification options. Later parts of the protocol
//! (visits, series roles, QC rules, algorithms) extend this file; tables this module does not know
//! are left for them, so a fuller file still parses here.

use crate::ids::{AeTitle, SiteId, TrialId};
use crate::toml_error_line;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A trial file that could not be read, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// Not valid TOML, or a field of the wrong type or form; the message names the key and line.
    #[error("trial file: {0}")]
    Syntax(String),
    /// Well-formed but inconsistent (duplicate ids, an AE title used by two sites, …).
    #[error("trial file: {field}: {why}")]
    Invalid {
        /// The dotted path of the field at fault, e.g. `sites[1].ae_titles[0]`.
        field: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Clinical trial phase, as written in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Phase 0 (exploratory).
    #[serde(rename = "0")]
    Zero,
    /// Phase I.
    I,
    /// Phase Ia.
    Ia,
    /// Phase Ib.
    Ib,
    /// Phase I/II.
    #[serde(rename = "I/II")]
    IToII,
    /// Phase II.
    II,
    /// Phase IIa.
    IIa,
    /// Phase IIb.
    IIb,
    /// Phase II/III.
    #[serde(rename = "II/III")]
    IIToIII,
    /// Phase III.
    III,
    /// Phase IV.
    IV,
}

/// The `[trial]` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialSection {
    /// Unique id, used in commands.
    pub id: TrialId,
    /// The sponsor's name.
    pub sponsor: String,
    /// The sponsor's protocol identifier.
    pub protocol: String,
    /// The trial phase.
    pub phase: Phase,
    /// The disease or condition studied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indication: Option<String>,
}

/// One `[[sites]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// The site id within the trial.
    pub id: SiteId,
    /// The site's name.
    pub name: String,
    /// ISO 3166 country code or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Calling AE titles the site sends from.
    #[serde(default)]
    pub ae_titles: Vec<AeTitle>,
}

/// The `[deid]` table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeidSection {
    /// PS3.15 option names in kebab case; checked by the de-identification module.
    #[serde(default)]
    pub options: Vec<String>,
}

/// A parsed trial file in its minimal form.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrialFile {
    /// The `[trial]` table.
    pub trial: TrialSection,
    /// The `[[sites]]` entries.
    #[serde(default)]
    pub sites: Vec<SiteSpec>,
    /// The `[deid]` table.
    #[serde(default)]
    pub deid: DeidSection,
    /// Tables owned by later parts of the protocol, kept as they were written.
    #[serde(flatten)]
    pub rest: BTreeMap<String, toml::Value>,
}

impl TrialFile {
    /// Parses and checks a trial file's text.
    pub fn parse(text: &str) -> Result<Self, TrialError> {
        let file: TrialFile =
            toml::from_str(text).map_err(|e| TrialError::Syntax(toml_error_line(text, &e)))?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> Result<(), TrialError> {
        let invalid = |field: String, why: String| Err(TrialError::Invalid { field, why });
        let mut site_ids = BTreeMap::new();
        let mut ae_titles = BTreeMap::new();
        for (i, site) in self.sites.iter().enumerate() {
            if let Some(j) = site_ids.insert(site.id.as_str(), i) {
                return invalid(
                    format!("sites[{i}].id"),
                    format!(
                        "site id {:?} is already used by sites[{j}]",
                        site.id.as_str()
                    ),
                );
            }
            if site.name.trim().is_empty() {
                return invalid(format!("sites[{i}].name"), "must not be empty".into());
            }
            for (k, ae) in site.ae_titles.iter().enumerate() {
                if let Some(j) = ae_titles.insert(ae.as_str(), i) {
                    return invalid(
                        format!("sites[{i}].ae_titles[{k}]"),
                        format!(
                            "AE title {:?} is already used by sites[{j}]; calls could not be routed",
                            ae.as_str()
                        ),
                    );
                }
            }
        }
        for (field, value) in [
            ("trial.sponsor", &self.trial.sponsor),
            ("trial.protocol", &self.trial.protocol),
        ] {
            if value.trim().is_empty() {
                return invalid(field.into(), "must not be empty".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[trial]
id = "MS-PHASE2-001"
sponsor = "Example Pharma"
protocol = "EXP-2026-01"
phase = "IIb"

[[sites]]
id = "S01"
name = "University Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

    #[test]
    fn parses_the_minimal_form_from_design_md() {
        let t = TrialFile::parse(MINIMAL).unwrap();
        assert_eq!(t.trial.id.as_str(), "MS-PHASE2-001");
        assert_eq!(t.trial.phase, Phase::IIb);
        assert_eq!(t.sites[0].ae_titles[0].as_str(), "S01PACS");
        assert_eq!(t.deid.options, vec!["retain-long-modified-dates"]);
    }

    #[test]
    fn keeps_tables_that_later_parts_of_the_protocol_own() {
        let t = TrialFile::parse(&format!("{MINIMAL}\n[[visits]]\nname = \"baseline\"\n")).unwrap();
        assert!(t.rest.contains_key("visits"));
    }

    #[test]
    fn rejects_an_unknown_phase_naming_the_field() {
        let e = TrialFile::parse(&MINIMAL.replace("\"IIb\"", "\"IIc\"")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("line 6") && msg.contains("phase = \"IIc\"") && !msg.contains('\n'),
            "{msg}"
        );
    }

    #[test]
    fn rejects_an_ae_title_shared_by_two_sites() {
        let text = format!(
            "{MINIMAL}\n[[sites]]\nid = \"S02\"\nname = \"B\"\nae_titles = [\"S01PACS\"]\n"
        );
        let e = TrialFile::parse(&text).unwrap_err();
        assert!(e.to_string().contains("sites[1].ae_titles[0]"), "{e}");
    }

    #[test]
    fn rejects_a_misspelt_field_in_a_site() {
        let e = TrialFile::parse(&MINIMAL.replace("ae_titles", "ae_title")).unwrap_err();
        assert!(e.to_string().contains("ae_title"), "{e}");
    }
}
