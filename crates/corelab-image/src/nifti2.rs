//! NIfTI-2 files (540-byte header, 64-bit dimensions and doubles), which the `nifti` crate does
//! not read or write: hand-written from the NIfTI-2 header definition (nifti2.h). Read: little or
//! big endian, `.nii` or gzip-compressed. Written ([`write`]) as `nifti_io::write` writes NIfTI-1:
//! the voxel → RAS affine in both sform and qform, code 1 (scanner anatomical), units mm,
//! scl_slope 1, to a temporary name in the file's folder and then renamed; in the machine's byte
//! order (readers tell it by sizeof_hdr), gzip-compressed for `.nii.gz`.

use crate::geometry::Geometry;
use crate::nifti_io::{NiftiIoError, Voxel};
use crate::volume::Volume;
use nalgebra::{Matrix3, Matrix4, Rotation3, UnitQuaternion, Vector3};
use ndarray::{Array3, ShapeBuilder};
use std::io::{Read, Write};
use std::path::Path;

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

/// Header bytes, then the 4-byte extension flag (no extensions): the voxels start at 544, a
/// multiple of 16 as nifti2.h asks.
const HEADER: usize = 540;
const VOX_OFFSET: usize = HEADER + 4;

/// Writes `volume` to `path` as NIfTI-2 (`.nii`, or `.nii.gz` compressed).
pub fn write<T: Voxel>(path: &Path, volume: &Volume<T>) -> Result<(), NiftiIoError> {
    let fail = |why: String| NiftiIoError {
        path: path.display().to_string(),
        why,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| fail("not a file name".into()))?;
    let gzip = name.ends_with(".nii.gz");
    if !(gzip || name.ends_with(".nii")) {
        return Err(fail("a NIfTI file name ends with .nii or .nii.gz".into()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut bytes = header::<T>(&volume.geometry);
    bytes.reserve(volume.data.len() * std::mem::size_of::<T>());
    // Fortran order, i fastest: the k, j, i view in standard order.
    for v in volume.data.view().permuted_axes([2, 1, 0]).iter() {
        bytes.extend_from_slice(bytemuck::bytes_of(v));
    }
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".partial-{}-{}-{name}",
        std::process::id(),
        COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let written = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let file = if gzip {
            let mut z = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            z.write_all(&bytes)?;
            z.finish()?
        } else {
            let mut file = file;
            file.write_all(&bytes)?;
            file
        };
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e.to_string())
    })
}

/// The 540-byte header and the empty extension flag of a volume of `T` on `geometry`, in the
/// machine's byte order.
fn header<T: Voxel>(geometry: &Geometry) -> Vec<u8> {
    let mut h = vec![0u8; VOX_OFFSET];
    let mut put = |at: usize, b: &[u8]| h[at..at + b.len()].copy_from_slice(b);
    put(0, &(HEADER as i32).to_ne_bytes());
    put(4, b"n+2\0\r\n\x1a\n");
    put(12, &(T::DATA_TYPE as i16).to_ne_bytes());
    put(14, &((8 * std::mem::size_of::<T>()) as i16).to_ne_bytes());
    let [ni, nj, nk] = geometry.dims;
    for (n, d) in [3, ni as i64, nj as i64, nk as i64, 1, 1, 1, 1]
        .iter()
        .enumerate()
    {
        put(16 + 8 * n, &d.to_ne_bytes());
    }
    let ras = geometry.to_ras();
    let q = Qform::of(&ras);
    let pixdim = [
        q.qfac,
        q.spacing[0],
        q.spacing[1],
        q.spacing[2],
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    for (n, p) in pixdim.iter().enumerate() {
        put(104 + 8 * n, &p.to_ne_bytes());
    }
    put(168, &(VOX_OFFSET as i64).to_ne_bytes());
    put(176, &1f64.to_ne_bytes()); // scl_slope; scl_inter stays 0
    put(240, b"corelab");
    put(344, &1i32.to_ne_bytes()); // qform_code: scanner anatomical
    put(348, &1i32.to_ne_bytes()); // sform_code
    for (n, x) in q.quatern.iter().chain(q.offset.iter()).enumerate() {
        put(352 + 8 * n, &x.to_ne_bytes());
    }
    for (row, at) in [400usize, 432, 464].iter().enumerate() {
        for c in 0..4 {
            put(at + 8 * c, &ras[(row, c)].to_ne_bytes());
        }
    }
    put(500, &2i32.to_ne_bytes()); // xyzt_units: millimetres
    h
}

/// A voxel → RAS affine as a qform: spacings, qfac, the quaternion (b, c, d) of the closest
/// rotation (a sheared affine, a gantry tilt, keeps its shear only in the sform) and the offset.
/// As nifti_mat44_to_quatern and the `nifti` crate's `set_qform` do, in doubles.
struct Qform {
    spacing: [f64; 3],
    qfac: f64,
    quatern: [f64; 3],
    offset: [f64; 3],
}

impl Qform {
    fn of(ras: &Matrix4<f64>) -> Self {
        let m: Matrix3<f64> = ras.fixed_view::<3, 3>(0, 0).into_owned();
        let spacing = [0, 1, 2].map(|c| m.column(c).norm());
        let mut r = Matrix3::from_fn(|row, c| m[(row, c)] / spacing[c]);
        let qfac = if r.determinant() > 0.0 {
            1.0
        } else {
            r.set_column(2, &(-r.column(2)));
            -1.0
        };
        // The closest orthogonal matrix (polar decomposition).
        let svd = r.svd(true, true);
        let closest = match (svd.u, svd.v_t) {
            (Some(u), Some(v_t)) => u * v_t,
            _ => Matrix3::identity(),
        };
        let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(closest));
        // NIfTI keeps a = sqrt(1 - b² - c² - d²) ≥ 0: the same rotation with w ≥ 0.
        let sign = if q.w < 0.0 { -1.0 } else { 1.0 };
        Self {
            spacing,
            qfac,
            quatern: [sign * q.i, sign * q.j, sign * q.k],
            offset: [ras[(0, 3)], ras[(1, 3)], ras[(2, 3)]],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An oblique grid; `flip` makes it left-handed in RAS (qfac −1).
    fn grid(flip: bool) -> Geometry {
        let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
        let k = if flip { -1.0 } else { 1.0 };
        Geometry::new(
            [5, 4, 3],
            [-90.5, 120.25, -33.0],
            [[c, 0.0, s], [0.0, 1.0, 0.0], [-s * k, 0.0, c * k]],
            [0.7, 0.8, 3.0],
        )
        .unwrap()
    }

    #[test]
    fn the_qform_alone_gives_the_affine_back_in_doubles() {
        for flip in [false, true] {
            let g = grid(flip);
            let mut bytes = header::<i16>(&g);
            bytes.extend(std::iter::repeat_n(0u8, 5 * 4 * 3 * 2));
            bytes[348..352].copy_from_slice(&0i32.to_ne_bytes()); // sform_code 0
            let back = read(&bytes).unwrap();
            let d = (back.geometry.affine - g.affine).abs().max();
            assert!(d < 1e-12, "flip {flip}: {d}");
        }
    }

    #[test]
    fn a_volume_round_trips_through_nii_and_nii_gz() {
        let dir = tempfile::tempdir().unwrap();
        let data = Array3::from_shape_fn((5, 4, 3), |(i, j, k)| (i + 10 * j + 100 * k) as i16);
        let v = Volume::new(data, grid(true)).unwrap();
        for name in ["v.nii", "v.nii.gz"] {
            let path = dir.path().join(name);
            write(&path, &v).unwrap();
            let back = crate::nifti_io::read(&path).unwrap();
            assert_eq!(back.geometry, v.geometry, "{name}");
            assert_eq!(back.data, v.data.mapv(f32::from), "{name}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
