//! The `pet` phantom for the PET tests: a subject's FDG PET rendered with the noise chosen, as a
//! volume carrying the SUV header its DICOM series would (`Source::pet`), its lesions, liver
//! and truth.

use corelab_image::Volume;
use corelab_image::phantom::pet::{FIRST_LESION, PetTruth};
use corelab_image::phantom::{self, Acquisition, Kind, Noise, Options, Rendered, SeriesPlan};
use corelab_image::suv::PetHeader;
use ndarray::Array3;

/// A rendered subject of the PET phantom.
pub(crate) struct Case {
    /// The image (Bq/mL) with its SUV header and Modality PT.
    pub pet: Volume<f32>,
    /// Its truth masks and structure truth (`mask_mean_noise_free`: the region's mean over its
    /// mask before noise).
    pub rendered: Rendered,
    /// Doses, factors and the SUV of each region.
    pub truth: PetTruth,
    /// The lesions' centres and radii (mm), L1, L2, L3.
    pub spheres: Vec<([f64; 3], f64)>,
}

impl Case {
    /// A truth mask by structure name (`liver`, `L1`, …).
    pub(crate) fn mask(&self, name: &str) -> Array3<bool> {
        let (_, m) = self
            .rendered
            .masks
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no truth mask {name}"));
        m.data.mapv(|v| v > 0)
    }

    /// The lesions as a label image (L1 → 1, L2 → 2, L3 → 3), each grown by `grow_mm` (0: the
    /// truth masks), as a volume on the PET's grid.
    pub(crate) fn lesion_labels(&self, grow_mm: f64) -> Volume<f32> {
        let spacing = self.pet.geometry.spacing();
        let mut labels = Array3::<f32>::zeros(self.pet.data.raw_dim());
        for n in 1..=3 {
            let mut m = self.mask(&format!("L{n}"));
            if grow_mm > 0.0 {
                m = corelab_image::morphology::dilate(&m, spacing, grow_mm);
            }
            ndarray::Zip::from(&mut labels).and(&m).for_each(|l, in_| {
                if *in_ && *l == 0.0 {
                    *l = n as f32;
                }
            });
        }
        Volume::new(labels, self.pet.geometry.clone()).expect("grid")
    }

    /// A truth mask as a volume on the PET's grid.
    pub(crate) fn mask_volume(&self, name: &str) -> Volume<f32> {
        Volume::new(
            self.mask(name).mapv(|b| if b { 1.0 } else { 0.0 }),
            self.pet.geometry.clone(),
        )
        .expect("grid")
    }

    /// The SUVbw of a region (`liver`, `L1`, …).
    pub(crate) fn suv(&self, region: &str) -> f64 {
        self.region(region).suv_bw
    }

    /// The SUL of a region.
    pub(crate) fn sul(&self, region: &str) -> f64 {
        self.region(region).suv_lbm
    }

    fn region(&self, name: &str) -> &corelab_image::phantom::pet::PetRegion {
        self.truth
            .regions
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no region {name}"))
    }
}

/// Subject `subject` (from 0) of the PET phantom (seed 1) on `voxel_mm` voxels, rendered with 4
/// subsamples per axis and proportional noise of `cov`, after `edit` has changed its plan (the
/// lesions' activities of a follow-up, say).
pub(crate) fn case(
    subject: usize,
    voxel_mm: f64,
    cov: f64,
    edit: impl FnOnce(&mut SeriesPlan),
) -> Case {
    let options = Options {
        seed: 1,
        subjects: subject + 1,
        voxel_mm: Some(voxel_mm),
        atrophy_percent: None,
        subsamples: 4,
    };
    let plan = phantom::plan(Kind::Pet, &options).expect("plan");
    let mut s = plan.series[subject].clone();
    edit(&mut s);
    let mut truth = plan.truth.subjects[subject].visits[0]
        .pet
        .clone()
        .expect("PET truth");
    // Keep the truth's region SUVs in step with an edited plan (activity × factors).
    for r in &mut truth.regions {
        if let Some(a) = r.labels.first().and_then(|l| s.values.get(l)) {
            r.activity_bqml = *a;
            r.suv_bw = a * truth.suv_bw_factor;
            r.suv_lbm = a * truth.suv_lbm_factor;
        }
    }
    let spheres = (0..3)
        .map(|n| {
            let (_, e) = s.scenes[0]
                .shapes()
                .into_iter()
                .find(|(l, _)| *l == FIRST_LESION + n)
                .expect("lesion");
            (e.centre_mm, e.semi_axes_mm[0])
        })
        .collect();
    let header = header(&s);
    s.noise = Noise::Proportional { cov };
    let rendered = s.render(4).expect("render");
    let mut pet = rendered.images[0].clone();
    pet.source.modality = Some("PT".into());
    pet.source.pet = vec![header];
    Case {
        pet,
        rendered,
        truth,
        spheres,
    }
}

/// The SUV header the phantom's DICOM series carries (`corelab_dicom::phantom` writes these).
fn header(s: &SeriesPlan) -> PetHeader {
    let Acquisition::Pt(a) = &s.info.acquisition else {
        panic!("not PET")
    };
    PetHeader {
        units: a.units.clone(),
        decay_correction: a.decay_correction.clone(),
        corrected_image: a.corrected_image.clone(),
        series_date: s.info.date.clone(),
        series_time: s.info.time.clone(),
        acquisition_date: s.info.date.clone(),
        acquisition_time: s.info.time.clone(),
        injection_datetime: Some(a.injection_datetime.clone()),
        injection_time: None,
        dose_bq: Some(a.dose_bq),
        half_life_s: Some(a.half_life_s),
        weight_kg: Some(s.patient.weight_kg),
        height_m: Some(s.patient.height_m),
        sex: Some(s.patient.sex.clone()),
        ..Default::default()
    }
}
