//! The CT tumour phantom: a chest–abdomen of nested ellipsoids (subcutaneous fat, the body
//! wall, two lungs, the mediastinum, the liver, the spine) with lesions followed over three
//! visits (baseline, week 8, week 16), as a RECIST 1.1 trial reads them.
//!
//! Lesions: a nodule in each lung and two liver metastases (in-plane long axes 14–36 mm, turned
//! at random about z), three mediastinal lymph nodes (short axes of about 17, 12 and 7 mm: a
//! target, a pathological non-target and a normal node). Over the visits the lung nodules, the
//! first liver lesion and the target node shrink (each visit × 0.75–0.9 on every semi-axis), the
//! second liver lesion grows (× 1.05–1.15, then × 1.25–1.4 of baseline), the other nodes stay,
//! and a new liver lesion appears at week 16. Each lesion's long and short axes in the axial
//! plane are exact (`Ellipsoid::axial_diameters_mm`), and each is also measured on its mask as
//! a reader would (`diameters::largest_in_plane`).
//!
//! [`Torso`] is shared with the PET phantom.

use super::{
    Acquisition, CtAcquisition, Ellipsoid, Kind, LesionTruth, Node, Noise, Options, PhantomError,
    Plan, Scene, SeriesInfo, SeriesPlan, Stream, StructureDef, add_days, brain::clock, cover,
    grid_around, patient, site, subject_truth, truth_head, visit_truth,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// Subcutaneous fat.
pub const FAT: u8 = 1;
/// Muscle and soft tissue of the body wall.
pub const SOFT_TISSUE: u8 = 2;
/// Lungs.
pub const LUNG: u8 = 3;
/// Liver.
pub const LIVER: u8 = 4;
/// Mediastinum (fat around the nodes).
pub const MEDIASTINUM: u8 = 5;
/// Spine.
pub const BONE: u8 = 6;
/// The first lesion label: lesion `n` has `FIRST_LESION + n`.
pub const FIRST_LESION: u8 = 20;
/// The first lymph-node label.
pub const FIRST_NODE: u8 = 40;

/// Clearance between lesions and organ surfaces (mm).
const MARGIN: f64 = 2.0;

/// Where a lesion grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Organ {
    /// The left lung.
    LeftLung,
    /// The right lung.
    RightLung,
    /// The liver.
    Liver,
    /// The mediastinum.
    Mediastinum,
}

/// A chest–abdomen (LPS; the patient's left is +x).
#[derive(Clone, Debug, PartialEq)]
pub struct Torso {
    /// The skin surface.
    pub body: Ellipsoid,
    /// The inner surface of the subcutaneous fat.
    pub wall: Ellipsoid,
    /// Left and right lungs.
    pub lungs: [Ellipsoid; 2],
    /// The liver (on the right).
    pub liver: Ellipsoid,
    /// The mediastinum.
    pub mediastinum: Ellipsoid,
    /// The spine.
    pub spine: Ellipsoid,
}

impl Torso {
    /// A subject's torso: the template widened or narrowed by 0.92–1.10 in x and y.
    pub fn for_subject(rng: &mut Stream) -> Torso {
        let h = rng.range(0.92, 1.10);
        let e = |c: [f64; 3], s: [f64; 3]| {
            Ellipsoid::aligned([c[0] * h, c[1] * h, c[2]], [s[0] * h, s[1] * h, s[2]])
        };
        Torso {
            body: e([0.0; 3], [165.0, 115.0, 900.0]),
            wall: e([0.0; 3], [150.0, 100.0, 880.0]),
            lungs: [
                e([82.0, 5.0, 80.0], [52.0, 65.0, 100.0]),
                e([-82.0, 5.0, 80.0], [52.0, 65.0, 100.0]),
            ],
            liver: e([-55.0, 0.0, -80.0], [72.0, 55.0, 55.0]),
            mediastinum: e([0.0, -5.0, 85.0], [26.0, 50.0, 80.0]),
            spine: e([0.0, 75.0, 0.0], [16.0, 16.0, 300.0]),
        }
    }

    /// An organ's shape.
    pub fn organ(&self, organ: Organ) -> &Ellipsoid {
        match organ {
            Organ::LeftLung => &self.lungs[0],
            Organ::RightLung => &self.lungs[1],
            Organ::Liver => &self.liver,
            Organ::Mediastinum => &self.mediastinum,
        }
    }

    /// The torso with lesions `(label, organ, shape)` inside their organs.
    pub fn scene(&self, lesions: &[(u8, Organ, Ellipsoid)]) -> Scene {
        let inside = |organ: Organ| -> Vec<Node> {
            lesions
                .iter()
                .filter(|(_, o, _)| *o == organ)
                .map(|(l, _, e)| Node::leaf(e.clone(), *l))
                .collect()
        };
        let organs = vec![
            Node::with(self.lungs[0].clone(), LUNG, inside(Organ::LeftLung)),
            Node::with(self.lungs[1].clone(), LUNG, inside(Organ::RightLung)),
            Node::with(self.liver.clone(), LIVER, inside(Organ::Liver)),
            Node::with(
                self.mediastinum.clone(),
                MEDIASTINUM,
                inside(Organ::Mediastinum),
            ),
            Node::leaf(self.spine.clone(), BONE),
        ];
        Scene {
            roots: vec![Node::with(
                self.body.clone(),
                FAT,
                vec![Node::with(self.wall.clone(), SOFT_TISSUE, organs)],
            )],
        }
    }

    /// A shape of `semi` axes (turned at random about z) placed at random in `organ`, clear of
    /// `others` (each grown by the margin) at `largest` times its size.
    pub(crate) fn place(
        &self,
        organ: Organ,
        semi: [f64; 3],
        largest: f64,
        others: &[Ellipsoid],
        rng: &mut Stream,
    ) -> Result<Ellipsoid, PhantomError> {
        let o = self.organ(organ);
        for _ in 0..2000 {
            let u = [0; 3].map(|_| rng.range(-0.8, 0.8));
            let centre = [0, 1, 2].map(|a| o.centre_mm[a] + u[a] * o.semi_axes_mm[a]);
            let angle = rng.range(0.0, std::f64::consts::PI);
            let shape = Ellipsoid::turned_about_z(centre, semi, angle);
            if shape.scaled(largest).fits(o, others, MARGIN) {
                return Ok(shape);
            }
        }
        Err(PhantomError::Design(format!(
            "no room for a lesion of semi-axes {semi:?} mm in the {organ:?}"
        )))
    }
}

/// RECIST 1.1 at a visit, from the target lesions' exact diameters (long axes of lesions,
/// short axes of nodes) and the presence of new lesions; non-target lesions do not change the
/// response here.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecistTruth {
    /// The target lesions' IDs.
    pub targets: Vec<String>,
    /// Sum of their diameters (mm).
    pub sum_of_diameters_mm: f64,
    /// Change from the baseline sum (%).
    pub percent_change_from_baseline: Option<f64>,
    /// The smallest sum before this visit (mm).
    pub nadir_mm: Option<f64>,
    /// Change from it (%).
    pub percent_change_from_nadir: Option<f64>,
    /// Whether a lesion absent at baseline is present.
    pub new_lesions: bool,
    /// baseline, CR, PR, SD or PD.
    pub response: String,
}

/// A lesion over the visits.
struct Planned {
    id: String,
    label: u8,
    organ: Organ,
    kind: &'static str,
    shape: Ellipsoid,
    /// Scale of every semi-axis at each visit; 0 = absent.
    factors: [f64; 3],
    target: bool,
    node: bool,
}

/// The lesions and nodes of a subject (module documentation).
fn lesions(torso: &Torso, rng: &mut Stream) -> Result<Vec<Planned>, PhantomError> {
    let mut out: Vec<Planned> = Vec::new();
    let shrinking = |rng: &mut Stream| {
        let f2 = rng.range(0.75, 0.9);
        [1.0, f2, f2 * rng.range(0.75, 0.9)]
    };
    let growing = |rng: &mut Stream| [1.0, rng.range(1.05, 1.15), rng.range(1.25, 1.4)];
    let plan: [(Organ, &str, f64, f64, u8); 8] = [
        (Organ::LeftLung, "lung nodule", 7.0, 13.0, 0),
        (Organ::RightLung, "lung nodule", 7.0, 13.0, 0),
        (Organ::Liver, "liver metastasis", 9.0, 18.0, 0),
        (Organ::Liver, "liver metastasis", 8.0, 14.0, 1),
        (Organ::Liver, "liver metastasis", 4.0, 6.0, 2),
        (Organ::Mediastinum, "lymph node", 8.0, 9.5, 0),
        (Organ::Mediastinum, "lymph node", 5.5, 7.0, 3),
        (Organ::Mediastinum, "lymph node", 3.0, 4.2, 3),
    ];
    let (mut lesion_n, mut node_n) = (0u8, 0u8);
    for (organ, kind, lo, hi, course) in plan {
        let node = organ == Organ::Mediastinum;
        let r = rng.range(lo, hi);
        // Lesions: r is the long semi-axis; nodes: r is the short one.
        let semi = if node {
            let long = r * rng.range(1.2, 1.5);
            [long, r, long]
        } else {
            [r, r * rng.range(0.7, 0.95), r * rng.range(0.8, 1.1)]
        };
        let factors = match course {
            0 => shrinking(rng),
            1 => growing(rng),
            2 => [0.0, 0.0, 1.0],
            _ => [1.0; 3],
        };
        let largest = factors.iter().copied().fold(0.0, f64::max);
        let others: Vec<Ellipsoid> = out
            .iter()
            .map(|p| {
                p.shape
                    .scaled(p.factors.iter().copied().fold(0.0, f64::max))
            })
            .collect();
        let shape = torso.place(organ, semi, largest, &others, rng)?;
        let (id, label) = if node {
            node_n += 1;
            (format!("N{node_n}"), FIRST_NODE + node_n - 1)
        } else {
            lesion_n += 1;
            (format!("L{lesion_n}"), FIRST_LESION + lesion_n - 1)
        };
        let (long, short) = shape.axial_diameters_mm();
        let target = factors[0] > 0.0 && if node { short >= 15.0 } else { long >= 10.0 };
        out.push(Planned {
            id,
            label,
            organ,
            kind,
            shape,
            factors,
            target,
            node,
        });
    }
    Ok(out)
}

/// The CT tumour phantom.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    let voxel = options.voxel_mm.unwrap_or(Kind::CtTumor.default_voxel_mm());
    let seed = options.seed;
    let mut truth = truth_head(Kind::CtTumor, options, voxel);
    let mut series = Vec::new();
    for s in 0..options.subjects {
        let subject = format!("CT-{:03}", s + 1);
        let mut rng = Stream::new(seed, &format!("{subject}/anatomy"));
        let site = site(s, "CT");
        let patient = patient(&subject, &mut rng);
        let torso = Torso::for_subject(&mut rng);
        let planned = lesions(
            &torso,
            &mut Stream::new(seed, &format!("{subject}/lesions")),
        )?;
        let mut subject_t = subject_truth(&subject, &site, &patient);
        let first_date = add_days("20260202", 2 * s as i64);
        let mut sums: Vec<f64> = Vec::new();
        for (v, day) in [0i64, 56, 112].into_iter().enumerate() {
            let visit = format!("V{}", v + 1);
            let date = add_days(&first_date, day);
            let present: Vec<(&Planned, Ellipsoid)> = planned
                .iter()
                .filter(|p| p.factors[v] > 0.0)
                .map(|p| (p, p.shape.scaled(p.factors[v])))
                .collect();
            let scene = torso.scene(
                &present
                    .iter()
                    .map(|(p, e)| (p.label, p.organ, e.clone()))
                    .collect::<Vec<_>>(),
            );
            let mut names = label_names();
            for (p, _) in &present {
                names.insert(p.label, format!("{} {}", p.kind, p.id));
            }
            let mut structures = vec![StructureDef::new("liver", &[LIVER])];
            let tumour: Vec<u8> = present
                .iter()
                .filter(|(p, _)| !p.node)
                .map(|(p, _)| p.label)
                .collect();
            structures.push(StructureDef::new("lesions", &tumour));
            structures.extend(
                present
                    .iter()
                    .map(|(p, _)| StructureDef::measured(&p.id, &[p.label])),
            );
            let mut visit_t = visit_truth(&visit, &date, day, &scene, &names, &structures);
            visit_t.lesions = present
                .iter()
                .map(|(p, e)| {
                    let status = match (v, p.factors[0] > 0.0) {
                        (0, _) => "baseline",
                        (_, false) => "new",
                        _ if p.factors[v] > p.factors[v - 1] => "enlarging",
                        _ if p.factors[v] < p.factors[v - 1] => "shrinking",
                        _ => "stable",
                    };
                    LesionTruth::of(&p.id, p.label, p.kind, status, p.target, e)
                })
                .collect();
            visit_t.recist = Some(recist(&visit_t.lesions, &mut sums));
            subject_t.visits.push(visit_t);
            let spacing = [voxel, voxel, 1.25 * voxel];
            let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
            let extent = [
                2.0 * torso.body.semi_axes_mm[0] + 20.0,
                2.0 * torso.body.semi_axes_mm[1] + 20.0,
                320.0,
            ];
            let dims = [0, 1, 2].map(|a| cover(extent[a], spacing[a]));
            // From below the liver (z −135 mm) to the lung apices.
            let grid = grid_around([0.0, 0.0, 12.0], dims, eye, spacing)?;
            let time = clock(10 * 3600 + 1200 * s as u32);
            series.push(SeriesPlan {
                subject_index: s,
                visit_index: v,
                subject: subject.clone(),
                visit: visit.clone(),
                patient: patient.clone(),
                site: site.clone(),
                study_description: "CT CHEST ABDOMEN W CONTRAST".into(),
                study_date: date.clone(),
                study_time: time.clone(),
                info: ct_series(s, &date, time),
                grid,
                scenes: vec![scene],
                times_ms: Vec::new(),
                rr_interval_ms: None,
                ghost: None,
                label_names: names,
                values: hounsfield(&planned),
                structures,
                noise: Noise::Gaussian {
                    sigma: 12.0,
                    floor: -1024.0,
                },
                bias: None,
                blur_fwhm_mm: None,
                seed,
            });
        }
        truth.subjects.push(subject_t);
    }
    Ok(Plan { truth, series })
}

fn label_names() -> BTreeMap<u8, String> {
    BTreeMap::from(
        [
            (FAT, "subcutaneous fat"),
            (SOFT_TISSUE, "soft tissue"),
            (LUNG, "lung"),
            (LIVER, "liver"),
            (MEDIASTINUM, "mediastinal fat"),
            (BONE, "spine"),
        ]
        .map(|(l, n)| (l, n.to_owned())),
    )
}

/// Each label's CT number (HU); air is −1000.
fn hounsfield(planned: &[Planned]) -> BTreeMap<u8, f64> {
    let mut v = BTreeMap::from([
        (0, -1000.0),
        (FAT, -100.0),
        (SOFT_TISSUE, 40.0),
        (LUNG, -850.0),
        (LIVER, 60.0),
        (MEDIASTINUM, -80.0),
        (BONE, 700.0),
    ]);
    for p in planned {
        let hu = match p.organ {
            Organ::LeftLung | Organ::RightLung => 30.0,
            Organ::Liver => 15.0,
            Organ::Mediastinum => 45.0,
        };
        v.insert(p.label, hu);
    }
    v
}

/// RECIST 1.1 at a visit; `sums` holds the earlier visits' sums and gets this one's.
fn recist(lesions: &[LesionTruth], sums: &mut Vec<f64>) -> RecistTruth {
    let targets: Vec<&LesionTruth> = lesions.iter().filter(|l| l.target).collect();
    let sum: f64 = targets
        .iter()
        .map(|l| {
            if l.kind == "lymph node" {
                l.short_axis_mm
            } else {
                l.long_axis_mm
            }
        })
        .sum();
    let new_lesions = lesions.iter().any(|l| l.status == "new");
    let baseline = sums.first().copied();
    let nadir = sums.iter().copied().reduce(f64::min);
    let pct = |from: Option<f64>| from.map(|b| 100.0 * (sum - b) / b);
    let response = match (baseline, nadir) {
        (None, _) | (_, None) => "baseline",
        (Some(b), Some(n)) => {
            if new_lesions || (sum >= 1.2 * n && sum - n >= 5.0) {
                "PD"
            } else if sum == 0.0 {
                "CR"
            } else if sum <= 0.7 * b {
                "PR"
            } else {
                "SD"
            }
        }
    };
    let out = RecistTruth {
        targets: targets.iter().map(|l| l.id.clone()).collect(),
        sum_of_diameters_mm: sum,
        percent_change_from_baseline: pct(baseline),
        nadir_mm: nadir,
        percent_change_from_nadir: pct(nadir),
        new_lesions,
        response: response.into(),
    };
    sums.push(sum);
    out
}

/// The site's CT series as its scanner names it.
fn ct_series(site: usize, date: &str, time: String) -> SeriesInfo {
    let (description, protocol, kernel, kvp, ma) = [
        (
            "Thorax-Abdomen 2.0 Br40",
            "ThoraxAbdomen",
            "Br40d",
            120.0,
            210.0,
        ),
        (
            "CHEST ABD 2.5mm STND",
            "CHEST/ABD/PELVIS",
            "STANDARD",
            120.0,
            300.0,
        ),
        (
            "Chest-Abdomen iDose 2mm",
            "Chest-Abdomen",
            "B",
            100.0,
            180.0,
        ),
    ][site % 3];
    SeriesInfo {
        name: "CT".into(),
        number: 3,
        description: description.into(),
        protocol: protocol.into(),
        body_part: "CHEST".into(),
        date: date.to_owned(),
        time,
        acquisition: Acquisition::Ct(CtAcquisition {
            kvp,
            tube_current_ma: ma,
            kernel: kernel.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lesions_fit_their_organs_at_every_visit_and_recist_follows_the_design() {
        let options = Options {
            subjects: 3,
            ..Options::default()
        };
        let p = super::super::plan(Kind::CtTumor, &options).unwrap();
        for subject in &p.truth.subjects {
            let r: Vec<&RecistTruth> = subject
                .visits
                .iter()
                .map(|v| v.recist.as_ref().unwrap())
                .collect();
            assert_eq!(r[0].response, "baseline");
            assert_eq!(r[0].targets.len(), 5, "{:?}", r[0].targets);
            // Week 16: a new liver lesion, so progression whatever the sums.
            assert_eq!(r[2].response, "PD");
            assert!(subject.visits[2].lesions.iter().any(|l| l.status == "new"));
            let n1 = subject.visits[0]
                .lesions
                .iter()
                .find(|l| l.id == "N1")
                .unwrap();
            assert!(n1.short_axis_mm >= 15.0 && n1.target);
            let n3 = subject.visits[0]
                .lesions
                .iter()
                .find(|l| l.id == "N3")
                .unwrap();
            assert!(n3.short_axis_mm < 10.0 && !n3.target);
        }
    }
}
