//! `corelab register FIXED MOVING --out TRANSFORM.txt`: rigid or affine registration of two
//! volumes (NIfTI files or DICOM series folders), the transform written as ITK text (fixed →
//! moving, as ANTs and ITK read it), and optionally the moving image resampled onto the fixed grid.

use crate::cli::{Global, RegisterArgs, RegisterKind, RegisterMetric};
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_image::registration::{self, Kind, Metric, Options, itk};
use corelab_image::resample::{Interpolation, resample_through};
use serde_json::json;
use std::path::Path;

pub async fn run(g: &Global, a: &RegisterArgs) -> Result<u8> {
    let json = g.json;
    let a = a.clone();
    tokio::task::spawn_blocking(move || register(json, &a)).await?
}

fn register(json_out: bool, a: &RegisterArgs) -> Result<u8> {
    let out_ok = |p: &Path, what: &str| -> Result<()> {
        let parent = p.parent().filter(|x| !x.as_os_str().is_empty());
        if let Some(dir) = parent
            && !dir.is_dir()
        {
            bail!(
                "{}: the folder for the {what} does not exist",
                dir.display()
            );
        }
        Ok(())
    };
    out_ok(&a.out, "transform")?;
    if let Some(r) = &a.resampled {
        out_ok(r, "resampled image")?;
        let name = r.to_string_lossy();
        if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
            bail!(
                "{}: the resampled image is a NIfTI file (.nii or .nii.gz)",
                r.display()
            );
        }
    }
    let fixed = super::volumes::load(&a.fixed).context("the fixed image")?;
    let moving = super::volumes::load(&a.moving).context("the moving image")?;
    let initial = match &a.initial {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Some(itk::read(&text).map_err(|why| anyhow::anyhow!("{}: {why}", p.display()))?)
        }
        None => None,
    };
    let options = Options {
        kind: match a.kind {
            RegisterKind::Rigid => Kind::Rigid,
            RegisterKind::Affine => Kind::Affine,
        },
        metric: match a.metric {
            RegisterMetric::Mi => Metric::MattesMutualInformation { bins: a.bins },
            RegisterMetric::Ms => Metric::MeanSquares,
        },
        samples: a.samples,
        seed: a.seed,
        initial,
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let found = registration::register(&fixed, &moving, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    write_atomically(&a.out, itk::write(&found.transform).as_bytes())?;
    if let Some(path) = &a.resampled {
        let r = resample_through(
            &moving,
            &fixed.geometry,
            &found.transform.to_matrix4(),
            Interpolation::Trilinear,
            0.0,
        )
        .map_err(|e| anyhow::anyhow!("resampling the moving image: {e}"))?;
        corelab_image::nifti_io::write(path, &r)?;
    }
    let t = &found.transform;
    let doc = json!({
        "transform": a.out,
        "resampled": a.resampled,
        "kind": options.kind,
        "metric": match a.metric { RegisterMetric::Mi => "mattes-mi", RegisterMetric::Ms => "mean-squares" },
        "seed": a.seed,
        "matrix": (0..3).map(|r| (0..3).map(|c| t.matrix[(r, c)]).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "translation_mm": t.translation.as_slice(),
        "center_mm": t.center.as_slice(),
        "euler_deg": t.euler_angles().map(|e| e.map(f64::to_degrees)),
        "levels": found.levels,
        "seconds": seconds,
    });
    emit(json_out, &doc, |d| {
        let mut text = format!(
            "{}: {} transform, translation {:.3?} mm",
            a.out.display(),
            d["kind"].as_str().unwrap_or_default(),
            t.translation.as_slice()
        );
        if let Some(e) = t.euler_angles() {
            text += &format!(", rotation {:.3?} deg", e.map(f64::to_degrees));
        }
        text += &format!(" ({seconds:.1} s)");
        for l in &found.levels {
            text += &format!(
                "\n  {:?} {} mm: {} iterations, cost {:.5}, {}",
                l.stage, l.spacing_mm, l.iterations, l.cost, l.stopped
            );
        }
        text
    })?;
    Ok(0)
}

/// Writes a file whole or not at all: a temporary file beside it, synced, then a rename.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp-corelab");
    let written =
        std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
