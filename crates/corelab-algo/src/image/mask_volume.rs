//! `image.mask-volume`: the volume of a mask, its connected components, and the intensity
//! statistics of an image inside it (as `fslstats -V -M -S` gives them).

use super::{input, mean_sd, same_grid};
use crate::{
    AlgoError, Algorithm, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec, Outputs,
    ParamKind, ParamSpec, ParamValue, Params,
};
use corelab_image::components::{Connectivity, label};

/// See the module.
pub struct MaskVolume;

impl Algorithm for MaskVolume {
    fn id(&self) -> &'static str {
        "image.mask-volume"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "Volume of a mask (voxels above a threshold × voxel volume), its number of connected components, and the mean and standard deviation of an image inside it."
    }
    fn references(&self) -> &'static [&'static str] {
        &["Jenkinson M et al. FSL. NeuroImage 2012;62:782-790 (fslstats)."]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "mask",
                kind: InputKind::Mask,
                required: true,
                description: "the mask: voxels above the threshold are inside",
            },
            InputRole {
                role: "image",
                kind: InputKind::Image,
                required: false,
                description: "an image on the mask's grid, for intensity statistics inside it",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "threshold",
                kind: ParamKind::Number {
                    min: -1e9,
                    max: 1e9,
                },
                default: ParamValue::Number(0.5),
                unit: None,
                description: "a voxel is inside when its mask value is above this",
            },
            ParamSpec {
                name: "connectivity",
                kind: ParamKind::Choice {
                    values: &["6", "18", "26"],
                },
                default: ParamValue::Choice("26".into()),
                unit: None,
                description: "neighbours that join voxels into one component",
            },
        ]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "volume",
                unit: "mL",
                description: "voxels inside × voxel volume",
            },
            MeasurementSpec {
                name: "voxels",
                unit: "1",
                description: "voxels inside",
            },
            MeasurementSpec {
                name: "components",
                unit: "1",
                description: "connected components of the inside voxels",
            },
            MeasurementSpec {
                name: "image-mean",
                unit: "[arb'U]",
                description: "mean of the image inside the mask (with an image)",
            },
            MeasurementSpec {
                name: "image-sd",
                unit: "[arb'U]",
                description: "standard deviation of the image inside the mask (with an image)",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        Vec::new()
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let mask = input(inputs, "mask")?;
        let threshold = params.number("threshold").unwrap_or(0.5) as f32;
        let inside = mask.data.mapv(|v| v > threshold);
        let voxels = inside.iter().filter(|x| **x).count();
        let connectivity = match params.choice("connectivity") {
            Some("6") => Connectivity::Six,
            Some("18") => Connectivity::Eighteen,
            _ => Connectivity::TwentySix,
        };
        let (_, sizes) = label(&inside, connectivity);
        let m = super::measurement;
        let mut measurements = vec![
            m(
                "volume",
                voxels as f64 * mask.geometry.voxel_volume() / 1000.0,
                "mL",
            ),
            m("voxels", voxels as f64, "1"),
            // `label` leaves index 0 of the sizes unused (the outside).
            m("components", (sizes.len() - 1) as f64, "1"),
        ];
        if let Some(image) = inputs.get("image") {
            if !same_grid(image, mask) {
                return Err(AlgoError::Input {
                    role: "image".into(),
                    why: format!(
                        "its grid ({:?} voxels) is not the mask's ({:?}); resample one onto the other first",
                        image.geometry.dims, mask.geometry.dims
                    ),
                });
            }
            if voxels == 0 {
                return Err(AlgoError::Failed(
                    "the mask is empty: no intensity statistics inside it".into(),
                ));
            }
            let values: Vec<f64> = image
                .data
                .iter()
                .zip(inside.iter())
                .filter(|(_, i)| **i)
                .map(|(v, _)| f64::from(*v))
                .collect();
            let (mean, sd) =
                mean_sd(&values).ok_or_else(|| AlgoError::Failed("the mask is empty".into()))?;
            measurements.push(m("image-mean", mean, "[arb'U]"));
            measurements.push(m("image-sd", sd, "[arb'U]"));
        }
        Ok(Outputs {
            measurements,
            images: Vec::new(),
            tables: Vec::new(),
            ..Default::default()
        })
    }
}
