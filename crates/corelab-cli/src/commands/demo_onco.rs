//! The demo's oncology chain on the `ct-tumor` phantom: each visit's CT, every lesion segmented
//! by `onco.lesion-seg` from a reader's click, its RECIST diameters measured on the mask, the
//! subject's lesion record assessed by `onco.recist11`, and each time point set next to the
//! phantom's truth, and the baseline lesions followed to each follow-up (`onco.lesion-track`).
//! Then PET (`pet.suv-metrics`, and `pet.percist` to two follow-ups made from the baseline) and
//! cardiac MR (`cardiac.lv-function`, `cardiac.lge` on `phantom::lge`) on their phantoms, with
//! the truth masks as the reader's VOIs and contours.
//!
//! It runs beside the trials, not as trial jobs: a click, the choice of targets and the
//! identification of a new lesion are a reader's, and trials have no per-subject reader input
//! yet (that comes with central reads). The phantom's truth stands in for the reader. The click
//! is the lesion's centre, the targets are the phantom's RECIST targets, and the new lesions are
//! the ones the phantom adds. Everything measured comes from the images.

use anyhow::{Context, Result};
use corelab_algo::onco::lesion_seg::{self, Settings};
use corelab_algo::{Document, Inputs, Registry};
use corelab_image::phantom::{self, Kind, LesionTruth, Options};
use serde_json::{Value, json};
use std::path::Path;

/// The CT phantom's subjects in the demo.
const SUBJECTS: usize = 3;

/// The phantom options of every section: seed 1, `subjects` subjects at the kind's own voxel
/// size, rendered with 4 subsamples per axis as the algorithms' tests render them.
pub(super) fn demo_options(subjects: usize) -> Options {
    Options {
        seed: 1,
        subjects,
        voxel_mm: None,
        atrophy_percent: None,
        subsamples: 4,
    }
}

/// RECIST's time-point codes (`onco.recist11`'s `visits` table) by name.
pub(super) fn response_code(word: &str) -> Option<f64> {
    match word {
        "CR" => Some(1.0),
        "PR" => Some(2.0),
        "SD" => Some(3.0),
        "PD" => Some(5.0),
        _ => None,
    }
}

pub(super) fn response_word(code: f64) -> &'static str {
    match code as i64 {
        1 => "CR",
        2 => "PR",
        3 => "SD",
        4 => "non-CR/non-PD",
        5 => "PD",
        6 => "NE",
        _ => "-",
    }
}

/// The organ RECIST counts a phantom lesion in (at most two targets per organ).
fn organ(l: &LesionTruth) -> &'static str {
    match l.kind.as_str() {
        "lung nodule" => "lung",
        "liver metastasis" => "liver",
        _ => "mediastinal lymph node",
    }
}

fn nodal(l: &LesionTruth) -> bool {
    l.kind.contains("node")
}

/// `YYYYMMDD` as `YYYY-MM-DD`.
pub(super) fn iso(date: &str) -> String {
    if date.len() == 8 {
        format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
    } else {
        date.to_owned()
    }
}

/// Runs the chain on `SUBJECTS` subjects, writing `onco/SUBJECT/` (the lesion record, the
/// per-visit table and the SDTM RS dataset) under `dir`; the section of the demo's document.
pub(super) fn run(dir: &Path) -> Result<Value> {
    let options = demo_options(SUBJECTS);
    let plan = phantom::plan(Kind::CtTumor, &options)?;
    let registry = Registry::builtin();
    let recist = registry
        .get("onco.recist11")
        .context("onco.recist11 is registered")?;
    let tracker = registry
        .get("onco.lesion-track")
        .context("onco.lesion-track is registered")?;
    let settings = Settings::default();
    let mut subjects = Vec::new();
    for (s, truth) in plan.truth.subjects.iter().enumerate() {
        let baseline = &truth.visits[0].lesions;
        // The reader's record: the baseline's targets and pathological non-targets (a node of
        // under 10 mm short axis is normal, not a lesion).
        let lesions: Vec<Value> = baseline
            .iter()
            .filter(|l| l.target || !nodal(l) || l.short_axis_mm >= 10.0)
            .map(|l| {
                json!({
                    "id": l.id,
                    "role": if l.target { "target" } else { "non-target" },
                    "organ": organ(l),
                    "nodal": nodal(l),
                })
            })
            .collect();
        let mut visits = Vec::new();
        let mut measured = Vec::new();
        // The baseline CT and its segmented lesions as a label image (label n: `tracked[n - 1]`),
        // which onco.lesion-track follows to each follow-up.
        let mut baseline_ct: Option<(corelab_image::Volume<f32>, corelab_image::Volume<f32>)> =
            None;
        let mut tracked_ids: Vec<String> = Vec::new();
        let mut tracking = Vec::new();
        for (v, visit) in truth.visits.iter().enumerate() {
            let series = plan
                .series
                .iter()
                .find(|p| p.subject_index == s && p.visit_index == v)
                .context("the phantom plans a CT per visit")?;
            let mut image = series.render(options.subsamples)?.images.remove(0);
            image.source.modality = Some("CT".into());
            let mut labels = (v == 0).then(|| image.data.mapv(|_| 0f32));
            let mut rows = Vec::new();
            for l in baseline
                .iter()
                .filter(|l| lesions.iter().any(|x| x["id"] == l.id))
            {
                let now = visit.lesions.iter().find(|x| x.id == l.id);
                let row = match now {
                    None => json!({"lesion": l.id, "state": "absent"}),
                    Some(t) => {
                        match lesion_seg::segment(&image, t.ellipsoid.centre_mm, &settings) {
                            Ok(found) => {
                                if let Some(labels) = labels.as_mut() {
                                    tracked_ids.push(l.id.clone());
                                    let n = tracked_ids.len() as f32;
                                    for (x, m) in labels.iter_mut().zip(found.mask.iter()) {
                                        if *m && *x == 0.0 {
                                            *x = n;
                                        }
                                    }
                                }
                                let d = &found.diameters;
                                measured.push(json!({
                                    "subject": truth.subject, "visit": visit.visit, "lesion": l.id,
                                    "long_mm": d.long_mm, "short_mm": d.short_mm,
                                    "truth_long_mm": t.long_axis_mm, "truth_short_mm": t.short_axis_mm,
                                    "volume_ml": found.volume_mm3 / 1000.0,
                                    "truth_volume_ml": t.analytic_volume_mm3 / 1000.0,
                                }));
                                if l.target {
                                    if nodal(l) {
                                        json!({"lesion": l.id, "long_axis_mm": d.long_mm, "short_axis_mm": d.short_mm})
                                    } else {
                                        json!({"lesion": l.id, "long_axis_mm": d.long_mm})
                                    }
                                } else if nodal(l) && d.short_mm < 10.0 {
                                    json!({"lesion": l.id, "state": "absent"})
                                } else {
                                    json!({"lesion": l.id, "state": "present"})
                                }
                            }
                            // Too small for the method to grow: present, too small to measure.
                            Err(lesion_seg::Refusal::TooSmall { .. }) if l.target => {
                                json!({"lesion": l.id, "state": "too-small"})
                            }
                            Err(e) => anyhow::bail!(
                                "{} {} lesion {}: {e}",
                                truth.subject,
                                visit.visit,
                                l.id
                            ),
                        }
                    }
                };
                rows.push(row);
            }
            if let Some(labels) = labels {
                let labels = corelab_image::Volume::new(labels, image.geometry.clone())?;
                baseline_ct = Some((image.clone(), labels));
            } else if let Some((base, labels)) = &baseline_ct {
                tracking.push(track(tracker, base, labels, &image, &tracked_ids, visit)?);
            }
            let new: Vec<Value> = visit
                .lesions
                .iter()
                .filter(|l| l.status == "new")
                .map(|l| json!({"id": l.id, "equivocal": false}))
                .collect();
            let mut record = json!({
                "visit": visit.visit,
                "date": iso(&visit.date),
                "measurements": rows,
            });
            if v == 0 {
                record["slice_thickness_mm"] = json!(series.grid.spacing()[2]);
            }
            if !new.is_empty() {
                record["new_lesions"] = json!(new);
            }
            visits.push(record);
        }
        let record = json!({
            "study": "DEMO-ONC",
            "subject": truth.subject,
            "lesions": lesions,
            "visits": visits,
        });
        let folder = dir.join("onco").join(&truth.subject);
        let assessed = assess(recist, &record, "sum-of-diameters", &folder)?;
        let points: Vec<Value> = assessed
            .rows
            .iter()
            .zip(&truth.visits)
            .skip(1)
            .map(|(&(sum, overall), visit)| {
                let truth = visit.recist.as_ref();
                let expected = truth.and_then(|r| response_code(&r.response));
                json!({
                    "visit": visit.visit,
                    "sum_mm": sum,
                    "truth_sum_mm": truth.map(|r| r.sum_of_diameters_mm),
                    "response": response_word(overall),
                    "truth_response": truth.map(|r| r.response.clone()),
                    "agrees": expected == Some(overall),
                })
            })
            .collect();
        subjects.push(json!({
            "subject": truth.subject,
            "baseline_sum_mm": assessed.rows.first().map(|r| r.0),
            "truth_baseline_sum_mm": truth.visits[0].recist.as_ref().map(|r| r.sum_of_diameters_mm),
            "time_points": points,
            "best_overall_response": assessed.best,
            "lesions": measured,
            "tracking": tracking,
            "files": folder,
        }));
    }
    Ok(json!({
        "phantom": "ct-tumor",
        "reader": "simulated from the phantom's truth: the click at each lesion's centre, the RECIST targets, the new lesions",
        "algorithms": ["onco.lesion-seg", "onco.recist11", "onco.lesion-track"],
        "subjects": subjects,
    }))
}

/// A subject's lesion record as a response engine (`onco.recist11`, `onco.rano`) assessed it.
pub(super) struct Assessed {
    /// Each row of the engine's visits table: its size (sum of diameters or of products) and its
    /// overall response code.
    pub rows: Vec<(f64, f64)>,
    /// The best overall response, as a word.
    pub best: &'static str,
}

/// Runs a response engine on a lesion `record` (corelab's lesion JSON), writing the record
/// (`lesions.json`), the engine's documents (the SDTM RS dataset) and its tables as CSV to
/// `folder`; `size` names the visits table's size column.
pub(super) fn assess(
    engine: &dyn corelab_algo::Algorithm,
    record: &Value,
    size: &str,
    folder: &Path,
) -> Result<Assessed> {
    let subject = record["subject"].as_str().unwrap_or_default();
    let text = serde_json::to_string_pretty(record)?;
    let mut inputs = Inputs::new();
    inputs.insert_document(
        "lesions".into(),
        Document::new("lesions.json", text.clone()),
    );
    let (_, out) = corelab_algo::run(engine, &inputs, &Default::default())
        .with_context(|| format!("{} on {subject}", engine.id()))?;
    std::fs::create_dir_all(folder)?;
    std::fs::write(folder.join("lesions.json"), &text)?;
    for d in &out.documents {
        std::fs::write(folder.join(&d.name), &d.text)?;
    }
    let specs = engine.tables();
    for t in &out.tables {
        if let Some(spec) = specs.iter().find(|x| x.name == t.name) {
            std::fs::write(folder.join(format!("{}.csv", t.name)), t.to_csv(spec))?;
        }
    }
    let table = out.tables.first().context("the visits table")?;
    let column = |name: &str| t_col(engine, name).with_context(|| format!("column {name}"));
    let (size, overall) = (column(size)?, column("overall-response")?);
    Ok(Assessed {
        rows: table.rows.iter().map(|r| (r[size], r[overall])).collect(),
        best: value(&out, "best-overall-response").map_or("-", response_word),
    })
}

/// `onco.lesion-track` from the baseline to one follow-up visit: each baseline lesion matched or
/// not, beside whether the phantom still has it there.
fn track(
    tracker: &dyn corelab_algo::Algorithm,
    baseline: &corelab_image::Volume<f32>,
    labels: &corelab_image::Volume<f32>,
    followup: &corelab_image::Volume<f32>,
    ids: &[String],
    visit: &phantom::VisitTruth,
) -> Result<Value> {
    let mut inputs = Inputs::new();
    inputs.insert("baseline".into(), baseline.clone());
    inputs.insert("baseline-lesions".into(), labels.clone());
    inputs.insert("followup".into(), followup.clone());
    let (_, out) = corelab_algo::run(tracker, &inputs, &Default::default())
        .with_context(|| format!("onco.lesion-track to {}", visit.visit))?;
    let table = out.tables.first().context("the lesions table")?;
    let column = |name: &str| t_col(tracker, name).with_context(|| format!("column {name}"));
    let (label, matched, long) = (
        column("baseline-label")?,
        column("matched")?,
        column("long-axis")?,
    );
    let lesions: Vec<Value> = table
        .rows
        .iter()
        .map(|row| {
            let id = ids.get((row[label] as usize).wrapping_sub(1));
            let present = id.is_some_and(|id| visit.lesions.iter().any(|l| &l.id == id));
            json!({
                "lesion": id,
                "matched": row[matched] == 1.0,
                "present": present,
                "long_mm": row[long],
            })
        })
        .collect();
    let agrees = lesions.iter().all(|l| l["matched"] == l["present"]);
    Ok(json!({"visit": visit.visit, "lesions": lesions, "agrees": agrees}))
}

/// The section as text: each time point's sum of diameters and response beside the truth.
pub(super) fn text(d: &Value) -> String {
    let mut t = String::from(
        "\noncology chain (ct-tumor phantom; reader clicks, targets and new lesions from its truth):\n",
    );
    for s in d["subjects"].as_array().into_iter().flatten() {
        for p in s["time_points"].as_array().into_iter().flatten() {
            t.push_str(&format!(
                "  {} {:<4} sum of diameters {:6.1} mm (truth {:6.1}), response {} (truth {}){}\n",
                s["subject"].as_str().unwrap_or_default(),
                p["visit"].as_str().unwrap_or_default(),
                p["sum_mm"].as_f64().unwrap_or(f64::NAN),
                p["truth_sum_mm"].as_f64().unwrap_or(f64::NAN),
                p["response"].as_str().unwrap_or_default(),
                p["truth_response"].as_str().unwrap_or_default(),
                if p["agrees"].as_bool() == Some(true) {
                    ""
                } else {
                    "  <- differs"
                }
            ));
        }
        for v in s["tracking"].as_array().into_iter().flatten() {
            let all = v["lesions"].as_array().map_or(0, Vec::len);
            let matched = v["lesions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| l["matched"] == true)
                .count();
            t.push_str(&format!(
                "  {} {:<4} lesion tracking: {matched} of {all} baseline lesions matched{}\n",
                s["subject"].as_str().unwrap_or_default(),
                v["visit"].as_str().unwrap_or_default(),
                if v["agrees"] == true {
                    " (as the truth)"
                } else {
                    "  <- differs from the truth"
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

/// A measurement of a run by name.
fn value(out: &corelab_algo::Outputs, name: &str) -> Option<f64> {
    out.measurements
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.value)
}

/// PET beside the trials: `pet.suv-metrics` on each lesion of the `pet` phantom's first subject,
/// the reader's VOI being the lesion's truth mask; the rendered image is in Bq/mL, so the SUVbw
/// factor is given (as for a NIfTI file), and SUVmean and SUVpeak are set beside the lesion's SUV.
pub(super) fn pet() -> Result<Value> {
    let options = demo_options(1);
    let plan = phantom::plan(Kind::Pet, &options)?;
    let series = plan
        .series
        .first()
        .context("the PET phantom plans a series")?;
    let rendered = series.render(options.subsamples)?;
    let truth = plan.truth.subjects[0].visits[0]
        .pet
        .as_ref()
        .context("the PET phantom's truth")?;
    let registry = Registry::builtin();
    let algorithm = registry
        .get("pet.suv-metrics")
        .context("pet.suv-metrics is registered")?;
    let mut lesions = Vec::new();
    for region in truth.regions.iter().filter(|r| r.name.starts_with('L')) {
        let Some((_, mask)) = rendered.masks.iter().find(|(n, _)| *n == region.name) else {
            continue;
        };
        let mut inputs = Inputs::new();
        inputs.insert("pet".into(), rendered.images[0].clone());
        inputs.insert(
            "lesions".into(),
            corelab_image::Volume::new(mask.data.mapv(f32::from), mask.geometry.clone())?,
        );
        let params = [
            ("units".to_owned(), "bqml".to_owned()),
            ("suv-factor".to_owned(), truth.suv_bw_factor.to_string()),
        ]
        .into();
        let (_, out) = corelab_algo::run(algorithm, &inputs, &params)
            .with_context(|| format!("pet.suv-metrics on {}", region.name))?;
        lesions.push(json!({
            "lesion": region.name,
            "truth_suv": region.suv_bw,
            "suv_max": value(&out, "suv-max"),
            "suv_peak": value(&out, "suv-peak"),
            "suv_mean": out.tables.first().and_then(|t| t.rows.first()).and_then(|r| {
                t_col(algorithm, "suv-mean").map(|c| r[c])
            }),
            "mtv_41_ml": value(&out, "total-mtv-relative"),
        }));
    }
    Ok(json!({
        "phantom": "pet",
        "subject": plan.truth.subjects[0].subject,
        "reader": "each lesion's truth mask as the reader's VOI",
        "algorithm": "pet.suv-metrics",
        "lesions": lesions,
    }))
}

/// PERCIST beside the trials: `pet.percist` from the `pet` phantom's first subject to two
/// follow-ups made from it (its plan with every lesion's activity scaled, and noise of another
/// seed): ×0.5, a partial metabolic response, and ×1.6, progression. The reader's lesion VOIs and
/// liver are the truth masks. The truth response is PERCIST's rules on the exact SULs (liver SD
/// 0); the measured one is the algorithm's, on the noisy images.
pub(super) fn percist() -> Result<Value> {
    use corelab_algo::pet::percist::{self, TimePoint};
    use corelab_image::phantom::ct_tumor::LIVER;
    use corelab_image::phantom::pet::FIRST_LESION;
    let options = demo_options(1);
    let plan = phantom::plan(Kind::Pet, &options)?;
    let baseline = plan
        .series
        .first()
        .context("the PET phantom plans a series")?;
    let truth = plan.truth.subjects[0].visits[0]
        .pet
        .as_ref()
        .context("the PET phantom's truth")?;
    let registry = Registry::builtin();
    let algorithm = registry
        .get("pet.percist")
        .context("pet.percist is registered")?;
    let sul = |label: u8, plan: &phantom::SeriesPlan| {
        plan.values.get(&label).map(|a| a * truth.suv_lbm_factor)
    };
    // The rendered image, its lesions as labels (L1 -> 1 ...) and its liver, as volumes.
    let render = |plan: &phantom::SeriesPlan| -> Result<[corelab_image::Volume<f32>; 3]> {
        let r = plan.render(options.subsamples)?;
        let mask = |name: &str| {
            r.masks
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, m)| m)
                .with_context(|| format!("the truth mask {name}"))
        };
        let mut labels = mask("L1")?.data.mapv(|_| 0f32);
        for n in 1..=3 {
            for (x, m) in labels.iter_mut().zip(mask(&format!("L{n}"))?.data.iter()) {
                if *m > 0 && *x == 0.0 {
                    *x = n as f32;
                }
            }
        }
        let grid = r.images[0].geometry.clone();
        Ok([
            r.images[0].clone(),
            corelab_image::Volume::new(labels, grid.clone())?,
            corelab_image::Volume::new(mask("liver")?.data.mapv(f32::from), grid)?,
        ])
    };
    let exact = |plan: &phantom::SeriesPlan| -> TimePoint {
        let liver = sul(LIVER, plan).unwrap_or_default();
        TimePoint {
            reference: percist::Reference::Liver,
            stats: (liver, 0.0, 0.0),
            threshold: 1.5 * liver,
            lesions: (0..3u8)
                .filter_map(|n| sul(FIRST_LESION + n, plan).map(|v| (u32::from(n) + 1, v, v)))
                .collect(),
        }
    };
    let [base_image, base_lesions, base_liver] = render(baseline)?;
    let word = |r: f64| match r as i64 {
        1 => "CMR",
        2 => "PMR",
        3 => "SMD",
        4 => "PMD",
        _ => "NE",
    };
    let mut followups = Vec::new();
    for scale in [0.5, 1.6] {
        let mut plan = baseline.clone();
        plan.seed = baseline.seed + 1;
        for n in 0..3 {
            if let Some(v) = plan.values.get_mut(&(FIRST_LESION + n)) {
                *v *= scale;
            }
        }
        let [image, lesions, liver] = render(&plan)?;
        let mut inputs = Inputs::new();
        inputs.insert("baseline".into(), base_image.clone());
        inputs.insert("baseline-lesions".into(), base_lesions.clone());
        inputs.insert("baseline-liver".into(), base_liver.clone());
        inputs.insert("followup".into(), image);
        inputs.insert("followup-lesions".into(), lesions);
        inputs.insert("followup-liver".into(), liver);
        let factor = truth.suv_lbm_factor.to_string();
        let params = [
            ("units".to_owned(), "bqml".to_owned()),
            ("baseline-sul-factor".to_owned(), factor.clone()),
            ("followup-sul-factor".to_owned(), factor),
        ]
        .into();
        let (_, out) = corelab_algo::run(algorithm, &inputs, &params)
            .with_context(|| format!("pet.percist, lesions x{scale}"))?;
        let expected = percist::response(&exact(baseline), &exact(&plan), false);
        let response = value(&out, "response").unwrap_or(f64::NAN);
        let hottest = |p: &phantom::SeriesPlan| exact(p).hottest().map(|(_, v)| v);
        followups.push(json!({
            "lesion_activity_scale": scale,
            "baseline_sul_peak": value(&out, "baseline-sul-peak"),
            "truth_baseline_sul": hottest(baseline),
            "followup_sul_peak": value(&out, "followup-sul-peak"),
            "truth_followup_sul": hottest(&plan),
            "sul_peak_change_percent": value(&out, "sul-peak-change"),
            "liver_sul_mean": value(&out, "baseline-liver-sul-mean"),
            "truth_liver_sul": sul(LIVER, baseline),
            "response": word(response),
            "truth_response": word(f64::from(expected as u8)),
            "agrees": response == f64::from(expected as u8),
        }));
    }
    Ok(json!({
        "phantom": "pet",
        "subject": plan.truth.subjects[0].subject,
        "reader": "the lesions' and the liver's truth masks as the reader's VOIs; follow-ups made by scaling the lesions' activity",
        "algorithm": "pet.percist",
        "followups": followups,
    }))
}

/// The index of a column of an algorithm's first table.
pub(super) fn t_col(algorithm: &dyn corelab_algo::Algorithm, name: &str) -> Option<usize> {
    algorithm
        .tables()
        .first()
        .and_then(|t| t.columns.iter().position(|c| c.0 == name))
}

/// Cardiac beside the trials: `cardiac.lv-function` on the `cardiac` phantom's subjects, the
/// reader's contours being the truth masks at the truth's end-diastole and end-systole.
pub(super) fn cardiac() -> Result<Value> {
    use corelab_image::phantom::cardiac::{LV_BLOOD, MYOCARDIUM};
    let options = demo_options(3);
    let plan = phantom::plan(Kind::Cardiac, &options)?;
    let registry = Registry::builtin();
    let algorithm = registry
        .get("cardiac.lv-function")
        .context("cardiac.lv-function is registered")?;
    let lge = registry
        .get("cardiac.lge")
        .context("cardiac.lge is registered")?;
    let mut subjects = Vec::new();
    for (s, subject) in plan.truth.subjects.iter().enumerate() {
        let truth = subject.visits[0]
            .cardiac
            .as_ref()
            .context("the cardiac phantom's truth")?;
        let series = plan
            .series
            .iter()
            .find(|p| p.subject_index == s)
            .context("a cine per subject")?;
        let mask = |t: usize, label: u8| {
            let r = phantom::rasterise(&series.scenes[t - 1], &series.grid, options.subsamples);
            corelab_image::Volume::new(r.mask(&[label]).mapv(f32::from), series.grid.clone())
        };
        let mut inputs = Inputs::new();
        inputs.insert("blood-pool-ed".into(), mask(truth.ed_position, LV_BLOOD)?);
        inputs.insert("blood-pool-es".into(), mask(truth.es_position, LV_BLOOD)?);
        inputs.insert("myocardium-ed".into(), mask(truth.ed_position, MYOCARDIUM)?);
        let (_, out) = corelab_algo::run(algorithm, &inputs, &Default::default())
            .with_context(|| format!("cardiac.lv-function on {}", subject.subject))?;
        // LGE: the subject's end-diastolic ventricle with a transmural scar of known volume
        // (`phantom::lge`), the reader's myocardium contour and remote region given.
        let scar = corelab_image::phantom::lge::render(
            options.seed,
            s,
            corelab_image::phantom::lge::Scar::Transmural,
        )?;
        let mut lge_inputs = Inputs::new();
        lge_inputs.insert("lge".into(), scar.image.clone());
        lge_inputs.insert("myocardium".into(), scar.myocardium.clone());
        lge_inputs.insert("remote".into(), scar.remote.clone());
        let (_, lge_out) = corelab_algo::run(lge, &lge_inputs, &Default::default())
            .with_context(|| format!("cardiac.lge on {}", subject.subject))?;
        subjects.push(json!({
            "subject": subject.subject,
            "lge_percent_fwhm": value(&lge_out, "lge-percent-fwhm"),
            "lge_percent_nsd": value(&lge_out, "lge-percent-nsd"),
            "truth_lge_percent": 100.0 * scar.scar_ml / scar.myocardium_ml,
            "ef_percent": value(&out, "ef"),
            "truth_ef_percent": truth.lv_ef_percent,
            "edv_ml": value(&out, "edv"),
            "truth_edv_ml": truth.lv_edv_mm3 / 1000.0,
            "lv_mass_g": value(&out, "lv-mass"),
            "truth_lv_mass_g": truth.lv_mass_g,
        }));
    }
    Ok(json!({
        "phantom": "cardiac",
        "reader": "the truth masks at the truth's end-diastole and end-systole as the reader's contours; for LGE (the end-diastolic ventricle with a transmural scar, phantom::lge) the reader's myocardium and a remote region",
        "algorithms": ["cardiac.lv-function", "cardiac.lge"],
        "subjects": subjects,
    }))
}

/// The PET and cardiac sections as text.
pub(super) fn text_pet_cardiac(pet: &Value, cardiac: &Value) -> String {
    let mut t =
        String::from("\nPET (pet phantom; the reader's VOIs are the lesions' truth masks):\n");
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    for l in pet["lesions"].as_array().into_iter().flatten() {
        t.push_str(&format!(
            "  {} {} SUVpeak {:.2} g/mL (truth SUV {:.2}); SUVmax {:.2} (the hottest noisy voxel), SUVmean {:.2} (the VOI's edge voxels are part background)\n",
            pet["subject"].as_str().unwrap_or_default(),
            l["lesion"].as_str().unwrap_or_default(),
            f(&l["suv_peak"]),
            f(&l["truth_suv"]),
            f(&l["suv_max"]),
            f(&l["suv_mean"]),
        ));
    }
    for r in pet["percist"]["followups"].as_array().into_iter().flatten() {
        t.push_str(&format!(
            "  PERCIST, lesions x{}: hottest SULpeak {:.2} -> {:.2} g/mL (truth {:.2} -> {:.2}), {:+.1} %, response {} (truth {}){}\n",
            f(&r["lesion_activity_scale"]),
            f(&r["baseline_sul_peak"]),
            f(&r["followup_sul_peak"]),
            f(&r["truth_baseline_sul"]),
            f(&r["truth_followup_sul"]),
            f(&r["sul_peak_change_percent"]),
            r["response"].as_str().unwrap_or_default(),
            r["truth_response"].as_str().unwrap_or_default(),
            if r["agrees"] == true { "" } else { "  <- differs" },
        ));
    }
    t.push_str("\ncardiac MR (cardiac phantom; the reader's contours are the truth masks):\n");
    for s in cardiac["subjects"].as_array().into_iter().flatten() {
        t.push_str(&format!(
            "  {} EF {:.1} % (truth {:.1}), EDV {:.1} mL (truth {:.1}), LV mass {:.1} g (truth {:.1}); LGE {:.1} % of the myocardium by FWHM, {:.1} % by 5 SD (truth {:.1} %)\n",
            s["subject"].as_str().unwrap_or_default(),
            f(&s["ef_percent"]),
            f(&s["truth_ef_percent"]),
            f(&s["edv_ml"]),
            f(&s["truth_edv_ml"]),
            f(&s["lv_mass_g"]),
            f(&s["truth_lv_mass_g"]),
            f(&s["lge_percent_fwhm"]),
            f(&s["lge_percent_nsd"]),
            f(&s["truth_lge_percent"]),
        ));
    }
    t
}
