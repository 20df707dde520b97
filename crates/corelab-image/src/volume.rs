//! A volume: voxels with their geometry and where they came from.

use crate::geometry::Geometry;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// Where a volume came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The DICOM series it was formed from, if any.
    pub series_uid: Option<String>,
    /// SHA-256 of each source instance, in slice order.
    pub instance_sha256: Vec<String>,
    /// How it was formed (a stack split off, a rescale applied, …), for the record.
    pub notes: Vec<String>,
    /// (0008,0060) Modality of the DICOM series it was formed from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// The scanner of the DICOM series, `Manufacturer ManufacturerModelName`, if the header says:
    /// what a model's input monitoring compares with the scanners it was trained on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<String>,
    /// PET: the SUV header values (`suv::PetHeader`) of each source instance, in the order of
    /// `instance_sha256`, so that an algorithm can compute SUVs (`suv::factors`) or refuse with
    /// the reason; empty for other modalities and for files (NIfTI) that carry no PET header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pet: Vec<crate::suv::PetHeader>,
}

/// Voxels indexed `[i, j, k]` (shape = `geometry.dims`), with their geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume<T> {
    /// The voxels.
    pub data: Array3<T>,
    /// Where they are.
    pub geometry: Geometry,
    /// Where they came from.
    pub source: Source,
}

/// Voxels that do not fit their geometry.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("voxel array of shape {shape:?} does not fit a grid of {dims:?}")]
pub struct ShapeMismatch {
    /// The array's shape.
    pub shape: [usize; 3],
    /// The grid's.
    pub dims: [usize; 3],
}

impl<T> Volume<T> {
    /// A volume, if the array's shape is the grid's.
    pub fn new(data: Array3<T>, geometry: Geometry) -> Result<Self, ShapeMismatch> {
        let s = data.shape();
        let shape = [s[0], s[1], s[2]];
        if shape != geometry.dims {
            return Err(ShapeMismatch {
                shape,
                dims: geometry.dims,
            });
        }
        Ok(Self {
            data,
            geometry,
            source: Source::default(),
        })
    }

    /// The same volume with its provenance.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }
}
