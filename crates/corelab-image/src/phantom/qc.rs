//! The QC phantom: what image-quality checks measure, known exactly. Each site scans, in one
//! session:
//!
//! - `SNR`: a sphere of uniform fluid (radius 60 mm, signal 1000) with Rician noise of a known σ
//!   and no bias field, so the signal-to-noise ratio is `1000/σ` (40–120, from the seed); the
//!   background holds pure Rician noise of zero signal (Rayleigh: mean σ√(π/2), SD
//!   σ√(2 − π/2)).
//! - `GHOST`: the same with a Nyquist (N/2) ghost of known amplitude (2–6 % of the signal)
//!   along the phase-encoding direction (COL): the ghost's signal is exactly
//!   `amplitude × 1000` where the object, shifted by half the field of view, lands.
//! - `MOTION`: an EPI-like time series (12 volumes, TR 2 s) of the brain phantom's head moving
//!   by a known rigid motion per volume (a slow drift of a few tenths of a millimetre and degree
//!   per volume, and one sudden jerk), with its framewise displacement (Power et al.,
//!   NeuroImage 2012: the sum of the absolute changes of the three translations and of the
//!   three rotations as arc lengths on a 50 mm sphere).

use super::brain::{self, Head, Pose};
use super::{
    Acquisition, Ellipsoid, Ghost, Kind, MrAcquisition, Node, Noise, Options, Patient,
    PhantomError, Plan, Scene, SeriesInfo, SeriesPlan, Stream, StructureDef, add_days,
    brain::clock, cover, grid_around, site, subject_truth, truth_head, visit_truth,
};
use nalgebra::{Matrix3, Rotation3};
use serde::Serialize;
use std::collections::BTreeMap;

/// The fluid of the sphere.
pub const FLUID: u8 = 1;
/// Volumes in the motion series.
const VOLUMES: usize = 12;
/// Its repetition time (ms).
const TR_MS: f64 = 2000.0;
/// The fluid's signal.
const SIGNAL: f64 = 1000.0;

/// What the QC checks should find.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QcTruth {
    /// The fluid's signal (noise-free, no bias).
    pub signal: f64,
    /// σ of each channel of the Rician noise.
    pub noise_sigma: f64,
    /// `signal / noise_sigma`.
    pub snr: f64,
    /// The mean of the background (Rayleigh): `σ√(π/2)`.
    pub background_mean: f64,
    /// Its standard deviation: `σ√(2 − π/2)`.
    pub background_sd: f64,
    /// Ghost signal / object signal in the GHOST series.
    pub ghost_amplitude: f64,
    /// The ghost's signal where it lands: `ghost_amplitude × signal`.
    pub ghost_signal: f64,
    /// The phase-encoding direction the ghost lies along (DICOM's COL: down the rows, j).
    pub phase_encoding_direction: String,
    /// The head's pose at the first volume of the MOTION series (`x ↦ R·x + t` from the
    /// head's frame); each volume's motion is about its centre `t`.
    pub head_pose: Pose,
    /// The MOTION series, volume by volume.
    pub motion: Vec<MotionTruth>,
    /// Mean framewise displacement (mm), over volumes 2 onwards.
    pub mean_framewise_displacement_mm: f64,
    /// The largest (mm).
    pub max_framewise_displacement_mm: f64,
}

/// The head's motion at one volume, relative to the first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MotionTruth {
    /// From 1.
    pub volume: usize,
    /// After the series start (ms).
    pub time_ms: f64,
    /// Rotations about x, y and z through the head's centre (degrees), applied x, then y,
    /// then z.
    pub rotation_deg: [f64; 3],
    /// Translation (mm, LPS).
    pub translation_mm: [f64; 3],
    /// Framewise displacement from the previous volume (mm); 0 for the first.
    pub framewise_displacement_mm: f64,
}

/// The QC phantom: one session per site.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    let voxel = options.voxel_mm.unwrap_or(Kind::Qc.default_voxel_mm());
    let seed = options.seed;
    let mut truth = truth_head(Kind::Qc, options, voxel);
    let mut series = Vec::new();
    for s in 0..options.subjects {
        let subject = format!("QC-{:03}", s + 1);
        let mut rng = Stream::new(seed, &format!("{subject}/anatomy"));
        let site = site(s, "MR");
        let patient = Patient {
            id: subject.clone(),
            name: "QC^PHANTOM".into(),
            sex: "O".into(),
            birth_date: String::new(),
            weight_kg: 0.0,
            height_m: 0.0,
        };
        let snr = rng.range(40.0, 120.0);
        let sigma = SIGNAL / snr;
        let ghost = Ghost {
            amplitude: rng.range(0.02, 0.06),
        };
        let sphere = Scene {
            roots: vec![Node::leaf(Ellipsoid::sphere([0.0; 3], 60.0), FLUID)],
        };
        let head = Head::for_subject(&mut rng);
        let base = Pose::random(&mut rng);
        let motion = motion(&mut Stream::new(seed, &format!("{subject}/motion")));
        let heads: Vec<Scene> = motion
            .iter()
            .map(|m| head.scene(&moved(&base, m), &[]))
            .collect();
        let date = add_days("20260105", s as i64);
        let sphere_names = BTreeMap::from([(FLUID, "fluid".to_owned())]);
        let sphere_structures = vec![
            StructureDef::new("fluid", &[FLUID]),
            StructureDef::new("background", &[0]),
        ];
        let mut visit_t = visit_truth("V1", &date, 0, &sphere, &sphere_names, &sphere_structures);
        let fd: Vec<f64> = motion.iter().map(|m| m.framewise_displacement_mm).collect();
        visit_t.qc = Some(QcTruth {
            signal: SIGNAL,
            noise_sigma: sigma,
            snr,
            background_mean: sigma * (std::f64::consts::PI / 2.0).sqrt(),
            background_sd: sigma * (2.0 - std::f64::consts::PI / 2.0).sqrt(),
            ghost_amplitude: ghost.amplitude,
            ghost_signal: ghost.amplitude * SIGNAL,
            phase_encoding_direction: "COL".into(),
            mean_framewise_displacement_mm: fd[1..].iter().sum::<f64>() / (fd.len() - 1) as f64,
            max_framewise_displacement_mm: fd.iter().copied().fold(0.0, f64::max),
            head_pose: base.clone(),
            motion,
        });
        let mut subject_t = subject_truth(&subject, &site, &patient);
        subject_t.visits.push(visit_t);
        truth.subjects.push(subject_t);

        let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let sphere_grid = grid_around(
            [0.0; 3],
            [cover(256.0, voxel), cover(256.0, voxel), 11],
            eye,
            [voxel, voxel, 5.0],
        )?;
        let epi = 2.0 * voxel;
        let head_grid = grid_around(
            base.translation_mm.map(f64::round),
            [cover(224.0, epi), cover(224.0, epi), cover(200.0, epi)],
            eye,
            [epi; 3],
        )?;
        let start = 8 * 3600 + 1800 * s as u32;
        let plan = |name: &str,
                    number: u32,
                    minutes: u32,
                    grid,
                    scenes: Vec<Scene>,
                    names: &BTreeMap<u8, String>,
                    values: BTreeMap<u8, f64>,
                    structures: Vec<StructureDef>,
                    noise: f64| {
            let time = clock(start + 60 * minutes);
            let dynamic = scenes.len() > 1;
            SeriesPlan {
                subject_index: s,
                visit_index: 0,
                subject: subject.clone(),
                visit: "V1".into(),
                patient: patient.clone(),
                site: site.clone(),
                study_description: "QA PHANTOM".into(),
                study_date: date.clone(),
                study_time: clock(start),
                info: qc_series(s, name, number, &date, time),
                grid,
                scenes,
                times_ms: if dynamic {
                    (0..VOLUMES).map(|t| t as f64 * TR_MS).collect()
                } else {
                    Vec::new()
                },
                rr_interval_ms: None,
                ghost: (name == "GHOST").then(|| ghost.clone()),
                label_names: names.clone(),
                values,
                structures,
                noise: Noise::Rician { sigma: noise },
                bias: None,
                blur_fwhm_mm: None,
                seed,
            }
        };
        let fluid = BTreeMap::from([(FLUID, SIGNAL)]);
        series.push(plan(
            "SNR",
            2,
            0,
            sphere_grid.clone(),
            vec![sphere.clone()],
            &sphere_names,
            fluid.clone(),
            sphere_structures.clone(),
            sigma,
        ));
        series.push(plan(
            "GHOST",
            3,
            3,
            sphere_grid,
            vec![sphere],
            &sphere_names,
            fluid,
            sphere_structures,
            sigma,
        ));
        let epi_values = BTreeMap::from([
            (brain::CSF, 1000.0),
            (brain::GM, 750.0),
            (brain::WM, 600.0),
            (brain::SKULL, 30.0),
            (brain::SCALP, 250.0),
            (brain::VENTRICLES, 1000.0),
            (brain::DEEP_GM, 700.0),
        ]);
        let head_names = BTreeMap::from(
            [
                (brain::CSF, "csf"),
                (brain::GM, "cortical grey matter"),
                (brain::WM, "white matter"),
                (brain::SKULL, "skull"),
                (brain::SCALP, "scalp"),
                (brain::VENTRICLES, "ventricles"),
                (brain::DEEP_GM, "deep grey matter"),
            ]
            .map(|(l, n)| (l, n.to_owned())),
        );
        series.push(plan(
            "MOTION",
            4,
            6,
            head_grid,
            heads,
            &head_names,
            epi_values,
            vec![StructureDef::new(
                "brain",
                &[brain::GM, brain::WM, brain::DEEP_GM],
            )],
            15.0,
        ));
    }
    Ok(Plan { truth, series })
}

/// The head's motion over the series: a drift, and a jerk at one volume.
fn motion(rng: &mut Stream) -> Vec<MotionTruth> {
    let jerk = 4 + (rng.uniform() * 6.0) as usize;
    let mut rotation = [0.0; 3];
    let mut translation = [0.0; 3];
    let mut out: Vec<MotionTruth> = Vec::new();
    for v in 0..VOLUMES {
        if v > 0 {
            for a in 0..3 {
                rotation[a] += rng.range(-0.3, 0.3);
                translation[a] += rng.range(-0.4, 0.4);
            }
        }
        let (mut r, mut t) = (rotation, translation);
        if v == jerk {
            r[0] += 1.5;
            t[2] += 2.0;
        }
        let fd = out.last().map_or(0.0, |p: &MotionTruth| {
            (0..3)
                .map(|a| {
                    (t[a] - p.translation_mm[a]).abs()
                        + 50.0 * (r[a] - p.rotation_deg[a]).abs().to_radians()
                })
                .sum()
        });
        out.push(MotionTruth {
            volume: v + 1,
            time_ms: v as f64 * TR_MS,
            rotation_deg: r,
            translation_mm: t,
            framewise_displacement_mm: fd,
        });
    }
    out
}

/// The head's pose after `m`: rotated about its centre, then shifted.
fn moved(base: &Pose, m: &MotionTruth) -> Pose {
    let [x, y, z] = m.rotation_deg.map(f64::to_radians);
    let r = Rotation3::from_euler_angles(x, y, z).into_inner();
    let r0 = Matrix3::from_fn(|i, j| base.rotation[i][j]);
    let combined = r * r0;
    Pose {
        rotation: std::array::from_fn(|i| std::array::from_fn(|j| combined[(i, j)])),
        translation_mm: [0, 1, 2].map(|a| base.translation_mm[a] + m.translation_mm[a]),
    }
}

/// The site's QC series: a spin echo of the sphere, an EPI of the head.
fn qc_series(site: usize, name: &str, number: u32, date: &str, time: String) -> SeriesInfo {
    let epi = name == "MOTION";
    let vendor = ["", "GE ", "Philips "][site % 3];
    SeriesInfo {
        name: name.into(),
        number,
        description: match name {
            "SNR" => format!("{vendor}QA SE SNR"),
            "GHOST" => format!("{vendor}QA GRE GHOST"),
            _ => format!("{vendor}BOLD EPI REST"),
        },
        protocol: format!("QA_{name}"),
        body_part: if epi { "BRAIN" } else { "PHANTOM" }.into(),
        date: date.to_owned(),
        time,
        acquisition: Acquisition::Mr(MrAcquisition {
            field_strength_t: if site % 3 == 2 { 1.5 } else { 3.0 },
            repetition_time_ms: if epi { TR_MS } else { 500.0 },
            echo_time_ms: if epi { 30.0 } else { 20.0 },
            inversion_time_ms: None,
            flip_angle_deg: if epi { 77.0 } else { 90.0 },
            scanning_sequence: if epi { "EP" } else { "SE" }.into(),
            sequence_variant: "NONE".into(),
            sequence_name: if epi { "epfid2d1_64" } else { "se2d1" }.into(),
            acquisition_type: "2D".into(),
            phase_encoding_direction: "COL".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framewise_displacement_is_the_power_sum_of_the_stated_motion() {
        let m = motion(&mut Stream::new(4, "m"));
        assert_eq!(m.len(), VOLUMES);
        assert_eq!(m[0].framewise_displacement_mm, 0.0);
        for w in m.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let mut fd = 0.0;
            for i in 0..3 {
                fd += (b.translation_mm[i] - a.translation_mm[i]).abs();
                fd += 50.0 * std::f64::consts::PI / 180.0
                    * (b.rotation_deg[i] - a.rotation_deg[i]).abs();
            }
            assert!((fd - b.framewise_displacement_mm).abs() < 1e-9);
        }
        // The jerk stands out.
        let max = m
            .iter()
            .map(|x| x.framewise_displacement_mm)
            .fold(0.0, f64::max);
        assert!(max > 2.0, "{max}");
    }

    #[test]
    fn the_moving_head_stays_inside_the_grid_and_whole() {
        let p = super::super::plan(
            Kind::Qc,
            &Options {
                subjects: 1,
                ..Options::default()
            },
        )
        .unwrap();
        let motion = &p.series[2];
        assert_eq!(motion.scenes.len(), VOLUMES);
        for scene in &motion.scenes {
            let (_, scalp) = scene.shapes()[0];
            assert!(scalp.within(&motion.grid));
        }
    }
}
