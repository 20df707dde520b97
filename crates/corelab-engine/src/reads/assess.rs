//! A read's structured data and what the engine computes from it, live as the reader works: the
//! response at each time point under the trial's criteria, and whether two reads of a subject
//! disagree enough to go to adjudication. Pure: no store.

use corelab_algo::onco::{lesions, rano, recist11};
use corelab_core::reads::{Criteria, ReadDesign};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A point in patient space (LPS, mm), as the viewer reports it.
pub type Point = [f64; 3];

/// What a reader records: the lesions chosen at baseline (RECIST) and each time point's findings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadData {
    /// RECIST: the lesions chosen at baseline, target and non-target.
    #[serde(default)]
    pub lesions: Vec<LesionChoice>,
    /// Each time point's findings, by its label.
    #[serde(default)]
    pub timepoints: Vec<TimePointRead>,
    /// The time points the reader locked, in order (sequential reads).
    #[serde(default)]
    pub locked: Vec<String>,
}

/// A baseline lesion chosen by the reader (RECIST).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LesionChoice {
    /// The reader's id for it (`T1`, `NT1`).
    pub id: String,
    /// `target` or `non-target`.
    pub role: String,
    /// The organ (at most two targets per organ).
    pub organ: String,
    /// A lymph node (measured by its short axis).
    #[serde(default)]
    pub nodal: bool,
}

/// One time point's findings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimePointRead {
    /// The time point's label (`TP0`, `TP1`, …).
    pub label: String,
    /// RECIST: each chosen lesion's measurement or state.
    #[serde(default)]
    pub measurements: Vec<Measure>,
    /// RECIST: new lesions (unequivocal unless marked).
    #[serde(default)]
    pub new_lesions: Vec<NewLesionMark>,
    /// Lesion count: the lesions marked.
    #[serde(default)]
    pub marks: Vec<Mark>,
    /// Free form: the reader's response.
    #[serde(default)]
    pub response: Option<String>,
    /// The reader's impression in words.
    #[serde(default)]
    pub impression: Option<String>,
    /// RANO: the clinical items.
    #[serde(default)]
    pub clinical: Option<ClinicalRead>,
}

/// RANO's clinical items at a time point, as corelab's lesion JSON takes them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClinicalRead {
    /// Corticosteroid dose since the last time point: improved (decreased), stable or worse.
    #[serde(default)]
    pub corticosteroids: Option<String>,
    /// Whether the patient takes corticosteroids above physiological replacement.
    #[serde(default)]
    pub on_corticosteroids: Option<bool>,
    /// Clinical status: improved, stable or worse.
    #[serde(default)]
    pub clinical_status: Option<String>,
    /// Non-enhancing (T2/FLAIR) disease: improved, stable or worse.
    #[serde(default)]
    pub non_enhancing: Option<String>,
}

/// A lesion measured: its diameters, from the line tool (endpoints in mm, the length computed
/// here) or typed; or a state (`absent`, `present`, `unequivocal-progression`, …).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// The lesion's id.
    pub lesion: String,
    /// The long axis (mm).
    #[serde(default)]
    pub long_axis_mm: Option<f64>,
    /// The short axis (mm).
    #[serde(default)]
    pub short_axis_mm: Option<f64>,
    /// The long axis drawn: its two ends.
    #[serde(default)]
    pub long_line: Option<[Point; 2]>,
    /// The short axis drawn.
    #[serde(default)]
    pub short_line: Option<[Point; 2]>,
    /// A state instead of a size.
    #[serde(default)]
    pub state: Option<String>,
    /// `ai` when the engine's proposal was accepted as it was, `reader` otherwise.
    #[serde(default)]
    pub source: Option<String>,
}

/// A new lesion (RECIST).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLesionMark {
    /// Its id.
    pub id: String,
    /// Whether it is equivocal.
    #[serde(default)]
    pub equivocal: bool,
    /// Where it is.
    #[serde(default)]
    pub at: Option<Point>,
}

/// A lesion marked in a lesion-count read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// Its id.
    pub id: String,
    /// `present`, `new` or `enlarging`.
    pub status: String,
    /// Where it is (LPS, mm).
    #[serde(default)]
    pub at: Option<Point>,
    /// Its long axis drawn, if measured.
    #[serde(default)]
    pub line: Option<[Point; 2]>,
    /// Its long axis (mm), computed from `line` when drawn.
    #[serde(default)]
    pub long_axis_mm: Option<f64>,
    /// `ai` when the engine's proposal was accepted, `reader` otherwise.
    #[serde(default)]
    pub source: Option<String>,
}

/// The length of a drawn line (mm); None for a non-finite end.
pub fn length(line: &[Point; 2]) -> Option<f64> {
    let d = (0..3)
        .map(|i| (line[1][i] - line[0][i]).powi(2))
        .sum::<f64>()
        .sqrt();
    d.is_finite().then_some(d)
}

/// Reads `value` as a read's data and fills the lengths of drawn lines; the error names the field.
pub fn parse(value: &Value) -> Result<ReadData, String> {
    let mut d: ReadData =
        serde_json::from_value(value.clone()).map_err(|e| format!("the read's data: {e}"))?;
    let len = |l: &Option<[Point; 2]>, what: &str| -> Result<Option<f64>, String> {
        l.as_ref()
            .map(|l| length(l).ok_or_else(|| format!("{what}: an end that is not a number")))
            .transpose()
    };
    for tp in &mut d.timepoints {
        for m in &mut tp.measurements {
            let what = format!("{} {}", tp.label, m.lesion);
            if let Some(l) = len(&m.long_line, &what)? {
                m.long_axis_mm = Some(round2(l));
            }
            if let Some(l) = len(&m.short_line, &what)? {
                m.short_axis_mm = Some(round2(l));
            }
        }
        for m in &mut tp.marks {
            if let Some(l) = len(&m.line, &format!("{} {}", tp.label, m.id))? {
                m.long_axis_mm = Some(round2(l));
            }
            if !matches!(m.status.as_str(), "present" | "new" | "enlarging") {
                return Err(format!(
                    "{} lesion {}: status {:?} is not present, new or enlarging",
                    tp.label, m.id, m.status
                ));
            }
        }
    }
    Ok(d)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Sequential locked reads: the locked time points are the first ones in order, stay locked, and
/// keep their findings (the baseline lesions with the first); nothing is recorded beyond the
/// first time point still open. `before` is what was saved last.
pub fn check_locks(labels: &[&str], before: &ReadData, after: &ReadData) -> Result<(), String> {
    if after.locked.len() > labels.len() || after.locked.iter().zip(labels).any(|(l, x)| l != x) {
        return Err(format!(
            "time points are locked in order ({}), not {}",
            labels.join(", "),
            after.locked.join(", ")
        ));
    }
    if !after.locked.starts_with(&before.locked) {
        return Err(format!(
            "{} is locked and stays locked",
            before.locked.last().map_or("?", String::as_str)
        ));
    }
    let empty = TimePointRead::default();
    let of = |d: &'_ ReadData, l: &str| -> TimePointRead {
        d.timepoints
            .iter()
            .find(|t| t.label == l)
            .cloned()
            .map(|mut t| {
                t.label.clear();
                t
            })
            .unwrap_or_else(|| empty.clone())
    };
    for l in &before.locked {
        if of(before, l) != of(after, l) {
            return Err(format!("{l} is locked: its findings do not change"));
        }
    }
    if !before.locked.is_empty() && before.lesions != after.lesions {
        return Err(format!(
            "the baseline lesions were locked with {}",
            before.locked[0]
        ));
    }
    // The first open time point may be read; those after it not yet.
    for l in labels.iter().skip(after.locked.len() + 1) {
        if of(after, l) != empty {
            return Err(format!(
                "{l} is not open yet: lock {} first",
                labels[after.locked.len()]
            ));
        }
    }
    Ok(())
}

/// A time point as the engine knows it: its label, and its date (kept from readers; RECIST's
/// confirmation rules need it).
#[derive(Clone, Debug, PartialEq)]
pub struct TimePoint {
    /// `TP0`, `TP1`, ….
    pub label: String,
    /// The (de-identified) study date, `YYYYMMDD` or `YYYY-MM-DD`.
    pub date: Option<String>,
}

/// What the engine computes from a read: `complete` (it can be signed) with each time point's
/// response, or the problem that stops it.
pub fn outcome(design: &ReadDesign, tps: &[TimePoint], data: &ReadData) -> Value {
    let result = match design.criteria {
        Criteria::Recist11 => recist(tps, data),
        Criteria::Rano => rano_read(tps, data),
        Criteria::LesionCount => Ok(lesion_count(tps, data)),
        Criteria::FreeForm => free_form(tps, data),
    };
    match result {
        Ok(points) => json!({"complete": true, "criteria": design.criteria, "timepoints": points}),
        Err(problem) => json!({"complete": false, "criteria": design.criteria, "problem": problem}),
    }
}

fn read_of<'a>(data: &'a ReadData, label: &str) -> Option<&'a TimePointRead> {
    data.timepoints.iter().find(|t| t.label == label)
}

fn lesion_count(tps: &[TimePoint], data: &ReadData) -> Vec<Value> {
    tps.iter()
        .enumerate()
        .map(|(i, tp)| {
            let marks = read_of(data, &tp.label).map_or(&[][..], |t| &t.marks[..]);
            let active = marks
                .iter()
                .filter(|m| m.status == "new" || m.status == "enlarging")
                .count();
            let response = if i == 0 {
                "NA"
            } else if active > 0 {
                "active"
            } else {
                "inactive"
            };
            json!({"label": tp.label, "count": marks.len(), "new_or_enlarging": active, "response": response})
        })
        .collect()
}

fn free_form(tps: &[TimePoint], data: &ReadData) -> Result<Vec<Value>, String> {
    tps.iter()
        .map(|tp| {
            let r = read_of(data, &tp.label)
                .and_then(|t| t.response.as_deref())
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| format!("{}: state a response", tp.label))?;
            Ok(json!({"label": tp.label, "response": r}))
        })
        .collect()
}

/// RECIST 1.1 through `onco.recist11`'s rules on the lesion record the read makes.
fn recist(tps: &[TimePoint], data: &ReadData) -> Result<Vec<Value>, String> {
    let subject = lesion_record(tps, data)?;
    let a = recist11::assess(&subject, &recist11::Rules::default()).map_err(|e| e.to_string())?;
    // The assessment's time points are in date order, as the labels are.
    Ok(a.time_points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "label": p.visit, "sum_mm": round2(p.sum_mm), "complete": p.complete,
                "change_from_baseline_pct": p.change_from_baseline_pct.map(round2),
                "target": if i == 0 { "NA" } else { p.target.word() },
                "non_target": if i == 0 { "NA" } else { p.non_target.word() },
                "response": if i == 0 { "NA" } else { p.overall.word() },
            })
        })
        .collect())
}

/// RANO through `onco.rano`'s rules on the lesion record the read makes, with each time point's
/// clinical items.
fn rano_read(tps: &[TimePoint], data: &ReadData) -> Result<Vec<Value>, String> {
    let subject = lesion_record(tps, data)?;
    let a = rano::assess(&subject, &rano::Rules::default()).map_err(|e| e.to_string())?;
    Ok(a.time_points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "label": p.visit, "spd_mm2": round2(p.spd_mm2), "complete": p.complete,
                "change_from_baseline_pct": p.change_from_baseline_pct.map(round2),
                "target": if i == 0 { "NA" } else { p.target.word() },
                "non_target": if i == 0 { "NA" } else { p.non_target.word() },
                "response": if i == 0 { "NA" } else { p.overall.word() },
            })
        })
        .collect())
}

/// The lesion record (corelab's lesion JSON, read by the response engines) a RECIST or RANO read
/// makes: its lesions, and each time point's measurements, new lesions and clinical items, dated
/// (the dates stay on the server).
pub fn lesion_record(tps: &[TimePoint], data: &ReadData) -> Result<lesions::Subject, String> {
    if data.lesions.is_empty() {
        return Err("choose the baseline lesions (targets and non-targets)".to_owned());
    }
    let mut visits = Vec::new();
    for tp in tps {
        let read = read_of(data, &tp.label).ok_or_else(|| format!("{}: not read yet", tp.label))?;
        // Every chosen lesion is accounted for at every time point: a size, or a state
        // (`not-evaluated` when it cannot be assessed); a gap is an unfinished read, not NE.
        for l in &data.lesions {
            let m = read.measurements.iter().find(|m| m.lesion == l.id);
            if m.is_none_or(|m| {
                m.long_axis_mm.is_none() && m.short_axis_mm.is_none() && m.state.is_none()
            }) {
                return Err(format!(
                    "{}: lesion {}: measure it or give its state (present, absent, progression, not-evaluated)",
                    tp.label, l.id
                ));
            }
        }
        let date = tp
            .date
            .as_deref()
            .ok_or_else(|| format!("{}: the time point has no date", tp.label))?;
        let date = if date.len() == 8 {
            format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
        } else {
            date.to_owned()
        };
        let measurements: Vec<Value> = read
            .measurements
            .iter()
            .map(|m| {
                let mut v = json!({"lesion": m.lesion});
                if let Some(x) = m.long_axis_mm {
                    v["long_axis_mm"] = json!(x);
                }
                if let Some(x) = m.short_axis_mm {
                    v["short_axis_mm"] = json!(x);
                }
                if let Some(s) = &m.state {
                    v["state"] = json!(s);
                }
                v
            })
            .collect();
        let new: Vec<Value> = read
            .new_lesions
            .iter()
            .map(|n| json!({"id": n.id, "equivocal": n.equivocal}))
            .collect();
        let mut visit = json!({"visit": tp.label, "date": date, "measurements": measurements, "new_lesions": new});
        if let Some(c) = &read.clinical {
            visit["clinical"] = serde_json::to_value(c).unwrap_or_default();
        }
        visits.push(visit);
    }
    let record = json!({"subject": "read", "lesions": data.lesions, "visits": visits});
    lesions::from_json(&record.to_string()).map_err(|e| e.to_string())
}

/// Why two complete reads of a subject go to adjudication, or None when they agree within the
/// design's triggers.
pub fn disagreement(design: &ReadDesign, a: &Value, b: &Value) -> Option<String> {
    let points = |v: &Value| v["timepoints"].as_array().cloned().unwrap_or_default();
    let (pa, pb) = (points(a), points(b));
    let t = &design.adjudicate;
    let mut why = Vec::new();
    for (x, y) in pa.iter().zip(&pb) {
        let label = x["label"].as_str().unwrap_or("?");
        if t.response_differs && x["response"] != y["response"] {
            why.push(format!(
                "{label}: response {} vs {}",
                x["response"].as_str().unwrap_or("?"),
                y["response"].as_str().unwrap_or("?")
            ));
        }
        if let (Some(limit), Some(sa), Some(sb)) = (
            t.sld_differs_percent,
            x["sum_mm"].as_f64(),
            y["sum_mm"].as_f64(),
        ) {
            let larger = sa.max(sb);
            if larger > 0.0 && (sa - sb).abs() / larger * 100.0 > limit {
                why.push(format!(
                    "{label}: sums {sa} vs {sb} mm differ by more than {limit} %"
                ));
            }
        }
        if let (Some(limit), Some(sa), Some(sb)) = (
            t.spd_differs_percent,
            x["spd_mm2"].as_f64(),
            y["spd_mm2"].as_f64(),
        ) {
            let larger = sa.max(sb);
            if larger > 0.0 && (sa - sb).abs() / larger * 100.0 > limit {
                why.push(format!(
                    "{label}: SPDs {sa} vs {sb} mm² differ by more than {limit} %"
                ));
            }
        }
        if let (Some(limit), Some(ca), Some(cb)) =
            (t.count_differs_by, x["count"].as_u64(), y["count"].as_u64())
            && ca.abs_diff(cb) > u64::from(limit)
        {
            why.push(format!(
                "{label}: counts {ca} vs {cb} differ by more than {limit}"
            ));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_core::reads::{Paradigm, Triggers};

    fn design(criteria: Criteria) -> ReadDesign {
        ReadDesign {
            criteria,
            paradigm: Paradigm::Double,
            roles: vec!["CT".into()],
            sampling_percent: 100.0,
            randomise: false,
            sequential: false,
            readers: vec!["r1".into(), "r2".into()],
            adjudicators: vec!["a".into()],
            adjudicate: Triggers {
                response_differs: true,
                sld_differs_percent: Some(20.0),
                spd_differs_percent: Some(25.0),
                count_differs_by: Some(1),
            },
        }
    }

    fn tps() -> Vec<TimePoint> {
        vec![
            TimePoint {
                label: "TP0".into(),
                date: Some("20260105".into()),
            },
            TimePoint {
                label: "TP1".into(),
                date: Some("2026-03-02".into()),
            },
        ]
    }

    fn recist_read(follow_long: f64) -> Value {
        json!({
            "lesions": [
                {"id": "T1", "role": "target", "organ": "liver"},
                {"id": "T2", "role": "target", "organ": "lung"},
                {"id": "NT1", "role": "non-target", "organ": "bone"}
            ],
            "timepoints": [
                {"label": "TP0", "measurements": [
                    {"lesion": "T1", "long_line": [[0.0, 0.0, 0.0], [30.0, 40.0, 0.0]]},
                    {"lesion": "T2", "long_axis_mm": 30.0},
                    {"lesion": "NT1", "state": "present"}]},
                {"label": "TP1", "measurements": [
                    {"lesion": "T1", "long_axis_mm": follow_long},
                    {"lesion": "T2", "long_axis_mm": 20.0},
                    {"lesion": "NT1", "state": "present"}]}
            ]
        })
    }

    #[test]
    fn a_recist_read_gets_its_responses_from_the_rules_with_lines_measured_here() {
        let d = design(Criteria::Recist11);
        let data = parse(&recist_read(25.0)).unwrap();
        assert_eq!(data.timepoints[0].measurements[0].long_axis_mm, Some(50.0));
        let o = outcome(&d, &tps(), &data);
        assert_eq!(o["complete"], true, "{o}");
        // Baseline 50 + 30 = 80; follow-up 25 + 20 = 45: −43.75 %, a partial response.
        assert_eq!(o["timepoints"][0]["sum_mm"], 80.0);
        assert_eq!(o["timepoints"][1]["sum_mm"], 45.0);
        assert_eq!(o["timepoints"][1]["response"], "PR");
        // A second reader measuring T1 at 45 mm: 65 mm, −18.75 %, stable disease.
        let other = outcome(&d, &tps(), &parse(&recist_read(45.0)).unwrap());
        assert_eq!(other["timepoints"][1]["response"], "SD");
        let why = disagreement(&d, &o, &other).unwrap();
        assert!(why.contains("TP1: response PR vs SD"), "{why}");
        assert!(why.contains("differ by more than 20 %"), "{why}");
        assert!(disagreement(&d, &o, &o).is_none());
    }

    #[test]
    fn an_unfinished_read_says_what_is_missing() {
        let d = design(Criteria::Recist11);
        let o = outcome(&d, &tps(), &ReadData::default());
        assert_eq!(o["complete"], false);
        assert!(o["problem"].as_str().unwrap().contains("baseline lesions"));
        let mut v = recist_read(25.0);
        v["timepoints"][1]["measurements"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        let o = outcome(&d, &tps(), &parse(&v).unwrap());
        assert_eq!(o["complete"], false, "{o}");
        assert!(o["problem"].as_str().unwrap().contains("T1"), "{o}");
        let bad = parse(
            &json!({"timepoints": [{"label": "TP0", "marks": [{"id": "L1", "status": "gone"}]}]}),
        );
        assert!(bad.unwrap_err().contains("TP0 lesion L1"));
        assert!(
            parse(&json!({"lesions": 3}))
                .unwrap_err()
                .contains("the read's data")
        );
    }

    #[test]
    fn a_lesion_count_read_is_active_with_a_new_or_enlarging_lesion() {
        let d = design(Criteria::LesionCount);
        let read = |follow: Value| {
            parse(&json!({"timepoints": [
                {"label": "TP0", "marks": [{"id": "L1", "status": "present", "at": [1.0, 2.0, 3.0]}]},
                {"label": "TP1", "marks": follow}
            ]}))
            .unwrap()
        };
        let a = outcome(
            &d,
            &tps(),
            &read(json!([
                {"id": "L1", "status": "present"},
                {"id": "L2", "status": "new", "line": [[0.0, 0.0, 0.0], [0.0, 3.0, 4.0]]}
            ])),
        );
        assert_eq!(a["timepoints"][0]["response"], "NA");
        assert_eq!(a["timepoints"][1]["response"], "active");
        assert_eq!(a["timepoints"][1]["new_or_enlarging"], 1);
        let b = outcome(
            &d,
            &tps(),
            &read(json!([{"id": "L1", "status": "present"}])),
        );
        assert_eq!(b["timepoints"][1]["response"], "inactive");
        assert!(
            disagreement(&d, &a, &b)
                .unwrap()
                .contains("active vs inactive")
        );
    }

    #[test]
    fn a_rano_read_takes_both_diameters_and_the_clinical_items() {
        let d = design(Criteria::Rano);
        let read = |long: f64, short: f64| {
            parse(&json!({
                "lesions": [
                    {"id": "T1", "role": "target", "organ": "brain"},
                    {"id": "NT1", "role": "non-target", "organ": "brain"}
                ],
                "timepoints": [
                    {"label": "TP0", "measurements": [
                        {"lesion": "T1", "long_axis_mm": 20.0, "short_axis_mm": 10.0},
                        {"lesion": "NT1", "state": "present"}]},
                    {"label": "TP1", "measurements": [
                        {"lesion": "T1", "long_axis_mm": long, "short_axis_mm": short},
                        {"lesion": "NT1", "state": "present"}],
                     "clinical": {"corticosteroids": "stable", "on_corticosteroids": false,
                                  "clinical_status": "stable", "non_enhancing": "stable"}}
                ]
            }))
            .unwrap()
        };
        // SPD 200 → 40 mm² (−80 %): a partial response; 200 → 180 (−10 %): stable disease.
        let a = outcome(&d, &tps(), &read(8.0, 5.0));
        assert_eq!(a["complete"], true, "{a}");
        assert_eq!(a["timepoints"][0]["spd_mm2"], 200.0);
        assert_eq!(a["timepoints"][1]["spd_mm2"], 40.0);
        assert_eq!(a["timepoints"][1]["response"], "PR", "{a}");
        let b = outcome(&d, &tps(), &read(18.0, 10.0));
        assert_eq!(b["timepoints"][1]["response"], "SD", "{b}");
        let why = disagreement(&d, &a, &b).unwrap();
        assert!(
            why.contains("PR vs SD") && why.contains("SPDs 40 vs 180"),
            "{why}"
        );
        // A target needs both diameters.
        let mut one = read(8.0, 5.0);
        one.timepoints[0].measurements[0].short_axis_mm = None;
        let o = outcome(&d, &tps(), &one);
        assert_eq!(o["complete"], false, "{o}");
    }

    #[test]
    fn locked_time_points_stay_as_they_were_and_later_ones_wait() {
        let labels = ["TP0", "TP1", "TP2"];
        let read = |v: Value| parse(&v).unwrap();
        let tp0 = json!({"label": "TP0", "response": "normal"});
        let none = ReadData::default();
        let a = read(json!({"timepoints": [tp0], "locked": ["TP0"]}));
        assert_eq!(check_locks(&labels, &none, &a), Ok(()));
        // TP1 is open once TP0 is locked; TP2 not yet.
        let b = read(
            json!({"timepoints": [tp0, {"label": "TP1", "response": "x"}], "locked": ["TP0"]}),
        );
        assert_eq!(check_locks(&labels, &a, &b), Ok(()));
        let c = read(
            json!({"timepoints": [tp0, {"label": "TP2", "response": "x"}], "locked": ["TP0"]}),
        );
        assert!(
            check_locks(&labels, &a, &c)
                .unwrap_err()
                .contains("TP2 is not open yet: lock TP1 first")
        );
        // A locked time point neither changes nor unlocks.
        let d =
            read(json!({"timepoints": [{"label": "TP0", "response": "other"}], "locked": ["TP0"]}));
        assert!(
            check_locks(&labels, &a, &d)
                .unwrap_err()
                .contains("TP0 is locked")
        );
        let e = read(json!({"timepoints": [tp0], "locked": []}));
        assert!(
            check_locks(&labels, &a, &e)
                .unwrap_err()
                .contains("stays locked")
        );
        let f = read(json!({"timepoints": [tp0], "locked": ["TP1"]}));
        assert!(
            check_locks(&labels, &none, &f)
                .unwrap_err()
                .contains("in order")
        );
        // Nothing but TP0 before anything is locked.
        let g = read(json!({"timepoints": [{"label": "TP1", "response": "x"}]}));
        assert!(
            check_locks(&labels, &none, &g)
                .unwrap_err()
                .contains("TP1 is not open yet")
        );
    }

    #[test]
    fn a_free_form_read_needs_a_response_at_every_time_point() {
        let d = design(Criteria::FreeForm);
        let o = outcome(
            &d,
            &tps(),
            &parse(&json!({"timepoints": [{"label": "TP0", "response": "normal"}]})).unwrap(),
        );
        assert_eq!(o["problem"], "TP1: state a response");
    }
}
