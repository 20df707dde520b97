//! The brain phantom: a head of nested ellipsoids (scalp, skull, CSF, a cortical grey-matter
//! shell, white matter holding two lateral ventricles and two deep grey-matter nuclei), imaged
//! with a sagittal 3-D T1-weighted and an axial 2-D FLAIR series per visit.
//!
//! Atrophy: the second visit's brain volume (grey + white matter, everything inside the cortical
//! surface except the ventricles) is smaller than the first's by exactly the percentage asked:
//! the ventricles grow by four times that fraction of their volume, and the cortical surface,
//! the white matter and the deep nuclei shrink by the one factor `s` that makes it so,
//! `s³ = ((1 − p)·BV₁ + V_vent,2) / V_cortex,1`. The skull and intracranial volume do not change;
//! CSF fills the difference.
//!
//! The head sits at a slightly different position and angle at each visit (a few degrees and
//! millimetres, in truth.json as `head_pose`), as a patient does.

use super::{
    Acquisition, Ellipsoid, Kind, LesionTruth, MrAcquisition, Node, Noise, Options, PhantomError,
    Plan, Scene, SeriesInfo, SeriesPlan, Stream, StructureDef, add_days, cover, grid_around,
    patient, site, subject_truth, truth_head, visit_truth,
};
use nalgebra::{Matrix3, Rotation3};
use serde::Serialize;
use std::collections::BTreeMap;

/// Cerebrospinal fluid outside the ventricles.
pub const CSF: u8 = 1;
/// Cortical grey matter.
pub const GM: u8 = 2;
/// White matter.
pub const WM: u8 = 3;
/// Skull.
pub const SKULL: u8 = 4;
/// Scalp (fat-bright on T1).
pub const SCALP: u8 = 5;
/// Lateral ventricles (CSF).
pub const VENTRICLES: u8 = 6;
/// Deep grey-matter nuclei.
pub const DEEP_GM: u8 = 7;
/// The first label of a white-matter lesion (MS); lesion `n` has `FIRST_LESION + n`.
pub const FIRST_LESION: u8 = 20;

/// A head in its own frame (centre at the origin, axes along LPS).
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    /// The scalp's outer surface.
    pub scalp: Ellipsoid,
    /// The skull's outer surface.
    pub skull: Ellipsoid,
    /// The skull's inner surface: the intracranial volume.
    pub icv: Ellipsoid,
    /// The cortical (pial) surface.
    pub cortex: Ellipsoid,
    /// The white-matter surface.
    pub wm: Ellipsoid,
    /// Left and right lateral ventricles.
    pub ventricles: [Ellipsoid; 2],
    /// Left and right deep grey-matter nuclei.
    pub deep_gm: [Ellipsoid; 2],
}

impl Head {
    /// A subject's head: the template scaled by a size factor and a few percent per axis.
    pub fn for_subject(rng: &mut Stream) -> Head {
        let size = rng.range(0.94, 1.06);
        let axis = [0; 3].map(|_| size * rng.range(0.97, 1.03));
        let e = |c: [f64; 3], s: [f64; 3]| {
            Ellipsoid::aligned(
                [c[0] * axis[0], c[1] * axis[1], c[2] * axis[2]],
                [s[0] * axis[0], s[1] * axis[1], s[2] * axis[2]],
            )
        };
        Head {
            scalp: e([0.0; 3], [80.0, 98.0, 90.0]),
            skull: e([0.0; 3], [74.0, 92.0, 84.0]),
            icv: e([0.0; 3], [66.0, 82.0, 72.0]),
            cortex: e([0.0; 3], [63.0, 79.0, 69.0]),
            wm: e([0.0; 3], [51.0, 65.0, 55.0]),
            ventricles: [
                e([10.0, -2.0, 12.0], [7.0, 22.0, 10.0]),
                e([-10.0, -2.0, 12.0], [7.0, 22.0, 10.0]),
            ],
            deep_gm: [
                e([22.0, 4.0, -8.0], [8.0, 12.0, 8.0]),
                e([-22.0, 4.0, -8.0], [8.0, 12.0, 8.0]),
            ],
        }
    }

    /// Brain volume (mm³): inside the cortical surface, less the ventricles.
    pub fn brain_volume_mm3(&self) -> f64 {
        self.cortex.volume_mm3()
            - self
                .ventricles
                .iter()
                .map(Ellipsoid::volume_mm3)
                .sum::<f64>()
    }

    /// The head after losing `percent` of its brain volume (module documentation).
    pub fn atrophied(&self, percent: f64) -> Head {
        let p = percent / 100.0;
        let vent_factor = (1.0 + 4.0 * p).cbrt();
        let ventricles = self.ventricles.clone().map(|v| v.scaled(vent_factor));
        let vent2: f64 = ventricles.iter().map(Ellipsoid::volume_mm3).sum();
        let s = (((1.0 - p) * self.brain_volume_mm3() + vent2) / self.cortex.volume_mm3()).cbrt();
        Head {
            cortex: self.cortex.scaled(s),
            wm: self.wm.scaled(s),
            ventricles,
            deep_gm: self.deep_gm.clone().map(|d| d.scaled(s)),
            ..self.clone()
        }
    }

    /// The head posed in the scanner, with white-matter lesions (already posed) inside the white
    /// matter.
    pub fn scene(&self, pose: &Pose, lesions: &[(u8, Ellipsoid)]) -> Scene {
        let p = |e: &Ellipsoid| pose.apply(e);
        let mut wm_children: Vec<Node> = self
            .ventricles
            .iter()
            .map(|v| Node::leaf(p(v), VENTRICLES))
            .chain(self.deep_gm.iter().map(|d| Node::leaf(p(d), DEEP_GM)))
            .collect();
        wm_children.extend(lesions.iter().map(|(l, e)| Node::leaf(e.clone(), *l)));
        let wm = Node::with(p(&self.wm), WM, wm_children);
        let cortex = Node::with(p(&self.cortex), GM, vec![wm]);
        let icv = Node::with(p(&self.icv), CSF, vec![cortex]);
        let skull = Node::with(p(&self.skull), SKULL, vec![icv]);
        Scene {
            roots: vec![Node::with(p(&self.scalp), SCALP, vec![skull])],
        }
    }
}

/// Where the head is in the scanner: `x ↦ R·x + t` from the head's frame to LPS.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pose {
    /// R, by rows.
    pub rotation: [[f64; 3]; 3],
    /// t (mm): the head's centre in LPS.
    pub translation_mm: [f64; 3],
}

impl Pose {
    /// A few degrees of pitch, roll and yaw and a few millimetres off (0, 10, 30).
    pub fn random(rng: &mut Stream) -> Pose {
        let deg = |rng: &mut Stream, d: f64| rng.range(-d, d).to_radians();
        let r = Rotation3::from_euler_angles(deg(rng, 5.0), deg(rng, 3.0), deg(rng, 3.0));
        let m = r.matrix();
        Pose {
            rotation: std::array::from_fn(|i| std::array::from_fn(|j| m[(i, j)])),
            translation_mm: [
                rng.range(-4.0, 4.0),
                10.0 + rng.range(-6.0, 6.0),
                30.0 + rng.range(-6.0, 6.0),
            ],
        }
    }

    /// An ellipsoid of the head's frame, in LPS.
    pub fn apply(&self, e: &Ellipsoid) -> Ellipsoid {
        let r = Matrix3::from_fn(|i, j| self.rotation[i][j]);
        e.moved(&r, [0.0; 3], self.translation_mm)
    }
}

/// Whole-brain measures at a visit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BrainTruth {
    /// Grey + white matter (with deep nuclei and lesions), mm³: inside the cortical surface less
    /// the ventricles.
    pub brain_volume_mm3: f64,
    /// Intracranial volume, mm³.
    pub icv_mm3: f64,
    /// Brain volume / intracranial volume.
    pub brain_parenchymal_fraction: f64,
    /// 100 × (this visit's brain volume − the first's) / the first's.
    pub percent_brain_volume_change: Option<f64>,
    /// The head's pose.
    pub head_pose: Pose,
    /// MS: lesions present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lesion_count: Option<usize>,
    /// MS: their total volume, mm³.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lesion_volume_mm3: Option<f64>,
    /// MS: lesions new since the previous visit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_lesions: Option<usize>,
    /// MS: lesions enlarged since the previous visit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enlarging_lesions: Option<usize>,
}

/// A white-matter lesion at one visit, in the head's frame (MS).
#[derive(Clone, Debug, PartialEq)]
pub struct LesionSpec {
    /// L1, L2, … (the same lesion keeps its ID).
    pub id: String,
    /// Its label.
    pub label: u8,
    /// baseline, stable, enlarging or new.
    pub status: String,
    /// The shape in the head's frame.
    pub shape: Ellipsoid,
}

/// Lesions per visit for a subject, given its heads per visit and a stream.
pub(crate) type LesionPlanner<'a> =
    &'a dyn Fn(&[Head], &mut Stream) -> Result<Vec<Vec<LesionSpec>>, PhantomError>;

/// The brain phantom: one visit, or two with `--atrophy`.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    let visits = if options.atrophy_percent.is_some() {
        2
    } else {
        1
    };
    plan_with(options, Kind::Brain, "BRAIN", visits, &|heads, _| {
        Ok(vec![Vec::new(); heads.len()])
    })
}

/// The head's labels by name.
pub(super) fn label_names() -> BTreeMap<u8, String> {
    BTreeMap::from(
        [
            (CSF, "csf"),
            (GM, "cortical grey matter"),
            (WM, "white matter"),
            (SKULL, "skull"),
            (SCALP, "scalp"),
            (VENTRICLES, "ventricles"),
            (DEEP_GM, "deep grey matter"),
        ]
        .map(|(l, n)| (l, n.to_owned())),
    )
}

/// A contrast: label values, noise, bias strength.
pub(super) struct Contrast {
    pub(super) name: &'static str,
    pub(super) values: [(u8, f64); 7],
    pub(super) lesion: f64,
    pub(super) sigma: f64,
    pub(super) bias: f64,
}

pub(super) const T1: Contrast = Contrast {
    name: "T1w",
    values: [
        (CSF, 250.0),
        (GM, 600.0),
        (WM, 900.0),
        (SKULL, 120.0),
        (SCALP, 1000.0),
        (VENTRICLES, 250.0),
        (DEEP_GM, 700.0),
    ],
    lesion: 450.0,
    sigma: 18.0,
    bias: 0.08,
};

const FLAIR: Contrast = Contrast {
    name: "FLAIR",
    values: [
        (CSF, 80.0),
        (GM, 650.0),
        (WM, 480.0),
        (SKULL, 60.0),
        (SCALP, 750.0),
        (VENTRICLES, 80.0),
        (DEEP_GM, 600.0),
    ],
    lesion: 1100.0,
    sigma: 20.0,
    bias: 0.06,
};

/// The brain phantom with lesions from `lesions` (none for `brain`).
pub(crate) fn plan_with(
    options: &Options,
    kind: Kind,
    prefix: &str,
    visits: usize,
    lesions: LesionPlanner,
) -> Result<Plan, PhantomError> {
    let voxel = options.voxel_mm.unwrap_or(kind.default_voxel_mm());
    let atrophy = options.atrophy_percent.unwrap_or(0.0);
    let seed = options.seed;
    let mut truth = truth_head(kind, options, voxel);
    let mut series = Vec::new();
    for s in 0..options.subjects {
        let subject = format!("{prefix}-{:03}", s + 1);
        let mut rng = Stream::new(seed, &format!("{subject}/anatomy"));
        let site = site(s, "MR");
        let patient = patient(&subject, &mut rng);
        let base = Head::for_subject(&mut rng);
        let heads: Vec<Head> = (0..visits)
            .map(|v| {
                if v == 0 {
                    base.clone()
                } else {
                    base.atrophied(atrophy)
                }
            })
            .collect();
        let lesion_sets = lesions(
            &heads,
            &mut Stream::new(seed, &format!("{subject}/lesions")),
        )?;
        let mut subject_t = subject_truth(&subject, &site, &patient);
        let first_date = add_days("20260112", 3 * s as i64);
        let first_bv = heads[0].brain_volume_mm3();
        for (v, head) in heads.iter().enumerate() {
            let visit = format!("V{}", v + 1);
            let day = 365 * v as i64;
            let date = add_days(&first_date, day);
            let pose = Pose::random(&mut Stream::new(seed, &format!("{subject}/{visit}/pose")));
            let specs = lesion_sets.get(v).map(Vec::as_slice).unwrap_or(&[]);
            let posed: Vec<(u8, Ellipsoid)> = specs
                .iter()
                .map(|l| (l.label, pose.apply(&l.shape)))
                .collect();
            let scene = head.scene(&pose, &posed);
            let mut names = label_names();
            let lesion_labels: Vec<u8> = specs.iter().map(|l| l.label).collect();
            for l in specs {
                names.insert(l.label, format!("lesion {}", l.id));
            }
            let structures = structures(specs, &lesion_labels);
            let mut visit_t = visit_truth(&visit, &date, day, &scene, &names, &structures);
            let bv = head.brain_volume_mm3();
            let lesion_volume: f64 = specs.iter().map(|l| l.shape.volume_mm3()).sum();
            let previous: Vec<&str> = if v == 0 {
                Vec::new()
            } else {
                lesion_sets[v - 1].iter().map(|l| l.id.as_str()).collect()
            };
            let ms = kind == Kind::MsLesions;
            visit_t.brain = Some(BrainTruth {
                brain_volume_mm3: bv,
                icv_mm3: head.icv.volume_mm3(),
                brain_parenchymal_fraction: bv / head.icv.volume_mm3(),
                percent_brain_volume_change: (v > 0).then(|| 100.0 * (bv - first_bv) / first_bv),
                head_pose: pose.clone(),
                lesion_count: ms.then_some(specs.len()),
                lesion_volume_mm3: ms.then_some(lesion_volume),
                new_lesions: (ms && v > 0).then(|| {
                    specs
                        .iter()
                        .filter(|l| !previous.contains(&l.id.as_str()))
                        .count()
                }),
                enlarging_lesions: (ms && v > 0)
                    .then(|| specs.iter().filter(|l| l.status == "enlarging").count()),
            });
            visit_t.lesions = specs
                .iter()
                .zip(&posed)
                .map(|(l, (_, e))| {
                    LesionTruth::of(&l.id, l.label, "white-matter lesion", &l.status, false, e)
                })
                .collect();
            subject_t.visits.push(visit_t);
            let scalp = pose.apply(&head.scalp);
            let centre = scalp.centre_mm.map(f64::round);
            for (n, contrast) in [&T1, &FLAIR].into_iter().enumerate() {
                let (directions, spacing) = if n == 0 {
                    // Sagittal: rows run posterior, columns down, slices to the right.
                    (
                        [[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]],
                        [voxel; 3],
                    )
                } else {
                    (
                        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                        [voxel, voxel, 2.0 * voxel],
                    )
                };
                let dims = [0, 1, 2].map(|a| {
                    cover(
                        2.0 * scalp.half_width_along(directions[a]) + 16.0,
                        spacing[a],
                    )
                });
                let grid = grid_around(centre, dims, directions, spacing)?;
                let mut values: BTreeMap<u8, f64> = contrast.values.into_iter().collect();
                for l in &lesion_labels {
                    values.insert(*l, contrast.lesion);
                }
                let path = format!("{subject}/{visit}/{}", contrast.name);
                let bias = super::BiasField::random(
                    scalp.centre_mm,
                    [90.0, 110.0, 100.0],
                    contrast.bias,
                    &mut Stream::new(seed, &format!("{path}/bias")),
                );
                series.push(SeriesPlan {
                    subject_index: s,
                    visit_index: v,
                    subject: subject.clone(),
                    visit: visit.clone(),
                    patient: patient.clone(),
                    site: site.clone(),
                    study_description: "MR BRAIN WO CONTRAST".into(),
                    study_date: date.clone(),
                    study_time: clock(9 * 3600 + 1800 * s as u32),
                    info: mr_series(
                        s,
                        n,
                        &date,
                        clock(9 * 3600 + 1800 * s as u32 + 600 * n as u32),
                    ),
                    grid,
                    scenes: vec![scene.clone()],
                    times_ms: Vec::new(),
                    rr_interval_ms: None,
                    ghost: None,
                    label_names: names.clone(),
                    values,
                    structures: structures.clone(),
                    noise: Noise::Rician {
                        sigma: contrast.sigma,
                    },
                    bias: Some(bias),
                    blur_fwhm_mm: None,
                    seed,
                });
            }
        }
        truth.subjects.push(subject_t);
    }
    Ok(Plan { truth, series })
}

/// The tissue classes and composites reported, and each lesion with their union.
pub(super) fn structures(lesions: &[LesionSpec], lesion_labels: &[u8]) -> Vec<StructureDef> {
    let mut brain = vec![GM, WM, DEEP_GM];
    brain.extend_from_slice(lesion_labels);
    let mut icv = brain.clone();
    icv.extend([CSF, VENTRICLES]);
    let mut out = vec![
        StructureDef::new("csf", &[CSF, VENTRICLES]),
        StructureDef::new("gm", &[GM, DEEP_GM]),
        StructureDef::new("wm", &[WM]),
        StructureDef::new("ventricles", &[VENTRICLES]),
        StructureDef::new("brain", &brain),
        StructureDef::new("icv", &icv),
    ];
    if !lesions.is_empty() {
        out.push(StructureDef::new("lesions", lesion_labels));
        out.extend(lesions.iter().map(|l| StructureDef::new(&l.id, &[l.label])));
    }
    out
}

/// HHMMSS of seconds after midnight.
pub(crate) fn clock(seconds: u32) -> String {
    format!(
        "{:02}{:02}{:02}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The site's T1-weighted (`n` = 0) or FLAIR (`n` = 1) series as its scanner names it.
pub(super) fn mr_series(site: usize, n: usize, date: &str, time: String) -> SeriesInfo {
    #[allow(clippy::type_complexity)]
    let rows: [[(
        &str,
        &str,
        f64,
        f64,
        Option<f64>,
        f64,
        &str,
        &str,
        &str,
        &str,
    ); 2]; 3] = [
        [
            (
                "T1 MPRAGE SAG",
                "t1_mprage_sag_p2_iso",
                2300.0,
                2.98,
                Some(900.0),
                9.0,
                "GR\\IR",
                "SK\\SP\\MP",
                "*tfl3d1_16ns",
                "3D",
            ),
            (
                "t2_tirm_tra_dark-fluid",
                "t2_tirm_tra_dark-fluid",
                9000.0,
                81.0,
                Some(2500.0),
                150.0,
                "SE\\IR",
                "SK\\SP\\MP\\OSP",
                "*tir2d1_15",
                "2D",
            ),
        ],
        [
            (
                "SAG 3D BRAVO",
                "3D BRAVO",
                8.2,
                3.2,
                Some(450.0),
                12.0,
                "GR",
                "SS\\SK",
                "efgre3d",
                "3D",
            ),
            (
                "AX T2 FLAIR",
                "AX T2 FLAIR",
                9500.0,
                120.0,
                Some(2375.0),
                160.0,
                "SE\\IR",
                "SK\\OSP",
                "fse-ir",
                "2D",
            ),
        ],
        [
            (
                "T1W_3D_TFE SAG",
                "T1W_3D_TFE",
                8.1,
                3.7,
                Some(900.0),
                8.0,
                "GR",
                "SK\\MP",
                "T1TFE",
                "3D",
            ),
            (
                "AX FLAIR",
                "AX FLAIR",
                11000.0,
                125.0,
                Some(2800.0),
                90.0,
                "SE\\IR",
                "SK\\MP",
                "IR_TSE",
                "2D",
            ),
        ],
    ];
    let (description, protocol, tr, te, ti, flip, ss, sv, name, kind) = rows[site % 3][n];
    SeriesInfo {
        name: [T1.name, FLAIR.name][n].to_owned(),
        number: 2 + n as u32,
        description: description.into(),
        protocol: protocol.into(),
        body_part: "BRAIN".into(),
        date: date.to_owned(),
        time,
        acquisition: Acquisition::Mr(MrAcquisition {
            field_strength_t: if site % 3 == 2 { 1.5 } else { 3.0 },
            repetition_time_ms: tr,
            echo_time_ms: te,
            inversion_time_ms: ti,
            flip_angle_deg: flip,
            scanning_sequence: ss.into(),
            sequence_variant: sv.into(),
            sequence_name: name.into(),
            acquisition_type: kind.into(),
            phase_encoding_direction: "ROW".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atrophy_removes_exactly_the_percentage_of_brain_volume() {
        let head = Head::for_subject(&mut Stream::new(3, "t"));
        let after = head.atrophied(1.5);
        let change =
            100.0 * (after.brain_volume_mm3() - head.brain_volume_mm3()) / head.brain_volume_mm3();
        assert!((change + 1.5).abs() < 1e-9, "{change}");
        assert_eq!(after.icv, head.icv);
        let scene = after.scene(&Pose::random(&mut Stream::new(3, "p")), &[]);
        scene.check().unwrap();
    }

    #[test]
    fn the_brain_volumes_are_those_of_an_adult() {
        let head = Head::for_subject(&mut Stream::new(1, "t"));
        let scene = head.scene(&Pose::random(&mut Stream::new(1, "p")), &[]);
        scene.check().unwrap();
        let v = scene.volumes();
        let ml = |l: u8| v[&l] / 1000.0;
        assert!((1100.0..1800.0).contains(&(head.icv.volume_mm3() / 1000.0)));
        assert!(
            (400.0..800.0).contains(&(ml(GM) + ml(DEEP_GM))),
            "{}",
            ml(GM)
        );
        assert!((500.0..900.0).contains(&ml(WM)), "{}", ml(WM));
        assert!((5.0..30.0).contains(&ml(VENTRICLES)));
        let bv = ml(GM) + ml(DEEP_GM) + ml(WM);
        assert!((bv - head.brain_volume_mm3() / 1000.0).abs() < 1e-9);
    }
}
