//! nibabel (PyPI; `.ci/run` installs it) reads our NIfTI files with our affine and voxels, and we
//! read its files with its affine and voxels: one convention for LPS/RAS and voxel order.

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
