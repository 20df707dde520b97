//! `neuro.dat-sbr`: dopamine-transporter SPECT (DaTscan, [123I]FP-CIT) quantified as specific
//! binding ratios, SBR = (mean over a striatal region − mean over the reference) / mean over the
//! reference, for each caudate and putamen and each whole striatum, over an occipital reference;
//! and the left–right asymmetry of putamen and caudate. The regions are masks either in the
//! SPECT's own patient space or, with a `template`, in the template's space, the SPECT then being
//! registered to the template as `neuro.amyloid-centiloid` registers a PET
//! ([`super::amyloid::onto_template`]).
//!
//! This is the region-mean ratio of the EANM procedure guidelines: it is lowered by partial
//! volume (a striatum a few voxels across, blurred by a ~10 mm SPECT resolution, reads well below
//! its true concentration). Tossici-Bolt's method, which recovers the true ratio by counting all
//! the striatal counts in a large VOI, is not this one; docs/algorithms/neuro.dat-sbr.md shows
//! the size of the difference on a phantom.

use super::amyloid::{MAX_VOXEL_MM, onto_template, voi_mean};
use super::{mask_on, measurement, require_resolution};
use crate::image::input;
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, Measurement,
    MeasurementSpec, Outputs, ParamSpec, Params,
};
use ndarray::{Array3, Zip};

/// See the module.
pub struct DatSbr;

/// The striatal regions, as input roles, in the order the measurements are made.
const REGIONS: [&str; 4] = [
    "left-caudate",
    "right-caudate",
    "left-putamen",
    "right-putamen",
];

fn mask_role(role: &'static str, description: &'static str) -> InputRole {
    InputRole {
        role,
        kind: InputKind::Mask,
        required: true,
        description,
    }
}

/// Refuses left and right regions that share a voxel: a voxel is on one side.
fn refuse_overlap(masks: &[(&str, &Array3<bool>)]) -> Result<(), AlgoError> {
    for (left, l) in masks.iter().filter(|(r, _)| r.starts_with("left")) {
        for (right, r) in masks.iter().filter(|(r, _)| r.starts_with("right")) {
            let shared = Zip::from(*l)
                .and(*r)
                .fold(0usize, |n, a, b| n + usize::from(*a && *b));
            if shared > 0 {
                return Err(AlgoError::Input {
                    role: (*right).to_owned(),
                    why: format!(
                        "shares {shared} voxels with {left}: left and right regions must not overlap (are the masks swapped or mislabelled?)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// `200 |L − R| / (L + R)` (%), when `L + R > 0`: otherwise there is no binding to compare and
/// the asymmetry is not reported.
fn asymmetry(name: &str, left: f64, right: f64) -> Option<Measurement> {
    (left + right > 0.0)
        .then(|| measurement(name, 200.0 * (left - right).abs() / (left + right), "%"))
}

impl Algorithm for DatSbr {
    fn id(&self) -> &'static str {
        "neuro.dat-sbr"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "DAT-SPECT specific binding ratios: (mean over caudate, putamen or striatum − mean over an occipital reference) / mean over the reference, left and right, and the left–right asymmetry; regions in the SPECT's space, or in a template's space with the SPECT registered to it (affine, Mattes MI) (docs/algorithms/neuro.dat-sbr.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Darcourt J et al. EANM procedure guidelines for brain neurotransmission SPECT using 123I-labelled dopamine transporter ligands, version 2. Eur J Nucl Med Mol Imaging 2010;37:443-450. doi:10.1007/s00259-009-1267-x",
            "Tossici-Bolt L et al. Quantification of [123I]FP-CIT SPECT brain images: an accurate technique for measurement of the specific binding ratio. Eur J Nucl Med Mol Imaging 2006;33:1491-1499. doi:10.1007/s00259-006-0155-x",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "spect",
                kind: InputKind::Image,
                required: true,
                description: "the subject's DAT SPECT (any units: the SBR is a ratio)",
            },
            mask_role("left-caudate", "the left caudate"),
            mask_role("right-caudate", "the right caudate"),
            mask_role("left-putamen", "the left putamen"),
            mask_role("right-putamen", "the right putamen"),
            mask_role(
                "reference",
                "the reference region of non-specific binding (occipital cortex)",
            ),
            InputRole {
                role: "template",
                kind: InputKind::Image,
                required: false,
                description: "a template in the masks' space: when given the SPECT is registered to it; without it the masks are in the SPECT's patient space",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        let sbr = "(region mean − reference mean) / reference mean";
        vec![
            MeasurementSpec {
                name: "sbr-left-caudate",
                unit: "1",
                description: sbr,
            },
            MeasurementSpec {
                name: "sbr-right-caudate",
                unit: "1",
                description: sbr,
            },
            MeasurementSpec {
                name: "sbr-left-putamen",
                unit: "1",
                description: sbr,
            },
            MeasurementSpec {
                name: "sbr-right-putamen",
                unit: "1",
                description: sbr,
            },
            MeasurementSpec {
                name: "sbr-left-striatum",
                unit: "1",
                description: "SBR of the left caudate and putamen together (mean over their union)",
            },
            MeasurementSpec {
                name: "sbr-right-striatum",
                unit: "1",
                description: "SBR of the right caudate and putamen together (mean over their union)",
            },
            MeasurementSpec {
                name: "asymmetry-putamen",
                unit: "%",
                description: "200 |L − R| / (L + R) of the putamen SBRs (absent when L + R ≤ 0)",
            },
            MeasurementSpec {
                name: "asymmetry-caudate",
                unit: "%",
                description: "200 |L − R| / (L + R) of the caudate SBRs (absent when L + R ≤ 0)",
            },
            MeasurementSpec {
                name: "putamen-caudate-ratio-left",
                unit: "1",
                description: "left putamen SBR / left caudate SBR (absent when the caudate SBR ≤ 0)",
            },
            MeasurementSpec {
                name: "putamen-caudate-ratio-right",
                unit: "1",
                description: "right putamen SBR / right caudate SBR (absent when the caudate SBR ≤ 0)",
            },
            MeasurementSpec {
                name: "reference-mean",
                unit: "[arb'U]",
                description: "mean SPECT over the reference region, in the SPECT's units",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "spect-in-template",
            description: "with a template: the SPECT registered onto the template grid (0 outside its field of view)",
            kind: ImageKind::Image,
            grid: "template",
        }]
    }
    fn run(&self, inputs: &Inputs, _params: &Params) -> Result<Outputs, AlgoError> {
        let get = |role: &str| input(inputs, role);
        let spect = get("spect")?;
        require_resolution("spect", spect, MAX_VOXEL_MM)?;
        let template = inputs.get("template");
        if let Some(t) = template {
            require_resolution("template", t, MAX_VOXEL_MM)?;
        }
        let grid = template.map_or(&spect.geometry, |t| &t.geometry);
        let mut masks = Vec::new();
        for role in REGIONS.into_iter().chain(["reference"]) {
            masks.push((role, mask_on(role, get(role)?, grid)?));
        }
        let by_role: Vec<(&str, &Array3<bool>)> = masks.iter().map(|(r, m)| (*r, m)).collect();
        refuse_overlap(&by_role[..4])?;
        let (values, image) = match template {
            Some(t) => {
                let on = onto_template("spect", spect, t)?;
                let image = on.image();
                (on.values.data, Some(image))
            }
            None => (spect.data.clone(), None),
        };
        let reference = voi_mean("reference", &values, &masks[4].1)?;
        if reference <= 0.0 {
            return Err(AlgoError::Input {
                role: "spect".to_owned(),
                why: format!(
                    "its mean over the reference region is {reference}: a binding ratio to it means nothing"
                ),
            });
        }
        let sbr = |role: &str, voi: &Array3<bool>| -> Result<f64, AlgoError> {
            Ok((voi_mean(role, &values, voi)? - reference) / reference)
        };
        let mut regional = Vec::new();
        for (role, voi) in &masks[..4] {
            regional.push(sbr(role, voi)?);
        }
        let union =
            |a: &Array3<bool>, b: &Array3<bool>| Zip::from(a).and(b).map_collect(|x, y| *x || *y);
        let left_striatum = sbr("left-caudate", &union(&masks[0].1, &masks[2].1))?;
        let right_striatum = sbr("right-caudate", &union(&masks[1].1, &masks[3].1))?;
        let [lc, rc, lp, rp] = [regional[0], regional[1], regional[2], regional[3]];
        let mut measurements = vec![
            measurement("sbr-left-caudate", lc, "1"),
            measurement("sbr-right-caudate", rc, "1"),
            measurement("sbr-left-putamen", lp, "1"),
            measurement("sbr-right-putamen", rp, "1"),
            measurement("sbr-left-striatum", left_striatum, "1"),
            measurement("sbr-right-striatum", right_striatum, "1"),
        ];
        measurements.extend(asymmetry("asymmetry-putamen", lp, rp));
        measurements.extend(asymmetry("asymmetry-caudate", lc, rc));
        if lc > 0.0 {
            measurements.push(measurement("putamen-caudate-ratio-left", lp / lc, "1"));
        }
        if rc > 0.0 {
            measurements.push(measurement("putamen-caudate-ratio-right", rp / rc, "1"));
        }
        measurements.push(measurement("reference-mean", reference, "[arb'U]"));
        Ok(Outputs {
            measurements,
            images: image
                .map(|i| vec![("spect-in-template".to_owned(), i)])
                .unwrap_or_default(),
            tables: Vec::new(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests;
