//! The reference network `dl.flair-lesions` on held-out MS phantoms (seeds the training never
//! saw), beside the classical `neuro.ms-lesions` on the same FLAIR; its input monitoring on
//! in- and out-of-distribution phantoms; and CPU/GPU agreement when a GPU is present.
//!
//! `CORELAB_DL_EVAL_SEEDS=301-306` evaluates every held-out seed (the table in
//! `docs/algorithms/dl.flair-lesions.md`); by default one seed, six scans.

use crate::dl::backend::{self, BackendKind};
use crate::dl::monitor::TrainingDistribution;
use crate::dl::segment::{
    FLAIR_LESIONS_ONNX, FLAIR_LESIONS_TRAINING, FlairLesions, flair_lesions_spec, lesions, segment,
};
use crate::neuro::ms_lesions::tests::{f1, hits, ms_case};
use crate::neuro::ms_lesions::{Detection, Lesion, MsLesions};
use crate::{Algorithm, Inputs};
use corelab_image::phantom::{self, Kind};
use std::collections::BTreeMap;

fn seeds() -> Vec<u64> {
    let text = std::env::var("CORELAB_DL_EVAL_SEEDS").unwrap_or_else(|_| "301".into());
    match text.split_once('-') {
        Some((a, b)) => (a.parse().unwrap_or(301)..=b.parse().unwrap_or(301)).collect(),
        None => vec![text.parse().unwrap_or(301)],
    }
}

fn run(algorithm: &dyn Algorithm, role: &str, flair: &corelab_image::Volume<f32>) -> Detection {
    let inputs = Inputs::from([(role.to_owned(), flair.clone())]);
    let (_, out) = crate::run(algorithm, &inputs, &BTreeMap::new()).expect("runs");
    let labels = out.images[0].1.data.mapv(|v| v as u32);
    let lesions = out.tables[0]
        .rows
        .iter()
        .map(|r| Lesion {
            id: r[0] as usize,
            centroid_mm: [r[1], r[2], r[3]],
            volume_mm3: r[4],
            voxels: r[5] as usize,
        })
        .collect();
    Detection { labels, lesions }
}

#[test]
fn the_reference_network_finds_held_out_lesions_beside_the_classical_detector() {
    let mut rows = Vec::new();
    for seed in seeds() {
        for subject in 0..3 {
            for visit in 0..2 {
                let (rendered, truth) = ms_case(seed, 2.0, subject, visit, "FLAIR");
                let flair = &rendered.images[0];
                let truth_mm3: f64 = truth.iter().map(|l| l.analytic_volume_mm3).sum();
                let mut row = vec![seed as f64, subject as f64 + 1.0, visit as f64 + 1.0];
                for (algorithm, role) in [
                    (&FlairLesions as &dyn Algorithm, "flair"),
                    (&MsLesions as &dyn Algorithm, "flair"),
                ] {
                    let d = run(algorithm, role, flair);
                    let volume: f64 = d.lesions.iter().map(|l| l.volume_mm3).sum();
                    row.push(f1(hits(&d, &flair.geometry, &truth)));
                    row.push((volume - truth_mm3) / truth_mm3);
                }
                rows.push(row);
            }
        }
    }
    println!("seed subject visit | network F1, volume error | classical F1, volume error");
    for r in &rows {
        println!(
            "{} S{:02} V{} | {:.3} {:+.1} % | {:.3} {:+.1} %",
            r[0],
            r[1],
            r[2],
            r[3],
            100.0 * r[4],
            r[5],
            100.0 * r[6]
        );
    }
    let n = rows.len() as f64;
    let mean = |c: usize| rows.iter().map(|r| r[c]).sum::<f64>() / n;
    let mean_abs = |c: usize| rows.iter().map(|r| r[c].abs()).sum::<f64>() / n;
    println!(
        "mean: network F1 {:.3}, |volume error| {:.1} %; classical F1 {:.3}, |volume error| {:.1} %",
        mean(3),
        100.0 * mean_abs(4),
        mean(5),
        100.0 * mean_abs(6)
    );
    assert!(mean(3) >= 0.9, "network F1 {}", mean(3));
    assert!(mean_abs(4) <= 0.2, "network volume error {}", mean_abs(4));
}

#[test]
fn drift_is_flagged_out_of_distribution_and_not_on_held_out_flair() {
    let training: TrainingDistribution =
        serde_json::from_str(FLAIR_LESIONS_TRAINING).expect("the built-in distribution");
    let spec = flair_lesions_spec();
    let check = |v: &corelab_image::Volume<f32>| {
        segment(
            v,
            FLAIR_LESIONS_ONNX,
            &spec,
            BackendKind::Tract,
            Some(&training),
        )
        .expect("runs")
        .drift
        .expect("checked")
    };
    // A held-out FLAIR from a training scanner: inside on every check.
    let (rendered, _) = ms_case(302, 2.0, 1, 0, "FLAIR");
    let mut flair = rendered.images[0].clone();
    flair.source.scanner = Some("GE MEDICAL SYSTEMS DISCOVERY MR750".into());
    let fine = check(&flair);
    assert!(fine.in_distribution, "{:?}", fine.warnings);
    // The T1w of the same session given as FLAIR: another contrast.
    let (t1, _) = ms_case(302, 2.0, 1, 0, "T1w");
    let wrong = check(&t1.images[0]);
    println!("T1w as FLAIR: {:?}", wrong.warnings);
    assert!(!wrong.in_distribution);
    assert!(
        wrong
            .warnings
            .iter()
            .any(|w| w.contains("intensity distribution")),
        "{:?}",
        wrong.warnings
    );
    // A FLAIR at 4 mm (8-mm slices), from a scanner never seen.
    let options = phantom::Options {
        seed: 303,
        subjects: 1,
        voxel_mm: Some(4.0),
        atrophy_percent: None,
        subsamples: 2,
    };
    let plan = phantom::plan(Kind::MsLesions, &options).expect("plan");
    let series = plan
        .series
        .iter()
        .find(|s| s.info.name == "FLAIR")
        .expect("FLAIR");
    let mut coarse = series.render(2).expect("render").images.remove(0);
    coarse.source.scanner = Some("Canon Vantage Galan 3T".into());
    let far = check(&coarse);
    println!("4-mm FLAIR: {:?}", far.warnings);
    assert!(
        far.warnings.iter().any(|w| w.contains("voxel size")),
        "{:?}",
        far.warnings
    );
    assert!(
        far.warnings.iter().any(|w| w.contains("Canon")),
        "{:?}",
        far.warnings
    );
}

#[test]
fn the_reference_network_agrees_on_cpu_and_gpu() {
    if !backend::cuda_available() {
        println!("no CUDA device: skipped");
        return;
    }
    let (rendered, _) = ms_case(301, 2.0, 0, 1, "FLAIR");
    let flair = &rendered.images[0];
    let spec = flair_lesions_spec();
    let cpu = segment(
        flair,
        FLAIR_LESIONS_ONNX,
        &spec,
        BackendKind::OnnxRuntime,
        None,
    )
    .expect("CPU");
    let gpu = segment(
        flair,
        FLAIR_LESIONS_ONNX,
        &spec,
        BackendKind::OnnxRuntimeCuda,
        None,
    )
    .expect("GPU");
    let same = cpu
        .labels
        .iter()
        .zip(gpu.labels.iter())
        .filter(|(a, b)| a == b)
        .count();
    let agreement = same as f64 / cpu.labels.len() as f64;
    println!(
        "{} vs {}: argmax agreement {agreement:.6}",
        cpu.backend, gpu.backend
    );
    assert!(agreement >= 0.999, "{agreement}");
    let (_, a) = lesions(&cpu, &flair.geometry);
    let (_, b) = lesions(&gpu, &flair.geometry);
    assert_eq!(a.len(), b.len());
}
