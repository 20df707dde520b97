//! `neuro.tissue-seg`: grey matter, white matter and CSF of a T1w image inside the intracranial
//! volume, as FSL FAST and ANTs Atropos segment them: N4 bias correction inside the domain, a
//! three-class Gaussian mixture fitted by EM, a Markov random field (Potts) prior by mean field,
//! and partial-volume fractions at class boundaries; volumes from the fractions, the brain
//! parenchymal fraction and the volumes normalised by the intracranial volume
//! (docs/algorithms/neuro.tissue-seg.md).

mod mixture;
#[cfg(test)]
mod tests;

use super::{mask_on, measurement, require_resolution};
use crate::image::input;
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params,
};
use corelab_image::Volume;
use corelab_image::bias;
use mixture::{Domain, K};
use ndarray::Array3;

/// Label values of [`Segmentation::labels`]: 1 CSF, 2 GM, 3 WM (0 outside the domain).
pub const CLASSES: [(u8, &str); 3] = [(1, "CSF"), (2, "GM"), (3, "WM")];

/// The fewest domain voxels segmented: below this a mixture of three classes is not estimable.
pub const MIN_DOMAIN_VOXELS: usize = 1000;

/// The coarsest voxel (mm) accepted: at 3 mm the cortical ribbon is about one voxel thick.
pub const MAX_VOXEL_MM: f64 = 3.0;

/// The least Ashman's D (`|μ1 − μ2| / sqrt((σ1² + σ2²)/2)`) between adjacent classes' Gaussians
/// after EM. Measured: one tissue and noise 1.2; the MNI152 T1 template 1.6 (its CSF is broad);
/// the phantoms above 10.
pub const MIN_SEPARATION: f64 = 1.4;

/// The least gain in mean log-likelihood per voxel (nats) of the three-class mixture over one
/// Gaussian: with [`MIN_SEPARATION`], what says the three classes are there. Measured: one tissue
/// and noise 0.004; tissue much more (docs/algorithms/neuro.tissue-seg.md).
pub const MIN_GAIN: f64 = 0.05;
/// The share of the grey/white separation a finer N4 level must keep to be kept (method step 1).
pub const N4_CONTRAST_KEPT: f64 = 0.8;

/// How segmentation runs. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Run N4 inside the domain first (off for an image already corrected).
    pub bias_correction: bool,
    /// N4's shrink factor (4: the field is smooth; it costs a 64th of the full-grid work).
    pub n4_shrink: usize,
    /// Potts prior strength β per unit neighbour weight (26 neighbours weighted by nearest
    /// distance over distance, as Atropos' `-m [β,1x1x1]`). 0 turns the prior off.
    pub beta: f64,
    /// Most EM iterations of the plain mixture (it stops earlier when the means settle).
    pub em_iterations: usize,
    /// Mean-field sweeps with the prior.
    pub mrf_iterations: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bias_correction: true,
            n4_shrink: 4,
            beta: 0.2,
            em_iterations: 50,
            mrf_iterations: 10,
        }
    }
}

/// A segmentation, on the image's grid.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// 0 outside the domain, then [`CLASSES`]: 1 CSF, 2 GM, 3 WM (the class of the largest
    /// partial-volume fraction).
    pub labels: Array3<u8>,
    /// Partial-volume fractions of CSF, GM, WM: they sum to 1 in the domain, 0 outside.
    pub fractions: [Array3<f32>; 3],
    /// Class intensity means of the (bias-corrected) image, CSF, GM, WM (from pure voxels).
    pub means: [f64; 3],
    /// Class intensity SDs, CSF, GM, WM (from pure voxels).
    pub sds: [f64; 3],
    /// The bias-corrected image (the input when correction is off).
    pub corrected: Volume<f32>,
}

impl Segmentation {
    /// Volumes (mL) of CSF, GM and WM: the sum of each class's fractions × the voxel volume.
    pub fn volumes_ml(&self) -> [f64; 3] {
        let voxel = self.corrected.geometry.voxel_volume() / 1000.0;
        [0, 1, 2].map(|k| self.fractions[k].iter().map(|&f| f64::from(f)).sum::<f64>() * voxel)
    }
}

fn input_error(why: String) -> AlgoError {
    AlgoError::Input {
        role: "t1".into(),
        why,
    }
}

/// Segments `image` (T1w) into CSF, GM and WM inside `domain` (the intracranial mask, on the
/// image's grid).
pub fn segment(
    image: &Volume<f32>,
    domain: &Array3<bool>,
    options: &Options,
) -> Result<Segmentation, AlgoError> {
    require_resolution("t1", image, MAX_VOXEL_MM)?;
    let s = domain.shape();
    if [s[0], s[1], s[2]] != image.geometry.dims {
        return Err(AlgoError::Input {
            role: "mask".into(),
            why: format!(
                "the domain has shape {:?}, the image {:?}",
                s, image.geometry.dims
            ),
        });
    }
    let count = domain.iter().filter(|&&b| b).count();
    if count < MIN_DOMAIN_VOXELS {
        return Err(AlgoError::Input {
            role: "mask".into(),
            why: format!(
                "{count} voxels in the intracranial mask: too few to estimate three tissue classes (at least {MIN_DOMAIN_VOXELS})"
            ),
        });
    }
    if !(options.beta.is_finite() && options.beta >= 0.0) || options.n4_shrink == 0 {
        return Err(AlgoError::Param {
            name: "beta".into(),
            why: "β must be finite and not negative, and the shrink positive".into(),
        });
    }
    let corrected = if options.bias_correction {
        let o = bias::Options {
            shrink: options.n4_shrink,
            ..bias::Options::default()
        };
        // A finer level that makes grey and white matter less separable than the level before
        // (Ashman's D of their mixture classes, on N4's own shrunk voxels, below
        // `N4_CONTRAST_KEPT` of the last kept level's) is fitting anatomy, not bias: it is
        // undone and N4 stops there. Measured (brain phantom, seeds 3 and 7, three subjects,
        // noise ×1–×3, 18 draws): the fourth level kept 0.965–1.045 of the separation on
        // sixteen, and 0.64 and 0.71 on two at ×3, whose CSF then read −10.8 and −10.7 % (GM
        // 640 / WM 828 instead of about 600 / 880); the earlier levels kept 1.00–1.04. Stopping
        // every image at three levels instead left CSF +1.6…+3.8 % (too little bias removed).
        let mut kept: Option<f64> = None;
        let guard = |_level: usize, sample: &[f32]| {
            let mut classes = mixture::kmeans(sample);
            mixture::em(sample, &mut classes, options.em_iterations);
            let d = mixture::separation(&classes[1], &classes[2]);
            let keep = kept.is_none_or(|k| d >= N4_CONTRAST_KEPT * k);
            if keep {
                kept = Some(d);
            }
            keep
        };
        bias::n4_guarded(image, Some(domain), &o, guard)
            .map_err(|e| input_error(format!("bias correction: {e}")))?
            .corrected
    } else {
        image.clone()
    };
    let dom = Domain::new(domain, image.geometry.spacing());
    let flat = corrected
        .data
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    let y: Vec<f32> = dom.voxels.iter().map(|&l| flat[l]).collect();

    let mut classes = mixture::kmeans(&y);
    let mut q = mixture::em(&y, &mut classes, options.em_iterations);
    let gain = mixture::likelihood_gain(&y, &classes);
    let least = (0..K - 1)
        .map(|k| mixture::separation(&classes[k], &classes[k + 1]))
        .fold(f64::INFINITY, f64::min);
    if gain < MIN_GAIN || least < MIN_SEPARATION || classes.iter().any(|c| c.weight < 0.01) {
        return Err(input_error(format!(
            "the intensities inside the intracranial mask do not separate into three tissue classes (class means {:.1}, {:.1}, {:.1}; SDs {:.1}, {:.1}, {:.1}; weights {:.3}, {:.3}, {:.3}; {gain:.3} nats per voxel better than one class, least separation {least:.2}): the image does not look like a T1w",
            classes[0].mean,
            classes[1].mean,
            classes[2].mean,
            classes[0].sd,
            classes[1].sd,
            classes[2].sd,
            classes[0].weight,
            classes[1].weight,
            classes[2].weight
        )));
    }
    if options.beta > 0.0 {
        mixture::mean_field(
            &dom,
            &y,
            &mut classes,
            &mut q,
            options.beta,
            options.mrf_iterations,
        );
    }
    let hard = mixture::hard(&q);
    let pure = mixture::pure_classes(&dom, &y, &hard, &classes, 20);
    let f = mixture::fractions(&dom, &y, &hard, &pure);

    let dims = image.geometry.dims;
    let mut labels = vec![0u8; flat.len()];
    let mut fr = [
        vec![0.0f32; flat.len()],
        vec![0.0f32; flat.len()],
        vec![0.0f32; flat.len()],
    ];
    for (n, &l) in dom.voxels.iter().enumerate() {
        let mut best = usize::from(hard[n]);
        for k in 0..K {
            fr[k][l] = f[n][k];
            if f[n][k] > f[n][best] {
                best = k;
            }
        }
        labels[l] = best as u8 + 1;
    }
    let shape = (dims[0], dims[1], dims[2]);
    let array = |v: Vec<f32>| Array3::from_shape_vec(shape, v).expect("grid-sized");
    let [c, g, w] = fr;
    Ok(Segmentation {
        labels: Array3::from_shape_vec(shape, labels).expect("grid-sized"),
        fractions: [array(c), array(g), array(w)],
        means: pure.map(|c| c.mean),
        sds: pure.map(|c| c.sd),
        corrected,
    })
}

/// See the module.
pub struct TissueSeg;

impl Algorithm for TissueSeg {
    fn id(&self) -> &'static str {
        "neuro.tissue-seg"
    }
    fn version(&self) -> &'static str {
        "1.2.0"
    }
    fn description(&self) -> &'static str {
        "Tissue segmentation of a T1w image inside the intracranial volume: N4 bias correction, a GM/WM/CSF Gaussian mixture by EM with a Markov random field prior (as FAST and Atropos), partial-volume fractions; GM, WM and CSF volumes, brain parenchymal fraction and volumes normalised by intracranial volume (docs/algorithms/neuro.tissue-seg.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Zhang Y, Brady M, Smith S. Segmentation of brain MR images through a hidden Markov random field model and the expectation-maximization algorithm. IEEE TMI 2001;20:45-57.",
            "Avants BB, Tustison NJ, Wu J, Cook PA, Gee JC. An open source multivariate framework for n-tissue segmentation with evaluation on public data. Neuroinformatics 2011;9:381-400.",
            "Tustison NJ et al. N4ITK: improved N3 bias correction. IEEE TMI 2010;29:1310-1320.",
            "Smith SM et al. Accurate, robust, and automated longitudinal and cross-sectional brain change analysis (SIENAX). NeuroImage 2002;17:479-489.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "t1",
                kind: InputKind::Image,
                required: true,
                description: "the T1-weighted image (3 mm voxels or finer)",
            },
            InputRole {
                role: "mask",
                kind: InputKind::Mask,
                required: false,
                description: "the intracranial mask, on any grid (default: neuro.brain-extraction's)",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let d = Options::default();
        vec![
            ParamSpec {
                name: "bias-correction",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(d.bias_correction),
                unit: None,
                description: "run N4 inside the intracranial mask first",
            },
            ParamSpec {
                name: "shrink",
                kind: ParamKind::Integer { min: 1, max: 8 },
                default: ParamValue::Integer(d.n4_shrink as i64),
                unit: None,
                description: "N4 works on a grid this many times coarser per axis",
            },
            ParamSpec {
                name: "beta",
                kind: ParamKind::Number { min: 0.0, max: 2.0 },
                default: ParamValue::Number(d.beta),
                unit: Some("1"),
                description: "strength of the Markov random field (Potts) prior per unit neighbour weight; 0: none",
            },
            ParamSpec {
                name: "mrf-iterations",
                kind: ParamKind::Integer { min: 0, max: 50 },
                default: ParamValue::Integer(d.mrf_iterations as i64),
                unit: None,
                description: "mean-field sweeps with the prior",
            },
        ]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "gm-volume",
                unit: "mL",
                description: "grey matter (cortical and deep), from partial-volume fractions",
            },
            MeasurementSpec {
                name: "wm-volume",
                unit: "mL",
                description: "white matter, from partial-volume fractions",
            },
            MeasurementSpec {
                name: "csf-volume",
                unit: "mL",
                description: "cerebrospinal fluid (ventricles included), from partial-volume fractions",
            },
            MeasurementSpec {
                name: "icv",
                unit: "mL",
                description: "intracranial volume: the mask's voxels",
            },
            MeasurementSpec {
                name: "brain-parenchymal-fraction",
                unit: "1",
                description: "(GM + WM) / intracranial volume",
            },
            MeasurementSpec {
                name: "gm-fraction-of-icv",
                unit: "1",
                description: "GM / intracranial volume",
            },
            MeasurementSpec {
                name: "wm-fraction-of-icv",
                unit: "1",
                description: "WM / intracranial volume",
            },
            MeasurementSpec {
                name: "csf-fraction-of-icv",
                unit: "1",
                description: "CSF / intracranial volume",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![
            ImageSpec {
                role: "labels",
                description: "0 outside the intracranial mask, 1 CSF, 2 GM, 3 WM",
                kind: ImageKind::Labels(&[
                    (1, "cerebrospinal fluid"),
                    (2, "grey matter"),
                    (3, "white matter"),
                ]),
                grid: "t1",
            },
            ImageSpec {
                role: "gm-pv",
                description: "grey-matter partial-volume fraction",
                kind: ImageKind::Fraction,
                grid: "t1",
            },
            ImageSpec {
                role: "wm-pv",
                description: "white-matter partial-volume fraction",
                kind: ImageKind::Fraction,
                grid: "t1",
            },
            ImageSpec {
                role: "csf-pv",
                description: "CSF partial-volume fraction",
                kind: ImageKind::Fraction,
                grid: "t1",
            },
            ImageSpec {
                role: "corrected",
                description: "the bias-corrected T1w",
                kind: ImageKind::Image,
                grid: "t1",
            },
        ]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let t1 = input(inputs, "t1")?;
        require_resolution("t1", t1, MAX_VOXEL_MM)?;
        let domain = match inputs.get("mask") {
            Some(m) => mask_on("mask", m, &t1.geometry)?,
            None => super::brain_extraction::extract(t1, &Default::default())?.icv,
        };
        super::require_t1_contrast("t1", t1, &domain)?;
        let d = Options::default();
        let options = Options {
            bias_correction: params
                .boolean("bias-correction")
                .unwrap_or(d.bias_correction),
            n4_shrink: params
                .integer("shrink")
                .map(|s| s as usize)
                .unwrap_or(d.n4_shrink),
            beta: params.number("beta").unwrap_or(d.beta),
            mrf_iterations: params
                .integer("mrf-iterations")
                .map(|s| s as usize)
                .unwrap_or(d.mrf_iterations),
            ..d
        };
        let seg = segment(t1, &domain, &options)?;
        let [csf, gm, wm] = seg.volumes_ml();
        let icv =
            domain.iter().filter(|&&b| b).count() as f64 * t1.geometry.voxel_volume() / 1000.0;
        let grid = &t1.geometry;
        let image = |a: Array3<f32>| {
            Volume::new(a, grid.clone()).expect("a segmentation is on the image's grid")
        };
        Ok(Outputs {
            measurements: vec![
                measurement("gm-volume", gm, "mL"),
                measurement("wm-volume", wm, "mL"),
                measurement("csf-volume", csf, "mL"),
                measurement("icv", icv, "mL"),
                measurement("brain-parenchymal-fraction", (gm + wm) / icv, "1"),
                measurement("gm-fraction-of-icv", gm / icv, "1"),
                measurement("wm-fraction-of-icv", wm / icv, "1"),
                measurement("csf-fraction-of-icv", csf / icv, "1"),
            ],
            images: vec![
                ("labels".into(), image(seg.labels.mapv(f32::from))),
                ("gm-pv".into(), image(seg.fractions[1].clone())),
                ("wm-pv".into(), image(seg.fractions[2].clone())),
                ("csf-pv".into(), image(seg.fractions[0].clone())),
                ("corrected".into(), seg.corrected),
            ],
            tables: Vec::new(),
            ..Default::default()
        })
    }
}
