//! Training data for the reference network `dl.flair-lesions` (`training/flair_lesions/`): MS
//! phantoms' FLAIR series prepared exactly as the algorithm prepares its input (the same
//! `dl::preprocess::prepare` with the same specification), with their truth lesion masks
//! carried to the same grid, as `.npy` pairs; and the training distribution the algorithm's
//! input monitoring compares runs with.
//!
//! `cargo run --release -p corelab-algo --example dl_training_data -- --out DIR`
//! writes `DIR/{train,val,test}/NAME_{image,label}.npy`, `DIR/manifest.json` (seeds, voxel
//! sizes, scanners, lesion voxels of every volume) and `DIR/training_distribution.json`.
//! Splits by phantom seed, so no subject is in two splits: train 101–124, val 201–204, test
//! 301–306. Voxel sizes cycle through 1.6, 2.0 and 2.4 mm (the FLAIR's slices are twice that);
//! every seed has the three sites' scanners and both visits.

use corelab_algo::dl::monitor::{self, InputStats};
use corelab_algo::dl::preprocess::{self, resize_linear};
use corelab_algo::dl::segment::flair_lesions_spec;
use corelab_image::Volume;
use corelab_image::phantom::{self, Kind, Options};
use ndarray::Array3;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

const SPLITS: [(&str, std::ops::RangeInclusive<u64>); 3] = [
    ("train", 101..=124),
    ("val", 201..=204),
    ("test", 301..=306),
];
const VOXEL_MM: [f64; 3] = [1.6, 2.0, 2.4];

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) if i + 1 < args.len() => PathBuf::from(&args[i + 1]),
        _ => return Err("usage: dl_training_data --out DIR".into()),
    };
    let spec = flair_lesions_spec();
    let mut manifest = Vec::new();
    let mut training_stats: Vec<InputStats> = Vec::new();
    for (split, seeds) in SPLITS {
        let dir = out.join(split);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for seed in seeds {
            // The held-out test set is at the demo's 2 mm; the others cycle the voxel sizes.
            let voxel_mm = if split == "test" {
                2.0
            } else {
                VOXEL_MM[(seed as usize) % VOXEL_MM.len()]
            };
            let plan = phantom::plan(
                Kind::MsLesions,
                &Options {
                    seed,
                    subjects: 3,
                    voxel_mm: Some(voxel_mm),
                    atrophy_percent: None,
                    subsamples: 4,
                },
            )
            .map_err(|e| format!("seed {seed}: {e}"))?;
            for series in plan.series.iter().filter(|s| s.info.name == "FLAIR") {
                let rendered = series
                    .render(4)
                    .map_err(|e| format!("{}: {e}", series.path()))?;
                let mut image = rendered.images[0].clone();
                image.source.scanner = Some(format!(
                    "{} {}",
                    series.site.manufacturer, series.site.model
                ));
                let truth = rendered
                    .masks
                    .iter()
                    .find(|(name, _)| name == "lesions")
                    .ok_or_else(|| format!("{}: no lesions mask", series.path()))?;
                let prepared = preprocess::prepare(&image, &spec)
                    .map_err(|e| format!("{}: {e}", series.path()))?;
                let label = carry(&truth.1, &prepared);
                let name = format!("s{seed}_{}_{}", series.subject, series.visit);
                write_npy(
                    &dir.join(format!("{name}_image.npy")),
                    &prepared.data,
                    "<f4",
                    |v, w| w.write_all(&v.to_le_bytes()),
                )?;
                write_npy(
                    &dir.join(format!("{name}_label.npy")),
                    &label,
                    "|u1",
                    |v, w| w.write_all(&[*v]),
                )?;
                let stats = monitor::stats(&image, &prepared);
                manifest.push(json!({
                    "split": split,
                    "name": name,
                    "seed": seed,
                    "voxel_mm": voxel_mm,
                    "spacing_mm": image.geometry.spacing(),
                    "prepared_shape": prepared.data.shape(),
                    "scanner": stats.scanner,
                    "lesion_voxels": label.iter().filter(|v| **v > 0).count(),
                }));
                eprintln!("{split} {name}: {:?}", prepared.data.shape());
                if split == "train" {
                    training_stats.push(stats);
                }
            }
        }
    }
    let distribution = monitor::fit(&training_stats);
    write_json(
        &out.join("training_distribution.json"),
        &serde_json::to_value(&distribution).map_err(|e| e.to_string())?,
    )?;
    write_json(
        &out.join("manifest.json"),
        &json!({
            "generator": "cargo run --release -p corelab-algo --example dl_training_data",
            "corelab": env!("CARGO_PKG_VERSION"),
            "phantom": "ms-lesions, 3 subjects per seed (one per site), both visits, FLAIR only, 4 subsamples per voxel axis",
            "spec": serde_json::to_value(&spec).map_err(|e| e.to_string())?,
            "splits": SPLITS.iter().map(|(s, r)| json!({"split": s, "seeds": [r.start(), r.end()]})).collect::<Vec<_>>(),
            "volumes": manifest,
        }),
    )?;
    Ok(())
}

/// A truth mask on the network's grid: reoriented and resampled like the image (linear), then
/// cut at one half.
fn carry(mask: &Volume<u8>, prepared: &preprocess::Prepared) -> Array3<u8> {
    let fractions = prepared
        .reorientation
        .apply(mask.data.mapv(|v| if v > 0 { 1.0f32 } else { 0.0 }).view());
    let shape = [
        prepared.data.shape()[0],
        prepared.data.shape()[1],
        prepared.data.shape()[2],
    ];
    resize_linear(fractions.view(), shape).mapv(|f| u8::from(f >= 0.5))
}

fn write_npy<T>(
    path: &Path,
    a: &Array3<T>,
    descr: &str,
    mut put: impl FnMut(&T, &mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let s = a.shape();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
        s[0], s[1], s[2]
    );
    // Magic (6) + version (2) + length (2) + header, padded to a multiple of 64, ending in \n.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    w.write_all(b"\x93NUMPY\x01\x00").map_err(io)?;
    w.write_all(&(header.len() as u16).to_le_bytes())
        .map_err(io)?;
    w.write_all(header.as_bytes()).map_err(io)?;
    // Standard (C) order: the last axis fastest.
    for v in a.iter() {
        put(v, &mut w).map_err(io)?;
    }
    w.flush().map_err(io)
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
