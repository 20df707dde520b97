//! SUV factors against the shared vectors (`../shared/data/pet_suv`, from cornerstonejs/
//! calculate-suv, the QIBA pseudo-code): real Siemens, GE and Philips headers give the expected
//! body-weight factors within 1e-6, and the unit vectors give the LBM, BSA, Philips CNTS and
//! refusal cases.

use corelab_image::suv::{PetHeader, bsa_dubois_m2, factors, lbm_james_kg, lbm_janmahasatian_kg};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/pet_suv")
}

/// A header from the calculate-suv JSON (DICOM keywords).
fn header(v: &Value) -> PetHeader {
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    let f = |k: &str| match &v[k] {
        Value::Number(n) => n.as_f64(),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    };
    let philips = &v["PhilipsPETPrivateGroup"];
    let pf = |k: &str| philips[k].as_str().and_then(|t| t.trim().parse().ok());
    PetHeader {
        units: s("Units").unwrap_or_default(),
        decay_correction: s("DecayCorrection").unwrap_or_default(),
        corrected_image: v["CorrectedImage"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        series_date: s("SeriesDate").unwrap_or_default(),
        series_time: s("SeriesTime").unwrap_or_default(),
        acquisition_date: s("AcquisitionDate").unwrap_or_default(),
        acquisition_time: s("AcquisitionTime").unwrap_or_default(),
        injection_datetime: s("RadiopharmaceuticalStartDateTime"),
        injection_time: s("RadiopharmaceuticalStartTime"),
        dose_bq: f("RadionuclideTotalDose"),
        half_life_s: f("RadionuclideHalfLife"),
        weight_kg: f("PatientWeight"),
        height_m: f("PatientSize"),
        sex: s("PatientSex"),
        philips_suv_scale: pf("SUVScaleFactor"),
        philips_activity_scale: pf("ActivityConcentrationScaleFactor"),
    }
}

#[test]
fn vendor_headers_give_the_expected_body_weight_factors() {
    let text =
        std::fs::read_to_string(shared().join("suv_vendor_header_expected_factors.csv")).unwrap();
    let mut cases = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.splitn(5, ',').collect();
        let (case, file, expected, tolerance) = (
            cols[0],
            cols[1],
            cols[2].parse::<f64>().unwrap(),
            cols[3].parse::<f64>().unwrap(),
        );
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(shared().join(file)).unwrap()).unwrap();
        let headers: Vec<PetHeader> = json.as_array().unwrap().iter().map(header).collect();
        let got = factors(&headers).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(
            (got.bw - expected).abs() <= tolerance,
            "{case}: {} vs {expected}",
            got.bw
        );
        cases += 1;
    }
    assert_eq!(cases, 4);
}

fn base() -> PetHeader {
    PetHeader {
        units: "BQML".into(),
        decay_correction: "START".into(),
        corrected_image: vec!["ATTN".into(), "DECY".into()],
        series_date: "20240101".into(),
        series_time: "120000".into(),
        acquisition_date: "20240101".into(),
        acquisition_time: "120000".into(),
        injection_datetime: Some("20240101120000".into()),
        injection_time: None,
        dose_bq: Some(100.0),
        half_life_s: Some(10.0),
        weight_kg: Some(75.0),
        height_m: Some(1.85),
        sex: Some("M".into()),
        philips_suv_scale: None,
        philips_activity_scale: None,
    }
}

#[test]
fn the_unit_vectors_hold() {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    // Body size formulas (grams, cm²).
    assert!(close(
        lbm_james_kg(75.0, 1.85, true) * 1000.0,
        62777.57487216947
    ));
    assert!(close(
        lbm_james_kg(75.0, 1.85, false) * 1000.0,
        55925.67567567568
    ));
    assert!(close(
        lbm_janmahasatian_kg(75.0, 1.85, true) * 1000.0,
        60915.335886519744
    ));
    assert!(close(
        lbm_janmahasatian_kg(75.0, 1.85, false) * 1000.0,
        49214.37996837613
    ));
    assert!(close(
        bsa_dubois_m2(75.0, 1.85) * 10_000.0,
        19813.758427117766
    ));
    // 75 kg, 1.85 m, male, 100 Bq, no decay.
    let f = factors(&[base()]).unwrap();
    assert!(close(f.bw, 750.0));
    assert!(close(f.bsa.unwrap(), 198.13758427117767));
    assert!(close(f.lbm_james.unwrap(), 627.7757487216948));
    assert!(close(f.lbm_janmahasatian.unwrap(), 609.1533588651974));
    // Already SUV.
    let gml = PetHeader {
        units: "GML".into(),
        ..base()
    };
    assert_eq!(factors(&[gml]).unwrap().bw, 1.0);
    // Philips counts: the vendor's SUV factor, else its activity scale.
    let cnts = PetHeader {
        units: "CNTS".into(),
        weight_kg: Some(100.0),
        philips_suv_scale: Some(0.000551),
        philips_activity_scale: Some(1.602563),
        ..base()
    };
    assert!(close(
        factors(std::slice::from_ref(&cnts)).unwrap().bw,
        0.000551
    ));
    let scaled = PetHeader {
        philips_suv_scale: Some(0.0),
        ..cnts
    };
    assert!(close(factors(&[scaled]).unwrap().bw, 1602.563));
    // Decay over one half-life halves the dose: the factor doubles.
    let later = PetHeader {
        series_time: "120010".into(),
        acquisition_time: "120010".into(),
        ..base()
    };
    let f = factors(&[later]).unwrap();
    assert!(close(f.bw, 1500.0) && close(f.decay_seconds, 10.0), "{f:?}");
}

#[test]
fn missing_or_implausible_values_are_refused_naming_them() {
    let refused = |h: PetHeader| factors(&[h]).unwrap_err().to_string();
    let e = refused(PetHeader {
        corrected_image: vec!["ATTN".into()],
        ..base()
    });
    assert!(e.contains("lacks ATTN and DECY"), "{e}");
    let e = refused(PetHeader {
        units: "Blah".into(),
        ..base()
    });
    assert!(e.contains("Units \"Blah\""), "{e}");
    let e = refused(PetHeader {
        injection_datetime: Some("20240101120500".into()),
        ..base()
    });
    assert!(e.contains("after the scan start"), "{e}");
    let e = refused(PetHeader {
        weight_kg: Some(0.0),
        ..base()
    });
    assert!(e.contains("(0010,1030) Patient's Weight is 0"), "{e}");
    let e = refused(PetHeader {
        dose_bq: None,
        ..base()
    });
    assert!(
        e.contains("(0018,1074) Radionuclide Total Dose is missing"),
        "{e}"
    );
    let e = refused(PetHeader {
        height_m: Some(185.0),
        ..base()
    });
    assert!(e.contains("metres expected"), "{e}");
    let e = refused(PetHeader {
        decay_correction: "NONE".into(),
        ..base()
    });
    assert!(e.contains("Decay Correction NONE"), "{e}");
    let e = refused(PetHeader {
        series_time: "120500".into(),
        ..base()
    });
    assert!(e.contains("after the earliest Acquisition"), "{e}");
    // Two images that disagree on the half-life.
    let e = factors(&[
        base(),
        PetHeader {
            half_life_s: Some(11.0),
            ..base()
        },
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("image 2 differs"), "{e}");
}
