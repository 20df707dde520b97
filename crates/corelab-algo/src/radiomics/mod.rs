//! Radiomics to the Image Biomarker Standardisation Initiative (IBSI 1: Zwanenburg et al.,
//! Radiology 2020;295:328–338; the reference manual, arXiv:1612.07003).
//!
//! [`extract`] runs IBSI's processing chain on an image and a mask (`roi.rs`: crop, the
//! morphological and intensity masks, re-segmentation, discretisation) and computes every
//! feature family: morphology (`morphology.rs` on the mesh of `mesh.rs`), local intensity,
//! intensity statistics, intensity histogram and intensity-volume histogram (`intensity.rs`),
//! and the texture matrices GLCM, GLRLM, GLSZM, GLDZM, NGTDM and NGLDM with IBSI's 2D, 2.5D
//! and 3D aggregations (`texture/`). Every feature carries its IBSI identifier and the tag of
//! IBSI's submission table (`cm_joint_max_3D_avg`). [`Ibsi`] is the algorithm
//! `radiomics.ibsi`.

mod autocorrelation;
mod intensity;
mod interpolate;
mod mesh;
mod morphology;
mod roi;
mod texture;

pub use interpolate::Interpolation;
pub use roi::{Discretisation, Levels, Roi};
pub use texture::Dims;

use crate::{
    AlgoError, Algorithm, DocumentSpec, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    OutputDocument, Outputs, ParamKind, ParamSpec, ParamValue, Params,
};
use corelab_image::Volume;

/// One feature value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Feature {
    /// The family (`morphology`, `glcm`, …).
    pub family: &'static str,
    /// The tag of IBSI's submission table, aggregation included: `cm_joint_max_3D_avg`.
    pub tag: String,
    /// IBSI's name.
    pub name: &'static str,
    /// IBSI's permanent identifier of the feature.
    pub ibsi_id: &'static str,
    /// The aggregation (`3D, averaged`), empty for features that have none.
    pub aggregation: &'static str,
    /// The value.
    pub value: f64,
}

impl Feature {
    fn new(
        family: &'static str,
        tag: &str,
        name: &'static str,
        ibsi_id: &'static str,
        value: f64,
    ) -> Self {
        Self {
            family,
            tag: tag.to_owned(),
            name,
            ibsi_id,
            aggregation: "",
            value,
        }
    }
}

/// The processing chain's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mask voxels above this are in the ROI.
    pub threshold: f64,
    /// Interpolation to a new spacing first (IBSI 2.3), if any.
    pub interpolation: Option<Interpolation>,
    /// Re-segmentation range: intensity-mask voxels outside it are left out.
    pub resegment: Option<(f64, f64)>,
    /// Discretisation for the intensity histogram and texture.
    pub discretisation: Discretisation,
    /// The intensity-volume histogram's intensity step (1 for calibrated integer units).
    pub ivh_step: f64,
    /// Texture aggregations.
    pub texture: Dims,
    /// The feature families to compute (`FAMILIES`); `None` for all.
    pub families: Option<Vec<String>>,
    /// Moran's I and Geary's C (morphological, and the costliest: an FFT convolution over the
    /// ROI's bounding box padded to twice its size).
    pub autocorrelation: bool,
}

/// The feature families, as `families` names them.
pub const FAMILIES: [&str; 11] = [
    "morphology",
    "local",
    "statistics",
    "histogram",
    "ivh",
    "glcm",
    "glrlm",
    "glszm",
    "gldzm",
    "ngtdm",
    "ngldm",
];

impl Default for Settings {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            interpolation: None,
            resegment: None,
            discretisation: Discretisation::FixedBinNumber(32),
            ivh_step: 1.0,
            texture: Dims::Volume,
            families: None,
            autocorrelation: true,
        }
    }
}

/// Every feature of `image` inside `mask` (the same grid).
pub fn extract(
    image: &Volume<f32>,
    mask: &Volume<f32>,
    settings: &Settings,
) -> Result<Vec<Feature>, AlgoError> {
    // Interpolation needs the two on one grid; Roi::new checks again after it.
    roi::same_grid(image, mask)?;
    let interpolated;
    let (image, mask, threshold) = match &settings.interpolation {
        Some(how) => {
            interpolated = interpolate::interpolate(image, mask, how);
            (&interpolated.0, &interpolated.1, 0.5)
        }
        None => (image, mask, settings.threshold),
    };
    // The local intensity sphere (1 cm³) reaches 6.2 mm beyond the ROI.
    let mut roi = Roi::new(image, mask, threshold, 6.3)?;
    if let Some((lo, hi)) = settings.resegment {
        roi.resegment(lo, hi)?;
    }
    let levels = roi.discretise(&settings.discretisation)?;
    let wanted = |f: &str| {
        settings
            .families
            .as_ref()
            .is_none_or(|w| w.iter().any(|x| x == f))
    };
    let range = settings
        .resegment
        .filter(|r| r.0.is_finite() && r.1.is_finite());
    // The first-order and morphological features, and the texture families, in parallel.
    let (mut out, texture) = rayon::join(
        || {
            let mut out = Vec::with_capacity(500);
            if wanted("morphology") {
                morphology::features(&roi, settings.autocorrelation, &mut out);
            }
            if wanted("local") {
                intensity::local(&roi, &mut out);
            }
            if wanted("statistics") {
                intensity::statistics(&roi, &mut out);
            }
            if wanted("histogram") {
                intensity::histogram(&levels, &mut out);
            }
            if wanted("ivh") {
                intensity::volume_histogram(&roi, settings.ivh_step, range, &mut out);
            }
            out
        },
        || {
            let mut out = Vec::new();
            texture::features(&levels, settings.texture, wanted, &mut out);
            out
        },
    );
    out.extend(texture);
    if let Some(bad) = out.iter().find(|f| !f.value.is_finite()) {
        return Err(AlgoError::Failed(format!(
            "feature {} is {} on this ROI",
            bad.tag, bad.value
        )));
    }
    Ok(out)
}

/// The features as CSV: family, tag, IBSI id, name, aggregation, value.
pub fn to_csv(features: &[Feature]) -> String {
    let mut s = String::from("family,tag,ibsi_id,name,aggregation,value\n");
    for f in features {
        s.push_str(&format!(
            "{},{},{},\"{}\",\"{}\",{}\n",
            f.family, f.tag, f.ibsi_id, f.name, f.aggregation, f.value
        ));
    }
    s
}

/// `radiomics.ibsi`.
pub struct Ibsi;

impl Algorithm for Ibsi {
    fn id(&self) -> &'static str {
        "radiomics.ibsi"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "Radiomics features to the IBSI 1 standard: morphology, local intensity, intensity statistics, intensity histogram, intensity-volume histogram, and the GLCM, GLRLM, GLSZM, GLDZM, NGTDM and NGLDM texture families with IBSI's 2D, 2.5D and 3D aggregations, after re-segmentation and fixed bin number or fixed bin size discretisation; each feature with its IBSI identifier."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Zwanenburg A, Vallières M, et al. The Image Biomarker Standardization Initiative. Radiology 2020;295:328-338.",
            "Zwanenburg A, Leger S, Vallières M, Löck S. Image biomarker standardisation initiative, reference manual. arXiv:1612.07003.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "image",
                kind: InputKind::Image,
                required: true,
                description: "the image (CT in HU, PET in SUV, MR in its units)",
            },
            InputRole {
                role: "mask",
                kind: InputKind::Mask,
                required: true,
                description: "the region of interest on the image's grid",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "discretisation",
                kind: ParamKind::Choice {
                    values: &["fbn", "fbs", "none"],
                },
                default: ParamValue::Choice("fbn".into()),
                unit: None,
                description: "fixed bin number, fixed bin size, or none (the intensities are integer grey levels from 1)",
            },
            ParamSpec {
                name: "bins",
                kind: ParamKind::Integer {
                    min: 2,
                    max: 65_536,
                },
                default: ParamValue::Integer(32),
                unit: None,
                description: "the number of bins (fbn)",
            },
            ParamSpec {
                name: "bin_width",
                kind: ParamKind::Number {
                    min: 1e-6,
                    max: 1e6,
                },
                default: ParamValue::Number(25.0),
                unit: None,
                description: "the bin width in the image's units (fbs), from the re-segmentation range's lower bound or the ROI's minimum",
            },
            ParamSpec {
                name: "resegment_min",
                kind: ParamKind::Number {
                    min: -1e9,
                    max: 1e9,
                },
                default: ParamValue::Unset,
                unit: None,
                description: "re-segmentation: leave out ROI voxels below this",
            },
            ParamSpec {
                name: "resegment_max",
                kind: ParamKind::Number {
                    min: -1e9,
                    max: 1e9,
                },
                default: ParamValue::Unset,
                unit: None,
                description: "re-segmentation: leave out ROI voxels above this",
            },
            ParamSpec {
                name: "texture",
                kind: ParamKind::Choice {
                    values: &["3d", "2d", "all"],
                },
                default: ParamValue::Choice("3d".into()),
                unit: None,
                description: "texture aggregations: 3d (volumetric), 2d (by slice: 2D and 2.5D), or all",
            },
            ParamSpec {
                name: "spacing",
                kind: ParamKind::Number {
                    min: 0.01,
                    max: 100.0,
                },
                default: ParamValue::Unset,
                unit: Some("mm"),
                description: "interpolate to this voxel spacing first (IBSI: grid centres aligned; the mask by linear interpolation kept at 0.5 and above)",
            },
            ParamSpec {
                name: "in_plane",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(false),
                unit: None,
                description: "interpolate within slices only, keeping the slices (IBSI's 2D interpolation)",
            },
            ParamSpec {
                name: "round",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(false),
                unit: None,
                description: "round interpolated intensities to integers (calibrated units such as HU)",
            },
            ParamSpec {
                name: "families",
                kind: ParamKind::Text { max_chars: 200 },
                default: ParamValue::Text("all".into()),
                unit: None,
                description: "the feature families, comma-separated: all, or some of morphology, local, statistics, histogram, ivh, glcm, glrlm, glszm, gldzm, ngtdm, ngldm",
            },
            ParamSpec {
                name: "autocorrelation",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(true),
                unit: None,
                description: "compute Moran's I and Geary's C with the morphological features (the costliest features)",
            },
            ParamSpec {
                name: "threshold",
                kind: ParamKind::Number {
                    min: -1e9,
                    max: 1e9,
                },
                default: ParamValue::Number(0.5),
                unit: None,
                description: "a voxel is in the ROI when its mask value is above this",
            },
        ]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "volume",
                unit: "mL",
                description: "the ROI's mesh volume (IBSI RNU0)",
            },
            MeasurementSpec {
                name: "sphericity",
                unit: "1",
                description: "IBSI QCFX",
            },
            MeasurementSpec {
                name: "features",
                unit: "1",
                description: "the number of features computed",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        Vec::new()
    }
    fn documents(&self) -> Vec<DocumentSpec> {
        vec![DocumentSpec {
            name: "features.csv",
            media_type: "text/csv",
            description: "every feature: family, IBSI submission tag, IBSI identifier, name, aggregation, value",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let image = inputs.get("image").ok_or_else(|| AlgoError::Input {
            role: "image".into(),
            why: "required".into(),
        })?;
        let mask = inputs.get("mask").ok_or_else(|| AlgoError::Input {
            role: "mask".into(),
            why: "required".into(),
        })?;
        let settings = settings(params)?;
        let features = extract(image, mask, &settings)?;
        let find = |tag: &str| features.iter().find(|f| f.tag == tag).map(|f| f.value);
        let mut out = Outputs::default();
        out.measurements.push(crate::Measurement {
            name: "volume".into(),
            value: find("morph_volume").unwrap_or(0.0) / 1000.0,
            unit: "mL".into(),
        });
        out.measurements.push(crate::Measurement {
            name: "sphericity".into(),
            value: find("morph_sphericity").unwrap_or(0.0),
            unit: "1".into(),
        });
        out.measurements.push(crate::Measurement {
            name: "features".into(),
            value: features.len() as f64,
            unit: "1".into(),
        });
        out.documents.push(OutputDocument {
            name: "features.csv".into(),
            text: to_csv(&features),
        });
        Ok(out)
    }
}

/// The settings a run's parameters give.
pub fn settings(params: &Params) -> Result<Settings, AlgoError> {
    let resegment = match (
        params.number("resegment_min"),
        params.number("resegment_max"),
    ) {
        (None, None) => None,
        (lo, hi) => {
            let (lo, hi) = (lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY));
            if lo > hi {
                return Err(AlgoError::Param {
                    name: "resegment_min".into(),
                    why: format!("{lo} is above resegment_max {hi}"),
                });
            }
            Some((lo, hi))
        }
    };
    let discretisation = match params.choice("discretisation").unwrap_or("fbn") {
        "none" => Discretisation::None,
        "fbs" => Discretisation::FixedBinSize {
            width: params.number("bin_width").unwrap_or(25.0),
            lower: resegment.map(|r| r.0).filter(|x| x.is_finite()),
        },
        _ => Discretisation::FixedBinNumber(params.integer("bins").unwrap_or(32) as u32),
    };
    let texture = match params.choice("texture").unwrap_or("3d") {
        "2d" => Dims::Slices,
        "all" => Dims::All,
        _ => Dims::Volume,
    };
    let interpolation = params.number("spacing").map(|s| Interpolation {
        spacing: if params.boolean("in_plane").unwrap_or(false) {
            [Some(s), Some(s), None]
        } else {
            [Some(s); 3]
        },
        round: params.boolean("round").unwrap_or(false),
        partial_volume: 0.5,
    });
    let families = match params.text("families").unwrap_or("all").trim() {
        "" | "all" => None,
        list => {
            let names: Vec<String> = list.split(',').map(|f| f.trim().to_owned()).collect();
            if let Some(bad) = names.iter().find(|f| !FAMILIES.contains(&f.as_str())) {
                return Err(AlgoError::Param {
                    name: "families".into(),
                    why: format!(
                        "{bad:?} is not a family; the families are all, or some of {}",
                        FAMILIES.join(", ")
                    ),
                });
            }
            Some(names)
        }
    };
    Ok(Settings {
        families,
        autocorrelation: params.boolean("autocorrelation").unwrap_or(true),
        threshold: params.number("threshold").unwrap_or(0.5),
        interpolation,
        resegment,
        discretisation,
        ivh_step: 1.0,
        texture,
    })
}

#[cfg(test)]
mod ibsi_tests;
#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod pyradiomics_tests;
