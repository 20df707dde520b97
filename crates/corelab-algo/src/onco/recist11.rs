//! RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228–247): the baseline checked against
//! the guideline's rules (measurability, at most 5 targets and 2 per organ, nodes on their short
//! axis), the sum of diameters, the target, non-target and new-lesion responses of each
//! follow-up, the overall response (Table 1; Table 2 for non-measurable disease only), and the
//! best overall response with or without confirmation (Table 3) and the protocol's minimum
//! duration of stable disease.

use super::lesions::{Lesion, RuleError, State, Subject, TargetSeen, Visit};
use super::response::{BestRules, Response, TimePoint, best_overall, confirmed};
use super::{NewLesions, new_lesions_by_visit};
use crate::{
    AlgoError, Algorithm, DocumentSpec, ImageSpec, InputRole, Inputs, MeasurementSpec, Outputs,
    ParamKind, ParamSpec, ParamValue, Params, TableSpec,
};

#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod tests;

/// The guideline's clauses, as the errors name them.
mod rule {
    pub const MAX_TARGETS: &str = "RECIST 1.1 §4.2: at most 5 target lesions in total";
    pub const PER_ORGAN: &str =
        "RECIST 1.1 §4.2: at most 2 target lesions per organ (lymph nodes are one organ)";
    pub const NODE_SHORT_AXIS: &str =
        "RECIST 1.1 §3.1.1: a lymph node is measured on its short axis";
    pub const NODE_MEASURABLE: &str = "RECIST 1.1 §3.1.1: a lymph node is a measurable target only with a short axis ≥ 15 mm (10 to < 15 mm: pathological, non-target; < 10 mm: normal)";
    pub const MEASURABLE: &str = "RECIST 1.1 §3.1.1: a measurable lesion has a longest diameter ≥ 10 mm by CT (≥ twice the slice thickness when slices are thicker than 5 mm)";
    pub const NON_NODAL_LONG_AXIS: &str =
        "RECIST 1.1 §4.2: a non-nodal lesion is measured on its longest diameter";
    pub const BASELINE_MEASURED: &str =
        "RECIST 1.1 §4.2: every target lesion is measured at baseline";
    pub const SOME_DISEASE: &str =
        "RECIST 1.1 §4.1: a subject is assessed on disease present at baseline";
}

/// The protocol's choices within the guideline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    /// The diameter given a lesion present but too small to measure (the guideline: 5 mm).
    pub too_small_mm: f64,
    /// The CT slice thickness when a visit does not report one (mm).
    pub slice_thickness_mm: f64,
    /// How the best overall response is chosen.
    pub best: BestRules,
    /// The EORTC RECIST working group's FAQ convention: once a PR is assigned (and confirmed,
    /// when confirmation is required), later time points that are neither CR nor PD stay PR.
    /// Off by default: the guideline itself calls such a time point SD.
    pub pr_persists: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            too_small_mm: 5.0,
            slice_thickness_mm: 5.0,
            best: BestRules {
                confirm: true,
                confirmation_days: 28,
                min_sd_days: 42,
            },
            pr_persists: false,
        }
    }
}

/// One time point assessed.
#[derive(Clone, Debug, PartialEq)]
pub struct TimePointResult {
    /// The visit's label.
    pub visit: String,
    /// Days since the reference date.
    pub day: i64,
    /// The sum of diameters of the target lesions assessed (mm).
    pub sum_mm: f64,
    /// Whether every target lesion was assessed (otherwise `sum_mm` is of those assessed).
    pub complete: bool,
    /// Change of the sum (of those assessed, when incomplete) from baseline (%); `None` without
    /// target lesions.
    pub change_from_baseline_pct: Option<f64>,
    /// Change of the sum from the smallest complete sum before this visit (%).
    pub change_from_nadir_pct: Option<f64>,
    /// Target lesion response.
    pub target: Response,
    /// Non-target lesion response.
    pub non_target: Response,
    /// New lesions.
    pub new_lesions: NewLesions,
    /// Overall response.
    pub overall: Response,
}

/// A subject assessed.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// Baseline sum of diameters (mm); `None` without target lesions.
    pub baseline_sum_mm: Option<f64>,
    /// The smallest complete sum on study, baseline included (mm), up to the first progression.
    pub nadir_sum_mm: Option<f64>,
    /// Baseline (all responses not applicable) and each follow-up, in date order.
    pub time_points: Vec<TimePointResult>,
    /// The best overall response.
    pub best: Response,
}

impl Assessment {
    /// Each time point as the engines report it (the table, the RS dataset).
    pub fn reported(&self) -> Vec<super::Reported> {
        self.time_points
            .iter()
            .map(|p| super::Reported {
                day: p.day,
                size: p.sum_mm,
                complete: p.complete,
                change_from_baseline_pct: p.change_from_baseline_pct,
                change_from_nadir_pct: p.change_from_nadir_pct,
                target: p.target,
                non_target: p.non_target,
                new_lesions: p.new_lesions,
                overall: p.overall,
            })
            .collect()
    }
}

/// Assesses a subject under RECIST 1.1, or names the rule its lesions break.
pub fn assess(subject: &Subject, rules: &Rules) -> Result<Assessment, RuleError> {
    // The readers check; a record built by hand is checked (and its follow-ups sorted) here.
    let subject = &subject.clone().check()?;
    check_baseline(subject, rules)?;
    let targets: Vec<&Lesion> = subject.targets().collect();
    let non_targets: Vec<&Lesion> = subject.non_targets().collect();
    let new = new_lesions_by_visit(subject);
    let baseline = &subject.visits[0];
    let (baseline_sum, _) = sum(&targets, baseline, rules)?;
    let has_targets = !targets.is_empty();

    let mut points = vec![TimePointResult {
        visit: baseline.label.clone(),
        day: baseline.date.days - subject.reference.days,
        sum_mm: baseline_sum,
        complete: true,
        change_from_baseline_pct: has_targets.then_some(0.0),
        change_from_nadir_pct: has_targets.then_some(0.0),
        target: Response::NotApplicable,
        non_target: Response::NotApplicable,
        new_lesions: NewLesions::None,
        overall: Response::NotApplicable,
    }];
    let mut nadir = baseline_sum;
    let mut nadir_before_pd = Some(baseline_sum);
    let mut follow_ups: Vec<TimePoint> = Vec::new();
    for (i, visit) in subject.visits.iter().enumerate().skip(1) {
        let (s, complete) = sum(&targets, visit, rules)?;
        // After an overall CR, anything reappearing is progression (the paper's note on lesions
        // that disappear and reappear; the EORTC FAQ "Does a new lesion always result in PD?").
        let after_cr = follow_ups
            .iter()
            .rev()
            .find(|p| p.response != Response::Ne)
            .is_some_and(|p| p.response == Response::Cr);
        let target = if has_targets {
            let all_normal = targets_all_gone(&targets, visit, rules)?;
            target_response(s, complete, all_normal, baseline_sum, nadir, after_cr)
        } else {
            Response::NotApplicable
        };
        let non_target = non_target_response(&non_targets, visit, after_cr);
        let mut overall = overall_response(target, non_target, new[i]);
        if rules.pr_persists && overall == Response::Sd && pr_assigned(&follow_ups, &rules.best) {
            overall = Response::Pr;
        }
        let pct = |from: f64| (has_targets && from > 0.0).then(|| 100.0 * (s - from) / from);
        points.push(TimePointResult {
            visit: visit.label.clone(),
            day: visit.date.days - subject.reference.days,
            sum_mm: s,
            complete: complete && has_targets,
            change_from_baseline_pct: pct(baseline_sum),
            change_from_nadir_pct: pct(nadir),
            target,
            non_target,
            new_lesions: new[i],
            overall,
        });
        let was_pd = follow_ups.iter().any(|p| p.response == Response::Pd);
        follow_ups.push(TimePoint {
            day: visit.date.days - subject.reference.days,
            response: overall,
        });
        if complete {
            nadir = nadir.min(s);
            if !was_pd {
                nadir_before_pd = nadir_before_pd.map(|n| n.min(s));
            }
        }
    }
    Ok(Assessment {
        baseline_sum_mm: has_targets.then_some(baseline_sum),
        nadir_sum_mm: if has_targets { nadir_before_pd } else { None },
        best: best_overall(&follow_ups, &rules.best, has_targets),
        time_points: points,
    })
}

/// Whether a PR was assigned before (confirmed, when confirmation is required).
fn pr_assigned(before: &[TimePoint], best: &BestRules) -> bool {
    if best.confirm {
        confirmed(before, Response::Pr, best.confirmation_days)
    } else {
        before.iter().any(|p| p.response == Response::Pr)
    }
}

/// The target response from the sum (§4.3.1): CR when every non-nodal target has gone and every
/// nodal target is < 10 mm short axis; PD at ≥ 20 % over the nadir and ≥ 5 mm absolute (or,
/// after an overall CR, when anything reappears); PR at ≥ 30 % below baseline; SD otherwise. An
/// incomplete visit is NE unless the lesions measured already make PD (§4.4.2, "missing
/// assessments and inevaluable designation").
pub fn target_response(
    sum_mm: f64,
    complete: bool,
    all_gone: bool,
    baseline_mm: f64,
    nadir_mm: f64,
    after_cr: bool,
) -> Response {
    // 1e-9 mm absorbs binary rounding of decimal diameters (20 % of 50 mm is 10 mm exactly).
    const EPS: f64 = 1e-9;
    let pd = sum_mm - nadir_mm >= 5.0 - EPS && sum_mm >= 1.2 * nadir_mm - EPS;
    if !complete {
        return if pd { Response::Pd } else { Response::Ne };
    }
    if all_gone {
        return Response::Cr;
    }
    if pd || after_cr {
        return Response::Pd;
    }
    if sum_mm <= 0.7 * baseline_mm + EPS {
        return Response::Pr;
    }
    Response::Sd
}

/// The non-target response (§4.3.2): PD on unequivocal progression (or, after an overall CR,
/// any non-target present again); NE when one was not assessed; CR when all are absent (nodes
/// normal, < 10 mm); non-CR/non-PD otherwise.
pub fn non_target_response(non_targets: &[&Lesion], visit: &Visit, after_cr: bool) -> Response {
    if non_targets.is_empty() {
        return Response::NotApplicable;
    }
    let states: Vec<State> = non_targets
        .iter()
        .map(|l| {
            visit
                .non_targets
                .get(&l.id)
                .copied()
                .unwrap_or(State::NotEvaluated)
        })
        .collect();
    if states.contains(&State::Progression) || (after_cr && states.contains(&State::Present)) {
        Response::Pd
    } else if states.contains(&State::NotEvaluated) {
        Response::Ne
    } else if states.iter().all(|s| *s == State::Absent) {
        Response::Cr
    } else {
        Response::NonCrNonPd
    }
}

/// The overall response of a time point: Table 1 with target lesions, Table 2 without.
pub fn overall_response(target: Response, non_target: Response, new: NewLesions) -> Response {
    use Response::*;
    if new == NewLesions::Unequivocal || target == Pd || non_target == Pd {
        return Pd;
    }
    match (target, non_target) {
        (NotApplicable, Cr) => Cr,
        (NotApplicable, NonCrNonPd) => NonCrNonPd,
        (NotApplicable, _) => Ne,
        (Cr, Cr | NotApplicable) => Cr,
        (Cr, _) => Pr,
        (Pr, _) => Pr,
        (Sd, _) => Sd,
        _ => Ne,
    }
}

/// The sum of diameters of the targets assessed at a visit, and whether all were.
fn sum(targets: &[&Lesion], visit: &Visit, rules: &Rules) -> Result<(f64, bool), RuleError> {
    let mut total = 0.0;
    let mut complete = true;
    for l in targets {
        match diameter(l, visit, rules)? {
            Some(d) => total += d,
            None => complete = false,
        }
    }
    Ok((total, complete))
}

/// Whether every non-nodal target has gone (0 mm) and every nodal target is < 10 mm.
fn targets_all_gone(targets: &[&Lesion], visit: &Visit, rules: &Rules) -> Result<bool, RuleError> {
    for l in targets {
        let d = diameter(l, visit, rules)?.unwrap_or(f64::INFINITY);
        let gone = if l.nodal { d < 10.0 } else { d == 0.0 };
        if !gone {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A target's diameter at a visit (§4.2, §4.3.1's notes): the short axis of a node, the longest
/// diameter otherwise; a split lesion's fragments summed; 0 for one merged into another (which
/// carries the merged diameter) and for one gone; the default for one too small to measure;
/// `None` when not assessed.
fn diameter(l: &Lesion, visit: &Visit, rules: &Rules) -> Result<Option<f64>, RuleError> {
    let axis = |d: &super::lesions::Diameters| -> Result<f64, RuleError> {
        if l.nodal {
            d.short_mm.ok_or_else(|| {
                RuleError::new(
                    rule::NODE_SHORT_AXIS,
                    "a node measured on its long axis only: give its short axis",
                )
                .lesion(&l.id)
                .visit(&visit.label)
            })
        } else {
            d.long_mm.ok_or_else(|| {
                RuleError::new(
                    rule::NON_NODAL_LONG_AXIS,
                    "measured on a short axis only: give its longest diameter",
                )
                .lesion(&l.id)
                .visit(&visit.label)
            })
        }
    };
    Ok(match visit.targets.get(&l.id) {
        None | Some(TargetSeen::NotEvaluated) => None,
        Some(TargetSeen::Measured(d)) => Some(axis(d)?),
        Some(TargetSeen::Split(parts)) => {
            let mut s = 0.0;
            for p in parts {
                s += axis(p)?;
            }
            Some(s)
        }
        Some(TargetSeen::MergedInto(_)) | Some(TargetSeen::Disappeared) => Some(0.0),
        Some(TargetSeen::TooSmall) => Some(rules.too_small_mm),
    })
}

/// The baseline against the guideline: some disease; at most 5 targets, 2 per organ; each
/// target measured, on the right axis, and measurable.
fn check_baseline(subject: &Subject, rules: &Rules) -> Result<(), RuleError> {
    let baseline = &subject.visits[0];
    if subject.lesions.is_empty() {
        return Err(
            RuleError::new(rule::SOME_DISEASE, "no lesions identified at baseline")
                .visit(&baseline.label),
        );
    }
    let targets: Vec<&Lesion> = subject.targets().collect();
    if targets.len() > 5 {
        let ids: Vec<&str> = targets.iter().map(|l| l.id.as_str()).collect();
        return Err(RuleError::new(
            rule::MAX_TARGETS,
            format!("{} target lesions ({})", targets.len(), ids.join(", ")),
        )
        .lesion(ids[5])
        .visit(&baseline.label));
    }
    let mut by_organ: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for l in &targets {
        let organ = if l.nodal {
            "lymph node".to_owned()
        } else {
            l.organ.trim().to_lowercase()
        };
        let ids = by_organ.entry(organ.clone()).or_default();
        ids.push(&l.id);
        if ids.len() > 2 {
            return Err(RuleError::new(
                rule::PER_ORGAN,
                format!(
                    "{} target lesions in {organ} ({})",
                    ids.len(),
                    ids.join(", ")
                ),
            )
            .lesion(&l.id)
            .visit(&baseline.label));
        }
    }
    let slice = baseline
        .slice_thickness_mm
        .unwrap_or(rules.slice_thickness_mm);
    let min_long = f64::max(10.0, 2.0 * slice);
    for l in &targets {
        let err = |rule: &'static str, why: String| {
            Err(RuleError::new(rule, why)
                .lesion(&l.id)
                .visit(&baseline.label))
        };
        let Some(TargetSeen::Measured(d)) = baseline.targets.get(&l.id) else {
            return err(
                rule::BASELINE_MEASURED,
                "a target lesion without diameters at baseline".into(),
            );
        };
        if l.nodal {
            let Some(short) = d.short_mm else {
                return err(
                    rule::NODE_SHORT_AXIS,
                    "a node measured on its long axis only: give its short axis".into(),
                );
            };
            if short < 15.0 {
                return err(
                    rule::NODE_MEASURABLE,
                    format!("a target node with short axis {short} mm"),
                );
            }
        } else {
            let Some(long) = d.long_mm else {
                return err(
                    rule::NON_NODAL_LONG_AXIS,
                    "measured on a short axis only: give its longest diameter".into(),
                );
            };
            if long < min_long {
                return err(
                    rule::MEASURABLE,
                    format!(
                        "a target of {long} mm, below the measurable {min_long} mm (slice thickness {slice} mm)"
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The `onco.recist11` algorithm.
pub struct Recist11;

/// The per-visit table's columns.
pub const VISIT_COLUMNS: &[(&str, &str)] = &[
    ("visit", "1"),
    ("day", "d"),
    ("sum-of-diameters", "mm"),
    ("complete", "1"),
    ("change-from-baseline", "%"),
    ("change-from-nadir", "%"),
    ("target-response", "1"),
    ("non-target-response", "1"),
    ("new-lesions", "1"),
    ("overall-response", "1"),
];

impl Algorithm for Recist11 {
    fn id(&self) -> &'static str {
        "onco.recist11"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "RECIST 1.1 tumour response: the baseline checked against the guideline (measurability, at most 5 targets and 2 per organ, nodes on their short axis), the sum of diameters, target / non-target / new-lesion and overall response of each visit (Tables 1 and 2), and the best overall response with confirmation and the minimum duration of stable disease (Table 3)"
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in solid tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247",
            "EORTC RECIST working group, RECIST 1.1 FAQ and clarifications, https://recist.eortc.org",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        super::input_roles()
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let mut p = vec![
            ParamSpec {
                name: "too-small-diameter",
                kind: ParamKind::Number {
                    min: 0.0,
                    max: 10.0,
                },
                default: ParamValue::Number(5.0),
                unit: Some("mm"),
                description: "the diameter given a target present but too small to measure (the guideline: 5 mm)",
            },
            ParamSpec {
                name: "slice-thickness",
                kind: ParamKind::Number {
                    min: 0.1,
                    max: 20.0,
                },
                default: ParamValue::Number(5.0),
                unit: Some("mm"),
                description: "the CT slice thickness when the baseline visit does not report one: a non-nodal target must be at least 10 mm and twice this",
            },
            ParamSpec {
                name: "pr-persists",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(false),
                unit: None,
                description: "the EORTC FAQ convention: once a PR is assigned (and confirmed when required), later time points neither CR nor PD stay PR (the guideline calls them SD)",
            },
        ];
        p.extend(super::best_params(42));
        p.push(super::evaluator_param());
        p.push(super::subject_param());
        p
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "best-overall-response",
                unit: "1",
                description: "best overall response: 1 CR, 2 PR, 3 SD, 4 non-CR/non-PD, 5 PD, 6 NE",
            },
            MeasurementSpec {
                name: "baseline-sum",
                unit: "mm",
                description: "baseline sum of diameters (absent without target lesions)",
            },
            MeasurementSpec {
                name: "nadir-sum",
                unit: "mm",
                description: "the smallest complete sum of diameters on study, baseline included, up to the first progression",
            },
            MeasurementSpec {
                name: "progression-day",
                unit: "d",
                description: "days from the reference date to the first time point with overall PD (absent without progression)",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        Vec::new()
    }
    fn documents(&self) -> Vec<DocumentSpec> {
        vec![DocumentSpec {
            name: "rs.csv",
            media_type: "text/csv",
            description: "SDTM RS rows (RECIST 1.1): per follow-up TRGRESP, NTRGRESP, NEWLIND and OVRLRESP, then BESTRSP; STUDYID from the input (TR's STUDYID, the JSON's study)",
        }]
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "visits",
            columns: VISIT_COLUMNS,
            description: "one row per visit, baseline first (visit 0): responses coded 0 not applicable, 1 CR, 2 PR, 3 SD, 4 non-CR/non-PD, 5 PD, 6 NE; new-lesions 0 none, 1 unequivocal, 2 equivocal; complete 0 when a target was not assessed (the sum and changes are then of those assessed)",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let subject = super::read_subject(inputs, params)?;
        let rules = Rules {
            too_small_mm: params.number("too-small-diameter").unwrap_or(5.0),
            slice_thickness_mm: params.number("slice-thickness").unwrap_or(5.0),
            best: super::best_rules(params),
            pr_persists: params.boolean("pr-persists").unwrap_or(false),
        };
        let a = assess(&subject, &rules).map_err(|e| AlgoError::Input {
            role: "lesions".into(),
            why: e.to_string(),
        })?;
        Ok(super::report(
            &subject,
            "RECIST 1.1",
            VISIT_COLUMNS,
            &a.reported(),
            a.best,
            [
                ("baseline-sum", a.baseline_sum_mm),
                ("nadir-sum", a.nadir_sum_mm),
            ],
            "mm",
        ))
    }
}
