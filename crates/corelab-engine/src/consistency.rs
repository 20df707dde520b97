//! Scanner consistency of a subject across visits: a longitudinal endpoint (atrophy, lesion
//! change, tumour size) assumes the same scanner. A changed manufacturer, model, field strength
//! or software version from the subject's first visit with that modality is flagged on the
//! visit where it appears, for a person to judge (`review`): it may be harmless (a minor
//! software update) or break comparability (another vendor).

use crate::conformance::format_number;
use crate::report::{Check, Status};
use corelab_dicom::acquisition::Acquisition;

/// The scanner of one series, at a visit (its index in the schedule).
#[derive(Clone, Debug, PartialEq)]
pub struct Scan<'a> {
    /// The visit's index in the schedule.
    pub visit: usize,
    /// The series' acquisition.
    pub acquisition: &'a Acquisition,
}

/// The changes from each modality's first visit, as `(visit index, check)`; a change is
/// reported once per visit and attribute.
pub fn scanner_changes(scans: &[Scan<'_>]) -> Vec<(usize, Check)> {
    let mut sorted: Vec<&Scan<'_>> = scans.iter().collect();
    sorted.sort_by_key(|s| s.visit);
    let mut out: Vec<(usize, Check)> = Vec::new();
    for (n, s) in sorted.iter().enumerate() {
        let modality = s.acquisition.modality.as_deref().unwrap_or("");
        let Some(first) = sorted[..n]
            .iter()
            .find(|f| f.acquisition.modality.as_deref().unwrap_or("") == modality)
        else {
            continue;
        };
        if first.visit == s.visit {
            continue;
        }
        let (a, b) = (first.acquisition, s.acquisition);
        let attributes: [(&str, Option<String>, Option<String>); 4] = [
            (
                "scanner.manufacturer",
                a.manufacturer.clone(),
                b.manufacturer.clone(),
            ),
            ("scanner.model", a.model.clone(), b.model.clone()),
            (
                "scanner.field_strength_t",
                a.field_strength_t.map(format_number),
                b.field_strength_t.map(format_number),
            ),
            (
                "scanner.software_versions",
                a.software_versions.clone(),
                b.software_versions.clone(),
            ),
        ];
        for (item, before, now) in attributes {
            let norm = |v: &Option<String>| v.as_deref().map(|t| t.trim().to_ascii_lowercase());
            if norm(&before) == norm(&now) {
                continue;
            }
            if out.iter().any(|(v, c)| *v == s.visit && c.item == item) {
                continue;
            }
            let show = |v: Option<String>| v.unwrap_or_else(|| "(none)".into());
            out.push((
                s.visit,
                Check::new(
                    item,
                    Some(show(now)),
                    format!("{} as at the first {modality} visit", show(before)),
                    Status::Review,
                )
                .note(format!(
                    "{modality} scanner changed since the subject's first visit: longitudinal comparability"
                )),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mr(model: &str, software: &str) -> Acquisition {
        Acquisition {
            modality: Some("MR".into()),
            manufacturer: Some("GE MEDICAL SYSTEMS".into()),
            model: Some(model.into()),
            software_versions: Some(software.into()),
            field_strength_t: Some(3.0),
            ..Default::default()
        }
    }

    #[test]
    fn flags_a_changed_model_and_software_on_the_visit_it_appears() {
        let (a, b, c) = (
            mr("DISCOVERY MR750", "DV26"),
            mr("DISCOVERY MR750", "DV26"),
            mr("SIGNA Premier", "RX29"),
        );
        let scans = [
            Scan {
                visit: 0,
                acquisition: &a,
            },
            Scan {
                visit: 0,
                acquisition: &b,
            },
            Scan {
                visit: 2,
                acquisition: &c,
            },
            Scan {
                visit: 2,
                acquisition: &c,
            },
        ];
        let changes = scanner_changes(&scans);
        let items: Vec<(usize, &str)> =
            changes.iter().map(|(v, c)| (*v, c.item.as_str())).collect();
        assert_eq!(
            items,
            vec![(2, "scanner.model"), (2, "scanner.software_versions")]
        );
        assert_eq!(changes[0].1.measured.as_deref(), Some("SIGNA Premier"));
    }

    #[test]
    fn the_same_scanner_or_another_modality_is_no_change() {
        let a = mr("Ingenia", "5.7.1");
        let ct = Acquisition {
            modality: Some("CT".into()),
            model: Some("IQon".into()),
            ..Default::default()
        };
        let scans = [
            Scan {
                visit: 0,
                acquisition: &a,
            },
            Scan {
                visit: 1,
                acquisition: &ct,
            },
            Scan {
                visit: 1,
                acquisition: &a,
            },
        ];
        assert!(scanner_changes(&scans).is_empty());
    }
}
