//! NIfTI-2 files read (540-byte header, 64-bit dimensions and doubles), which the `nifti` crate
//! does not read: hand-written from the NIfTI-2 header definition (nifti2.h), little or big
//! endian, `.nii` or gzip-compressed.

use crate::geometry::Geometry;
use crate::volume::Volume;
use nalgebra::{Matrix3, Matrix4, Vector3};
use ndarray::{Array3, ShapeBuilder};
use std::io::Read;

/// Whether `head` (the first 4 bytes, decompressed) opens a NIfTI-2 header.
pub fn is_nifti2(head: &[u8]) -> bool {
    head.len() >= 4
        && (i32::from_le_bytes([head[0], head[1], head[2], head[3]]) == 540
            || i32::from_be_bytes([head[0], head[1], head[2], head[3]]) == 540)
}

/// A file's bytes, gunzipped when they are gzip.
pub fn file_bytes(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| e.to_string())?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads a NIfTI-2 volume from its (decompressed) bytes, scaling applied, as `f32`.
pub fn read(bytes: &[u8]) -> Result<Volume<f32>, String> {
    if bytes.len() < 540 {
        return Err(format!(
            "{} bytes: shorter than a NIfTI-2 header",
            bytes.len()
        ));
    }
    let le = i32::from_le_bytes(bytes[0..4].try_into().map_err(|_| "header")?) == 540;
    let r = Reader { b: bytes, le };
    if &bytes[4..7] != b"n+2" && &bytes[4..7] != b"ni2" {
        return Err("no NIfTI-2 magic (n+2) at byte 4".into());
    }
    if &bytes[4..7] == b"ni2" {
        return Err("a NIfTI-2 header with a separate .img file: give the single-file .nii".into());
    }
    let datatype = r.i16(12);
    let ndim = r.i64(16);
    let dim: Vec<i64> = (1..=7).map(|n| r.i64(16 + 8 * n)).collect();
    let dims = match ndim {
        3 => [dim[0], dim[1], dim[2]],
        4 if dim[3] == 1 => [dim[0], dim[1], dim[2]],
        _ => return Err(format!("{ndim} dimensions {dim:?}; one 3-D volume is read")),
    };
    if dims.iter().any(|d| *d < 1 || *d > 1 << 20) {
        return Err(format!("dimensions {dims:?} out of range"));
    }
    let dims = [dims[0] as usize, dims[1] as usize, dims[2] as usize];
    let pixdim: Vec<f64> = (0..8).map(|n| r.f64(104 + 8 * n)).collect();
    let vox_offset = r.i64(168);
    let (slope, inter) = (r.f64(176), r.f64(184));
    let (qform_code, sform_code) = (r.i32(344), r.i32(348));
    let ras = if sform_code > 0 {
        let mut m = Matrix4::identity();
        for (row, at) in [400usize, 432, 464].iter().enumerate() {
            for c in 0..4 {
                m[(row, c)] = r.f64(at + 8 * c);
            }
        }
        m
    } else if qform_code > 0 {
        qform(&r, &pixdim)?
    } else {
        return Err("neither sform nor qform is set: the voxels have no position".into());
    };
    let n = dims[0] * dims[1] * dims[2];
    let (size, convert): (usize, fn(&Reader, usize) -> f64) = match datatype {
        2 => (1, |r, at| f64::from(r.b[at])),
        256 => (1, |r, at| f64::from(r.b[at] as i8)),
        4 => (2, |r, at| f64::from(r.i16(at))),
        512 => (2, |r, at| f64::from(r.u16(at))),
        8 => (4, |r, at| f64::from(r.i32(at))),
        768 => (4, |r, at| f64::from(r.i32(at) as u32)),
        16 => (4, |r, at| f64::from(r.f32(at))),
        64 => (8, |r, at| r.f64(at)),
        other => return Err(format!("datatype {other} is not read")),
    };
    let start = usize::try_from(vox_offset).map_err(|_| format!("vox_offset {vox_offset}"))?;
    let end = start
        .checked_add(n * size)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| {
            format!(
                "{} voxels of {size} bytes from byte {start} do not fit the file's {} bytes",
                n,
                bytes.len()
            )
        })?;
    let scale = |v: f64| {
        if slope != 0.0 && slope.is_finite() {
            v * slope + inter
        } else {
            v
        }
    };
    let values: Vec<f32> = (start..end)
        .step_by(size)
        .map(|at| scale(convert(&r, at)) as f32)
        .collect();
    let data = Array3::from_shape_vec((dims[0], dims[1], dims[2]).f(), values)
        .map_err(|e| e.to_string())?;
    Volume::new(data, Geometry::from_ras(dims, &ras)).map_err(|e| e.to_string())
}

fn qform(r: &Reader, pixdim: &[f64]) -> Result<Matrix4<f64>, String> {
    let (b, c, d) = (r.f64(352), r.f64(360), r.f64(368));
    let a2 = 1.0 - (b * b + c * c + d * d);
    let a = if a2 > 1e-7 { a2.sqrt() } else { 0.0 };
    let rot = Matrix3::new(
        a * a + b * b - c * c - d * d,
        2.0 * (b * c - a * d),
        2.0 * (b * d + a * c),
        2.0 * (b * c + a * d),
        a * a + c * c - b * b - d * d,
        2.0 * (c * d - a * b),
        2.0 * (b * d - a * c),
        2.0 * (c * d + a * b),
        a * a + d * d - c * c - b * b,
    );
    if pixdim[1..4].iter().any(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(format!(
            "qform with spacing {:?}: spacings must be positive",
            &pixdim[1..4]
        ));
    }
    let qfac = if pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let m = rot * Matrix3::from_diagonal(&Vector3::new(pixdim[1], pixdim[2], pixdim[3] * qfac));
    let mut out = Matrix4::identity();
    out.fixed_view_mut::<3, 3>(0, 0).copy_from(&m);
    out[(0, 3)] = r.f64(376);
    out[(1, 3)] = r.f64(384);
    out[(2, 3)] = r.f64(392);
    Ok(out)
}

/// Reads numbers of either byte order; callers check lengths first (the header is 540 bytes,
/// voxel offsets are range-checked).
struct Reader<'a> {
    b: &'a [u8],
    le: bool,
}

impl Reader<'_> {
    fn take<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        if let Some(s) = self.b.get(at..at + N) {
            a.copy_from_slice(s);
        }
        if !self.le {
            a.reverse();
        }
        a
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.take(at))
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.take(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.take(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.take(at))
    }
    fn f32(&self, at: usize) -> f32 {
        f32::from_le_bytes(self.take(at))
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.take(at))
    }
}
