//! RECIST 1.1 on its inputs: corelab lesion JSON, the pharmaversesdtm TU + TR examples against
//! their RS responses and expected best responses, and the algorithm run on documents.

use super::*;
use crate::onco::response::BestRules;
use crate::onco::sdtm::{self, Evaluator};
use crate::onco::testing::*;
use Response::*;
use std::collections::BTreeMap;

const RULES_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/clinical_rules/recist1.1"
);

// ---- readers ----

#[test]
fn reads_corelab_lesion_json() {
    let json = r#"{
      "subject": "001",
      "lesions": [
        {"id": "T1", "role": "target", "organ": "liver"},
        {"id": "N1", "role": "target", "organ": "mediastinal lymph node"},
        {"id": "NT1", "role": "non-target", "organ": "bone"}
      ],
      "visits": [
        {"visit": "BASELINE", "date": "2024-01-02", "measurements": [
          {"lesion": "T1", "long_axis_mm": 40}, {"lesion": "N1", "long_axis_mm": 25, "short_axis_mm": 18},
          {"lesion": "NT1", "state": "present"}]},
        {"visit": "WEEK 6", "date": "2024-02-13", "measurements": [
          {"lesion": "T1", "state": "absent"}, {"lesion": "N1", "short_axis_mm": 9},
          {"lesion": "NT1", "state": "absent"}]},
        {"visit": "WEEK 12", "date": "2024-03-26", "measurements": [
          {"lesion": "T1", "state": "absent"}, {"lesion": "N1", "short_axis_mm": 8},
          {"lesion": "NT1", "state": "absent"}]}
      ]
    }"#;
    let s = crate::onco::lesions::from_json(json).expect("valid JSON");
    assert!(s.lesion("N1").expect("N1").nodal);
    let a = assess(&s, &Rules::default()).expect("valid");
    assert_eq!(a.baseline_sum_mm, Some(58.0));
    assert_eq!(a.time_points[1].day, 42);
    assert_eq!(a.best, Cr);
    let e = crate::onco::lesions::from_json(
        &json.replace("\"organ\": \"bone\"", "\"organ\": \"bone\", \"size\": 3"),
    )
    .expect_err("unknown field");
    assert!(e.to_string().contains("unknown field `size`"), "{e}");
    let e = crate::onco::lesions::from_json(&json.replace("2024-02-13", "2024-02-30"))
        .expect_err("bad date");
    assert_eq!(e.visit.as_deref(), Some("WEEK 6"));
}

/// The rows of a CSV text as maps from (upper-case) column names.
fn by_name(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows = crate::csv::records(text, "test").expect("CSV").into_iter();
    let header: Vec<String> = rows
        .next()
        .expect("header")
        .iter()
        .map(|h| h.to_uppercase())
        .collect();
    rows.map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

/// The pharmaversesdtm RECIST examples: every accepted RS time point, and the expected best
/// overall responses unconfirmed and confirmed (minimum SD duration 6 weeks).
#[test]
fn reproduces_the_pharmaversesdtm_responses_and_best_overall_responses() {
    let dir = format!("{RULES_DIR}/pharmaversesdtm");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).expect("pharmaversesdtm");
    let (tu, tr, rs) = (
        read("tu_onco_recist.csv"),
        read("tr_onco_recist.csv"),
        read("rs_onco_recist.csv"),
    );
    let mut expected_tp: BTreeMap<(String, String), String> = BTreeMap::new();
    for r in by_name(&rs) {
        if r["RSACPTFL"] == "Y" && r["RSTESTCD"] == "OVRLRESP" {
            expected_tp.insert(
                (r["USUBJID"].clone(), r["VISIT"].clone()),
                r["RSSTRESC"].clone(),
            );
        }
    }
    let mut checked = 0;
    for r in by_name(&read("expected_bor_annotations.csv")) {
        let subject =
            sdtm::read(&tu, &tr, Some(&r["USUBJID"]), Evaluator::Accepted).expect("valid SDTM");
        let confirmed = assess(&subject, &Rules::default()).expect("valid");
        let unconfirmed = Rules {
            best: BestRules {
                confirm: false,
                ..Rules::default().best
            },
            ..Rules::default()
        };
        let plain = assess(&subject, &unconfirmed).expect("valid");
        for p in &confirmed.time_points[1..] {
            let want = &expected_tp[&(r["USUBJID"].clone(), p.visit.clone())];
            assert_eq!(p.overall.word(), want, "{} {}", r["USUBJID"], p.visit);
            checked += 1;
        }
        let visits: Vec<&str> = confirmed.time_points[1..]
            .iter()
            .map(|p| p.overall.word())
            .collect();
        assert_eq!(visits.join(" "), r["VISIT_ANNOTATIONS"], "{}", r["USUBJID"]);
        assert_eq!(plain.best.word(), r["EXPECTED_BOR"], "{}", r["USUBJID"]);
        assert_eq!(
            confirmed.best.word(),
            r["EXPECTED_CONFIRMED_BOR"],
            "{}",
            r["USUBJID"]
        );
    }
    assert_eq!(checked, 9, "every accepted RS overall response");
}

#[test]
fn sdtm_reads_refuse_several_evaluators_when_one_is_asked_for() {
    let dir = format!("{RULES_DIR}/pharmaversesdtm");
    let tu = std::fs::read_to_string(format!("{dir}/tu_onco_recist.csv")).expect("TU");
    let tr = std::fs::read_to_string(format!("{dir}/tr_onco_recist.csv")).expect("TR");
    let e =
        sdtm::read(&tu, &tr, Some("01-701-1015"), Evaluator::Only).expect_err("three evaluators");
    assert!(e.to_string().contains("3 evaluators"), "{e}");
    let e = sdtm::read(&tu, &tr, None, Evaluator::Accepted).expect_err("four subjects");
    assert!(e.to_string().contains("4 subjects"), "{e}");
    let s =
        sdtm::read(&tu, &tr, Some("01-701-1015"), Evaluator::Investigator).expect("investigator");
    assert_eq!(s.visits.len(), 4);
}

// ---- the algorithm ----

#[test]
fn runs_as_an_algorithm_on_a_json_document_and_refuses_a_misfit_input() {
    use crate::{Document, Inputs};
    let json = r#"{"subject": "001", "lesions": [{"id": "T1", "role": "target", "organ": "liver"}],
      "visits": [{"visit": "BASELINE", "date": "2024-01-01", "measurements": [{"lesion": "T1", "long_axis_mm": 50}]},
                 {"visit": "W6", "date": "2024-02-12", "measurements": [{"lesion": "T1", "long_axis_mm": 30}]},
                 {"visit": "W12", "date": "2024-03-25", "measurements": [{"lesion": "T1", "long_axis_mm": 32}]},
                 {"visit": "W18", "date": "2024-05-06", "measurements": [{"lesion": "T1", "long_axis_mm": 40}]}]}"#;
    let mut inputs = Inputs::new();
    inputs.insert_document("lesions".into(), Document::new("lesions.json", json.into()));
    let (_, out) = crate::run(&Recist11, &inputs, &BTreeMap::new()).expect("runs");
    let value = |n: &str| {
        out.measurements
            .iter()
            .find(|m| m.name == n)
            .map(|m| m.value)
    };
    assert_eq!(value("best-overall-response"), Some(Pr.code()));
    assert_eq!(value("baseline-sum"), Some(50.0));
    assert_eq!(value("nadir-sum"), Some(30.0));
    assert_eq!(value("progression-day"), Some(126.0));
    let rows = &out.tables[0].rows;
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[1],
        vec![
            1.0,
            42.0,
            30.0,
            1.0,
            -40.0,
            -40.0,
            Pr.code(),
            0.0,
            0.0,
            Pr.code()
        ]
    );
    assert_eq!(rows[3][9], Pd.code());
    // A bad record is refused with its rule; SDTM without TU, or TU with JSON, are refused.
    let mut bad = Inputs::new();
    bad.insert_document(
        "lesions".into(),
        Document::new(
            "l.json",
            json.replace("\"long_axis_mm\": 50", "\"long_axis_mm\": 8"),
        ),
    );
    let e = crate::run(&Recist11, &bad, &BTreeMap::new()).expect_err("below measurable");
    assert!(
        e.to_string().contains("T1") && e.to_string().contains("RECIST 1.1 §3.1.1"),
        "{e}"
    );
    let mut csv = Inputs::new();
    csv.insert_document(
        "lesions".into(),
        Document::new("tr.csv", "USUBJID\n1\n".into()),
    );
    let e = crate::run(&Recist11, &csv, &BTreeMap::new()).expect_err("no TU");
    assert!(e.to_string().contains("input tu"), "{e}");
    inputs.insert_document("tu".into(), Document::new("tu.csv", "A\n".into()));
    assert!(crate::run(&Recist11, &inputs, &BTreeMap::new()).is_err());
}

#[test]
fn runs_on_one_subjects_sdtm_tables() {
    use crate::{Document, Inputs};
    let dir = format!("{RULES_DIR}/pharmaversesdtm");
    let only = |f: &str| -> String {
        let text = std::fs::read_to_string(format!("{dir}/{f}")).expect("pharmaversesdtm");
        let mut lines = text.lines();
        let mut out = format!("{}\n", lines.next().expect("header"));
        for l in lines.filter(|l| l.contains("01-701-1028")) {
            out += l;
            out.push('\n');
        }
        out
    };
    let mut inputs = Inputs::new();
    inputs.insert_document(
        "lesions".into(),
        Document::new("tr.csv", only("tr_onco_recist.csv")),
    );
    inputs.insert_document(
        "tu".into(),
        Document::new("tu.csv", only("tu_onco_recist.csv")),
    );
    let (_, out) = crate::run(&Recist11, &inputs, &BTreeMap::new()).expect("runs");
    let best = out
        .measurements
        .iter()
        .find(|m| m.name == "best-overall-response")
        .expect("best");
    assert_eq!(best.value, Pd.code());
    let codes: Vec<f64> = out.tables[0].rows.iter().map(|r| r[9]).collect();
    assert_eq!(codes, [0.0, Sd.code(), Pd.code(), Sd.code()]);
}

#[test]
fn an_image_for_a_table_role_is_refused_and_a_hand_built_record_is_checked() {
    let grid =
        corelab_image::geometry::Geometry::from_ras([1, 1, 1], &nalgebra::Matrix4::identity());
    let image = corelab_image::Volume::new(ndarray::Array3::<f32>::zeros((1, 1, 1)), grid)
        .expect("1 voxel");
    let inputs: crate::Inputs = [("lesions".to_owned(), image)].into();
    let e = crate::run(&Recist11, &inputs, &BTreeMap::new()).expect_err("an image");
    assert!(
        e.to_string().contains("takes a CSV or JSON document here"),
        "{e}"
    );
    // assess checks what it is given: no visits, or an unknown id, is an error, not a panic.
    let empty = unchecked(vec![target("T1", "liver")], Vec::new());
    assert!(assess(&empty, &Rules::default()).is_err());
    let unknown = unchecked(
        vec![target("T1", "liver")],
        vec![
            visit(0, &[("T1", long(20.0))], &[]),
            visit(42, &[("T2", long(20.0))], &[]),
        ],
    );
    assert_eq!(
        assess(&unknown, &Rules::default())
            .expect_err("unknown")
            .lesion
            .as_deref(),
        Some("T2")
    );
}

#[test]
fn sdtm_results_in_words_map_to_the_lesion_model() {
    let tu = "USUBJID,TULNKID,TULOC,TUSTRESC,VISITNUM,VISIT\n\
              1,T1,LIVER,TARGET,1,BASELINE\n1,T2,LUNG,TARGET,1,BASELINE\n1,N1,LYMPH NODE,TARGET,1,BASELINE\n\
              1,NEW1,BONE,NEW,2,WEEK 6\n";
    let tr = "USUBJID,TRLNKID,TRTESTCD,TRSTRESC,TRSTRESN,TRSTRESU,VISITNUM,VISIT,TRDTC\n\
              1,T1,LDIAM,30,30,mm,1,BASELINE,2024-01-01\n1,T2,LDIAM,20,20,mm,1,BASELINE,2024-01-01\n\
              1,N1,LDIAM,30,30,mm,1,BASELINE,2024-01-01\n1,N1,SAXIS,18,18,mm,1,BASELINE,2024-01-01\n\
              1,T1,LDIAM,TOO SMALL TO MEASURE,,,2,WEEK 6,2024-02-12\n1,T2,TUMSTATE,PRESENT,,,2,WEEK 6,2024-02-12\n\
              1,N1,LDIAM,25,25,mm,2,WEEK 6,2024-02-12\n1,NEW1,TUMSTATE,EQUIVOCAL,,,2,WEEK 6,2024-02-12\n";
    let s = sdtm::read(tu, tr, None, Evaluator::Only).expect("valid");
    let w6 = &s.visits[1];
    assert_eq!(w6.targets["T1"], TargetSeen::TooSmall);
    assert_eq!(
        w6.targets["T2"],
        TargetSeen::NotEvaluated,
        "a state without a diameter"
    );
    assert!(s.lesion("N1").expect("N1").nodal);
    assert_eq!(w6.new_lesions.len(), 1);
    assert!(w6.new_lesions[0].equivocal);
    // The node has only a long axis at week 6: refused by the rule, naming it and the visit.
    let e = assess(&s, &Rules::default()).expect_err("long axis only");
    assert_eq!(
        (e.lesion.as_deref(), e.visit.as_deref()),
        (Some("N1"), Some("WEEK 6"))
    );
    assert!(e.rule.contains("short axis"), "{e}");
}
