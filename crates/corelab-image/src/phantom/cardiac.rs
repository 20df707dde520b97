//! The cardiac phantom: a cine short-axis stack (bSSFP-like contrast) through a beating left
//! ventricle of known end-diastolic and end-systolic volumes.
//!
//! The left-ventricular cavity is a prolate ellipsoid along the heart's long axis (base to apex:
//! towards the patient's left, anterior and inferior), its length 1.8 times its radius at end
//! diastole; as it empties, its length goes as the volume to the power 0.2 and its radius takes
//! up the rest. The myocardium is the shell between it and the epicardial ellipsoid, whose
//! volume stays the same at every phase (the muscle is incompressible): the wall thickens in
//! systole. The right-ventricular cavity is an ellipsoid beside it (towards the right and
//! anterior), emptying in step. Sixteen temporal positions span one R–R interval; the first is
//! end diastole, the seventh end systole, and the volume follows half a cosine down to it and
//! half a cosine back:
//!
//! `V(t) = ESV + (EDV − ESV)(1 + cos(π t / t_ES))/2` for `t ≤ t_ES`, then
//! `ESV + (EDV − ESV)(1 − cos(π (t − t_ES)/(N − t_ES)))/2`.
//!
//! EDV 110–160 mL, ejection fraction 45–68 %, myocardium 90–140 mL (mass at 1.05 g/mL), heart
//! rate 58–82 per minute, all drawn from the seed, and exact.

use super::{
    Acquisition, Ellipsoid, Kind, MrAcquisition, Node, Noise, Options, PhantomError, Plan, Scene,
    SeriesInfo, SeriesPlan, Stream, StructureDef, add_days, brain::clock, cover, grid_around,
    patient, site, subject_truth, truth_head, visit_truth,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// Chest tissue around the heart.
pub const CHEST: u8 = 1;
/// Left-ventricular myocardium.
pub const MYOCARDIUM: u8 = 3;
/// Left-ventricular blood pool.
pub const LV_BLOOD: u8 = 4;
/// Right-ventricular blood pool.
pub const RV_BLOOD: u8 = 5;

/// Temporal positions per R–R interval.
const POSITIONS: usize = 16;
/// Myocardial density (g/mL), for the mass.
const DENSITY: f64 = 1.05;

/// The heart's function over the cycle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CardiacTruth {
    /// Beats per minute.
    pub heart_rate_bpm: f64,
    /// The R–R interval (ms).
    pub rr_interval_ms: f64,
    /// Temporal positions in the series.
    pub temporal_positions: usize,
    /// End diastole's temporal position (from 1).
    pub ed_position: usize,
    /// End systole's.
    pub es_position: usize,
    /// Left-ventricular end-diastolic volume (mm³).
    pub lv_edv_mm3: f64,
    /// End-systolic volume (mm³).
    pub lv_esv_mm3: f64,
    /// Stroke volume (mm³).
    pub lv_stroke_volume_mm3: f64,
    /// Ejection fraction (%).
    pub lv_ef_percent: f64,
    /// Myocardial volume (mm³), the same at every phase.
    pub lv_myocardium_mm3: f64,
    /// Myocardial mass (g) at 1.05 g/mL.
    pub lv_mass_g: f64,
    /// Right-ventricular end-diastolic volume (mm³).
    pub rv_edv_mm3: f64,
    /// Right-ventricular end-systolic volume (mm³).
    pub rv_esv_mm3: f64,
    /// Right-ventricular ejection fraction (%).
    pub rv_ef_percent: f64,
    /// Each temporal position.
    pub positions: Vec<CardiacPosition>,
}

/// The ventricles at one temporal position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CardiacPosition {
    /// From 1.
    pub position: usize,
    /// After the R wave (ms).
    pub trigger_time_ms: f64,
    /// Left-ventricular blood volume (mm³).
    pub lv_blood_mm3: f64,
    /// Myocardial volume (mm³).
    pub lv_myocardium_mm3: f64,
    /// Right-ventricular blood volume (mm³).
    pub rv_blood_mm3: f64,
}

/// A subject's heart.
struct Heart {
    centre: [f64; 3],
    /// Short-axis directions and the long axis (base → apex).
    axes: [[f64; 3]; 3],
    lv_edv: f64,
    lv_esv: f64,
    myocardium: f64,
    rv_edv: f64,
    rv_esv: f64,
}

impl Heart {
    fn for_subject(rng: &mut Stream) -> Heart {
        let lv_edv = rng.range(110.0, 160.0) * 1000.0;
        let lv_esv = lv_edv * (1.0 - rng.range(0.45, 0.68));
        let rv_edv = lv_edv * rng.range(1.0, 1.15);
        let rv_esv = rv_edv * (1.0 - rng.range(0.45, 0.6));
        let long = unit([0.55, -0.45, -0.70]);
        let first = unit(cross(long, [0.0, 0.0, 1.0]));
        let second = cross(long, first);
        Heart {
            centre: [25.0, -25.0, 40.0],
            axes: [first, second, long],
            lv_edv,
            lv_esv,
            myocardium: rng.range(90.0, 140.0) * 1000.0,
            rv_edv,
            rv_esv,
        }
    }

    /// Volume at temporal position `t` (from 0) of a cavity emptying from `ed` to `es`.
    fn volume(ed: f64, es: f64, t: usize) -> f64 {
        let s = es_index();
        let (t, s, n) = (t as f64, s as f64, POSITIONS as f64);
        let pi = std::f64::consts::PI;
        if t <= s {
            es + (ed - es) * (1.0 + (pi * t / s).cos()) / 2.0
        } else {
            es + (ed - es) * (1.0 - (pi * (t - s) / (n - s)).cos()) / 2.0
        }
    }

    fn ellipsoid(&self, centre: [f64; 3], semi: [f64; 3]) -> Ellipsoid {
        Ellipsoid {
            centre_mm: centre,
            semi_axes_mm: semi,
            axes: self.axes,
        }
    }

    /// The cavity and epicardium of a left-ventricular blood volume `v`.
    fn left(&self, v: f64) -> (Ellipsoid, Ellipsoid) {
        let ed_radius = (3.0 * self.lv_edv / (4.0 * std::f64::consts::PI * 1.8)).cbrt();
        let length = 1.8 * ed_radius * (v / self.lv_edv).powf(0.2);
        let radius = (3.0 * v / (4.0 * std::f64::consts::PI * length)).sqrt();
        let outer = v + self.myocardium;
        let volume =
            |w: f64| 4.0 / 3.0 * std::f64::consts::PI * (radius + w).powi(2) * (length + w);
        // The wall thickness that holds the myocardium, by bisection (volume grows with w).
        let (mut lo, mut hi) = (0.0, 60.0);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if volume(mid) < outer {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let w = (lo + hi) / 2.0;
        (
            self.ellipsoid(self.centre, [radius, radius, length]),
            self.ellipsoid(self.centre, [radius + w, radius + w, length + w]),
        )
    }

    /// The right-ventricular cavity of volume `v`, beside the left ventricle at its widest.
    fn right(&self, v: f64) -> Ellipsoid {
        let shape = [1.0, 2.2, 2.6];
        let a = (3.0 * v / (4.0 * std::f64::consts::PI * shape.iter().product::<f64>())).cbrt();
        let widest = self.left(self.lv_edv).1.semi_axes_mm[0];
        let a_ed = (3.0 * self.rv_edv / (4.0 * std::f64::consts::PI * 5.72)).cbrt();
        let d = widest + a_ed + 4.0;
        let c = [0, 1, 2].map(|i| self.centre[i] + d * self.axes[0][i]);
        self.ellipsoid(c, shape.map(|s| s * a))
    }

    fn scene(&self, t: usize) -> Scene {
        let (cavity, epicardium) = self.left(Self::volume(self.lv_edv, self.lv_esv, t));
        let rv = self.right(Self::volume(self.rv_edv, self.rv_esv, t));
        let chest = Ellipsoid::aligned([0.0, 0.0, 40.0], [170.0, 120.0, 250.0]);
        Scene {
            roots: vec![Node::with(
                chest,
                CHEST,
                vec![
                    Node::with(epicardium, MYOCARDIUM, vec![Node::leaf(cavity, LV_BLOOD)]),
                    Node::leaf(rv, RV_BLOOD),
                ],
            )],
        }
    }
}

/// End systole's temporal position (from 0).
fn es_index() -> usize {
    (0.35 * POSITIONS as f64).round() as usize
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    v.map(|x| x / n)
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The cardiac phantom: one cine short-axis series per subject.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    let voxel = options.voxel_mm.unwrap_or(Kind::Cardiac.default_voxel_mm());
    let seed = options.seed;
    let mut truth = truth_head(Kind::Cardiac, options, voxel);
    let mut series = Vec::new();
    for s in 0..options.subjects {
        let subject = format!("CARDIAC-{:03}", s + 1);
        let mut rng = Stream::new(seed, &format!("{subject}/anatomy"));
        let site = site(s, "MR");
        let patient = patient(&subject, &mut rng);
        let heart = Heart::for_subject(&mut rng);
        let rr = (60_000.0 / rng.range(58.0, 82.0)).round();
        let scenes: Vec<Scene> = (0..POSITIONS).map(|t| heart.scene(t)).collect();
        let trigger: Vec<f64> = (0..POSITIONS)
            .map(|t| rr * t as f64 / POSITIONS as f64)
            .collect();
        let names = BTreeMap::from(
            [
                (CHEST, "chest"),
                (MYOCARDIUM, "left-ventricular myocardium"),
                (LV_BLOOD, "left-ventricular blood"),
                (RV_BLOOD, "right-ventricular blood"),
            ]
            .map(|(l, n)| (l, n.to_owned())),
        );
        let structures = vec![
            StructureDef::new("lv_blood", &[LV_BLOOD]),
            StructureDef::new("lv_myocardium", &[MYOCARDIUM]),
            StructureDef::new("rv_blood", &[RV_BLOOD]),
        ];
        let date = add_days("20260316", s as i64);
        let mut visit_t = visit_truth("V1", &date, 0, &scenes[0], &names, &structures);
        let es = es_index();
        let positions: Vec<CardiacPosition> = scenes
            .iter()
            .enumerate()
            .map(|(t, scene)| {
                let v = scene.volumes();
                CardiacPosition {
                    position: t + 1,
                    trigger_time_ms: trigger[t],
                    lv_blood_mm3: v[&LV_BLOOD],
                    lv_myocardium_mm3: v[&MYOCARDIUM],
                    rv_blood_mm3: v[&RV_BLOOD],
                }
            })
            .collect();
        let (edv, esv) = (positions[0].lv_blood_mm3, positions[es].lv_blood_mm3);
        let (rv_edv, rv_esv) = (positions[0].rv_blood_mm3, positions[es].rv_blood_mm3);
        visit_t.cardiac = Some(CardiacTruth {
            heart_rate_bpm: 60_000.0 / rr,
            rr_interval_ms: rr,
            temporal_positions: POSITIONS,
            ed_position: 1,
            es_position: es + 1,
            lv_edv_mm3: edv,
            lv_esv_mm3: esv,
            lv_stroke_volume_mm3: edv - esv,
            lv_ef_percent: 100.0 * (edv - esv) / edv,
            lv_myocardium_mm3: positions[0].lv_myocardium_mm3,
            lv_mass_g: positions[0].lv_myocardium_mm3 / 1000.0 * DENSITY,
            rv_edv_mm3: rv_edv,
            rv_esv_mm3: rv_esv,
            rv_ef_percent: 100.0 * (rv_edv - rv_esv) / rv_edv,
            positions,
        });
        let mut subject_t = subject_truth(&subject, &site, &patient);
        subject_t.visits.push(visit_t);
        truth.subjects.push(subject_t);
        // The short-axis stack: rows and columns across the long axis, slices base to apex.
        let spacing = [voxel, voxel, 4.0 * voxel];
        let epicardium = heart.left(heart.lv_edv).1;
        let reach = epicardium.semi_axes_mm[2] + 6.0;
        let dims = [
            cover(200.0, spacing[0]),
            cover(200.0, spacing[1]),
            cover(2.0 * reach, spacing[2]),
        ];
        let grid = grid_around(heart.centre, dims, heart.axes, spacing)?;
        let time = clock(11 * 3600 + 1500 * s as u32);
        let path = format!("{subject}/V1/CINE");
        let bias = super::BiasField::random(
            heart.centre,
            [120.0, 120.0, 120.0],
            0.10,
            &mut Stream::new(seed, &format!("{path}/bias")),
        );
        series.push(SeriesPlan {
            subject_index: s,
            visit_index: 0,
            subject: subject.clone(),
            visit: "V1".into(),
            patient: patient.clone(),
            site: site.clone(),
            study_description: "MR CARDIAC FUNCTION".into(),
            study_date: date.clone(),
            study_time: time.clone(),
            info: cine_series(s, &date, time),
            grid,
            scenes,
            times_ms: trigger,
            rr_interval_ms: Some(rr),
            ghost: None,
            label_names: names,
            values: BTreeMap::from([
                (CHEST, 350.0),
                (MYOCARDIUM, 150.0),
                (LV_BLOOD, 900.0),
                (RV_BLOOD, 880.0),
            ]),
            structures,
            noise: Noise::Rician { sigma: 25.0 },
            bias: Some(bias),
            blur_fwhm_mm: None,
            seed,
        });
    }
    Ok(Plan { truth, series })
}

/// The site's cine series as its scanner names it.
fn cine_series(site: usize, date: &str, time: String) -> SeriesInfo {
    let (description, protocol, tr, te, flip, name) = [
        (
            "cine_tf2d13_retro SAX",
            "cine_tf2d13_retro_iPAT",
            3.0,
            1.3,
            55.0,
            "*tfi2d1_13",
        ),
        ("SAX FIESTA CINE", "SAX FIESTA", 3.4, 1.5, 50.0, "fiesta2d"),
        ("BTFE_BH SA", "BTFE_BH_SA", 2.9, 1.45, 60.0, "B-TFE"),
    ][site % 3];
    SeriesInfo {
        name: "CINE".into(),
        number: 5,
        description: description.into(),
        protocol: protocol.into(),
        body_part: "HEART".into(),
        date: date.to_owned(),
        time,
        acquisition: Acquisition::Mr(MrAcquisition {
            field_strength_t: if site % 3 == 2 { 1.5 } else { 3.0 },
            repetition_time_ms: tr,
            echo_time_ms: te,
            inversion_time_ms: None,
            flip_angle_deg: flip,
            scanning_sequence: "GR".into(),
            sequence_variant: "SS".into(),
            sequence_name: name.into(),
            acquisition_type: "2D".into(),
            phase_encoding_direction: "ROW".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ventricle_empties_to_the_stated_ejection_fraction_with_constant_muscle() {
        for seed in 1..6 {
            let heart = Heart::for_subject(&mut Stream::new(seed, "h"));
            let scenes: Vec<Scene> = (0..POSITIONS).map(|t| heart.scene(t)).collect();
            for s in &scenes {
                s.check().unwrap();
            }
            let v: Vec<_> = scenes.iter().map(Scene::volumes).collect();
            let es = es_index();
            assert!((v[0][&LV_BLOOD] - heart.lv_edv).abs() < 1e-6 * heart.lv_edv);
            assert!((v[es][&LV_BLOOD] - heart.lv_esv).abs() < 1e-6 * heart.lv_esv);
            let lv: Vec<f64> = v.iter().map(|x| x[&LV_BLOOD]).collect();
            assert!(
                lv.iter()
                    .all(|x| *x >= heart.lv_esv - 1e-6 && *x <= heart.lv_edv + 1e-6)
            );
            for x in &v {
                assert!(
                    (x[&MYOCARDIUM] - heart.myocardium).abs() < 1e-3,
                    "{}",
                    x[&MYOCARDIUM]
                );
            }
        }
    }
}
