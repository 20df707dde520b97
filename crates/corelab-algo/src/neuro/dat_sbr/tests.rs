//! A DAT-SPECT phantom with exact truth: ellipsoid caudates, putamina and an occipital reference
//! in an ellipsoid brain on a 2 mm grid, each at a known concentration, blurred to a SPECT
//! resolution of 10 mm FWHM. Two truths: the concentrations' ratios (what a perfect camera would
//! show), and the ratios of the blurred image's region means (what a region-mean SBR can give;
//! the method's job). The gap between them is partial volume.

use super::*;
use crate::neuro::amyloid::phantom::{mean_over, pet_grid, subject_pet};
use corelab_image::Volume;
use corelab_image::filters::gaussian;
use corelab_image::geometry::Geometry;
use corelab_image::registration::AffineTransform;
use std::collections::BTreeMap;

/// An ellipsoid: centre and semi-axes (LPS mm; +x is the patient's left).
type Ellipsoid = ([f64; 3], [f64; 3]);

const BRAIN: Ellipsoid = ([0.0, 0.0, 0.0], [68.0, 84.0, 58.0]);
const LEFT_CAUDATE: Ellipsoid = ([13.0, -12.0, 12.0], [5.0, 11.0, 8.0]);
const RIGHT_CAUDATE: Ellipsoid = ([-13.0, -12.0, 12.0], [5.0, 11.0, 8.0]);
const LEFT_PUTAMEN: Ellipsoid = ([26.0, -2.0, 0.0], [5.5, 14.0, 9.0]);
const RIGHT_PUTAMEN: Ellipsoid = ([-26.0, -2.0, 0.0], [5.5, 14.0, 9.0]);
const OCCIPITAL: Ellipsoid = ([0.0, 66.0, 6.0], [40.0, 10.0, 24.0]);

/// Concentrations: brain background, then the regions in the order above, then the reference.
#[derive(Clone, Copy)]
struct Uptake {
    brain: f32,
    regions: [f32; 4], // left caudate, right caudate, left putamen, right putamen
    occipital: f32,
}

/// An early Parkinson's pattern: the right putamen lost most, caudates spared more.
const PATIENT: Uptake = Uptake {
    brain: 1.0,
    regions: [3.6, 3.2, 2.8, 1.7],
    occipital: 1.0,
};

/// A healthy pattern (the template's).
const HEALTHY: Uptake = Uptake {
    brain: 1.0,
    regions: [5.0, 5.0, 5.0, 5.0],
    occipital: 1.0,
};

fn grid() -> Geometry {
    Geometry::axis_aligned([80, 96, 70], [-79.0, -95.0, -69.0], [2.0; 3])
}

fn inside(grid: &Geometry, (c, r): Ellipsoid) -> Array3<bool> {
    Array3::from_shape_fn(grid.dims, |(i, j, k)| {
        let p = grid.to_patient([i as f64, j as f64, k as f64]);
        (0..3).map(|a| ((p[a] - c[a]) / r[a]).powi(2)).sum::<f64>() <= 1.0
    })
}

/// The masks in the order left caudate, right caudate, left putamen, right putamen, reference.
fn masks(grid: &Geometry) -> Vec<Array3<bool>> {
    [
        LEFT_CAUDATE,
        RIGHT_CAUDATE,
        LEFT_PUTAMEN,
        RIGHT_PUTAMEN,
        OCCIPITAL,
    ]
    .map(|e| inside(grid, e))
    .to_vec()
}

/// The phantom blurred to 10 mm FWHM, scaled to counts-like units.
fn image(grid: &Geometry, u: Uptake) -> Volume<f32> {
    let brain = inside(grid, BRAIN);
    let m = masks(grid);
    let mut data = brain.mapv(|b| if b { u.brain } else { 0.05 });
    for (mask, value) in m.iter().zip(u.regions.iter().chain([&u.occipital])) {
        Zip::from(&mut data).and(mask).for_each(|d, m| {
            if *m {
                *d = *value;
            }
        });
    }
    let blurred = gaussian(&data, grid.spacing(), 10.0 / (8.0f64.ln() * 2.0).sqrt());
    Volume::new(blurred.mapv(|v| 200.0 * v), grid.clone()).expect("shape")
}

/// The blurred image's region-mean SBRs (lc, rc, lp, rp): what the method should give.
fn blurred_truth(v: &Volume<f32>, m: &[Array3<bool>]) -> [f64; 4] {
    let reference = mean_over(&v.data, &m[4]);
    [0, 1, 2, 3].map(|r| (mean_over(&v.data, &m[r]) - reference) / reference)
}

fn inputs(spect: Volume<f32>, mask_grid: &Geometry, template: Option<Volume<f32>>) -> Inputs {
    let mut i = Inputs::new();
    i.insert("spect".into(), spect);
    for (role, m) in REGIONS
        .into_iter()
        .chain(["reference"])
        .zip(masks(mask_grid))
    {
        i.insert(role.into(), crate::neuro::mask_volume(&m, mask_grid));
    }
    if let Some(t) = template {
        i.insert("template".into(), t);
    }
    i
}

use crate::neuro::testing::value;

const NAMES: [&str; 4] = [
    "sbr-left-caudate",
    "sbr-right-caudate",
    "sbr-left-putamen",
    "sbr-right-putamen",
];

#[test]
fn sbr_equals_the_blurred_truths_region_ratio_and_shows_the_partial_volume_loss() {
    let g = grid();
    let spect = image(&g, PATIENT);
    let truth = blurred_truth(&spect, &masks(&g));
    let (_, out) = crate::run(&DatSbr, &inputs(spect, &g, None), &BTreeMap::new()).expect("runs");
    for (r, name) in NAMES.iter().enumerate() {
        let concentration = f64::from(PATIENT.regions[r] / PATIENT.occipital - 1.0);
        let found = value(&out, name);
        println!(
            "{name}: found {found:.4}, blurred truth {:.4}, concentration ratio {concentration:.2} (recovery {:.0} %)",
            truth[r],
            100.0 * found / concentration
        );
        assert!((found - truth[r]).abs() < 1e-4, "{name}");
        // Partial volume: a 10 mm FWHM blur of regions ~10 mm across reads far below truth.
        assert!(found < 0.8 * concentration, "{name}");
    }
    let (lp, rp) = (truth[2], truth[3]);
    let expected = 200.0 * (lp - rp).abs() / (lp + rp);
    println!(
        "asymmetry-putamen {:.2} % (blurred truth {expected:.2} %, concentrations {:.2} %)",
        value(&out, "asymmetry-putamen"),
        200.0 * (1.8 - 0.7) / 2.5
    );
    assert!((value(&out, "asymmetry-putamen") - expected).abs() < 1e-2);
    assert!((value(&out, "putamen-caudate-ratio-left") - truth[2] / truth[0]).abs() < 1e-3);
    // The striatum lies between its caudate and putamen.
    let ls = value(&out, "sbr-left-striatum");
    assert!(ls > truth[2] && ls < truth[0], "{ls}");
}

#[test]
fn sbr_with_2_mm_masks_on_a_4_mm_spect_is_within_3_percent_of_the_blurred_truth() {
    // A SPECT on 4 mm voxels whose centres are mask-voxel centres, regions drawn on 2 mm:
    // mask_on takes each SPECT voxel whose centre is inside. (Offset by half a mask voxel, the
    // nearest-neighbour ties all round one way, the regions move 1.7 mm, and the SBRs fall 8 to
    // 12 %: docs/algorithms/neuro.dat-sbr.md.)
    let g = grid();
    let fine = image(&g, PATIENT);
    let truth = blurred_truth(&fine, &masks(&g));
    let coarse = Geometry::axis_aligned([40, 48, 35], [-79.0, -95.0, -69.0], [4.0; 3]);
    let spect = corelab_image::resample::resample(
        &fine,
        &coarse,
        corelab_image::resample::Interpolation::Trilinear,
        0.0,
    )
    .unwrap();
    let (_, out) = crate::run(&DatSbr, &inputs(spect, &g, None), &BTreeMap::new()).expect("runs");
    let mut worst = 0.0f64;
    for (r, name) in NAMES.iter().enumerate() {
        let error = value(&out, name) / truth[r] - 1.0;
        println!(
            "{name} on 4 mm: {:+.2} % from the blurred truth",
            100.0 * error
        );
        worst = worst.max(error.abs());
    }
    println!("worst {:.2} %", 100.0 * worst);
    assert!(worst < 0.03, "{worst}");
}

#[test]
fn sbr_through_a_template_after_motion_is_within_8_percent_of_the_blurred_truth() {
    let g = grid();
    let template = image(&g, HEALTHY);
    let subject = image(&g, PATIENT);
    let truth = blurred_truth(&subject, &masks(&g));
    let motion = AffineTransform::euler(
        [5f64.to_radians(), (-3f64).to_radians(), 7f64.to_radians()],
        [6.0, -8.0, 4.0],
        [0.0; 3],
    );
    let spect_grid = pet_grid(&g, 4.0, [200.0, 220.0, 180.0]);
    let spect = subject_pet(&subject, &spect_grid, &motion, 10.0, 7);
    let (_, out) = crate::run(
        &DatSbr,
        &inputs(spect, &g, Some(template)),
        &BTreeMap::new(),
    )
    .expect("runs");
    let mut worst = 0.0f64;
    for (r, name) in NAMES.iter().enumerate() {
        let error = value(&out, name) / truth[r] - 1.0;
        println!(
            "{name} through the template: {:.4} vs blurred truth {:.4} ({:+.2} %)",
            value(&out, name),
            truth[r],
            100.0 * error
        );
        worst = worst.max(error.abs());
    }
    println!("worst {:.2} %", 100.0 * worst);
    assert!(worst < 0.08, "{worst}");
    assert_eq!(out.images.len(), 1);
    assert_eq!(out.images[0].1.geometry, g);
}

#[test]
fn overlapping_left_and_right_masks_empty_regions_and_a_nonpositive_reference_are_refused() {
    let g = grid();
    let spect = image(&g, PATIENT);
    let run = |i: &Inputs| crate::run(&DatSbr, i, &BTreeMap::new()).map(|_| ());
    // The left caudate given as the right one too.
    let mut swapped = inputs(spect.clone(), &g, None);
    let lc = swapped["left-caudate"].clone();
    swapped.insert("right-caudate".into(), lc);
    let e = run(&swapped).unwrap_err();
    assert!(
        matches!(&e, AlgoError::Input { role, why } if role == "right-caudate" && why.contains("left-caudate")),
        "{e}"
    );
    // An empty putamen.
    let mut empty = inputs(spect.clone(), &g, None);
    let mut none = empty["left-putamen"].clone();
    none.data.fill(0.0);
    empty.insert("left-putamen".into(), none);
    let e = run(&empty).unwrap_err();
    assert!(
        matches!(&e, AlgoError::Input { role, .. } if role == "left-putamen"),
        "{e}"
    );
    // A reference at zero or below.
    let mut negative = spect.clone();
    negative.data.mapv_inplace(|v| -v);
    let e = run(&inputs(negative, &g, None)).unwrap_err();
    assert!(
        matches!(&e, AlgoError::Input { role, why } if role == "spect" && why.contains("reference")),
        "{e}"
    );
    // Coarser than 6 mm.
    let coarse = Geometry::axis_aligned([20, 24, 18], [-78.0, -94.0, -68.0], [8.0; 3]);
    let spect8 = corelab_image::resample::resample(
        &spect,
        &coarse,
        corelab_image::resample::Interpolation::Trilinear,
        0.0,
    )
    .unwrap();
    let e = run(&inputs(spect8, &g, None)).unwrap_err();
    assert!(
        matches!(&e, AlgoError::Input { role, .. } if role == "spect"),
        "{e}"
    );
}
