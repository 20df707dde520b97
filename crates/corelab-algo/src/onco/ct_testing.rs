//! The `ct-tumor` phantom for the lesion segmentation and tracking tests: subject 1's CT at each
//! visit with its lesions' truth, rendered once per test binary.

use corelab_image::Volume;
use corelab_image::phantom::{self, Kind, LesionTruth, Options};
use std::sync::OnceLock;

/// One visit's CT (marked as a CT series) and its lesions' truth.
pub(crate) struct CtVisit {
    /// The image (HU).
    pub image: Volume<f32>,
    /// Each lesion and node present, with its exact shape and axes.
    pub lesions: Vec<LesionTruth>,
    /// Each lesion's truth mask (fraction ≥ ½), by id.
    pub masks: Vec<(String, Volume<u8>)>,
}

/// Subject 1 of the `ct-tumor` phantom (seed 1, 2 mm voxels, 2.5 mm slices), 4 subsamples per
/// voxel and axis (the CLI's default), at visit 0 (baseline), 1 (week 8) or 2 (week 16).
pub(crate) fn visit(v: usize) -> &'static CtVisit {
    static VISITS: OnceLock<Vec<CtVisit>> = OnceLock::new();
    &VISITS.get_or_init(|| {
        let options = Options {
            seed: 1,
            subjects: 1,
            voxel_mm: Some(2.0),
            atrophy_percent: None,
            subsamples: 4,
        };
        let plan = phantom::plan(Kind::CtTumor, &options).expect("plan");
        (0..3)
            .map(|v| {
                let s = plan
                    .series
                    .iter()
                    .find(|s| s.subject_index == 0 && s.visit_index == v)
                    .expect("series");
                let r = s.render(options.subsamples).expect("render");
                let mut image = r.images[0].clone();
                image.source.modality = Some("CT".into());
                let lesions = plan.truth.subjects[0].visits[v].lesions.clone();
                let masks = r
                    .masks
                    .into_iter()
                    .filter(|(n, _)| lesions.iter().any(|l| &l.id == n))
                    .collect();
                CtVisit {
                    image,
                    lesions,
                    masks,
                }
            })
            .collect::<Vec<_>>()
    })[v]
}
