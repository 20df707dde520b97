//! `corelab convert SERIES_DIR OUT.nii.gz`: a series to a NIfTI volume with its provenance
//! sidecar, or the reason it cannot be one.

mod common;

use common::{corelab, json};

fn series_dir(dir: &std::path::Path, patient: &str, slices: u32) -> std::path::PathBuf {
    let out = dir.join(patient);
    std::fs::create_dir_all(&out).unwrap();
    for (n, bytes) in corelab_dicom::synthetic::ct_series(patient, "Doe^Jo", 1, slices)
        .into_iter()
        .enumerate()
    {
        std::fs::write(out.join(format!("{n:03}.dcm")), bytes).unwrap();
    }
    out
}

#[test]
fn a_series_becomes_a_nifti_volume_with_a_sidecar_or_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ct = series_dir(dir.path(), "MRN-1", 10);
    let out = dir.path().join("ct.nii.gz");
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "convert",
            ct.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    assert_eq!(doc["volumes"][0]["dims"], serde_json::json!([64, 64, 10]));
    let v = corelab_image::nifti_io::read(&out).unwrap();
    assert_eq!(v.geometry.dims, [64, 64, 10]);
    let sp = v.geometry.spacing();
    assert!(
        (sp[0] - 5.0).abs() < 1e-4 && (sp[2] - 5.0).abs() < 1e-4,
        "{sp:?}"
    );
    // Rescale applied: the synthetic disc is stored 1040 + slice with intercept −1024.
    assert_eq!(v.data[[32, 32, 3]], 1040.0 + 3.0 - 1024.0);
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ct.json")).unwrap()).unwrap();
    assert_eq!(sidecar["instance_sha256"].as_array().unwrap().len(), 10);

    // Two series in one folder: refused, naming them.
    series_dir(&ct, "MRN-2", 3);
    let r = corelab(
        dir.path(),
        &["convert", ct.to_str().unwrap(), out.to_str().unwrap()],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("2 series"));

    // A slice missing: refused, naming where.
    let gap = series_dir(dir.path(), "MRN-3", 6);
    std::fs::remove_file(gap.join("002.dcm")).unwrap();
    let r = corelab(
        dir.path(),
        &[
            "convert",
            gap.to_str().unwrap(),
            dir.path().join("gap.nii").to_str().unwrap(),
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("1 missing slice(s) between") && err.contains("001.dcm"),
        "{err}"
    );
    assert!(!dir.path().join("gap.nii").exists(), "nothing written");
}
