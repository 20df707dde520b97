//! Volumes with exact patient-space geometry, and their files.
//!
//! - [`geometry`]: [`Geometry`], the voxel → patient (LPS, millimetres) affine of a grid, and the
//!   one place where LPS and RAS meet.
//! - [`volume`]: [`Volume<T>`], voxels (`ndarray`, indexed `[i, j, k]`, `i` fastest) with their
//!   geometry and where they came from.
//! - [`nifti_io`]: NIfTI-1 files (`.nii`, `.nii.gz`) written and read with consistent sform and
//!   qform.
//! - [`distance`]: the exact Euclidean distance transform in mm; [`components`]: connected
//!   components (6/18/26); [`overlap`]: Dice, Jaccard, volume difference, HD95, ASSD.
//! - [`resample`]: a volume onto another grid (nearest, trilinear, cubic B-spline) through patient space;
//!   [`filters`]: Gaussian and median with widths in mm; [`morphology`]: erode, dilate, open,
//!   close with radii in mm, hole filling.
//! - [`bias`]: N4 bias field correction.
//! - [`registration`]: rigid and affine registration (mean squares, Mattes mutual information,
//!   multi-resolution, deterministic), transforms as ITK text.
//! - [`phantom`]: digital phantoms (brain, MS lesions, CT tumours, PET) with exact truth:
//!   analytic shapes rasterised with partial-volume fractions, seeded noise, bias fields.
//! - [`suv`]: PET SUV factors (body weight, lean body mass, body surface area) from header values,
//!   per QIBA, or a refusal naming what is missing.
//!
//! `docs/geometry.md` states the conventions.

pub mod bias;
pub mod components;
pub mod diameters;
pub mod distance;
pub mod filters;
pub mod geometry;
pub mod morphology;
pub mod nifti2;
pub mod nifti_io;
pub mod nrrd;
pub mod overlap;
pub mod phantom;
pub mod quality;
pub mod registration;
pub mod resample;
pub mod suv;
pub mod volume;

pub use geometry::{Geometry, GeometryError};
pub use volume::{ShapeMismatch, Source, Volume};
