//! `corelab register FIXED MOVING --out T.txt`: the transform as ITK text, the moving image on
//! the fixed grid, the same result for the same seed; bad input refused saying what and where.

mod common;

use common::{corelab, json};
use corelab_image::registration::{AffineTransform, itk};
use corelab_image::resample::{Interpolation, resample, resample_through};
use corelab_image::{Geometry, nifti_io};

#[test]
fn register_writes_an_itk_transform_and_the_resampled_image() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The MNI152 T1 at 2 mm, and a copy moved by a known rigid transform.
    let t1 = nifti_io::read(
        &common::corpus("")
            .join("../brain_mri/mni152_nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
    )
    .unwrap();
    let grid = Geometry::new(
        [98, 116, 94],
        t1.geometry.to_patient([0.5, 0.5, 0.5]),
        t1.geometry.directions(),
        [2.0; 3],
    )
    .unwrap();
    let fixed = resample(&t1, &grid, Interpolation::Trilinear, 0.0).unwrap();
    let c = fixed.geometry.to_patient([48.5, 57.5, 46.5]);
    let truth = AffineTransform::euler(
        [8f64.to_radians(), -6f64.to_radians(), 11f64.to_radians()],
        [9.0, -12.0, 5.0],
        c,
    );
    let moving = resample_through(
        &fixed,
        &grid,
        &truth.inverse().unwrap().to_matrix4(),
        Interpolation::Trilinear,
        0.0,
    )
    .unwrap();
    let (f, m) = (d.join("fixed.nii.gz"), d.join("moving.nii.gz"));
    nifti_io::write(&f, &fixed).unwrap();
    nifti_io::write(&m, &moving).unwrap();
    let out = d.join("t.txt");
    let resampled = d.join("moved.nii.gz");
    let args = |seed: &str, out: &std::path::Path| -> Vec<String> {
        [
            "--json",
            "register",
            f.to_str().unwrap(),
            m.to_str().unwrap(),
            "--metric",
            "ms",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
            "--resampled",
            resampled.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |a: Vec<String>| corelab(d, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let r = run(args("1", &out));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    assert_eq!(doc["kind"], "rigid");
    assert_eq!(doc["levels"].as_array().unwrap().len(), 3);
    let found = itk::read(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let corners: Vec<[f64; 3]> = [-60.0, 60.0]
        .iter()
        .flat_map(|x| [-60.0, 60.0].map(|y| [c[0] + x, c[1] + y, c[2]]))
        .collect();
    let (deg, mm) = found.difference(&truth, &corners);
    assert!(deg < 0.5 && mm < 0.5, "{deg}° {mm} mm");
    // The moving image back on the fixed grid matches the fixed image inside the brain.
    let back = nifti_io::read(&resampled).unwrap();
    assert_eq!(back.geometry.dims, fixed.geometry.dims);
    let centre = [49, 58, 47];
    let (a, b) = (back.data[centre], fixed.data[centre]);
    assert!((a - b).abs() < 0.05 * b.abs().max(1.0), "{a} vs {b}");
    // The same seed gives the same file.
    let again = d.join("again.txt");
    assert!(run(args("1", &again)).status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());

    // Bad input: a missing image, a folder that is not there, a bad initial transform.
    let r = corelab(
        d,
        &[
            "register",
            f.to_str().unwrap(),
            "/nonexistent/m.nii",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("moving image") && e.contains("/nonexistent/m.nii"),
        "{e}"
    );
    let r = corelab(
        d,
        &[
            "register",
            f.to_str().unwrap(),
            m.to_str().unwrap(),
            "--out",
            "/nonexistent/t.txt",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&r.stderr)
            .contains("/nonexistent: the folder for the transform does not exist")
    );
    let bad = d.join("bad.txt");
    std::fs::write(
        &bad,
        "#Insight Transform File V1.0\nTransform: AffineTransform_double_3_3\nParameters: 1 2\n",
    )
    .unwrap();
    let r = corelab(
        d,
        &[
            "register",
            f.to_str().unwrap(),
            m.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--initial",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("bad.txt") && e.contains("has 12 parameters, the file gives 2"),
        "{e}"
    );
}
