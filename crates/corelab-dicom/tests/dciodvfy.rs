//! dicom3tools' IOD verifier (`dciodvfy`, Debian package dicom3tools; `.ci/run` installs it)
//! finds no error in the NM object corelab writes for a reconstructed SPECT. Its warnings are
//! only the attributes its NM IOD (2022 edition) does not list: Rescale Slope and Intercept,
//! Radionuclide Half Life, Radiopharmaceutical Start DateTime ("Standard Extended SOP Class").

mod common;

use std::process::Command;

#[test]
fn the_nm_tomogram_corelab_writes_is_a_valid_nm_image_iod() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nm.dcm");
    std::fs::write(&path, common::nm_tomogram()).unwrap();
    let out = Command::new("dciodvfy")
        .arg(&path)
        .output()
        .expect("dciodvfy (Debian package dicom3tools; .ci/run installs it)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.starts_with("NMImage"), "{report}");
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(errors.is_empty(), "{report}");
    let warnings: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("Warning"))
        .filter(|l| !l.contains("not present in standard DICOM IOD"))
        .collect();
    assert!(warnings.is_empty(), "{report}");
}
