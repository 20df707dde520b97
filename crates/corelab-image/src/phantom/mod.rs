//! Digital phantoms with exact truth (`docs/phantoms.md`): subjects scanned at several sites,
//! each visit a set of series, each series a grid on which a scene of analytic shapes
//! ([`raster`]) is rasterised with partial-volume fractions, given the intensities of a contrast,
//! multiplied by a smooth bias field (MR) and made noisy with a seeded random stream ([`noise`]).
//!
//! The truth of every structure is stated three ways, so a test can hold an algorithm to the
//! tolerance its question needs: the **analytic** volume of the shapes; the **partial-volume**
//! volume at the series' own resolution (the sum of the voxels' fractions × the voxel volume);
//! and the **mask** volume (voxels whose fraction is at least one half × the voxel volume), with
//! the mask itself written as NIfTI.
//!
//! This module plans and renders; it writes nothing. `corelab_dicom::phantom` writes the series
//! as DICOM with the headers of [`SeriesPlan`], the masks as NIfTI and the truth as JSON.
//!
//! ```
//! use corelab_image::phantom::{Kind, Options, plan};
//! let p = plan(Kind::Pet, &Options { subjects: 1, ..Options::default() }).unwrap();
//! assert_eq!(p.series.len(), 1);
//! ```

pub mod acquisition;
pub mod brain;
pub mod cardiac;
pub mod ct_tumor;
pub mod glioma;
pub mod lge;
pub mod ms_lesions;
pub mod neuro_pet;
pub mod noise;
pub mod pet;
pub mod qc;
pub mod raster;
pub mod truth;

pub(crate) use acquisition::patient;
pub use acquisition::{
    Acquisition, CtAcquisition, MrAcquisition, NmAcquisition, Patient, PetAcquisition, SeriesInfo,
    Site, site,
};
pub use noise::{BiasField, Noise, Stream};
pub use raster::{Ellipsoid, Node, Rasterised, Scene, rasterise};
pub use truth::{
    LabelTruth, LesionTruth, SeriesStructureTruth, SeriesTruth, ShapeTruth, StructureTruth,
    SubjectTruth, Truth, VisitTruth,
};

use crate::geometry::Geometry;
use crate::volume::Volume;
use ndarray::{Array3, ShapeBuilder};
use serde::Serialize;
use std::collections::BTreeMap;

/// The kinds of phantom built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// T1-weighted and FLAIR head MR: CSF, grey and white matter of known volumes; with an
    /// atrophy percentage, a second visit whose brain volume is smaller by exactly that.
    Brain,
    /// The brain with white-matter lesions of known count and volume; a follow-up with new and
    /// enlarging lesions.
    MsLesions,
    /// Chest–abdomen CT with lung and liver lesions of known diameters and volumes over three
    /// visits, and lymph nodes of known short axes.
    CtTumor,
    /// FDG PET of the torso with known activity concentrations, dose, body size and times, so
    /// known SUVs.
    Pet,
    /// A cine short-axis MR stack through a beating left ventricle of known end-diastolic and
    /// end-systolic volumes.
    Cardiac,
    /// Image-quality test objects: known SNR, N/2 ghosting and head motion.
    Qc,
    /// Amyloid PET and DaT SPECT of the brain with known uptake ratios, and the template images
    /// and regions (`templates/`) they are quantified with.
    NeuroPet,
    /// Axial T1-weighted MR after gadolinium of the brain with contrast-enhancing glioma of known
    /// perpendicular diameters over four visits 8 weeks apart, with the clinical items RANO
    /// reads beside them.
    Glioma,
}

impl Kind {
    /// Every kind, in the order of the documentation.
    pub const ALL: [Kind; 8] = [
        Kind::Brain,
        Kind::MsLesions,
        Kind::CtTumor,
        Kind::Pet,
        Kind::Cardiac,
        Kind::Qc,
        Kind::NeuroPet,
        Kind::Glioma,
    ];

    /// The command-line name (`ct-tumor`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Brain => "brain",
            Kind::MsLesions => "ms-lesions",
            Kind::CtTumor => "ct-tumor",
            Kind::Pet => "pet",
            Kind::Cardiac => "cardiac",
            Kind::Qc => "qc",
            Kind::NeuroPet => "neuro-pet",
            Kind::Glioma => "glioma",
        }
    }

    /// A kind by its command-line name.
    pub fn parse(name: &str) -> Result<Kind, PhantomError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| PhantomError::Option {
                option: "KIND",
                value: name.to_owned(),
                why: format!(
                    "unknown phantom kind; one of {}",
                    Kind::ALL.map(Kind::name).join(", ")
                ),
            })
    }

    /// The default voxel size (mm): small enough to be realistic, large enough for fast tests.
    pub fn default_voxel_mm(self) -> f64 {
        match self {
            Kind::Brain
            | Kind::MsLesions
            | Kind::CtTumor
            | Kind::Cardiac
            | Kind::Qc
            | Kind::NeuroPet
            | Kind::Glioma => 2.0,
            Kind::Pet => 4.0,
        }
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The seed of every random stream (anatomy, lesions, noise).
    pub seed: u64,
    /// How many subjects (each at a site in turn).
    pub subjects: usize,
    /// The in-plane voxel size (mm); the kind's default when `None` (1 for a full-resolution
    /// brain).
    pub voxel_mm: Option<f64>,
    /// Brain and MS: a second visit with this percentage of brain volume lost.
    pub atrophy_percent: Option<f64>,
    /// Samples per voxel along each axis for the partial-volume fractions (`n³` in all).
    pub subsamples: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 1,
            subjects: 2,
            voxel_mm: None,
            atrophy_percent: None,
            subsamples: 4,
        }
    }
}

impl Options {
    fn check(&self) -> Result<(), PhantomError> {
        let bad = |option, value: String, why: &str| {
            Err(PhantomError::Option {
                option,
                value,
                why: why.to_owned(),
            })
        };
        if !(1..=99).contains(&self.subjects) {
            return bad("--subjects", self.subjects.to_string(), "from 1 to 99");
        }
        if let Some(v) = self.voxel_mm
            && !(v.is_finite() && (0.5..=8.0).contains(&v))
        {
            return bad("--voxel-mm", v.to_string(), "from 0.5 to 8 mm");
        }
        if let Some(a) = self.atrophy_percent
            && !(a.is_finite() && (0.0..=10.0).contains(&a))
        {
            return bad(
                "--atrophy",
                a.to_string(),
                "a percentage of brain volume from 0 to 10",
            );
        }
        if !(1..=8).contains(&self.subsamples) {
            return bad(
                "--subsamples",
                self.subsamples.to_string(),
                "from 1 to 8 per axis",
            );
        }
        Ok(())
    }
}

/// A phantom that cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PhantomError {
    /// An option out of range, or an unknown kind.
    #[error("{option} {value:?}: {why}")]
    Option {
        /// The option.
        option: &'static str,
        /// What was given.
        value: String,
        /// What is allowed.
        why: String,
    },
    /// The design broke one of its own rules (a bug, reported rather than drawn wrong).
    #[error("phantom design: {0}")]
    Design(String),
}

/// The phantom of `kind`: its series to render and the truth known before rendering.
pub fn plan(kind: Kind, options: &Options) -> Result<Plan, PhantomError> {
    options.check()?;
    let plan = match kind {
        Kind::Brain => brain::plan(options)?,
        Kind::MsLesions => ms_lesions::plan(options)?,
        Kind::CtTumor => ct_tumor::plan(options)?,
        Kind::Pet => pet::plan(options)?,
        Kind::Cardiac => cardiac::plan(options)?,
        Kind::Qc => qc::plan(options)?,
        Kind::NeuroPet => neuro_pet::plan(options)?,
        Kind::Glioma => glioma::plan(options)?,
    };
    for s in &plan.series {
        for scene in &s.scenes {
            scene
                .check()
                .map_err(|e| PhantomError::Design(format!("{}: {e}", s.path())))?;
        }
    }
    Ok(plan)
}

/// A phantom before rendering.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The truth, its series lists empty until each series is rendered.
    pub truth: Truth,
    /// Every series, subject by subject, visit by visit.
    pub series: Vec<SeriesPlan>,
}

/// A named group of labels whose truth is reported (and whose mask is written).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StructureDef {
    /// Its name in truth.json and in the mask's file name.
    pub name: String,
    /// The scene labels it is made of.
    pub labels: Vec<u8>,
    /// Whether to measure the mask's largest in-plane diameters (lesions, nodes).
    #[serde(skip)]
    pub diameters: bool,
}

impl StructureDef {
    /// A structure of some labels.
    pub fn new(name: &str, labels: &[u8]) -> Self {
        Self {
            name: name.to_owned(),
            labels: labels.to_vec(),
            diameters: false,
        }
    }

    /// A lesion-like structure whose diameters are measured.
    pub fn measured(name: &str, labels: &[u8]) -> Self {
        Self {
            diameters: true,
            ..Self::new(name, labels)
        }
    }
}

/// One series to render.
#[derive(Clone, Debug)]
pub struct SeriesPlan {
    /// Index into `truth.subjects`.
    pub subject_index: usize,
    /// Index into that subject's visits.
    pub visit_index: usize,
    /// The subject's ID (the folder name).
    pub subject: String,
    /// The visit (the folder name).
    pub visit: String,
    /// Who was scanned.
    pub patient: Patient,
    /// Where.
    pub site: Site,
    /// (0008,1030) Study Description.
    pub study_description: String,
    /// Study date (YYYYMMDD) and time (HHMMSS).
    pub study_date: String,
    /// Study time.
    pub study_time: String,
    /// The series' header.
    pub info: SeriesInfo,
    /// The grid.
    pub grid: Geometry,
    /// What is imaged: one scene, or one per temporal position of a cine series.
    pub scenes: Vec<Scene>,
    /// A series of several scenes, the time of each (ms): a cine series' trigger times after
    /// the R wave, a dynamic series' times after its start.
    pub times_ms: Vec<f64>,
    /// A cine series: the R–R interval (ms); `None` for a dynamic series.
    pub rr_interval_ms: Option<f64>,
    /// A Nyquist (N/2) ghost added before the noise.
    pub ghost: Option<Ghost>,
    /// Each label's name.
    pub label_names: BTreeMap<u8, String>,
    /// Each label's value in this contrast (image units; absent labels are 0).
    pub values: BTreeMap<u8, f64>,
    /// Whose truth is reported.
    pub structures: Vec<StructureDef>,
    /// The noise.
    pub noise: Noise,
    /// The multiplicative bias field, if any.
    pub bias: Option<BiasField>,
    /// A Gaussian blur (FWHM, mm) applied before the noise: an emission scanner's resolution.
    pub blur_fwhm_mm: Option<f64>,
    /// The phantom's seed.
    pub seed: u64,
}

/// An N/2 ghost, as an EPI or a gradient-echo acquisition with inconsistent even and odd echoes
/// makes: the image plus `amplitude` × itself shifted by half the field of view along the
/// phase-encoding direction (j, down the rows: DICOM's COL), wrapping around.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ghost {
    /// Ghost signal / object signal.
    pub amplitude: f64,
}

impl Ghost {
    /// `image + amplitude × image shifted by half the rows`.
    fn apply(&self, image: &Array3<f64>) -> Array3<f64> {
        let (_, nj, _) = image.dim();
        let mut out = image.clone();
        for ((i, j, k), v) in out.indexed_iter_mut() {
            *v += self.amplitude * image[[i, (j + nj / 2) % nj, k]];
        }
        out
    }
}

/// A rendered series: its images, truth masks and truth.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The image of each temporal position (one for most series), in the modality's units (MR
    /// a.u., HU, Bq/mL).
    pub images: Vec<Volume<f32>>,
    /// One binary mask per structure (and temporal position), named as in its `mask_file`
    /// without the prefix and extension.
    pub masks: Vec<(String, Volume<u8>)>,
    /// The bias field on the grid (MR).
    pub bias: Option<Volume<f32>>,
    /// The series' truth (its `series_instance_uid` left for the writer).
    pub truth: SeriesTruth,
}

impl SeriesPlan {
    /// `subject/visit/series`: where its files go, and how errors name it.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.subject, self.visit, self.info.name)
    }

    /// The prefix of its truth files: `truth/SUBJECT_VISIT_SERIES_`.
    pub fn truth_prefix(&self) -> String {
        format!("truth/{}_{}_{}_", self.subject, self.visit, self.info.name)
    }

    /// Rasterises, biases and adds noise, with `subsamples` per voxel and axis.
    pub fn render(&self, subsamples: usize) -> Result<Rendered, PhantomError> {
        if self.structures.len() > 64 {
            return Err(PhantomError::Design(format!(
                "{}: {} structures, at most 64",
                self.path(),
                self.structures.len()
            )));
        }
        let bias = self.bias.as_ref().map(|b| {
            let [di, dj, dk] = self.grid.dims;
            let mut field = Array3::<f64>::zeros((di, dj, dk).f());
            for ((i, j, k), v) in field.indexed_iter_mut() {
                *v = b.at(self.grid.to_patient([i as f64, j as f64, k as f64]));
            }
            field
        });
        let cine = self.scenes.len() > 1;
        let mut images = Vec::new();
        let mut masks = Vec::new();
        let mut structures = Vec::new();
        for (t, scene) in self.scenes.iter().enumerate() {
            let phase = cine.then_some(t + 1);
            let (image, m, s) = self.render_scene(scene, phase, bias.as_ref(), subsamples)?;
            images.push(self.volume(image)?);
            masks.extend(m);
            structures.extend(s);
        }
        let value = |l: u8| self.values.get(&l).copied().unwrap_or(0.0);
        let g = &self.grid;
        let truth = SeriesTruth {
            series: self.info.name.clone(),
            path: self.path(),
            modality: self.info.acquisition.modality().to_owned(),
            series_description: self.info.description.clone(),
            series_instance_uid: None,
            instances: g.dims[2] * self.scenes.len(),
            dims: g.dims,
            spacing_mm: g.spacing(),
            affine_lps: std::array::from_fn(|r| std::array::from_fn(|c| g.affine[(r, c)])),
            times_ms: self.times_ms.clone(),
            ghost: self.ghost.clone(),
            noise: self.noise.clone(),
            bias_field: self.bias.clone(),
            bias_file: self
                .bias
                .as_ref()
                .map(|_| format!("{}bias.nii.gz", self.truth_prefix())),
            labels: self
                .label_names
                .iter()
                .map(|(l, name)| LabelTruth {
                    label: *l,
                    name: name.clone(),
                    value: value(*l),
                })
                .collect(),
            structures,
        };
        Ok(Rendered {
            images,
            masks,
            bias: bias
                .map(|b| self.volume(b.mapv(|v| v as f32)))
                .transpose()?,
            truth,
        })
    }

    /// One scene: the noisy image, the structures' masks and their truth. `phase` is the
    /// temporal position (from 1) of a cine series.
    #[allow(clippy::type_complexity)]
    fn render_scene(
        &self,
        scene: &Scene,
        phase: Option<usize>,
        bias: Option<&Array3<f64>>,
        subsamples: usize,
    ) -> Result<
        (
            Array3<f32>,
            Vec<(String, Volume<u8>)>,
            Vec<SeriesStructureTruth>,
        ),
        PhantomError,
    > {
        let r = rasterise(scene, &self.grid, subsamples);
        let mut biased = r.image(|l| self.values.get(&l).copied().unwrap_or(0.0));
        if let Some(b) = bias {
            biased *= b;
        }
        if let Some(g) = &self.ghost {
            biased = g.apply(&biased);
        }
        if let Some(fwhm) = self.blur_fwhm_mm {
            let f32s = biased.mapv(|v| v as f32);
            biased =
                crate::filters::gaussian(&f32s, self.grid.spacing(), neuro_pet::sigma_of(fwhm))
                    .mapv(f64::from);
        }
        // Noise drawn in storage order (i fastest), whatever the array's memory layout.
        let stream = match phase {
            None => format!("{}/noise", self.path()),
            Some(t) => format!("{}/noise/{t}", self.path()),
        };
        let mut rng = Stream::new(self.seed, &stream);
        let [di, dj, dk] = self.grid.dims;
        let mut image = Array3::<f32>::zeros((di, dj, dk).f());
        for k in 0..dk {
            for j in 0..dj {
                for i in 0..di {
                    image[[i, j, k]] = self.noise.apply(biased[[i, j, k]], &mut rng) as f32;
                }
            }
        }
        let analytic = scene.volumes();
        let voxel = self.grid.voxel_volume();
        let per_voxel = u32::from(r.per_voxel);
        let groups: Vec<&[u8]> = self
            .structures
            .iter()
            .map(|s| s.labels.as_slice())
            .collect();
        let mut masks = Vec::new();
        let mut structures = Vec::new();
        for (s, (mask, total)) in self.structures.iter().zip(r.masks(&groups)) {
            let (mut n, mut sum) = (0u64, 0.0);
            for (m, v) in mask.iter().zip(biased.iter()) {
                if *m == 1 {
                    n += 1;
                    sum += v;
                }
            }
            let diameters = if s.diameters {
                crate::diameters::largest_in_plane(&mask.mapv(|m| m == 1), &self.grid)
            } else {
                None
            };
            // The background (label 0) has no shape, so no analytic volume.
            let whole = !s.labels.contains(&0)
                && scene
                    .shapes()
                    .into_iter()
                    .filter(|(l, _)| s.labels.contains(l))
                    .all(|(_, e)| e.within(&self.grid));
            let file = match phase {
                None => s.name.clone(),
                Some(t) => format!("{}_t{t:02}", s.name),
            };
            structures.push(SeriesStructureTruth {
                name: s.name.clone(),
                phase,
                labels: s.labels.clone(),
                analytic_volume_mm3: whole
                    .then(|| s.labels.iter().filter_map(|l| analytic.get(l)).sum()),
                pv_volume_mm3: total as f64 / f64::from(per_voxel) * voxel,
                mask_volume_mm3: n as f64 * voxel,
                mask_voxels: n,
                mask_file: format!("{}{file}.nii.gz", self.truth_prefix()),
                mask_mean_noise_free: (n > 0).then(|| sum / n as f64),
                mask_long_axis_mm: diameters.as_ref().map(|d| d.long_mm),
                mask_short_axis_mm: diameters.as_ref().map(|d| d.short_mm),
            });
            masks.push((file, self.volume(mask)?));
        }
        Ok((image, masks, structures))
    }

    fn volume<T>(&self, data: Array3<T>) -> Result<Volume<T>, PhantomError> {
        Volume::new(data, self.grid.clone()).map_err(|e| PhantomError::Design(e.to_string()))
    }
}

/// The grid of `dims` along `directions` with `spacing`, centred on `centre` (the origin rounded
/// to a micrometre, so that the DICOM positions written hold it exactly).
pub(crate) fn grid_around(
    centre: [f64; 3],
    dims: [usize; 3],
    directions: [[f64; 3]; 3],
    spacing: [f64; 3],
) -> Result<Geometry, PhantomError> {
    let mut origin = centre;
    for a in 0..3 {
        let half = (dims[a] as f64 - 1.0) / 2.0 * spacing[a];
        for (o, d) in origin.iter_mut().zip(directions[a]) {
            *o -= half * d;
        }
    }
    let origin = origin.map(|o| (o * 1000.0).round() / 1000.0);
    Geometry::new(dims, origin, directions, spacing)
        .map_err(|e| PhantomError::Design(e.to_string()))
}

/// Voxels needed to cover `extent_mm` at `spacing` (at least one).
pub(crate) fn cover(extent_mm: f64, spacing: f64) -> usize {
    ((extent_mm / spacing).ceil() as usize).max(1)
}

/// `date` (YYYYMMDD) plus `days`.
pub(crate) fn add_days(date: &str, days: i64) -> String {
    chrono::NaiveDate::parse_from_str(date, "%Y%m%d")
        .ok()
        .and_then(|d| d.checked_add_signed(chrono::TimeDelta::days(days)))
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_else(|| date.to_owned())
}

/// The truth of a phantom's subject before rendering.
pub(crate) fn subject_truth(subject: &str, site: &Site, patient: &Patient) -> SubjectTruth {
    SubjectTruth {
        subject: subject.to_owned(),
        site: site.id.clone(),
        patient: patient.clone(),
        visits: Vec::new(),
    }
}

/// The visit-level truth of a scene: exact volumes of `structures` and its shapes.
pub(crate) fn visit_truth(
    visit: &str,
    date: &str,
    day: i64,
    scene: &Scene,
    names: &BTreeMap<u8, String>,
    structures: &[StructureDef],
) -> VisitTruth {
    let volumes = scene.volumes();
    VisitTruth {
        visit: visit.to_owned(),
        date: date.to_owned(),
        day,
        structures: structures
            .iter()
            .filter(|s| !s.labels.contains(&0))
            .map(|s| StructureTruth {
                name: s.name.clone(),
                labels: s.labels.clone(),
                analytic_volume_mm3: s.labels.iter().filter_map(|l| volumes.get(l)).sum(),
            })
            .collect(),
        shapes: scene
            .shapes()
            .into_iter()
            .map(|(label, e)| ShapeTruth {
                label,
                name: names.get(&label).cloned().unwrap_or_default(),
                ellipsoid: e.clone(),
            })
            .collect(),
        brain: None,
        lesions: Vec::new(),
        recist: None,
        pet: None,
        cardiac: None,
        qc: None,
        neuro_pet: None,
        rano: None,
        clinical: None,
        series: Vec::new(),
    }
}

/// The header fields of truth.json.
pub(crate) fn truth_head(kind: Kind, options: &Options, voxel_mm: f64) -> Truth {
    Truth {
        kind,
        seed: options.seed,
        generator: format!("corelab-image {} phantom v1", env!("CARGO_PKG_VERSION")),
        subsamples_per_axis: options.subsamples,
        voxel_mm,
        notes: vec![
            "coordinates are DICOM LPS millimetres; affine_lps maps voxel (i, j, k) centres, i along a row, j down the rows, k across slices".into(),
            "analytic_volume_mm3: exact volume of the shapes; pv_volume_mm3: sum of partial-volume fractions (subsamples_per_axis^3 samples per voxel) x voxel volume on the series grid; mask_volume_mm3: voxels with fraction >= 0.5 x voxel volume, the mask written in mask_file".into(),
            "image = noise(bias x sum over labels of fraction x value); mask_mean_noise_free is the mean of bias x sum over labels of fraction x value over the mask".into(),
        ],
        subjects: Vec::new(),
    }
}
