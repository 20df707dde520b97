//! TU (Tumor/Lesion Identification) and TR (Tumor/Lesion Results) from the lesion model, in the
//! columns and order of the pharmaverse oncology examples, so that corelab's own SDTM reader
//! (`corelab_algo::onco::sdtm::read`) reads a subject back from them.

use super::{Criterion, OncologyRead, Seq, evaluator_columns, id_columns, visitnum};
use crate::dataset::{Cell, Column, Dataset, ExportError, Origin, format_number};
use corelab_algo::onco::lesions::{Diameters, Lesion, Role, State, Subject, TargetSeen};

/// TU of the reads: per read, each baseline lesion (TUSTRESC `TARGET` / `NON-TARGET`) at the
/// baseline visit, then each new lesion (`NEW`) at the first visit that reports it.
pub fn tu(reads: &[OncologyRead]) -> Result<Dataset, ExportError> {
    let mut columns = id_columns();
    columns.extend([
        Column::text("VISIT", "Visit Name"),
        Column::integer("VISITNUM", "Visit Number"),
        Column::text("TULOC", "Location of the Tumor/Lesion").origin(Origin::Collected),
        Column::text("TUTESTCD", "Tumor/Lesion ID Short Name")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("TUTEST", "Tumor/Lesion ID Test Name")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("TUORRES", "Tumor/Lesion ID Result").origin(Origin::Collected),
        Column::text("TUSTRESC", "Tumor/Lesion ID Result Std. Format"),
        Column::text("TUMETHOD", "Method of Identification").origin(Origin::Assigned),
        Column::text("TULNKID", "Link ID").origin(Origin::Collected),
    ]);
    columns.extend(evaluator_columns("TU"));
    columns.extend([
        Column::datetime("TUDTC", "Date/Time of Tumor/Lesion Identification"),
        Column::integer("TUSEQ", "Sequence Number").mandatory(),
    ]);
    let mut ds = Dataset::new(
        "TU",
        "Tumor/Lesion Identification",
        "FINDINGS",
        "One record per identified tumor per subject per assessor",
        columns,
    );
    let mut seq = Seq::default();
    for read in reads {
        read.check()?;
        let s = read.subject;
        if s.visits.is_empty() {
            continue;
        }
        let mut row = |ds: &mut Dataset, visit: usize, organ: &str, class: &str, id: &str| {
            let v = &s.visits[visit];
            let e = read.evaluator;
            ds.rows.push(vec![
                Cell::text("TU"),
                Cell::text(&s.study),
                Cell::text(&s.id),
                Cell::text(&v.label),
                Cell::num(visitnum(visit)),
                Cell::text(organ),
                Cell::text("TUMIDENT"),
                Cell::text("Tumor Identification"),
                Cell::text(class),
                Cell::text(class),
                Cell::text(read.method),
                Cell::text(id),
                Cell::text(&e.eval),
                Cell::text(&e.evalid),
                Cell::text(if e.accepted { "Y" } else { "" }),
                Cell::text(&v.date.text),
                Cell::num(seq.next(&s.id)),
            ]);
        };
        for l in &s.lesions {
            let class = match l.role {
                Role::Target => "TARGET",
                Role::NonTarget => "NON-TARGET",
            };
            row(&mut ds, 0, &l.organ, class, &l.id);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, v) in s.visits.iter().enumerate() {
            for n in &v.new_lesions {
                if seen.insert(n.id.as_str()) {
                    // The lesion model keeps no location of a new lesion.
                    row(&mut ds, i, "", "NEW", &n.id);
                }
            }
        }
    }
    ds.validate()?;
    Ok(ds)
}

/// One TR finding: its group, lesion, test and value.
struct Finding<'a> {
    group: &'a str,
    lesion: &'a str,
    code: &'a str,
    test: &'a str,
    value: Value,
}

/// A TR result value.
enum Value {
    /// A measurement in a unit.
    Number(f64, &'static str),
    /// A word (a state, or why there is no measurement).
    Word(&'static str),
}

fn diameter_rows<'a>(lesion: &'a Lesion, seen: &TargetSeen) -> Vec<Finding<'a>> {
    let long = |mm: f64| Finding {
        group: "TARGET",
        lesion: &lesion.id,
        code: "LDIAM",
        test: "Longest Diameter",
        value: Value::Number(mm, "mm"),
    };
    // A node's second diameter is its short axis; another lesion's is the longest diameter
    // perpendicular to the longest (the bidimensional measure RANO multiplies).
    let (short_code, short_test) = if lesion.nodal {
        ("SAXIS", "Short Axis")
    } else {
        ("LPERP", "Longest Perpendicular")
    };
    let short = |mm: f64| Finding {
        group: "TARGET",
        lesion: &lesion.id,
        code: short_code,
        test: short_test,
        value: Value::Number(mm, "mm"),
    };
    let word = |code, test, w| Finding {
        group: "TARGET",
        lesion: &lesion.id,
        code,
        test,
        value: Value::Word(w),
    };
    let measured = |d: &Diameters| {
        let mut rows = Vec::new();
        rows.extend(d.long_mm.map(long));
        rows.extend(d.short_mm.map(short));
        if rows.is_empty() {
            rows.push(word("LDIAM", "Longest Diameter", "NOT EVALUABLE"));
        }
        rows
    };
    match seen {
        TargetSeen::Measured(d) => measured(d),
        // SDTM would split the lesion in TU (TUSPLIT) with a row per fragment; corelab's
        // reader has no fragments, so the fragments' sum is written, which is what counts.
        TargetSeen::Split(parts) => {
            let sum = |f: fn(&Diameters) -> Option<f64>| {
                parts
                    .iter()
                    .filter_map(f)
                    .fold(None, |acc: Option<f64>, x| Some(acc.unwrap_or(0.0) + x))
            };
            measured(&Diameters {
                long_mm: sum(|d| d.long_mm),
                short_mm: sum(|d| d.short_mm),
            })
        }
        // RECIST 1.1 and the EORTC FAQ: a lesion merged into another is recorded as 0 mm, the
        // other carrying the merged diameter.
        TargetSeen::MergedInto(_) => vec![long(0.0)],
        TargetSeen::TooSmall => {
            let (code, test) = if lesion.nodal {
                (short_code, short_test)
            } else {
                ("LDIAM", "Longest Diameter")
            };
            vec![word(code, test, "TOO SMALL TO MEASURE")]
        }
        TargetSeen::Disappeared => {
            let mut rows = vec![long(0.0)];
            if lesion.nodal {
                rows.push(short(0.0));
            }
            rows
        }
        TargetSeen::NotEvaluated => vec![word("LDIAM", "Longest Diameter", "NOT EVALUABLE")],
    }
}

fn state_word(s: State) -> &'static str {
    match s {
        State::Present => "PRESENT",
        State::Absent => "ABSENT",
        State::Progression => "UNEQUIVOCAL PROGRESSION",
        State::NotEvaluated => "NOT EVALUABLE",
    }
}

/// The sum row of a criterion: RECIST's sum of diameters (mm) or RANO's sum of products (mm²).
fn sum_test(c: Criterion) -> (&'static str, &'static str, &'static str) {
    match c {
        Criterion::Recist11 => ("SUMDIAM", "Sum of Diameter", "mm"),
        // Not confirmed in CDISC CT (see docs/sdtm.md): RANO's sum of the products of the
        // perpendicular diameters.
        Criterion::Rano => ("SPD", "Sum of Products of Diameters", "mm2"),
    }
}

/// TR of the reads: per read and visit, each target lesion's diameters (LDIAM; SAXIS for a node,
/// LPERP otherwise), each non-target's and new lesion's TUMSTATE, then the sum of the targets
/// (SUMDIAM, or SPD for RANO) when every target was assessed.
pub fn tr(reads: &[OncologyRead]) -> Result<Dataset, ExportError> {
    let mut columns = id_columns();
    columns.extend([
        Column::text("TRGRPID", "Group ID").origin(Origin::Collected),
        Column::text("TRLNKID", "Link ID").origin(Origin::Collected),
        Column::text("TRTESTCD", "Tumor/Lesion Assessment Short Name")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("TRTEST", "Tumor/Lesion Assessment Test Name")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("TRORRES", "Result or Finding in Original Units").origin(Origin::Collected),
        Column::text("TRORRESU", "Original Units").origin(Origin::Collected),
        Column::text("TRSTRESC", "Character Result/Finding in Std Format"),
        Column::float("TRSTRESN", "Numeric Result/Finding in Standard Units"),
        Column::text("TRSTRESU", "Standard Units"),
        Column::integer("VISITNUM", "Visit Number"),
        Column::text("VISIT", "Visit Name"),
    ]);
    columns.extend(evaluator_columns("TR"));
    columns.extend([
        Column::datetime("TRDTC", "Date/Time of Tumor/Lesion Measurement"),
        Column::integer("TRSEQ", "Sequence Number").mandatory(),
    ]);
    let mut ds = Dataset::new(
        "TR",
        "Tumor/Lesion Results",
        "FINDINGS",
        "One record per tumor measurement/assessment per visit per subject per assessor",
        columns,
    );
    let mut seq = Seq::default();
    for read in reads {
        read.check()?;
        let s: &Subject = read.subject;
        let e = read.evaluator;
        for (i, (v, point)) in s.visits.iter().zip(read.points).enumerate() {
            let mut results: Vec<Finding> = Vec::new();
            for l in s.targets() {
                if let Some(seen) = v.targets.get(&l.id) {
                    results.extend(diameter_rows(l, seen));
                }
            }
            for l in s.non_targets() {
                if let Some(state) = v.non_targets.get(&l.id) {
                    results.push(Finding {
                        group: "NON-TARGET",
                        lesion: &l.id,
                        code: "TUMSTATE",
                        test: "Tumor State",
                        value: Value::Word(state_word(*state)),
                    });
                }
            }
            for n in &v.new_lesions {
                results.push(Finding {
                    group: "NEW",
                    lesion: &n.id,
                    code: "TUMSTATE",
                    test: "Tumor State",
                    value: Value::Word(if n.equivocal { "EQUIVOCAL" } else { "PRESENT" }),
                });
            }
            let (code, test, unit) = sum_test(read.criterion);
            if s.targets().next().is_some() && point.complete {
                results.push(Finding {
                    group: "TARGET",
                    lesion: "",
                    code,
                    test,
                    value: Value::Number(point.size, unit),
                });
            }
            for r in results {
                let (text, number, unit) = match r.value {
                    Value::Number(x, unit) => (format_number(x), Some(x), unit),
                    Value::Word(w) => (w.to_owned(), None, ""),
                };
                ds.rows.push(vec![
                    Cell::text("TR"),
                    Cell::text(&s.study),
                    Cell::text(&s.id),
                    Cell::text(r.group),
                    Cell::text(r.lesion),
                    Cell::text(r.code),
                    Cell::text(r.test),
                    Cell::text(&text),
                    Cell::text(unit),
                    Cell::text(&text),
                    Cell::Num(number),
                    Cell::text(unit),
                    Cell::num(visitnum(i)),
                    Cell::text(&v.label),
                    Cell::text(&e.eval),
                    Cell::text(&e.evalid),
                    Cell::text(if e.accepted { "Y" } else { "" }),
                    Cell::text(&v.date.text),
                    Cell::num(seq.next(&s.id)),
                ]);
            }
        }
    }
    ds.validate()?;
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdtm::Evaluator;
    use corelab_algo::onco::lesions::from_json;
    use corelab_algo::onco::recist11;
    use corelab_algo::onco::sdtm::{Evaluator as Which, read};

    /// A subject with every kind of target result, a node, non-targets and new lesions.
    const JSON: &str = r#"{
      "subject": "S-001", "study": "CORELAB-T1",
      "lesions": [
        {"id": "T01", "role": "target", "organ": "LIVER"},
        {"id": "T02", "role": "target", "organ": "LYMPH NODE", "nodal": true},
        {"id": "T03", "role": "target", "organ": "LUNG"},
        {"id": "NT01", "role": "non-target", "organ": "BONE"}
      ],
      "visits": [
        {"visit": "BASELINE", "date": "2024-01-02", "measurements": [
          {"lesion": "T01", "long_axis_mm": 30.5}, {"lesion": "T02", "short_axis_mm": 18},
          {"lesion": "T03", "long_axis_mm": 12}, {"lesion": "NT01", "state": "present"}]},
        {"visit": "WEEK 6", "date": "2024-02-13", "measurements": [
          {"lesion": "T01", "long_axis_mm": 20.25}, {"lesion": "T02", "short_axis_mm": 9},
          {"lesion": "T03", "state": "too-small"}, {"lesion": "NT01", "state": "present"}]},
        {"visit": "WEEK 12", "date": "2024-03", "measurements": [
          {"lesion": "T01", "state": "not-evaluated"}, {"lesion": "T02", "short_axis_mm": 8},
          {"lesion": "T03", "state": "absent"}, {"lesion": "NT01", "state": "not-evaluated"}],
         "new_lesions": [{"id": "N01", "equivocal": true}]},
        {"visit": "WEEK 18", "date": "2024-05-07", "measurements": [
          {"lesion": "T01", "long_axis_mm": 40}, {"lesion": "T02", "short_axis_mm": 8},
          {"lesion": "T03", "state": "absent"}, {"lesion": "NT01", "state": "progression"}],
         "new_lesions": [{"id": "N01"}, {"id": "N02"}]}
      ]
    }"#;

    fn evaluator(id: &str, accepted: bool) -> Evaluator {
        Evaluator {
            eval: "INDEPENDENT ASSESSOR".into(),
            evalid: id.into(),
            accepted,
        }
    }

    #[test]
    fn tu_and_tr_read_back_into_an_equal_subject() {
        let s = from_json(JSON).expect("valid subject");
        let a = recist11::assess(&s, &Default::default()).expect("assessed");
        let points = a.reported();
        let ev = evaluator("RADIOLOGIST 1", true);
        let r = OncologyRead {
            subject: &s,
            evaluator: &ev,
            criterion: Criterion::Recist11,
            points: &points,
            best: a.best,
            method: "CT SCAN",
        };
        let tu_ds = tu(&[r]).expect("TU");
        let tr_ds = tr(&[r]).expect("TR");
        let tu_csv = tu_ds.to_csv().expect("csv");
        let tr_csv = tr_ds.to_csv().expect("csv");
        let back = read(&tu_csv, &tr_csv, None, Which::Only).expect("reads back");
        assert_eq!(back, s, "TU:\n{tu_csv}\nTR:\n{tr_csv}");
    }

    #[test]
    fn several_reads_share_the_datasets_and_the_accepted_one_reads_back() {
        let s1 = from_json(JSON).expect("valid");
        let mut s2 = s1.clone();
        // Reader 2 measured T01 a little larger at week 6.
        s2.visits[1].targets.insert(
            "T01".into(),
            TargetSeen::Measured(Diameters {
                long_mm: Some(21.0),
                short_mm: None,
            }),
        );
        let a1 = recist11::assess(&s1, &Default::default()).expect("assessed");
        let a2 = recist11::assess(&s2, &Default::default()).expect("assessed");
        let (p1, p2) = (a1.reported(), a2.reported());
        let (e1, e2) = (
            evaluator("RADIOLOGIST 1", false),
            evaluator("RADIOLOGIST 2", true),
        );
        let reads = [
            OncologyRead {
                subject: &s1,
                evaluator: &e1,
                criterion: Criterion::Recist11,
                points: &p1,
                best: a1.best,
                method: "CT SCAN",
            },
            OncologyRead {
                subject: &s2,
                evaluator: &e2,
                criterion: Criterion::Recist11,
                points: &p2,
                best: a2.best,
                method: "CT SCAN",
            },
        ];
        let tu_ds = tu(&reads).expect("TU");
        let tr_ds = tr(&reads).expect("TR");
        let seqs: Vec<f64> = tr_ds
            .rows
            .iter()
            .filter_map(|r| match r[18] {
                Cell::Num(x) => x,
                _ => None,
            })
            .collect();
        let expected: Vec<f64> = (1..=seqs.len()).map(|n| n as f64).collect();
        assert_eq!(seqs, expected, "TRSEQ numbered per subject across reads");
        let back = read(
            &tu_ds.to_csv().expect("csv"),
            &tr_ds.to_csv().expect("csv"),
            Some("S-001"),
            Which::Accepted,
        )
        .expect("reads back");
        assert_eq!(back, s2, "the accepted read");
    }

    #[test]
    fn writes_diameters_states_and_the_sum_of_diameters() {
        let s = from_json(JSON).expect("valid");
        let a = recist11::assess(&s, &Default::default()).expect("assessed");
        let points = a.reported();
        let ev = evaluator("RADIOLOGIST 1", true);
        let r = OncologyRead {
            subject: &s,
            evaluator: &ev,
            criterion: Criterion::Recist11,
            points: &points,
            best: a.best,
            method: "CT SCAN",
        };
        let d = tr(&[r]).expect("TR");
        let rows: Vec<String> = (0..d.rows.len())
            .map(|i| {
                format!(
                    "{} {} {} {} {}",
                    d.text(i, "VISIT"),
                    d.text(i, "TRLNKID"),
                    d.text(i, "TRTESTCD"),
                    d.text(i, "TRORRES"),
                    d.text(i, "TRSTRESU")
                )
            })
            .collect();
        assert_eq!(
            rows[..6],
            [
                "BASELINE T01 LDIAM 30.5 mm",
                "BASELINE T02 SAXIS 18 mm",
                "BASELINE T03 LDIAM 12 mm",
                "BASELINE NT01 TUMSTATE PRESENT ",
                "BASELINE  SUMDIAM 60.5 mm",
                "WEEK 6 T01 LDIAM 20.25 mm",
            ]
        );
        assert!(rows.contains(&"WEEK 6 T03 LDIAM TOO SMALL TO MEASURE ".to_owned()));
        assert!(rows.contains(&"WEEK 12 N01 TUMSTATE EQUIVOCAL ".to_owned()));
        assert!(rows.contains(&"WEEK 18 NT01 TUMSTATE UNEQUIVOCAL PROGRESSION ".to_owned()));
        assert!(
            !rows.iter().any(|r| r.starts_with("WEEK 12  SUMDIAM")),
            "no sum when a target was not evaluated: {rows:?}"
        );
        let tu_ds = tu(&[r]).expect("TU");
        let new: Vec<String> = (0..tu_ds.rows.len())
            .filter(|&i| tu_ds.text(i, "TUSTRESC") == "NEW")
            .map(|i| format!("{} {}", tu_ds.text(i, "TULNKID"), tu_ds.text(i, "VISIT")))
            .collect();
        assert_eq!(new, ["N01 WEEK 12", "N02 WEEK 18"]);
    }

    #[test]
    fn refuses_an_assessment_of_another_subject() {
        let s = from_json(JSON).expect("valid");
        let ev = evaluator("RADIOLOGIST 1", true);
        let r = OncologyRead {
            subject: &s,
            evaluator: &ev,
            criterion: Criterion::Recist11,
            points: &[],
            best: corelab_algo::onco::response::Response::Ne,
            method: "CT SCAN",
        };
        let e = tr(&[r]).expect_err("no time points");
        assert!(e.to_string().contains("0 time points for 4 visits"), "{e}");
    }
}
