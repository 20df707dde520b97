//! `corelab algorithms` and `corelab algo run`: the catalogue, one algorithm on files with its
//! measurements, derived images and PROV-JSON provenance, and bad input refused with nothing
//! written.

mod common;

use common::{corelab, json};
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
        ids.starts_with(&["image.bias-n4", "image.mask-volume"]),
        "{ids:?}"
    );
    // The catalogue lists every built-in, by id.
    let registry = corelab_algo::Registry::builtin();
    assert_eq!(ids, registry.ids());
    let n4 = &doc[0];
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
            "no algorithm \"image.nope\" (the catalogue: image.bias-n4, image.mask-volume",
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
