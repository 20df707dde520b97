//! `corelab algorithms` and `corelab algo run`: the catalogue, one algorithm on files with its
//! measurements, derived images and PROV-JSON provenance, and bad input refused with nothing
//! written.

mod common;

use common::{corelab, json, make_phantom};
use std::path::PathBuf;

fn brain(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/brain_mri")
        .join(rel)
}

#[test]
fn the_catalogue_lists_every_builtin_with_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let r = corelab(dir.path(), &["--json", "algorithms"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    let ids: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"image.bias-n4") && ids.contains(&"image.mask-volume"),
        "{ids:?}"
    );
    // The catalogue lists every built-in, by id.
    let registry = corelab_algo::Registry::builtin();
    assert_eq!(ids, registry.ids());
    let at = ids.iter().position(|id| *id == "image.bias-n4").unwrap();
    let n4 = &doc[at];
    assert_eq!(n4["version"], "1.0.0");
    assert_eq!(
        n4["parameters_schema"]["properties"]["shrink"]["default"],
        4
    );
    assert_eq!(n4["parameters_schema"]["additionalProperties"], false);
}

/// The lesion mask of the Lesjak et al. patient against the counts in
/// `../shared/data/brain_mri/ms_lesions_lesjak2017/lesion_mask_summary.csv` (1.30 mL; 49, 38 and
/// 37 components with 6-, 18- and 26-connectivity).
#[test]
fn mask_volume_gives_the_reference_counts_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let mask = brain("ms_lesions_lesjak2017/patient07/consensus_lesion_mask_mni.nii.gz");
    let flair = brain("ms_lesions_lesjak2017/patient07/FLAIR_mni.nii.gz");
    for (connectivity, components) in [("6", 49.0), ("18", 38.0), ("26", 37.0)] {
        let out = dir.path().join(format!("out-{connectivity}"));
        let r = corelab(
            dir.path(),
            &[
                "--json",
                "algo",
                "run",
                "image.mask-volume",
                "--input",
                &format!("mask={}", mask.display()),
                "--input",
                &format!("image={}", flair.display()),
                "--param",
                &format!("connectivity={connectivity}"),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let doc = json(&r);
        assert_eq!(doc["algorithm"], "image.mask-volume@1.0.0");
        let m = |name: &str| {
            doc["measurements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(m("volume")["value"], 1.3);
        assert_eq!(m("volume")["unit"], "mL");
        assert_eq!(m("voxels")["value"], 1300.0);
        assert_eq!(
            m("components")["value"],
            components,
            "{connectivity}-connectivity"
        );
        // Provenance: the inputs by hash, the activity with its fingerprint and parameters.
        let prov: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("provenance.json")).unwrap()).unwrap();
        let mask_hash = corelab_core::Sha256Digest::of(&std::fs::read(&mask).unwrap()).to_hex();
        assert_eq!(
            prov["entity"][format!("sha256:{mask_hash}")]["corelab:role"],
            "mask"
        );
        let activity = prov["activity"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        assert_eq!(activity["corelab:algorithm"], "image.mask-volume@1.0.0");
        assert_eq!(activity["corelab:parameters"]["connectivity"], connectivity);
        assert_eq!(activity["corelab:fingerprint"], doc["fingerprint"]);
        assert_eq!(prov["used"].as_object().unwrap().len(), 2);
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
        assert_eq!(result["measurements"], doc["measurements"]);
    }
}

#[test]
fn bias_n4_writes_the_corrected_image_and_field_in_the_inputs_space() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = brain("ms_lesions_lesjak2017/patient07/T1_mni.nii.gz");
    let out = dir.path().join("n4");
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "algo",
            "run",
            "image.bias-n4",
            "--input",
            &format!("image={}", t1.display()),
            "--param",
            "levels=2",
            "--param",
            "iterations=20",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    let roles: Vec<&str> = doc["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["corrected", "field"]);
    let input = corelab_image::nifti_io::read(&t1).unwrap();
    let corrected = corelab_image::nifti_io::read(&out.join("corrected.nii.gz")).unwrap();
    assert_eq!(corrected.geometry.dims, input.geometry.dims);
    assert!(
        (corrected.geometry.affine - input.geometry.affine)
            .abs()
            .max()
            < 1e-4
    );
    let cv = doc["measurements"][0]["value"].as_f64().unwrap();
    assert!(cv > 0.0 && cv < 0.5, "field CV {cv}");
    assert_eq!(doc["parameters"]["levels"], 2);
    assert_eq!(doc["parameters"]["shrink"], 4, "defaults recorded too");
}

#[test]
fn bad_input_is_refused_naming_what_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mask = brain("ms_lesions_lesjak2017/patient07/consensus_lesion_mask_mni.nii.gz");
    let t1 = brain("mni152_nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz");
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let m = format!("mask={}", mask.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["algo", "run", "image.nope", "--input", &m, "--out", o],
            "no algorithm \"image.nope\" (the catalogue: cardiac.lge, cardiac.lv-function, dl.flair-lesions, dl.segment, image.bias-n4, image.mask-volume",
        ),
        (
            vec!["algo", "run", "image.mask-volume", "--out", o],
            "input mask: required by image.mask-volume",
        ),
        (
            vec![
                "algo",
                "run",
                "image.mask-volume",
                "--input",
                &m,
                "--param",
                "connectivity=7",
                "--out",
                o,
            ],
            "parameter connectivity: \"7\" is not one of 6, 18, 26",
        ),
        (
            vec![
                "algo",
                "run",
                "image.mask-volume",
                "--input",
                &m,
                "--param",
                "colour",
                "--out",
                o,
            ],
            "--param \"colour\": write it as NAME=VALUE",
        ),
        (
            vec![
                "algo",
                "run",
                "image.mask-volume",
                "--input",
                &m,
                "--input",
                "t1=/x.nii",
                "--out",
                o,
            ],
            "input t1",
        ),
    ];
    for (args, why) in cases {
        let r = corelab(dir.path(), &args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        let e = String::from_utf8_lossy(&r.stderr);
        assert!(e.contains(why), "{args:?}: {e}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    // An image on another grid than the mask: refused by the algorithm, nothing written.
    let t = format!("image={}", t1.display());
    let r = corelab(
        dir.path(),
        &[
            "algo",
            "run",
            "image.mask-volume",
            "--input",
            &m,
            "--input",
            &t,
            "--out",
            o,
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("is not the mask's"));
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".corelab-algo-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A table role takes a CSV or JSON file: RECIST 1.1 on a lesion JSON writes the per-visit table,
/// the coded best response and the SDTM RS dataset; SDTM tables holding several subjects are refused naming them.
#[test]
fn algo_run_reads_lesion_documents_for_the_response_engines() {
    let dir = tempfile::tempdir().unwrap();
    let lesions = dir.path().join("lesions.json");
    std::fs::write(
        &lesions,
        r#"{"study": "ONC-01", "subject": "001", "lesions": [{"id": "T1", "role": "target", "organ": "liver"}],
        "visits": [{"visit": "BASELINE", "date": "2024-01-01", "measurements": [{"lesion": "T1", "long_axis_mm": 50}]},
                   {"visit": "W6", "date": "2024-02-12", "measurements": [{"lesion": "T1", "long_axis_mm": 30}]},
                   {"visit": "W12", "date": "2024-03-25", "measurements": [{"lesion": "T1", "long_axis_mm": 31}]}]}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let input = format!("lesions={}", lesions.display());
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "algo",
            "run",
            "onco.recist11",
            "--input",
            &input,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    assert_eq!(doc["algorithm"], "onco.recist11@1.0.0");
    let best = doc["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "best-overall-response")
        .unwrap();
    assert_eq!(best["value"], 2.0, "a confirmed PR");
    let csv = std::fs::read_to_string(out.join("visits.csv")).unwrap();
    assert!(
        csv.starts_with("visit [1],day [d],sum-of-diameters [mm]"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4);
    // The SDTM RS dataset beside it: a row per response per follow-up, the best one last.
    let rs = std::fs::read_to_string(out.join("rs.csv")).unwrap();
    assert!(
        rs.starts_with("STUDYID,DOMAIN,USUBJID,RSSEQ,RSCAT,RSTESTCD"),
        "{rs}"
    );
    assert_eq!(
        rs.lines().filter(|l| l.contains(",OVRLRESP,")).count(),
        2,
        "{rs}"
    );
    assert!(
        rs.lines().skip(1).all(|l| l.starts_with("ONC-01,RS,001,")),
        "{rs}"
    );
    assert!(
        rs.lines()
            .last()
            .is_some_and(|l| l.contains(",BESTRSP,Best Overall Response,PR,PR,")),
        "{rs}"
    );
    let prov = std::fs::read_to_string(out.join("provenance.json")).unwrap();
    assert!(
        prov.contains("lesions.json"),
        "the document is a used entity"
    );

    let sdtm = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/clinical_rules/recist1.1/pharmaversesdtm");
    let tr = format!("lesions={}", sdtm.join("tr_onco_recist.csv").display());
    let tu = format!("tu={}", sdtm.join("tu_onco_recist.csv").display());
    let out2 = dir.path().join("out2");
    let r = corelab(
        dir.path(),
        &[
            "algo",
            "run",
            "onco.recist11",
            "--input",
            &tr,
            "--input",
            &tu,
            "--out",
            out2.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(e.contains("4 subjects (01-701-1015, 01-701-1028"), "{e}");
    assert!(e.contains("subject=USUBJID"), "{e}");
    assert!(!out2.exists());
    // One of them chosen: its RS dataset, STUDYID from TR; a subject not in the tables refused.
    for (subject, ok) in [("01-701-1015", true), ("01-999-0000", false)] {
        let out3 = dir.path().join(format!("out-{subject}"));
        let r = corelab(
            dir.path(),
            &[
                "algo",
                "run",
                "onco.recist11",
                "--input",
                &tr,
                "--input",
                &tu,
                "--param",
                &format!("subject={subject}"),
                "--out",
                out3.to_str().unwrap(),
            ],
        );
        let e = String::from_utf8_lossy(&r.stderr);
        if ok {
            assert!(r.status.success(), "{e}");
            let rs = std::fs::read_to_string(out3.join("rs.csv")).unwrap();
            assert!(
                rs.lines()
                    .nth(1)
                    .is_some_and(|l| l.starts_with("CDISCPILOT01,RS,01-701-1015,")),
                "{rs}"
            );
        } else {
            assert_eq!(r.status.code(), Some(1), "{e}");
            assert!(e.contains("01-999-0000"), "{e}");
        }
    }
}

/// SUV from the DICOM header end to end: `corelab phantom pet` writes a PET series, and
/// `algo run pet.suv-metrics` on that folder with a lesion's truth mask reads the weight, dose and
/// times through the loader (no units given): the SUVbw factor equals the phantom's, SUVmax lies
/// above the lesion's true SUV (noise) and SUVpeak within 5 % of it. The same mask with the series
/// as NIfTI (no header) and no units is refused, naming the parameter to give.
#[test]
fn pet_suv_metrics_reads_suv_from_the_dicom_header() {
    let dir = tempfile::tempdir().unwrap();
    let ph = dir.path().join("ph");
    make_phantom(dir.path(), "pet", &ph, &["--subjects", "1"]);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ph.join("truth.json")).unwrap()).unwrap();
    let pet = &truth["subjects"][0]["visits"][0]["pet"];
    let factor = pet["suv_bw_factor"].as_f64().unwrap();
    let l1 = pet["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "L1")
        .unwrap()["suv_bw"]
        .as_f64()
        .unwrap();
    let series = ph.join("PET-001/V1/PET");
    let mask = ph.join("truth/PET-001_V1_PET_L1.nii.gz");
    let out = dir.path().join("out");
    let r = corelab(
        dir.path(),
        &[
            "--json",
            "algo",
            "run",
            "pet.suv-metrics",
            "--input",
            &format!("pet={}", series.display()),
            "--input",
            &format!("lesions={}", mask.display()),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    let value = |name: &str| {
        doc["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {doc}"))["value"]
            .as_f64()
            .unwrap()
    };
    assert!(
        (value("suv-factor") / factor - 1.0).abs() < 1e-6,
        "factor {} vs the phantom's {factor}",
        value("suv-factor")
    );
    // SUVmax is the hottest noisy voxel (above the truth); SUVpeak, a 1 mL mean, is near it.
    let (max, peak) = (value("suv-max"), value("suv-peak"));
    assert!(max > l1, "SUVmax {max}, true SUV {l1}");
    assert!(
        (peak / l1 - 1.0).abs() < 0.05,
        "SUVpeak {peak}, true SUV {l1}"
    );
    assert_eq!(value("lesions"), 1.0);

    let nifti = dir.path().join("pet.nii.gz");
    let r = corelab(
        dir.path(),
        &["convert", series.to_str().unwrap(), nifti.to_str().unwrap()],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out2 = dir.path().join("out2");
    let r = corelab(
        dir.path(),
        &[
            "algo",
            "run",
            "pet.suv-metrics",
            "--input",
            &format!("pet={}", nifti.display()),
            "--input",
            &format!("lesions={}", mask.display()),
            "--out",
            out2.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(e.contains("input pet") && e.contains("units"), "{e}");
    assert!(!out2.exists());
}
