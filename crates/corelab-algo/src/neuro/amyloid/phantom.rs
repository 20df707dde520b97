//! Test-only PET phantoms built on the GAAIN standard VOIs (2 mm MNI): there is no template
//! image or amyloid scan in the shared data, so the tests make both. A brain-like activity map
//! (cortical target at `cortex`, whole cerebellum at `cerebellum`, the rest of a brain envelope at
//! `white`, a little outside it), blurred to PET resolution, is the truth on the template grid;
//! a subject's PET is that truth moved by a known transform onto a coarser PET grid, with noise.

use corelab_image::Volume;
use corelab_image::filters::gaussian;
use corelab_image::geometry::Geometry;
use corelab_image::morphology::{dilate, fill_holes};
use corelab_image::nifti_io;
use corelab_image::registration::AffineTransform;
use corelab_image::resample::{Interpolation, resample_through};
use ndarray::Array3;
use std::path::Path;

/// The shared folder of the GAAIN VOIs.
pub(crate) const GAAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/clinical_rules/centiloid/gaain_standard_vois_2mm"
);

/// A GAAIN VOI by file stem (`voi_ctx_2mm`, `voi_WhlCbl_2mm`).
pub(crate) fn gaain(stem: &str) -> Volume<f32> {
    nifti_io::read(&Path::new(GAAIN).join(format!("{stem}.nii.gz")))
        .unwrap_or_else(|e| panic!("{stem}: {e}"))
}

/// Activity concentrations of the phantom's compartments (arbitrary units).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Activity {
    pub cortex: f32,
    pub cerebellum: f32,
    pub white: f32,
    pub outside: f32,
}

/// PET resolution of the phantoms: 8 mm FWHM (a typical reconstructed amyloid PET).
pub(crate) const FWHM_MM: f64 = 8.0;

/// The blurred activity map on the VOIs' grid.
pub(crate) fn activity_map(
    target: &Array3<bool>,
    reference: &Array3<bool>,
    grid: &Geometry,
    a: Activity,
) -> Volume<f32> {
    let spacing = grid.spacing();
    let both = ndarray::Zip::from(target)
        .and(reference)
        .map_collect(|t, r| *t || *r);
    let envelope = fill_holes(&dilate(&both, spacing, 8.0));
    let mut data = Array3::<f32>::from_elem(target.dim(), a.outside);
    ndarray::Zip::from(&mut data)
        .and(&envelope)
        .and(target)
        .and(reference)
        .for_each(|d, e, t, r| {
            *d = if *t {
                a.cortex
            } else if *r {
                a.cerebellum
            } else if *e {
                a.white
            } else {
                a.outside
            }
        });
    let blurred = gaussian(&data, spacing, FWHM_MM / (8.0f64.ln() * 2.0).sqrt());
    Volume::new(blurred, grid.clone()).expect("shape")
}

/// The mean of a map over a mask.
pub(crate) fn mean_over(v: &Array3<f32>, m: &Array3<bool>) -> f64 {
    let (s, n) = v
        .iter()
        .zip(m.iter())
        .filter(|(_, m)| **m)
        .fold((0.0, 0usize), |(s, n), (v, _)| (s + f64::from(*v), n + 1));
    s / n as f64
}

/// A grid of `voxel_mm` isotropic voxels covering `extent_mm` about the centre of `like`.
pub(crate) fn pet_grid(like: &Geometry, voxel_mm: f64, extent_mm: [f64; 3]) -> Geometry {
    let d = like.dims;
    let c = like.to_patient([
        (d[0] as f64 - 1.0) / 2.0,
        (d[1] as f64 - 1.0) / 2.0,
        (d[2] as f64 - 1.0) / 2.0,
    ]);
    let dims = extent_mm.map(|e| (e / voxel_mm).ceil() as usize);
    let origin = [0, 1, 2].map(|a| c[a] - (dims[a] as f64 - 1.0) / 2.0 * voxel_mm);
    Geometry::axis_aligned(dims, origin, [voxel_mm; 3])
}

/// The truth (on the template grid) as a PET on `grid`, where `motion` maps template points to
/// the PET points showing the same anatomy; Gaussian noise of `noise_sd`, seeded.
pub(crate) fn subject_pet(
    truth: &Volume<f32>,
    grid: &Geometry,
    motion: &AffineTransform,
    noise_sd: f32,
    seed: u64,
) -> Volume<f32> {
    let back = motion.inverse().expect("invertible").to_matrix4();
    let mut pet =
        resample_through(truth, grid, &back, Interpolation::Trilinear, 0.0).expect("resample");
    let mut rng = Normal::new(seed);
    pet.data.mapv_inplace(|v| v + noise_sd * rng.next() as f32);
    pet
}

/// A seeded standard normal stream (SplitMix64, Box–Muller): the tests' noise, the same on every
/// machine.
pub(crate) struct Normal(u64);

impl Normal {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub(crate) fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}
