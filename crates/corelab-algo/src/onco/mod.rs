//! Oncology: the tumour response criteria a trial's imaging endpoint is read by — RECIST 1.1
//! (solid tumours, unidimensional) and RANO (high-grade glioma, bidimensional) — on one lesion
//! model read from corelab's lesion JSON or from SDTM TU + TR tables, with the responses written
//! as SDTM RS rows. Each method is documented in `docs/algorithms/onco.*.md`.

#[cfg(test)]
pub(crate) mod ct_testing;
pub mod lesion_seg;
pub mod lesions;
pub mod rano;
pub mod recist11;
pub mod response;
pub mod rs;
pub mod sdtm;
#[cfg(test)]
pub(crate) mod testing;
pub mod tracking;

use crate::{AlgoError, DocumentFormat, Inputs, ParamKind, ParamSpec, ParamValue, Params};
use lesions::{RuleError, Subject};

pub use lesion_seg::LesionSeg;
pub use rano::Rano;
pub use recist11::Recist11;
pub use tracking::LesionTrack;

/// New lesions at a time point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewLesions {
    /// None reported.
    None,
    /// Only equivocal ones, not (yet) confirmed.
    Equivocal,
    /// At least one unequivocal, or an equivocal one that a later visit confirms (progression
    /// then dates from the first sighting: RECIST 1.1 §4.3.4, new lesions).
    Unequivocal,
}

impl NewLesions {
    /// The numeric code written in tables: 0 none, 1 unequivocal, 2 equivocal.
    pub fn code(self) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Unequivocal => 1.0,
            Self::Equivocal => 2.0,
        }
    }
}

/// The new-lesion status of each visit (baseline: none). A new lesion reported equivocal and
/// later unequivocal counts as unequivocal from its first report.
pub fn new_lesions_by_visit(subject: &Subject) -> Vec<NewLesions> {
    let confirmed: std::collections::BTreeSet<&str> = subject
        .visits
        .iter()
        .flat_map(|v| v.new_lesions.iter())
        .filter(|n| !n.equivocal)
        .map(|n| n.id.as_str())
        .collect();
    subject
        .visits
        .iter()
        .map(|v| {
            if v.new_lesions
                .iter()
                .any(|n| confirmed.contains(n.id.as_str()))
            {
                NewLesions::Unequivocal
            } else if v.new_lesions.is_empty() {
                NewLesions::None
            } else {
                NewLesions::Equivocal
            }
        })
        .collect()
}

/// The input roles both engines take.
pub(crate) fn input_roles() -> Vec<crate::InputRole> {
    vec![
        crate::InputRole {
            role: "lesions",
            kind: crate::InputKind::Table,
            required: true,
            description: "one subject's lesions and visits: corelab lesion JSON, or an SDTM TR table (CSV) with its TU given as `tu`",
        },
        crate::InputRole {
            role: "tu",
            kind: crate::InputKind::Table,
            required: false,
            description: "the SDTM TU table (CSV) identifying the lesions of the TR given as `lesions`",
        },
    ]
}

/// The parameter choosing whose read of SDTM tables is used.
pub(crate) fn evaluator_param() -> ParamSpec {
    ParamSpec {
        name: "evaluator",
        kind: ParamKind::Choice {
            values: &["accepted", "investigator", "only"],
        },
        default: ParamValue::Choice("accepted".into()),
        unit: None,
        description: "SDTM input only: whose read to assess — accepted (rows flagged TRACPTFL = Y, the adjudicated read), investigator (TREVAL = INVESTIGATOR), or only (the tables must hold one evaluator's read)",
    }
}

/// The subject of the inputs: the JSON document, or TR (`lesions`) with TU (`tu`).
pub(crate) fn read_subject(inputs: &Inputs, params: &Params) -> Result<Subject, AlgoError> {
    let input_err = |role: &str, e: RuleError| AlgoError::Input {
        role: role.to_owned(),
        why: e.to_string(),
    };
    let lesions = inputs.document("lesions").ok_or_else(|| AlgoError::Input {
        role: "lesions".into(),
        why: "missing (a CSV or JSON document)".into(),
    })?;
    match lesions.format {
        DocumentFormat::Json => {
            if inputs.contains_key("tu") {
                return Err(AlgoError::Input {
                    role: "tu".into(),
                    why: "given with lesion JSON, which identifies the lesions itself".into(),
                });
            }
            lesions::from_json(&lesions.text).map_err(|e| input_err("lesions", e))
        }
        DocumentFormat::Csv => {
            let tu = inputs.document("tu").ok_or_else(|| AlgoError::Input {
                role: "tu".into(),
                why: format!(
                    "required with an SDTM TR table as lesions ({}): TU identifies its lesions",
                    lesions.source
                ),
            })?;
            let word = params.choice("evaluator").unwrap_or("accepted");
            let evaluator = sdtm::Evaluator::parse(word).ok_or_else(|| AlgoError::Param {
                name: "evaluator".into(),
                why: format!("{word:?}: accepted, investigator or only"),
            })?;
            let subject = params.text("subject").filter(|s| !s.is_empty());
            sdtm::read(&tu.text, &lesions.text, subject, evaluator)
                .map_err(|e| input_err("lesions", e))
        }
    }
}

/// The subject to read from SDTM tables that hold several (empty: the tables must hold one).
pub(crate) fn subject_param() -> ParamSpec {
    ParamSpec {
        name: "subject",
        kind: ParamKind::Text { max_chars: 64 },
        default: ParamValue::Text(String::new()),
        unit: None,
        description: "with SDTM TU + TR: the USUBJID to assess when the tables hold several subjects (empty: they must hold exactly one); not used with lesion JSON",
    }
}

/// The best-overall-response parameters both engines take.
pub(crate) fn best_params(min_sd_default: i64) -> Vec<ParamSpec> {
    vec![
        ParamSpec {
            name: "confirm",
            kind: ParamKind::Boolean,
            default: ParamValue::Boolean(true),
            unit: None,
            description: "whether CR and PR need confirming by a later assessment (RECIST 1.1: in non-randomised trials with response as primary endpoint; RANO: always)",
        },
        ParamSpec {
            name: "confirmation-interval",
            kind: ParamKind::Integer { min: 1, max: 365 },
            default: ParamValue::Integer(28),
            unit: Some("d"),
            description: "the least days between a response and the assessment confirming it (4 weeks)",
        },
        ParamSpec {
            name: "min-sd-duration",
            kind: ParamKind::Integer { min: 0, max: 730 },
            default: ParamValue::Integer(min_sd_default),
            unit: Some("d"),
            description: "the protocol's minimum days from the reference date (baseline, or the lesion JSON's reference_date) for stable disease to be the best response",
        },
    ]
}

/// The best-overall-response rules from validated parameters.
pub(crate) fn best_rules(params: &Params) -> response::BestRules {
    response::BestRules {
        confirm: params.boolean("confirm").unwrap_or(true),
        confirmation_days: params.integer("confirmation-interval").unwrap_or(28),
        min_sd_days: params.integer("min-sd-duration").unwrap_or(42),
    }
}

/// One time point as both engines report it: `size` is RECIST's sum of diameters (mm) or RANO's
/// sum of products (mm²).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reported {
    /// Days since the reference date.
    pub day: i64,
    /// The sum of the targets assessed (mm, or mm² for RANO).
    pub size: f64,
    /// Whether every target was assessed.
    pub complete: bool,
    /// Change of the size from baseline (%).
    pub change_from_baseline_pct: Option<f64>,
    /// Change of the size from the nadir (%).
    pub change_from_nadir_pct: Option<f64>,
    /// The target response.
    pub target: response::Response,
    /// The non-target response.
    pub non_target: response::Response,
    /// New lesions.
    pub new_lesions: NewLesions,
    /// The overall response.
    pub overall: response::Response,
}

/// An engine's outputs: the `visits` table (one row per time point, baseline first, in the
/// engine's `columns`), the best overall response, the baseline and nadir sizes (named by
/// `sizes`, in `unit`), the day of the first progression, and the SDTM RS dataset (`rs.csv`,
/// RSCAT `criterion`).
pub(crate) fn report(
    subject: &Subject,
    criterion: &str,
    columns: &[(&str, &str)],
    points: &[Reported],
    best: response::Response,
    sizes: [(&str, Option<f64>); 2],
    unit: &str,
) -> crate::Outputs {
    let rows = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            vec![
                i as f64,
                p.day as f64,
                p.size,
                if p.complete { 1.0 } else { 0.0 },
                p.change_from_baseline_pct.unwrap_or(0.0),
                p.change_from_nadir_pct.unwrap_or(0.0),
                p.target.code(),
                p.non_target.code(),
                p.new_lesions.code(),
                p.overall.code(),
            ]
        })
        .collect();
    let m = crate::image::measurement;
    let mut measurements = vec![m("best-overall-response", best.code(), "1")];
    for (name, size) in sizes {
        if let Some(v) = size {
            measurements.push(m(name, v, unit));
        }
    }
    if let Some(p) = points.iter().find(|p| p.overall == response::Response::Pd) {
        measurements.push(m("progression-day", p.day as f64, "d"));
    }
    crate::Outputs {
        measurements,
        images: Vec::new(),
        tables: vec![crate::Table {
            name: "visits".into(),
            columns: columns.iter().map(|c| c.0.to_owned()).collect(),
            rows,
        }],
        documents: vec![crate::OutputDocument {
            name: "rs.csv".into(),
            text: rs::dataset(subject, criterion, points, best),
        }],
    }
}
