//! RANO for high-grade glioma (Wen et al., J Clin Oncol 2010;28:1963–1972) on the shared lesion
//! model: bidimensional products (longest diameter × its longest perpendicular) of up to 5
//! measurable enhancing targets (both diameters ≥ 10 mm), their sum (SPD); per visit the enhancing
//! response (CR all gone, PR ≥ 50 % below baseline, PD ≥ 25 % above the smallest SPD, SD
//! otherwise), non-measurable disease, new lesions and the clinical items (corticosteroids,
//! clinical status, non-enhancing T2/FLAIR disease), combined as Wen's Table 2; the best
//! response with CR and PR sustained at least 4 weeks.

use super::lesions::{Lesion, RuleError, Subject, TargetSeen, Trend, Visit};
use super::recist11::non_target_response;
use super::response::{Response, TimePoint, best_overall};
use super::{NewLesions, new_lesions_by_visit};
use crate::{
    AlgoError, Algorithm, DocumentSpec, ImageSpec, InputRole, Inputs, MeasurementSpec, Outputs,
    ParamKind, ParamSpec, ParamValue, Params, TableSpec,
};

#[cfg(test)]
mod tests;

mod rule {
    pub const MAX_TARGETS: &str = "RANO (Wen 2010): at most 5 target lesions";
    pub const MEASURABLE: &str = "RANO (Wen 2010): a measurable lesion is contrast-enhancing with two perpendicular diameters each ≥ 10 mm";
    pub const BIDIMENSIONAL: &str =
        "RANO (Wen 2010): a target is measured on two perpendicular diameters";
    pub const SOME_DISEASE: &str =
        "RANO (Wen 2010): a subject is assessed on disease present at baseline";
}

/// The protocol's choices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    /// Each diameter of a target present but too small to measure (mm).
    pub too_small_mm: f64,
    /// How the best overall response is chosen.
    pub best: super::response::BestRules,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            too_small_mm: 5.0,
            best: super::response::BestRules {
                confirm: true,
                confirmation_days: 28,
                min_sd_days: 0,
            },
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
    /// The sum of products of the targets assessed (mm²).
    pub spd_mm2: f64,
    /// Whether every target was assessed.
    pub complete: bool,
    /// Change of the SPD from baseline (%), `None` without targets.
    pub change_from_baseline_pct: Option<f64>,
    /// Change of the SPD from the smallest complete SPD before this visit (%).
    pub change_from_nadir_pct: Option<f64>,
    /// The enhancing (target) response.
    pub target: Response,
    /// Non-measurable (non-target) disease.
    pub non_target: Response,
    /// New lesions.
    pub new_lesions: NewLesions,
    /// The overall response.
    pub overall: Response,
}

/// A subject assessed.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// Baseline SPD (mm²), `None` without targets.
    pub baseline_spd_mm2: Option<f64>,
    /// The smallest complete SPD up to the first progression (mm²).
    pub nadir_spd_mm2: Option<f64>,
    /// Baseline and each follow-up.
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
                size: p.spd_mm2,
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

/// Assesses a subject under RANO, or names the rule its lesions break.
pub fn assess(subject: &Subject, rules: &Rules) -> Result<Assessment, RuleError> {
    // The readers check; a record built by hand is checked (and its follow-ups sorted) here.
    let subject = &subject.clone().check()?;
    check_baseline(subject)?;
    let targets: Vec<&Lesion> = subject.targets().collect();
    let non_targets: Vec<&Lesion> = subject.non_targets().collect();
    let has_targets = !targets.is_empty();
    let new = new_lesions_by_visit(subject);
    let baseline = &subject.visits[0];
    let (baseline_spd, _) = spd(&targets, baseline, rules)?;
    let mut points = vec![TimePointResult {
        visit: baseline.label.clone(),
        day: baseline.date.days - subject.reference.days,
        spd_mm2: baseline_spd,
        complete: true,
        change_from_baseline_pct: has_targets.then_some(0.0),
        change_from_nadir_pct: has_targets.then_some(0.0),
        target: Response::NotApplicable,
        non_target: Response::NotApplicable,
        new_lesions: NewLesions::None,
        overall: Response::NotApplicable,
    }];
    let (mut nadir, mut nadir_before_pd) = (baseline_spd, baseline_spd);
    let mut follow_ups: Vec<TimePoint> = Vec::new();
    for (i, visit) in subject.visits.iter().enumerate().skip(1) {
        let (s, complete) = spd(&targets, visit, rules)?;
        let after_cr = follow_ups
            .iter()
            .rev()
            .find(|p| p.response != Response::Ne)
            .is_some_and(|p| p.response == Response::Cr);
        let target = if has_targets {
            enhancing_response(s, complete, baseline_spd, nadir)
        } else {
            Response::NotApplicable
        };
        let non_target = non_target_response(&non_targets, visit, after_cr);
        let overall = overall_response(target, non_target, new[i], visit, has_targets);
        let pct = |from: f64| (has_targets && from > 0.0).then(|| 100.0 * (s - from) / from);
        points.push(TimePointResult {
            visit: visit.label.clone(),
            day: visit.date.days - subject.reference.days,
            spd_mm2: s,
            complete: complete && has_targets,
            change_from_baseline_pct: pct(baseline_spd),
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
                nadir_before_pd = nadir_before_pd.min(s);
            }
        }
    }
    Ok(Assessment {
        baseline_spd_mm2: has_targets.then_some(baseline_spd),
        nadir_spd_mm2: has_targets.then_some(nadir_before_pd),
        best: best_overall(&follow_ups, &rules.best, true),
        time_points: points,
    })
}

/// The enhancing-disease response from the SPD: CR when all targets have gone; PD at ≥ 25 %
/// above the smallest SPD (baseline or best response; reappearance after 0 is PD); PR at ≥ 50 %
/// below baseline; SD otherwise. Incomplete: NE unless those measured already make PD.
pub fn enhancing_response(spd: f64, complete: bool, baseline: f64, nadir: f64) -> Response {
    const EPS: f64 = 1e-9;
    let pd = spd > nadir + EPS && spd >= 1.25 * nadir - EPS;
    if !complete {
        return if pd { Response::Pd } else { Response::Ne };
    }
    if spd <= EPS {
        Response::Cr
    } else if pd {
        Response::Pd
    } else if spd <= 0.5 * baseline + EPS {
        Response::Pr
    } else {
        Response::Sd
    }
}

/// Wen 2010 Table 2: PD when any of enhancing PD, non-measurable progression, a new lesion,
/// worse non-enhancing (T2/FLAIR) disease or clinical deterioration (a raised corticosteroid dose
/// alone is not progression); CR needs all enhancing disease gone, T2/FLAIR stable or better, no
/// corticosteroids above physiological doses and clinical status stable or better (on
/// corticosteroids it is at best PR); PR needs the corticosteroid dose not above baseline (else
/// SD). Non-measurable disease only: CR or SD at best. Clinical items not reported do not limit.
pub fn overall_response(
    target: Response,
    non_target: Response,
    new: NewLesions,
    visit: &Visit,
    has_targets: bool,
) -> Response {
    use Response::*;
    let c = &visit.clinical;
    if new == NewLesions::Unequivocal
        || target == Pd
        || non_target == Pd
        || c.non_enhancing == Some(Trend::Worse)
        || c.clinical_status == Some(Trend::Worse)
    {
        return Pd;
    }
    let imaging = match (has_targets, target, non_target) {
        (true, Ne, _) | (false, _, Ne) => return Ne,
        (true, Cr, Cr | NotApplicable) | (false, _, Cr) => Cr,
        (true, Cr | Pr, _) => Pr,
        _ => Sd,
    };
    let steroids_up = c.corticosteroids == Some(Trend::Worse);
    match imaging {
        Cr if c.on_corticosteroids == Some(true) || steroids_up => {
            if has_targets && !steroids_up {
                Pr
            } else {
                Sd
            }
        }
        Pr if steroids_up => Sd,
        r => r,
    }
}

/// The SPD of the targets assessed, and whether all were.
fn spd(targets: &[&Lesion], visit: &Visit, rules: &Rules) -> Result<(f64, bool), RuleError> {
    let product = |l: &Lesion, d: &super::lesions::Diameters| -> Result<f64, RuleError> {
        match (d.long_mm, d.short_mm) {
            (Some(a), Some(b)) => Ok(a * b),
            _ => Err(RuleError::new(
                rule::BIDIMENSIONAL,
                "one diameter only: give the longest diameter and its longest perpendicular",
            )
            .lesion(&l.id)
            .visit(&visit.label)),
        }
    };
    let (mut total, mut complete) = (0.0, true);
    for l in targets {
        total += match visit.targets.get(&l.id) {
            None | Some(TargetSeen::NotEvaluated) => {
                complete = false;
                0.0
            }
            Some(TargetSeen::Measured(d)) => product(l, d)?,
            Some(TargetSeen::Split(parts)) => {
                let mut s = 0.0;
                for p in parts {
                    s += product(l, p)?;
                }
                s
            }
            Some(TargetSeen::MergedInto(_)) | Some(TargetSeen::Disappeared) => 0.0,
            Some(TargetSeen::TooSmall) => rules.too_small_mm * rules.too_small_mm,
        };
    }
    Ok((total, complete))
}

fn check_baseline(subject: &Subject) -> Result<(), RuleError> {
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
            format!("{} target lesions ({})", ids.len(), ids.join(", ")),
        )
        .lesion(ids[5])
        .visit(&baseline.label));
    }
    for l in targets {
        let err = |rule: &'static str, why: String| {
            Err(RuleError::new(rule, why)
                .lesion(&l.id)
                .visit(&baseline.label))
        };
        let Some(TargetSeen::Measured(d)) = baseline.targets.get(&l.id) else {
            return err(
                rule::BIDIMENSIONAL,
                "a target lesion without diameters at baseline".into(),
            );
        };
        let (Some(a), Some(b)) = (d.long_mm, d.short_mm) else {
            return err(
                rule::BIDIMENSIONAL,
                "one diameter only: give the longest diameter and its longest perpendicular".into(),
            );
        };
        if a < 10.0 || b < 10.0 {
            return err(rule::MEASURABLE, format!("a target of {a} × {b} mm"));
        }
    }
    Ok(())
}

/// The `onco.rano` algorithm.
pub struct Rano;

/// The per-visit table's columns.
pub const VISIT_COLUMNS: &[(&str, &str)] = &[
    ("visit", "1"),
    ("day", "d"),
    ("sum-of-products", "mm2"),
    ("complete", "1"),
    ("change-from-baseline", "%"),
    ("change-from-nadir", "%"),
    ("target-response", "1"),
    ("non-target-response", "1"),
    ("new-lesions", "1"),
    ("overall-response", "1"),
];

impl Algorithm for Rano {
    fn id(&self) -> &'static str {
        "onco.rano"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "RANO response of high-grade glioma: sum of bidimensional products of up to 5 measurable enhancing targets, the enhancing, non-measurable, new-lesion and clinical items (corticosteroids, clinical status, T2/FLAIR) of each visit combined per Wen 2010 Table 2, and the best response with CR/PR sustained ≥ 4 weeks"
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Wen PY, Macdonald DR, Reardon DA, et al. Updated response assessment criteria for high-grade gliomas: Response Assessment in Neuro-Oncology Working Group. J Clin Oncol 2010;28:1963-1972",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        super::input_roles()
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let mut p = vec![ParamSpec {
            name: "too-small-diameter",
            kind: ParamKind::Number {
                min: 0.0,
                max: 10.0,
            },
            default: ParamValue::Number(5.0),
            unit: Some("mm"),
            description: "each diameter of a target present but too small to measure (product: its square); a convention carried over from RECIST, which RANO does not fix",
        }];
        p.extend(super::best_params(0));
        p.push(super::evaluator_param());
        p.push(super::subject_param());
        p
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "best-overall-response",
                unit: "1",
                description: "best overall response: 1 CR, 2 PR, 3 SD, 5 PD, 6 NE",
            },
            MeasurementSpec {
                name: "baseline-spd",
                unit: "mm2",
                description: "baseline sum of products of perpendicular diameters (absent without targets)",
            },
            MeasurementSpec {
                name: "nadir-spd",
                unit: "mm2",
                description: "the smallest complete SPD on study, baseline included, up to the first progression",
            },
            MeasurementSpec {
                name: "progression-day",
                unit: "d",
                description: "days from the reference date to the first time point with PD (absent without progression)",
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
            description: "SDTM RS rows (RANO): per follow-up TRGRESP, NTRGRESP, NEWLIND and OVRLRESP, then BESTRSP; STUDYID from the input (TR's STUDYID, the JSON's study)",
        }]
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "visits",
            columns: VISIT_COLUMNS,
            description: "one row per visit, baseline first (visit 0): responses coded 0 not applicable, 1 CR, 2 PR, 3 SD, 4 non-CR/non-PD (non-measurable disease), 5 PD, 6 NE; new-lesions 0 none, 1 unequivocal, 2 equivocal; complete 0 when a target was not assessed",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let subject = super::read_subject(inputs, params)?;
        let rules = Rules {
            too_small_mm: params.number("too-small-diameter").unwrap_or(5.0),
            best: super::best_rules(params),
        };
        let a = assess(&subject, &rules).map_err(|e| AlgoError::Input {
            role: "lesions".into(),
            why: e.to_string(),
        })?;
        Ok(super::report(
            &subject,
            "RANO",
            VISIT_COLUMNS,
            &a.reported(),
            a.best,
            [
                ("baseline-spd", a.baseline_spd_mm2),
                ("nadir-spd", a.nadir_spd_mm2),
            ],
            "mm2",
        ))
    }
}
