//! `corelab reads plan | list | stats | signatures TRIAL`.

use super::{actor, open};
use crate::cli::{Global, ReadsCommand};
use crate::output::emit;
use anyhow::{Result, bail};
use corelab_engine::reads;
use serde_json::{Value, json};

fn word(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map(|x| {
                format!("{:.3}", x)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_owned()
            })
            .unwrap_or_default(),
        other => other.to_string(),
    }
}

pub async fn run(g: &Global, c: &ReadsCommand) -> Result<u8> {
    let store = open(g).await?;
    let (ReadsCommand::Plan { trial }
    | ReadsCommand::List { trial }
    | ReadsCommand::Stats { trial }
    | ReadsCommand::Signatures { trial }) = c;
    if store.trial(trial).await?.is_none() {
        bail!("no trial {trial}");
    }
    match c {
        ReadsCommand::Plan { .. } => {
            let p = reads::plan(&store, &actor(g), trial).await?;
            emit(g.json, &p, |p| {
                let mut s = format!(
                    "{} tasks made for {} subjects; {} not in the sample",
                    p.created.len(),
                    p.subjects.len(),
                    p.not_sampled.len()
                );
                for (subject, why) in &p.not_ready {
                    s.push_str(&format!("\n  not ready: {subject}: {why}"));
                }
                s
            })?;
        }
        ReadsCommand::List { .. } => {
            let design = reads::design(&store, trial).await?;
            let tasks = store.read_tasks(Some(trial), None).await?;
            let mut items = reads::listing(&design, &tasks);
            for i in &mut items {
                let responses: Vec<String> = i["outcome"]["timepoints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}={}", word(&p["label"]), word(&p["response"])))
                    .collect();
                i["responses"] = json!(responses);
            }
            emit(g.json, &items, |items| {
                let mut s = format!(
                    "{:>4}  {:<18} {:<9} {:<13} {:<12} {:<12} {:<3} RESPONSES",
                    "ID", "SUBJECT", "CASE", "KIND", "READER", "STATE", "ACC"
                );
                for i in items {
                    s.push_str(&format!(
                        "\n{:>4}  {:<18} {:<9} {:<13} {:<12} {:<12} {:<3} {}",
                        word(&i["id"]),
                        word(&i["subject"]),
                        word(&i["case_label"]),
                        word(&i["kind"]),
                        word(&i["reader"]),
                        word(&i["state"]),
                        if i["accepted"] == true { "yes" } else { "" },
                        i["responses"]
                            .as_array()
                            .map(|r| r.iter().map(word).collect::<Vec<_>>().join(" "))
                            .unwrap_or_default()
                    ));
                }
                s
            })?;
        }
        ReadsCommand::Stats { .. } => {
            let tasks = store.read_tasks(Some(trial), None).await?;
            let s = reads::stats::reader_stats(&tasks);
            emit(g.json, &s, |s| {
                let mut out = format!(
                    "{} reads ({} signed), {} subjects read twice, {} adjudications (rate {})",
                    word(&s["reads"]),
                    word(&s["signed"]),
                    word(&s["subjects_double_read"]),
                    word(&s["adjudications"]),
                    word(&s["adjudication_rate"])
                );
                for r in s["readers"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n  reader {}: {} signed of {}, {} min per read, adjudicated {} of {} (accepted {})",
                        word(&r["reader"]), word(&r["signed"]), word(&r["assigned"]),
                        word(&r["mean_minutes_per_read"]), word(&r["adjudicated"]),
                        word(&r["double_read_subjects"]), word(&r["accepted_in_adjudication"])
                    ));
                }
                for p in s["pairs"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n  pair {}: {} subjects, κ {} over {} time points, ICC(2,1) {}",
                        p["readers"]
                            .as_array()
                            .map(|r| r.iter().map(word).collect::<Vec<_>>().join(" + "))
                            .unwrap_or_default(),
                        word(&p["subjects"]),
                        word(&p["kappa"]),
                        word(&p["timepoints"]),
                        word(&p["icc2_1"])
                    ));
                }
                out
            })?;
        }
        ReadsCommand::Signatures { .. } => {
            let checks = store.verify_signatures(trial).await?;
            let bad = checks.iter().filter(|c| !c.valid).count();
            emit(g.json, &checks, |checks| {
                checks
                    .iter()
                    .map(|c| {
                        format!(
                            "signature {}: {} {} by {} ({}) at {}: {}",
                            c.signature.id,
                            c.signature.record_type,
                            c.signature.record_id,
                            c.signature.printed_name,
                            c.signature.meaning,
                            c.signature.signed_at,
                            c.problem.as_deref().unwrap_or("valid")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            return Ok(if bad > 0 { 3 } else { 0 });
        }
    }
    Ok(0)
}
