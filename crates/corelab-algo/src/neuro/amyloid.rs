//! `neuro.amyloid-centiloid`: amyloid PET quantified as the Centiloid Project defines it (Klunk
//! et al. 2015): the PET registered to a template space, the standard cortical target and
//! reference VOIs (GAAIN) read there, SUVR = target / reference, and Centiloid by a linear
//! conversion with tracer-specific constants; positive above a threshold in Centiloid.
//!
//! The registration and VOI reading ([`onto_template`], [`voi_mean`]) are shared with
//! `neuro.dat-sbr`, which reads striatal VOIs in a template space the same way.

use super::{mask_on, measurement, require_resolution};
use crate::image::input;
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params,
};
use corelab_image::Volume;
use corelab_image::registration::{self, Kind, Metric, Options, RegistrationError, register};
use corelab_image::resample::{Interpolation, resample_through};
use ndarray::Array3;

#[cfg(test)]
pub(crate) mod phantom;
#[cfg(test)]
mod tests;

/// See the module.
pub struct AmyloidCentiloid;

/// A tracer's linear conversion from SUVR (GAAIN standard VOIs, whole-cerebellum reference) to
/// Centiloid: `CL = slope · SUVR + intercept`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conversion {
    /// The `tracer` parameter's value.
    pub tracer: &'static str,
    /// Centiloid per SUVR unit.
    pub slope: f64,
    /// Centiloid at SUVR 0.
    pub intercept: f64,
    /// Where the constants come from, and how far they are trusted (from
    /// `clinical_rules/centiloid/centiloid_conversion_equations.csv`).
    pub source: &'static str,
}

/// The conversions, one per tracer: each the row of the shared equations table that belongs to
/// the GAAIN standard method with the whole-cerebellum reference (docs/algorithms/
/// neuro.amyloid-centiloid.md says why each row, and how confident each is).
pub const CONVERSIONS: [Conversion; 5] = [
    // Klunk 2015: CL = 100 (SUVR − 1.009) / 1.067 (YC-0 mean 1.009, AD-100 mean 2.076).
    Conversion {
        tracer: "pib",
        slope: 100.0 / 1.067,
        intercept: -100.0 * 1.009 / 1.067,
        source: "Klunk WE et al. Alzheimers Dement 2015;11:1-15 (doi:10.1016/j.jalz.2014.07.003); confidence high",
    },
    Conversion {
        tracer: "florbetapir",
        slope: 175.4,
        intercept: -182.3,
        source: "Navitsky M et al. Alzheimers Dement 2018;14:1565-1571 (doi:10.1016/j.jalz.2018.06.1353), standard Centiloid VOIs; confidence medium",
    },
    Conversion {
        tracer: "florbetaben",
        slope: 153.4,
        intercept: -154.9,
        source: "Rowe CC et al. Eur J Nucl Med Mol Imaging 2017;44:2053-2059 (doi:10.1007/s00259-017-3749-6); confidence medium",
    },
    Conversion {
        tracer: "flutemetamol",
        slope: 148.52,
        intercept: -137.09,
        source: "as cited in a public R script (doi:10.1007/s00259-019-04596-x, not checked); confidence LOW, provenance unverified",
    },
    // Rowe 2016: CL = 100 (SUVR − 1.028) / 1.174.
    Conversion {
        tracer: "nav4694",
        slope: 100.0 / 1.174,
        intercept: -100.0 * 1.028 / 1.174,
        source: "Rowe CC et al. J Nucl Med 2016;57:1233-1237 (doi:10.2967/jnumed.115.171595); confidence medium",
    },
];

/// The tracers, in [`CONVERSIONS`]' order (the `tracer` parameter's values).
pub const TRACERS: [&str; 5] = [
    "pib",
    "florbetapir",
    "florbetaben",
    "flutemetamol",
    "nav4694",
];

impl Conversion {
    /// The conversion of a tracer, by its parameter value.
    pub fn of(tracer: &str) -> Option<&'static Conversion> {
        CONVERSIONS.iter().find(|c| c.tracer == tracer)
    }

    /// Centiloid of an SUVR.
    pub fn centiloid(&self, suvr: f64) -> f64 {
        self.slope * suvr + self.intercept
    }
}

/// The least fraction of a VOI's voxels that must fall inside the image once it is on the
/// template grid: a PET whose field of view cuts off part of the cerebellum (common on short
/// axial fields) gives a reference mean of the part that is left, which is not the reference.
pub const MIN_COVERAGE: f64 = 0.95;

/// Coarsest voxels accepted (mm): the GAAIN VOIs are 2 mm and a cortical ribbon is a few mm; a
/// PET or SPECT coarser than 6 mm has lost the regions to partial volume and registration.
pub const MAX_VOXEL_MM: f64 = 6.0;

/// The registration options for an emission image onto a template: affine (a rigid stage, then
/// an affine one, as the Centiloid standard method's SPM normalisation of PET to MNI does at its
/// core), Mattes mutual information (PET or SPECT to a PET, SPECT or T1 template), a pyramid of 8,
/// 4 and 2 mm on the template's 2 mm grid.
fn options() -> Options {
    Options {
        kind: Kind::Affine,
        metric: Metric::MattesMutualInformation { bins: 32 },
        samples: 30_000,
        ..Options::default()
    }
}

/// An image registered onto a template: its values on the template grid, NaN where the
/// template's voxel maps outside the image; and the transform (template → image points).
pub(crate) struct OnTemplate {
    /// The image on the template grid (NaN outside the image's field of view).
    pub values: Volume<f32>,
    /// Template → image points: the tests hold it against the known motion (no measurement
    /// declares it yet).
    #[cfg_attr(not(test), allow(dead_code))]
    pub transform: registration::AffineTransform,
}

impl OnTemplate {
    /// The image on the template grid with zero outside the field of view, for writing.
    pub fn image(&self) -> Volume<f32> {
        let mut v = self.values.clone();
        v.data.mapv_inplace(|x| if x.is_nan() { 0.0 } else { x });
        v
    }
}

/// Registers `image` (role `role`) to `template` (affine, Mattes MI) and resamples it onto the
/// template grid (trilinear). Refuses images that cannot be registered, naming the input, and
/// transforms no anatomy allows (a scale below ½ or above 2 along some axis, or a reflection).
pub(crate) fn onto_template(
    role: &str,
    image: &Volume<f32>,
    template: &Volume<f32>,
) -> Result<OnTemplate, AlgoError> {
    let input = |r: &str, why: String| AlgoError::Input {
        role: r.to_owned(),
        why,
    };
    let reg = register(template, image, &options()).map_err(|e| match e {
        RegistrationError::NoOverlap { .. } => {
            input(role, format!("cannot be registered to the template: {e}"))
        }
        RegistrationError::Constant("fixed") | RegistrationError::NotFinite("fixed") => {
            input("template", e.to_string())
        }
        RegistrationError::Constant(_) | RegistrationError::NotFinite(_) => {
            input(role, e.to_string())
        }
        RegistrationError::Singular(which) => input(
            if which == "fixed" { "template" } else { role },
            e.to_string(),
        ),
        RegistrationError::Options(_) => AlgoError::Failed(e.to_string()),
    })?;
    let transform = reg.transform;
    let singular = transform.matrix.singular_values();
    let (lo, hi) = singular
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    if transform.matrix.determinant() <= 0.0 || lo < 0.5 || hi > 2.0 {
        return Err(AlgoError::Failed(format!(
            "registering {role} to the template gave a transform no head allows (scales {lo:.2} to {hi:.2}{}): check that the template shows a head like the {role}",
            if transform.matrix.determinant() <= 0.0 {
                ", a reflection"
            } else {
                ""
            }
        )));
    }
    let values = resample_through(
        image,
        &template.geometry,
        &transform.to_matrix4(),
        Interpolation::Trilinear,
        f32::NAN,
    )
    .map_err(|e| input(role, e.to_string()))?;
    Ok(OnTemplate { values, transform })
}

/// The mean of `values` over a VOI (role `role`), refusing a VOI of which fewer than
/// [`MIN_COVERAGE`] of the voxels have a value (NaN: outside the field of view).
pub(crate) fn voi_mean(
    role: &str,
    values: &Array3<f32>,
    voi: &Array3<bool>,
) -> Result<f64, AlgoError> {
    let (mut sum, mut n, mut total) = (0.0f64, 0usize, 0usize);
    for (v, inside) in values.iter().zip(voi.iter()) {
        if *inside {
            total += 1;
            if v.is_finite() {
                sum += f64::from(*v);
                n += 1;
            }
        }
    }
    if total == 0 {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: "the region has no voxel on the image's grid".to_owned(),
        });
    }
    let coverage = n as f64 / total as f64;
    if coverage < MIN_COVERAGE {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!(
                "only {:.0} % of the region lies inside the image's field of view (at least {:.0} % is needed for its mean to stand for the region)",
                100.0 * coverage,
                100.0 * MIN_COVERAGE
            ),
        });
    }
    Ok(sum / n as f64)
}

impl Algorithm for AmyloidCentiloid {
    fn id(&self) -> &'static str {
        "neuro.amyloid-centiloid"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "Amyloid PET in Centiloid: the PET registered (affine, Mattes MI) to a template in the VOIs' space, the mean over a cortical target VOI divided by the mean over a reference VOI (SUVR), converted to Centiloid with the tracer's published linear equation, and called positive at or above a threshold (docs/algorithms/neuro.amyloid-centiloid.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Klunk WE et al. The Centiloid Project: standardizing quantitative amyloid plaque estimation by PET. Alzheimers Dement 2015;11:1-15.e4. doi:10.1016/j.jalz.2014.07.003",
            "Navitsky M et al. Standardization of amyloid quantitation with florbetapir standardized uptake value ratios to the Centiloid scale. Alzheimers Dement 2018;14:1565-1571. doi:10.1016/j.jalz.2018.06.1353",
            "Rowe CC et al. 18F-Florbetaben PET beta-amyloid binding expressed in Centiloids. Eur J Nucl Med Mol Imaging 2017;44:2053-2059. doi:10.1007/s00259-017-3749-6",
            "Rowe CC et al. Standardized expression of 18F-NAV4694 and 11C-PiB beta-amyloid PET results with the Centiloid scale. J Nucl Med 2016;57:1233-1237. doi:10.2967/jnumed.115.171595",
            "Mattes D et al. PET-CT image registration in the chest using free-form deformations. IEEE TMI 2003;22:120-128.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "pet",
                kind: InputKind::Image,
                required: true,
                description: "the subject's static amyloid PET (any units: SUVR is a ratio)",
            },
            InputRole {
                role: "template",
                kind: InputKind::Image,
                required: true,
                description: "a PET or T1 template in the VOIs' space (e.g. MNI152 at 2 mm)",
            },
            InputRole {
                role: "target",
                kind: InputKind::Mask,
                required: true,
                description: "the cortical target VOI in template space (e.g. GAAIN voi_ctx_2mm)",
            },
            InputRole {
                role: "reference",
                kind: InputKind::Mask,
                required: true,
                description: "the reference VOI in template space (e.g. GAAIN voi_WhlCbl_2mm, the whole cerebellum the conversions assume)",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "tracer",
                kind: ParamKind::Choice { values: &TRACERS },
                default: ParamValue::Choice("pib".to_owned()),
                unit: None,
                description: "the radiotracer, which picks the SUVR→Centiloid equation (flutemetamol's constants are of unverified provenance: see the docs)",
            },
            ParamSpec {
                name: "threshold",
                kind: ParamKind::Number {
                    min: -50.0,
                    max: 200.0,
                },
                default: ParamValue::Number(24.1),
                unit: Some("1"),
                description: "Centiloid at or above which the scan is called positive (24.1 CL: the amyloid-negative bound of the TRAILBLAZER-ALZ trial; see the docs for others)",
            },
        ]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "suvr",
                unit: "1",
                description: "mean PET over the target VOI / mean over the reference VOI",
            },
            MeasurementSpec {
                name: "centiloid",
                unit: "1",
                description: "the SUVR in Centiloid (CL; no UCUM unit: 0 is the young-control mean, 100 the typical mild-AD mean)",
            },
            MeasurementSpec {
                name: "positive",
                unit: "1",
                description: "1 if the Centiloid is at or above the threshold, else 0",
            },
            MeasurementSpec {
                name: "target-mean",
                unit: "[arb'U]",
                description: "mean PET over the target VOI, in the PET's units",
            },
            MeasurementSpec {
                name: "reference-mean",
                unit: "[arb'U]",
                description: "mean PET over the reference VOI, in the PET's units",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "pet-in-template",
            description: "the PET registered onto the template grid (0 outside its field of view)",
            kind: ImageKind::Image,
            grid: "template",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let get = |role: &str| input(inputs, role);
        let pet = get("pet")?;
        let template = get("template")?;
        require_resolution("pet", pet, MAX_VOXEL_MM)?;
        require_resolution("template", template, MAX_VOXEL_MM)?;
        let tracer = params.choice("tracer").unwrap_or("pib");
        let conversion = Conversion::of(tracer).ok_or_else(|| AlgoError::Param {
            name: "tracer".to_owned(),
            why: format!("no conversion for {tracer:?}"),
        })?;
        let threshold = params.number("threshold").unwrap_or(24.1);
        let target = mask_on("target", get("target")?, &template.geometry)?;
        let reference = mask_on("reference", get("reference")?, &template.geometry)?;
        let on = onto_template("pet", pet, template)?;
        let target_mean = voi_mean("target", &on.values.data, &target)?;
        let reference_mean = voi_mean("reference", &on.values.data, &reference)?;
        if reference_mean <= 0.0 {
            return Err(AlgoError::Input {
                role: "pet".to_owned(),
                why: format!(
                    "its mean over the reference region is {reference_mean}: a ratio to it means nothing (is the PET attenuation-corrected and in counts or activity?)"
                ),
            });
        }
        let suvr = target_mean / reference_mean;
        let centiloid = conversion.centiloid(suvr);
        Ok(Outputs {
            measurements: vec![
                measurement("suvr", suvr, "1"),
                measurement("centiloid", centiloid, "1"),
                measurement(
                    "positive",
                    if centiloid >= threshold { 1.0 } else { 0.0 },
                    "1",
                ),
                measurement("target-mean", target_mean, "[arb'U]"),
                measurement("reference-mean", reference_mean, "[arb'U]"),
            ],
            images: vec![("pet-in-template".to_owned(), on.image())],
            tables: Vec::new(),
            ..Default::default()
        })
    }
}
