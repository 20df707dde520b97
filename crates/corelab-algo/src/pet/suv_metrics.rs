//! `pet.suv-metrics`: the uptake of each lesion of an FDG PET, the quantities of the EANM
//! guideline (Boellaard et al. 2015) and PERCIST (Wahl et al. 2009): SUVmax, SUVmean over the
//! lesion, SUVpeak (the highest mean in a 1 cm³ sphere centred in the lesion, partial-voxel
//! weights: [`super::sphere`]), and the metabolic tumour volume and total lesion glycolysis by
//! two thresholds: a fraction of the lesion's SUVmax (41 %) and a fixed SUV (2.5). SUVs are
//! body-weight SUVs from the series' header ([`super::uptake`]).

use super::sphere::{PEAK_RADIUS_MM, PeakSearch};
use super::uptake::{self, Normalisation, Units};
use super::{Lesion, lesions, require_same_grid};
use crate::image::input;
use crate::neuro::measurement;
use crate::{
    AlgoError, Algorithm, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec, Outputs,
    ParamKind, ParamSpec, ParamValue, Params, Table, TableSpec,
};
use ndarray::Array3;

/// See the module.
pub struct SuvMetrics;

/// The per-lesion table's columns.
const COLUMNS: &[(&str, &str)] = &[
    ("id", "1"),
    ("voxels", "1"),
    ("volume", "mL"),
    ("suv-max", "g/mL"),
    ("suv-mean", "g/mL"),
    ("suv-peak", "g/mL"),
    ("peak-x", "mm"),
    ("peak-y", "mm"),
    ("peak-z", "mm"),
    ("mtv-relative", "mL"),
    ("tlg-relative", "g"),
    ("mtv-fixed", "mL"),
    ("tlg-fixed", "g"),
];

/// One lesion's uptake.
#[derive(Clone, Debug, PartialEq)]
pub struct LesionUptake {
    /// The lesion's id (label, or component number).
    pub id: u32,
    /// Voxels in the lesion.
    pub voxels: usize,
    /// Lesion volume (mL).
    pub volume_ml: f64,
    /// Highest voxel (g/mL).
    pub suv_max: f64,
    /// Mean over the lesion (g/mL).
    pub suv_mean: f64,
    /// Highest 1 cm³ sphere mean with its centre in the lesion (g/mL).
    pub suv_peak: f64,
    /// The peak sphere's centre (LPS mm).
    pub peak_at_mm: [f64; 3],
    /// Relative threshold: (MTV mL, TLG g).
    pub relative: (f64, f64),
    /// Fixed threshold: (MTV mL, TLG g).
    pub fixed: (f64, f64),
}

/// The uptake of `lesion` in `suv` (on `grid`): thresholds as a fraction of its SUVmax and as
/// an SUV.
pub(crate) fn lesion_uptake(
    suv: &Array3<f64>,
    grid: &corelab_image::geometry::Geometry,
    search: &PeakSearch,
    lesion: &Lesion,
    relative: f64,
    fixed: f64,
) -> Result<LesionUptake, AlgoError> {
    let values: Vec<f64> = lesion.voxels.iter().map(|v| suv[*v]).collect();
    let n = values.len();
    let voxel_ml = grid.voxel_volume() / 1000.0;
    let suv_max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let suv_mean = values.iter().sum::<f64>() / n as f64;
    let (suv_peak, at) = search.find(suv, &lesion.voxels).ok_or_else(|| {
        AlgoError::Failed(format!("lesion {}: no SUVpeak sphere fits", lesion.id))
    })?;
    // MTV: the lesion's voxels at or above the threshold; TLG = MTV × their mean = their sum × voxel.
    let over = |t: f64| {
        let sum: f64 = values.iter().filter(|v| **v >= t).sum();
        let count = values.iter().filter(|v| **v >= t).count();
        (count as f64 * voxel_ml, sum * voxel_ml)
    };
    Ok(LesionUptake {
        id: lesion.id,
        voxels: n,
        volume_ml: n as f64 * voxel_ml,
        suv_max,
        suv_mean,
        suv_peak,
        peak_at_mm: grid.to_patient(at),
        relative: over(relative * suv_max),
        fixed: over(fixed),
    })
}

fn table(rows: &[LesionUptake]) -> Table {
    Table {
        name: "lesions".into(),
        columns: COLUMNS.iter().map(|c| c.0.to_owned()).collect(),
        rows: rows
            .iter()
            .map(|l| {
                vec![
                    f64::from(l.id),
                    l.voxels as f64,
                    l.volume_ml,
                    l.suv_max,
                    l.suv_mean,
                    l.suv_peak,
                    l.peak_at_mm[0],
                    l.peak_at_mm[1],
                    l.peak_at_mm[2],
                    l.relative.0,
                    l.relative.1,
                    l.fixed.0,
                    l.fixed.1,
                ]
            })
            .collect(),
    }
}

impl Algorithm for SuvMetrics {
    fn id(&self) -> &'static str {
        "pet.suv-metrics"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "Per-lesion FDG PET uptake (SUVbw from the series' header): SUVmax, SUVmean, SUVpeak (highest mean in a 1 cm³ sphere centred in the lesion, partial-voxel weights), metabolic tumour volume and total lesion glycolysis at 41 % of the lesion's SUVmax and at SUV 2.5; a per-lesion table and the patient's totals (docs/algorithms/pet.suv-metrics.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Boellaard R et al. FDG PET/CT: EANM procedure guidelines for tumour imaging: version 2.0. Eur J Nucl Med Mol Imaging 2015;42:328-354.",
            "Wahl RL, Jacene H, Kasamon Y, Lodge MA. From RECIST to PERCIST: evolving considerations for PET response criteria in solid tumors. J Nucl Med 2009;50:122S-150S.",
            "QIBA. Standardized Uptake Value (SUV), vendor-neutral pseudo-code (qibawiki.rsna.org).",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "pet",
                kind: InputKind::Image,
                required: true,
                description: "the PET: a DICOM PET series (SUV from its header) or a file with units given by parameter",
            },
            InputRole {
                role: "lesions",
                kind: InputKind::Mask,
                required: true,
                description: "lesions on the PET's grid: a binary mask (one lesion per 26-connected component) or a label image (one lesion per label)",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "units",
                kind: ParamKind::Choice {
                    values: &["header", "suv", "bqml"],
                },
                default: ParamValue::Choice("header".into()),
                unit: None,
                description: "header: SUVbw from the DICOM PET header (refused with the reason when it does not allow one); suv: the values are SUVbw already; bqml: Bq/mL, times suv-factor",
            },
            ParamSpec {
                name: "suv-factor",
                kind: ParamKind::Number { min: 0.0, max: 1e3 },
                default: ParamValue::Number(0.0),
                unit: Some("g/Bq"),
                description: "with units=bqml: weight (g) / injected dose decayed to the scan start (Bq)",
            },
            ParamSpec {
                name: "relative-threshold",
                kind: ParamKind::Number {
                    min: 1.0,
                    max: 100.0,
                },
                default: ParamValue::Number(41.0),
                unit: Some("%"),
                description: "MTV by a fraction of each lesion's SUVmax (EANM 2015: 41 %)",
            },
            ParamSpec {
                name: "fixed-threshold",
                kind: ParamKind::Number {
                    min: 0.0,
                    max: 100.0,
                },
                default: ParamValue::Number(2.5),
                unit: Some("g/mL"),
                description: "MTV by a fixed SUV",
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
            m("lesions", "1", "lesions measured"),
            m(
                "lesion-volume",
                "mL",
                "the lesions' volume (all mask voxels)",
            ),
            m("suv-max", "g/mL", "the highest SUVmax of the lesions"),
            m(
                "suv-peak",
                "g/mL",
                "the highest SUVpeak of the lesions (PERCIST's hottest lesion)",
            ),
            m(
                "total-mtv-relative",
                "mL",
                "metabolic tumour volume, each lesion at the relative threshold of its SUVmax",
            ),
            m(
                "total-tlg-relative",
                "g",
                "total lesion glycolysis (MTV × SUVmean inside it), relative threshold",
            ),
            m(
                "total-mtv-fixed",
                "mL",
                "metabolic tumour volume at the fixed SUV threshold",
            ),
            m(
                "total-tlg-fixed",
                "g",
                "total lesion glycolysis at the fixed SUV threshold",
            ),
            m(
                "suv-factor",
                "g/Bq",
                "the SUVbw factor applied to Bq/mL values (units header or bqml)",
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
            description: "one row per lesion: size, SUVmax, SUVmean, SUVpeak and where its sphere is, MTV and TLG at both thresholds",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let pet = input(inputs, "pet")?;
        let mask = input(inputs, "lesions")?;
        let units = params.choice("units").unwrap_or("header");
        let factor = uptake::factor(
            "pet",
            pet,
            &Units {
                units,
                factor_param: "suv-factor",
                factor: params.number("suv-factor"),
            },
            Normalisation::BodyWeight,
        )?;
        require_same_grid("lesions", mask, "pet", pet)?;
        let found = lesions("lesions", mask, false)?;
        let suv = uptake::scaled("pet", pet, factor)?;
        let search = PeakSearch::on(&pet.geometry, PEAK_RADIUS_MM);
        let relative = params.number("relative-threshold").unwrap_or(41.0) / 100.0;
        let fixed = params.number("fixed-threshold").unwrap_or(2.5);
        let rows = found
            .iter()
            .map(|l| lesion_uptake(&suv, &pet.geometry, &search, l, relative, fixed))
            .collect::<Result<Vec<_>, _>>()?;
        let highest = |f: fn(&LesionUptake) -> f64| rows.iter().map(f).fold(f64::MIN, f64::max);
        let total = |f: fn(&LesionUptake) -> f64| rows.iter().map(f).sum::<f64>();
        let mut measurements = vec![
            measurement("lesions", rows.len() as f64, "1"),
            measurement("lesion-volume", total(|l| l.volume_ml), "mL"),
            measurement("suv-max", highest(|l| l.suv_max), "g/mL"),
            measurement("suv-peak", highest(|l| l.suv_peak), "g/mL"),
            measurement("total-mtv-relative", total(|l| l.relative.0), "mL"),
            measurement("total-tlg-relative", total(|l| l.relative.1), "g"),
            measurement("total-mtv-fixed", total(|l| l.fixed.0), "mL"),
            measurement("total-tlg-fixed", total(|l| l.fixed.1), "g"),
        ];
        if units != "suv" {
            measurements.push(measurement("suv-factor", factor, "g/Bq"));
        }
        Ok(Outputs {
            measurements,
            images: Vec::new(),
            tables: vec![table(&rows)],
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests;
