//! SDTM RS (disease response) rows of an assessment, as CSV: per follow-up visit the target,
//! non-target, new-lesion and overall responses, and the subject's best overall response
//! (RSTESTCD TRGRESP, NTRGRESP, NEWLIND, OVRLRESP, BESTRSP; RSCAT the criterion).

use super::NewLesions;
use super::response::Response;

/// One follow-up's responses.
#[derive(Clone, Debug, PartialEq)]
pub struct RsVisit {
    /// VISITNUM (the visit's index, baseline 0, when the source had none).
    pub visitnum: f64,
    /// VISIT.
    pub visit: String,
    /// RSDTC (ISO 8601).
    pub date: String,
    /// Target response (not applicable: no row).
    pub target: Response,
    /// Non-target response (not applicable: no row).
    pub non_target: Response,
    /// New lesions.
    pub new_lesions: NewLesions,
    /// Overall response.
    pub overall: Response,
}

const HEADER: &str =
    "STUDYID,DOMAIN,USUBJID,RSSEQ,RSCAT,RSTESTCD,RSTEST,RSORRES,RSSTRESC,VISITNUM,VISIT,RSDTC";

/// The RS table (with a header row) of one subject.
pub fn to_csv(
    study: &str,
    subject: &str,
    category: &str,
    visits: &[RsVisit],
    best: Response,
) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    let mut seq = 0;
    let mut row = |out: &mut String, code: &str, test: &str, result: &str, v: Option<&RsVisit>| {
        seq += 1;
        let fields = [
            crate::csv::field(study),
            "RS".to_owned(),
            crate::csv::field(subject),
            seq.to_string(),
            crate::csv::field(category),
            code.to_owned(),
            test.to_owned(),
            crate::csv::field(result),
            crate::csv::field(result),
            v.map(|v| v.visitnum.to_string()).unwrap_or_default(),
            v.map(|v| crate::csv::field(&v.visit)).unwrap_or_default(),
            v.map(|v| crate::csv::field(&v.date)).unwrap_or_default(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    };
    for v in visits {
        if v.target != Response::NotApplicable {
            row(
                &mut out,
                "TRGRESP",
                "Target Response",
                v.target.word(),
                Some(v),
            );
        }
        if v.non_target != Response::NotApplicable {
            row(
                &mut out,
                "NTRGRESP",
                "Non-target Response",
                v.non_target.word(),
                Some(v),
            );
        }
        let new = match v.new_lesions {
            NewLesions::None => "N",
            NewLesions::Unequivocal => "Y",
            NewLesions::Equivocal => "EQUIVOCAL",
        };
        row(&mut out, "NEWLIND", "New Lesion Indicator", new, Some(v));
        row(
            &mut out,
            "OVRLRESP",
            "Overall Response",
            v.overall.word(),
            Some(v),
        );
    }
    row(
        &mut out,
        "BESTRSP",
        "Best Overall Response",
        best.word(),
        None,
    );
    out
}

/// The RS dataset of a subject assessed under `criterion` (RSCAT: `RECIST 1.1`, `RANO`), from
/// its time points as the engines report them (baseline first, the visits in `subject`'s order).
pub fn dataset(
    subject: &super::lesions::Subject,
    criterion: &str,
    points: &[super::Reported],
    best: Response,
) -> String {
    let visits: Vec<RsVisit> = subject
        .visits
        .iter()
        .zip(points)
        .enumerate()
        .skip(1)
        .map(|(i, (v, p))| RsVisit {
            visitnum: i as f64,
            visit: v.label.clone(),
            date: v.date.text.clone(),
            target: p.target,
            non_target: p.non_target,
            new_lesions: p.new_lesions,
            overall: p.overall,
        })
        .collect();
    to_csv(&subject.study, &subject.id, criterion, &visits, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_rs_rows_of_a_pharmaversesdtm_subject() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/clinical_rules/recist1.1/pharmaversesdtm"
        );
        let read =
            |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).expect("pharmaversesdtm");
        let s = crate::onco::sdtm::read(
            &read("tu_onco_recist.csv"),
            &read("tr_onco_recist.csv"),
            Some("01-701-1015"),
            crate::onco::sdtm::Evaluator::Accepted,
        )
        .expect("valid");
        let a = crate::onco::recist11::assess(&s, &Default::default()).expect("valid");
        let csv = dataset(&s, "RECIST 1.1", &a.reported(), a.best);
        assert!(
            csv.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("CDISCPILOT01,RS,01-701-1015,1,RECIST 1.1,")),
            "STUDYID from TR: {csv}"
        );
        let overall: Vec<&str> = csv
            .lines()
            .filter(|l| l.contains(",OVRLRESP,"))
            .map(|l| l.split(',').nth(7).unwrap_or_default())
            .collect();
        assert_eq!(overall, ["SD", "NE", "CR"]);
        assert!(
            csv.lines()
                .last()
                .is_some_and(|l| l.contains(",BESTRSP,Best Overall Response,SD,SD,")),
            "{csv}"
        );
        assert!(
            csv.contains(",WEEK 6,2014-02\n"),
            "the partial date as given: {csv}"
        );
    }

    #[test]
    fn writes_one_row_per_response_and_the_best_last() {
        let v = RsVisit {
            visitnum: 2.0,
            visit: "WEEK 6".into(),
            date: "2024-02-13".into(),
            target: Response::Pr,
            non_target: Response::NotApplicable,
            new_lesions: NewLesions::None,
            overall: Response::Pr,
        };
        let csv = to_csv("S", "001, A", "RECIST 1.1", &[v], Response::Pr);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5, "{csv}");
        assert_eq!(
            lines[1],
            "S,RS,\"001, A\",1,RECIST 1.1,TRGRESP,Target Response,PR,PR,2,WEEK 6,2024-02-13"
        );
        assert!(lines[2].contains(",NEWLIND,New Lesion Indicator,N,N,"));
        assert!(
            lines[4]
                .starts_with("S,RS,\"001, A\",4,RECIST 1.1,BESTRSP,Best Overall Response,PR,PR,,,")
        );
    }
}
