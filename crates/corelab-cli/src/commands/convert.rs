//! `corelab convert SERIES_DIR OUT.nii.gz`: one series to a volume (NIfTI, with a JSON sidecar
//! of its provenance), or the reason it cannot be one.

use crate::cli::{ConvertArgs, Global};
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_dicom::series::{Instance, volumes};
use serde_json::json;
use std::path::{Path, PathBuf};

pub async fn run(g: &Global, a: &ConvertArgs) -> Result<u8> {
    let (dir, out) = (a.series_dir.clone(), a.out.clone());
    let json = g.json;
    tokio::task::spawn_blocking(move || convert(json, &dir, &out)).await?
}

fn convert(json_out: bool, dir: &Path, out: &Path) -> Result<u8> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .context("OUT must name a file")?;
    let Some(stem) = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
    else {
        bail!(
            "{}: the output is a NIfTI file: its name ends with .nii or .nii.gz",
            out.display()
        );
    };
    let ext = &name[stem.len()..];
    let files = corelab_ingest::files::files_under(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?;
    if files.is_empty() {
        bail!("{}: no files", dir.display());
    }
    let instances = files
        .iter()
        .map(|f| Instance::from_path(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut series: Vec<String> = instances
        .iter()
        .map(|i| {
            i.object
                .get(dicom_dictionary_std::tags::SERIES_INSTANCE_UID)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_matches(['\0', ' ']).to_owned())
                .unwrap_or_default()
        })
        .collect();
    series.sort();
    series.dedup();
    if series.len() > 1 {
        bail!(
            "{}: {} series ({}); convert one series at a time",
            dir.display(),
            series.len(),
            series.join(", ")
        );
    }
    let vols = volumes(&instances)?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut written = Vec::new();
    for (n, v) in vols.iter().enumerate() {
        let file: PathBuf = if vols.len() == 1 {
            out.to_path_buf()
        } else {
            parent.join(format!("{stem}-{}{ext}", n + 1))
        };
        // Whole numbers that fit (CT, most MR, after rescale) are written as int16, as dcm2niix
        // writes them: half the bytes of float32, the same values.
        let whole = v
            .data
            .iter()
            .all(|x| x.fract() == 0.0 && (-32768.0..=32767.0).contains(x));
        if whole {
            let ints = corelab_image::Volume::new(v.data.mapv(|x| x as i16), v.geometry.clone())?;
            corelab_image::nifti_io::write(&file, &ints)?;
        } else {
            corelab_image::nifti_io::write(&file, v)?;
        }
        let sidecar = parent.join(format!(
            "{}.json",
            file.file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(ext))
                .unwrap_or(stem)
        ));
        let doc = json!({
            "nifti": file,
            "series_instance_uid": v.source.series_uid,
            "dims": v.geometry.dims,
            "spacing_mm": v.geometry.spacing(),
            "affine_lps": (0..4).map(|r| (0..4).map(|c| v.geometry.affine[(r, c)]).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "instance_sha256": v.source.instance_sha256,
            "notes": v.source.notes,
            "written_by": format!("corelab {}", env!("CARGO_PKG_VERSION")),
        });
        std::fs::write(&sidecar, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", sidecar.display()))?;
        written.push(doc);
    }
    emit(json_out, &json!({"volumes": written}), |_| {
        written
            .iter()
            .map(|d| {
                let notes = d["notes"]
                    .as_array()
                    .map(|n| {
                        n.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                format!(
                    "{}: {} voxels of {} mm{}",
                    d["nifti"].as_str().unwrap_or_default(),
                    d["dims"],
                    d["spacing_mm"],
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({notes})")
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    Ok(0)
}
