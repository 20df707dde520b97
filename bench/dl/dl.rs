//! Deep-learning inference: the reference network `dl.flair-lesions` on a 256×256×180 1-mm FLAIR
//! (the MS phantom resampled to a clinical 3-D FLAIR grid), corelab (tract, and ONNX Runtime
//! through `ort` when its library is installed) side by side with ONNX Runtime from Python
//! (the PyPI wheel) on the same ONNX file and the same patches, interleaved, medians of
//! `--reps`.
//!
//! `cargo run --release -p corelab-bench --bin dl [-- --reps 3]` (needs `python3` with
//! `onnxruntime` and `numpy` for the peer; `bench/dl/ort_peer.py`).
//!
//! Two figures per engine: the **network** alone over the patches (what the engines are
//! compared on: the same batches of the same prepared patches), and corelab's **whole run**
//! (`dl::segment::segment`: preparation, monitoring, inference, resampling back, argmax,
//! clean-up).

use corelab_algo::dl::backend::{self, BackendKind, Network};
use corelab_algo::dl::segment::{self, FLAIR_LESIONS_ONNX, flair_lesions_spec};
use corelab_algo::dl::{preprocess, sliding};
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use corelab_image::phantom::{self, Kind, Options};
use corelab_image::resample::{Interpolation, resample};
use ndarray::{Array5, s};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let volume = flair_256()?;
    let spec = flair_lesions_spec();
    let prepared = preprocess::prepare(&volume, &spec)?;
    let shape = [
        prepared.data.shape()[0],
        prepared.data.shape()[1],
        prepared.data.shape()[2],
    ];
    let tiling = sliding::Tiling::new(shape, &spec);
    let padded = tiling.pad(&prepared.data);
    let [px, py, pz] = spec.patch;
    let n = tiling.origins.len();
    let mut patches = Array5::<f32>::zeros((n, 1, px, py, pz));
    for (b, o) in tiling.origins.iter().enumerate() {
        patches
            .slice_mut(s![b, 0, .., .., ..])
            .assign(&padded.slice(s![o[0]..o[0] + px, o[1]..o[1] + py, o[2]..o[2] + pz]));
    }
    let dir = tempfile::tempdir()?;
    let model_path = dir.path().join("flair_lesions.onnx");
    std::fs::write(&model_path, FLAIR_LESIONS_ONNX)?;
    let patches_path = dir.path().join("patches.npy");
    write_npy(&patches_path, &patches)?;
    println!(
        "input {:?} at {:?} mm → network grid {:?} at {:?} mm: {} patches of {:?}, batch {}",
        volume.geometry.dims,
        volume.geometry.spacing(),
        shape,
        prepared.spacing_mm,
        n,
        spec.patch,
        spec.batch
    );
    let ort = backend::library();
    match &ort {
        Some(p) => println!("onnxruntime library: {}", p.display()),
        None => println!("onnxruntime library: not found (corelab's ort rows skipped)"),
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("threads: {threads}");
    let mut times: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    let mut kinds = vec![BackendKind::Tract];
    if ort.is_some() {
        kinds.push(BackendKind::OnnxRuntime);
    }
    if backend::cuda_available() {
        kinds.push(BackendKind::OnnxRuntimeCuda);
    }
    for rep in 0..reps {
        for kind in &kinds {
            let mut net = Network::load(FLAIR_LESIONS_ONNX, *kind, [spec.batch, 1, px, py, pz])?;
            let started = Instant::now();
            for chunk in (0..n).collect::<Vec<_>>().chunks(spec.batch) {
                let mut batch = Array5::<f32>::zeros((spec.batch, 1, px, py, pz));
                for (b, i) in chunk.iter().enumerate() {
                    batch
                        .slice_mut(s![b, .., .., .., ..])
                        .assign(&patches.slice(s![*i, .., .., .., ..]));
                }
                net.run(batch.view())?;
            }
            times
                .entry(network_label(*kind))
                .or_default()
                .push(started.elapsed().as_secs_f64());
            let started = Instant::now();
            segment::segment(&volume, FLAIR_LESIONS_ONNX, &spec, *kind, None)?;
            times
                .entry(whole_label(*kind))
                .or_default()
                .push(started.elapsed().as_secs_f64());
        }
        let peer = std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/dl/ort_peer.py"))
            .arg(&model_path)
            .arg(&patches_path)
            .arg(spec.batch.to_string())
            .arg(threads.to_string())
            .output()?;
        if !peer.status.success() {
            anyhow::bail!(
                "the ONNX Runtime peer failed: {}",
                String::from_utf8_lossy(&peer.stderr)
            );
        }
        let seconds: f64 = String::from_utf8_lossy(&peer.stdout).trim().parse()?;
        times
            .entry("python onnxruntime: network")
            .or_default()
            .push(seconds);
        eprintln!("rep {} done", rep + 1);
    }
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let peer = median(&times["python onnxruntime: network"]);
    println!("| what | seconds (median of {reps}) | × python onnxruntime (network) |");
    println!("|---|---|---|");
    for (label, t) in &times {
        let m = median(t);
        println!("| {label} | {m:.2} | {:.2} |", m / peer);
    }
    Ok(())
}

fn network_label(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Tract => "corelab tract: network",
        BackendKind::OnnxRuntime => "corelab onnxruntime CPU: network",
        BackendKind::OnnxRuntimeCuda => "corelab onnxruntime CUDA: network",
    }
}

fn whole_label(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Tract => "corelab tract: whole run",
        BackendKind::OnnxRuntime => "corelab onnxruntime CPU: whole run",
        BackendKind::OnnxRuntimeCuda => "corelab onnxruntime CUDA: whole run",
    }
}

/// The MS phantom's follow-up FLAIR (seed 1, site 1) on a 256×256×180 grid of 1-mm voxels
/// centred on it.
fn flair_256() -> anyhow::Result<Volume<f32>> {
    let plan = phantom::plan(
        Kind::MsLesions,
        &Options {
            seed: 1,
            subjects: 1,
            voxel_mm: Some(2.0),
            atrophy_percent: None,
            subsamples: 2,
        },
    )?;
    let series = plan
        .series
        .iter()
        .rfind(|s| s.info.name == "FLAIR")
        .ok_or_else(|| anyhow::anyhow!("the MS phantom has no FLAIR"))?;
    let flair = series.render(2)?.images.remove(0);
    let dims = [256, 256, 180];
    let g = &flair.geometry;
    let centre = g.to_patient(g.dims.map(|d| (d as f64 - 1.0) / 2.0));
    let origin = [0, 1, 2].map(|a| centre[a] - (dims[a] as f64 - 1.0) / 2.0);
    let target = Geometry::axis_aligned(dims, origin, [1.0, 1.0, 1.0]);
    let min = flair.data.iter().copied().fold(f32::MAX, f32::min);
    Ok(resample(&flair, &target, Interpolation::Trilinear, min)?)
}

fn write_npy(path: &Path, a: &Array5<f32>) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let sh = a.shape();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}, {}, {}, {}), }}",
        sh[0], sh[1], sh[2], sh[3], sh[4]
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for v in a.iter() {
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}
