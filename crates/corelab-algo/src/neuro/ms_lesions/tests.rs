//! Validation of `neuro.ms-lesions` on the MS phantom and on patient07 of Lesjak et al. 2018.
use super::*;
use crate::neuro::testing::truth;
use corelab_image::phantom::{self, Kind, LesionTruth, Rendered};

/// A FLAIR series of the MS phantom with its lesions' truth (ellipsoids, analytic volumes).
pub(crate) fn ms_case(
    seed: u64,
    voxel_mm: f64,
    subject: usize,
    visit: usize,
    name: &str,
) -> (Rendered, Vec<LesionTruth>) {
    let options = phantom::Options {
        seed,
        subjects: subject + 1,
        voxel_mm: Some(voxel_mm),
        atrophy_percent: None,
        subsamples: 2,
    };
    let plan = phantom::plan(Kind::MsLesions, &options).expect("plan");
    let s = plan
        .series
        .iter()
        .find(|s| s.subject_index == subject && s.visit_index == visit && s.info.name == name)
        .expect("series");
    let lesions = plan.truth.subjects[subject].visits[visit].lesions.clone();
    (s.render(options.subsamples).expect("render"), lesions)
}

/// Lesion-wise scores: (truth lesions hit, truth lesions, detections hitting one, detections).
/// A detection hits a truth lesion when one of its voxel centres lies within the lesion's
/// ellipsoid grown by half the coarsest voxel side.
pub(crate) fn hits(
    d: &Detection,
    geometry: &corelab_image::geometry::Geometry,
    lesions: &[LesionTruth],
) -> (usize, usize, usize, usize) {
    let grow = 0.5 * geometry.spacing().iter().copied().fold(0.0, f64::max);
    let grown: Vec<_> = lesions
        .iter()
        .map(|l| {
            let mut e = l.ellipsoid.clone();
            e.semi_axes_mm = e.semi_axes_mm.map(|s| s + grow);
            e
        })
        .collect();
    let mut truth_hit = vec![false; lesions.len()];
    let mut det_hit = vec![false; d.lesions.len() + 1];
    for ((i, j, k), &l) in d.labels.indexed_iter() {
        if l == 0 {
            continue;
        }
        let p = geometry.to_patient([i as f64, j as f64, k as f64]);
        for (n, e) in grown.iter().enumerate() {
            if e.contains(p) {
                truth_hit[n] = true;
                det_hit[l as usize] = true;
            }
        }
    }
    (
        truth_hit.iter().filter(|h| **h).count(),
        lesions.len(),
        det_hit.iter().filter(|h| **h).count(),
        d.lesions.len(),
    )
}

/// F1 of lesion-wise scores.
pub(crate) fn f1((th, tn, dh, dn): (usize, usize, usize, usize)) -> f64 {
    let recall = if tn == 0 { 1.0 } else { th as f64 / tn as f64 };
    let precision = if dn == 0 { 1.0 } else { dh as f64 / dn as f64 };
    if recall + precision == 0.0 {
        0.0
    } else {
        2.0 * recall * precision / (recall + precision)
    }
}

/// Detection on one FLAIR against its truth: (F1, relative total-volume error, relative
/// voxel-count volume error).
fn score(
    flair: &Volume<f32>,
    brain: &Array3<bool>,
    t1: Option<&Volume<f32>>,
    lesions: &[LesionTruth],
) -> (f64, f64, f64) {
    let d = detect(flair, brain, t1, &Options::default()).unwrap();
    let scores = hits(&d, &flair.geometry, lesions);
    let truth_mm3: f64 = lesions.iter().map(|l| l.analytic_volume_mm3).sum();
    let pv: f64 = d.lesions.iter().map(|l| l.volume_mm3).sum();
    let counted =
        d.lesions.iter().map(|l| l.voxels).sum::<usize>() as f64 * flair.geometry.voxel_volume();
    (
        f1(scores),
        (pv - truth_mm3) / truth_mm3,
        (counted - truth_mm3) / truth_mm3,
    )
}

#[test]
fn lesion_f1_is_at_least_0_9_and_volume_within_10_percent_on_every_site_and_visit() {
    for subject in 0..3 {
        for visit in 0..2 {
            let (r, lesions) = ms_case(1, 2.0, subject, visit, "FLAIR");
            let flair = &r.images[0];
            let (f, pv, counted) = score(flair, &truth(&r, "brain"), None, &lesions);
            eprintln!(
                "site {subject} visit {visit}: {} lesions, F1 {f:.3}, volume error {:+.1} % (voxel count {:+.1} %)",
                lesions.len(),
                100.0 * pv,
                100.0 * counted
            );
            assert!(f >= 0.9, "F1 {f}");
            assert!(pv.abs() <= 0.10, "volume error {pv}");
        }
    }
}

#[test]
fn lesion_f1_and_volume_hold_with_more_noise_and_with_the_t1() {
    for subject in 0..3 {
        let (r, lesions) = ms_case(2, 2.0, subject, 0, "FLAIR");
        let mut flair = r.images[0].clone();
        // Half as much again noise (σ 20 → 36 in all).
        let mut rng = phantom::Stream::new(7, "extra noise");
        flair
            .data
            .mapv_inplace(|v| (v + 30.0 * rng.normal() as f32).abs());
        let brain = truth(&r, "brain");
        let (f, pv, _) = score(&flair, &brain, None, &lesions);
        eprintln!(
            "site {subject} noisier: F1 {f:.3}, volume error {:+.1} %",
            100.0 * pv
        );
        assert!(f >= 0.9, "F1 {f}");
        assert!(pv.abs() <= 0.10, "volume error {pv}");
        let (t1r, _) = ms_case(2, 2.0, subject, 0, "T1w");
        let (_, t1) = brain_and_t1(
            &r.images[0],
            Some(&super::super::mask_volume(&brain, &r.images[0].geometry)),
            "mask",
            Some(&t1r.images[0]),
            "t1",
        )
        .unwrap();
        let (f, pv, _) = score(&r.images[0], &brain, t1.as_ref(), &lesions);
        eprintln!(
            "site {subject} with T1: F1 {f:.3}, volume error {:+.1} %",
            100.0 * pv
        );
        assert!(f >= 0.9, "F1 {f}");
        assert!(pv.abs() <= 0.10, "volume error {pv}");
    }
}

#[test]
fn a_brain_without_lesions_has_none() {
    for (seed, subject) in [(3, 0), (3, 1), (3, 2), (4, 0), (4, 1), (4, 2)] {
        let r = crate::neuro::testing::series(Kind::Brain, seed, 2.0, subject, 0, "FLAIR", None);
        let d = detect(&r.images[0], &truth(&r, "brain"), None, &Options::default()).unwrap();
        assert_eq!(d.lesions.len(), 0, "site {subject}: {:?}", d.lesions);
    }
}

#[test]
fn the_algorithm_reports_count_volume_table_and_labels() {
    let (r, lesions) = ms_case(1, 2.0, 2, 0, "FLAIR");
    let flair = r.images[0].clone();
    let mask = super::super::mask_volume(&truth(&r, "brain"), &flair.geometry);
    let inputs = Inputs::from([
        ("flair".to_owned(), flair.clone()),
        ("mask".to_owned(), mask),
    ]);
    let (_, out) = crate::run(&MsLesions, &inputs, &Default::default()).unwrap();
    assert_eq!(out.measurements[0].value, lesions.len() as f64);
    let table = &out.tables[0];
    assert_eq!(table.rows.len(), lesions.len());
    let total: f64 = table.rows.iter().map(|r| r[4]).sum();
    assert!((total / 1000.0 - out.measurements[1].value).abs() < 1e-9);
    let labels = &out.images[0].1;
    for row in &table.rows {
        let n = labels.data.iter().filter(|&&v| v == row[0] as f32).count();
        assert_eq!(n as f64, row[5]);
    }
}

#[test]
fn coarse_flat_or_unmasked_images_are_refused() {
    let (r, _) = ms_case(1, 2.0, 0, 0, "FLAIR");
    let flair = &r.images[0];
    let brain = truth(&r, "brain");
    // In-plane 4 mm.
    let g = corelab_image::geometry::Geometry::axis_aligned(
        flair.geometry.dims,
        [0.0; 3],
        [4.0, 4.0, 4.0],
    );
    let coarse = Volume::new(flair.data.clone(), g).unwrap();
    assert!(matches!(
        detect(&coarse, &brain, None, &Options::default()),
        Err(AlgoError::Input { .. })
    ));
    // No tissue contrast: noise only.
    let mut rng = phantom::Stream::new(1, "flat");
    let flat = Volume::new(
        flair.data.mapv(|_| 500.0 + rng.normal() as f32),
        flair.geometry.clone(),
    )
    .unwrap();
    assert!(matches!(
        detect(&flat, &brain, None, &Options::default()),
        Err(AlgoError::Input { .. })
    ));
    // An empty mask.
    let empty = Volume::new(flair.data.mapv(|_| 0.0), flair.geometry.clone()).unwrap();
    let inputs = Inputs::from([
        ("flair".to_owned(), flair.clone()),
        ("mask".to_owned(), empty),
    ]);
    let e = crate::run(&MsLesions, &inputs, &Default::default()).unwrap_err();
    assert!(
        matches!(e, AlgoError::Input { ref role, .. } if role == "mask"),
        "{e}"
    );
}

/// Lesion-wise scores of a detection against a reference label image, both as components
/// of the same connectivity and minimum size: (reference lesions hit, reference lesions,
/// detections hitting one, detections). Hit: at least one shared voxel.
fn overlap_scores(
    found: &Array3<u32>,
    n_found: usize,
    reference: &Array3<u32>,
    n_ref: usize,
) -> (usize, usize, usize, usize) {
    let mut ref_hit = vec![false; n_ref + 1];
    let mut found_hit = vec![false; n_found + 1];
    Zip::from(found).and(reference).for_each(|&f, &r| {
        if f > 0 && r > 0 {
            ref_hit[r as usize] = true;
            found_hit[f as usize] = true;
        }
    });
    (
        ref_hit.iter().filter(|h| **h).count(),
        n_ref,
        found_hit.iter().filter(|h| **h).count(),
        n_found,
    )
}

#[test]
fn real_patient07_dice_and_lesion_f1_against_the_consensus() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/brain_mri/ms_lesions_lesjak2017/patient07/"
    );
    let read = |name: &str| {
        corelab_image::nifti_io::read(std::path::Path::new(&format!("{dir}{name}")))
            .expect("patient07")
    };
    let flair = read("FLAIR_mni.nii.gz");
    let t1 = read("T1_mni.nii.gz");
    let consensus = read("consensus_lesion_mask_mni.nii.gz")
        .data
        .mapv(|v| v > 0.5);
    let brain = flair.data.mapv(|v| v > 0.0);
    let t = tissue("flair", &flair.data, &brain).unwrap();
    eprintln!("patient07 tissue {t:?}");
    for (name, t1, k) in [("FLAIR", None, 5.0), ("FLAIR+T1", Some(&t1), 5.0)] {
        let options = Options {
            threshold_sd: k,
            ..Options::default()
        };
        let name = format!("{name} threshold-sd {k}");
        let started = std::time::Instant::now();
        let d = detect(&flair, &brain, t1, &options).unwrap();
        eprintln!(
            "patient07 {name}: detect took {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let found = d.labels.mapv(|l| l > 0);
        let dice = crate::neuro::testing::dice(&found, &consensus);
        // The consensus under the same rule: 26-connected components of 10 mm³ or more.
        let (ref_labels, sizes) = label(&consensus, Connectivity::TwentySix);
        let keep: Vec<u32> = {
            let mut n = 0;
            sizes
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    if i > 0 && s as f64 * flair.geometry.voxel_volume() >= options.min_volume_mm3 {
                        n += 1;
                        n
                    } else {
                        0
                    }
                })
                .collect()
        };
        let n_ref = *keep.iter().max().unwrap_or(&0) as usize;
        let ref_labels = ref_labels.mapv(|l| keep[l as usize]);
        let scores = overlap_scores(&d.labels, d.lesions.len(), &ref_labels, n_ref);
        let volume: f64 = d.lesions.iter().map(|l| l.volume_mm3).sum::<f64>() / 1000.0;
        let truth_ml = consensus.iter().filter(|b| **b).count() as f64
            * flair.geometry.voxel_volume()
            / 1000.0;
        eprintln!(
            "patient07 {name}: voxel Dice {dice:.3}, lesions {} found / {} reference, scores {scores:?}, lesion F1 {:.3}, volume {volume:.2} mL (consensus {truth_ml:.2} mL)",
            d.lesions.len(),
            n_ref,
            f1(scores)
        );
        // What was measured (0.29 / 0.29 at the defaults), less a margin: a regression guard,
        // not a claim of adequacy (docs/algorithms/neuro.ms-lesions.md).
        assert!(
            dice > 0.25 && f1(scores) > 0.25,
            "Dice {dice}, F1 {}",
            f1(scores)
        );
    }
}

#[test]
fn the_same_input_gives_the_same_lesions() {
    let (r, _) = ms_case(5, 2.0, 0, 1, "FLAIR");
    let brain = truth(&r, "brain");
    let a = detect(&r.images[0], &brain, None, &Options::default()).unwrap();
    let b = detect(&r.images[0], &brain, None, &Options::default()).unwrap();
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.lesions, b.lesions);
}

#[test]
fn lesion_f1_and_volume_hold_at_1_5_mm_voxels() {
    // Finer than the 2-mm targets need; 1 mm gave F1 1.000 and -3.8, -3.0, -2.6 % (measured once,
    // too slow for CI).
    for subject in 0..3 {
        let (r, lesions) = ms_case(1, 1.5, subject, 1, "FLAIR");
        let flair = &r.images[0];
        let (f, pv, counted) = score(flair, &truth(&r, "brain"), None, &lesions);
        eprintln!(
            "1.5 mm site {subject}: {} lesions, F1 {f:.3}, volume error {:+.1} % (voxel count {:+.1} %)",
            lesions.len(),
            100.0 * pv,
            100.0 * counted
        );
        assert!(f >= 0.9, "F1 {f}");
        assert!(pv.abs() <= 0.10, "volume error {pv}");
    }
}
