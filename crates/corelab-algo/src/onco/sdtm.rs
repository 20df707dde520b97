//! SDTM oncology tables read into the lesion model: TU (tumour identification: TULNKID, TULOC,
//! TUSTRESC = TARGET / NON-TARGET / NEW) and TR (tumour results: TRLNKID, TRTESTCD = LDIAM,
//! SAXIS / LPERP, TUMSTATE; TRSTRESC; VISITNUM, VISIT, TRDTC), as in the SDTMIG oncology domains
//! and the pharmaversesdtm examples. Rows of several evaluators (independent readers,
//! investigator) are told apart by `--EVAL`, `--EVALID` and the acceptance flag `--ACPTFL`.

use super::lesions::{
    Date, Diameters, INPUT_RULE, Lesion, NewLesion, Role, RuleError, State, Subject, TargetSeen,
    Visit, is_nodal_organ, state,
};
use std::collections::BTreeMap;

/// Which evaluator's rows to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluator {
    /// The rows flagged accepted (`--ACPTFL = Y`): the adjudicated read, visit by visit.
    Accepted,
    /// The investigator's rows (`--EVAL = INVESTIGATOR`).
    Investigator,
    /// Every row: the tables must hold one evaluator's read.
    Only,
}

impl Evaluator {
    /// The parameter word.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "accepted" => Some(Self::Accepted),
            "investigator" => Some(Self::Investigator),
            "only" => Some(Self::Only),
            _ => None,
        }
    }
}

/// A CSV table: header names (upper case) and rows of text.
pub(crate) struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    source: String,
}

impl Csv {
    /// Parses RFC 4180 CSV with a header row.
    pub(crate) fn parse(text: &str, source: &str) -> Result<Self, RuleError> {
        let (header, rows) =
            crate::csv::table(text, source).map_err(|why| RuleError::new(INPUT_RULE, why))?;
        let header: Vec<String> = header
            .into_iter()
            .map(|h| h.trim().to_ascii_uppercase())
            .collect();
        Ok(Self {
            header,
            rows,
            source: source.to_owned(),
        })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn require(&self, name: &str) -> Result<usize, RuleError> {
        self.column(name)
            .ok_or_else(|| RuleError::new(INPUT_RULE, format!("{}: no column {name}", self.source)))
    }
}

/// The subjects (`USUBJID`) a TR table holds, sorted.
pub fn subjects(tr: &str) -> Result<Vec<String>, RuleError> {
    let t = Csv::parse(tr, "TR")?;
    let c = t.require("USUBJID")?;
    let mut ids: Vec<String> = t.rows.iter().map(|r| r[c].trim().to_owned()).collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Reads one subject from SDTM TU and TR text. With `subject` `None` the tables must hold one.
pub fn read(
    tu: &str,
    tr: &str,
    subject: Option<&str>,
    evaluator: Evaluator,
) -> Result<Subject, RuleError> {
    let tu = Csv::parse(tu, "TU")?;
    let tr = Csv::parse(tr, "TR")?;
    let subject = match subject {
        Some(s) => s.to_owned(),
        None => {
            let c = tr.require("USUBJID")?;
            let mut ids: Vec<&str> = tr.rows.iter().map(|r| r[c].trim()).collect();
            ids.sort();
            ids.dedup();
            match ids.as_slice() {
                [one] => (*one).to_owned(),
                _ => {
                    return Err(RuleError::new(
                        INPUT_RULE,
                        format!(
                            "TR holds {} subjects ({}); choose one (the parameter subject=USUBJID)",
                            ids.len(),
                            ids.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    let tu_rows = select(&tu, "TU", &subject, evaluator)?;
    let tr_rows = select(&tr, "TR", &subject, evaluator)?;
    let study = tr
        .column("STUDYID")
        .and_then(|c| tr_rows.first().map(|r| r[c].trim().to_owned()))
        .unwrap_or_default();
    if tr_rows.is_empty() {
        return Err(RuleError::new(
            INPUT_RULE,
            format!("TR has no rows of subject {subject} for this evaluator"),
        ));
    }

    // TU: lesions (baseline TARGET / NON-TARGET; NEW at the visit of identification).
    let get = |t: &Csv, r: &Vec<String>, name: &str| {
        t.column(name)
            .map(|c| r[c].trim().to_owned())
            .unwrap_or_default()
    };
    let mut lesions: Vec<Lesion> = Vec::new();
    let mut new_at: BTreeMap<String, (String, String)> = BTreeMap::new(); // id -> (VISITNUM, VISIT)
    for r in &tu_rows {
        let id = get(&tu, r, "TULNKID");
        let class = {
            let s = get(&tu, r, "TUSTRESC");
            if s.is_empty() {
                get(&tu, r, "TUORRES")
            } else {
                s
            }
        }
        .to_ascii_uppercase();
        let organ = get(&tu, r, "TULOC");
        let role = match class.as_str() {
            "TARGET" => Role::Target,
            "NON-TARGET" => Role::NonTarget,
            "NEW" => {
                new_at.insert(id, (get(&tu, r, "VISITNUM"), get(&tu, r, "VISIT")));
                continue;
            }
            other => {
                return Err(RuleError::new(
                    INPUT_RULE,
                    format!("TU TUSTRESC {other:?}: TARGET, NON-TARGET or NEW"),
                )
                .lesion(&id));
            }
        };
        if let Some(known) = lesions.iter().find(|l| l.id == id) {
            if known.role != role || !known.organ.eq_ignore_ascii_case(&organ) {
                return Err(RuleError::new(
                    INPUT_RULE,
                    "TU rows of this lesion disagree on its class or location",
                )
                .lesion(&id));
            }
            continue;
        }
        let nodal = is_nodal_organ(&organ);
        lesions.push(Lesion {
            id,
            role,
            organ,
            nodal,
        });
    }

    // TR: results grouped by visit number.
    let visitnum = tr.require("VISITNUM")?;
    let mut by_visit: BTreeMap<VisitKey, Vec<&Vec<String>>> = BTreeMap::new();
    for r in &tr_rows {
        let n: f64 = r[visitnum].trim().parse().map_err(|_| {
            RuleError::new(
                INPUT_RULE,
                format!("TR VISITNUM {:?}: a number", r[visitnum]),
            )
        })?;
        by_visit.entry(VisitKey(n)).or_default().push(r);
    }
    let mut visits = Vec::new();
    for (key, rows) in by_visit {
        let label = get(&tr, rows[0], "VISIT");
        let label = if label.is_empty() {
            format!("VISITNUM {}", key.0)
        } else {
            label
        };
        let date = rows
            .iter()
            .filter_map(|r| Date::parse(&get(&tr, r, "TRDTC")))
            .min()
            .ok_or_else(|| RuleError::new(INPUT_RULE, "no TRDTC date on any row").visit(&label))?;
        let mut visit = Visit {
            label: label.clone(),
            date,
            slice_thickness_mm: None,
            targets: BTreeMap::new(),
            non_targets: BTreeMap::new(),
            new_lesions: Vec::new(),
            clinical: Default::default(),
        };
        let mut diameters: BTreeMap<String, (Diameters, bool, bool)> = BTreeMap::new(); // (d, too small, not evaluated)
        for r in rows {
            let id = get(&tr, r, "TRLNKID");
            let test = get(&tr, r, "TRTESTCD").to_ascii_uppercase();
            // A visit's sum of diameters (SUMDIAM, or RANO's SPD) belongs to no lesion: the
            // engines recompute it from the lesions' rows.
            if id.is_empty() && matches!(test.as_str(), "SUMDIAM" | "SPD") {
                continue;
            }
            let result = {
                let s = get(&tr, r, "TRSTRESC");
                if s.is_empty() {
                    get(&tr, r, "TRORRES")
                } else {
                    s
                }
            };
            if let Some((_, _)) = new_at.get(&id) {
                let word = result.to_ascii_uppercase();
                if !visit.new_lesions.iter().any(|n| n.id == id) && word != "ABSENT" {
                    visit.new_lesions.push(NewLesion {
                        id: id.clone(),
                        equivocal: word == "EQUIVOCAL",
                    });
                }
                continue;
            }
            let Some(lesion) = lesions.iter().find(|l| l.id == id) else {
                return Err(RuleError::new(
                    "lesions followed are those identified at baseline",
                    "an unknown lesion id: TR has results for it but TU does not identify it",
                )
                .lesion(&id)
                .visit(&label));
            };
            match (lesion.role, test.as_str()) {
                (Role::NonTarget, "TUMSTATE") => {
                    visit
                        .non_targets
                        .insert(id.clone(), state(&result, &id, &label)?);
                }
                (Role::Target, "LDIAM" | "DIAMETER" | "SAXIS" | "LPERP") => {
                    let e = diameters.entry(id.clone()).or_default();
                    let word = result.to_ascii_uppercase();
                    if word.contains("TOO SMALL") {
                        e.1 = true;
                    } else if word.is_empty()
                        || word == "NOT EVALUABLE"
                        || word == "NE"
                        || word == "NOT EVALUATED"
                    {
                        e.2 = true;
                    } else {
                        let mm: f64 = get(&tr, r, "TRSTRESN")
                            .parse()
                            .or_else(|_| result.parse())
                            .map_err(|_| {
                                RuleError::new(
                                    INPUT_RULE,
                                    format!("TR {test} {result:?}: a number of mm"),
                                )
                                .lesion(&id)
                                .visit(&label)
                            })?;
                        let unit = get(&tr, r, "TRSTRESU");
                        if !(unit.is_empty() || unit.eq_ignore_ascii_case("mm")) {
                            return Err(RuleError::new(
                                INPUT_RULE,
                                format!("TR TRSTRESU {unit:?}: mm"),
                            )
                            .lesion(&id)
                            .visit(&label));
                        }
                        if test == "LDIAM" || test == "DIAMETER" {
                            e.0.long_mm = Some(mm);
                        } else {
                            e.0.short_mm = Some(mm);
                        }
                    }
                }
                (Role::Target, "TUMSTATE") => {
                    let e = diameters.entry(id.clone()).or_default();
                    match state(&result, &id, &label)? {
                        State::Absent => {
                            e.0 = Diameters {
                                long_mm: Some(0.0),
                                short_mm: Some(0.0),
                            }
                        }
                        State::NotEvaluated => e.2 = true,
                        _ => {}
                    }
                }
                _ => {} // other tests (volumes, SUV) are not part of these criteria
            }
        }
        for (id, (d, too_small, _not_evaluable)) in diameters {
            let measured = d.long_mm.is_some() || d.short_mm.is_some();
            let seen = if too_small && !measured {
                TargetSeen::TooSmall
            } else if !measured {
                // Not evaluable, or only a state such as PRESENT: no diameter to sum.
                TargetSeen::NotEvaluated
            } else if d.long_mm == Some(0.0) && d.short_mm.unwrap_or(0.0) == 0.0 {
                TargetSeen::Disappeared
            } else {
                TargetSeen::Measured(d)
            };
            visit.targets.insert(id, seen);
        }
        visits.push(visit);
    }
    for (id, (num, label)) in &new_at {
        let Some(v) = visits.iter_mut().find(|v| {
            v.label.eq_ignore_ascii_case(label)
                || num
                    .parse::<f64>()
                    .is_ok_and(|n| v.label == format!("VISITNUM {n}"))
        }) else {
            return Err(RuleError::new(INPUT_RULE, format!("TU identifies a new lesion at {label} (VISITNUM {num}), a visit TR does not have")).lesion(id));
        };
        if !v.new_lesions.iter().any(|n| &n.id == id) {
            v.new_lesions.push(NewLesion {
                id: id.clone(),
                equivocal: false,
            });
        }
    }
    let reference = visits[0].date.clone();
    Subject {
        id: subject,
        study,
        reference,
        lesions,
        visits,
    }
    .check()
}

/// A VISITNUM, ordered numerically.
#[derive(Clone, Copy, PartialEq)]
struct VisitKey(f64);
impl Eq for VisitKey {}
impl PartialOrd for VisitKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for VisitKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One subject's rows of one evaluator.
fn select<'a>(
    t: &'a Csv,
    domain: &str,
    subject: &str,
    evaluator: Evaluator,
) -> Result<Vec<&'a Vec<String>>, RuleError> {
    let subj = t.require("USUBJID")?;
    let of_subject: Vec<&Vec<String>> = t
        .rows
        .iter()
        .filter(|r| r[subj].trim() == subject)
        .collect();
    let col = |suffix: &str| t.column(&format!("{domain}{suffix}"));
    let (eval, evalid, accepted) = (col("EVAL"), col("EVALID"), col("ACPTFL"));
    let who = |r: &Vec<String>| {
        format!(
            "{} {}",
            eval.map(|c| r[c].trim()).unwrap_or_default(),
            evalid.map(|c| r[c].trim()).unwrap_or_default()
        )
        .trim()
        .to_owned()
    };
    if domain == "TU" {
        // Lesion identification is the same for every evaluator in practice: the TU rows of
        // all evaluators are merged, and must agree (checked by the caller).
        return Ok(of_subject);
    }
    Ok(match evaluator {
        Evaluator::Accepted => {
            let Some(a) = accepted else {
                return Err(RuleError::new(
                    INPUT_RULE,
                    format!(
                        "{domain}: no {domain}ACPTFL column to choose the accepted read (use evaluator=only or investigator)"
                    ),
                ));
            };
            of_subject
                .into_iter()
                .filter(|r| r[a].trim().eq_ignore_ascii_case("Y"))
                .collect()
        }
        Evaluator::Investigator => {
            let Some(e) = eval else {
                return Err(RuleError::new(
                    INPUT_RULE,
                    format!("{domain}: no {domain}EVAL column to find the investigator's rows"),
                ));
            };
            of_subject
                .into_iter()
                .filter(|r| r[e].trim().eq_ignore_ascii_case("INVESTIGATOR"))
                .collect()
        }
        Evaluator::Only => {
            let mut all: Vec<String> = of_subject.iter().map(|r| who(r)).collect();
            all.sort();
            all.dedup();
            if all.len() > 1 {
                return Err(RuleError::new(
                    INPUT_RULE,
                    format!(
                        "{domain} holds reads of {} evaluators ({}); choose with evaluator=accepted or investigator",
                        all.len(),
                        all.join("; ")
                    ),
                ));
            }
            of_subject
        }
    })
}
