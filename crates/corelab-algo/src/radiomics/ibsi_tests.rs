//! IBSI 1's reference values (the submission table, `../shared/data/radiomics`).

use super::*;
use std::path::PathBuf;

fn data() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/radiomics"
    ))
}

/// (tag, reference, tolerance) of a data set's rows that have a reference value. A tolerance
/// of 0 means "match the three significant digits given".
fn references(file: &str) -> Vec<(String, f64, f64)> {
    let text = std::fs::read_to_string(data().join("ibsi1_reference_values").join(file)).unwrap();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        // dataset,family,feature,consensus,reference value,tolerance,…,tag; fields may be quoted.
        let mut fields = Vec::new();
        let (mut cur, mut quoted) = (String::new(), false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        fields.push(cur);
        let (Ok(value), Ok(tol)) = (fields[4].parse::<f64>(), fields[5].parse::<f64>()) else {
            continue;
        };
        let tol = if tol == 0.0 && value != 0.0 {
            0.5 * 10f64.powi(value.abs().log10().floor() as i32 - 2)
        } else {
            tol
        };
        if fields[1].starts_with("Diagnostics") {
            continue; // image and mask sizes along the chain, not features
        }
        out.push((fields[9].trim().to_owned(), value, tol));
    }
    out
}

/// Compares and returns the failures as lines.
fn compare(features: &[Feature], refs: &[(String, f64, f64)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (tag, value, tol) in refs {
        match features.iter().find(|f| &f.tag == tag) {
            None => bad.push(format!("{tag}: missing (reference {value})")),
            Some(f) if (f.value - value).abs() > *tol + 1e-12 => {
                bad.push(format!("{tag}: {} vs {value} ± {tol}", f.value))
            }
            Some(_) => {}
        }
    }
    bad
}

#[test]
fn the_digital_phantom_matches_every_ibsi_reference_value() {
    let dir = data().join("ibsi1_digital_phantom/nifti");
    let image = corelab_image::nifti_io::read(&dir.join("image/phantom.nii.gz")).unwrap();
    let mask = corelab_image::nifti_io::read(&dir.join("mask/mask.nii.gz")).unwrap();
    let settings = Settings {
        discretisation: Discretisation::None,
        texture: Dims::All,
        ..Settings::default()
    };
    let features = extract(&image, &mask, &settings).unwrap();
    let refs = references("ibsi1_submission_table_digital_phantom.csv");
    assert!(refs.len() > 450, "{}", refs.len());
    let bad = compare(&features, &refs);
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        refs.len(),
        bad.join("\n")
    );
}

/// Extracts the CT phantom's features with `settings` and compares them with a submission table.
fn ct_phantom_matches(settings: &Settings, table: &str) {
    let dir = data().join("ibsi1_ct_phantom/nifti");
    let image = corelab_image::nifti_io::read(&dir.join("image/phantom.nii.gz")).unwrap();
    let mask = corelab_image::nifti_io::read(&dir.join("mask/mask.nii.gz")).unwrap();
    let features = extract(&image, &mask, settings).unwrap();
    let refs = references(table);
    let bad = compare(&features, &refs);
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        refs.len(),
        bad.join("\n")
    );
}

#[test]
fn the_ct_phantom_in_configuration_a_matches_ibsi() {
    // 2D, no interpolation, re-segmentation [-500, 400] HU, fixed bin size 25 HU.
    let settings = Settings {
        resegment: Some((-500.0, 400.0)),
        discretisation: Discretisation::FixedBinSize {
            width: 25.0,
            lower: Some(-500.0),
        },
        texture: Dims::Slices,
        ..Settings::default()
    };
    ct_phantom_matches(&settings, "ibsi1_submission_table_config_A.csv");
}

#[test]
fn the_ct_phantom_in_configuration_b_matches_ibsi() {
    // 2D: in-plane bilinear interpolation to 2 × 2 mm (intensities rounded, the mask at a
    // partial volume of 0.5), re-segmentation [-500, 400] HU, fixed bin number 32.
    let settings = Settings {
        interpolation: Some(Interpolation {
            spacing: [Some(2.0), Some(2.0), None],
            round: true,
            partial_volume: 0.5,
        }),
        resegment: Some((-500.0, 400.0)),
        discretisation: Discretisation::FixedBinNumber(32),
        texture: Dims::Slices,
        ..Settings::default()
    };
    ct_phantom_matches(&settings, "ibsi1_submission_table_config_B.csv");
}

#[test]
fn families_choose_what_is_computed_and_unknown_ones_are_refused() {
    let dir = data().join("ibsi1_digital_phantom/nifti");
    let mut inputs = crate::Inputs::new();
    inputs.insert(
        "image".into(),
        corelab_image::nifti_io::read(&dir.join("image/phantom.nii.gz")).unwrap(),
    );
    inputs.insert(
        "mask".into(),
        corelab_image::nifti_io::read(&dir.join("mask/mask.nii.gz")).unwrap(),
    );
    let given = |families: &str| {
        std::collections::BTreeMap::from([
            ("families".to_owned(), families.to_owned()),
            ("discretisation".to_owned(), "none".to_owned()),
        ])
    };
    let (_, out) = crate::run(&Ibsi, &inputs, &given("glcm, ngtdm")).unwrap();
    let csv = &out.documents[0].text;
    let families: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(families, ["glcm", "ngtdm"].into());
    // 25 GLCM features at 2 volumetric aggregations, 5 NGTDM at one.
    assert_eq!(csv.lines().count() - 1, 25 * 2 + 5);
    let e = crate::run(&Ibsi, &inputs, &given("glcm,shape")).unwrap_err();
    assert!(e.to_string().contains("\"shape\" is not a family"), "{e}");
}
