//! Which role of the protocol a series is, by its role's `[roles.NAME.match]` rule on the
//! de-identified header. Exactly one role matching classifies the series; several matching
//! is ambiguous and none is unmatched: both go to review (or unmatched series are listed and
//! left alone when the protocol says `[qc] unmatched = "ignore"`), never silently dropped.

use corelab_core::protocol::{MatchRule, Range, RoleSpec, glob_match};
use corelab_dicom::acquisition::Acquisition;
use std::collections::BTreeMap;

/// What a series was classified as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classification {
    /// Exactly this role matched.
    Role(String),
    /// Several roles matched.
    Ambiguous(Vec<String>),
    /// No role matched.
    Unmatched,
}

/// Classifies a series' acquisition by the protocol's roles.
pub fn classify(roles: &BTreeMap<String, RoleSpec>, a: &Acquisition) -> Classification {
    let matched: Vec<String> = roles
        .iter()
        .filter(|(_, role)| matches(&role.matching, a))
        .map(|(name, _)| name.clone())
        .collect();
    match matched.len() {
        0 => Classification::Unmatched,
        1 => Classification::Role(matched.into_iter().next().unwrap_or_default()),
        _ => Classification::Ambiguous(matched),
    }
}

/// Whether every condition the rule gives holds for the acquisition. A value the rule asks
/// about and the header lacks does not match.
pub fn matches(rule: &MatchRule, a: &Acquisition) -> bool {
    let any_equal = |wanted: &[String], have: Option<&String>| {
        wanted.is_empty()
            || have.is_some_and(|h| wanted.iter().any(|w| w.eq_ignore_ascii_case(h.trim())))
    };
    let any_among = |wanted: &[String], have: &[String]| {
        wanted.is_empty()
            || wanted
                .iter()
                .any(|w| have.iter().any(|h| h.eq_ignore_ascii_case(w.trim())))
    };
    let texts: Vec<&str> = [&a.series_description, &a.protocol_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let described = rule.description.is_empty()
        || rule
            .description
            .iter()
            .any(|p| texts.iter().any(|t| glob_match(p, t)));
    let excluded = rule
        .exclude_description
        .iter()
        .any(|p| texts.iter().any(|t| glob_match(p, t)));
    let in_range = |range: &Option<Range>, v: Option<f64>| match range {
        None => true,
        Some(r) => v.is_some_and(|v| r.contains(v)),
    };
    let contrast = match rule.contrast {
        None => true,
        Some(wanted) => a.contrast_agent.is_some() == wanted,
    };
    any_equal(&rule.modality, a.modality.as_ref())
        && any_equal(&rule.sop_class, a.sop_class_uid.as_ref())
        && described
        && !excluded
        && any_among(&rule.scanning_sequence, &a.scanning_sequence)
        && any_among(&rule.sequence_variant, &a.sequence_variant)
        && rule.mr_acquisition_type.as_ref().is_none_or(|t| {
            a.mr_acquisition_type
                .as_ref()
                .is_some_and(|h| h.eq_ignore_ascii_case(t))
        })
        && contrast
        && any_among(&rule.image_type, &a.image_type)
        && in_range(&rule.tr_ms, a.repetition_time_ms)
        && in_range(&rule.te_ms, a.echo_time_ms)
        && in_range(&rule.ti_ms, a.inversion_time_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_core::TrialFile;

    const PROTOCOL: &str = r#"
[trial]
id = "MS-1"
sponsor = "S"
protocol = "P"
phase = "II"

[deid]
options = ["clean-descriptors"]

[roles.T1w.match]
modality = ["MR"]
description = ["*T1*", "*BRAVO*", "*TFE*"]
exclude_description = ["*FLAIR*"]
mr_acquisition_type = "3D"

[roles.FLAIR.match]
modality = ["MR"]
description = ["*FLAIR*", "*dark-fluid*"]
ti_ms = [1500, 3000]

[roles.CT_CHEST.match]
modality = ["CT"]
contrast = true
"#;

    fn roles() -> BTreeMap<String, RoleSpec> {
        TrialFile::parse(PROTOCOL).unwrap().roles
    }

    fn mr(description: &str, kind: &str, ti: Option<f64>) -> Acquisition {
        Acquisition {
            modality: Some("MR".into()),
            series_description: Some(description.into()),
            mr_acquisition_type: Some(kind.into()),
            inversion_time_ms: ti,
            ..Default::default()
        }
    }

    #[test]
    fn classifies_each_vendors_naming_into_its_role() {
        let roles = roles();
        for d in ["T1 MPRAGE SAG", "SAG 3D BRAVO", "T1W_3D_TFE SAG"] {
            assert_eq!(
                classify(&roles, &mr(d, "3D", None)),
                Classification::Role("T1w".into()),
                "{d}"
            );
        }
        for d in ["t2_tirm_tra_dark-fluid", "AX T2 FLAIR", "AX FLAIR"] {
            assert_eq!(
                classify(&roles, &mr(d, "2D", Some(2500.0))),
                Classification::Role("FLAIR".into()),
                "{d}"
            );
        }
    }

    #[test]
    fn a_value_the_rule_needs_and_the_header_lacks_does_not_match() {
        let roles = roles();
        assert_eq!(
            classify(&roles, &mr("AX FLAIR", "2D", None)),
            Classification::Unmatched
        );
        let ct = Acquisition {
            modality: Some("CT".into()),
            ..Default::default()
        };
        assert_eq!(classify(&roles, &ct), Classification::Unmatched);
        let with_contrast = Acquisition {
            contrast_agent: Some("IOPAMIDOL".into()),
            ..ct
        };
        assert_eq!(
            classify(&roles, &with_contrast),
            Classification::Role("CT_CHEST".into())
        );
    }

    #[test]
    fn a_series_matching_two_roles_is_ambiguous() {
        let roles = roles();
        // Exclusion keeps "T1 FLAIR" out of T1w; a 3-D "T1 dark-fluid" matches both.
        assert_eq!(
            classify(&roles, &mr("T1 FLAIR 3D", "3D", Some(2000.0))),
            Classification::Role("FLAIR".into())
        );
        assert_eq!(
            classify(&roles, &mr("T1 dark-fluid", "3D", Some(2000.0))),
            Classification::Ambiguous(vec!["FLAIR".into(), "T1w".into()])
        );
    }

    #[test]
    fn an_empty_description_matches_no_description_pattern() {
        let roles = roles();
        let a = Acquisition {
            modality: Some("MR".into()),
            mr_acquisition_type: Some("3D".into()),
            ..Default::default()
        };
        assert_eq!(classify(&roles, &a), Classification::Unmatched);
    }
}
