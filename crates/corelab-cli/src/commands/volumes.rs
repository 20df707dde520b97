//! Volumes the commands take as input: a NIfTI or NRRD file, or a folder holding one DICOM
//! series.

use anyhow::{Context, Result, bail};
use corelab_image::Volume;
use std::path::Path;

/// A volume from a NIfTI file, an NRRD file (`.nrrd`, 3D, attached data), or a folder holding
/// one DICOM series of one stack.
pub fn load(path: &Path) -> Result<Volume<f32>> {
    if path.is_dir() {
        let files = corelab_ingest::files::files_under(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let instances = files
            .iter()
            .map(|f| corelab_dicom::series::Instance::from_path(f))
            .collect::<Result<Vec<_>, _>>()?;
        if instances.is_empty() {
            bail!("{}: no DICOM files", path.display());
        }
        let mut vols = corelab_dicom::series::volumes(&instances)?;
        if vols.len() != 1 {
            bail!(
                "{}: the series forms {} volumes (echoes, time points…); convert it and choose one",
                path.display(),
                vols.len()
            );
        }
        Ok(vols.remove(0))
    } else if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("nrrd"))
    {
        corelab_image::nrrd::read(path)
            .map_err(|e| anyhow::anyhow!("{}: not a readable NRRD volume: {e}", path.display()))
    } else {
        Ok(corelab_image::nifti_io::read(path)?)
    }
}
