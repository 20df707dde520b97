use super::phantom::{Activity, activity_map, gaain, mean_over, pet_grid, subject_pet};
use super::*;
use corelab_image::geometry::Geometry;
use corelab_image::registration::AffineTransform;
use nalgebra::Matrix3;
use std::collections::BTreeMap;

const CSV_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/clinical_rules/centiloid"
);

/// The template's activity: a mildly positive-looking brain (cortex a little above the
/// cerebellum, white matter above both, as in most amyloid PET).
const TEMPLATE: Activity = Activity {
    cortex: 1.3,
    cerebellum: 1.0,
    white: 1.5,
    outside: 0.1,
};

/// The template, its VOIs and the centre of the brain.
struct Space {
    template: Volume<f32>,
    target: Volume<f32>,
    reference: Volume<f32>,
    t: Array3<bool>,
    r: Array3<bool>,
    centre: [f64; 3],
}

fn space() -> Space {
    let target = gaain("voi_ctx_2mm");
    let reference = gaain("voi_WhlCbl_2mm");
    let t = target.data.mapv(|v| v > 0.5);
    let r = reference.data.mapv(|v| v > 0.5);
    let template = activity_map(&t, &r, &target.geometry, TEMPLATE);
    let d = target.geometry.dims;
    let centre = target.geometry.to_patient([
        (d[0] as f64 - 1.0) / 2.0,
        (d[1] as f64 - 1.0) / 2.0,
        (d[2] as f64 - 1.0) / 2.0,
    ]);
    Space {
        template,
        target,
        reference,
        t,
        r,
        centre,
    }
}

/// The subject's head motion: rotations of 6°, −4° and 8°, a shift of (7, −9, 5) mm and an
/// anisotropic scale of 1.06 / 0.96 / 1.03 (a head a little unlike the template's).
fn motion(centre: [f64; 3]) -> AffineTransform {
    let mut m = AffineTransform::euler(
        [6f64.to_radians(), (-4f64).to_radians(), 8f64.to_radians()],
        [7.0, -9.0, 5.0],
        centre,
    );
    m.matrix *= Matrix3::from_diagonal(&nalgebra::Vector3::new(1.06, 0.96, 1.03));
    m
}

fn inputs(s: &Space, pet: Volume<f32>) -> Inputs {
    let mut i = Inputs::new();
    i.insert("pet".into(), pet);
    i.insert("template".into(), s.template.clone());
    i.insert("target".into(), s.target.clone());
    i.insert("reference".into(), s.reference.clone());
    i
}

use crate::neuro::testing::value;

fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A subject of cortex/cerebellum activity ratio `ratio`, in Bq/mL-like units (×5000), on a
/// 3 mm PET grid, with noise of 3 % of the cerebellum; returns the PET and its true SUVR (the
/// blurred truth's VOI means on the template grid, before motion).
fn subject(s: &Space, ratio: f32, seed: u64) -> (Volume<f32>, f64) {
    let scale = 5000.0;
    let a = Activity {
        cortex: ratio * scale,
        cerebellum: scale,
        white: 1.5 * scale,
        outside: 0.1 * scale,
    };
    let truth = activity_map(&s.t, &s.r, &s.target.geometry, a);
    let suvr = mean_over(&truth.data, &s.t) / mean_over(&truth.data, &s.r);
    let grid = pet_grid(&s.target.geometry, 3.0, [240.0, 260.0, 220.0]);
    let pet = subject_pet(&truth, &grid, &motion(s.centre), 0.03 * scale, seed);
    (pet, suvr)
}

#[test]
fn pib_equation_maps_the_amypet_anchor_replication_within_2_cl_of_0_and_100() {
    // AmyPET's own level-2 replication of the GAAIN PiB anchor set (whole cerebellum):
    // YC-0 mean SUVR 1.0129, AD-100 mean 2.0799. Klunk 2015 accepts a replication whose
    // anchors land within a few CL of 0 and 100; the equation must carry them there.
    let text = std::fs::read_to_string(format!("{CSV_DIR}/amypet_pib_anchor_replication.csv"))
        .expect("anchor csv");
    let wc = text
        .lines()
        .find(|l| l.starts_with("whole cerebellum,wc,"))
        .expect("whole-cerebellum row");
    let cells: Vec<f64> = wc
        .split(',')
        .skip(2)
        .take(2)
        .map(|c| c.parse().expect("number"))
        .collect();
    let pib = Conversion::of("pib").unwrap();
    let (yc, ad) = (pib.centiloid(cells[0]), pib.centiloid(cells[1]));
    println!("AmyPET anchors in CL by Klunk's equation: YC-0 {yc:.3}, AD-100 {ad:.3}");
    assert!(yc.abs() < 2.0, "YC-0 at {yc} CL");
    assert!((ad - 100.0).abs() < 2.0, "AD-100 at {ad} CL");
    // Klunk's own anchor means are exactly 0 and 100.
    assert!(pib.centiloid(1.009).abs() < 1e-9);
    assert!((pib.centiloid(2.076) - 100.0).abs() < 1e-9);
    // NAV4694 is defined the same way (Rowe 2016: YC-0 1.028, AD-100 1.028 + 1.174).
    let nav = Conversion::of("nav4694").unwrap();
    assert!(nav.centiloid(1.028).abs() < 1e-9);
    assert!((nav.centiloid(2.202) - 100.0).abs() < 1e-9);
}

#[test]
fn every_conversion_is_its_row_of_the_shared_equations_table() {
    let text = std::fs::read_to_string(format!("{CSV_DIR}/centiloid_conversion_equations.csv"))
        .expect("equations csv");
    // tracer prefix, method prefix, and how far our constants may be from the table's (the
    // florbetapir row rounds Navitsky's 175.4 / −182.3 to 175 / −182, as its note says).
    let rows = [
        ("pib", "PiB", "Centiloid standard method", 1e-3),
        ("nav4694", "NAV4694", "Rowe", 1e-3),
        ("florbetaben", "Florbetaben", "Rowe", 1e-9),
        ("florbetapir", "Florbetapir", "Navitsky", 0.5),
        ("flutemetamol", "Flutemetamol", "as cited", 1e-9),
    ];
    for (tracer, name, method, tolerance) in rows {
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && l.split(',').nth(1).unwrap().starts_with(method))
            .unwrap_or_else(|| panic!("no row for {tracer}"));
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[2], "whole cerebellum", "{tracer}");
        let (slope, intercept): (f64, f64) = (cells[4].parse().unwrap(), cells[5].parse().unwrap());
        let c = Conversion::of(tracer).unwrap();
        assert!(
            (c.slope - slope).abs() <= tolerance && (c.intercept - intercept).abs() <= tolerance,
            "{tracer}: {} / {} against the table's {slope} / {intercept}",
            c.slope,
            c.intercept
        );
    }
}

#[test]
fn suvr_is_within_2_percent_and_centiloid_within_4_cl_over_negative_and_positive_scans() {
    let s = space();
    let algo = AmyloidCentiloid;
    let pib = Conversion::of("pib").unwrap();
    let mut worst = (0.0f64, 0.0f64);
    for (n, ratio) in [1.0f32, 1.2, 1.6, 2.1, 2.7].into_iter().enumerate() {
        let (pet, truth) = subject(&s, ratio, 10 + n as u64);
        let (_, out) = crate::run(&algo, &inputs(&s, pet), &given(&[])).expect("runs");
        let suvr = value(&out, "suvr");
        let error = suvr / truth - 1.0;
        let cl_error = pib.centiloid(suvr) - pib.centiloid(truth);
        println!(
            "ratio {ratio}: true SUVR {truth:.4}, found {suvr:.4} ({:+.2} %), CL {:.1} vs {:.1} ({cl_error:+.2})",
            100.0 * error,
            pib.centiloid(suvr),
            pib.centiloid(truth)
        );
        worst = (worst.0.max(error.abs()), worst.1.max(cl_error.abs()));
        assert_eq!(value(&out, "centiloid"), pib.centiloid(suvr));
        assert_eq!(
            value(&out, "positive"),
            if pib.centiloid(suvr) >= 24.1 {
                1.0
            } else {
                0.0
            }
        );
        assert!((value(&out, "target-mean") / value(&out, "reference-mean") - suvr).abs() < 1e-12);
    }
    println!(
        "worst SUVR error {:.2} %, worst CL error {:.2}",
        100.0 * worst.0,
        worst.1
    );
    assert!(worst.0 < 0.02 && worst.1 < 4.0, "{worst:?}");
}

#[test]
fn registration_recovers_the_known_motion_within_2_mm() {
    let s = space();
    let (pet, _) = subject(&s, 1.8, 3);
    let on = onto_template("pet", &pet, &s.template).expect("registers");
    let truth = motion(s.centre);
    let c = s.centre;
    let corners: Vec<[f64; 3]> = (0..8)
        .map(|b| [0, 1, 2].map(|a| c[a] + if b >> a & 1 == 1 { 60.0 } else { -60.0 }))
        .collect();
    let (angle, distance) = on.transform.difference(&truth, &corners);
    println!("registration error: {angle:.2}°, {distance:.2} mm at the corners of a 120 mm box");
    assert!(distance < 2.0 && angle < 1.0, "{angle}° {distance} mm");
}

#[test]
fn same_pet_gives_the_same_suvr_bit_for_bit_and_the_tracer_picks_the_equation() {
    let s = space();
    let (pet, _) = subject(&s, 1.5, 5);
    let i = inputs(&s, pet);
    let (_, a) = crate::run(&AmyloidCentiloid, &i, &given(&[])).expect("runs");
    let (_, b) = crate::run(
        &AmyloidCentiloid,
        &i,
        &given(&[("tracer", "florbetapir"), ("threshold", "200")]),
    )
    .expect("runs");
    let suvr = value(&a, "suvr");
    assert_eq!(suvr.to_bits(), value(&b, "suvr").to_bits());
    assert_eq!(a.images[0].1.data, b.images[0].1.data);
    assert_eq!(value(&b, "centiloid"), 175.4 * suvr - 182.3);
    assert_eq!(value(&b, "positive"), 0.0);
}

#[test]
fn coarse_nonfinite_empty_truncated_and_negative_inputs_are_refused_by_name() {
    let s = space();
    let (pet, _) = subject(&s, 1.5, 6);
    let run = |i: &Inputs| crate::run(&AmyloidCentiloid, i, &given(&[])).map(|_| ());
    let role_of = |e: AlgoError| match e {
        AlgoError::Input { role, why } => (role, why),
        other => panic!("not an input error: {other}"),
    };
    // Voxels of 7 mm.
    let coarse = pet_grid(&s.target.geometry, 7.0, [240.0, 260.0, 220.0]);
    let pet7 =
        corelab_image::resample::resample(&pet, &coarse, Interpolation::Trilinear, 0.0).unwrap();
    assert_eq!(role_of(run(&inputs(&s, pet7)).unwrap_err()).0, "pet");
    // A NaN.
    let mut nan = pet.clone();
    nan.data[[10, 10, 10]] = f32::NAN;
    assert_eq!(role_of(run(&inputs(&s, nan)).unwrap_err()).0, "pet");
    // An empty target.
    let mut i = inputs(&s, pet.clone());
    i.get_mut("target").unwrap().data.fill(0.0);
    assert_eq!(role_of(run(&i).unwrap_err()).0, "target");
    // A field of view that cuts the cerebellum in half: the cerebellum's middle and up.
    let g = &s.target.geometry;
    let zs = |m: &Array3<bool>| -> Vec<f64> {
        let mut z: Vec<f64> = m
            .indexed_iter()
            .filter(|(_, b)| **b)
            .map(|((i, j, k), _)| g.to_patient([i as f64, j as f64, k as f64])[2])
            .collect();
        z.sort_by(f64::total_cmp);
        z
    };
    let (zt, zr) = (zs(&s.t), zs(&s.r));
    let bottom = zr[zr.len() / 2];
    println!(
        "target z {:.0} to {:.0} mm, reference z {:.0} to {:.0} mm: field of view from {bottom:.0} mm",
        zt[0],
        zt[zt.len() - 1],
        zr[0],
        zr[zr.len() - 1]
    );
    let short = Geometry::axis_aligned(
        [80, 88, 60],
        [s.centre[0] - 118.5, s.centre[1] - 130.5, bottom],
        [3.0; 3],
    );
    let truncated = subject_pet(
        &activity_map(&s.t, &s.r, g, TEMPLATE),
        &short,
        &AffineTransform::identity(s.centre),
        0.01,
        1,
    );
    let (role, why) = role_of(run(&inputs(&s, truncated)).unwrap_err());
    println!("truncated: {role}: {why}");
    assert_eq!(role, "reference");
    // A PET whose reference is below zero.
    let mut negative = pet;
    negative.data.mapv_inplace(|v| -v);
    let (role, why) = role_of(run(&inputs(&s, negative)).unwrap_err());
    assert!(role == "pet" && why.contains("reference"), "{role}: {why}");
}
