//! The cardiac phantom for the tests: a subject's short-axis grid, its scenes and its truth,
//! rasterised as `corelab phantom cardiac` renders them (4 subsamples per voxel and axis).

use crate::Outputs;
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use corelab_image::phantom::cardiac::CardiacTruth;
use corelab_image::phantom::{self, Kind, Options, Rasterised, Scene, rasterise};
use ndarray::Array3;

/// Samples per voxel and axis, as the phantom's default.
pub(crate) const SUBSAMPLES: usize = 4;

/// One subject's cine series, before rendering.
pub(crate) struct Cine {
    /// The short-axis grid.
    pub grid: Geometry,
    /// Each temporal position's scene.
    pub scenes: Vec<Scene>,
    /// The truth.
    pub truth: CardiacTruth,
}

/// Subject `subject` (from 0) of the cardiac phantom of `seed` at its default 2 mm × 2 mm × 8 mm.
pub(crate) fn cine(seed: u64, subject: usize) -> Cine {
    let options = Options {
        seed,
        subjects: subject + 1,
        voxel_mm: None,
        atrophy_percent: None,
        subsamples: SUBSAMPLES,
    };
    let p = phantom::plan(Kind::Cardiac, &options).expect("plan");
    let truth = p.truth.subjects[subject].visits[0]
        .cardiac
        .clone()
        .expect("cardiac truth");
    let series = p
        .series
        .into_iter()
        .find(|s| s.subject_index == subject)
        .expect("series");
    Cine {
        grid: series.grid,
        scenes: series.scenes,
        truth,
    }
}

impl Cine {
    /// The scene at temporal position `t` (from 1), rasterised on `grid`.
    pub(crate) fn at(&self, t: usize, grid: &Geometry) -> Rasterised {
        rasterise(&self.scenes[t - 1], grid, SUBSAMPLES)
    }
}

/// A volume on `grid`.
pub(crate) fn volume(data: Array3<f32>, grid: &Geometry) -> Volume<f32> {
    Volume::new(data, grid.clone()).expect("shape")
}

/// The truth mask of `labels` (fraction ≥ ½), as the phantom writes it.
pub(crate) fn binary(r: &Rasterised, labels: &[u8]) -> Volume<f32> {
    volume(r.mask(labels).mapv(f32::from), &r.geometry)
}

/// The partial-volume fractions of `labels`.
pub(crate) fn fraction(r: &Rasterised, labels: &[u8]) -> Volume<f32> {
    volume(r.fraction(labels), &r.geometry)
}

/// A measurement's value by name.
pub(crate) fn value(o: &Outputs, name: &str) -> f64 {
    o.measurements
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .value
}
