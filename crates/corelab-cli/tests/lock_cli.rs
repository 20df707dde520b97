//! `corelab trial lock | amend | locks`: a trial's algorithms resolved to exact versions and
//! fingerprints, stored, audited and exported; an amendment makes the next lock version with its
//! reason; what cannot be locked is refused saying why.

mod common;

use common::{corelab, json, lab_with_trial};

const TRIAL: &str = r#"
[trial]
id = "MS-LOCK-001"
sponsor = "Example Pharma"
protocol = "EXP-2026-02"
phase = "IIb"

[[sites]]
id = "S01"
name = "University Hospital A"
ae_titles = ["S01PACS"]

[[algorithms]]
id = "image.mask-volume"
version = "^1.0"
params = { connectivity = "18" }

[[algorithms]]
id = "image.bias-n4"
version = "=1.0.0"
params = { shrink = 2 }
"#;

#[test]
fn a_trial_is_locked_exported_and_amended_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let exported = dir.path().join("trial.lock");
    let r = corelab(
        &data,
        &[
            "--json",
            "trial",
            "lock",
            "MS-LOCK-001",
            "--out",
            exported.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc = json(&r);
    assert_eq!(doc["version"], 1);
    let algorithms = doc["lock"]["algorithms"].as_array().unwrap();
    assert_eq!(algorithms[0]["id"], "image.mask-volume");
    assert_eq!(algorithms[0]["version"], "1.0.0");
    assert_eq!(algorithms[0]["parameters"]["connectivity"], "18");
    assert_eq!(
        algorithms[0]["parameters"]["threshold"], 0.5,
        "defaults are locked too"
    );
    assert_eq!(algorithms[1]["parameters"]["shrink"], 2);
    assert_eq!(algorithms[0]["fingerprint"].as_str().unwrap().len(), 64);
    // The exported file is the stored lock, byte for byte (its hash is the recorded one).
    let file = std::fs::read(&exported).unwrap();
    assert_eq!(
        corelab_core::Sha256Digest::of(&file).to_hex(),
        doc["lock_sha256"].as_str().unwrap()
    );
    // Locking again is refused; an amendment is the way to change.
    let r = corelab(&data, &["trial", "lock", "MS-LOCK-001"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("already locked (version 1)"));
    let amended = dir.path().join("amended.toml");
    std::fs::write(
        &amended,
        TRIAL.replace("connectivity = \"18\"", "connectivity = \"26\""),
    )
    .unwrap();
    let r = corelab(
        &data,
        &[
            "--json",
            "trial",
            "amend",
            "MS-LOCK-001",
            amended.to_str().unwrap(),
            "--reason",
            "26-connectivity per the charter v2",
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc2 = json(&r);
    assert_eq!(doc2["version"], 2);
    assert_ne!(
        doc2["lock"]["algorithms"][0]["fingerprint"],
        algorithms[0]["fingerprint"]
    );
    assert_eq!(
        doc2["lock"]["algorithms"][1]["fingerprint"],
        algorithms[1]["fingerprint"]
    );
    let r = corelab(&data, &["--json", "trial", "locks", "MS-LOCK-001"]);
    let locks = json(&r);
    assert_eq!(locks.as_array().unwrap().len(), 2);
    assert_eq!(locks[1]["reason"], "26-connectivity per the charter v2");
    // The audit trail holds both and verifies.
    let r = corelab(&data, &["--json", "audit", "verify"]);
    assert!(r.status.success());
    assert_eq!(json(&r)["ok"], true);
    let actions = common::audit_actions(&data);
    assert_eq!(common::count(&actions, "trial.lock"), 1);
    assert_eq!(common::count(&actions, "trial.amend"), 1);
}

#[test]
fn what_cannot_be_locked_or_amended_is_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    // A version this corelab does not have.
    let data = lab_with_trial(dir.path(), &TRIAL.replace("\"^1.0\"", "\"^2\""));
    let r = corelab(&data, &["trial", "lock", "MS-LOCK-001"]);
    assert_eq!(r.status.code(), Some(1));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("algorithms[0]: image.mask-volume ^2 is not met: this corelab has image.mask-volume@1.0.0"),
        "{e}"
    );
    // Nothing was locked.
    let r = corelab(&data, &["--json", "trial", "locks", "MS-LOCK-001"]);
    assert_eq!(json(&r).as_array().unwrap().len(), 0);
    // A trial file with a malformed requirement is refused when read, naming the field.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, TRIAL.replace("\"^1.0\"", "\"one\"")).unwrap();
    let r = corelab(
        &data,
        &[
            "trial",
            "amend",
            "MS-LOCK-001",
            bad.to_str().unwrap(),
            "--reason",
            "x",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("algorithms[0].version"));
    // An amendment without a lock, or of another trial, or without a reason.
    let ok = dir.path().join("ok.toml");
    std::fs::write(&ok, TRIAL).unwrap();
    let r = corelab(
        &data,
        &[
            "trial",
            "amend",
            "MS-LOCK-001",
            ok.to_str().unwrap(),
            "--reason",
            "x",
        ],
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("has no lock to amend"));
    let r = corelab(
        &data,
        &[
            "trial",
            "amend",
            "OTHER-001",
            ok.to_str().unwrap(),
            "--reason",
            "x",
        ],
    );
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("the file is trial MS-LOCK-001, not OTHER-001")
    );
    let r = corelab(
        &data,
        &[
            "trial",
            "amend",
            "MS-LOCK-001",
            ok.to_str().unwrap(),
            "--reason",
            " ",
        ],
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("--reason must say why"));
}

#[test]
fn file_inputs_are_locked_by_their_hash_and_unreadable_ones_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let r = corelab(&data, &["trial", "lock", "MS-LOCK-001"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // A mask in a folder beside the amended trial file, named relative to it.
    let folder = dir.path().join("protocol");
    std::fs::create_dir_all(&folder).unwrap();
    let mut voxels = ndarray::Array3::<f32>::zeros((8, 8, 8));
    voxels[[3, 3, 3]] = 1.0;
    let mask = corelab_image::Volume::new(
        voxels,
        corelab_image::Geometry::axis_aligned([8, 8, 8], [0.0; 3], [2.0; 3]),
    )
    .unwrap();
    corelab_image::nifti_io::write(&folder.join("mask.nii.gz"), &mask).unwrap();
    let bytes = std::fs::read(folder.join("mask.nii.gz")).unwrap();
    let sha = corelab_core::Sha256Digest::of(&bytes).to_hex();
    let amended = |files: &str| {
        let text = TRIAL.replace(
            "params = { connectivity = \"18\" }",
            &format!("params = {{ connectivity = \"18\" }}\nfiles = {{ {files} }}"),
        );
        let path = folder.join("trial.toml");
        std::fs::write(&path, text).unwrap();
        path
    };
    let file = amended("mask = \"mask.nii.gz\"");
    let r = corelab(
        &data,
        &[
            "--json",
            "trial",
            "amend",
            "MS-LOCK-001",
            file.to_str().unwrap(),
            "--reason",
            "the study mask",
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let locked = &json(&r)["lock"]["algorithms"][0]["files"]["mask"];
    assert_eq!(locked["sha256"], sha.as_str());
    assert!(
        locked["path"]
            .as_str()
            .unwrap()
            .ends_with("protocol/mask.nii.gz"),
        "{locked}"
    );
    // A file that is not NIfTI, or a role the algorithm does not take: refused by name.
    std::fs::write(folder.join("notes.txt"), "not an image").unwrap();
    for (files, why) in [
        (
            "mask = \"notes.txt\"",
            "algorithms[0].files.mask (image.mask-volume)",
        ),
        ("mask = \"absent.nii.gz\"", "cannot read"),
        ("atlas = \"mask.nii.gz\"", "it takes no input \"atlas\""),
    ] {
        let file = amended(files);
        let r = corelab(
            &data,
            &[
                "trial",
                "amend",
                "MS-LOCK-001",
                file.to_str().unwrap(),
                "--reason",
                "x",
            ],
        );
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(why), "{files}: {err}");
    }
}
