//! dcm2niix (Debian; `.ci/run` installs it) and corelab make the same volume of the same series:
//! after both are brought to the closest canonical orientation by nibabel, the same shape, the
//! affine within 1e-4 mm and identical voxel values. Series: the synthetic CT (axial, rescaled)
//! and generated MR stacks (oblique, sagittal, with a gantry-free shuffled order).

mod common;

use common::{instance, spec};
use corelab_dicom::series::{Instance, volumes};
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes the instances as files, makes both NIfTI files, and compares them with nibabel.
fn same_as_dcm2niix(dir: &Path, name: &str, instances: Vec<Instance>) {
    let dicom = dir.join(name);
    std::fs::create_dir_all(&dicom).unwrap();
    for (n, i) in instances.iter().enumerate() {
        i.object
            .write_to_file(dicom.join(format!("{n:04}.dcm")))
            .unwrap();
    }
    let v = volumes(&instances).unwrap();
    assert_eq!(v.len(), 1, "{name}");
    let ours = dir.join(format!("{name}-ours.nii"));
    corelab_image::nifti_io::write(&ours, &v[0]).unwrap();
    let theirs = dcm2niix(dir, name, &dicom);
    assert_eq!(theirs.len(), 1, "{name}: dcm2niix made {theirs:?}");
    let r = compare(&ours, &theirs[0]);
    assert_eq!(r["shape"][0], r["shape"][1], "{name}: {r}");
    assert!(r["affine"].as_f64().unwrap() < 1e-4, "{name}: {r}");
    assert_eq!(r["data"].as_f64(), Some(0.0), "{name}: {r}");
}

/// dcm2niix's NIfTI files of the DICOM files in `dicom`, named `NAME-theirs*.nii`.
fn dcm2niix(dir: &Path, name: &str, dicom: &Path) -> Vec<std::path::PathBuf> {
    let _ = Command::new("dcm2niix")
        .args(["-z", "n", "-b", "n", "-f", &format!("{name}-theirs"), "-o"])
        .arg(dir)
        .arg(dicom)
        .output()
        .expect("dcm2niix (Debian package dcm2niix; .ci/run installs it)");
    let prefix = format!("{name}-theirs");
    let mut made: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".nii"))
        })
        .collect();
    made.sort();
    made
}

/// Shapes, the largest affine difference (mm) and the largest voxel difference of two NIfTI
/// files, both brought to the closest canonical orientation by nibabel.
fn compare(ours: &Path, theirs: &Path) -> serde_json::Value {
    let out = run(Command::new("python3").args([
        "-c",
        "import sys, json, numpy as np, nibabel as nib\n\
         a, b = (nib.as_closest_canonical(nib.load(p)) for p in sys.argv[1:3])\n\
         da, db = a.get_fdata(), b.get_fdata()\n\
         print(json.dumps({'shape': [list(da.shape), list(db.shape)], \
         'affine': float(np.abs(a.affine - b.affine).max()), \
         'data': float(np.abs(da - db).max()) if da.shape == db.shape else None}))",
        ours.to_str().unwrap(),
        theirs.to_str().unwrap(),
    ]));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn dcm2niix_and_corelab_make_the_same_volumes() {
    let dir = tempfile::tempdir().unwrap();
    // The synthetic CT series (what the demo and the ingest tests send).
    let ct: Vec<Instance> = corelab_dicom::synthetic::ct_series("MRN-7", "Doe^Jo", 1, 12)
        .into_iter()
        .enumerate()
        .map(|(n, bytes)| Instance {
            name: format!("ct-{n}"),
            sha256: String::new(),
            object: dicom_object::from_reader(&bytes[128..]).unwrap(),
        })
        .collect();
    same_as_dcm2niix(dir.path(), "ct", ct);

    // An oblique axial MR stack (rotated 20° about z and 10° about x), given out of order.
    let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
    let (cx, sx) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
    let row = [c, s, 0.0];
    let col = [-s * cx, c * cx, sx];
    let normal = [
        row[1] * col[2] - row[2] * col[1],
        row[2] * col[0] - row[0] * col[2],
        row[0] * col[1] - row[1] * col[0],
    ];
    let oblique: Vec<Instance> = [4usize, 1, 0, 3, 2, 5]
        .iter()
        .map(|&n| {
            let mut sp = spec(0.0);
            sp.orientation = [row[0], row[1], row[2], col[0], col[1], col[2]];
            sp.position = [
                -60.0 + normal[0] * 3.5 * n as f64,
                -45.0 + normal[1] * 3.5 * n as f64,
                20.0 + normal[2] * 3.5 * n as f64,
            ];
            instance(&sp, n)
        })
        .collect();
    same_as_dcm2niix(dir.path(), "oblique", oblique);

    // A sagittal stack.
    let sagittal: Vec<Instance> = (0..5)
        .map(|n| {
            let mut sp = spec(0.0);
            sp.orientation = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
            sp.position = [-30.0 + 2.0 * n as f64, -100.0, 90.0];
            instance(&sp, n)
        })
        .collect();
    same_as_dcm2niix(dir.path(), "sagittal", sagittal);
}

/// Every volume-shaped series of the shared conformance corpus (several slices that corelab forms
/// into one volume) is the volume dcm2niix makes of it.
#[test]
fn the_volume_shaped_series_of_the_corpus_match_dcm2niix() {
    use dicom_dictionary_std::tags;
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom_conformance");
    let text = std::fs::read_to_string(corpus.join("inventory.csv")).unwrap();
    let mut series: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in text.lines().skip(1) {
        let rel = line.split(',').next().unwrap();
        // corelab's reader first: it refuses the corpus's malformed files at once (dicom-rs's
        // own parser spends a minute on two of them); whole objects only for series of several
        // images.
        let Ok(parsed) = corelab_dicom::read::read_path(&corpus.join(rel)) else {
            continue;
        };
        let Some(uid) = parsed
            .dataset
            .get(tags::SERIES_INSTANCE_UID)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_matches(['\0', ' ']).to_owned())
        else {
            continue;
        };
        series.entry(uid).or_default().push(rel.to_owned());
    }
    let series: Vec<Vec<Instance>> = series
        .into_values()
        .filter(|files| files.len() > 1) // a single image is not volume-shaped
        .map(|files| {
            files
                .into_iter()
                .filter_map(|rel| {
                    let object = dicom_object::open_file(corpus.join(&rel)).ok()?;
                    Some(Instance {
                        name: rel,
                        sha256: String::new(),
                        object,
                    })
                })
                .collect()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (mut matched, mut ours_only, mut refused) = (Vec::new(), Vec::new(), 0);
    for (n, instances) in series.into_iter().enumerate() {
        let v = match volumes(&instances) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("refused: {e}");
                refused += 1;
                continue;
            }
        };
        if v.len() != 1 || v[0].geometry.dims[2] < 2 {
            continue; // single images are not volume-shaped
        }
        let name = format!("s{n:03}");
        let ours = dir.path().join(format!("{name}-ours.nii"));
        corelab_image::nifti_io::write(&ours, &v[0]).unwrap();
        let dicom = dir.path().join(&name);
        std::fs::create_dir_all(&dicom).unwrap();
        for (k, i) in instances.iter().enumerate() {
            std::fs::copy(corpus.join(&i.name), dicom.join(format!("{k:04}.dcm"))).unwrap();
        }
        let theirs = dcm2niix(dir.path(), &name, &dicom);
        let label = instances[0].name.clone();
        if theirs.len() != 1 {
            ours_only.push(format!("{label}: dcm2niix made {} files", theirs.len()));
            continue;
        }
        let r = compare(&ours, &theirs[0]);
        assert_eq!(r["shape"][0], r["shape"][1], "{label}: {r}");
        assert!(r["affine"].as_f64().unwrap() < 1e-4, "{label}: {r}");
        assert_eq!(r["data"].as_f64(), Some(0.0), "{label}: {r}");
        matched.push(label);
    }
    eprintln!(
        "{} multi-image series match dcm2niix; {} formed by corelab only ({ours_only:?}); {refused} refused by corelab",
        matched.len(),
        ours_only.len()
    );
    // The corpus is mostly single images and deliberately odd files: one series of it is
    // volume-shaped and whole (the others are refused above with their reasons: images of one
    // place in several transfer syntaxes, 161 slices missing, multi-frame objects).
    assert!(
        !matched.is_empty() && ours_only.is_empty(),
        "matched {matched:?}; dcm2niix made other than one volume for {ours_only:?}"
    );
}
