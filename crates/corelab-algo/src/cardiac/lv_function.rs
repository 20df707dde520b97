//! `cardiac.lv-function`: left-ventricular end-diastolic and end-systolic volumes, stroke volume,
//! ejection fraction and mass from the blood-pool and myocardium masks of a short-axis cine
//! stack, by Simpson's summation of discs (each slice's area × the distance between slices), as
//! the SCMR post-processing recommendations (Schulz-Menger et al. 2020) measure them.
//!
//! The masks come from a reader, a model or a file, in one of three forms:
//! - **ED and ES labelled**: `blood-pool-ed`, `blood-pool-es`, `myocardium-ed` (and optionally
//!   `myocardium-es`) as binary masks, or `labels-ed` / `labels-es` as label maps (the ACDC
//!   convention by default: 2 myocardium, 3 blood pool, as models trained on ACDC or M&Ms write);
//! - **every temporal position**: `blood-pool-t01`, `blood-pool-t02`, … (and `myocardium-tNN`),
//!   end diastole then found as the position of the largest blood pool and end systole as that
//!   of the smallest, both reported, with the volume curve.
//!
//! Masks are binary (value above ½ inside) or, with `mask-values=fraction`, the fraction of each
//! voxel inside (a model's soft output, partial-volume maps).

use super::{
    MYOCARDIAL_DENSITY_G_PER_ML, disc_volume_ml, long_axis_angle_deg, measurement,
    pixel_area_and_slice_distance, require_finite, require_same_grid, slice_areas,
};
use crate::{
    AlgoError, Algorithm, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec, Outputs,
    ParamKind, ParamSpec, ParamValue, Params, Table, TableSpec,
};
use corelab_image::Volume;
use ndarray::{Array3, Zip};
use std::sync::LazyLock;

/// See the module.
pub struct LvFunction;

/// The most temporal positions given one by one (cine series have 16 to 40; 50 leaves room).
pub const MAX_POSITIONS: usize = 50;
/// A stack whose slices are tilted more than this from perpendicular to the ventricle's long
/// axis is not a short-axis stack.
pub const MAX_LONG_AXIS_ANGLE_DEG: f64 = 45.0;
/// Blood-pool voxels a same-phase myocardium may share before the two are refused as drawn at
/// different phases (or swapped).
const MAX_SHARED_FRACTION: f64 = 0.05;

/// `blood-pool-t01` … and `myocardium-t01` …, made once so that roles can be `&'static str`.
static POSITION_ROLES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    (1..=MAX_POSITIONS)
        .map(|t| (format!("blood-pool-t{t:02}"), format!("myocardium-t{t:02}")))
        .collect()
});

/// The roles that say a phase by name.
const LABELLED: [&str; 6] = [
    "blood-pool-ed",
    "blood-pool-es",
    "myocardium-ed",
    "myocardium-es",
    "labels-ed",
    "labels-es",
];

/// How mask voxel values are read.
#[derive(Clone, Copy, PartialEq)]
enum MaskValues {
    /// Above ½ inside.
    Binary,
    /// The fraction of the voxel inside, in [0, 1].
    Fraction,
}

/// A structure's mask as fractions of each voxel inside, with the role it came from.
struct Mask {
    role: String,
    fractions: Array3<f32>,
}

/// The masks of one phase.
struct Phase {
    blood: Mask,
    myocardium: Option<Mask>,
}

/// The phases measured, and how they were chosen.
struct Phases {
    ed: Phase,
    es: Phase,
    /// With every temporal position given: ED's and ES's positions (from 1) and each position's
    /// blood-pool volume (mL).
    identified: Option<(usize, usize, Vec<f64>)>,
}

fn read_mask(role: &str, v: &Volume<f32>, values: MaskValues) -> Result<Mask, AlgoError> {
    require_finite(role, v)?;
    let fractions = match values {
        MaskValues::Binary => v.data.mapv(|x| if x > 0.5 { 1.0 } else { 0.0 }),
        MaskValues::Fraction => {
            if let Some(x) = v.data.iter().find(|x| !(-1e-3..=1.001).contains(*x)) {
                return Err(AlgoError::Input {
                    role: role.to_owned(),
                    why: format!(
                        "holds {x}, not a fraction in [0, 1] (mask-values=fraction); give binary masks with mask-values=binary"
                    ),
                });
            }
            v.data.mapv(|x| x.clamp(0.0, 1.0))
        }
    };
    Ok(Mask {
        role: role.to_owned(),
        fractions,
    })
}

fn read_label(role: &str, v: &Volume<f32>, label: i64) -> Result<Mask, AlgoError> {
    require_finite(role, v)?;
    if let Some(x) = v.data.iter().find(|x| (**x - x.round()).abs() > 1e-3) {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!("holds {x}: a label map holds whole numbers"),
        });
    }
    Ok(Mask {
        role: role.to_owned(),
        fractions: v
            .data
            .mapv(|x| if x.round() as i64 == label { 1.0 } else { 0.0 }),
    })
}

/// The labels of the label-map roles.
struct Labels {
    blood: i64,
    myocardium: i64,
}

/// A structure of a named phase (`ed`, `es`) from its mask role or its label map, not both.
fn labelled_structure(
    inputs: &Inputs,
    structure: &str,
    phase: &str,
    label: i64,
    values: MaskValues,
) -> Result<Option<Mask>, AlgoError> {
    let mask_role = format!("{structure}-{phase}");
    let label_role = format!("labels-{phase}");
    match (inputs.get(&mask_role), inputs.get(&label_role)) {
        (Some(_), Some(_)) => Err(AlgoError::Input {
            role: mask_role.clone(),
            why: format!(
                "given with {label_role}, which holds the {structure} too: give one or the other"
            ),
        }),
        (Some(v), None) => read_mask(&mask_role, v, values).map(Some),
        (None, Some(v)) => read_label(&label_role, v, label).map(Some),
        (None, None) => Ok(None),
    }
}

fn labelled_phases(
    inputs: &Inputs,
    labels: &Labels,
    values: MaskValues,
) -> Result<Phases, AlgoError> {
    let phase = |name: &str| -> Result<Phase, AlgoError> {
        let blood = labelled_structure(inputs, "blood-pool", name, labels.blood, values)?
            .ok_or_else(|| AlgoError::Input {
                role: format!("blood-pool-{name}"),
                why: format!(
                    "missing: give the {} blood pool as blood-pool-{name} (a mask) or labels-{name} (a label map)",
                    name.to_uppercase()
                ),
            })?;
        let myocardium = labelled_structure(inputs, "myocardium", name, labels.myocardium, values)?;
        Ok(Phase { blood, myocardium })
    };
    let (ed, es) = (phase("ed")?, phase("es")?);
    if ed.myocardium.is_none() {
        return Err(AlgoError::Input {
            role: "myocardium-ed".into(),
            why: "missing: the LV mass is measured on the end-diastolic myocardium (myocardium-ed, or labels-ed holding it)".into(),
        });
    }
    Ok(Phases {
        ed,
        es,
        identified: None,
    })
}

fn positional_phases(
    inputs: &Inputs,
    values: MaskValues,
    grid: &corelab_image::geometry::Geometry,
) -> Result<Phases, AlgoError> {
    let last = POSITION_ROLES
        .iter()
        .rposition(|(b, m)| inputs.contains_key(b) || inputs.contains_key(m))
        .map_or(0, |p| p + 1);
    let mut bloods = Vec::new();
    for (blood, _) in &POSITION_ROLES[..last] {
        let v = inputs.get(blood).ok_or_else(|| AlgoError::Input {
            role: blood.clone(),
            why: format!(
                "missing: with masks per temporal position, give the blood pool at every position from 1 to {last}"
            ),
        })?;
        bloods.push(read_mask(blood, v, values)?);
    }
    if bloods.len() < 2 {
        return Err(AlgoError::Input {
            role: "blood-pool-t02".into(),
            why: "missing: end diastole and end systole are found among at least two temporal positions".into(),
        });
    }
    let curve: Vec<f64> = bloods
        .iter()
        .map(|m| disc_volume_ml(&slice_areas(&m.fractions, grid), grid))
        .collect();
    // The first of equal volumes: with a flat curve, the earlier position after the R wave.
    let pick = |better: fn(f64, f64) -> bool| {
        (0..curve.len()).fold(0, |best, t| {
            if better(curve[t], curve[best]) {
                t
            } else {
                best
            }
        })
    };
    let (ed, es) = (pick(|a, b| a > b), pick(|a, b| a < b));
    if ed == es {
        return Err(AlgoError::Input {
            role: POSITION_ROLES[ed].0.clone(),
            why: format!(
                "every temporal position holds the same blood-pool volume ({:.1} mL): no contraction to measure",
                curve[ed]
            ),
        });
    }
    let myocardium = |t: usize| -> Result<Option<Mask>, AlgoError> {
        let role = &POSITION_ROLES[t].1;
        inputs
            .get(role)
            .map(|v| read_mask(role, v, values))
            .transpose()
    };
    let ed_myocardium = myocardium(ed)?.ok_or_else(|| AlgoError::Input {
        role: POSITION_ROLES[ed].1.clone(),
        why: format!(
            "missing: end diastole is temporal position {} (the largest blood pool, {:.1} mL), and the LV mass is measured on its myocardium",
            ed + 1,
            curve[ed]
        ),
    })?;
    let es_myocardium = myocardium(es)?;
    let mut bloods: Vec<Option<Mask>> = bloods.into_iter().map(Some).collect();
    let (Some(ed_blood), Some(es_blood)) = (bloods[ed].take(), bloods[es].take()) else {
        return Err(AlgoError::Malformed(format!(
            "positions {ed} and {es} of {} blood pools",
            bloods.len()
        )));
    };
    Ok(Phases {
        ed: Phase {
            blood: ed_blood,
            myocardium: Some(ed_myocardium),
        },
        es: Phase {
            blood: es_blood,
            myocardium: es_myocardium,
        },
        identified: Some((ed + 1, es + 1, curve)),
    })
}

/// Refuses a mask with no voxel inside.
fn require_not_empty(mask: &Mask) -> Result<(), AlgoError> {
    if mask.fractions.iter().all(|f| *f <= 0.0) {
        return Err(AlgoError::Input {
            role: mask.role.clone(),
            why: "the mask is empty: no voxel inside".into(),
        });
    }
    Ok(())
}

/// Refuses a blood pool and a myocardium of one phase that share more than a few voxels: the
/// myocardium surrounds the blood pool, so a large overlap means they were drawn at different
/// phases (or the masks are swapped).
fn require_apart(blood: &Mask, myocardium: &Mask) -> Result<(), AlgoError> {
    let count = |a: &Array3<f32>| a.iter().filter(|f| **f > 0.5).count();
    let shared = Zip::from(&blood.fractions)
        .and(&myocardium.fractions)
        .fold(0usize, |n, b, m| n + usize::from(b + m > 1.5));
    let pool = count(&blood.fractions).max(1);
    if shared as f64 > MAX_SHARED_FRACTION * pool as f64 {
        return Err(AlgoError::Input {
            role: myocardium.role.clone(),
            why: format!(
                "shares {shared} voxels with {} ({:.0} % of its {pool}): the myocardium surrounds the blood pool of its phase, so these were drawn at different phases or are swapped",
                blood.role,
                100.0 * shared as f64 / pool as f64
            ),
        });
    }
    Ok(())
}

/// Refuses a grid that is not a stack of slices, and a blood pool on a single slice.
fn require_stack(
    blood: &Mask,
    grid: &corelab_image::geometry::Geometry,
) -> Result<usize, AlgoError> {
    if grid.dims[2] < 2 {
        return Err(AlgoError::Input {
            role: blood.role.clone(),
            why: format!(
                "a single slice ({} × {} × 1 voxels): Simpson's summation needs a stack of short-axis slices from base to apex",
                grid.dims[0], grid.dims[1]
            ),
        });
    }
    let areas = slice_areas(&blood.fractions, grid);
    let slices = areas.iter().filter(|a| **a > 0.0).count();
    if slices < 2 {
        let k = areas.iter().position(|a| *a > 0.0).unwrap_or(0);
        return Err(AlgoError::Input {
            role: blood.role.clone(),
            why: format!(
                "the blood pool lies on one slice (k = {k}) of {}: Simpson's summation needs it on every slice from base to apex",
                grid.dims[2]
            ),
        });
    }
    Ok(slices)
}

impl Algorithm for LvFunction {
    fn id(&self) -> &'static str {
        "cardiac.lv-function"
    }
    fn version(&self) -> &'static str {
        "1.2.0"
    }
    fn description(&self) -> &'static str {
        "Left-ventricular EDV, ESV, stroke volume, ejection fraction and mass (myocardial volume × 1.05 g/mL at end diastole) from blood-pool and myocardium masks of a short-axis cine stack, by Simpson's summation of discs (slice area × distance between slices); ED and ES given, or found as the largest and smallest blood pool among every temporal position (docs/algorithms/cardiac.lv-function.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Schulz-Menger J et al. Standardized image interpretation and post-processing in cardiovascular magnetic resonance - 2020 update. J Cardiovasc Magn Reson 2020;22:19. doi:10.1186/s12968-020-00610-6",
            "Bernard O et al. Deep learning techniques for automatic MRI cardiac multi-structures segmentation and diagnosis (ACDC). IEEE Trans Med Imaging 2018;37:2514-2525. doi:10.1109/TMI.2018.2837502",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        let mask = |role: &'static str, description: &'static str| InputRole {
            role,
            kind: InputKind::Mask,
            required: false,
            description,
        };
        let mut roles = vec![
            mask(
                "blood-pool-ed",
                "the LV blood pool (cavity, papillary muscles and trabeculae included as drawn) at end diastole",
            ),
            mask("blood-pool-es", "the LV blood pool at end systole"),
            mask(
                "myocardium-ed",
                "the LV myocardium at end diastole (for the mass)",
            ),
            mask(
                "myocardium-es",
                "the LV myocardium at end systole (optional: the ES mass, a check of the ED mass)",
            ),
            mask(
                "labels-ed",
                "instead of the two ED masks: a label map at end diastole (blood-pool-label, myocardium-label)",
            ),
            mask(
                "labels-es",
                "instead of the ES masks: a label map at end systole",
            ),
        ];
        for (blood, myocardium) in POSITION_ROLES.iter() {
            roles.push(mask(
                blood,
                "the LV blood pool at this temporal position: give every position to have ED and ES found (largest and smallest)",
            ));
            roles.push(mask(
                myocardium,
                "the LV myocardium at this temporal position (needed at the ED found)",
            ));
        }
        roles
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "mask-values",
                kind: ParamKind::Choice {
                    values: &["binary", "fraction"],
                },
                default: ParamValue::Choice("binary".into()),
                unit: None,
                description: "binary: a voxel above 0.5 is inside; fraction: each voxel's value is the fraction of it inside (0 to 1)",
            },
            ParamSpec {
                name: "blood-pool-label",
                kind: ParamKind::Integer { min: 1, max: 65535 },
                default: ParamValue::Integer(3),
                unit: None,
                description: "the blood pool's label in labels-ed / labels-es (ACDC: 3)",
            },
            ParamSpec {
                name: "myocardium-label",
                kind: ParamKind::Integer { min: 1, max: 65535 },
                default: ParamValue::Integer(2),
                unit: None,
                description: "the myocardium's label in labels-ed / labels-es (ACDC: 2)",
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
                "edv",
                "mL",
                "end-diastolic volume: Σ ED blood-pool slice area × slice distance",
            ),
            m("esv", "mL", "end-systolic volume"),
            m("sv", "mL", "stroke volume, EDV − ESV"),
            m("ef", "%", "ejection fraction, 100 SV / EDV"),
            m("lv-mass", "g", "LV mass: ED myocardial volume × 1.05 g/mL"),
            m(
                "myocardium-volume-ed",
                "mL",
                "ED myocardial volume (summation of discs)",
            ),
            m(
                "lv-mass-es",
                "g",
                "with an ES myocardium: its volume × 1.05 g/mL",
            ),
            m(
                "ed-position",
                "1",
                "with masks per temporal position: ED's (from 1), the largest blood pool",
            ),
            m(
                "es-position",
                "1",
                "with masks per temporal position: ES's (from 1), the smallest blood pool",
            ),
            m("slices-ed", "1", "slices holding ED blood pool"),
            m(
                "coverage",
                "1",
                "1 when the stack covers the ED ventricle (no blood pool or myocardium on its first or last slice); 0 when the ventricle reaches an end slice, so base or apex may lie outside the stack and the volumes are then too small",
            ),
            m(
                "slice-distance",
                "mm",
                "distance between slice planes along their normal (thickness + gap)",
            ),
            m(
                "long-axis-angle",
                "deg",
                "angle between the slices' normal and the ED ventricle's long axis (absent when it is not elongated enough to tell)",
            ),
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        Vec::new()
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![
            TableSpec {
                name: "slices",
                columns: &[
                    ("slice", "1"),
                    ("blood-pool-area-ed", "mm2"),
                    ("blood-pool-area-es", "mm2"),
                    ("myocardium-area-ed", "mm2"),
                ],
                description: "each slice (k from 0) and its areas: the discs summed",
            },
            TableSpec {
                name: "volume-curve",
                columns: &[("position", "1"), ("blood-pool-volume", "mL")],
                description: "with masks per temporal position: each position's blood-pool volume",
            },
        ]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let values = match params.choice("mask-values") {
            Some("fraction") => MaskValues::Fraction,
            _ => MaskValues::Binary,
        };
        let labels = Labels {
            blood: params.integer("blood-pool-label").unwrap_or(3),
            myocardium: params.integer("myocardium-label").unwrap_or(2),
        };
        if labels.blood == labels.myocardium {
            return Err(AlgoError::Param {
                name: "myocardium-label".into(),
                why: format!("{} is the blood pool's label too", labels.myocardium),
            });
        }
        let (reference_role, reference) = inputs.iter().next().ok_or_else(|| AlgoError::Input {
            role: "blood-pool-ed".into(),
            why: "missing: give blood-pool-ed, blood-pool-es and myocardium-ed (or labels-ed and labels-es), or blood-pool-tNN for every temporal position".into(),
        })?;
        for (role, v) in inputs {
            require_same_grid(reference_role, reference, role, v)?;
        }
        let labelled = inputs.keys().find(|r| LABELLED.contains(&r.as_str()));
        let positional = inputs.keys().find(|r| !LABELLED.contains(&r.as_str()));
        let phases = match (labelled, positional) {
            (Some(l), Some(p)) => {
                return Err(AlgoError::Input {
                    role: p.clone(),
                    why: format!(
                        "masks per temporal position cannot be mixed with ED/ES roles ({l}): give one form"
                    ),
                });
            }
            (Some(_), None) => labelled_phases(inputs, &labels, values)?,
            _ => positional_phases(inputs, values, &reference.geometry)?,
        };
        measure(&phases, &reference.geometry)
    }
}

fn measure(
    phases: &Phases,
    grid: &corelab_image::geometry::Geometry,
) -> Result<Outputs, AlgoError> {
    let (ed, es) = (&phases.ed, &phases.es);
    let masks = [
        Some(&ed.blood),
        Some(&es.blood),
        ed.myocardium.as_ref(),
        es.myocardium.as_ref(),
    ];
    for m in masks.into_iter().flatten() {
        require_not_empty(m)?;
    }
    for phase in [ed, es] {
        if let Some(m) = &phase.myocardium {
            require_apart(&phase.blood, m)?;
        }
    }
    let slices = require_stack(&ed.blood, grid)?;
    require_stack(&es.blood, grid)?;
    let ed_myocardium = ed.myocardium.as_ref().ok_or_else(|| AlgoError::Input {
        role: "myocardium-ed".into(),
        why: "missing".into(),
    })?;
    let ventricle = &ed.blood.fractions + &ed_myocardium.fractions;
    let angle = long_axis_angle_deg(&ventricle, grid);
    if let Some(a) = angle.filter(|a| *a > MAX_LONG_AXIS_ANGLE_DEG) {
        return Err(AlgoError::Input {
            role: ed.blood.role.clone(),
            why: format!(
                "not a short-axis stack: the slices' normal is {a:.0}° from the ventricle's long axis (at most {MAX_LONG_AXIS_ANGLE_DEG}°); Simpson's summation of discs needs slices across the long axis"
            ),
        });
    }
    let area = |m: &Mask| slice_areas(&m.fractions, grid);
    let (ed_areas, es_areas, myo_areas) = (area(&ed.blood), area(&es.blood), area(ed_myocardium));
    let mut drawn = vec![
        (&ed.blood, &ed_areas),
        (&es.blood, &es_areas),
        (ed_myocardium, &myo_areas),
    ];
    let es_myocardium_areas = es.myocardium.as_ref().map(area);
    if let (Some(m), Some(a)) = (&es.myocardium, &es_myocardium_areas) {
        drawn.push((m, a));
    }
    for (mask, areas) in drawn {
        if let Some([before, k, after]) = interior_gap(areas) {
            return Err(AlgoError::Input {
                role: mask.role.clone(),
                why: format!(
                    "slice {k} (from 0) is empty between slices {before} and {after}, which are not: a contour is missing there, and summation of discs would count that slice as 0"
                ),
            });
        }
    }
    let edv = disc_volume_ml(&ed_areas, grid);
    let esv = disc_volume_ml(&es_areas, grid);
    if esv >= edv {
        return Err(AlgoError::Input {
            role: es.blood.role.clone(),
            why: format!(
                "holds {esv:.1} mL, not less than the end-diastolic {edv:.1} mL of {}: are ED and ES swapped?",
                ed.blood.role
            ),
        });
    }
    let myocardium_ed = disc_volume_ml(&myo_areas, grid);
    let (_, distance) = pixel_area_and_slice_distance(grid);
    let mut measurements = vec![
        measurement("edv", edv, "mL"),
        measurement("esv", esv, "mL"),
        measurement("sv", edv - esv, "mL"),
        measurement("ef", 100.0 * (edv - esv) / edv, "%"),
        measurement("lv-mass", myocardium_ed * MYOCARDIAL_DENSITY_G_PER_ML, "g"),
        measurement("myocardium-volume-ed", myocardium_ed, "mL"),
    ];
    if let Some(a) = &es_myocardium_areas {
        let v = disc_volume_ml(a, grid);
        measurements.push(measurement(
            "lv-mass-es",
            v * MYOCARDIAL_DENSITY_G_PER_ML,
            "g",
        ));
    }
    let mut tables = vec![Table {
        name: "slices".into(),
        columns: [
            "slice",
            "blood-pool-area-ed",
            "blood-pool-area-es",
            "myocardium-area-ed",
        ]
        .map(String::from)
        .to_vec(),
        rows: (0..ed_areas.len())
            .map(|k| vec![k as f64, ed_areas[k], es_areas[k], myo_areas[k]])
            .collect(),
    }];
    if let Some((ed_at, es_at, curve)) = &phases.identified {
        measurements.push(measurement("ed-position", *ed_at as f64, "1"));
        measurements.push(measurement("es-position", *es_at as f64, "1"));
        tables.push(Table {
            name: "volume-curve".into(),
            columns: vec!["position".into(), "blood-pool-volume".into()],
            rows: curve
                .iter()
                .enumerate()
                .map(|(t, v)| vec![(t + 1) as f64, *v])
                .collect(),
        });
    }
    measurements.push(measurement("slices-ed", slices as f64, "1"));
    let cut = |k: usize| ed_areas[k] > 0.0 || myo_areas[k] > 0.0;
    let covered = !cut(0) && !cut(ed_areas.len() - 1);
    measurements.push(measurement("coverage", f64::from(u8::from(covered)), "1"));
    measurements.push(measurement("slice-distance", distance, "mm"));
    if let Some(a) = angle {
        measurements.push(measurement("long-axis-angle", a, "deg"));
    }
    Ok(Outputs {
        measurements,
        images: Vec::new(),
        tables,
        ..Default::default()
    })
}

/// The first empty slice between two that are not, with those two: `[before, empty, after]`.
fn interior_gap(areas: &[f64]) -> Option<[usize; 3]> {
    let drawn: Vec<usize> = (0..areas.len()).filter(|&k| areas[k] > 0.0).collect();
    drawn
        .windows(2)
        .find(|w| w[1] > w[0] + 1)
        .map(|w| [w[0], w[0] + 1, w[1]])
}

#[cfg(test)]
mod tests;
