//! `pet.percist`: FDG PET response by PERCIST 1.0 (Wahl, Jacene, Kasamon, Lodge, J Nucl Med
//! 2009;50:122S–150S; applied as in O JH, Lodge MA, Wahl RL, Radiology 2016;280:576–584).
//!
//! Uptake is SUL: SUV normalised to lean body mass (Janmahasatian) ([`super::uptake`]). At each
//! time point: the liver reference is a 3 cm diameter sphere in the liver, centred at the liver
//! mask's deepest point (furthest from its edge and from any lesion; a drawn 3 cm VOI gives back
//! its own centre), restricted to the mask, with partial-voxel weights ([`super::sphere`]); its
//! SUL mean and SD give the measurability threshold 1.5 × mean + 2 × SD. The target is the
//! hottest lesion: the highest SULpeak (1 cm³ sphere) of the lesions at that time point, so the
//! follow-up's may be a different lesion. Response, from the baseline's target (which must be
//! measurable) to the follow-up's:
//! - CMR: no lesion left at follow-up, or the follow-up's hottest SULpeak below the follow-up
//!   liver's SUL mean, and no new lesion;
//! - PMR: SULpeak down by ≥ 30 % and ≥ 0.8 SUL;
//! - PMD: up by ≥ 30 % and ≥ 0.8 SUL, or new FDG-avid lesions (as the reader says: `new-lesions`);
//! - SMD: otherwise.
//!
//! The liver must be stable for the comparison to be read as is: its SUL mean within 20 % and
//! 0.3 SUL of the baseline's (reported, `liver-stable`).
//!
//! When the liver is abnormal (diffuse disease, metastases throughout), PERCIST refers to the
//! blood pool instead: a 1 cm × 2 cm VOI in the descending thoracic aorta, given as the
//! `*-blood-pool` mask (its voxels' SUL mean and SD, as drawn), threshold 2.0 × mean + 2 × SD.
//! A time point uses the liver when its liver mask is given, else the blood pool; CMR is then
//! judged against the blood pool's mean.

use super::sphere::{PEAK_RADIUS_MM, PeakSearch, Sphere, SphereStats};
use super::uptake::{self, Normalisation, Units};
use super::{Lesion, lesions, require_same_grid};
use crate::image::input;
use crate::neuro::measurement;
use crate::{
    AlgoError, Algorithm, ImageSpec, InputKind, InputRole, Inputs, Measurement, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params, Table, TableSpec,
};
use corelab_image::Volume;
use corelab_image::distance::edt;
use ndarray::{Array3, Zip};

/// See the module.
pub struct Percist;

/// The liver reference sphere's radius (mm): 3 cm across.
pub const LIVER_RADIUS_MM: f64 = 15.0;

/// Response categories as the `response` measurement codes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// No measurable target at baseline and no new lesion: not evaluable (0).
    NotEvaluable = 0,
    /// Complete metabolic response (1).
    Complete = 1,
    /// Partial metabolic response (2).
    Partial = 2,
    /// Stable metabolic disease (3).
    Stable = 3,
    /// Progressive metabolic disease (4).
    Progressive = 4,
}

/// The normal-tissue reference a time point is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// A 3 cm sphere in normal liver: threshold 1.5 × mean + 2 × SD (1).
    Liver = 1,
    /// A blood-pool VOI in the descending aorta, when the liver is abnormal: threshold
    /// 2.0 × mean + 2 × SD (2).
    BloodPool = 2,
}

impl Reference {
    /// The threshold of measurability from the reference's SUL mean and SD.
    pub fn threshold(self, mean: f64, sd: f64) -> f64 {
        match self {
            Reference::Liver => 1.5 * mean + 2.0 * sd,
            Reference::BloodPool => 2.0 * mean + 2.0 * sd,
        }
    }

    /// The input role's and the measurements' name for it.
    fn name(self) -> &'static str {
        match self {
            Reference::Liver => "liver",
            Reference::BloodPool => "blood-pool",
        }
    }
}

/// One time point, measured.
#[derive(Clone, Debug)]
pub struct TimePoint {
    /// Which reference it was measured against.
    pub reference: Reference,
    /// The reference's SUL mean, SD and volume (mL).
    pub stats: (f64, f64, f64),
    /// `reference.threshold(mean, SD)`.
    pub threshold: f64,
    /// Each lesion: (id, SULmax, SULpeak).
    pub lesions: Vec<(u32, f64, f64)>,
}

impl TimePoint {
    /// The hottest lesion: (id, SULpeak), the first of equals.
    pub fn hottest(&self) -> Option<(u32, f64)> {
        let mut best: Option<(u32, f64)> = None;
        for (id, _, peak) in &self.lesions {
            if best.is_none_or(|(_, b)| *peak > b) {
                best = Some((*id, *peak));
            }
        }
        best
    }
}

/// The response from `baseline` to `followup` (PERCIST 1.0), and whether the baseline target is
/// measurable.
pub fn response(baseline: &TimePoint, followup: &TimePoint, new_lesions: bool) -> Response {
    let Some((_, before)) = baseline.hottest().filter(|(_, p)| *p >= baseline.threshold) else {
        return if new_lesions {
            Response::Progressive
        } else {
            Response::NotEvaluable
        };
    };
    if new_lesions {
        return Response::Progressive;
    }
    let Some((_, after)) = followup.hottest() else {
        return Response::Complete;
    };
    if after < followup.stats.0 {
        return Response::Complete;
    }
    let change = (after - before) / before;
    let difference = after - before;
    if change <= -0.30 && difference <= -0.8 {
        Response::Partial
    } else if change >= 0.30 && difference >= 0.8 {
        Response::Progressive
    } else {
        Response::Stable
    }
}

/// Measures one time point: `pet` (role `image_role`) in SUL by `factor`, its lesions and its
/// liver reference.
fn time_point(
    when: &str,
    pet: &Volume<f32>,
    factor: f64,
    lesion_mask: &Volume<f32>,
    (reference, reference_mask): (Reference, &Volume<f32>),
    allow_no_lesion: bool,
) -> Result<TimePoint, AlgoError> {
    let lesions_role = format!("{when}-lesions");
    let reference_role = format!("{when}-{}", reference.name());
    require_same_grid(&lesions_role, lesion_mask, when, pet)?;
    require_same_grid(&reference_role, reference_mask, when, pet)?;
    let found = lesions(&lesions_role, lesion_mask, allow_no_lesion)?;
    let sul = uptake::scaled(when, pet, factor)?;
    let peak = PeakSearch::on(&pet.geometry, PEAK_RADIUS_MM);
    let measured = found
        .iter()
        .map(|l| lesion_sul(&sul, &peak, l))
        .collect::<Result<Vec<_>, _>>()?;
    let stats = match reference {
        Reference::Liver => {
            liver_reference(&reference_role, &sul, pet, reference_mask, lesion_mask)?
        }
        Reference::BloodPool => blood_pool_reference(&reference_role, &sul, reference_mask)?,
    };
    Ok(TimePoint {
        reference,
        stats: (
            stats.mean,
            stats.sd,
            stats.weight * pet.geometry.voxel_volume() / 1000.0,
        ),
        threshold: reference.threshold(stats.mean, stats.sd),
        lesions: measured,
    })
}

fn lesion_sul(
    sul: &Array3<f64>,
    peak: &PeakSearch,
    l: &Lesion,
) -> Result<(u32, f64, f64), AlgoError> {
    let max = l.voxels.iter().map(|v| sul[*v]).fold(f64::MIN, f64::max);
    let (p, _) = peak
        .find(sul, &l.voxels)
        .ok_or_else(|| AlgoError::Failed(format!("lesion {}: no SULpeak sphere fits", l.id)))?;
    Ok((l.id, max, p))
}

/// The 3 cm liver VOI: centred at the voxel of the liver mask (lesions taken out) furthest from
/// its edge (the first of equals in scan order), restricted to the mask. Refused when less than
/// half the sphere is liver: the mask is too small or too thin for a 3 cm VOI.
fn liver_reference(
    role: &str,
    sul: &Array3<f64>,
    pet: &Volume<f32>,
    liver_mask: &Volume<f32>,
    lesion_mask: &Volume<f32>,
) -> Result<SphereStats, AlgoError> {
    let bad = |why: String| AlgoError::Input {
        role: role.to_owned(),
        why,
    };
    let mut liver = liver_mask.data.mapv(|v| v > 0.5);
    Zip::from(&mut liver)
        .and(&lesion_mask.data)
        .for_each(|l, les| *l = *l && *les == 0.0);
    if !liver.iter().any(|b| *b) {
        return Err(bad(
            "the liver mask is empty (or wholly lesion): no reference".into(),
        ));
    }
    let depth = edt(&liver.mapv(|b| !b), pet.geometry.spacing());
    let [ni, nj, nk] = pet.geometry.dims;
    let mut centre = [0usize; 3];
    let mut deepest = f64::MIN;
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                if liver[[i, j, k]] && depth[[i, j, k]] > deepest {
                    deepest = depth[[i, j, k]];
                    centre = [i, j, k];
                }
            }
        }
    }
    let sphere = Sphere::on(&pet.geometry, LIVER_RADIUS_MM);
    let full = 4.0 / 3.0 * std::f64::consts::PI * LIVER_RADIUS_MM.powi(3);
    let stats = sphere
        .stats(sul, centre, Some(&liver))
        .filter(|s| s.weight * pet.geometry.voxel_volume() >= 0.5 * full)
        .ok_or_else(|| {
            bad(format!(
                "less than half of a 3 cm sphere fits in the liver mask (its deepest point is {deepest:.1} mm from its edge): give a mask of normal right-lobe liver at least 3 cm across"
            ))
        })?;
    if stats.mean <= 0.0 {
        return Err(bad(format!(
            "the liver reference's SUL mean is {}: no uptake to refer to",
            stats.mean
        )));
    }
    Ok(stats)
}

/// The blood-pool VOI as drawn (the reader's 1 cm × 2 cm cylinder in the descending aorta): its
/// voxels' SUL mean and (population) SD. Refused when empty or without uptake.
fn blood_pool_reference(
    role: &str,
    sul: &Array3<f64>,
    mask: &Volume<f32>,
) -> Result<SphereStats, AlgoError> {
    let bad = |why: String| AlgoError::Input {
        role: role.to_owned(),
        why,
    };
    let values: Vec<f64> = Zip::from(sul)
        .and(&mask.data)
        .fold(Vec::new(), |mut acc, v, m| {
            if *m > 0.5 {
                acc.push(*v);
            }
            acc
        });
    let (mean, sd) = crate::image::mean_sd(&values)
        .ok_or_else(|| bad("the blood-pool mask is empty: no reference".into()))?;
    if mean <= 0.0 {
        return Err(bad(format!(
            "the blood pool's SUL mean is {mean}: no uptake to refer to"
        )));
    }
    Ok(SphereStats {
        mean,
        sd,
        weight: values.len() as f64,
    })
}

const COLUMNS: &[(&str, &str)] = &[
    ("followup", "1"),
    ("id", "1"),
    ("sul-max", "g/mL"),
    ("sul-peak", "g/mL"),
    ("measurable", "1"),
];

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn lesion_table(baseline: &TimePoint, followup: &TimePoint) -> Table {
    let rows = [(0.0, baseline), (1.0, followup)]
        .into_iter()
        .flat_map(|(when, t)| {
            t.lesions.iter().map(move |(id, max, peak)| {
                vec![
                    when,
                    f64::from(*id),
                    *max,
                    *peak,
                    flag(*peak >= t.threshold),
                ]
            })
        })
        .collect();
    Table {
        name: "lesions".into(),
        columns: COLUMNS.iter().map(|c| c.0.to_owned()).collect(),
        rows,
    }
}

fn image_role(role: &'static str, description: &'static str) -> InputRole {
    InputRole {
        role,
        kind: InputKind::Image,
        required: true,
        description,
    }
}

fn mask_role(role: &'static str, required: bool, description: &'static str) -> InputRole {
    InputRole {
        role,
        kind: InputKind::Mask,
        required,
        description,
    }
}

impl Algorithm for Percist {
    fn id(&self) -> &'static str {
        "pet.percist"
    }
    fn version(&self) -> &'static str {
        "1.1.0"
    }
    fn description(&self) -> &'static str {
        "FDG PET response by PERCIST 1.0 between a baseline and a follow-up: SUL (lean body mass) peak of the hottest lesion at each time point, liver reference (3 cm sphere) and measurability threshold, percent and absolute change, CMR / PMR / SMD / PMD, liver stability (docs/algorithms/pet.percist.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Wahl RL, Jacene H, Kasamon Y, Lodge MA. From RECIST to PERCIST: evolving considerations for PET response criteria in solid tumors. J Nucl Med 2009;50:122S-150S.",
            "O JH, Lodge MA, Wahl RL. Practical PERCIST: a simplified guide to PET response criteria in solid tumors 1.0. Radiology 2016;280:576-584.",
            "Janmahasatian S et al. Quantification of lean bodyweight. Clin Pharmacokinet 2005;44:1051-1065.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            image_role(
                "baseline",
                "the baseline FDG PET (DICOM, or a file with units given by parameter)",
            ),
            mask_role(
                "baseline-lesions",
                true,
                "the baseline's lesions on its grid (binary: one per component; labels: one per label)",
            ),
            mask_role(
                "baseline-liver",
                false,
                "normal liver on the baseline's grid (the right lobe, or a drawn 3 cm VOI); give it or baseline-blood-pool",
            ),
            mask_role(
                "baseline-blood-pool",
                false,
                "when the liver is abnormal: a 1 cm × 2 cm VOI in the descending thoracic aorta on the baseline's grid (used when no baseline-liver is given)",
            ),
            image_role("followup", "the follow-up FDG PET"),
            mask_role(
                "followup-lesions",
                true,
                "the follow-up's lesions on its grid (empty: none left)",
            ),
            mask_role(
                "followup-liver",
                false,
                "normal liver on the follow-up's grid; give it or followup-blood-pool",
            ),
            mask_role(
                "followup-blood-pool",
                false,
                "when the liver is abnormal: the descending aorta VOI on the follow-up's grid",
            ),
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let factor = |name, description| ParamSpec {
            name,
            kind: ParamKind::Number { min: 0.0, max: 1e3 },
            default: ParamValue::Number(0.0),
            unit: Some("g/Bq"),
            description,
        };
        vec![
            ParamSpec {
                name: "units",
                kind: ParamKind::Choice {
                    values: &["header", "sul", "bqml"],
                },
                default: ParamValue::Choice("header".into()),
                unit: None,
                description: "header: SUL from each DICOM PET header (weight, height, sex, dose, decay); sul: the values are SUL already; bqml: Bq/mL, times the *-sul-factor",
            },
            factor(
                "baseline-sul-factor",
                "with units=bqml: the baseline's lean body mass (g) / decayed dose (Bq)",
            ),
            factor(
                "followup-sul-factor",
                "with units=bqml: the follow-up's lean body mass (g) / decayed dose (Bq)",
            ),
            ParamSpec {
                name: "new-lesions",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(false),
                unit: None,
                description: "the reader found new FDG-avid lesions typical of cancer at follow-up (PMD)",
            },
        ]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        let m = |name, unit, description| MeasurementSpec {
            name,
            unit,
            description,
        };
        vec![
            m(
                "response",
                "1",
                "0 not evaluable, 1 CMR, 2 PMR, 3 SMD, 4 PMD",
            ),
            m(
                "baseline-measurable",
                "1",
                "1 when the baseline's hottest SULpeak reaches its threshold",
            ),
            m(
                "baseline-sul-peak",
                "g/mL",
                "the baseline's hottest lesion's SULpeak",
            ),
            m("baseline-lesion", "1", "its id"),
            m(
                "followup-sul-peak",
                "g/mL",
                "the follow-up's hottest lesion's SULpeak (none left: not reported)",
            ),
            m("followup-lesion", "1", "its id"),
            m(
                "sul-peak-change",
                "%",
                "follow-up vs baseline hottest SULpeak",
            ),
            m(
                "sul-peak-difference",
                "g/mL",
                "follow-up − baseline hottest SULpeak",
            ),
            m(
                "baseline-reference",
                "1",
                "the baseline's reference: 1 liver, 2 blood pool (no liver given)",
            ),
            m(
                "followup-reference",
                "1",
                "the follow-up's reference: 1 liver, 2 blood pool",
            ),
            m(
                "baseline-blood-pool-sul-mean",
                "g/mL",
                "with the blood pool as reference: its SUL mean, baseline",
            ),
            m("baseline-blood-pool-sul-sd", "g/mL", "its SD"),
            m("baseline-blood-pool-volume", "mL", "its volume"),
            m(
                "followup-blood-pool-sul-mean",
                "g/mL",
                "with the blood pool as reference: its SUL mean, follow-up",
            ),
            m("followup-blood-pool-sul-sd", "g/mL", "its SD"),
            m("followup-blood-pool-volume", "mL", "its volume"),
            m(
                "baseline-liver-sul-mean",
                "g/mL",
                "the baseline liver reference's SUL mean",
            ),
            m("baseline-liver-sul-sd", "g/mL", "its SD"),
            m(
                "baseline-liver-volume",
                "mL",
                "its volume (the 3 cm sphere within the mask)",
            ),
            m(
                "baseline-threshold",
                "g/mL",
                "1.5 × liver SUL mean + 2 × SD (blood pool: 2.0 × mean + 2 × SD), baseline",
            ),
            m(
                "followup-liver-sul-mean",
                "g/mL",
                "the follow-up liver reference's SUL mean",
            ),
            m("followup-liver-sul-sd", "g/mL", "its SD"),
            m("followup-liver-volume", "mL", "its volume"),
            m(
                "followup-threshold",
                "g/mL",
                "1.5 × liver SUL mean + 2 × SD (blood pool: 2.0 × mean + 2 × SD), follow-up",
            ),
            m(
                "liver-change",
                "%",
                "follow-up vs baseline liver SUL mean (both time points on the liver)",
            ),
            m(
                "liver-stable",
                "1",
                "1 when the liver SUL mean changed by ≤ 20 % and < 0.3 SUL",
            ),
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        Vec::new()
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "lesions",
            columns: COLUMNS,
            description: "one row per lesion and time point (followup 0: baseline, 1: follow-up): SULmax, SULpeak, and whether it reaches its time point's threshold",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let units = params.choice("units").unwrap_or("header");
        let mut points = Vec::new();
        for when in ["baseline", "followup"] {
            let pet = input(inputs, when)?;
            let factor_param = format!("{when}-sul-factor");
            let factor = uptake::factor(
                when,
                pet,
                &Units {
                    units,
                    factor_param: &factor_param,
                    factor: params.number(&factor_param),
                },
                Normalisation::LeanBodyMass,
            )?;
            let reference = [Reference::Liver, Reference::BloodPool]
                .into_iter()
                .find_map(|r| inputs.get(&format!("{when}-{}", r.name())).map(|m| (r, m)))
                .ok_or_else(|| AlgoError::Input {
                    role: format!("{when}-liver"),
                    why: format!(
                        "missing: give {when}-liver (normal liver), or {when}-blood-pool (a descending aorta VOI) when the liver is abnormal"
                    ),
                })?;
            points.push(time_point(
                when,
                pet,
                factor,
                input(inputs, &format!("{when}-lesions"))?,
                reference,
                when == "followup",
            )?);
        }
        let (baseline, followup) = (&points[0], &points[1]);
        let new_lesions = params.boolean("new-lesions").unwrap_or(false);
        let verdict = response(baseline, followup, new_lesions);
        let mut out: Vec<Measurement> = vec![measurement("response", verdict as i32 as f64, "1")];
        let (base_id, base_peak) = baseline.hottest().ok_or_else(|| {
            AlgoError::Failed("no baseline lesion (the mask was checked non-empty)".into())
        })?;
        out.push(measurement(
            "baseline-measurable",
            flag(base_peak >= baseline.threshold),
            "1",
        ));
        out.push(measurement("baseline-sul-peak", base_peak, "g/mL"));
        out.push(measurement("baseline-lesion", f64::from(base_id), "1"));
        if let Some((id, peak)) = followup.hottest() {
            out.push(measurement("followup-sul-peak", peak, "g/mL"));
            out.push(measurement("followup-lesion", f64::from(id), "1"));
            out.push(measurement(
                "sul-peak-change",
                100.0 * (peak - base_peak) / base_peak,
                "%",
            ));
            out.push(measurement("sul-peak-difference", peak - base_peak, "g/mL"));
        }
        for (when, t) in [("baseline", baseline), ("followup", followup)] {
            let name = t.reference.name();
            out.push(measurement(
                &format!("{when}-reference"),
                f64::from(t.reference as u8),
                "1",
            ));
            out.push(measurement(
                &format!("{when}-{name}-sul-mean"),
                t.stats.0,
                "g/mL",
            ));
            out.push(measurement(
                &format!("{when}-{name}-sul-sd"),
                t.stats.1,
                "g/mL",
            ));
            out.push(measurement(
                &format!("{when}-{name}-volume"),
                t.stats.2,
                "mL",
            ));
            out.push(measurement(
                &format!("{when}-threshold"),
                t.threshold,
                "g/mL",
            ));
        }
        if [baseline, followup]
            .iter()
            .all(|t| t.reference == Reference::Liver)
        {
            let (before, after) = (baseline.stats.0, followup.stats.0);
            let change = (after - before) / before;
            out.push(measurement("liver-change", 100.0 * change, "%"));
            out.push(measurement(
                "liver-stable",
                flag(change.abs() <= 0.20 && (after - before).abs() < 0.3),
                "1",
            ));
        }
        Ok(Outputs {
            measurements: out,
            images: Vec::new(),
            tables: vec![lesion_table(baseline, followup)],
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests;
