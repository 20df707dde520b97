//! RECIST 1.1: the paper's Tables 1–3 row by row, its worked numbers, the edge cases (NE visits,
//! nodes returning to normal, PD after CR, split and merged lesions, confirmation windows), the
//! rules a baseline must meet, the shared transcription of the tables and the EORTC FAQ example,
//! and a property: a target growing never improves the response of its visit.

use super::*;
use crate::onco::lesions::{Diameters, State};
use crate::onco::response::{BestRules, TimePoint, best_overall};
use crate::onco::testing::*;
use Response::*;

const RULES_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/clinical_rules/recist1.1"
);

fn overall_of(s: &Subject) -> Vec<Response> {
    assess(s, &Rules::default())
        .expect("valid")
        .time_points
        .iter()
        .skip(1)
        .map(|p| p.overall)
        .collect()
}

fn targets_of(s: &Subject) -> Vec<Response> {
    assess(s, &Rules::default())
        .expect("valid")
        .time_points
        .iter()
        .skip(1)
        .map(|p| p.target)
        .collect()
}

/// One liver target of `baseline` mm followed at the given sums, every 6 weeks.
fn one_target(baseline: f64, follow: &[f64]) -> Subject {
    let mut visits = vec![visit(0, &[("T1", long(baseline))], &[])];
    for (i, mm) in follow.iter().enumerate() {
        visits.push(visit(42 * (i as i64 + 1), &[("T1", long(*mm))], &[]));
    }
    subject(vec![target("T1", "liver")], visits)
}

// ---- Table 1: time point response, patients with target (± non-target) disease ----

#[test]
fn table_1_every_row() {
    use NewLesions::{None as No, Unequivocal as Yes};
    let non_pd_or_ne = [Cr, NonCrNonPd, Ne, NotApplicable];
    // CR, CR, No → CR (and CR with no non-target disease at all)
    assert_eq!(overall_response(Cr, Cr, No), Cr);
    assert_eq!(overall_response(Cr, NotApplicable, No), Cr);
    // CR, non-CR/non-PD, No → PR; CR, not evaluated, No → PR
    assert_eq!(overall_response(Cr, NonCrNonPd, No), Pr);
    assert_eq!(overall_response(Cr, Ne, No), Pr);
    // PR, non-PD or not all evaluated, No → PR; SD likewise → SD
    for nt in non_pd_or_ne {
        assert_eq!(overall_response(Pr, nt, No), Pr, "PR with {nt:?}");
        assert_eq!(overall_response(Sd, nt, No), Sd, "SD with {nt:?}");
    }
    // Not all evaluated, non-PD, No → NE
    for nt in non_pd_or_ne {
        assert_eq!(overall_response(Ne, nt, No), Ne, "NE with {nt:?}");
    }
    // PD, any, yes or no → PD; any, PD, yes or no → PD; any, any, yes → PD
    for t in [Cr, Pr, Sd, Ne, Pd] {
        for nt in [Cr, NonCrNonPd, Ne, Pd, NotApplicable] {
            for new in [No, Yes] {
                let expected = if t == Pd || nt == Pd || new == Yes {
                    Pd
                } else {
                    overall_response(t, nt, No)
                };
                assert_eq!(
                    overall_response(t, nt, new),
                    expected,
                    "{t:?} {nt:?} {new:?}"
                );
            }
        }
    }
    // An equivocal new lesion is not (yet) progression.
    assert_eq!(overall_response(Sd, NonCrNonPd, NewLesions::Equivocal), Sd);
}

// ---- Table 2: time point response, non-target disease only ----

#[test]
fn table_2_every_row() {
    use NewLesions::{None as No, Unequivocal as Yes};
    let t = NotApplicable;
    assert_eq!(overall_response(t, Cr, No), Cr);
    assert_eq!(overall_response(t, NonCrNonPd, No), NonCrNonPd);
    assert_eq!(overall_response(t, Ne, No), Ne);
    assert_eq!(overall_response(t, Pd, No), Pd);
    assert_eq!(overall_response(t, Pd, Yes), Pd);
    for nt in [Cr, NonCrNonPd, Ne, Pd] {
        assert_eq!(overall_response(t, nt, Yes), Pd);
    }
}

/// The words of the shared transcription's cells, as the sets of responses they stand for.
fn cell(word: &str, target_column: bool) -> Vec<Response> {
    match word.trim() {
        "" => vec![NotApplicable],
        "CR" => vec![Cr],
        "PR" => vec![Pr],
        "SD" => vec![Sd],
        "PD" | "Unequivocal PD" => vec![Pd],
        "Non-CR/non-PD" => vec![NonCrNonPd],
        "NE" | "Not evaluated" | "Not all evaluated" => vec![Ne],
        "Non-PD" if target_column => vec![Cr, Pr, Sd],
        "Non-PD" => vec![Cr, NonCrNonPd],
        "Non-PD or not all evaluated" => vec![Cr, NonCrNonPd, Ne],
        "Any" if target_column => vec![Cr, Pr, Sd, Ne, Pd],
        "Any" => vec![Cr, NonCrNonPd, Ne, Pd],
        other => panic!("unknown cell {other:?}"),
    }
}

/// The fields of one CSV line (the shared files quote fields holding commas).
fn fields(line: &str) -> Vec<String> {
    crate::csv::records(line, "test")
        .expect("a CSV line")
        .remove(0)
}

#[test]
fn the_shared_transcription_of_tables_1_and_2_matches_the_engine() {
    let text = std::fs::read_to_string(format!("{RULES_DIR}/recist11_rule_tables.csv"))
        .expect("shared rule tables");
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let f = fields(line);
        let table2 = f[0].starts_with("T2");
        let targets = if table2 {
            vec![NotApplicable]
        } else {
            cell(&f[1], true)
        };
        let non_targets = cell(&f[2], false);
        let news: Vec<NewLesions> = match f[3].trim() {
            "No" => vec![NewLesions::None],
            "Yes" => vec![NewLesions::Unequivocal],
            "Yes or No" => vec![NewLesions::None, NewLesions::Unequivocal],
            other => panic!("new lesions {other:?}"),
        };
        let expected = match f[4].trim() {
            "Non-CR/non-PD" => NonCrNonPd,
            w => cell(w, true)[0],
        };
        for t in &targets {
            for nt in &non_targets {
                for n in &news {
                    assert_eq!(
                        overall_response(*t, *nt, *n),
                        expected,
                        "{line}: {t:?} {nt:?} {n:?}"
                    );
                }
            }
        }
        rows += 1;
    }
    assert_eq!(rows, 14, "Table 1 has 9 rows and Table 2 5");
}

// ---- Table 3: best overall response when confirmation is required ----

fn best(first: Response, second: Response, second_day: i64, min_sd: i64) -> Response {
    let points = [
        TimePoint {
            day: 42,
            response: first,
        },
        TimePoint {
            day: second_day,
            response: second,
        },
    ];
    let rules = BestRules {
        confirm: true,
        confirmation_days: 28,
        min_sd_days: min_sd,
    };
    best_overall(&points, &rules, true)
}

#[test]
fn table_3_every_row() {
    // SD duration met at the first time point (day 42 ≥ 42) or not (≥ 100 days needed).
    let (met, unmet) = (42, 100);
    assert_eq!(best(Cr, Cr, 84, met), Cr);
    // CR then anything but CR or NE: "if CR truly met at first time point, any disease seen
    // at a subsequent time point … makes the disease PD at that point" (footnote a).
    assert_eq!(best(Cr, Pr, 84, met), Sd);
    assert_eq!(best(Cr, Pr, 84, unmet), Pd);
    assert_eq!(best(Cr, Sd, 84, met), Sd);
    assert_eq!(best(Cr, Sd, 84, unmet), Pd);
    assert_eq!(best(Cr, Pd, 84, met), Sd);
    assert_eq!(best(Cr, Pd, 84, unmet), Pd);
    assert_eq!(best(Cr, Ne, 84, met), Sd);
    assert_eq!(best(Cr, Ne, 84, unmet), Ne);
    assert_eq!(best(Pr, Cr, 84, met), Pr);
    assert_eq!(best(Pr, Pr, 84, met), Pr);
    assert_eq!(best(Pr, Sd, 84, met), Sd);
    assert_eq!(best(Pr, Pd, 84, met), Sd);
    assert_eq!(best(Pr, Pd, 84, unmet), Pd);
    assert_eq!(best(Pr, Ne, 84, met), Sd);
    assert_eq!(best(Pr, Ne, 84, unmet), Ne);
    assert_eq!(best(Ne, Ne, 84, met), Ne);
}

#[test]
fn the_shared_transcription_of_table_3_matches_the_engine() {
    let text = std::fs::read_to_string(format!("{RULES_DIR}/recist11_bor_confirmation_table.csv"))
        .expect("shared table 3");
    let word = |w: &str| cell(w, true)[0];
    let mut rows = 0;
    for f in crate::csv::records(&text, "table 3")
        .expect("CSV")
        .into_iter()
        .skip(1)
    {
        let (first, second) = (word(&f[0]), word(&f[1]));
        let (met, unmet) = (best(first, second, 84, 42), best(first, second, 84, 100));
        let expected = f[2].as_str();
        let ok = match expected {
            "SD, PD or PR" => met == Sd && unmet == Pd, // PR only when a reader revises the CR
            e if e.starts_with("SD if minimum SD duration met, otherwise ") => {
                met == Sd && unmet == word(e.rsplit(' ').next().unwrap_or_default())
            }
            // Unconditional rows: the paper takes the SD duration as met by then.
            e => met == word(e) && (word(e) == Sd || unmet == word(e)),
        };
        assert!(ok, "{f:?}: {met:?} (SD duration met), {unmet:?} (not met)");
        rows += 1;
    }
    assert_eq!(rows, 11, "Table 3 has 11 rows");
}

#[test]
fn confirmation_needs_the_interval_and_no_worse_response_between() {
    let rules = BestRules {
        confirm: true,
        confirmation_days: 28,
        min_sd_days: 42,
    };
    let pts = |r: &[(i64, Response)]| -> Vec<TimePoint> {
        r.iter()
            .map(|(day, response)| TimePoint {
                day: *day,
                response: *response,
            })
            .collect()
    };
    // 27 days apart: not confirmed; the unconfirmed PR counts as SD (day ≥ 42).
    assert_eq!(best_overall(&pts(&[(42, Pr), (69, Pr)]), &rules, true), Sd);
    assert_eq!(best_overall(&pts(&[(42, Pr), (70, Pr)]), &rules, true), Pr);
    // An NE between does not break the confirmation; an SD between does.
    assert_eq!(
        best_overall(&pts(&[(42, Pr), (56, Ne), (84, Pr)]), &rules, true),
        Pr
    );
    assert_eq!(
        best_overall(&pts(&[(42, Pr), (56, Sd), (84, Pr)]), &rules, true),
        Sd
    );
    // A CR confirmed too soon is not a CR; a PR then a CR confirms the PR.
    assert_eq!(best_overall(&pts(&[(42, Cr), (56, Cr)]), &rules, true), Sd);
    assert_eq!(best_overall(&pts(&[(42, Pr), (84, Cr)]), &rules, true), Pr);
    // Without confirmation the best is taken as seen; visits after the first PD do not count.
    let free = BestRules {
        confirm: false,
        ..rules
    };
    assert_eq!(
        best_overall(&pts(&[(42, Pr), (84, Pd), (126, Cr)]), &free, true),
        Pr
    );
    assert_eq!(best_overall(&pts(&[(21, Sd), (42, Pd)]), &free, true), Pd);
    assert_eq!(best_overall(&pts(&[(21, Sd)]), &free, true), Ne);
    // Non-measurable disease only: stable is non-CR/non-PD.
    assert_eq!(
        best_overall(&pts(&[(42, NonCrNonPd)]), &free, false),
        NonCrNonPd
    );
}

// ---- the target response thresholds (§4.3.1) ----

#[test]
fn pd_needs_20_percent_over_the_nadir_and_5_mm() {
    // nadir 20 mm: +20 % is 4 mm, short of 5 mm → SD; 25 mm → PD.
    assert_eq!(targets_of(&one_target(20.0, &[24.0])), [Sd]);
    assert_eq!(targets_of(&one_target(20.0, &[25.0])), [Pd]);
    // nadir 50 mm: +20 % = 60 mm (10 mm) → PD; 59.9 mm → SD.
    assert_eq!(targets_of(&one_target(50.0, &[60.0])), [Pd]);
    assert_eq!(targets_of(&one_target(50.0, &[59.9])), [Sd]);
}

#[test]
fn pd_is_measured_from_the_nadir_not_the_baseline() {
    // 100 → 60 (PR) → 69 (+15 % over 60: still PR) → 72 (+20 %, 12 mm: PD, though 28 % below
    // baseline)
    assert_eq!(targets_of(&one_target(100.0, &[60.0, 69.0])), [Pr, Pr]);
    assert_eq!(targets_of(&one_target(100.0, &[60.0, 72.0])), [Pr, Pd]);
    let a = assess(&one_target(100.0, &[60.0, 72.0]), &Rules::default()).expect("valid");
    assert_eq!(a.nadir_sum_mm, Some(60.0));
    let p = &a.time_points[2];
    assert!((p.change_from_baseline_pct.unwrap() + 28.0).abs() < 1e-9);
    assert!((p.change_from_nadir_pct.unwrap() - 20.0).abs() < 1e-9);
}

#[test]
fn pr_needs_30_percent_below_baseline() {
    assert_eq!(targets_of(&one_target(100.0, &[70.0])), [Pr]);
    assert_eq!(targets_of(&one_target(100.0, &[70.1])), [Sd]);
    assert_eq!(targets_of(&one_target(100.0, &[0.0])), [Cr]);
}

#[test]
fn nodes_returning_below_10_mm_short_axis_are_a_complete_response_and_still_summed() {
    let lesions = vec![target("T1", "liver"), node("N1")];
    let base = visit(0, &[("T1", long(30.0)), ("N1", short(20.0))], &[]);
    let cr = visit(
        42,
        &[("T1", TargetSeen::Disappeared), ("N1", short(8.0))],
        &[],
    );
    let s = subject(lesions.clone(), vec![base.clone(), cr]);
    let a = assess(&s, &Rules::default()).expect("valid");
    assert_eq!(a.time_points[1].target, Cr);
    assert_eq!(
        a.time_points[1].sum_mm, 8.0,
        "the node's short axis stays in the sum"
    );
    // 10 mm is not normal: PR, not CR.
    let pr = visit(
        42,
        &[("T1", TargetSeen::Disappeared), ("N1", short(10.0))],
        &[],
    );
    assert_eq!(targets_of(&subject(lesions, vec![base, pr])), [Pr]);
}

#[test]
fn non_target_nodes_must_be_normal_for_cr() {
    let lesions = vec![target("T1", "liver"), non_target("NT1")];
    let base = visit(0, &[("T1", long(30.0))], &[("NT1", State::Present)]);
    let gone = |nt: State| visit(42, &[("T1", TargetSeen::Disappeared)], &[("NT1", nt)]);
    assert_eq!(
        overall_of(&subject(
            lesions.clone(),
            vec![base.clone(), gone(State::Absent)]
        )),
        [Cr]
    );
    assert_eq!(
        overall_of(&subject(
            lesions.clone(),
            vec![base.clone(), gone(State::Present)]
        )),
        [Pr]
    );
    assert_eq!(
        overall_of(&subject(lesions, vec![base, gone(State::NotEvaluated)])),
        [Pr]
    );
}

#[test]
fn any_reappearance_after_a_complete_response_is_progression() {
    let lesions = vec![target("T1", "liver"), non_target("NT1")];
    let base = visit(0, &[("T1", long(30.0))], &[("NT1", State::Present)]);
    let cr = visit(
        42,
        &[("T1", TargetSeen::Disappeared)],
        &[("NT1", State::Absent)],
    );
    // A 4 mm target is far below +20 % and +5 mm over a nadir of 0 — but after CR it is PD.
    let back = visit(84, &[("T1", long(4.0))], &[("NT1", State::Absent)]);
    assert_eq!(
        overall_of(&subject(
            lesions.clone(),
            vec![base.clone(), cr.clone(), back]
        )),
        [Cr, Pd]
    );
    // A non-target reappearing after CR is PD too; an NE between does not reset it.
    let ne = visit(84, &[], &[]);
    let nt_back = visit(
        126,
        &[("T1", TargetSeen::Disappeared)],
        &[("NT1", State::Present)],
    );
    assert_eq!(
        overall_of(&subject(
            lesions.clone(),
            vec![base.clone(), cr, ne, nt_back.clone()]
        )),
        [Cr, Ne, Pd]
    );
    // Not after a PR: the same non-target present is non-CR/non-PD.
    let pr = visit(42, &[("T1", long(10.0))], &[("NT1", State::Present)]);
    assert_eq!(
        overall_of(&subject(lesions, vec![base, pr, nt_back])),
        [Pr, Pr]
    );
}

#[test]
fn too_small_to_measure_counts_5_mm_and_disappeared_0() {
    let lesions = vec![target("T1", "liver"), target("T2", "lung")];
    let base = visit(0, &[("T1", long(20.0)), ("T2", long(20.0))], &[]);
    let v = visit(
        42,
        &[
            ("T1", TargetSeen::TooSmall),
            ("T2", TargetSeen::Disappeared),
        ],
        &[],
    );
    let s = subject(lesions, vec![base, v]);
    let a = assess(&s, &Rules::default()).expect("valid");
    assert_eq!(
        (a.time_points[1].sum_mm, a.time_points[1].target),
        (5.0, Pr)
    );
    let three = Rules {
        too_small_mm: 3.0,
        ..Rules::default()
    };
    assert_eq!(
        assess(&s, &three).expect("valid").time_points[1].sum_mm,
        3.0
    );
}

#[test]
fn split_lesions_sum_their_fragments_and_merged_ones_count_once() {
    let lesions = vec![target("T1", "liver"), target("T2", "liver")];
    let base = visit(0, &[("T1", long(20.0)), ("T2", long(20.0))], &[]);
    let d = |mm| Diameters {
        long_mm: Some(mm),
        short_mm: None,
    };
    let split = visit(
        42,
        &[
            ("T1", TargetSeen::Split(vec![d(8.0), d(6.0)])),
            ("T2", long(10.0)),
        ],
        &[],
    );
    let merged = visit(
        42,
        &[
            ("T1", long(33.0)),
            ("T2", TargetSeen::MergedInto("T1".into())),
        ],
        &[],
    );
    let a = assess(
        &subject(lesions.clone(), vec![base.clone(), split]),
        &Rules::default(),
    )
    .expect("valid");
    assert_eq!(a.time_points[1].sum_mm, 24.0);
    let a = assess(&subject(lesions, vec![base, merged]), &Rules::default()).expect("valid");
    assert_eq!(
        (a.time_points[1].sum_mm, a.time_points[1].target),
        (33.0, Sd)
    );
}

#[test]
fn a_visit_missing_a_target_is_ne_unless_the_others_already_make_pd() {
    // The paper's example (§4.4.2): baseline 50 mm in three lesions; at follow-up two of them
    // measure 80 mm — PD whatever the third.
    let lesions = vec![
        target("T1", "liver"),
        target("T2", "lung"),
        target("T3", "adrenal"),
    ];
    let base = visit(
        0,
        &[("T1", long(20.0)), ("T2", long(15.0)), ("T3", long(15.0))],
        &[],
    );
    let pd = visit(42, &[("T1", long(50.0)), ("T2", long(30.0))], &[]);
    let ne = visit(42, &[("T1", long(18.0)), ("T2", long(14.0))], &[]);
    let a = assess(
        &subject(lesions.clone(), vec![base.clone(), pd]),
        &Rules::default(),
    )
    .expect("valid");
    assert_eq!(
        (
            a.time_points[1].target,
            a.time_points[1].overall,
            a.time_points[1].complete
        ),
        (Pd, Pd, false)
    );
    assert_eq!(
        overall_of(&subject(lesions.clone(), vec![base.clone(), ne.clone()])),
        [Ne]
    );
    // An incomplete visit is not a nadir: the next complete one compares with baseline.
    let after = visit(
        84,
        &[("T1", long(20.0)), ("T2", long(15.0)), ("T3", long(15.0))],
        &[],
    );
    assert_eq!(
        overall_of(&subject(lesions, vec![base, ne, after])),
        [Ne, Sd]
    );
}

#[test]
fn an_equivocal_new_lesion_confirmed_later_dates_progression_from_its_first_sighting() {
    let lesions = vec![target("T1", "liver")];
    let base = visit(0, &[("T1", long(30.0))], &[]);
    let first = with_new(visit(42, &[("T1", long(28.0))], &[]), "N1", true);
    let later = with_new(visit(84, &[("T1", long(28.0))], &[]), "N1", false);
    assert_eq!(
        overall_of(&subject(lesions.clone(), vec![base.clone(), first.clone()])),
        [Sd]
    );
    let s = subject(lesions, vec![base, first, later]);
    assert_eq!(overall_of(&s), [Pd, Pd]);
    let a = assess(&s, &Rules::default()).expect("valid");
    assert_eq!(a.time_points[1].new_lesions, NewLesions::Unequivocal);
}

#[test]
fn the_eortc_faq_example_reads_sd_by_the_paper_and_pr_by_the_faq_convention() {
    // EORTC FAQ "Managing PR when TP measurements change slightly over time" (the shared
    // eortc_faq_worked_examples.csv): baseline 100, then 70, 70, 80, 80, 80; non-targets present.
    let text = std::fs::read_to_string(format!("{RULES_DIR}/eortc_faq_worked_examples.csv"))
        .expect("shared FAQ");
    let f = fields(text.lines().nth(1).expect("one example"));
    let baseline: f64 = f[2].parse().expect("baseline");
    let sums: Vec<f64> = f[3].split(';').map(|s| s.parse().expect("sum")).collect();
    let lesions = vec![target("T1", "liver"), non_target("NT1")];
    let mut visits = vec![visit(
        0,
        &[("T1", long(baseline))],
        &[("NT1", State::Present)],
    )];
    for (i, mm) in sums.iter().enumerate() {
        visits.push(visit(
            42 * (i as i64 + 1),
            &[("T1", long(*mm))],
            &[("NT1", State::Present)],
        ));
    }
    let s = subject(lesions, visits);
    let paper = assess(&s, &Rules::default()).expect("valid");
    let responses: Vec<Response> = paper.time_points[1..].iter().map(|p| p.overall).collect();
    assert_eq!(responses, [Pr, Pr, Sd, Sd, Sd]);
    assert_eq!(paper.best, Pr);
    let faq = assess(
        &s,
        &Rules {
            pr_persists: true,
            ..Rules::default()
        },
    )
    .expect("valid");
    let words: Vec<&str> = faq.time_points[1..]
        .iter()
        .map(|p| p.overall.word())
        .collect();
    assert_eq!(words.join(";"), f[6]);
    assert_eq!(faq.best.word(), f[7]);
}

// ---- a baseline that breaks the guideline is refused, naming rule, lesion and visit ----

fn refused(lesions: Vec<Lesion>, visits: Vec<Visit>) -> RuleError {
    let s = unchecked(lesions, visits);
    match s.check() {
        Err(e) => e,
        Ok(s) => assess(&s, &Rules::default()).expect_err("must be refused"),
    }
}

#[test]
fn six_targets_are_refused() {
    let ids = ["T1", "T2", "T3", "T4", "T5", "T6"];
    let organs = ["liver", "lung", "adrenal", "spleen", "kidney", "brain"];
    let lesions: Vec<Lesion> = ids
        .iter()
        .zip(organs)
        .map(|(id, o)| target(id, o))
        .collect();
    let seen: Vec<(&str, TargetSeen)> = ids.iter().map(|id| (*id, long(20.0))).collect();
    let e = refused(lesions, vec![visit(0, &seen, &[])]);
    assert_eq!(
        (e.rule, e.lesion.as_deref(), e.visit.as_deref()),
        (rule::MAX_TARGETS, Some("T6"), Some("BASELINE"))
    );
    assert!(e.to_string().contains("6 target lesions"), "{e}");
}

#[test]
fn three_targets_in_one_organ_are_refused_and_nodes_are_one_organ() {
    let e = refused(
        vec![
            target("T1", "Liver"),
            target("T2", "liver"),
            target("T3", "liver "),
        ],
        vec![visit(
            0,
            &[("T1", long(20.0)), ("T2", long(20.0)), ("T3", long(20.0))],
            &[],
        )],
    );
    assert_eq!((e.rule, e.lesion.as_deref()), (rule::PER_ORGAN, Some("T3")));
    let e = refused(
        vec![node("N1"), node("N2"), node("N3")],
        vec![visit(
            0,
            &[
                ("N1", short(20.0)),
                ("N2", short(20.0)),
                ("N3", short(20.0)),
            ],
            &[],
        )],
    );
    assert_eq!((e.rule, e.lesion.as_deref()), (rule::PER_ORGAN, Some("N3")));
}

#[test]
fn a_node_measured_on_its_long_axis_is_refused_at_baseline_and_follow_up() {
    let e = refused(vec![node("N1")], vec![visit(0, &[("N1", long(25.0))], &[])]);
    assert_eq!(
        (e.rule, e.lesion.as_deref(), e.visit.as_deref()),
        (rule::NODE_SHORT_AXIS, Some("N1"), Some("BASELINE"))
    );
    let e = refused(
        vec![node("N1")],
        vec![
            visit(0, &[("N1", short(25.0))], &[]),
            visit(42, &[("N1", long(20.0))], &[]),
        ],
    );
    assert_eq!(
        (e.rule, e.lesion.as_deref(), e.visit.as_deref()),
        (rule::NODE_SHORT_AXIS, Some("N1"), Some("DAY 42"))
    );
}

#[test]
fn targets_below_measurable_size_are_refused() {
    let e = refused(
        vec![target("T1", "liver")],
        vec![visit(0, &[("T1", long(9.9))], &[])],
    );
    assert_eq!(
        (e.rule, e.lesion.as_deref()),
        (rule::MEASURABLE, Some("T1"))
    );
    // 7 mm slices: at least 14 mm.
    let mut v = visit(0, &[("T1", long(12.0))], &[]);
    v.slice_thickness_mm = Some(7.0);
    let e = refused(vec![target("T1", "liver")], vec![v]);
    assert!(e.to_string().contains("14 mm"), "{e}");
    // A node of 12 mm short axis is pathological but not a measurable target.
    let e = refused(
        vec![node("N1")],
        vec![visit(0, &[("N1", short(12.0))], &[])],
    );
    assert_eq!(e.rule, rule::NODE_MEASURABLE);
}

#[test]
fn a_follow_up_before_baseline_and_an_unknown_lesion_are_refused() {
    let e = refused(
        vec![target("T1", "liver")],
        vec![
            visit(0, &[("T1", long(20.0))], &[]),
            visit(-3, &[("T1", long(20.0))], &[]),
        ],
    );
    assert_eq!(
        (e.rule, e.visit.as_deref()),
        ("a follow-up comes after baseline", Some("DAY -3"))
    );
    let e = refused(
        vec![target("T1", "liver")],
        vec![
            visit(0, &[("T1", long(20.0))], &[]),
            visit(42, &[("T9", long(20.0))], &[]),
        ],
    );
    assert_eq!(
        (e.lesion.as_deref(), e.visit.as_deref()),
        (Some("T9"), Some("DAY 42"))
    );
    assert!(e.to_string().contains("unknown lesion id"), "{e}");
}

// ---- the property: growth never improves the response of its visit ----

/// How good a response is (lower is better); SD and non-CR/non-PD rank alike.
fn rank(r: Response) -> u8 {
    match r {
        Cr => 0,
        Pr => 1,
        Sd | NonCrNonPd => 2,
        Ne | NotApplicable => 3,
        Pd => 4,
    }
}

fn random_subject(rng: &mut Rng) -> Subject {
    let organs = ["liver", "lung", "adrenal", "spleen", "kidney"];
    let n_targets = 1 + rng.below(5);
    let mut lesions = Vec::new();
    let mut base_targets = Vec::new();
    for (i, organ) in organs.iter().enumerate().take(n_targets) {
        let id = format!("T{i}");
        let nodes = lesions.iter().filter(|l: &&Lesion| l.nodal).count();
        if nodes < 2 && rng.unit() < 0.3 {
            lesions.push(node(&id));
            base_targets.push((id, short(rng.range(15.0, 40.0))));
        } else {
            lesions.push(target(&id, organ));
            base_targets.push((id, long(rng.range(10.0, 60.0))));
        }
    }
    let n_nt = rng.below(3);
    for i in 0..n_nt {
        lesions.push(non_target(&format!("NT{i}")));
    }
    let mut visits = Vec::new();
    let n_visits = 2 + rng.below(6);
    let mut day = 0;
    for v in 0..n_visits {
        let mut targets: Vec<(String, TargetSeen)> = Vec::new();
        for (id, seen) in &base_targets {
            let nodal = lesions.iter().any(|l| &l.id == id && l.nodal);
            let t = if v == 0 {
                seen.clone()
            } else {
                match rng.below(10) {
                    0 => TargetSeen::Disappeared,
                    1 => TargetSeen::TooSmall,
                    2 if rng.unit() < 0.3 => TargetSeen::NotEvaluated,
                    _ if nodal => short(rng.range(0.0, 45.0)),
                    _ => long(rng.range(0.0, 70.0)),
                }
            };
            targets.push((id.clone(), t));
        }
        let nts: Vec<(String, State)> = (0..n_nt)
            .map(|i| {
                let s = if v == 0 {
                    State::Present
                } else {
                    [
                        State::Present,
                        State::Absent,
                        State::Absent,
                        State::Progression,
                        State::NotEvaluated,
                    ][rng.below(5)]
                };
                (format!("NT{i}"), s)
            })
            .collect();
        let t: Vec<(&str, TargetSeen)> = targets
            .iter()
            .map(|(id, s)| (id.as_str(), s.clone()))
            .collect();
        let n: Vec<(&str, State)> = nts.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let mut visit = visit(day, &t, &n);
        if v > 0 && rng.unit() < 0.1 {
            visit = with_new(visit, &format!("N{v}"), rng.unit() < 0.5);
        }
        visits.push(visit);
        day += 28 + rng.below(40) as i64;
    }
    subject(lesions, visits)
}

/// `seen` grown by `by` mm (a node on its short axis).
fn grown(seen: &TargetSeen, nodal: bool, by: f64, too_small: f64) -> Option<TargetSeen> {
    let d = |mm: f64| if nodal { short(mm) } else { long(mm) };
    match seen {
        TargetSeen::Measured(m) => Some(d(if nodal { m.short_mm? } else { m.long_mm? } + by)),
        TargetSeen::TooSmall => Some(d(too_small + by)),
        TargetSeen::Disappeared => Some(d(by)),
        _ => None,
    }
}

#[test]
fn a_growing_target_never_improves_the_response_of_its_visit() {
    let mut rng = Rng(0x5EED_2009);
    let rules = Rules::default();
    let mut compared = 0;
    for _ in 0..3000 {
        let s = random_subject(&mut rng);
        let before = assess(&s, &rules).expect("generated records are valid");
        let k = 1 + rng.below(s.visits.len() - 1);
        let targets: Vec<Lesion> = s.targets().cloned().collect();
        let l = &targets[rng.below(targets.len())];
        let by = [0.1, 1.0, 5.0, 20.0][rng.below(4)];
        let Some(bigger) = s.visits[k]
            .targets
            .get(&l.id)
            .and_then(|seen| grown(seen, l.nodal, by, rules.too_small_mm))
        else {
            continue;
        };
        let mut t = s.clone();
        t.visits[k].targets.insert(l.id.clone(), bigger);
        let after = assess(&t, &rules).expect("still valid");
        let (b, a) = (&before.time_points[k], &after.time_points[k]);
        assert!(
            rank(a.target) >= rank(b.target),
            "target {:?} → {:?} growing {} by {by} at {k}: {s:?}",
            b.target,
            a.target,
            l.id
        );
        assert!(
            rank(a.overall) >= rank(b.overall),
            "overall {:?} → {:?} growing {} by {by} at {k}: {s:?}",
            b.overall,
            a.overall,
            l.id
        );
        if k == s.visits.len() - 1 {
            assert!(
                rank(after.best) >= rank(before.best),
                "best {:?} → {:?}",
                before.best,
                after.best
            );
        }
        compared += 1;
    }
    assert!(compared > 2000, "{compared} cases compared");
}
