//! `pet.percist`: the response rules on their boundaries, and the whole algorithm on the `pet`
//! phantom with follow-ups made by changing the lesions' activities.

use super::*;

fn point(liver: f64, sd: f64, peaks: &[f64]) -> TimePoint {
    TimePoint {
        reference: Reference::Liver,
        stats: (liver, sd, 14.1),
        threshold: 1.5 * liver + 2.0 * sd,
        lesions: peaks
            .iter()
            .enumerate()
            .map(|(n, p)| (n as u32 + 1, *p, *p))
            .collect(),
    }
}

#[test]
fn the_response_rules_follow_percist_on_their_boundaries() {
    let base = point(1.5, 0.2, &[3.0, 6.0]); // threshold 2.65; target 6.0
    let r = |peaks: &[f64], new| response(&base, &point(1.5, 0.2, peaks), new);
    // Just past −30 % (and −1.8 SUL): PMR; −29 %: SMD.
    assert_eq!(r(&[4.19], false), Response::Partial);
    assert_eq!(r(&[4.26], false), Response::Stable);
    // Just past +30 % (and +1.8 SUL): PMD; +29 %: SMD.
    assert_eq!(r(&[7.81], false), Response::Progressive);
    assert_eq!(r(&[7.74], false), Response::Stable);
    // The follow-up's hottest lesion is the target, whichever it is.
    assert_eq!(r(&[8.0, 2.0], false), Response::Progressive);
    // Below the liver mean, or none left: CMR; but new lesions make it PMD.
    assert_eq!(r(&[1.4], false), Response::Complete);
    assert_eq!(r(&[], false), Response::Complete);
    assert_eq!(r(&[], true), Response::Progressive);
    // A small target: 30 % but under 0.8 SUL is stable.
    let small = point(0.5, 0.05, &[2.0]); // threshold 0.85
    assert_eq!(
        response(&small, &point(0.5, 0.05, &[1.3]), false),
        Response::Stable
    );
    assert_eq!(
        response(&small, &point(0.5, 0.05, &[1.19]), false),
        Response::Partial
    );
    // Not measurable at baseline: not evaluable, unless new lesions appear.
    let faint = point(1.5, 0.2, &[2.6]);
    assert_eq!(
        response(&faint, &point(1.5, 0.2, &[5.0]), false),
        Response::NotEvaluable
    );
    assert_eq!(
        response(&faint, &point(1.5, 0.2, &[5.0]), true),
        Response::Progressive
    );
}

use crate::neuro::testing::value;
use crate::pet::testing::{Case, case};
use corelab_image::phantom::SeriesPlan;
use corelab_image::phantom::ct_tumor::{LIVER, MEDIASTINUM};
use corelab_image::phantom::pet::FIRST_LESION;
use std::collections::BTreeMap;

/// The phantom's own noise (10 % proportional) on its own 4 mm voxels, subject 1.
const VOXEL_MM: f64 = 4.0;
const COV: f64 = 0.1;

/// Inputs by role, built the way every algorithm test builds them.
fn inputs_of(roles: [(&str, Volume<f32>); 6]) -> Inputs {
    let mut inputs = Inputs::new();
    for (role, v) in roles {
        inputs.insert(role.to_owned(), v);
    }
    inputs
}

fn run_pair(
    baseline: &Case,
    followup: &Case,
    followup_lesions: Volume<f32>,
    given: &[(&str, &str)],
) -> Result<Outputs, AlgoError> {
    let inputs = inputs_of([
        ("baseline", baseline.pet.clone()),
        ("baseline-lesions", baseline.lesion_labels(0.0)),
        ("baseline-liver", baseline.mask_volume("liver")),
        ("followup", followup.pet.clone()),
        ("followup-lesions", followup_lesions),
        ("followup-liver", followup.mask_volume("liver")),
    ]);
    let given: BTreeMap<String, String> = given
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    crate::run(&Percist, &inputs, &given).map(|(_, o)| o)
}

/// The follow-up of subject 1 with each lesion's activity (L1, L2, L3) and the liver's scaled,
/// and noise of its own (another seed: the anatomy is the plan's, the noise the seed's).
fn followup(lesions: [f64; 3], liver: f64) -> Case {
    case(1, VOXEL_MM, COV, |s: &mut SeriesPlan| {
        s.seed = 2;
        for (n, f) in lesions.iter().enumerate() {
            if let Some(v) = s.values.get_mut(&(FIRST_LESION + n as u8)) {
                *v *= f;
            }
        }
        if let Some(v) = s.values.get_mut(&LIVER) {
            *v *= liver;
        }
    })
}

fn pct(found: f64, truth: f64) -> f64 {
    100.0 * (found - truth) / truth
}

#[test]
fn the_phantom_baseline_gives_its_liver_reference_and_hottest_lesion() {
    let base = case(1, VOXEL_MM, COV, |_| {});
    let o = run_pair(&base, &base, base.lesion_labels(0.0), &[]).unwrap();
    let liver = base.sul("liver");
    let mean = value(&o, "baseline-liver-sul-mean");
    let sd = value(&o, "baseline-liver-sul-sd");
    // 220 voxels of 10 % noise: the mean's standard error is 0.7 % (measured +1.17 %), the SD
    // near 10 % of the mean.
    assert!(pct(mean, liver).abs() < 2.0, "liver {mean} vs {liver}");
    assert!((sd / liver - 0.1).abs() < 0.015, "liver SD {sd}");
    // The whole 3 cm sphere fits in the liver (14.14 mL).
    let ml = value(&o, "baseline-liver-volume");
    assert!((ml - 14.137).abs() < 0.02, "{ml} mL");
    assert!((value(&o, "baseline-threshold") - (1.5 * mean + 2.0 * sd)).abs() < 1e-12);
    // The hottest lesion: the one of highest SUV, its SULpeak within 3 % of its SUL.
    let hottest = (1..=3)
        .max_by(|a, b| {
            base.sul(&format!("L{a}"))
                .total_cmp(&base.sul(&format!("L{b}")))
        })
        .unwrap();
    assert_eq!(value(&o, "baseline-lesion"), hottest as f64);
    let truth = base.sul(&format!("L{hottest}"));
    let peak = value(&o, "baseline-sul-peak");
    assert!(pct(peak, truth).abs() < 3.0, "SULpeak {peak} vs {truth}");
    assert_eq!(value(&o, "baseline-measurable"), 1.0);
    // Against itself: no change, stable disease, stable liver.
    assert_eq!(value(&o, "sul-peak-change"), 0.0);
    assert_eq!(value(&o, "response"), Response::Stable as i32 as f64);
    assert_eq!(value(&o, "liver-stable"), 1.0);
    // SUL is SUVbw × LBM / weight.
    let ratio = base.truth.lbm_kg / base.truth.weight_kg;
    assert!((liver - 2.2 * ratio).abs() < 1e-9);
}

#[test]
fn phantom_follow_ups_get_the_response_their_change_makes() {
    let base = case(1, VOXEL_MM, COV, |_| {});
    let response = |f: &Case, lesions: Volume<f32>, given: &[(&str, &str)]| {
        let o = run_pair(&base, f, lesions, given).unwrap();
        (value(&o, "response") as i32, o)
    };
    // Every lesion halved: PMR.
    let half = followup([0.5; 3], 1.0);
    let (r, o) = response(&half, half.lesion_labels(0.0), &[]);
    assert_eq!(r, Response::Partial as i32);
    let change = value(&o, "sul-peak-change");
    assert!((change + 50.0).abs() < 4.0, "{change} %");
    // Up 60 %: PMD; down 10 %: SMD.
    let up = followup([1.6; 3], 1.0);
    assert_eq!(
        response(&up, up.lesion_labels(0.0), &[]).0,
        Response::Progressive as i32
    );
    let down = followup([0.9; 3], 1.0);
    assert_eq!(
        response(&down, down.lesion_labels(0.0), &[]).0,
        Response::Stable as i32
    );
    // Lesions at blood-pool level (below the liver): CMR; no lesion drawn: CMR; with new
    // lesions: PMD.
    let mediastinum = base
        .truth
        .regions
        .iter()
        .find(|r| r.labels == [MEDIASTINUM]);
    let blood = mediastinum.map(|r| r.activity_bqml).unwrap();
    let gone: [f64; 3] = std::array::from_fn(|n| {
        blood
            / base
                .truth
                .regions
                .iter()
                .find(|r| r.name == format!("L{}", n + 1))
                .unwrap()
                .activity_bqml
    });
    let cleared = followup(gone, 1.0);
    assert_eq!(
        response(&cleared, cleared.lesion_labels(0.0), &[]).0,
        Response::Complete as i32
    );
    let none = Volume::new(
        ndarray::Array3::zeros(base.pet.data.raw_dim()),
        base.pet.geometry.clone(),
    )
    .unwrap();
    let (r, o) = response(&cleared, none.clone(), &[]);
    assert_eq!(r, Response::Complete as i32);
    assert!(o.measurements.iter().all(|m| m.name != "followup-sul-peak"));
    let (r, _) = response(&cleared, none, &[("new-lesions", "true")]);
    assert_eq!(r, Response::Progressive as i32);
}

#[test]
fn the_follow_up_target_is_its_own_hottest_lesion_and_an_unstable_liver_is_flagged() {
    let base = case(1, VOXEL_MM, COV, |_| {});
    let hottest = (1..=3)
        .max_by(|a, b| {
            base.sul(&format!("L{a}"))
                .total_cmp(&base.sul(&format!("L{b}")))
        })
        .unwrap();
    // The hottest lesion all but gone, another doubled and now the hottest; liver up 30 %.
    let mut scale = [1.0; 3];
    scale[hottest - 1] = 0.3;
    let other = if hottest == 1 { 2 } else { 1 };
    scale[other - 1] = 2.0;
    let f = followup(scale, 1.3);
    let o = run_pair(&base, &f, f.lesion_labels(0.0), &[]).unwrap();
    let top = (1..=3)
        .max_by(|a, b| f.sul(&format!("L{a}")).total_cmp(&f.sul(&format!("L{b}"))))
        .unwrap();
    assert_eq!(value(&o, "followup-lesion"), top as f64);
    assert_ne!(top, hottest);
    let expected = 100.0 * (f.sul(&format!("L{top}")) - base.sul(&format!("L{hottest}")))
        / base.sul(&format!("L{hottest}"));
    let change = value(&o, "sul-peak-change");
    assert!((change - expected).abs() < 4.0, "{change} vs {expected} %");
    let liver = value(&o, "liver-change");
    assert!((liver - 30.0).abs() < 4.0, "{liver} %");
    assert_eq!(value(&o, "liver-stable"), 0.0);
}

#[test]
fn bad_inputs_are_refused_naming_the_input() {
    let base = case(0, 8.0, 0.0, |_| {});
    let err = |f: &Case, given: &[(&str, &str)]| {
        run_pair(&base, f, f.lesion_labels(0.0), given)
            .unwrap_err()
            .to_string()
    };
    let mut no_size = case(0, 8.0, 0.0, |_| {});
    no_size.pet.source.pet[0].height_m = None;
    assert!(err(&no_size, &[]).contains("followup: SUL needs the lean body mass"));
    let mut ct = case(0, 8.0, 0.0, |_| {});
    ct.pet.source.modality = Some("CT".into());
    assert!(err(&ct, &[]).contains("followup: (0008,0060) Modality CT"));
    let mut nifti = case(0, 8.0, 0.0, |_| {});
    nifti.pet.source = Default::default();
    let e = err(
        &nifti,
        &[("units", "bqml"), ("baseline-sul-factor", "1e-4")],
    );
    assert!(e.starts_with("parameter followup-sul-factor"), "{e}");
    // A liver mask too small for a 3 cm sphere.
    let mut tiny = base.mask_volume("liver");
    let centre = tiny
        .data
        .indexed_iter()
        .find(|(_, v)| **v > 0.0)
        .map(|(at, _)| at)
        .unwrap();
    tiny.data.fill(0.0);
    tiny.data[centre] = 1.0;
    let inputs = inputs_of([
        ("baseline", base.pet.clone()),
        ("baseline-lesions", base.lesion_labels(0.0)),
        ("baseline-liver", tiny),
        ("followup", base.pet.clone()),
        ("followup-lesions", base.lesion_labels(0.0)),
        ("followup-liver", base.mask_volume("liver")),
    ]);
    let e = crate::run(&Percist, &inputs, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("input baseline-liver: less than half of a 3 cm sphere"),
        "{e}"
    );
}

/// With an abnormal liver the reader gives a blood-pool VOI instead (here the phantom's whole
/// mediastinal blood pool): its SUL mean within 2 % of the truth, the threshold 2.0 × mean +
/// 2 × SD, the reference said, no liver stability; and without either reference the run is
/// refused naming what to give.
#[test]
fn the_blood_pool_is_the_reference_when_no_liver_is_given() {
    let base = case(1, VOXEL_MM, COV, |_| {});
    let mut inputs = Inputs::new();
    for when in ["baseline", "followup"] {
        inputs.insert(when.to_owned(), base.pet.clone());
        inputs.insert(format!("{when}-lesions"), base.lesion_labels(0.0));
    }
    let refused = crate::run(&Percist, &inputs, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        refused.starts_with("input baseline-liver: missing: give baseline-liver")
            && refused.contains("baseline-blood-pool"),
        "{refused}"
    );
    for when in ["baseline", "followup"] {
        inputs.insert(format!("{when}-blood-pool"), base.mask_volume("blood_pool"));
    }
    let (_, o) = crate::run(&Percist, &inputs, &BTreeMap::new()).unwrap();
    let truth = base.sul("blood_pool");
    let mean = value(&o, "baseline-blood-pool-sul-mean");
    let sd = value(&o, "baseline-blood-pool-sul-sd");
    assert!(pct(mean, truth).abs() < 2.0, "blood pool {mean} vs {truth}");
    assert_eq!(
        value(&o, "baseline-reference"),
        Reference::BloodPool as u8 as f64
    );
    assert!((value(&o, "baseline-threshold") - (2.0 * mean + 2.0 * sd)).abs() < 1e-12);
    assert_eq!(value(&o, "baseline-measurable"), 1.0);
    assert_eq!(value(&o, "response"), Response::Stable as i32 as f64);
    assert!(
        o.measurements
            .iter()
            .all(|m| !m.name.starts_with("liver-") && !m.name.contains("-liver-")),
        "{:?}",
        o.measurements
    );
    // A liver given at one time point is preferred there.
    inputs.insert("followup-liver".into(), base.mask_volume("liver"));
    let (_, o) = crate::run(&Percist, &inputs, &BTreeMap::new()).unwrap();
    assert_eq!(
        value(&o, "followup-reference"),
        Reference::Liver as u8 as f64
    );
    assert!(o.measurements.iter().all(|m| m.name != "liver-stable"));
}
