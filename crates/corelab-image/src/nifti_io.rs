//! NIfTI-1 files (`.nii`, `.nii.gz`) on the `nifti` crate.
//!
//! Written: sform and qform both hold the voxel → RAS affine, with code 1 (scanner anatomical),
//! as dcm2niix writes them; units mm; scl_slope 1. A file is written to a temporary name in its
//! folder and renamed, so a reader never sees half a file. Read: the sform when its code is set,
//! else the qform (checked first: the crate panics on a negative spacing or a bad qfac), else the
//! file is refused, since its voxels have no place in the patient.

use crate::geometry::Geometry;
use crate::volume::Volume;
use nifti::{IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions, XForm};
use std::path::Path;

/// A voxel type NIfTI can hold.
pub trait Voxel: nifti::DataElement + bytemuck::Pod {}
impl Voxel for u8 {}
impl Voxel for i16 {}
impl Voxel for u16 {}
impl Voxel for i32 {}
impl Voxel for f32 {}
impl Voxel for f64 {}

/// A NIfTI file that could not be written or read, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct NiftiIoError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub why: String,
}

fn err(path: &Path, why: impl std::fmt::Display) -> NiftiIoError {
    NiftiIoError {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// Writes `volume` to `path` (`.nii`, or `.nii.gz` compressed).
pub fn write<T: Voxel>(path: &Path, volume: &Volume<T>) -> Result<(), NiftiIoError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(path, "not a file name"))?;
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        return Err(err(path, "a NIfTI file name ends with .nii or .nii.gz"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let ras = volume.geometry.to_ras();
    let mut header = NiftiHeader::default();
    header.set_sform(&ras, XForm::ScannerAnat);
    header.set_qform(&ras, XForm::ScannerAnat);
    header.xyzt_units = 2; // millimetres
    header
        .set_description_str("corelab")
        .map_err(|e| err(path, e))?;
    // The temporary name ends with the file's name: the writer picks compression (and rewrites
    // the extension) by it.
    let tmp = dir.join(format!(".partial-{}-{name}", std::process::id()));
    let written = nifti::writer::WriterOptions::new(&tmp)
        .reference_header(&header)
        .write_nifti(&volume.data)
        .map_err(|e| err(path, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| err(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads a 3-D NIfTI-1 or NIfTI-2 file (a 4-D one with one volume too), voxels as `f32` with
/// the file's scl_slope and scl_inter applied.
pub fn read(path: &Path) -> Result<Volume<f32>, NiftiIoError> {
    let mut head = [0u8; 4];
    let opened = std::fs::File::open(path).map_err(|e| err(path, e))?;
    let mut reader: Box<dyn std::io::Read> = {
        let mut magic = [0u8; 2];
        let mut f = std::io::BufReader::new(opened);
        let n = std::io::Read::read(&mut f, &mut magic).map_err(|e| err(path, e))?;
        let rest = std::io::Read::chain(std::io::Cursor::new(magic[..n].to_vec()), f);
        if magic == [0x1f, 0x8b] {
            Box::new(flate2::read::MultiGzDecoder::new(rest))
        } else {
            Box::new(rest)
        }
    };
    if std::io::Read::read_exact(&mut reader, &mut head).is_ok() && crate::nifti2::is_nifti2(&head)
    {
        let bytes = crate::nifti2::file_bytes(path).map_err(|why| err(path, why))?;
        return crate::nifti2::read(&bytes).map_err(|why| err(path, format!("NIfTI-2: {why}")));
    }
    fits(path)?;
    let object = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| err(path, e))?;
    let header = object.header().clone();
    let dims = dims_of(&header).map_err(|why| err(path, why))?;
    let ras = affine_of(&header).map_err(|why| err(path, why))?;
    let data = object
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(|e| err(path, e))?;
    let data = data
        .into_dimensionality::<ndarray::Ix3>()
        .map_err(|e| err(path, e))?;
    let geometry = Geometry::from_ras(dims, &ras);
    Volume::new(data, geometry).map_err(|e| err(path, e))
}

/// Refuses a NIfTI-1 file whose header declares more voxel bytes than the file can hold: the
/// `nifti` crate reserves the declared size before reading (a 388-byte file declaring 21 GB).
/// A gzip-compressed file holds at most 1032 times its size (deflate's largest ratio).
fn fits(path: &Path) -> Result<(), NiftiIoError> {
    let header = NiftiHeader::from_file(path).map_err(|e| err(path, e))?;
    let file_len = std::fs::metadata(path).map_err(|e| err(path, e))?.len();
    let gz = path.to_string_lossy().ends_with(".gz");
    let dims = header.dim().map_err(|e| err(path, e))?;
    let bits = u64::try_from(header.bitpix).unwrap_or(0);
    let declared = dims
        .iter()
        .try_fold(1u64, |n, d| n.checked_mul(u64::from(*d)))
        .and_then(|n| n.checked_mul(bits))
        .map(|b| b / 8);
    let room = if gz {
        file_len.saturating_mul(1032)
    } else {
        file_len
    };
    match declared {
        Some(bytes) if bytes <= room => Ok(()),
        _ => Err(err(
            path,
            format!(
                "the header declares {dims:?} voxels of {} bits, more than the file's {file_len} bytes can hold",
                header.bitpix
            ),
        )),
    }
}

fn dims_of(h: &NiftiHeader) -> Result<[usize; 3], String> {
    let n = usize::from(h.dim[0]);
    let d = |i: usize| usize::from(h.dim[i]);
    match n {
        3 => Ok([d(1), d(2), d(3)]),
        4 if d(4) == 1 => Ok([d(1), d(2), d(3)]),
        4 => Err(format!(
            "a 4-D file of {} volumes; one volume at a time is read",
            d(4)
        )),
        _ => Err(format!("{n} dimensions; a volume has 3")),
    }
}

fn affine_of(h: &NiftiHeader) -> Result<nalgebra::Matrix4<f64>, String> {
    if h.sform_code > 0 {
        return Ok(h.sform_affine::<f64>());
    }
    if h.qform_code > 0 {
        // The quaternion's (b, c, d) must leave room for a = sqrt(1 - b² - c² - d²): the crate
        // panics below its tolerance of -3 f32 epsilons (found by the fuzz target `nifti`).
        let (b, c, d) = (
            f64::from(h.quatern_b),
            f64::from(h.quatern_c),
            f64::from(h.quatern_d),
        );
        let a2 = 1.0 - (b * b + c * c + d * d);
        if !(a2.is_finite() && a2 >= -f64::from(f32::EPSILON)) {
            return Err(format!(
                "qform quaternion (b, c, d) = ({b}, {c}, {d}) is not a rotation: b² + c² + d² must not exceed 1"
            ));
        }
        if h.pixdim[1..4].iter().any(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(format!(
                "qform with spacing {:?}: spacings must be positive",
                &h.pixdim[1..4]
            ));
        }
        if !(h.pixdim[0] == 1.0 || h.pixdim[0] == -1.0) {
            let mut fixed = h.clone();
            fixed.pixdim[0] = 1.0; // NIfTI-1: a qfac that is not -1 means 1
            return Ok(fixed.qform_affine::<f64>());
        }
        return Ok(h.qform_affine::<f64>());
    }
    Err("neither sform nor qform is set: the voxels have no position in the patient".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn oblique() -> Geometry {
        let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
        Geometry::new(
            [5, 4, 3],
            [-90.5, 120.25, -33.0],
            [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
            [0.7, 0.8, 3.0],
        )
        .unwrap()
    }

    #[test]
    fn a_volume_round_trips_through_nii_and_nii_gz() {
        let dir = tempfile::tempdir().unwrap();
        let g = oblique();
        let data = Array3::from_shape_fn((5, 4, 3), |(i, j, k)| (i + 10 * j + 100 * k) as i16);
        let v = Volume::new(data, g.clone()).unwrap();
        for name in ["v.nii", "v.nii.gz"] {
            let path = dir.path().join(name);
            write(&path, &v).unwrap();
            let back = read(&path).unwrap();
            assert_eq!(back.geometry.dims, [5, 4, 3]);
            for r in 0..4 {
                for c in 0..4 {
                    let (a, b) = (back.geometry.affine[(r, c)], g.affine[(r, c)]);
                    assert!((a - b).abs() < 1e-4, "{name} ({r},{c}): {a} vs {b}");
                }
            }
            for ((i, j, k), x) in back.data.indexed_iter() {
                assert_eq!(*x, (i + 10 * j + 100 * k) as f32, "{name} [{i},{j},{k}]");
            }
        }
        // Nothing but the two files is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn files_without_a_place_or_with_other_shapes_are_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let v = Volume::new(Array3::<u8>::zeros((2, 2, 2)), oblique_dims()).unwrap();
        let path = dir.path().join("v.txt");
        assert!(write(&path, &v).unwrap_err().why.contains(".nii"));
        let missing = read(&dir.path().join("absent.nii")).unwrap_err();
        assert!(missing.path.ends_with("absent.nii"), "{missing}");
    }

    fn oblique_dims() -> Geometry {
        Geometry::axis_aligned([2, 2, 2], [0.0; 3], [1.0; 3])
    }
}
