//! The demo's neuro-oncology chain on the `glioma` phantom: each visit's T1-weighted MR after
//! gadolinium, every enhancing lesion segmented by `onco.lesion-seg` from a reader's click (its
//! intensity window set to the enhancing tumour's signal, the MR counterpart of CT's soft-tissue
//! window), its two perpendicular diameters measured on the mask, the subject's record with
//! RANO's clinical items assessed by `onco.rano`, and each time point set next to the phantom's
//! truth.
//!
//! As for the CT chain (`demo_onco`), the phantom's truth stands in for the reader: the click is
//! the lesion's centre, the targets are the baseline's enhancing lesions, the new lesion is the
//! one the phantom adds, and the clinical items are the phantom's. Everything measured comes from
//! the images.

use super::demo_onco::{assess, demo_options, iso, response_code, response_word};
use anyhow::{Context, Result};
use corelab_algo::Registry;
use corelab_algo::onco::lesion_seg::{self, Settings};
use corelab_image::phantom::{self, Kind};
use serde_json::{Value, json};
use std::path::Path;

/// The glioma phantom's subjects in the demo: one of each course (a confirmed response, a
/// progression, a response the corticosteroids limit and then a new lesion).
const SUBJECTS: usize = 3;

/// The growing stage's window (signal units): the enhancing tumour reads 1450 (× the bias field),
/// white matter 900 and the bright scalp 1000, so a seed reading under 1150 is not on enhancing
/// tumour.
const WINDOW: [f64; 2] = [1150.0, 2500.0];
/// The growing limits' k: wide (the limits are at most ± 100), so the core follows the bias
/// field across a large lesion; the window keeps it off everything else.
const INTENSITY_SD: f64 = 10.0;

/// Runs the chain, writing `rano/SUBJECT/` (the lesion record, the per-visit table and the SDTM
/// RS dataset) under `dir`; the section of the demo's document.
pub(super) fn run(dir: &Path) -> Result<Value> {
    let options = demo_options(SUBJECTS);
    let plan = phantom::plan(Kind::Glioma, &options)?;
    let registry = Registry::builtin();
    let rano = registry
        .get("onco.rano")
        .context("onco.rano is registered")?;
    let settings = Settings {
        window_hu: WINDOW,
        intensity_sd: INTENSITY_SD,
        ..Settings::default()
    };
    let mut subjects = Vec::new();
    for (s, truth) in plan.truth.subjects.iter().enumerate() {
        let baseline = &truth.visits[0].lesions;
        let lesions: Vec<Value> = baseline
            .iter()
            .map(|l| json!({"id": l.id, "role": "target", "organ": "brain"}))
            .collect();
        let mut visits = Vec::new();
        let mut measured = Vec::new();
        for (v, visit) in truth.visits.iter().enumerate() {
            let series = plan
                .series
                .iter()
                .find(|p| p.subject_index == s && p.visit_index == v)
                .context("the phantom plans a T1c series per visit")?;
            let image = series.render(options.subsamples)?.images.remove(0);
            let mut rows = Vec::new();
            for l in baseline {
                let Some(t) = visit.lesions.iter().find(|x| x.id == l.id) else {
                    rows.push(json!({"lesion": l.id, "state": "absent"}));
                    continue;
                };
                let found =
                    lesion_seg::segment(&image, t.ellipsoid.centre_mm, &settings).map_err(|e| {
                        anyhow::anyhow!("{} {} lesion {}: {e}", truth.subject, visit.visit, l.id)
                    })?;
                let d = &found.diameters;
                measured.push(json!({
                    "visit": visit.visit, "lesion": l.id,
                    "long_mm": d.long_mm, "short_mm": d.short_mm,
                    "truth_long_mm": t.long_axis_mm, "truth_short_mm": t.short_axis_mm,
                    "volume_ml": found.volume_mm3 / 1000.0,
                    "truth_volume_ml": t.analytic_volume_mm3 / 1000.0,
                }));
                rows.push(
                    json!({"lesion": l.id, "long_axis_mm": d.long_mm, "short_axis_mm": d.short_mm}),
                );
            }
            let mut record = json!({
                "visit": visit.visit,
                "date": iso(&visit.date),
                "measurements": rows,
            });
            let new: Vec<Value> = visit
                .lesions
                .iter()
                .filter(|l| l.status == "new")
                .map(|l| json!({"id": l.id, "equivocal": false}))
                .collect();
            if !new.is_empty() {
                record["new_lesions"] = json!(new);
            }
            if let Some(c) = &visit.clinical {
                record["clinical"] = json!({
                    "corticosteroids": c.corticosteroids,
                    "on_corticosteroids": c.on_corticosteroids,
                    "clinical_status": c.clinical_status,
                    "non_enhancing": c.non_enhancing,
                });
            }
            visits.push(record);
        }
        let record = json!({
            "study": "DEMO-GBM",
            "subject": truth.subject,
            "lesions": lesions,
            "visits": visits,
        });
        let folder = dir.join("rano").join(&truth.subject);
        let assessed = assess(rano, &record, "sum-of-products", &folder)?;
        let points: Vec<Value> = assessed
            .rows
            .iter()
            .zip(&truth.visits)
            .skip(1)
            .map(|(&(spd, overall), visit)| {
                let truth = visit.rano.as_ref();
                let expected = truth.and_then(|r| response_code(&r.response));
                json!({
                    "visit": visit.visit,
                    "spd_mm2": spd,
                    "truth_spd_mm2": truth.map(|r| r.sum_of_products_mm2),
                    "response": response_word(overall),
                    "truth_response": truth.map(|r| r.response.clone()),
                    "agrees": expected == Some(overall),
                })
            })
            .collect();
        subjects.push(json!({
            "subject": truth.subject,
            "baseline_spd_mm2": assessed.rows.first().map(|r| r.0),
            "truth_baseline_spd_mm2": truth.visits[0].rano.as_ref().map(|r| r.sum_of_products_mm2),
            "time_points": points,
            "best_overall_response": assessed.best,
            "lesions": measured,
            "files": folder,
        }));
    }
    Ok(json!({
        "phantom": "glioma",
        "reader": "simulated from the phantom's truth: the click at each lesion's centre, the targets, the new lesion, the clinical items",
        "algorithms": ["onco.lesion-seg", "onco.rano"],
        "subjects": subjects,
    }))
}

/// The section as text: each time point's sum of products and response beside the truth.
pub(super) fn text(d: &Value) -> String {
    let mut t = String::from(
        "\nneuro-oncology chain (glioma phantom, RANO; reader clicks, targets, new lesions and clinical items from its truth):\n",
    );
    for s in d["subjects"].as_array().into_iter().flatten() {
        for p in s["time_points"].as_array().into_iter().flatten() {
            t.push_str(&format!(
                "  {} {:<4} sum of products {:7.1} mm² (truth {:7.1}), response {} (truth {}){}\n",
                s["subject"].as_str().unwrap_or_default(),
                p["visit"].as_str().unwrap_or_default(),
                p["spd_mm2"].as_f64().unwrap_or(f64::NAN),
                p["truth_spd_mm2"].as_f64().unwrap_or(f64::NAN),
                p["response"].as_str().unwrap_or_default(),
                p["truth_response"].as_str().unwrap_or_default(),
                if p["agrees"].as_bool() == Some(true) {
                    ""
                } else {
                    "  <- differs"
                }
            ));
        }
        t.push_str(&format!(
            "  {} best overall response {}\n",
            s["subject"].as_str().unwrap_or_default(),
            s["best_overall_response"].as_str().unwrap_or_default()
        ));
    }
    t
}
