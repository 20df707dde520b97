//! A trial's endpoint dataset ([`corelab_export::endpoints`]): every measurement its locked
//! algorithms made, and every time-point result of its signed central reads, each with its site,
//! visit date, lock version, provenance entity, QC status, reader and accepted flag. Read from
//! the store; nothing is changed. [`sdtm`] makes its CDISC SDTM datasets.

pub mod dicom;
pub mod report;
pub mod sdtm;

use crate::evaluate::{EngineError, current_report};
use crate::reads::{self, ReadError};
use crate::report::QcReport;
use corelab_core::reads::Criteria;
use corelab_export::endpoints::{EndpointRow, Source};
use corelab_store::{Store, jobs::StoredMeasurement, reads::ReadTask};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the QC report says of a trial's subjects, visits and series.
#[derive(Default)]
struct QcIndex {
    site: BTreeMap<String, String>,
    visit: BTreeMap<(String, String), (String, Option<String>)>,
    series: BTreeMap<String, String>,
}

impl QcIndex {
    fn of(report: Option<&QcReport>) -> Self {
        let mut ix = Self::default();
        for s in report.into_iter().flat_map(|r| &r.subjects) {
            ix.site.insert(s.subject.clone(), s.site.clone());
            for v in &s.visits {
                ix.visit.insert(
                    (s.subject.clone(), v.visit.clone()),
                    (v.status.as_str().to_owned(), v.date.as_deref().map(iso)),
                );
                for x in &v.series {
                    ix.series
                        .insert(x.series_instance_uid.clone(), x.status.as_str().to_owned());
                }
            }
        }
        ix
    }

    fn visit_status(&self, subject: &str, visit: &str) -> Option<String> {
        self.visit
            .get(&(subject.to_owned(), visit.to_owned()))
            .map(|(s, _)| s.clone())
    }

    fn visit_date(&self, subject: &str, visit: &str) -> Option<String> {
        self.visit
            .get(&(subject.to_owned(), visit.to_owned()))
            .and_then(|(_, d)| d.clone())
    }
}

/// `YYYYMMDD` as ISO 8601; other text as it is.
fn iso(date: &str) -> String {
    if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
    } else {
        date.to_owned()
    }
}

/// The PROV entity of a measurement: `corelab:run/RUN/measurement/NAME`, the id its job's
/// provenance record gives it (`corelab_algo::provenance`), or the job's when the record has no
/// activity.
fn measurement_entity(m: &StoredMeasurement) -> String {
    let activity = serde_json::from_str::<Value>(&m.provenance)
        .ok()
        .and_then(|p| {
            p["activity"]
                .as_object()
                .and_then(|a| a.keys().next().cloned())
        });
    match activity {
        Some(run) => format!("{run}/measurement/{}", m.name),
        None => format!("corelab:job/{}/measurement/{}", m.job_id, m.name),
    }
}

/// Records that `actor` exported `trial`'s results (`results.export`; `details` say what: the
/// format and each file's SHA-256), in the audit trail.
pub async fn record_export(
    store: &Store,
    actor: &str,
    trial: &str,
    details: Value,
) -> Result<(), EngineError> {
    let mut tx = store.begin(actor).await?;
    let mut ev = corelab_store::NewEvent::new("results.export", "trial", trial);
    ev.details = details;
    tx.record(ev).await?;
    tx.commit().await?;
    Ok(())
}

/// The endpoint rows of `trial`: algorithms' measurements (by subject, visit, algorithm and
/// measure), then the signed reads' time-point results (by subject, read and time point).
pub async fn endpoints(store: &Store, trial: &str) -> Result<Vec<EndpointRow>, EngineError> {
    let measurements = store.measurements(trial).await?;
    let lock_of: BTreeMap<i64, i64> = store
        .jobs(trial)
        .await?
        .into_iter()
        .map(|j| (j.id, j.lock_version))
        .collect();
    let decisions = store.qc_decisions(trial).await?;
    let report = current_report(store, trial, &decisions).await?;
    let qc = QcIndex::of(report.as_ref());
    let mut rows: Vec<EndpointRow> = measurements
        .iter()
        .map(|m| EndpointRow {
            trial: trial.to_owned(),
            site: qc.site.get(&m.subject).cloned().unwrap_or_default(),
            subject: m.subject.clone(),
            visit: m.visit.clone(),
            visit_date: qc.visit_date(&m.subject, &m.visit),
            series_instance_uid: m.series_instance_uid.clone(),
            source: Source::Algorithm,
            algorithm: Some(m.algorithm.clone()),
            measure: m.name.clone(),
            value: Some(m.value),
            value_text: None,
            unit: m.unit.clone(),
            lock_version: lock_of.get(&m.job_id).copied(),
            job_id: Some(m.job_id),
            read_id: None,
            provenance_id: measurement_entity(m),
            qc_status: m
                .series_instance_uid
                .as_ref()
                .and_then(|u| qc.series.get(u).cloned())
                .or_else(|| qc.visit_status(&m.subject, &m.visit)),
            reader: None,
            accepted: None,
            recorded_at: m.created_at.clone(),
        })
        .collect();
    rows.extend(read_rows(store, trial, &qc).await?);
    Ok(rows)
}

/// The rows of the trial's signed reads; none when the trial has no read design.
async fn read_rows(
    store: &Store,
    trial: &str,
    qc: &QcIndex,
) -> Result<Vec<EndpointRow>, EngineError> {
    let case = match reads::Case::load(store, trial).await {
        Ok(c) => c,
        Err(ReadError::NoDesign(_)) => return Ok(Vec::new()),
        Err(ReadError::Engine(e)) => return Err(e),
        // No QC evaluation yet: no read can have been made.
        Err(ReadError::Refused(_)) => return Ok(Vec::new()),
    };
    let engine = match case.design.criteria {
        Criteria::Recist11 => Some("onco.recist11"),
        Criteria::Rano => Some("onco.rano"),
        Criteria::LesionCount | Criteria::FreeForm => None,
    };
    let registry = corelab_algo::Registry::builtin();
    let algorithm = engine.and_then(|id| {
        registry
            .get(id)
            .map(|a| format!("{}@{}", a.id(), a.version()))
    });
    let mut tasks: Vec<ReadTask> = store.read_tasks(Some(trial), None).await?;
    tasks.sort_by(|a, b| (&a.subject, a.id).cmp(&(&b.subject, b.id)));
    let mut rows = Vec::new();
    for t in tasks
        .iter()
        .filter(|t| t.kind == "read" && t.state == "signed")
    {
        let accepted = reads::accepted(&case.design, &tasks, &t.subject) == Some(t.id);
        // The time points as the case has them now: label → visit and date.
        let visits: BTreeMap<String, String> = case
            .timepoints(&t.subject)
            .unwrap_or_default()
            .into_iter()
            .map(|tp| (tp.label, tp.visit))
            .collect();
        let points = t
            .outcome
            .as_ref()
            .and_then(|o| o["timepoints"].as_array())
            .cloned()
            .unwrap_or_default();
        for p in &points {
            let label = p["label"].as_str().unwrap_or_default();
            let visit = visits
                .get(label)
                .cloned()
                .unwrap_or_else(|| label.to_owned());
            for (measure, value) in p.as_object().into_iter().flatten() {
                let Some((number, text, unit)) = read_value(measure, value) else {
                    continue;
                };
                rows.push(EndpointRow {
                    trial: trial.to_owned(),
                    site: qc.site.get(&t.subject).cloned().unwrap_or_default(),
                    subject: t.subject.clone(),
                    visit: visit.clone(),
                    visit_date: qc.visit_date(&t.subject, &visit),
                    series_instance_uid: None,
                    source: Source::Read,
                    algorithm: algorithm.clone(),
                    measure: measure.clone(),
                    value: number,
                    value_text: text,
                    unit: unit.to_owned(),
                    lock_version: None,
                    job_id: None,
                    read_id: Some(t.id),
                    provenance_id: format!("corelab:read/{}/{label}/{measure}", t.id),
                    qc_status: qc.visit_status(&t.subject, &visit),
                    reader: Some(t.reader.clone()),
                    accepted: Some(accepted),
                    recorded_at: t.signed_at.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(rows)
}

/// A read outcome's item as a row's value: a number with its UCUM unit, or a category. The
/// label, the completeness flag and baseline's "NA" responses are not results.
fn read_value(name: &str, v: &Value) -> Option<(Option<f64>, Option<String>, &'static str)> {
    let unit = match name {
        "label" | "complete" => return None,
        "sum_mm" => "mm",
        "spd_mm2" => "mm2",
        "change_from_baseline_pct" => "%",
        "count" | "new_or_enlarging" => "{lesions}",
        _ => "",
    };
    match v {
        Value::Number(n) => n.as_f64().map(|x| (Some(x), None, unit)),
        Value::String(s) if s != "NA" && !s.is_empty() => Some((None, Some(s.clone()), "")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn read_values_carry_units_and_skip_what_is_not_a_result() {
        assert_eq!(
            read_value("sum_mm", &json!(41.5)),
            Some((Some(41.5), None, "mm"))
        );
        assert_eq!(
            read_value("response", &json!("PR")),
            Some((None, Some("PR".to_owned()), ""))
        );
        assert_eq!(read_value("response", &json!("NA")), None);
        assert_eq!(read_value("complete", &json!(true)), None);
        assert_eq!(read_value("change_from_baseline_pct", &Value::Null), None);
    }

    #[test]
    fn a_measurements_entity_is_the_one_its_provenance_record_names() {
        let m = StoredMeasurement {
            id: 1,
            job_id: 4,
            subject: "S".into(),
            visit: "v".into(),
            series_instance_uid: None,
            algorithm: "a@1".into(),
            name: "volume".into(),
            value: 1.0,
            unit: "mL".into(),
            provenance: json!({"activity": {"corelab:run/abc": {}}}).to_string(),
            created_at: String::new(),
        };
        assert_eq!(measurement_entity(&m), "corelab:run/abc/measurement/volume");
        let m = StoredMeasurement {
            provenance: "not json".into(),
            ..m
        };
        assert_eq!(measurement_entity(&m), "corelab:job/4/measurement/volume");
    }
}
