//! Algorithms as corelab runs them: pure functions from inputs to outputs, each with an id, a
//! semantic version, typed parameters (with defaults and a JSON schema), declared input roles
//! and outputs (measurements with UCUM units, derived images), and a registry of the built-ins.
//!
//! - [`Algorithm`]: the trait every algorithm implements; no database, no network, no files.
//! - [`params`]: parameter specifications, values given as text (`K=V`), validation, schema.
//! - [`registry`]: the catalogue of built-ins, looked up by id.
//! - [`lock`]: a trial's version lock, and the version-drift check.
//! - [`provenance`]: the W3C PROV-JSON record of one run, and the fingerprint that a trial's
//!   version lock compares.
//! - One module per area of built-ins: [`image`] (image-level tools), [`neuro`] (neurology),
//!   [`onco`] (oncology response criteria), [`pet`] (PET oncology), [`cardiac`] (cardiac MR).

pub mod cardiac;
pub mod csv;
pub mod dl;
pub mod image;
pub mod lock;
pub mod neuro;
pub mod onco;
pub mod params;
pub mod pet;
pub mod predict;
pub mod provenance;
pub mod radiomics;
pub mod registry;
pub mod stats;

use corelab_image::Volume;
use serde::Serialize;
use std::collections::BTreeMap;

pub use params::{ParamKind, ParamSpec, ParamValue, Params};
pub use registry::Registry;

/// What an input role holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// An image volume (NIfTI, or a DICOM series folder).
    Image,
    /// A mask: a volume whose non-zero voxels are inside.
    Mask,
    /// A document of records (CSV or JSON), e.g. lesion measurements: loaded as text, parsed by
    /// the algorithm, which names the row or field it cannot use.
    Table,
    /// A model file (an ONNX network), loaded as bytes: in a trial a locked file input, its
    /// SHA-256 in the lock.
    Model,
}

/// An input an algorithm takes.
#[derive(Clone, Debug, Serialize)]
pub struct InputRole {
    /// The role's name (`image`, `mask`, `t1`, …), as given on the command line (`ROLE=PATH`).
    pub role: &'static str,
    /// What it holds.
    pub kind: InputKind,
    /// Whether the algorithm can run without it.
    pub required: bool,
    /// What it is for.
    pub description: &'static str,
}

/// A measurement an algorithm declares it makes.
#[derive(Clone, Debug, Serialize)]
pub struct MeasurementSpec {
    /// Its name.
    pub name: &'static str,
    /// Its unit, as UCUM (`mL`, `mm`, `1`, `g/mL`).
    pub unit: &'static str,
    /// What it is.
    pub description: &'static str,
}

/// A derived image an algorithm declares it writes.
#[derive(Clone, Debug, Serialize)]
pub struct ImageSpec {
    /// Its role (`corrected`, `mask`, `field`).
    pub role: &'static str,
    /// What it is.
    pub description: &'static str,
    /// What its voxels are: whether (and how) it is a segmentation.
    pub kind: ImageKind,
    /// The input role whose grid it is on (the series a DICOM SEG of it references).
    pub grid: &'static str,
}

/// What a derived image's voxels are. It decides how the image leaves corelab: masks, labels
/// and fractions as DICOM SEG segments on the source series, intensities not at all.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// Intensities (a corrected or registered image, a field): not a segmentation.
    Image,
    /// A binary mask, nonzero inside: one segment.
    Mask,
    /// Classes by value, each listed value one named segment.
    Labels(&'static [(u16, &'static str)]),
    /// Each nonzero value one finding (a lesion's id): one segment per value present.
    Findings,
    /// A fraction in [0, 1] per voxel (partial volume): a fractional segment.
    Fraction,
}

/// A table an algorithm declares it writes (one row per finding: a lesion, a region).
#[derive(Clone, Debug, Serialize)]
pub struct TableSpec {
    /// Its name (`lesions`), the file `NAME.csv` beside the images.
    pub name: &'static str,
    /// Its columns: `(name, UCUM unit)`, in order.
    pub columns: &'static [(&'static str, &'static str)],
    /// What a row is.
    pub description: &'static str,
}

/// A table made: rows of finite numbers under the declared columns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    /// The declared name.
    pub name: String,
    /// Column names, as declared.
    pub columns: Vec<String>,
    /// The rows, each as long as `columns`.
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// The table as CSV: a header of `name [unit]` columns, then the rows.
    pub fn to_csv(&self, spec: &TableSpec) -> String {
        let header: Vec<String> = spec
            .columns
            .iter()
            .map(|(name, unit)| format!("{name} [{unit}]"))
            .collect();
        let mut out = header.join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

mod inputs;
pub use inputs::{Document, DocumentFormat, Inputs, ModelFile};

/// A text document an algorithm declares it writes (a dataset in a standard's layout, such as
/// SDTM RS): `algo run` writes it as the file `name` beside the images; a trial job stores it as a
/// blob and lists it in the run's result.
#[derive(Clone, Debug, Serialize)]
pub struct DocumentSpec {
    /// Its file name (`rs.csv`).
    pub name: &'static str,
    /// Its media type (`text/csv`).
    pub media_type: &'static str,
    /// What it holds.
    pub description: &'static str,
}

/// A document made: its declared name and its text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputDocument {
    /// The declared name.
    pub name: String,
    /// The text (UTF-8).
    pub text: String,
}

/// A measurement made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// The declared name.
    pub name: String,
    /// The value (finite).
    pub value: f64,
    /// UCUM unit.
    pub unit: String,
}

/// What a run gives.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// Measurements, in declared order.
    pub measurements: Vec<Measurement>,
    /// Derived images by role, on the grid of the input they derive from.
    pub images: Vec<(String, Volume<f32>)>,
    /// Tables (per-lesion, per-region), in declared order.
    pub tables: Vec<Table>,
    /// Documents (datasets in a standard's layout), in declared order.
    pub documents: Vec<OutputDocument>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlgoError {
    /// An input is missing, unexpected or unfit.
    #[error("input {role}: {why}")]
    Input {
        /// The role.
        role: String,
        /// What is wrong.
        why: String,
    },
    /// A parameter is unknown or its value is not allowed.
    #[error("parameter {name}: {why}")]
    Param {
        /// The parameter.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The method could not produce a result from these inputs.
    #[error("{0}")]
    Failed(String),
    /// The algorithm produced something it should not (a non-finite measurement, an undeclared
    /// output): a bug, refused rather than stored.
    #[error("the algorithm's output is malformed: {0}")]
    Malformed(String),
}

/// An algorithm: pure (inputs in, outputs out), versioned, self-describing.
pub trait Algorithm: Send + Sync {
    /// `area.name`, e.g. `image.mask-volume`.
    fn id(&self) -> &'static str;
    /// Semantic version of the method (bumped when results can change).
    fn version(&self) -> &'static str;
    /// One paragraph: what it does.
    fn description(&self) -> &'static str;
    /// Literature the method follows.
    fn references(&self) -> &'static [&'static str];
    /// The inputs it takes.
    fn inputs(&self) -> Vec<InputRole>;
    /// Its parameters.
    fn parameters(&self) -> Vec<ParamSpec>;
    /// The measurements it makes.
    fn measurements(&self) -> Vec<MeasurementSpec>;
    /// The images it writes.
    fn images(&self) -> Vec<ImageSpec>;
    /// The tables it writes (none by default).
    fn tables(&self) -> Vec<TableSpec> {
        Vec::new()
    }
    /// The documents it writes (none by default).
    fn documents(&self) -> Vec<DocumentSpec> {
        Vec::new()
    }
    /// Runs on loaded inputs with validated parameters (every declared one present).
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError>;
}

/// Runs `algorithm`: checks the inputs against its roles, completes and validates the
/// parameters, runs it, and checks that what it gave is what it declares (finite measurements
/// with their declared units, declared images only).
pub fn run(
    algorithm: &dyn Algorithm,
    inputs: &Inputs,
    given: &BTreeMap<String, String>,
) -> Result<(Params, Outputs), AlgoError> {
    let roles = algorithm.inputs();
    for role in inputs.keys() {
        if let Some(r) = roles.iter().find(|r| r.role == role) {
            if (inputs.model(role).is_some()) != (r.kind == InputKind::Model) {
                return Err(AlgoError::Input {
                    role: role.clone(),
                    why: if r.kind == InputKind::Model {
                        format!(
                            "{} takes a model file (ONNX) here ({})",
                            algorithm.id(),
                            r.description
                        )
                    } else {
                        format!(
                            "{} takes no model file here ({})",
                            algorithm.id(),
                            r.description
                        )
                    },
                });
            }
            let is_document = inputs.document(role).is_some();
            if r.kind != InputKind::Model && is_document != (r.kind == InputKind::Table) {
                return Err(AlgoError::Input {
                    role: role.clone(),
                    why: if is_document {
                        format!(
                            "{} takes an image here, not a document ({})",
                            algorithm.id(),
                            r.description
                        )
                    } else {
                        format!(
                            "{} takes a CSV or JSON document here, not an image ({})",
                            algorithm.id(),
                            r.description
                        )
                    },
                });
            }
        }
        if !roles.iter().any(|r| r.role == role) {
            let known: Vec<&str> = roles.iter().map(|r| r.role).collect();
            return Err(AlgoError::Input {
                role: role.clone(),
                why: format!(
                    "{} takes no such input (it takes {})",
                    algorithm.id(),
                    known.join(", ")
                ),
            });
        }
    }
    for r in roles.iter().filter(|r| r.required) {
        if !inputs.contains_key(r.role) {
            return Err(AlgoError::Input {
                role: r.role.to_owned(),
                why: format!("required by {} ({})", algorithm.id(), r.description),
            });
        }
    }
    let params = params::resolve(&algorithm.parameters(), given)?;
    let outputs = algorithm.run(inputs, &params)?;
    let declared = algorithm.measurements();
    for m in &outputs.measurements {
        let Some(spec) = declared.iter().find(|d| d.name == m.name) else {
            return Err(AlgoError::Malformed(format!(
                "undeclared measurement {:?}",
                m.name
            )));
        };
        if spec.unit != m.unit {
            return Err(AlgoError::Malformed(format!(
                "{} in {:?}, declared in {:?}",
                m.name, m.unit, spec.unit
            )));
        }
        if !m.value.is_finite() {
            return Err(AlgoError::Malformed(format!("{} is {}", m.name, m.value)));
        }
    }
    let images = algorithm.images();
    for (role, v) in &outputs.images {
        if !images.iter().any(|i| i.role == role) {
            return Err(AlgoError::Malformed(format!("undeclared image {role:?}")));
        }
        if v.data.iter().any(|x| x.is_nan()) {
            return Err(AlgoError::Malformed(format!("image {role:?} holds NaN")));
        }
    }
    let tables = algorithm.tables();
    for t in &outputs.tables {
        let Some(spec) = tables.iter().find(|s| s.name == t.name) else {
            return Err(AlgoError::Malformed(format!(
                "undeclared table {:?}",
                t.name
            )));
        };
        let declared: Vec<&str> = spec.columns.iter().map(|c| c.0).collect();
        if t.columns != declared {
            return Err(AlgoError::Malformed(format!(
                "table {:?} has columns {:?}, declared {:?}",
                t.name, t.columns, declared
            )));
        }
        if let Some(row) = t
            .rows
            .iter()
            .find(|r| r.len() != declared.len() || r.iter().any(|v| !v.is_finite()))
        {
            return Err(AlgoError::Malformed(format!(
                "table {:?} has a row {row:?} that is not {} finite numbers",
                t.name,
                declared.len()
            )));
        }
    }
    let documents = algorithm.documents();
    for d in &outputs.documents {
        if !documents.iter().any(|s| s.name == d.name) {
            return Err(AlgoError::Malformed(format!(
                "undeclared document {:?}",
                d.name
            )));
        }
    }
    Ok((params, outputs))
}
