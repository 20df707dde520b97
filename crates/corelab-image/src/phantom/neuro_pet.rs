//! The neuro PET/SPECT phantom: an amyloid PET (florbetapir) and a dopamine-transporter SPECT
//! (ioflupane, DaTscan) of one brain per subject, with the template-space images and regions
//! that `neuro.amyloid-centiloid` and `neuro.dat-sbr` read them with.
//!
//! **Anatomy** (LPS mm, template space): a head holding a cerebrum — a cortical shell 9 mm thick
//! around white matter that holds the caudates and putamina — and a cerebellum below and behind
//! it. Each subject is that anatomy moved by a rigid motion of a few degrees and millimetres
//! (drawn from the seed): what registration to the template has to undo.
//!
//! **Uptake** per label, as a ratio to the reference region (whole cerebellum for amyloid, the
//! brain background for DaT), drawn per subject around one of three patterns (subject 1 amyloid
//! positive with an asymmetric Parkinsonian DaT loss, subject 2 negative and normal, subject 3
//! in between), then blurred to the scanner's resolution (PET 6 mm, SPECT 10 mm FWHM) before
//! proportional noise. PET values are Bq/mL, SPECT values counts.
//!
//! **Templates** ([`templates`], written to `templates/` as NIfTI): the unmoved anatomy on a 2 mm
//! grid with a typical amyloid-negative and a healthy DaT pattern, blurred, noise-free; and the
//! regions: the cortical target (the cortex label) and the whole cerebellum, the four striatal
//! regions and an occipital reference (the cerebrum within an ellipsoid at the back).
//!
//! **Truth** ([`NeuroPetTruth`]): the ratios of the designed concentrations (what a perfect
//! camera would give), and the ratios a region-mean method can give at best: the subject's
//! noise-free blurred image at its own voxel size, brought into template space by the true
//! motion and averaged over the template regions. Partial volume (scanner blur and voxel size)
//! separates the two; the methods are held to the second, which leaves them registration and
//! noise as their own errors.

use super::{
    Acquisition, Ellipsoid, Kind, NmAcquisition, Node, Noise, Options, PetAcquisition,
    PhantomError, Plan, Scene, SeriesInfo, SeriesPlan, Stream, StructureDef, add_days,
    brain::clock, cover, grid_around, patient, rasterise, site, subject_truth, truth_head,
    visit_truth,
};
use crate::filters::gaussian;
use crate::geometry::Geometry;
use crate::resample::{Interpolation, resample_through};
use crate::volume::Volume;
use nalgebra::{Matrix3, Matrix4, Rotation3};
use ndarray::{Array3, Zip};
use serde::Serialize;
use std::collections::BTreeMap;

const SCALP: u8 = 1;
const CORTEX: u8 = 2;
const WHITE: u8 = 3;
const CEREBELLUM: u8 = 4;
/// The striatal labels: left caudate, right caudate, left putamen, right putamen.
const STRIATA: [u8; 4] = [5, 6, 7, 8];
/// The striatal regions' names, in [`STRIATA`]' order (the `neuro.dat-sbr` input roles).
pub const STRIATAL_REGIONS: [&str; 4] = [
    "left-caudate",
    "right-caudate",
    "left-putamen",
    "right-putamen",
];

/// Scanner resolutions (FWHM, mm).
pub const PET_FWHM_MM: f64 = 6.0;
/// See [`PET_FWHM_MM`].
pub const SPECT_FWHM_MM: f64 = 10.0;
/// The tracer of the amyloid series (the `neuro.amyloid-centiloid` `tracer` parameter).
pub const TRACER: &str = "florbetapir";
/// Voxel sizes (mm) of the series (the PET's unless `--voxel-mm` says) and of the template grid.
const PET_VOXEL_MM: f64 = 2.0;
const SPECT_VOXEL_MM: f64 = 4.0;
const TEMPLATE_VOXEL_MM: f64 = 2.0;
/// Whole-cerebellum activity concentration in the PET (Bq/mL), and brain background counts in
/// the SPECT.
const PET_REFERENCE_BQML: f64 = 6000.0;
const SPECT_BACKGROUND: f64 = 40.0;

fn e(centre: [f64; 3], semi: [f64; 3]) -> Ellipsoid {
    Ellipsoid::aligned(centre, semi)
}

/// The anatomy in template space.
fn anatomy() -> Scene {
    // +x is the patient's left.
    let striata = [
        e([13.0, -12.0, 12.0], [5.0, 11.0, 8.0]),
        e([-13.0, -12.0, 12.0], [5.0, 11.0, 8.0]),
        e([26.0, -2.0, 0.0], [5.5, 14.0, 9.0]),
        e([-26.0, -2.0, 0.0], [5.5, 14.0, 9.0]),
    ];
    let white = Node::with(
        e([0.0, 0.0, 18.0], [57.0, 75.0, 41.0]),
        WHITE,
        striata
            .into_iter()
            .zip(STRIATA)
            .map(|(s, l)| Node::leaf(s, l))
            .collect(),
    );
    let cerebrum = Node::with(e([0.0, 0.0, 18.0], [66.0, 84.0, 50.0]), CORTEX, vec![white]);
    let cerebellum = Node::leaf(e([0.0, 52.0, -50.0], [44.0, 26.0, 17.0]), CEREBELLUM);
    Scene {
        roots: vec![Node::with(
            e([0.0, 5.0, -5.0], [82.0, 102.0, 88.0]),
            SCALP,
            vec![cerebrum, cerebellum],
        )],
    }
}

/// The occipital reference region of the DaT SPECT: the cerebrum (cortex and white matter)
/// within this ellipsoid.
fn occipital() -> Ellipsoid {
    e([0.0, 70.0, 20.0], [36.0, 12.0, 22.0])
}

fn moved(node: &Node, r: &Matrix3<f64>, shift: [f64; 3]) -> Node {
    Node {
        shape: node.shape.moved(r, [0.0; 3], shift),
        label: node.label,
        children: node.children.iter().map(|c| moved(c, r, shift)).collect(),
    }
}

/// A subject's rigid head motion: `x ↦ R·x + shift` from template to subject space.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Motion {
    /// Rotations about x, y and z (degrees), applied in that order.
    pub rotation_deg: [f64; 3],
    /// Translation (mm).
    pub shift_mm: [f64; 3],
}

impl Motion {
    fn matrix(&self) -> Matrix3<f64> {
        let [a, b, c] = self.rotation_deg.map(f64::to_radians);
        *Rotation3::from_euler_angles(a, b, c).matrix()
    }
}

/// Uptake ratios of one subject (or a template).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Uptake {
    /// Amyloid PET: cortex / whole cerebellum.
    pub amyloid_cortex: f64,
    /// Amyloid PET: white matter / whole cerebellum (non-specific white-matter binding).
    pub amyloid_white: f64,
    /// DaT SPECT: each striatal region / brain background, in [`STRIATAL_REGIONS`]' order.
    pub dat_striata: [f64; 4],
}

impl Uptake {
    /// Amyloid PET concentration (Bq/mL) of each label.
    fn amyloid(&self) -> BTreeMap<u8, f64> {
        let mut v = BTreeMap::from([
            (SCALP, 0.3),
            (CORTEX, self.amyloid_cortex),
            (WHITE, self.amyloid_white),
            (CEREBELLUM, 1.0),
        ]);
        for l in STRIATA {
            v.insert(l, 0.5 * (self.amyloid_cortex + self.amyloid_white));
        }
        v.into_iter()
            .map(|(l, r)| (l, r * PET_REFERENCE_BQML))
            .collect()
    }

    /// DaT SPECT counts of each label.
    fn dat(&self) -> BTreeMap<u8, f64> {
        let mut v = BTreeMap::from([
            (SCALP, 0.25),
            (CORTEX, 1.0),
            (WHITE, 1.0),
            (CEREBELLUM, 1.0),
        ]);
        for (l, r) in STRIATA.iter().zip(self.dat_striata) {
            v.insert(*l, r);
        }
        v.into_iter()
            .map(|(l, r)| (l, r * SPECT_BACKGROUND))
            .collect()
    }
}

/// The templates' patterns: a typical amyloid-negative PET and a healthy DaT SPECT.
const TEMPLATE: Uptake = Uptake {
    amyloid_cortex: 1.02,
    amyloid_white: 1.5,
    dat_striata: [5.0, 5.0, 5.0, 5.0],
};

/// What is known of a subject's neuro PET/SPECT visit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NeuroPetTruth {
    /// Template space to subject space.
    pub motion: Motion,
    /// The designed uptake ratios.
    pub uptake: Uptake,
    /// The amyloid tracer (`neuro.amyloid-centiloid`'s `tracer`).
    pub tracer: String,
    /// Cortex / whole cerebellum of the concentrations.
    pub suvr_concentration: f64,
    /// Mean over the cortical target / mean over the whole cerebellum of the subject's noise-free
    /// PET (blurred, on its own grid) brought into template space by the true motion: what a
    /// region-mean SUVR gives with a perfect registration and no noise.
    pub suvr: f64,
    /// The SBRs of the concentrations, (region − background) / background, by region name
    /// (the four striatal regions).
    pub sbr_concentration: BTreeMap<String, f64>,
    /// The SBRs a region-mean method can give (the noise-free SPECT as `suvr`'s PET): the four
    /// regions, `left-striatum` and `right-striatum`.
    pub sbr: BTreeMap<String, f64>,
    /// `200 |L − R| / (L + R)` (%) of the putamen and caudate SBRs in `sbr`.
    pub asymmetry_putamen_percent: f64,
    /// See `asymmetry_putamen_percent`.
    pub asymmetry_caudate_percent: f64,
}

/// The template grid: 2 mm, covering the head.
pub fn template_grid() -> Result<Geometry, PhantomError> {
    let dims = [170.0, 210.0, 180.0].map(|x| cover(x, TEMPLATE_VOXEL_MM));
    let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    grid_around([0.0, 5.0, -5.0], dims, eye, [TEMPLATE_VOXEL_MM; 3])
}

/// A noise-free image of `scene` with `values`, blurred to `fwhm_mm`, on `grid`.
fn blurred(
    scene: &Scene,
    grid: &Geometry,
    values: &BTreeMap<u8, f64>,
    fwhm_mm: f64,
    subsamples: usize,
) -> Array3<f32> {
    let image = rasterise(scene, grid, subsamples)
        .image(|l| values.get(&l).copied().unwrap_or(0.0))
        .mapv(|v| v as f32);
    gaussian(&image, grid.spacing(), sigma_of(fwhm_mm))
}

/// σ of a Gaussian of full width at half maximum `fwhm`.
pub(crate) fn sigma_of(fwhm: f64) -> f64 {
    fwhm / (8.0 * 2f64.ln()).sqrt()
}

/// The template regions on `grid`, by name: `cortex` and `whole-cerebellum` (amyloid),
/// [`STRIATAL_REGIONS`] and `occipital` (DaT). Each holds the voxels at least half inside.
fn regions(grid: &Geometry, subsamples: usize) -> Vec<(String, Array3<bool>)> {
    let r = rasterise(&anatomy(), grid, subsamples);
    let mask = |labels: &[u8]| r.mask(labels).mapv(|m| m == 1);
    let mut out = vec![
        ("cortex".to_owned(), mask(&[CORTEX])),
        ("whole-cerebellum".to_owned(), mask(&[CEREBELLUM])),
    ];
    for (name, l) in STRIATAL_REGIONS.iter().zip(STRIATA) {
        out.push(((*name).to_owned(), mask(&[l])));
    }
    let cerebrum = mask(&[CORTEX, WHITE]);
    let back = occipital();
    let mut occ = cerebrum;
    for ((i, j, k), v) in occ.indexed_iter_mut() {
        *v = *v && back.contains(grid.to_patient([i as f64, j as f64, k as f64]));
    }
    out.push(("occipital".to_owned(), occ));
    out
}

/// The template images and regions: `amyloid-template`, `dat-template` (float images) and each
/// region of [`regions`] as a 0/1 mask, all on [`template_grid`].
pub fn templates(subsamples: usize) -> Result<Vec<(String, Volume<f32>)>, PhantomError> {
    let grid = template_grid()?;
    let scene = anatomy();
    let vol = |data: Array3<f32>| {
        Volume::new(data, grid.clone()).map_err(|e| PhantomError::Design(e.to_string()))
    };
    let mut out = vec![
        (
            "amyloid-template".to_owned(),
            vol(blurred(
                &scene,
                &grid,
                &TEMPLATE.amyloid(),
                PET_FWHM_MM,
                subsamples,
            ))?,
        ),
        (
            "dat-template".to_owned(),
            vol(blurred(
                &scene,
                &grid,
                &TEMPLATE.dat(),
                SPECT_FWHM_MM,
                subsamples,
            ))?,
        ),
    ];
    for (name, mask) in regions(&grid, subsamples) {
        out.push((name, vol(mask.mapv(|m| f32::from(u8::from(m))))?));
    }
    Ok(out)
}

fn mean_over(v: &Array3<f32>, m: &Array3<bool>) -> f64 {
    let (s, n) = Zip::from(v).and(m).fold((0.0, 0usize), |(s, n), v, m| {
        if *m {
            (s + f64::from(*v), n + 1)
        } else {
            (s, n)
        }
    });
    s / n.max(1) as f64
}

fn asymmetry(l: f64, r: f64) -> f64 {
    if l + r > 0.0 {
        200.0 * (l - r).abs() / (l + r)
    } else {
        0.0
    }
}

/// The region-mean truth of a subject (module documentation): its noise-free blurred PET and
/// SPECT on their own grids (as rendered, without the noise), resampled onto the template grid
/// through the true motion, averaged over the template regions. That is what a method gives with
/// a perfect registration and no noise: the scanners' resolution and voxel size are in it, the
/// method's errors are not.
/// `space`: the template grid and its regions, the same for every subject.
fn measured_truth(
    uptake: &Uptake,
    scene: &Scene,
    motion: &Motion,
    grids: [&Geometry; 2],
    space: &(Geometry, BTreeMap<String, Array3<bool>>),
    subsamples: usize,
) -> Result<(f64, BTreeMap<String, f64>), PhantomError> {
    let (grid, regions) = space;
    let region = |name: &str| {
        regions
            .get(name)
            .ok_or_else(|| PhantomError::Design(format!("no region {name}")))
    };
    let mut template_to_subject = Matrix4::identity();
    template_to_subject
        .fixed_view_mut::<3, 3>(0, 0)
        .copy_from(&motion.matrix());
    for a in 0..3 {
        template_to_subject[(a, 3)] = motion.shift_mm[a];
    }
    let in_template = |values: &BTreeMap<u8, f64>, fwhm: f64, on: &Geometry| {
        let image = Volume::new(blurred(scene, on, values, fwhm, subsamples), on.clone())
            .map_err(|e| PhantomError::Design(e.to_string()))?;
        resample_through(
            &image,
            grid,
            &template_to_subject,
            Interpolation::Trilinear,
            0.0,
        )
        .map(|v| v.data)
        .map_err(|e| PhantomError::Design(e.to_string()))
    };
    let pet = in_template(&uptake.amyloid(), PET_FWHM_MM, grids[0])?;
    let suvr = mean_over(&pet, region("cortex")?) / mean_over(&pet, region("whole-cerebellum")?);
    let spect = in_template(&uptake.dat(), SPECT_FWHM_MM, grids[1])?;
    let background = mean_over(&spect, region("occipital")?);
    let mut sbr = BTreeMap::new();
    for name in STRIATAL_REGIONS {
        sbr.insert(
            name.to_owned(),
            (mean_over(&spect, region(name)?) - background) / background,
        );
    }
    for side in ["left", "right"] {
        let union = Zip::from(region(&format!("{side}-caudate"))?)
            .and(region(&format!("{side}-putamen"))?)
            .map_collect(|a, b| *a || *b);
        sbr.insert(
            format!("{side}-striatum"),
            (mean_over(&spect, &union) - background) / background,
        );
    }
    Ok((suvr, sbr))
}

/// The neuro PET/SPECT phantom: one screening visit per subject, with an amyloid PET and a DaT
/// SPECT.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    let seed = options.seed;
    let pet_voxel = options.voxel_mm.unwrap_or(PET_VOXEL_MM);
    let mut truth = truth_head(Kind::NeuroPet, options, pet_voxel);
    truth.notes.push(format!(
        "neuro-pet: the templates/ folder holds the template images and regions (NIfTI, 2 mm); PET blurred to {PET_FWHM_MM} mm and SPECT to {SPECT_FWHM_MM} mm FWHM before noise; suvr and sbr are region means of the noise-free blurred image in template space"
    ));
    let mut series = Vec::new();
    let template = anatomy();
    let grid = template_grid()?;
    let space = (
        grid.clone(),
        regions(&grid, options.subsamples).into_iter().collect(),
    );
    for s in 0..options.subjects {
        let subject = format!("NP-{:03}", s + 1);
        let mut rng = Stream::new(seed, &format!("{subject}/anatomy"));
        let pet_site = site(s, "PT");
        let nm_site = site(s, "NM");
        let patient = patient(&subject, &mut rng);
        let motion = Motion {
            rotation_deg: [0, 1, 2].map(|_| rng.range(-6.0, 6.0)),
            shift_mm: [0, 1, 2].map(|_| rng.range(-8.0, 8.0)),
        };
        let mut urng = Stream::new(seed, &format!("{subject}/uptake"));
        let jitter = |rng: &mut Stream, v: f64| v * rng.range(0.95, 1.05);
        // Positive and Parkinsonian (right putamen lost most); negative and normal; in between.
        let (cortex, striata) = match s % 3 {
            0 => (1.55, [3.6, 3.2, 2.8, 1.7]),
            1 => (1.0, [5.0, 5.0, 4.8, 4.9]),
            _ => (1.25, [4.2, 4.0, 3.4, 3.0]),
        };
        let uptake = Uptake {
            amyloid_cortex: jitter(&mut urng, cortex),
            amyloid_white: jitter(&mut urng, 1.5),
            dat_striata: striata.map(|v| jitter(&mut urng, v)),
        };
        let r = motion.matrix();
        let scene = Scene {
            roots: template
                .roots
                .iter()
                .map(|n| moved(n, &r, motion.shift_mm))
                .collect(),
        };
        let names: BTreeMap<u8, String> = [
            (SCALP, "scalp and skull"),
            (CORTEX, "cortex"),
            (WHITE, "white matter"),
            (CEREBELLUM, "cerebellum"),
        ]
        .into_iter()
        .chain(STRIATAL_REGIONS.iter().zip(STRIATA).map(|(n, l)| (l, *n)))
        .map(|(l, n)| (l, n.to_owned()))
        .collect();
        let mut structures = vec![
            StructureDef::new("cortex", &[CORTEX]),
            StructureDef::new("white", &[WHITE]),
            StructureDef::new("cerebellum", &[CEREBELLUM]),
        ];
        structures.extend(
            STRIATAL_REGIONS
                .iter()
                .zip(STRIATA)
                .map(|(n, l)| StructureDef::new(n, &[l])),
        );
        let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let pet_grid = grid_around(
            [0.0, 5.0, -5.0],
            [240.0, 256.0, 200.0].map(|x| cover(x, pet_voxel)),
            eye,
            [pet_voxel; 3],
        )?;
        let spect_grid = grid_around(
            [0.0, 5.0, -5.0],
            [256.0, 256.0, 208.0].map(|x| cover(x, SPECT_VOXEL_MM)),
            eye,
            [SPECT_VOXEL_MM; 3],
        )?;
        let (suvr, sbr) = measured_truth(
            &uptake,
            &scene,
            &motion,
            [&pet_grid, &spect_grid],
            &space,
            options.subsamples,
        )?;
        let date = add_days("20260511", s as i64);
        let mut visit_t = visit_truth("screening", &date, 0, &scene, &names, &structures);
        let concentration = |r: f64| r - 1.0;
        visit_t.neuro_pet = Some(NeuroPetTruth {
            motion: motion.clone(),
            uptake: uptake.clone(),
            tracer: TRACER.into(),
            suvr_concentration: uptake.amyloid_cortex,
            suvr,
            sbr_concentration: STRIATAL_REGIONS
                .iter()
                .zip(uptake.dat_striata)
                .map(|(n, r)| ((*n).to_owned(), concentration(r)))
                .collect(),
            asymmetry_putamen_percent: asymmetry(sbr["left-putamen"], sbr["right-putamen"]),
            asymmetry_caudate_percent: asymmetry(sbr["left-caudate"], sbr["right-caudate"]),
            sbr,
        });
        let mut subject_t = subject_truth(&subject, &pet_site, &patient);
        subject_t.visits.push(visit_t);
        truth.subjects.push(subject_t);

        // Amyloid PET in the morning (50 minutes after injection, 20-minute scan), DaT SPECT in
        // the afternoon (ioflupane injected 3 h 30 min before).
        let injection_s = 8 * 3600 + 20 * 60 + (rng.uniform() * 900.0) as u32;
        let pet_start = injection_s + 50 * 60;
        let half_life_s = 6586.2;
        let dose_bq = (370.0 + rng.range(-20.0, 20.0)).round() * 1e6;
        let spect_injection = 11 * 3600 + (rng.uniform() * 900.0) as u32;
        let spect_start = spect_injection + 3 * 3600 + 30 * 60;
        let base = SeriesPlan {
            subject_index: s,
            visit_index: 0,
            subject: subject.clone(),
            visit: "screening".into(),
            patient: patient.clone(),
            site: pet_site.clone(),
            study_description: "PET BRAIN AMYLOID".into(),
            study_date: date.clone(),
            study_time: clock(pet_start),
            info: SeriesInfo {
                name: "AMYLOID".into(),
                number: 3,
                description: ["Brain Amyloid AC", "AMYLOID 3D MAC", "Brain_AV45 CTAC"][s % 3]
                    .into(),
                protocol: "PET Brain Florbetapir".into(),
                body_part: "BRAIN".into(),
                date: date.clone(),
                time: clock(pet_start),
                acquisition: Acquisition::Pt(PetAcquisition::f18_static(
                    "Florbetapir F^18^",
                    format!("{date}{}", clock(injection_s)),
                    dose_bq,
                    half_life_s,
                    1_200_000,
                )),
            },
            grid: pet_grid,
            scenes: vec![scene.clone()],
            times_ms: Vec::new(),
            rr_interval_ms: None,
            ghost: None,
            label_names: names.clone(),
            values: uptake.amyloid(),
            structures: structures.clone(),
            noise: Noise::Proportional { cov: 0.1 },
            bias: None,
            blur_fwhm_mm: Some(PET_FWHM_MM),
            seed,
        };
        let spect = SeriesPlan {
            site: nm_site,
            study_description: "NM BRAIN DATSCAN".into(),
            study_time: clock(spect_start),
            info: SeriesInfo {
                name: "DAT".into(),
                number: 5,
                description: ["DaTSCAN OSEM AC", "DAT SPECT Recon", "DaTscan_Tomo_IRAC"][s % 3]
                    .into(),
                protocol: "Brain DaTSCAN".into(),
                body_part: "BRAIN".into(),
                date: date.clone(),
                time: clock(spect_start),
                acquisition: Acquisition::Nm(NmAcquisition {
                    radiopharmaceutical: "Ioflupane I^123^".into(),
                    radionuclide: "^123^Iodine".into(),
                    injection_datetime: format!("{date}{}", clock(spect_injection)),
                    dose_bq: (185.0 + rng.range(-10.0, 10.0)).round() * 1e6,
                    half_life_s: 47_602.8,
                    energy_window: "I123".into(),
                }),
            },
            grid: spect_grid,
            values: uptake.dat(),
            noise: Noise::Proportional { cov: 0.15 },
            blur_fwhm_mm: Some(SPECT_FWHM_MM),
            ..base.clone()
        };
        series.push(base);
        series.push(spect);
    }
    Ok(Plan { truth, series })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_holds_and_partial_volume_lowers_the_ratios_a_region_mean_can_give() {
        anatomy().check().unwrap();
        let p = super::super::plan(Kind::NeuroPet, &Options::default()).unwrap();
        assert_eq!(p.series.len(), 4);
        for subject in &p.truth.subjects {
            let t = subject.visits[0].neuro_pet.as_ref().unwrap();
            // Blurring white matter (above the cerebellum) into the thin cortex raises a negative
            // SUVR and lowers a positive one towards it; striatal SBRs always fall.
            assert!((t.suvr - t.suvr_concentration).abs() < 0.3, "{t:?}");
            for (name, c) in &t.sbr_concentration {
                assert!(t.sbr[name] < *c && t.sbr[name] > 0.2 * c, "{name}: {t:?}");
            }
        }
        let first = p.truth.subjects[0].visits[0].neuro_pet.as_ref().unwrap();
        assert!(first.asymmetry_putamen_percent > 20.0);
    }

    #[test]
    fn templates_and_regions_share_one_grid_and_the_regions_are_disjoint_where_they_must_be() {
        let t = templates(1).unwrap();
        let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "amyloid-template",
                "dat-template",
                "cortex",
                "whole-cerebellum",
                "left-caudate",
                "right-caudate",
                "left-putamen",
                "right-putamen",
                "occipital"
            ]
        );
        let grid = &t[0].1.geometry;
        assert!(t.iter().all(|(_, v)| v.geometry == *grid));
        for (name, region) in &t[2..] {
            let voxels = region.data.iter().filter(|v| **v > 0.5).count();
            assert!(voxels > 50, "{name} is nearly empty");
        }
    }
}
