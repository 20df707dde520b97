//! The glioma phantom: the brain phantom's head with contrast-enhancing tumour in the white
//! matter, imaged with an axial 3-D T1-weighted series after gadolinium at a baseline and every
//! 8 weeks after it (weeks 0, 8, 16, 24), as a RANO (Wen et al. 2010) trial of high-grade glioma
//! reads it.
//!
//! Each subject has one or two enhancing lesions (L1, L2: long semi-axis 10–15 mm in the axial
//! plane, the other 0.7–0.9 of it, 0.8–1.0 of it along z, turned at random about z), solid (no
//! necrotic core or cyst: the reader's measurement is then the enhancing lesion's own extent),
//! at least 2 mm from each other, the ventricles, the deep nuclei and the white-matter surface
//! at their largest. The head sits at a slightly different position and angle at each visit.
//!
//! The course (subject `n`, by `n mod 3`), every semi-axis of every lesion scaled at weeks
//! 8/16/24:
//! 0. a response: × 0.62, 0.58, 0.58 (products −62 %, −66 %, −66 %: PR, confirmed);
//! 1. progression: × 0.95, 0.92, 1.25 (products −10 %, −15 %, then +85 % over the smallest: PD);
//! 2. a response the corticosteroids limit, then a new lesion: × 0.62, 0.60, 0.60 with the dose
//!    raised at week 8 (an imaging PR that RANO calls SD), back to the baseline dose at week 16
//!    (PR), and a new enhancing lesion (L3, semi-axes 6 × 5 × 6 mm) at week 24 (PD).
//!
//! Each visit states the clinical items RANO combines with the images (corticosteroid dose
//! against baseline, whether above physiological replacement, clinical status and the
//! non-enhancing T2/FLAIR disease) and the truth of RANO's enhancing-disease arithmetic from the
//! exact diameters ([`RanoTruth`]).

use super::brain::{self, FIRST_LESION, Head, LesionSpec, Pose};
use super::{
    Ellipsoid, Kind, LesionTruth, Noise, Options, PhantomError, Plan, SeriesInfo, SeriesPlan,
    Stream, add_days, brain::clock, cover, grid_around, patient, site, subject_truth, truth_head,
    visit_truth,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// Days of the visits after baseline.
pub const DAYS: [i64; 4] = [0, 56, 112, 168];
/// The enhancing tumour's T1 signal after gadolinium (white matter is 900).
pub const ENHANCING: f64 = 1450.0;
/// Clearance between a lesion at its largest and other structures (mm).
const MARGIN: f64 = 2.0;

/// The clinical items of a visit (RANO's Table 2 beside the images).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClinicalTruth {
    /// The corticosteroid dose against baseline: `stable`, `increased` or `decreased`.
    pub corticosteroids: String,
    /// Whether the dose is above physiological replacement.
    pub on_corticosteroids: bool,
    /// Clinical status against baseline: `stable`, `improved` or `worse`.
    pub clinical_status: String,
    /// Non-enhancing (T2/FLAIR) disease: `stable`, `improved` or `worse`.
    pub non_enhancing: String,
}

/// RANO at a visit from the exact diameters: enhancing targets' products, their sum, and the
/// response of Wen et al. 2010 (module documentation for the courses that make each).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RanoTruth {
    /// The target lesions' IDs (those of baseline).
    pub targets: Vec<String>,
    /// Sum of the targets' products of perpendicular diameters (mm²).
    pub sum_of_products_mm2: f64,
    /// Change from baseline (%).
    pub percent_change_from_baseline: Option<f64>,
    /// The smallest sum before this visit (mm²).
    pub nadir_mm2: Option<f64>,
    /// Change from it (%).
    pub percent_change_from_nadir: Option<f64>,
    /// Whether an enhancing lesion absent at baseline is present.
    pub new_lesions: bool,
    /// baseline, CR, PR (≤ −50 % from baseline, the dose not raised), PD (≥ +25 % over the
    /// smallest sum, or a new lesion, or worse clinical status or T2/FLAIR), else SD.
    pub response: String,
}

/// Scale of every semi-axis at weeks 0, 8, 16, 24, by course.
const COURSES: [[f64; 4]; 3] = [
    [1.0, 0.62, 0.58, 0.58],
    [1.0, 0.95, 0.92, 1.25],
    [1.0, 0.62, 0.60, 0.60],
];

/// The glioma phantom.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    let voxel = options.voxel_mm.unwrap_or(Kind::Glioma.default_voxel_mm());
    let seed = options.seed;
    let mut truth = truth_head(Kind::Glioma, options, voxel);
    let mut series = Vec::new();
    for s in 0..options.subjects {
        let subject = format!("GBM-{:03}", s + 1);
        let mut rng = Stream::new(seed, &format!("{subject}/anatomy"));
        let site = site(s, "MR");
        let patient = patient(&subject, &mut rng);
        let head = Head::for_subject(&mut rng);
        let course = s % 3;
        let lesion_sets = lesions(
            &head,
            course,
            &mut Stream::new(seed, &format!("{subject}/lesions")),
        )?;
        let mut subject_t = subject_truth(&subject, &site, &patient);
        let first_date = add_days("20260309", 3 * s as i64);
        let mut sums: Vec<f64> = Vec::new();
        for (v, (day, specs)) in DAYS.into_iter().zip(&lesion_sets).enumerate() {
            let visit = format!("V{}", v + 1);
            let date = add_days(&first_date, day);
            let pose = Pose::random(&mut Stream::new(seed, &format!("{subject}/{visit}/pose")));
            let posed: Vec<(u8, Ellipsoid)> = specs
                .iter()
                .map(|l| (l.label, pose.apply(&l.shape)))
                .collect();
            let scene = head.scene(&pose, &posed);
            let mut names = brain::label_names();
            for l in specs {
                names.insert(l.label, format!("enhancing lesion {}", l.id));
            }
            let labels: Vec<u8> = specs.iter().map(|l| l.label).collect();
            // Each lesion's mask is also measured, as a reader's calipers would on the grid.
            let structures: Vec<_> = brain::structures(specs, &labels)
                .into_iter()
                .map(|d| match specs.iter().find(|l| l.id == d.name) {
                    Some(l) => super::StructureDef::measured(&l.id, &[l.label]),
                    None => d,
                })
                .collect();
            let mut visit_t = visit_truth(&visit, &date, day, &scene, &names, &structures);
            visit_t.lesions = specs
                .iter()
                .zip(&posed)
                .map(|(l, (_, e))| {
                    let target = l.status != "new";
                    LesionTruth::of(&l.id, l.label, "enhancing glioma", &l.status, target, e)
                })
                .collect();
            let clinical = clinical(course, v);
            visit_t.rano = Some(rano(&visit_t.lesions, &clinical, &mut sums));
            visit_t.clinical = Some(clinical);
            subject_t.visits.push(visit_t);
            let scalp = pose.apply(&head.scalp);
            let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
            let dims = [0, 1, 2].map(|a| cover(2.0 * scalp.half_width_along(eye[a]) + 16.0, voxel));
            let grid = grid_around(scalp.centre_mm.map(f64::round), dims, eye, [voxel; 3])?;
            let mut values: BTreeMap<u8, f64> = brain::T1.values.into_iter().collect();
            for l in &labels {
                values.insert(*l, ENHANCING);
            }
            let path = format!("{subject}/{visit}/T1c");
            let bias = super::BiasField::random(
                scalp.centre_mm,
                [90.0, 110.0, 100.0],
                brain::T1.bias,
                &mut Stream::new(seed, &format!("{path}/bias")),
            );
            let time = clock(8 * 3600 + 1800 * s as u32);
            series.push(SeriesPlan {
                subject_index: s,
                visit_index: v,
                subject: subject.clone(),
                visit: visit.clone(),
                patient: patient.clone(),
                site: site.clone(),
                study_description: "MR BRAIN W AND WO CONTRAST".into(),
                study_date: date.clone(),
                study_time: time.clone(),
                info: t1_post_contrast(s, &date, clock(8 * 3600 + 1800 * s as u32 + 900)),
                grid,
                scenes: vec![scene],
                times_ms: Vec::new(),
                rr_interval_ms: None,
                ghost: None,
                label_names: names,
                values,
                structures,
                noise: Noise::Rician {
                    sigma: brain::T1.sigma,
                },
                bias: Some(bias),
                blur_fwhm_mm: None,
                seed,
            });
        }
        truth.subjects.push(subject_t);
    }
    Ok(Plan { truth, series })
}

/// The lesions of each visit, in the head's frame (module documentation).
fn lesions(
    head: &Head,
    course: usize,
    rng: &mut Stream,
) -> Result<Vec<Vec<LesionSpec>>, PhantomError> {
    let factors = COURSES[course];
    let largest = factors.iter().copied().fold(0.0, f64::max);
    let mut placed: Vec<Ellipsoid> = head
        .ventricles
        .iter()
        .chain(head.deep_gm.iter())
        .cloned()
        .collect();
    let count = if rng.uniform() < 0.5 { 1 } else { 2 };
    let mut shapes = Vec::new();
    let new = usize::from(course == 2);
    for n in 0..count + new {
        let is_new = n == count;
        let mut found = None;
        for _ in 0..4000 {
            let semi = if is_new {
                [6.0, 5.0, 6.0]
            } else {
                let a = rng.range(10.0, 15.0);
                [a, a * rng.range(0.7, 0.9), a * rng.range(0.8, 1.0)]
            };
            let angle = rng.range(0.0, std::f64::consts::PI);
            let centre = super::ms_lesions::point_in(&head.wm.scaled(0.75), rng);
            let shape = Ellipsoid::turned_about_z(centre, semi, angle);
            let scale = if is_new { 1.0 } else { largest };
            if shape.scaled(scale).fits(&head.wm, &placed, MARGIN) {
                found = Some((shape.clone(), shape.scaled(scale)));
                break;
            }
        }
        let Some((shape, at_largest)) = found else {
            return Err(PhantomError::Design(format!(
                "no room for enhancing lesion {} after 4000 tries",
                n + 1
            )));
        };
        placed.push(at_largest);
        shapes.push(shape);
    }
    Ok(DAYS
        .iter()
        .enumerate()
        .map(|(v, _)| {
            let mut set: Vec<LesionSpec> = shapes[..count]
                .iter()
                .enumerate()
                .map(|(n, shape)| LesionSpec {
                    id: format!("L{}", n + 1),
                    label: FIRST_LESION + n as u8,
                    status: match v {
                        0 => "baseline",
                        _ if factors[v] > factors[v - 1] => "enlarging",
                        _ if factors[v] < factors[v - 1] => "shrinking",
                        _ => "stable",
                    }
                    .into(),
                    shape: shape.scaled(factors[v]),
                })
                .collect();
            if new == 1 && v == DAYS.len() - 1 {
                set.push(LesionSpec {
                    id: format!("L{}", count + 1),
                    label: FIRST_LESION + count as u8,
                    status: "new".into(),
                    shape: shapes[count].clone(),
                });
            }
            set
        })
        .collect())
}

/// The clinical items of visit `v` of a course.
fn clinical(course: usize, v: usize) -> ClinicalTruth {
    let steroids = if course == 2 && v == 1 {
        "increased"
    } else {
        "stable"
    };
    ClinicalTruth {
        corticosteroids: steroids.into(),
        on_corticosteroids: course == 2 && v == 1,
        clinical_status: "stable".into(),
        non_enhancing: "stable".into(),
    }
}

/// RANO at a visit from the lesions' exact diameters; `sums` holds the earlier visits' sums and
/// gets this one's.
fn rano(lesions: &[LesionTruth], clinical: &ClinicalTruth, sums: &mut Vec<f64>) -> RanoTruth {
    let targets: Vec<&LesionTruth> = lesions.iter().filter(|l| l.target).collect();
    let sum: f64 = targets
        .iter()
        .map(|l| l.long_axis_mm * l.short_axis_mm)
        .sum();
    let new_lesions = lesions.iter().any(|l| l.status == "new");
    let baseline = sums.first().copied();
    let nadir = sums.iter().copied().reduce(f64::min);
    let pct = |from: Option<f64>| from.map(|b| 100.0 * (sum - b) / b);
    let response = match (baseline, nadir) {
        (Some(b), Some(n)) => {
            if new_lesions
                || sum >= 1.25 * n
                || clinical.clinical_status == "worse"
                || clinical.non_enhancing == "worse"
            {
                "PD"
            } else if sum == 0.0 && !clinical.on_corticosteroids {
                "CR"
            } else if sum <= 0.5 * b && clinical.corticosteroids != "increased" {
                "PR"
            } else {
                "SD"
            }
        }
        _ => "baseline",
    };
    sums.push(sum);
    RanoTruth {
        targets: targets.iter().map(|l| l.id.clone()).collect(),
        sum_of_products_mm2: sum,
        percent_change_from_baseline: pct(baseline),
        nadir_mm2: nadir,
        percent_change_from_nadir: pct(nadir),
        new_lesions,
        response: response.into(),
    }
}

/// The site's axial 3-D T1-weighted series after gadolinium: its T1 sequence, acquired axially.
fn t1_post_contrast(site: usize, date: &str, time: String) -> SeriesInfo {
    let t1 = brain::mr_series(site, 0, date, time);
    let (description, protocol) = [
        ("T1 MPRAGE AX POST GD", "t1_mprage_tra_p2_iso_post"),
        ("AX 3D BRAVO +C", "3D BRAVO +C"),
        ("T1W_3D_TFE AX GADO", "T1W_3D_TFE_GADO"),
    ][site % 3];
    SeriesInfo {
        name: "T1c".into(),
        number: 5,
        description: description.into(),
        protocol: protocol.into(),
        ..t1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_course_gives_its_rano_responses() {
        let p = plan(&Options {
            seed: 1,
            subjects: 6,
            ..Options::default()
        })
        .unwrap();
        let expected = [
            ["baseline", "PR", "PR", "PR"],
            ["baseline", "SD", "SD", "PD"],
            ["baseline", "SD", "PR", "PD"],
        ];
        for (s, subject) in p.truth.subjects.iter().enumerate() {
            let got: Vec<&str> = subject
                .visits
                .iter()
                .map(|v| v.rano.as_ref().unwrap().response.as_str())
                .collect();
            assert_eq!(got, expected[s % 3], "{}", subject.subject);
            let first = &subject.visits[0];
            assert!((1..=2).contains(&first.lesions.len()));
            for l in &first.lesions {
                // Measurable: both diameters ≥ 10 mm; here ≥ 13 mm (14 before the head's tilt).
                assert!(l.short_axis_mm >= 13.0, "{l:?}");
            }
        }
        for s in &p.series {
            for scene in &s.scenes {
                scene.check().unwrap();
            }
        }
    }
}
