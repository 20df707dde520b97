//! Transform files are ITK's: SimpleITK (PyPI; `.ci/run` installs it) reads the transforms
//! corelab writes and moves points and resamples images exactly as corelab does, and corelab reads
//! the Euler, versor and affine transforms SimpleITK writes and moves points as SimpleITK does.

use corelab_image::registration::{AffineTransform, itk};
use corelab_image::resample::{Interpolation, resample_through};
use corelab_image::{Geometry, Volume, nifti_io};
use ndarray::Array3;
use std::process::Command;

const SCRIPT: &str = r#"
import json, sys
import SimpleITK as sitk
d = sys.argv[1]
points = json.loads(open(f"{d}/points.json").read())
ours = sitk.ReadTransform(f"{d}/ours.txt")
image = sitk.ReadImage(f"{d}/image.nii")
moved = sitk.Resample(image, image, ours, sitk.sitkLinear, -1.0, sitk.sitkFloat32)
sitk.WriteImage(moved, f"{d}/sitk_resampled.nii")
out = {"ours_points": [list(ours.TransformPoint(p)) for p in points]}
euler = sitk.Euler3DTransform((3.0, -2.0, 5.0), 0.12, -0.2, 0.31, (4.0, -6.5, 2.25))
versor = sitk.VersorRigid3DTransform()
versor.SetCenter((1.0, 2.0, 3.0))
versor.SetRotation((0.2, 0.3, -0.5), 0.4)
versor.SetTranslation((-3.0, 1.5, 8.0))
affine = sitk.AffineTransform(3)
affine.SetMatrix((1.05, 0.02, -0.03, 0.01, 0.97, 0.04, -0.02, 0.03, 1.1))
affine.SetCenter((10.0, -20.0, 5.0))
affine.SetTranslation((2.0, 3.0, -4.0))
for name, t in (("euler", euler), ("versor", versor), ("affine", affine)):
    sitk.WriteTransform(t, f"{d}/{name}.txt")
    out[name] = [list(t.TransformPoint(p)) for p in points]
print(json.dumps(out))
"#;

#[test]
fn simpleitk_and_corelab_agree_on_transform_files_points_and_resampling() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An oblique grid (so directions and LPS/RAS are exercised) holding a smooth, uneven pattern.
    let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
    let grid = Geometry::new(
        [40, 36, 30],
        [-30.0, -25.0, -20.0],
        [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
        [1.5, 1.6, 2.0],
    )
    .unwrap();
    let data = Array3::from_shape_fn((40, 36, 30), |(i, j, k)| {
        let (x, y, z) = (i as f32, j as f32, k as f32);
        100.0 + 40.0 * (x / 5.0).sin() * (y / 7.0).cos() + z * 1.5 + (x * y) / 30.0
    });
    let image = Volume::new(data, grid.clone()).unwrap();
    nifti_io::write(&d.join("image.nii"), &image).unwrap();
    let ours = AffineTransform::euler([0.05, -0.08, 0.1], [2.5, -1.25, 3.0], [1.0, 4.0, -2.0]);
    std::fs::write(d.join("ours.txt"), itk::write(&ours)).unwrap();
    let points = [[0.0, 0.0, 0.0], [12.5, -30.0, 44.0], [-70.0, 65.0, -10.0]];
    std::fs::write(
        d.join("points.json"),
        serde_json::to_string(&points).unwrap(),
    )
    .unwrap();

    let out = Command::new("python3")
        .args(["-c", SCRIPT, d.to_str().unwrap()])
        .output()
        .expect("python3 runs (SimpleITK from PyPI, installed by .ci/run)");
    assert!(
        out.status.success(),
        "SimpleITK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pts = |key: &str| -> Vec<[f64; 3]> { serde_json::from_value(v[key].clone()).unwrap() };

    // SimpleITK moves points through our file as we do.
    for (p, theirs) in points.iter().zip(pts("ours_points")) {
        let mine = ours.apply(*p);
        for a in 0..3 {
            assert!((mine[a] - theirs[a]).abs() < 1e-9, "{mine:?} vs {theirs:?}");
        }
    }
    // We read SimpleITK's files and move points as it does.
    for name in ["euler", "versor", "affine"] {
        let t = itk::read(&std::fs::read_to_string(d.join(format!("{name}.txt"))).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (p, theirs) in points.iter().zip(pts(name)) {
            let mine = t.apply(*p);
            for a in 0..3 {
                assert!(
                    (mine[a] - theirs[a]).abs() < 1e-9,
                    "{name}: {mine:?} vs {theirs:?}"
                );
            }
        }
    }
    // The same image resampled through the same transform, by both, voxel for voxel.
    let mine = resample_through(
        &image,
        &grid,
        &ours.to_matrix4(),
        Interpolation::Trilinear,
        -1.0,
    )
    .unwrap();
    let theirs = nifti_io::read(&d.join("sitk_resampled.nii")).unwrap();
    assert_eq!(theirs.geometry.dims, grid.dims);
    // ITK counts a point as inside up to half a voxel beyond the outer voxel centres (and
    // clamps there); corelab only between the outer centres, so it fills a thin rim that ITK
    // extrapolates, and never the other way round.
    let (mut compared, mut worst, mut rim, mut only_ours) = (0, 0.0f32, 0, 0);
    for (a, b) in mine.data.iter().zip(theirs.data.iter()) {
        match (*a == -1.0, *b == -1.0) {
            (false, false) => {
                compared += 1;
                worst = worst.max((a - b).abs());
            }
            (true, false) => rim += 1,
            (false, true) => only_ours += 1,
            (true, true) => {}
        }
    }
    assert!(compared > 20_000, "only {compared} voxels inside both");
    assert!(worst < 1e-3, "largest difference {worst}");
    assert_eq!(
        only_ours, 0,
        "voxels corelab fills with a value and ITK leaves outside"
    );
    assert!(rim < compared / 10, "{rim} rim voxels");
}
