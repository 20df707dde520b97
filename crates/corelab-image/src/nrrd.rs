//! NRRD volumes read (the format of dcmqi's and 3D Slicer's label maps): a text header (type,
//! sizes, space, space directions and origin, endian, encoding raw or gzip) and the voxels
//! attached. Hand-written: no maintained Rust crate reads NRRD.

use crate::geometry::Geometry;
use crate::volume::Volume;
use nalgebra::Matrix4;
use ndarray::{Array3, ShapeBuilder};
use std::io::Read;

/// Reads a 3-D NRRD file with its voxels attached, as `f32`.
pub fn read(path: &std::path::Path) -> Result<Volume<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if !bytes.starts_with(b"NRRD000") {
        return Err("no NRRD magic".into());
    }
    let end = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("no blank line after the header (a detached data file is not read)")?;
    let header = String::from_utf8_lossy(&bytes[..end]);
    let field = |name: &str| {
        header.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    };
    let need = |name: &str| field(name).ok_or(format!("no \"{name}\" field"));
    if need("dimension")? != "3" {
        return Err("only 3-D NRRD files are read".into());
    }
    let sizes: Vec<usize> = need("sizes")?
        .split_whitespace()
        .map(|s| s.parse().map_err(|_| format!("sizes: {s:?}")))
        .collect::<Result<_, _>>()?;
    let dims = [sizes[0], sizes[1], sizes[2]];
    let vectors: Vec<[f64; 3]> = need("space directions")?
        .split_whitespace()
        .map(triple)
        .collect::<Result<_, _>>()?;
    if vectors.len() != 3 {
        return Err("space directions: three vectors expected".into());
    }
    let origin = triple(&need("space origin")?)?;
    let flip = match need("space")?.as_str() {
        "left-posterior-superior" | "LPS" => 1.0,
        "right-anterior-superior" | "RAS" => -1.0,
        other => return Err(format!("space {other:?}: LPS or RAS expected")),
    };
    let mut affine = Matrix4::identity();
    for (c, v) in vectors.iter().enumerate() {
        for r in 0..3 {
            affine[(r, c)] = v[r] * if r < 2 { flip } else { 1.0 };
        }
    }
    for r in 0..3 {
        affine[(r, 3)] = origin[r] * if r < 2 { flip } else { 1.0 };
    }
    let little = field("endian").is_none_or(|e| e == "little");
    let kind = VoxelType::parse(&need("type")?)?;
    let size = kind.size();
    let n = dims[0]
        .checked_mul(dims[1])
        .and_then(|v| v.checked_mul(dims[2]))
        .filter(|&v| v.checked_mul(size).is_some())
        .ok_or("sizes: too many voxels")?;
    let raw = &bytes[end + 2..];
    let owned;
    let data: &[u8] = match need("encoding")?.as_str() {
        "raw" => raw,
        "gzip" | "gz" => {
            // Sized up front (bounded by the input's size, so a lying header cannot reserve
            // more than a compression ratio's worth) and read only as far as the voxels go.
            let mut out = Vec::with_capacity((n * size).min(raw.len().saturating_mul(1032)));
            flate2::read::MultiGzDecoder::new(raw)
                .take((n * size) as u64)
                .read_to_end(&mut out)
                .map_err(|e| format!("gzip: {e}"))?;
            owned = out;
            &owned
        }
        other => return Err(format!("encoding {other:?}: raw or gzip expected")),
    };
    if data.len() < n * size {
        return Err(format!(
            "{} bytes of voxels; {} expected",
            data.len(),
            n * size
        ));
    }
    let data = &data[..n * size];
    let values: Vec<f32> = match (kind, little) {
        (VoxelType::U8, _) => decode(data, |b: [u8; 1]| f32::from(b[0])),
        (VoxelType::I8, _) => decode(data, |b: [u8; 1]| f32::from(b[0] as i8)),
        (VoxelType::U16, true) => decode(data, |b| f32::from(u16::from_le_bytes(b))),
        (VoxelType::U16, false) => decode(data, |b| f32::from(u16::from_be_bytes(b))),
        (VoxelType::I16, true) => decode(data, |b| f32::from(i16::from_le_bytes(b))),
        (VoxelType::I16, false) => decode(data, |b| f32::from(i16::from_be_bytes(b))),
        (VoxelType::U32, true) => decode(data, |b| u32::from_le_bytes(b) as f32),
        (VoxelType::U32, false) => decode(data, |b| u32::from_be_bytes(b) as f32),
        (VoxelType::I32, true) => decode(data, |b| i32::from_le_bytes(b) as f32),
        (VoxelType::I32, false) => decode(data, |b| i32::from_be_bytes(b) as f32),
        (VoxelType::F32, true) => decode(data, f32::from_le_bytes),
        (VoxelType::F32, false) => decode(data, f32::from_be_bytes),
    };
    let array = Array3::from_shape_vec((dims[0], dims[1], dims[2]).f(), values)
        .map_err(|e| e.to_string())?;
    Volume::new(array, Geometry { dims, affine }).map_err(|e| e.to_string())
}

/// The voxel types read, by NRRD's names for them.
#[derive(Clone, Copy)]
enum VoxelType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
}

impl VoxelType {
    fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "uchar" | "unsigned char" | "uint8" | "uint8_t" => Self::U8,
            "signed char" | "int8" | "int8_t" => Self::I8,
            "ushort" | "unsigned short" | "uint16" | "uint16_t" => Self::U16,
            "short" | "short int" | "signed short" | "int16" | "int16_t" => Self::I16,
            "uint" | "unsigned int" | "uint32" | "uint32_t" => Self::U32,
            "int" | "signed int" | "int32" | "int32_t" => Self::I32,
            "float" => Self::F32,
            other => return Err(format!("type {other:?} is not read")),
        })
    }

    /// Bytes per voxel.
    fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
        }
    }
}

/// Every voxel of `data` (N bytes each) as a value: one loop per type, inlined.
fn decode<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
    data.chunks_exact(N)
        .map(|b| f(b.try_into().expect("chunks of N bytes")))
        .collect()
}

/// `(x,y,z)` as three numbers.
fn triple(s: &str) -> Result<[f64; 3], String> {
    let v: Vec<f64> = s
        .trim_matches(['(', ')'])
        .split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| format!("{s:?} is not (x,y,z)"))
        })
        .collect::<Result<_, _>>()?;
    v.try_into().map_err(|_| format!("{s:?} is not (x,y,z)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nrrd(header: &str, data: &[u8]) -> Result<Volume<f32>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.nrrd");
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(data);
        std::fs::write(&path, bytes).unwrap();
        read(&path)
    }

    const HEAD: &str = "NRRD0004\ntype: short\ndimension: 3\nspace: right-anterior-superior\nsizes: 2 1 1\n\
                        space directions: (2,0,0) (0,3,0) (0,0,4)\nendian: little\nencoding: raw\n\
                        space origin: (10,20,30)\n\n";

    #[test]
    fn a_raw_ras_file_reads_into_lps_and_bad_ones_are_refused_saying_why() {
        let v = nrrd(HEAD, &[7, 0, 0xFF, 0xFF]).unwrap();
        assert_eq!(v.data.iter().copied().collect::<Vec<_>>(), vec![7.0, -1.0]);
        assert_eq!(v.geometry.origin(), [-10.0, -20.0, 30.0]);
        assert_eq!(v.geometry.spacing(), [2.0, 3.0, 4.0]);
        assert!(nrrd("P5\n", &[]).unwrap_err().contains("no NRRD magic"));
        let short = nrrd(HEAD, &[7]).unwrap_err();
        assert!(short.contains("1 bytes of voxels; 4 expected"), "{short}");
        let flat = nrrd(&HEAD.replace("dimension: 3", "dimension: 2"), &[0; 4]).unwrap_err();
        assert!(flat.contains("only 3-D"), "{flat}");
        let odd = nrrd(&HEAD.replace("encoding: raw", "encoding: bzip2"), &[0; 4]).unwrap_err();
        assert!(odd.contains("bzip2"), "{odd}");
    }

    #[test]
    fn every_type_reads_in_either_byte_order_raw_or_gzip() {
        let cases: [(&str, &str, Vec<u8>, [f32; 2]); 9] = [
            ("uchar", "little", vec![7, 250], [7.0, 250.0]),
            ("int8", "big", vec![7, 0xFE], [7.0, -2.0]),
            ("ushort", "big", vec![1, 0, 0xFF, 0xFE], [256.0, 65534.0]),
            ("short", "big", vec![0xFF, 0xFE, 0, 3], [-2.0, 3.0]),
            (
                "int",
                "little",
                vec![0xFE, 0xFF, 0xFF, 0xFF, 5, 0, 0, 0],
                [-2.0, 5.0],
            ),
            ("uint", "big", vec![0, 0, 1, 0, 0, 0, 0, 9], [256.0, 9.0]),
            (
                "float",
                "little",
                [1.5f32.to_le_bytes(), (-0.25f32).to_le_bytes()].concat(),
                [1.5, -0.25],
            ),
            (
                "float",
                "big",
                [1.5f32.to_be_bytes(), (-0.25f32).to_be_bytes()].concat(),
                [1.5, -0.25],
            ),
            (
                "unsigned short",
                "little",
                vec![1, 0, 0xFE, 0xFF],
                [1.0, 65534.0],
            ),
        ];
        for (kind, endian, bytes, want) in cases {
            let head = HEAD
                .replace("type: short", &format!("type: {kind}"))
                .replace("endian: little", &format!("endian: {endian}"));
            let v = nrrd(&head, &bytes).unwrap_or_else(|e| panic!("{kind} {endian}: {e}"));
            assert_eq!(
                v.data.iter().copied().collect::<Vec<_>>(),
                want,
                "{kind} {endian}"
            );
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &bytes).unwrap();
            let head = head.replace("encoding: raw", "encoding: gzip");
            let v = nrrd(&head, &gz.finish().unwrap()).unwrap();
            assert_eq!(
                v.data.iter().copied().collect::<Vec<_>>(),
                want,
                "{kind} {endian} gzip"
            );
        }
    }
}
