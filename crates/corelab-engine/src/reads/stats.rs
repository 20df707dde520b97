//! Reader statistics of a trial: per reader, reads signed, time per read and how often their
//! subjects went to adjudication (and their read was accepted there); per pair of readers, their
//! agreement on the response (Cohen's κ over follow-up time points) and on the size measure (the
//! ICC of the sum of diameters, or of the lesion count, over every time point).

use crate::agreement::{cohen_kappa, icc};
use corelab_store::ReadTask;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn minutes(t: &ReadTask) -> Option<f64> {
    let parse = |s: &Option<String>| chrono::DateTime::parse_from_rfc3339(s.as_deref()?).ok();
    let (a, b) = (parse(&t.started_at)?, parse(&t.signed_at)?);
    Some((b - a).num_milliseconds() as f64 / 60_000.0)
}

fn points(t: &ReadTask) -> Vec<Value> {
    t.outcome
        .as_ref()
        .and_then(|o| o["timepoints"].as_array().cloned())
        .unwrap_or_default()
}

fn size(p: &Value) -> Option<f64> {
    p["sum_mm"]
        .as_f64()
        .or_else(|| p["spd_mm2"].as_f64())
        .or_else(|| p["count"].as_f64())
}

/// What two readers' signed reads of the same subjects give.
#[derive(Default)]
struct Pair {
    responses_a: Vec<String>,
    responses_b: Vec<String>,
    sizes: Vec<Vec<f64>>,
    subjects: usize,
}

/// The statistics of a trial's tasks, as JSON (the page and `corelab reads stats --json`).
pub fn reader_stats(tasks: &[ReadTask]) -> Value {
    let reads: Vec<&ReadTask> = tasks.iter().filter(|t| t.kind == "read").collect();
    let adjudications: Vec<&ReadTask> = tasks.iter().filter(|t| t.kind == "adjudication").collect();
    let mut by_subject: BTreeMap<&str, Vec<&ReadTask>> = BTreeMap::new();
    for t in &reads {
        by_subject.entry(&t.subject).or_default().push(t);
    }
    let adjudicated = |subject: &str| adjudications.iter().find(|a| a.subject == subject);
    let accepted_task = |a: &ReadTask| {
        (a.state == "signed")
            .then(|| a.outcome.as_ref()?["accepted_task"].as_i64())
            .flatten()
    };
    let mut readers: BTreeMap<&str, Vec<&ReadTask>> = BTreeMap::new();
    for t in &reads {
        readers.entry(&t.reader).or_default().push(t);
    }
    let per_reader: Vec<Value> = readers
        .iter()
        .map(|(name, mine)| {
            let signed: Vec<_> = mine.iter().filter(|t| t.state == "signed").collect();
            let times: Vec<f64> = signed.iter().filter_map(|t| minutes(t)).collect();
            let double: Vec<_> = signed
                .iter()
                .filter(|t| by_subject[t.subject.as_str()].len() > 1)
                .collect();
            let adj: Vec<_> = double.iter().filter_map(|t| adjudicated(&t.subject).map(|a| (t, a))).collect();
            let decided: Vec<_> = adj.iter().filter(|(_, a)| a.state == "signed").collect();
            let won = decided.iter().filter(|(t, a)| accepted_task(a) == Some(t.id)).count();
            json!({
                "reader": name, "assigned": mine.len(), "signed": signed.len(),
                "mean_minutes_per_read": (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64),
                "double_read_subjects": double.len(),
                "adjudicated": adj.len(),
                "adjudication_rate": (!double.is_empty()).then(|| adj.len() as f64 / double.len() as f64),
                "accepted_in_adjudication": won,
                "acceptance_rate": (!decided.is_empty()).then(|| won as f64 / decided.len() as f64),
            })
        })
        .collect();
    // Pairs: both reads of a subject signed.
    let mut pairs: BTreeMap<(String, String), Pair> = BTreeMap::new();
    let mut both_signed = 0usize;
    for subject_reads in by_subject.values() {
        let signed: Vec<_> = subject_reads
            .iter()
            .filter(|t| t.state == "signed")
            .collect();
        if signed.len() != 2 {
            continue;
        }
        both_signed += 1;
        let (mut a, mut b) = (signed[0], signed[1]);
        if a.reader > b.reader {
            std::mem::swap(&mut a, &mut b);
        }
        let e = pairs
            .entry((a.reader.clone(), b.reader.clone()))
            .or_default();
        e.subjects += 1;
        for (i, (pa, pb)) in points(a).iter().zip(points(b).iter()).enumerate() {
            if i > 0
                && let (Some(x), Some(y)) = (pa["response"].as_str(), pb["response"].as_str())
            {
                e.responses_a.push(x.to_owned());
                e.responses_b.push(y.to_owned());
            }
            if let (Some(x), Some(y)) = (size(pa), size(pb)) {
                e.sizes.push(vec![x, y]);
            }
        }
    }
    let per_pair: Vec<Value> = pairs
        .into_iter()
        .map(|((a, b), pair)| {
            let Pair { responses_a: ra, responses_b: rb, sizes, subjects } = pair;
            let i = icc(&sizes);
            json!({
                "readers": [a, b], "subjects": subjects, "timepoints": ra.len(),
                "response_agreement": if ra.is_empty() { None } else { Some(ra.iter().zip(&rb).filter(|(x, y)| x == y).count() as f64 / ra.len() as f64) },
                "kappa": cohen_kappa(&ra, &rb),
                "size_pairs": sizes.len(),
                "icc2_1": i.map(|i| i.icc2_1), "icc3_1": i.map(|i| i.icc3_1),
            })
        })
        .collect();
    json!({
        "reads": reads.len(),
        "signed": reads.iter().filter(|t| t.state == "signed").count(),
        "subjects_double_read": both_signed,
        "adjudications": adjudications.len(),
        "adjudications_signed": adjudications.iter().filter(|a| a.state == "signed").count(),
        "adjudication_rate": (both_signed > 0).then(|| adjudications.len() as f64 / both_signed as f64),
        "readers": per_reader,
        "pairs": per_pair,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: i64, subject: &str, kind: &str, reader: &str, outcome: Value) -> ReadTask {
        ReadTask {
            id,
            trial: "T".into(),
            subject: subject.into(),
            kind: kind.into(),
            reader: reader.into(),
            case_label: "C".into(),
            order_key: "k".into(),
            reason: None,
            state: "signed".into(),
            data: Some(json!({})),
            outcome: Some(outcome),
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            started_at: Some("2026-01-01T10:00:00.000000Z".into()),
            saved_at: None,
            signed_at: Some("2026-01-01T10:06:00.000000Z".into()),
        }
    }

    fn read(count: [u64; 2], response: &str) -> Value {
        json!({"complete": true, "timepoints": [
            {"label": "TP0", "count": count[0], "response": "NA"},
            {"label": "TP1", "count": count[1], "response": response}]})
    }

    #[test]
    fn readers_pairs_and_adjudications_are_counted() {
        let tasks = vec![
            task(1, "s1", "read", "r1", read([3, 4], "active")),
            task(2, "s1", "read", "r2", read([3, 4], "active")),
            task(3, "s2", "read", "r1", read([2, 2], "inactive")),
            task(4, "s2", "read", "r2", read([5, 6], "active")),
            task(
                5,
                "s2",
                "adjudication",
                "a",
                json!({"complete": true, "accepted_task": 4}),
            ),
            task(6, "s3", "read", "r1", read([1, 1], "inactive")),
            task(7, "s3", "read", "r2", read([1, 1], "inactive")),
        ];
        let s = reader_stats(&tasks);
        assert_eq!(s["reads"], 6);
        assert_eq!(s["subjects_double_read"], 3);
        assert_eq!(s["adjudications"], 1);
        let r1 = &s["readers"][0];
        assert_eq!(r1["reader"], "r1");
        assert_eq!(r1["mean_minutes_per_read"], 6.0);
        assert_eq!(r1["adjudicated"], 1);
        assert_eq!(r1["accepted_in_adjudication"], 0);
        assert_eq!(s["readers"][1]["accepted_in_adjudication"], 1);
        let p = &s["pairs"][0];
        assert_eq!(p["subjects"], 3);
        assert_eq!(p["timepoints"], 3);
        // Responses: (active, active), (inactive, active), (inactive, inactive): p_o = 2/3,
        // p_e = (1/3)(2/3) + (2/3)(1/3) = 4/9, κ = (2/3 − 4/9) / (5/9) = 0.4.
        assert!((p["kappa"].as_f64().unwrap() - 0.4).abs() < 1e-12, "{p}");
        assert_eq!(p["size_pairs"], 6);
        assert!(p["icc2_1"].as_f64().unwrap() < 1.0);
    }
}
