//! RS (Disease Response and Clinical Classification) of the reads. Which rows a read has and
//! their words (TRGRESP, NTRGRESP, NEWLIND, OVRLRESP per follow-up; BESTRSP per subject) are
//! corelab-algo's RS writer's (`corelab_algo::onco::rs::dataset`): its rows are taken as they
//! are and given the evaluator columns, so that the two never disagree.

use super::{OncologyRead, Seq, evaluator_columns, id_columns};
use crate::dataset::{Cell, Column, Dataset, ExportError, Origin};

/// RS of the reads, in the pharmaverse column order (RSCAT, the criterion, after RSTEST).
pub fn rs(reads: &[OncologyRead]) -> Result<Dataset, ExportError> {
    let mut columns = id_columns();
    columns.extend([
        Column::integer("VISITNUM", "Visit Number"),
        Column::text("VISIT", "Visit Name"),
        Column::text("RSTESTCD", "Assessment Short Name")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("RSTEST", "Assessment Name")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("RSCAT", "Category for Assessment").origin(Origin::Assigned),
        Column::text("RSORRES", "Result or Finding in Original Units"),
        Column::text("RSSTRESC", "Character Result/Finding in Std Format"),
    ]);
    columns.extend(evaluator_columns("RS"));
    columns.extend([
        Column::datetime("RSDTC", "Date/Time of Assessment"),
        Column::integer("RSSEQ", "Sequence Number").mandatory(),
    ]);
    let mut ds = Dataset::new(
        "RS",
        "Disease Response and Clin Classification",
        "FINDINGS",
        "One record per response assessment per time point per visit per subject per assessor",
        columns,
    );
    let mut seq = Seq::default();
    for read in reads {
        read.check()?;
        let s = read.subject;
        let e = read.evaluator;
        let csv =
            corelab_algo::onco::rs::dataset(s, read.criterion.category(), read.points, read.best);
        let what = || format!("the RS rows of subject {}", s.id);
        let (header, rows) = corelab_algo::csv::table(&csv, "RS")
            .map_err(|why| ExportError::Input { what: what(), why })?;
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| ExportError::Input {
                    what: what(),
                    why: format!("corelab-algo's RS writer has no column {name}"),
                })
        };
        let [visitnum, visit, code, test, cat, orres, stresc, dtc] = [
            "VISITNUM", "VISIT", "RSTESTCD", "RSTEST", "RSCAT", "RSORRES", "RSSTRESC", "RSDTC",
        ]
        .map(col);
        let (visitnum, visit, code, test, cat, orres, stresc, dtc) =
            (visitnum?, visit?, code?, test?, cat?, orres?, stresc?, dtc?);
        for r in rows {
            let num = match r[visitnum].trim() {
                "" => None,
                t => Some(t.parse::<f64>().map_err(|_| ExportError::Input {
                    what: what(),
                    why: format!("VISITNUM {t:?}: a number"),
                })?),
            };
            ds.rows.push(vec![
                Cell::text("RS"),
                Cell::text(&s.study),
                Cell::text(&s.id),
                Cell::Num(num),
                Cell::text(&r[visit]),
                Cell::text(&r[code]),
                Cell::text(&r[test]),
                Cell::text(&r[cat]),
                Cell::text(&r[orres]),
                Cell::text(&r[stresc]),
                Cell::text(&e.eval),
                Cell::text(&e.evalid),
                Cell::text(if e.accepted { "Y" } else { "" }),
                Cell::text(&r[dtc]),
                Cell::num(seq.next(&s.id)),
            ]);
        }
    }
    ds.validate()?;
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdtm::{Criterion, Evaluator};
    use corelab_algo::onco::sdtm::{Evaluator as Which, read};

    #[test]
    fn writes_the_responses_of_a_pharmaverse_subject_with_the_evaluator() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/clinical_rules/recist1.1/pharmaversesdtm"
        );
        let file = |f: &str| std::fs::read_to_string(format!("{dir}/{f}"));
        let (Ok(tu_text), Ok(tr_text)) = (file("tu_onco_recist.csv"), file("tr_onco_recist.csv"))
        else {
            panic!("the pharmaversesdtm test data in {dir}");
        };
        let s = read(&tu_text, &tr_text, Some("01-701-1015"), Which::Accepted).expect("valid");
        let a = corelab_algo::onco::recist11::assess(&s, &Default::default()).expect("valid");
        let points = a.reported();
        let ev = Evaluator {
            eval: "INDEPENDENT ASSESSOR".into(),
            evalid: "RADIOLOGIST 2".into(),
            accepted: true,
        };
        let r = crate::sdtm::OncologyRead {
            subject: &s,
            evaluator: &ev,
            criterion: Criterion::Recist11,
            points: &points,
            best: a.best,
            method: "CT SCAN",
        };
        let d = rs(&[r]).expect("RS");
        let overall: Vec<&str> = (0..d.rows.len())
            .filter(|&i| d.text(i, "RSTESTCD") == "OVRLRESP")
            .map(|i| d.text(i, "RSSTRESC"))
            .collect();
        assert_eq!(overall, ["SD", "NE", "CR"]);
        let last = d.rows.len() - 1;
        assert_eq!(d.text(last, "RSTESTCD"), "BESTRSP");
        assert_eq!(
            d.rows[last][3],
            Cell::missing(),
            "no VISITNUM for the best response"
        );
        assert_eq!(d.text(last, "RSCAT"), "RECIST 1.1");
        assert_eq!(d.text(last, "RSEVALID"), "RADIOLOGIST 2");
        assert_eq!(d.text(last, "RSACPTFL"), "Y");
        assert_eq!(d.text(0, "STUDYID"), "CDISCPILOT01");
        assert_eq!(d.rows[last][14], Cell::num((last + 1) as f64));
    }
}
