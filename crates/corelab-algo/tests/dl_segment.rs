//! The deep-learning chain end to end: a network with known output through `dl.segment`
//! (loading, tensor layout, tiling, weighting, argmax), and refusals that name what is wrong.

mod npy;

use corelab_algo::dl::segment::{Segment, segment};
use corelab_algo::dl::{BackendKind, ModelSpec};
use corelab_algo::{Algorithm, Inputs, ModelFile};
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use ndarray::Array3;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/models"
    ))
}

fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The shared tiny U-Net's reference input as a 64³ volume, and its reference logits.
fn tiny() -> (Volume<f32>, Vec<f32>) {
    let (shape, input) = npy::read_f32(&models().join("unet3d_tiny_input.npy"));
    assert_eq!(shape, [1, 1, 64, 64, 64]);
    let (shape, logits) = npy::read_f32(&models().join("unet3d_tiny_logits.npy"));
    assert_eq!(shape, [1, 2, 64, 64, 64]);
    let data = Array3::from_shape_vec((64, 64, 64), input).expect("64³");
    let g = Geometry::axis_aligned([64, 64, 64], [0.0; 3], [1.0; 3]);
    (Volume::new(data, g).expect("fits"), logits)
}

#[test]
fn the_chain_reproduces_the_tiny_networks_known_output() {
    let (volume, logits) = tiny();
    let bytes = std::fs::read(models().join("unet3d_tiny.onnx")).expect("model");
    let params = corelab_algo::params::resolve(
        &Segment.parameters(),
        &given(&[("normalisation", "none"), ("batch", "1")]),
    )
    .expect("valid");
    let spec = ModelSpec::from_params(&params).expect("spec");
    // One patch covers the volume: the Gaussian weight divides out, the logits come back.
    let s = segment(&volume, &bytes, &spec, BackendKind::Tract, None).expect("runs");
    assert_eq!(s.patches, 1);
    let n = 64 * 64 * 64;
    let mut worst = 0.0f32;
    let mut disagree = 0;
    for (idx, (i, j, k)) in ndarray::indices((64, 64, 64)).into_iter().enumerate() {
        for c in 0..2 {
            worst = worst.max((s.channels[[c, i, j, k]] - logits[c * n + idx]).abs());
        }
        let expected = u16::from(logits[n + idx] > logits[idx]);
        if s.labels[[i, j, k]] != expected && (logits[n + idx] - logits[idx]).abs() > 1e-4 {
            disagree += 1;
        }
    }
    println!("max |logit − reference| = {worst:e}");
    assert!(worst < 1e-4, "{worst}");
    assert_eq!(disagree, 0);

    // The same through the algorithm, as `algo run` and a trial job call it.
    let mut inputs = Inputs::new();
    inputs.insert("image".into(), volume);
    inputs.insert_model("model".into(), ModelFile::new("unet3d_tiny.onnx", bytes));
    let (_, out) = corelab_algo::run(
        &Segment,
        &inputs,
        &given(&[("normalisation", "none"), ("batch", "1")]),
    )
    .expect("runs");
    let labels = &out.images[0].1;
    let foreground = labels.data.iter().filter(|v| **v == 1.0).count();
    let expected = (0..n).filter(|i| logits[n + i] > logits[*i]).count();
    assert!(
        foreground.abs_diff(expected) <= 2,
        "{foreground} vs {expected}"
    );
    assert_eq!(out.tables[0].rows[0][2], foreground as f64);
    let monitor: serde_json::Value = serde_json::from_str(&out.documents[0].text).expect("JSON");
    assert_eq!(
        monitor["backend"].as_str().map(|b| b.starts_with("tract")),
        Some(true)
    );
    assert_eq!(monitor["model_sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn a_tiled_volume_larger_than_a_patch_runs_and_keeps_its_grid() {
    let (volume, _) = tiny();
    let bytes = std::fs::read(models().join("unet3d_tiny.onnx")).expect("model");
    // 2 mm in-plane at target 1 mm: 128 × 128 × 64 on the network grid, 3 × 3 × 1 patches.
    let g = Geometry::axis_aligned([64, 64, 64], [0.0; 3], [2.0, 2.0, 1.0]);
    let volume = Volume::new(volume.data, g).expect("fits");
    let params = corelab_algo::params::resolve(
        &Segment.parameters(),
        &given(&[("target-spacing", "1,1,1"), ("orientation", "ras")]),
    )
    .expect("valid");
    let spec = ModelSpec::from_params(&params).expect("spec");
    let s = segment(&volume, &bytes, &spec, BackendKind::Tract, None).expect("runs");
    assert_eq!(s.patches, 9);
    assert_eq!(s.labels.shape(), &[64, 64, 64]);
    assert_eq!(s.channels.shape(), &[2, 64, 64, 64]);
}

#[test]
fn bad_models_and_inputs_are_refused_by_name() {
    let (volume, _) = tiny();
    let mut inputs = Inputs::new();
    inputs.insert("image".into(), volume.clone());
    inputs.insert_model(
        "model".into(),
        ModelFile::new("weights.onnx", b"not a network".to_vec()),
    );
    let e = corelab_algo::run(&Segment, &inputs, &given(&[])).expect_err("garbage");
    assert!(e.to_string().contains("model"), "{e}");
    // A model given where an image is expected, and an image where the model is.
    let mut swapped = Inputs::new();
    swapped.insert("model".into(), volume.clone());
    swapped.insert("image".into(), volume);
    let e = corelab_algo::run(&Segment, &swapped, &given(&[])).expect_err("no model");
    assert!(e.to_string().contains("model file (ONNX)"), "{e}");
    // A network whose output does not match the declared classes.
    let bytes = std::fs::read(models().join("unet3d_tiny.onnx")).expect("model");
    let mut inputs = Inputs::new();
    inputs.insert("image".into(), tiny().0);
    inputs.insert_model("model".into(), ModelFile::new("unet3d_tiny.onnx", bytes));
    let e = corelab_algo::run(&Segment, &inputs, &given(&[("classes", "1:a,2:b")]))
        .expect_err("3 classes declared, 2 given");
    assert!(e.to_string().contains("expects 3 channels"), "{e}");
}
