//! RANO: the thresholds of Wen et al. 2010 and their Table 2 with the clinical items.

use super::*;
use crate::onco::lesions::{Clinical, State};
use crate::onco::lesions::{Lesion, Role, Subject, Trend, Visit};
use crate::onco::testing::*;
use Response::*;

fn enhancing(id: &str) -> Lesion {
    Lesion {
        id: id.into(),
        role: Role::Target,
        organ: "brain".into(),
        nodal: false,
    }
}

/// One enhancing target of `a × b` mm at baseline, then products given as square sides.
fn one(a: f64, b: f64, follow: &[(f64, f64)]) -> Subject {
    let mut visits = vec![visit(0, &[("T1", bi(a, b))], &[])];
    for (i, (x, y)) in follow.iter().enumerate() {
        visits.push(visit(56 * (i as i64 + 1), &[("T1", bi(*x, *y))], &[]));
    }
    subject(vec![enhancing("T1")], visits)
}

fn overall(s: &Subject) -> Vec<Response> {
    assess(s, &Rules::default()).expect("valid").time_points[1..]
        .iter()
        .map(|p| p.overall)
        .collect()
}

fn clinical(mut v: Visit, c: Clinical) -> Visit {
    v.clinical = c;
    v
}

#[test]
fn pr_is_half_the_baseline_product_and_pd_a_quarter_over_the_smallest() {
    // 20 × 20 = 400 mm²: 200 → PR, 201 → SD.
    assert_eq!(overall(&one(20.0, 20.0, &[(20.0, 10.0)])), [Pr]);
    assert_eq!(overall(&one(20.0, 20.0, &[(20.0, 10.05)])), [Sd]);
    // From a best response of 200 mm²: 250 (+25 %) → PD; 249 (+24.5 %) → SD (no longer half).
    assert_eq!(
        overall(&one(20.0, 20.0, &[(20.0, 10.0), (25.0, 10.0)])),
        [Pr, Pd]
    );
    assert_eq!(
        overall(&one(20.0, 20.0, &[(20.0, 10.0), (24.9, 10.0)])),
        [Pr, Sd]
    );
    // Without a decrease the baseline is the smallest: 500 mm² is +25 %.
    assert_eq!(overall(&one(20.0, 20.0, &[(25.0, 20.0)])), [Pd]);
    assert_eq!(overall(&one(20.0, 20.0, &[(0.0, 0.0)])), [Cr]);
    let a = assess(
        &one(20.0, 20.0, &[(20.0, 10.0), (25.0, 10.0)]),
        &Rules::default(),
    )
    .expect("valid");
    assert_eq!(
        (a.baseline_spd_mm2, a.nadir_spd_mm2),
        (Some(400.0), Some(200.0))
    );
}

#[test]
fn cr_needs_no_corticosteroids_and_pr_no_dose_increase() {
    let base = visit(0, &[("T1", bi(20.0, 20.0))], &[]);
    let gone = || visit(56, &[("T1", TargetSeen::Disappeared)], &[]);
    let half = || visit(56, &[("T1", bi(20.0, 10.0))], &[]);
    let on = Clinical {
        on_corticosteroids: Some(true),
        corticosteroids: Some(Trend::Stable),
        ..Default::default()
    };
    let up = Clinical {
        corticosteroids: Some(Trend::Worse),
        ..Default::default()
    };
    let s = |v: Visit| subject(vec![enhancing("T1")], vec![base.clone(), v]);
    assert_eq!(overall(&s(gone())), [Cr]);
    assert_eq!(overall(&s(clinical(gone(), on))), [Pr]);
    assert_eq!(overall(&s(clinical(gone(), up))), [Sd]);
    assert_eq!(
        overall(&s(clinical(half(), up))),
        [Sd],
        "a raised dose alone is not PD"
    );
}

#[test]
fn clinical_deterioration_or_worse_flair_or_a_new_lesion_is_progression() {
    let base = visit(0, &[("T1", bi(20.0, 20.0))], &[]);
    let half = || visit(56, &[("T1", bi(20.0, 10.0))], &[]);
    let s = |v: Visit| subject(vec![enhancing("T1")], vec![base.clone(), v]);
    let worse = Clinical {
        clinical_status: Some(Trend::Worse),
        ..Default::default()
    };
    let flair = Clinical {
        non_enhancing: Some(Trend::Worse),
        ..Default::default()
    };
    assert_eq!(overall(&s(clinical(half(), worse))), [Pd]);
    assert_eq!(overall(&s(clinical(half(), flair))), [Pd]);
    assert_eq!(overall(&s(with_new(half(), "N1", false))), [Pd]);
    assert_eq!(
        overall(&s(with_new(half(), "N1", true))),
        [Pr],
        "equivocal: not yet"
    );
}

#[test]
fn non_measurable_disease_only_is_at_best_stable() {
    let lesions = vec![Lesion {
        id: "NT1".into(),
        role: Role::NonTarget,
        organ: "brain".into(),
        nodal: false,
    }];
    let base = visit(0, &[], &[("NT1", State::Present)]);
    let s = |st: State| {
        subject(
            lesions.clone(),
            vec![base.clone(), visit(56, &[], &[("NT1", st)])],
        )
    };
    assert_eq!(overall(&s(State::Present)), [Sd]);
    assert_eq!(overall(&s(State::Absent)), [Cr]);
    assert_eq!(overall(&s(State::Progression)), [Pd]);
    assert_eq!(overall(&s(State::NotEvaluated)), [Ne]);
}

#[test]
fn a_missing_target_is_ne_unless_the_others_already_progress() {
    let lesions = vec![enhancing("T1"), enhancing("T2")];
    let base = visit(0, &[("T1", bi(20.0, 20.0)), ("T2", bi(10.0, 10.0))], &[]);
    let s = |t1: (f64, f64)| {
        subject(
            lesions.clone(),
            vec![base.clone(), visit(56, &[("T1", bi(t1.0, t1.1))], &[])],
        )
    };
    assert_eq!(overall(&s((20.0, 20.0))), [Ne]);
    assert_eq!(
        overall(&s((25.0, 25.0))),
        [Pd],
        "625 mm² of the 500 mm² baseline is already +25 %"
    );
}

#[test]
fn the_baseline_must_be_measurable_and_bidimensional() {
    let refuse = |lesions: Vec<Lesion>, v: Visit| {
        assess(
            &unchecked(lesions, vec![v]).check().expect("ids fine"),
            &Rules::default(),
        )
        .expect_err("refused")
    };
    let e = refuse(
        vec![enhancing("T1")],
        visit(0, &[("T1", bi(20.0, 9.0))], &[]),
    );
    assert_eq!(
        (e.rule, e.lesion.as_deref()),
        (rule::MEASURABLE, Some("T1"))
    );
    let e = refuse(vec![enhancing("T1")], visit(0, &[("T1", short(20.0))], &[]));
    assert_eq!(e.rule, rule::BIDIMENSIONAL);
    let ids = ["T1", "T2", "T3", "T4", "T5", "T6"];
    let seen: Vec<(&str, TargetSeen)> = ids.iter().map(|id| (*id, bi(12.0, 12.0))).collect();
    let e = refuse(
        ids.iter().map(|id| enhancing(id)).collect(),
        visit(0, &seen, &[]),
    );
    assert_eq!(
        (e.rule, e.lesion.as_deref()),
        (rule::MAX_TARGETS, Some("T6"))
    );
}

#[test]
fn cr_and_pr_are_confirmed_after_four_weeks() {
    let s = one(20.0, 20.0, &[(20.0, 10.0), (20.0, 10.0)]);
    assert_eq!(assess(&s, &Rules::default()).expect("valid").best, Pr);
    let once = one(20.0, 20.0, &[(20.0, 10.0)]);
    assert_eq!(assess(&once, &Rules::default()).expect("valid").best, Sd);
    let mut soon = one(20.0, 20.0, &[(20.0, 10.0), (20.0, 10.0)]);
    soon.visits[2].date = date(56 + 27);
    assert_eq!(assess(&soon, &Rules::default()).expect("valid").best, Sd);
}

#[test]
fn a_growing_target_never_improves_the_response_of_its_visit() {
    let mut rng = Rng(0x0DA_2010);
    let mut compared = 0;
    for _ in 0..2000 {
        let n = 1 + rng.below(5);
        let lesions: Vec<Lesion> = (0..n).map(|i| enhancing(&format!("T{i}"))).collect();
        let mut visits = Vec::new();
        for v in 0..(2 + rng.below(5)) {
            let seen: Vec<(String, TargetSeen)> = (0..n)
                .map(|i| {
                    let t = if v > 0 && rng.unit() < 0.1 {
                        TargetSeen::Disappeared
                    } else {
                        let lo: f64 = if v == 0 { 10.0 } else { 0.0 };
                        bi(rng.range(lo, 50.0), rng.range(lo, 40.0))
                    };
                    (format!("T{i}"), t)
                })
                .collect();
            let refs: Vec<(&str, TargetSeen)> = seen
                .iter()
                .map(|(id, s)| (id.as_str(), s.clone()))
                .collect();
            visits.push(visit(56 * v as i64, &refs, &[]));
        }
        let s = subject(lesions, visits);
        let k = 1 + rng.below(s.visits.len() - 1);
        let id = format!("T{}", rng.below(n));
        let by = [0.1, 2.0, 10.0][rng.below(3)];
        let bigger = match &s.visits[k].targets[&id] {
            TargetSeen::Measured(d) => bi(
                d.long_mm.unwrap_or(0.0) + by,
                d.short_mm.unwrap_or(0.0) + by,
            ),
            _ => bi(by, by),
        };
        let mut t = s.clone();
        t.visits[k].targets.insert(id, bigger);
        let rank = |r: Response| match r {
            Cr => 0,
            Pr => 1,
            Sd => 2,
            Ne | NotApplicable | NonCrNonPd => 3,
            Pd => 4,
        };
        let before = assess(&s, &Rules::default()).expect("valid").time_points[k].overall;
        let after = assess(&t, &Rules::default()).expect("valid").time_points[k].overall;
        assert!(
            rank(after) >= rank(before),
            "{before:?} → {after:?} at {k}: {s:?}"
        );
        compared += 1;
    }
    assert_eq!(compared, 2000);
}

#[test]
fn runs_as_an_algorithm_with_the_clinical_items() {
    use crate::{Document, Inputs};
    let json = r#"{"subject": "GBM-01", "lesions": [{"id": "T1", "role": "target", "organ": "brain"}],
      "visits": [{"visit": "BASELINE", "date": "2024-01-01", "measurements": [{"lesion": "T1", "long_axis_mm": 30, "short_axis_mm": 20}]},
                 {"visit": "W8", "date": "2024-02-26", "measurements": [{"lesion": "T1", "long_axis_mm": 20, "short_axis_mm": 12}],
                  "clinical": {"corticosteroids": "decreased", "clinical_status": "stable", "non_enhancing": "stable"}},
                 {"visit": "W16", "date": "2024-04-22", "measurements": [{"lesion": "T1", "long_axis_mm": 20, "short_axis_mm": 12}],
                  "clinical": {"clinical_status": "worse"}}]}"#;
    let mut inputs = Inputs::new();
    inputs.insert_document("lesions".into(), Document::new("gbm.json", json.into()));
    let (_, out) = crate::run(&Rano, &inputs, &std::collections::BTreeMap::new()).expect("runs");
    let value = |n: &str| {
        out.measurements
            .iter()
            .find(|m| m.name == n)
            .map(|m| m.value)
    };
    assert_eq!(value("baseline-spd"), Some(600.0));
    assert_eq!(
        value("best-overall-response"),
        Some(Sd.code()),
        "a PR not confirmed before PD"
    );
    assert_eq!(value("progression-day"), Some(112.0));
    let codes: Vec<f64> = out.tables[0].rows.iter().map(|r| r[9]).collect();
    assert_eq!(codes, [0.0, Pr.code(), Pd.code()]);
}
