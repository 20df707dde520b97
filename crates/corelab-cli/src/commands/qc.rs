//! `corelab qc TRIAL [--last] [decide …]` and `corelab query raise | answer | close | list`.

use super::deid::progress_bar;
use super::{actor, open};
use crate::cli::{Global, QcAction, QcArgs, QueryCommand};
use crate::output::emit;
use anyhow::{Result, bail};
use corelab_engine::QcReport;
use corelab_engine::report::VisitQc;
use corelab_store::QueryStep;
use std::collections::BTreeSet;

/// Exit status 3 when anything is to be reviewed or failed (DESIGN.md: a check found a problem).
fn exit_of(report: &QcReport) -> u8 {
    if report.has_problems() { 3 } else { 0 }
}

pub async fn run(g: &Global, a: &QcArgs) -> Result<u8> {
    let store = open(g).await?;
    if store.trial(&a.trial).await?.is_none() {
        bail!("no trial {}", a.trial);
    }
    if let Some(QcAction::Decide {
        target,
        status,
        reason,
    }) = &a.action
    {
        check_target(target)?;
        let d = store
            .record_qc_decision(&actor(g), &a.trial, target, status, reason)
            .await?;
        emit(g.json, &d, |d| {
            format!(
                "{}: {} by {} ({}); it stands over the computed status from the next evaluation on",
                d.target, d.status, d.actor, d.reason
            )
        })?;
        return Ok(0);
    }
    let report: QcReport = if a.last {
        let Some(e) = store.latest_qc_evaluation(&a.trial).await? else {
            bail!(
                "trial {} has not been evaluated yet; run corelab qc {}",
                a.trial,
                a.trial
            );
        };
        let value: serde_json::Value = serde_json::from_str(&e.report_json)?;
        emit(g.json, &value, |v| {
            serde_json::to_string_pretty(v).unwrap_or_default()
        })?;
        let problems = ["series", "visits"].iter().any(|k| {
            ["review", "fail"]
                .iter()
                .any(|s| value[k][s].as_u64().unwrap_or(0) > 0)
        });
        return Ok(if problems { 3 } else { 0 });
    } else {
        let bar = progress_bar(g, 0);
        let mut progress = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        };
        let (report, _) =
            corelab_engine::evaluate::evaluate(&store, &a.trial, &actor(g), &mut progress).await?;
        bar.finish_and_clear();
        report
    };
    emit(g.json, &report, human)?;
    Ok(exit_of(&report))
}

fn check_target(target: &str) -> Result<()> {
    let ok = match target.split_once(':') {
        Some(("series", uid)) => !uid.is_empty(),
        Some(("visit", rest)) => rest
            .split_once('/')
            .is_some_and(|(s, v)| !s.is_empty() && !v.is_empty()),
        _ => false,
    };
    if !ok {
        bail!("target {target:?}: write series:SERIES_UID or visit:SUBJECT/VISIT");
    }
    Ok(())
}

/// The subject × visit matrix, then every problem with its target and reason.
fn human(r: &QcReport) -> String {
    let mut visits: Vec<String> = Vec::new();
    for v in r.subjects.iter().flat_map(|s| &s.visits) {
        if !visits.contains(&v.visit) {
            visits.push(v.visit.clone());
        }
    }
    let width = r
        .subjects
        .iter()
        .map(|s| s.subject.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!(
        "QC of {} (trial file {}): series {} pass, {} review, {} fail; visits {} pass, {} pending, {} review, {} fail\n\n",
        r.trial,
        &r.protocol_sha256[..r.protocol_sha256.len().min(12)],
        r.series.pass,
        r.series.review,
        r.series.fail,
        r.visits.pass,
        r.visits.pending,
        r.visits.review,
        r.visits.fail
    );
    out.push_str(&format!("{:width$}  {:5}", "subject", "site"));
    for v in &visits {
        out.push_str(&format!("  {v:12}"));
    }
    out.push('\n');
    for s in &r.subjects {
        out.push_str(&format!("{:width$}  {:5}", s.subject, s.site));
        for name in &visits {
            let cell = s
                .visits
                .iter()
                .find(|v| &v.visit == name)
                .map(|v| {
                    let mut c = v.status.as_str().to_owned();
                    if v.decision.is_some() {
                        c.push('*');
                    }
                    c
                })
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!("  {cell:12}"));
        }
        out.push('\n');
    }
    let problems = r.problems();
    if problems.is_empty() {
        out.push_str("\nno problems\n");
    } else {
        out.push_str("\nproblems (target, status, what):\n");
        let mut seen = BTreeSet::new();
        for (target, status, why) in problems {
            if seen.insert((target.clone(), why.clone())) {
                out.push_str(&format!("  {target}  {}  {why}\n", status.as_str()));
            }
        }
    }
    let decided: Vec<String> = r
        .subjects
        .iter()
        .flat_map(|s| {
            s.visits.iter().filter_map(move |v| {
                v.decision.as_ref().map(|d| {
                    format!(
                        "  {}  {} (computed {}): {} — {}",
                        VisitQc::target(&s.subject, &v.visit),
                        d.status.as_str(),
                        v.computed_status.as_str(),
                        d.actor,
                        d.reason
                    )
                })
            })
        })
        .chain(
            r.subjects
                .iter()
                .flat_map(|s| &s.visits)
                .flat_map(|v| &v.series)
                .filter_map(|s| {
                    s.decision.as_ref().map(|d| {
                        format!(
                            "  series:{}  {} (computed {}): {} — {}",
                            s.series_instance_uid,
                            d.status.as_str(),
                            s.computed_status.as_str(),
                            d.actor,
                            d.reason
                        )
                    })
                }),
        )
        .collect();
    if !decided.is_empty() {
        out.push_str("\ndecided by people (*):\n");
        out.push_str(&decided.join("\n"));
        out.push('\n');
    }
    out
}

pub async fn query(g: &Global, c: &QueryCommand) -> Result<u8> {
    let store = open(g).await?;
    let who = actor(g);
    let q = match c {
        QueryCommand::Raise {
            trial,
            target,
            text,
        } => {
            check_target(target)?;
            store.raise_query(&who, trial, target, text).await?
        }
        QueryCommand::Answer { trial, id, text } => {
            store
                .step_query(&who, trial, *id, QueryStep::Answer, text)
                .await?
        }
        QueryCommand::Close { trial, id, text } => {
            store
                .step_query(&who, trial, *id, QueryStep::Close, text)
                .await?
        }
        QueryCommand::List { trial, all } => {
            let qs = store.queries(trial, *all).await?;
            emit(g.json, &qs, |qs| {
                if qs.is_empty() {
                    return "no queries".into();
                }
                qs.iter()
                    .map(|q| format!("{}\t{}\t{}\t{}", q.id, q.state, q.target, q.question))
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            return Ok(0);
        }
    };
    emit(g.json, &q, |q| {
        format!(
            "query {} ({}) on {}: {}",
            q.id, q.state, q.target, q.question
        )
    })?;
    Ok(0)
}
