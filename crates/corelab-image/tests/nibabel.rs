//! nibabel (PyPI; `.ci/run` installs it) reads our NIfTI-1 and NIfTI-2 files with our affine and
//! voxels, and we read its files with its affine and voxels: one convention for LPS/RAS and voxel
//! order.

use corelab_image::{Geometry, Volume, nifti_io};
use ndarray::Array3;
use std::process::Command;

fn python(script: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 with nibabel (PyPI; .ci/run installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn oblique(dims: [usize; 3]) -> Geometry {
    let (c, s) = (25f64.to_radians().cos(), 25f64.to_radians().sin());
    Geometry::new(
        dims,
        [112.5, -97.25, 61.0],
        [[c, s, 0.0], [0.0, 0.0, -1.0], [-s, c, 0.0]],
        [0.9375, 1.25, 4.0],
    )
    .unwrap()
}

#[test]
fn nibabel_reads_what_we_write_and_we_read_what_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let g = oblique([7, 6, 5]);
    let value =
        |i: usize, j: usize, k: usize| (i as f32) * 0.5 - (j as f32) * 3.0 + (k * 100) as f32;
    let v = Volume::new(
        Array3::from_shape_fn((7, 6, 5), |(i, j, k)| value(i, j, k)),
        g.clone(),
    )
    .unwrap();
    let ours = dir.path().join("ours.nii.gz");
    nifti_io::write(&ours, &v).unwrap();
    let seen = python(&format!(
        "import json, nibabel as nib\n\
         img = nib.load({:?})\n\
         d = img.get_fdata()\n\
         print(json.dumps({{'shape': list(d.shape), 'affine': img.affine.tolist(), \
         'qform': img.get_qform().tolist(), 'codes': [int(img.header['sform_code']), int(img.header['qform_code'])], \
         'data': [[[float(d[i, j, k]) for k in range(d.shape[2])] for j in range(d.shape[1])] for i in range(d.shape[0])]}}))",
        ours.to_str().unwrap()
    ));
    assert_eq!(seen["shape"], serde_json::json!([7, 6, 5]));
    assert_eq!(seen["codes"], serde_json::json!([1, 1]));
    let ras = g.to_ras();
    for key in ["affine", "qform"] {
        for r in 0..4 {
            for c in 0..4 {
                let theirs = seen[key][r][c].as_f64().unwrap();
                assert!(
                    (theirs - ras[(r, c)]).abs() < 1e-4,
                    "{key} ({r},{c}): nibabel {theirs}, ours {}",
                    ras[(r, c)]
                );
            }
        }
    }
    for i in 0..7 {
        for j in 0..6 {
            for k in 0..5 {
                assert_eq!(
                    seen["data"][i][j][k].as_f64().unwrap() as f32,
                    value(i, j, k)
                );
            }
        }
    }

    // nibabel writes an int16 volume with a scale and a RAS affine; we read both.
    let theirs = dir.path().join("theirs.nii");
    python(&format!(
        "import json, numpy as np, nibabel as nib\n\
         d = np.fromfunction(lambda i, j, k: i + 10 * j + 100 * k, (4, 3, 2)).astype(np.int16)\n\
         a = np.array([[-0.8, 0, 0.1, 90.0], [0, 0.9, 0, -126.0], [0, 0, 2.5, -72.0], [0, 0, 0, 1]])\n\
         img = nib.Nifti1Image(d, a)\n\
         img.header.set_slope_inter(0.5, -3.0)\n\
         nib.save(img, {:?})\n\
         print('{{}}')",
        theirs.to_str().unwrap()
    ));
    let back = nifti_io::read(&theirs).unwrap();
    assert_eq!(back.geometry.dims, [4, 3, 2]);
    let expected_ras = [
        [-0.8, 0.0, 0.1, 90.0],
        [0.0, 0.9, 0.0, -126.0],
        [0.0, 0.0, 2.5, -72.0],
    ];
    let ras = back.geometry.to_ras();
    for (r, row) in expected_ras.iter().enumerate() {
        for (c, x) in row.iter().enumerate() {
            assert!((ras[(r, c)] - x).abs() < 1e-5, "({r},{c}) {}", ras[(r, c)]);
        }
    }
    for ((i, j, k), x) in back.data.indexed_iter() {
        assert_eq!(
            *x,
            (i + 10 * j + 100 * k) as f32 * 0.5 - 3.0,
            "[{i},{j},{k}]"
        );
    }
}

#[test]
fn we_read_nibabel_nifti2_files_with_sform_or_qform_plain_or_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sform) in [("two.nii", true), ("two.nii.gz", true), ("q.nii", false)] {
        let path = dir.path().join(name);
        python(&format!(
            "import numpy as np, nibabel as nib\n\
             d = np.fromfunction(lambda i, j, k: i + 10 * j + 100 * k, (5, 4, 3)).astype('>i2')\n\
             c, s = np.cos(0.3), np.sin(0.3)\n\
             a = np.array([[-0.8 * c, 0.9 * s, 0, 90.0], [-0.8 * s, -0.9 * c, 0, -126.0], [0, 0, 2.5, -72.0], [0, 0, 0, 1]])\n\
             img = nib.Nifti2Image(d, a)\n\
             img.header.set_slope_inter(2.0, 1.0)\n\
             if not {sform}:\n    img.set_sform(None, code=0); img.set_qform(a, code=1)\n\
             nib.save(img, {path:?})\n\
             print('{{}}')",
            sform = if sform { "True" } else { "False" },
            path = path.to_str().unwrap()
        ));
        let v = nifti_io::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.geometry.dims, [5, 4, 3], "{name}");
        let (c, s) = (0.3f64.cos(), 0.3f64.sin());
        let expected = [
            [-0.8 * c, 0.9 * s, 0.0, 90.0],
            [-0.8 * s, -0.9 * c, 0.0, -126.0],
            [0.0, 0.0, 2.5, -72.0],
        ];
        let ras = v.geometry.to_ras();
        for (r, row) in expected.iter().enumerate() {
            for (col, x) in row.iter().enumerate() {
                assert!(
                    (ras[(r, col)] - x).abs() < 1e-5,
                    "{name} ({r},{col}): {}",
                    ras[(r, col)]
                );
            }
        }
        for ((i, j, k), x) in v.data.indexed_iter() {
            assert_eq!(
                *x,
                (i + 10 * j + 100 * k) as f32 * 2.0 + 1.0,
                "{name} [{i},{j},{k}]"
            );
        }
    }
}

/// What nibabel makes of a file: its class, header size, codes, units, on-disk dtype, affine
/// (the sform), qform, and voxels (scaled) in file order, i fastest.
fn nibabel_sees(path: &std::path::Path) -> serde_json::Value {
    python(&format!(
        "import json, nibabel as nib\n\
         img = nib.load({path:?})\n\
         h = img.header\n\
         d = img.get_fdata()\n\
         print(json.dumps({{'class': type(img).__name__, 'sizeof_hdr': int(h['sizeof_hdr']), \
         'codes': [int(h['sform_code']), int(h['qform_code'])], 'units': list(h.get_xyzt_units()), \
         'dtype': str(h.get_data_dtype()), 'shape': list(d.shape), 'affine': img.affine.tolist(), \
         'qform': img.get_qform().tolist(), 'data': d.ravel(order='F').tolist()}}))",
        path = path.to_str().unwrap()
    ))
}

fn assert_affine(seen: &serde_json::Value, key: &str, ras: &nalgebra::Matrix4<f64>, what: &str) {
    for r in 0..4 {
        for c in 0..4 {
            let theirs = seen[key][r][c].as_f64().unwrap();
            assert!(
                (theirs - ras[(r, c)]).abs() < 1e-9,
                "{what} {key} ({r},{c}): nibabel {theirs}, ours {}",
                ras[(r, c)]
            );
        }
    }
}

#[test]
fn nibabel_reads_our_nifti2_files_with_our_affine_and_voxels_and_so_do_we() {
    use corelab_image::nifti2;
    let dir = tempfile::tempdir().unwrap();
    // The oblique grid, and a left-handed one (the qform's qfac −1) as a sagittal DICOM stack
    // with rows down the patient makes.
    let oblique = oblique([7, 6, 5]);
    let left_handed = Geometry::new(
        [7, 6, 5],
        [-30.0, 100.0, 90.0],
        [[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]],
        [0.5, 0.8, 3.0],
    )
    .unwrap();
    assert!(left_handed.to_ras().fixed_view::<3, 3>(0, 0).determinant() < 0.0);
    let value =
        |i: usize, j: usize, k: usize| (i as f32) * 0.5 - (j as f32) * 3.0 + (k * 100) as f32;
    for (label, g) in [("oblique", &oblique), ("left-handed", &left_handed)] {
        let float = Volume::new(
            Array3::from_shape_fn((7, 6, 5), |(i, j, k)| value(i, j, k)),
            g.clone(),
        )
        .unwrap();
        let int = Volume::new(
            Array3::from_shape_fn((7, 6, 5), |(i, j, k)| (i + 10 * j + 100 * k) as i16 - 300),
            g.clone(),
        )
        .unwrap();
        for name in ["two.nii", "two.nii.gz"] {
            let what = format!("{label} {name}");
            let path = dir.path().join(format!("{label}-f32-{name}"));
            nifti2::write(&path, &float).unwrap();
            let seen = nibabel_sees(&path);
            assert_eq!(seen["class"], "Nifti2Image", "{what}");
            assert_eq!(seen["sizeof_hdr"], 540, "{what}");
            assert_eq!(seen["codes"], serde_json::json!([1, 1]), "{what}");
            assert_eq!(
                seen["units"],
                serde_json::json!(["mm", "unknown"]),
                "{what}"
            );
            assert_eq!(seen["dtype"], "float32", "{what}");
            assert_eq!(seen["shape"], serde_json::json!([7, 6, 5]), "{what}");
            assert_affine(&seen, "affine", &g.to_ras(), &what);
            assert_affine(&seen, "qform", &g.to_ras(), &what);
            let theirs: Vec<f32> = seen["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            let ours: Vec<f32> = float
                .data
                .view()
                .permuted_axes([2, 1, 0])
                .iter()
                .copied()
                .collect();
            assert_eq!(theirs, ours, "{what}");
            // Our reader gives the volume back exactly.
            let back = nifti_io::read(&path).unwrap();
            assert_eq!(back.geometry, *g, "{what}");
            assert_eq!(back.data, float.data, "{what}");

            let path = dir.path().join(format!("{label}-i16-{name}"));
            nifti2::write(&path, &int).unwrap();
            let seen = nibabel_sees(&path);
            assert_eq!(seen["dtype"], "int16", "{what}");
            let theirs: Vec<f64> = seen["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let ours: Vec<f64> = int
                .data
                .view()
                .permuted_axes([2, 1, 0])
                .iter()
                .map(|x| f64::from(*x))
                .collect();
            assert_eq!(theirs, ours, "{what}");
            let back = nifti_io::read(&path).unwrap();
            assert_eq!(back.geometry, *g, "{what}");
            assert_eq!(back.data, int.data.mapv(f32::from), "{what}");
        }
    }
    // Nothing but the files is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 8);
}

#[test]
fn nifti2_writes_to_bad_paths_are_refused_saying_why() {
    use corelab_image::nifti2;
    let dir = tempfile::tempdir().unwrap();
    let v = Volume::new(Array3::<u8>::zeros((2, 2, 2)), oblique([2, 2, 2])).unwrap();
    let e = nifti2::write(&dir.path().join("v.nii2"), &v).unwrap_err();
    assert_eq!(e.why, "a NIfTI file name ends with .nii or .nii.gz");
    assert!(e.to_string().contains("v.nii2: "), "{e}");
    let missing = dir.path().join("absent/v.nii.gz");
    let e = nifti2::write(&missing, &v).unwrap_err();
    assert_eq!(e.path, missing.display().to_string());
    assert!(e.why.contains("No such file or directory"), "{e}");
    let e = nifti2::write(std::path::Path::new("/"), &v).unwrap_err();
    assert_eq!(e.why, "not a file name");
    // A folder where the file would go: the rename fails and the partial file is removed.
    std::fs::create_dir(dir.path().join("taken.nii")).unwrap();
    let e = nifti2::write(&dir.path().join("taken.nii"), &v).unwrap_err();
    assert!(e.to_string().contains("taken.nii: "), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["taken.nii"]);
}
