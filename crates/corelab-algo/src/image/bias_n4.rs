//! `image.bias-n4`: N4 bias field correction (`corelab_image::bias`), as ANTs'
//! `N4BiasFieldCorrection` runs it: the corrected image, the field, and how much field there was.

use super::{input, mean_sd, same_grid};
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, Measurement,
    MeasurementSpec, Outputs, ParamKind, ParamSpec, ParamValue, Params,
};
use corelab_image::bias::{Options, n4};

/// See the module.
pub struct BiasN4;

impl Algorithm for BiasN4 {
    fn id(&self) -> &'static str {
        "image.bias-n4"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "N4 bias field correction: the smooth multiplicative field of an MR image estimated by histogram sharpening and B-spline fitting, and divided out (docs/algorithms/image.bias-n4.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Tustison NJ et al. N4ITK: improved N3 bias correction. IEEE TMI 2010;29:1310-1320.",
            "Sled JG et al. A nonparametric method for automatic correction of intensity nonuniformity in MRI data. IEEE TMI 1998;17:87-97.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "image",
                kind: InputKind::Image,
                required: true,
                description: "the MR image to correct",
            },
            InputRole {
                role: "mask",
                kind: InputKind::Mask,
                required: false,
                description: "where to estimate the field (default: every voxel above zero)",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "shrink",
                kind: ParamKind::Integer { min: 1, max: 8 },
                default: ParamValue::Integer(4),
                unit: None,
                description: "work on a grid this many times coarser per axis",
            },
            ParamSpec {
                name: "levels",
                kind: ParamKind::Integer { min: 1, max: 6 },
                default: ParamValue::Integer(4),
                unit: None,
                description: "fitting levels (the B-spline mesh doubles at each)",
            },
            ParamSpec {
                name: "iterations",
                kind: ParamKind::Integer { min: 1, max: 500 },
                default: ParamValue::Integer(50),
                unit: None,
                description: "most iterations per level",
            },
            ParamSpec {
                name: "convergence",
                kind: ParamKind::Number { min: 0.0, max: 1.0 },
                default: ParamValue::Number(0.001),
                unit: Some("1"),
                description: "a level stops when the field changes by less than this",
            },
            ParamSpec {
                name: "fwhm",
                kind: ParamKind::Number {
                    min: 0.01,
                    max: 1.0,
                },
                default: ParamValue::Number(0.15),
                unit: None,
                description: "FWHM of the Gaussian the log-intensity histogram is deconvolved with",
            },
        ]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![MeasurementSpec {
            name: "field-cv",
            unit: "1",
            description: "coefficient of variation of the field where it was estimated",
        }]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![
            ImageSpec {
                role: "corrected",
                description: "the image divided by the field",
                kind: ImageKind::Image,
                grid: "image",
            },
            ImageSpec {
                role: "field",
                description: "the multiplicative field (geometric mean 1)",
                kind: ImageKind::Image,
                grid: "image",
            },
        ]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let image = input(inputs, "image")?;
        let mask = match inputs.get("mask") {
            Some(m) if !same_grid(m, image) => {
                return Err(AlgoError::Input {
                    role: "mask".into(),
                    why: "not on the image's grid".into(),
                });
            }
            Some(m) => Some(m.data.mapv(|v| v > 0.5)),
            None => None,
        };
        let int = |name: &str, default: i64| params.integer(name).unwrap_or(default) as usize;
        let options = Options {
            shrink: int("shrink", 4),
            iterations: vec![int("iterations", 50); int("levels", 4)],
            convergence: params.number("convergence").unwrap_or(0.001),
            fwhm: params.number("fwhm").unwrap_or(0.15),
            ..Options::default()
        };
        let c = n4(image, mask.as_ref(), &options).map_err(|e| AlgoError::Failed(e.to_string()))?;
        let inside: Vec<bool> = match &mask {
            Some(m) => m.iter().copied().collect(),
            None => vec![true; image.data.len()],
        };
        let used: Vec<f64> = c
            .field
            .data
            .iter()
            .zip(image.data.iter())
            .zip(inside)
            .filter(|((_, v), i)| *i && **v > 0.0)
            .map(|((f, _), _)| f64::from(*f))
            .collect();
        let (mean, sd) = mean_sd(&used).ok_or_else(|| {
            AlgoError::Failed("no positive voxel where the field was estimated".into())
        })?;
        Ok(Outputs {
            measurements: vec![Measurement {
                name: "field-cv".into(),
                value: sd / mean,
                unit: "1".into(),
            }],
            images: vec![("corrected".into(), c.corrected), ("field".into(), c.field)],
            tables: Vec::new(),
            ..Default::default()
        })
    }
}
