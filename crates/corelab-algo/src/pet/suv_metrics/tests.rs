//! `pet.suv-metrics` on the `pet` phantom (uniform spheres of known SUV in organs of known SUV,
//! partial volume at the edges, no blur) and on bad inputs. Truth: the lesion's SUV (SUVmax of
//! the noise-free image, and SUVpeak, since a 1 cm³ sphere fits inside every lesion, radius
//! 8–15 mm), the mean over the truth mask before noise (SUVmean), and the sphere's analytic
//! volume (MTV).

use super::*;
use crate::neuro::testing::value;
use crate::pet::testing::{Case, case};
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use std::collections::BTreeMap;

fn run_on(
    pet: &Volume<f32>,
    lesions: &Volume<f32>,
    given: &[(&str, &str)],
) -> Result<Outputs, AlgoError> {
    let mut inputs = Inputs::new();
    inputs.insert("pet".into(), pet.clone());
    inputs.insert("lesions".into(), lesions.clone());
    let given: BTreeMap<String, String> = given
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    crate::run(&SuvMetrics, &inputs, &given).map(|(_, o)| o)
}

fn rows(o: &Outputs) -> Vec<BTreeMap<String, f64>> {
    let t = &o.tables[0];
    t.rows
        .iter()
        .map(|r| t.columns.iter().cloned().zip(r.iter().copied()).collect())
        .collect()
}

fn pct(found: f64, truth: f64) -> f64 {
    100.0 * (found - truth) / truth
}

/// Per lesion, % errors: SUVmax, SUVmean, SUVpeak, MTV at 41 % (truth mask as the VOI).
fn errors(c: &Case, o: &Outputs) -> Vec<[f64; 4]> {
    let found = rows(o);
    (0..3)
        .map(|n| {
            let name = format!("L{}", n + 1);
            let suv = c.suv(&name);
            let st = c
                .rendered
                .truth
                .structures
                .iter()
                .find(|x| x.name == name)
                .expect("lesion truth");
            let mean = st.mask_mean_noise_free.expect("mean") * c.truth.suv_bw_factor;
            let r = c.spheres[n].1;
            let volume_ml = 4.0 / 3.0 * std::f64::consts::PI * r.powi(3) / 1000.0;
            [
                pct(found[n]["suv-max"], suv),
                pct(found[n]["suv-mean"], mean),
                pct(found[n]["suv-peak"], suv),
                pct(found[n]["mtv-relative"], volume_ml),
            ]
        })
        .collect()
}

#[test]
fn noise_free_phantom_lesions_match_their_truth_on_4_and_2_mm_voxels() {
    for (voxel, subjects) in [(4.0, 0..2), (2.0, 1..2)] {
        for subject in subjects {
            let c = case(subject, voxel, 0.0, |_| {});
            let o = run_on(&c.pet, &c.lesion_labels(0.0), &[]).unwrap();
            for (n, [max, mean, peak, mtv]) in errors(&c, &o).into_iter().enumerate() {
                let at = format!("{voxel} mm, subject {subject}, L{}", n + 1);
                assert!(max.abs() < 1e-3, "{at}: SUVmax {max} %");
                assert!(mean.abs() < 1e-3, "{at}: SUVmean {mean} %");
                // Measured: −0.65 % to 0 on 4 mm, 0 on 2 mm.
                assert!(peak.abs() < 1.0, "{at}: SUVpeak {peak} %");
                // The truth mask's own discretisation: −7.6 % to −1.3 % on 4 mm voxels,
                // −0.7 % to +0.1 % on 2 mm.
                if voxel == 2.0 {
                    assert!(mtv.abs() < 5.0, "{at}: MTV {mtv} %");
                }
            }
            let table = rows(&o);
            let total: f64 = table.iter().map(|r| r["tlg-relative"]).sum();
            assert!((value(&o, "total-tlg-relative") - total).abs() < 1e-9);
            assert_eq!(value(&o, "lesions"), 3.0);
        }
    }
}

#[test]
fn noise_raises_suvmax_while_suvmean_and_suvpeak_hold() {
    // The phantom's own noise: 10 % proportional, 4 mm voxels.
    for subject in 0..2 {
        let c = case(subject, 4.0, 0.1, |_| {});
        let o = run_on(&c.pet, &c.lesion_labels(0.0), &[]).unwrap();
        for (n, [max, mean, peak, _]) in errors(&c, &o).into_iter().enumerate() {
            let at = format!("subject {subject}, L{}", n + 1);
            // Measured: SUVmax +15 % to +24 %, SUVmean −0.8 % to +0.4 %, SUVpeak −0.8 % to +2.4 %.
            assert!(max > 5.0 && max < 40.0, "{at}: SUVmax {max} %");
            assert!(mean.abs() < 1.5, "{at}: SUVmean {mean} %");
            assert!(peak.abs() < 3.0, "{at}: SUVpeak {peak} %");
        }
    }
}

#[test]
fn units_bqml_and_suv_give_what_the_header_gives() {
    let c = case(0, 4.0, 0.1, |_| {});
    let lesions = c.lesion_labels(0.0);
    let header = run_on(&c.pet, &lesions, &[]).unwrap();
    let mut plain = c.pet.clone();
    plain.source = Default::default();
    let factor = format!("{:e}", c.truth.suv_bw_factor);
    let bqml = run_on(
        &plain,
        &lesions,
        &[("units", "bqml"), ("suv-factor", &factor)],
    )
    .unwrap();
    let mut in_suv = plain.clone();
    in_suv
        .data
        .mapv_inplace(|v| (f64::from(v) * c.truth.suv_bw_factor) as f32);
    let suv = run_on(&in_suv, &lesions, &[("units", "suv")]).unwrap();
    for name in [
        "suv-max",
        "suv-peak",
        "total-mtv-relative",
        "total-tlg-fixed",
    ] {
        let h = value(&header, name);
        let b = value(&bqml, name);
        let s = value(&suv, name);
        assert!((h - b).abs() < 1e-6 * h.abs().max(1.0), "{name}: {h} {b}");
        assert!((h - s).abs() < 1e-5 * h.abs().max(1.0), "{name}: {h} {s}");
    }
    // The header's factor is the phantom's truth.
    let f = value(&header, "suv-factor");
    assert!((f - c.truth.suv_bw_factor).abs() < 1e-12 * f);
}

/// A 10-valued 3 × 3 × 3 block with a 3-valued shell around it, on 2 mm voxels, in SUV.
fn block() -> (Volume<f32>, Volume<f32>) {
    let g = Geometry::axis_aligned([12; 3], [0.0; 3], [2.0; 3]);
    let image = ndarray::Array3::from_shape_fn((12, 12, 12), |(i, j, k)| {
        let d = [i, j, k]
            .iter()
            .map(|x| (*x as i64 - 5).abs())
            .max()
            .unwrap_or(0);
        match d {
            0 | 1 => 10.0,
            2 => 3.0,
            _ => 0.5,
        }
    });
    let mask = image.mapv(|v| if v > 1.0 { 1.0 } else { 0.0 });
    (
        Volume::new(image, g.clone()).unwrap(),
        Volume::new(mask, g).unwrap(),
    )
}

#[test]
fn thresholds_count_the_voxels_at_or_above_them() {
    let (image, mask) = block();
    let o = run_on(&image, &mask, &[("units", "suv")]).unwrap();
    let r = &rows(&o)[0];
    let voxel_ml = 0.008;
    // 41 % of 10 = 4.1: the 27 block voxels; SUV 2.5: the block and its 98-voxel shell.
    assert!((r["mtv-relative"] - 27.0 * voxel_ml).abs() < 1e-12);
    assert!((r["tlg-relative"] - 270.0 * voxel_ml).abs() < 1e-9);
    assert!((r["mtv-fixed"] - 125.0 * voxel_ml).abs() < 1e-12);
    assert!((r["tlg-fixed"] - (270.0 + 98.0 * 3.0) * voxel_ml).abs() < 1e-9);
    assert_eq!((r["suv-max"], r["voxels"]), (10.0, 125.0));
    let params = [("units", "suv"), ("relative-threshold", "20")];
    let o = run_on(&image, &mask, &params).unwrap();
    assert!((rows(&o)[0]["mtv-relative"] - 125.0 * voxel_ml).abs() < 1e-12);
    // No "suv-factor" for values already in SUV.
    assert!(o.measurements.iter().all(|m| m.name != "suv-factor"));
}

#[test]
fn bad_inputs_are_refused_naming_the_input_and_the_reason() {
    let c = case(0, 8.0, 0.0, |_| {});
    let lesions = c.lesion_labels(0.0);
    let err = |pet: &Volume<f32>, lesions: &Volume<f32>| {
        run_on(pet, lesions, &[]).unwrap_err().to_string()
    };
    let mut ct = c.pet.clone();
    ct.source.modality = Some("CT".into());
    assert!(err(&ct, &lesions).contains("pet: (0008,0060) Modality CT"));
    let mut no_decay = c.pet.clone();
    no_decay.source.pet[0].injection_datetime = None;
    assert!(err(&no_decay, &lesions).contains("pet: SUV: neither (0018,1078)"));
    let mut nifti = c.pet.clone();
    nifti.source = Default::default();
    assert!(err(&nifti, &lesions).contains("no PET header reached this input"));
    let empty = Volume::new(lesions.data.mapv(|_| 0.0), lesions.geometry.clone()).unwrap();
    assert!(err(&c.pet, &empty).contains("lesions: the mask is empty"));
    let shifted = Volume::new(
        lesions.data.clone(),
        Geometry::axis_aligned(lesions.geometry.dims, [0.0; 3], [8.0; 3]),
    )
    .unwrap();
    assert!(err(&c.pet, &shifted).contains("lesions: its grid"));
}
