//! The inference backends of `dl` against a reference: a tiny 3-D U-Net exported from PyTorch, a fixed input
//! and PyTorch's logits for it (`shared/data/models/`, see its README). tract always runs; ONNX Runtime runs
//! when its library is installed (`pip install onnxruntime==1.31.1`); CUDA when a GPU is present.

mod npy;

use std::path::{Path, PathBuf};
use std::time::Instant;

use corelab_algo::dl::backend::{self, BackendError, BackendKind, Network};
use ndarray::{Array5, ArrayD, Axis, IxDyn};

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/models");
const SHAPE: [usize; 5] = [1, 1, 64, 64, 64];

/// The tiny model, its reference input and PyTorch's logits (`../shared/data/models`, beside the
/// workspace as in CI).
fn reference() -> Option<(Vec<u8>, Array5<f32>, Array5<f32>)> {
    let dir = Path::new(MODELS);
    let model_path = dir.join("unet3d_tiny.onnx");
    let model =
        std::fs::read(&model_path).unwrap_or_else(|e| panic!("{}: {e}", model_path.display()));
    let input = read_npy(&dir.join("unet3d_tiny_input.npy"))
        .into_dimensionality()
        .expect("input is 5-D");
    let logits = read_npy(&dir.join("unet3d_tiny_logits.npy"))
        .into_dimensionality()
        .expect("logits are 5-D");
    Some((model, input, logits))
}

/// A float32 `.npy` file as an n-dimensional array.
fn read_npy(path: &Path) -> ArrayD<f32> {
    let (shape, data) = npy::read_f32(path);
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("data matches the shape")
}

fn max_abs_diff(a: &Array5<f32>, b: &Array5<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Loads and runs the tiny model on `kind`, printing the timings; returns the network and its logits.
fn load_and_run(model: &[u8], kind: BackendKind, input: &Array5<f32>) -> (Network, Array5<f32>) {
    let t = Instant::now();
    let mut net =
        Network::load(model, kind, SHAPE).unwrap_or_else(|e| panic!("load on {kind}: {e}"));
    let load = t.elapsed();
    let t = Instant::now();
    let out = net
        .run(input.view())
        .unwrap_or_else(|e| panic!("run on {kind}: {e}"));
    let first = t.elapsed();
    let t = Instant::now();
    let again = net.run(input.view()).expect("second run");
    let second = t.elapsed();
    assert_eq!(out, again, "{kind} is not deterministic");
    println!(
        "{}: load {:.3} s, first run {:.3} s, second run {:.3} s",
        net.describe(),
        load.as_secs_f64(),
        first.as_secs_f64(),
        second.as_secs_f64()
    );
    assert_eq!(net.kind(), kind);
    assert_eq!(net.classes(), Some(2));
    (net, out)
}

/// Whether the onnxruntime library is here; prints why not when it is not.
fn onnxruntime_here() -> bool {
    match backend::library() {
        Some(path) => {
            println!("onnxruntime library: {}", path.display());
            true
        }
        None => {
            println!(
                "no onnxruntime library (ORT_DYLIB_PATH unset or missing, python3 cannot import onnxruntime): skipped"
            );
            false
        }
    }
}

#[test]
fn kinds_have_names() {
    for kind in BackendKind::ALL {
        assert_eq!(BackendKind::parse(kind.name()), Some(kind));
    }
    assert_eq!(
        BackendKind::ALL.map(BackendKind::name),
        ["tract", "onnxruntime", "onnxruntime-cuda"]
    );
    assert_eq!(BackendKind::parse("CUDA"), None);
    fn send<T: Send>() {}
    send::<Network>();
}

/// `describe()` names the tract release in Cargo.lock.
#[test]
fn tract_version_matches_the_lock_file() {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    let at = lock
        .find("name = \"tract-onnx\"\nversion = \"")
        .expect("tract-onnx in Cargo.lock");
    let rest = &lock[at + "name = \"tract-onnx\"\nversion = \"".len()..];
    assert_eq!(&rest[..rest.find('"').unwrap()], backend::TRACT_VERSION);
}

#[test]
fn tract_reproduces_pytorch() {
    let Some((model, input, logits)) = reference() else {
        return;
    };
    let (net, out) = load_and_run(&model, BackendKind::Tract, &input);
    assert_eq!(
        net.describe(),
        format!("tract-onnx {}", backend::TRACT_VERSION)
    );
    let diff = max_abs_diff(&out, &logits);
    println!("tract vs PyTorch: max abs diff {diff:e}");
    assert!(diff <= 1e-4, "tract differs from PyTorch by {diff}");
}

#[test]
fn onnxruntime_cpu_reproduces_pytorch() {
    let Some((model, input, logits)) = reference() else {
        return;
    };
    if !onnxruntime_here() {
        return;
    }
    let (net, out) = load_and_run(&model, BackendKind::OnnxRuntime, &input);
    assert!(
        net.describe().starts_with("onnxruntime 1."),
        "{}",
        net.describe()
    );
    assert!(net.describe().contains(" CPU ("), "{}", net.describe());
    let diff = max_abs_diff(&out, &logits);
    println!("onnxruntime CPU vs PyTorch: max abs diff {diff:e}");
    assert!(diff <= 1e-4, "onnxruntime differs from PyTorch by {diff}");
}

#[test]
fn wrong_shape_and_garbage_model_are_errors() {
    let Some((model, _, _)) = reference() else {
        return;
    };
    let mut kinds = vec![BackendKind::Tract];
    if onnxruntime_here() {
        kinds.push(BackendKind::OnnxRuntime);
    }
    for kind in kinds {
        let mut net = Network::load(&model, kind, SHAPE).unwrap();
        let wrong = Array5::<f32>::zeros((1, 1, 64, 64, 32));
        match net.run(wrong.view()) {
            Err(BackendError::Run(msg)) => {
                println!("{kind}: {msg}");
                assert!(
                    msg.contains("[1, 1, 64, 64, 32]") && msg.contains("[1, 1, 64, 64, 64]"),
                    "{msg}"
                );
            }
            other => panic!("{kind}: expected a Run error, got {other:?}"),
        }
        match Network::load(b"this is not an ONNX model", kind, SHAPE) {
            Err(BackendError::Model(msg)) => println!("{kind}: garbage model: {msg}"),
            other => panic!(
                "{kind}: expected a Model error, got {:?}",
                other.map(|n| n.describe())
            ),
        }
        match Network::load(&model[..model.len() / 2], kind, SHAPE) {
            Err(BackendError::Model(msg)) => println!("{kind}: truncated model: {msg}"),
            other => panic!(
                "{kind}: expected a Model error, got {:?}",
                other.map(|n| n.describe())
            ),
        }
    }
    // The onnxruntime session checks the model's fixed input shape at load time.
    if onnxruntime_here() {
        match Network::load(&model, BackendKind::OnnxRuntime, [1, 1, 32, 32, 32]) {
            Err(BackendError::Model(msg)) => println!("onnxruntime, other shape: {msg}"),
            other => panic!(
                "expected a Model error, got {:?}",
                other.map(|n| n.describe())
            ),
        }
    }
}

/// Argmax over the classes axis.
fn argmax(logits: &Array5<f32>) -> ndarray::Array4<usize> {
    logits.map_axis(Axis(1), |v| {
        v.iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &x)| {
                if x > best.1 { (i, x) } else { best }
            })
            .0
    })
}

#[test]
fn cuda_agrees_with_cpu_or_is_unavailable() {
    let Some((model, input, _)) = reference() else {
        return;
    };
    if !backend::cuda_available() {
        println!("no CUDA device: skipped");
        // No quiet fall back to the CPU.
        match Network::load(&model, BackendKind::OnnxRuntimeCuda, SHAPE) {
            Err(BackendError::Unavailable(msg)) => println!("onnxruntime-cuda: {msg}"),
            other => panic!(
                "expected Unavailable, got {:?}",
                other.map(|n| n.describe())
            ),
        }
        return;
    }
    let (_, cpu) = load_and_run(&model, BackendKind::OnnxRuntime, &input);
    let (net, gpu) = load_and_run(&model, BackendKind::OnnxRuntimeCuda, &input);
    assert!(net.describe().contains(" CUDA ("), "{}", net.describe());
    let (a, b) = (argmax(&cpu), argmax(&gpu));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64;
    println!(
        "onnxruntime CUDA vs CPU: max abs diff {:e}, argmax agreement {:.5} %",
        max_abs_diff(&cpu, &gpu),
        same * 100.0
    );
    assert!(
        same >= 0.999,
        "argmax agrees on only {:.4} % of voxels",
        same * 100.0
    );
}

/// `ORT_DYLIB_PATH` naming a missing file is an `Unavailable` error that names it. Runs in a child process (this
/// test binary again, only the test below), so that neither the variable nor the process-wide initialisation of
/// ONNX Runtime touches the other tests, under `cargo test` as under nextest.
#[test]
fn missing_ort_dylib_path_is_named() {
    let missing =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-dir/libonnxruntime.so.9.9.9");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "missing_ort_dylib_path_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("ORT_DYLIB_PATH", &missing)
        .env("CORELAB_DL_BACKENDS_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child test failed");
    assert!(stdout.contains("1 passed"), "the child test did not run");
}

/// The child side of [`missing_ort_dylib_path_is_named`]; does nothing unless started by it.
#[test]
fn missing_ort_dylib_path_child() {
    if std::env::var_os("CORELAB_DL_BACKENDS_CHILD").is_none() {
        return;
    }
    let missing = std::env::var("ORT_DYLIB_PATH").unwrap();
    assert_eq!(backend::library(), None);
    assert!(!backend::cuda_available());
    for kind in [BackendKind::OnnxRuntime, BackendKind::OnnxRuntimeCuda] {
        match Network::load(b"unused", kind, SHAPE) {
            Err(BackendError::Unavailable(msg)) => {
                println!("{kind}: {msg}");
                assert!(msg.contains(&missing), "{msg}");
                assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");
            }
            other => panic!(
                "{kind}: expected Unavailable, got {:?}",
                other.map(|n| n.describe())
            ),
        }
    }
}
