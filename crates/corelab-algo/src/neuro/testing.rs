//! Phantoms for the neurology tests: a series of the brain or MS phantom with its truth masks.

use corelab_image::Volume;
use corelab_image::phantom::{self, Kind, Options, Rendered};
use ndarray::Array3;

/// One series (`T1w` or `FLAIR`) of a subject at a visit (0 baseline, 1 follow-up) of the brain
/// (`Kind::Brain`) or MS (`Kind::MsLesions`) phantom, rendered with 2 subsamples per voxel and
/// axis (fast; its truth masks, fraction ≥ ½ of 8 samples, count exactly-half voxels in, so the
/// ICV mask is about 0.6 % larger than the exact ICV: use [`series_with`] and 4 subsamples
/// where a volume is checked against exact truth).
pub(crate) fn series(
    kind: Kind,
    seed: u64,
    voxel_mm: f64,
    subject: usize,
    visit: usize,
    name: &str,
    atrophy_percent: Option<f64>,
) -> Rendered {
    series_with(
        kind,
        seed,
        voxel_mm,
        subject,
        visit,
        name,
        atrophy_percent,
        2,
    )
}

/// [`series`] rendered with `subsamples` per voxel and axis (1 to 8; the CLI's default is 4).
#[allow(clippy::too_many_arguments)]
pub(crate) fn series_with(
    kind: Kind,
    seed: u64,
    voxel_mm: f64,
    subject: usize,
    visit: usize,
    name: &str,
    atrophy_percent: Option<f64>,
    subsamples: usize,
) -> Rendered {
    let options = Options {
        seed,
        subjects: subject + 1,
        voxel_mm: Some(voxel_mm),
        atrophy_percent,
        subsamples,
    };
    let plan = phantom::plan(kind, &options).expect("plan");
    let s = plan
        .series
        .iter()
        .find(|s| s.subject_index == subject && s.visit_index == visit && s.info.name == name)
        .expect("series");
    s.render(options.subsamples).expect("render")
}

/// A truth mask of a rendered series by name (`brain`, `icv`, `gm`, `wm`, `csf`, `ventricles`,
/// `lesions`, `L1`, …).
pub(crate) fn truth(r: &Rendered, name: &str) -> Array3<bool> {
    let (_, m): &(String, Volume<u8>) =
        r.masks.iter().find(|(n, _)| n == name).unwrap_or_else(|| {
            panic!(
                "no truth mask {name}: {:?}",
                r.masks.iter().map(|m| &m.0).collect::<Vec<_>>()
            )
        });
    m.data.mapv(|v| v > 0)
}

/// Dice of two masks.
pub(crate) fn dice(a: &Array3<bool>, b: &Array3<bool>) -> f64 {
    let both = a.iter().zip(b.iter()).filter(|(x, y)| **x && **y).count() as f64;
    let sum = (a.iter().filter(|x| **x).count() + b.iter().filter(|x| **x).count()) as f64;
    if sum == 0.0 { 1.0 } else { 2.0 * both / sum }
}

/// The value of the measurement `name` of a run's outputs (panics, naming it, when absent).
pub(crate) fn value(o: &crate::Outputs, name: &str) -> f64 {
    o.measurements
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .value
}
