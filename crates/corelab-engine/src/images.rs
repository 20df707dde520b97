//! A catalogued series as one NIfTI volume, for viewing: the instances' bytes → the series'
//! volume (`corelab_dicom::series`, exact geometry) → NIfTI-1, gzip. PET is scaled to SUVbw
//! where its header allows it, so that the viewer's SUV window means what it says.

use corelab_dicom::series::{Instance, volumes};

/// `(NIfTI .nii.gz bytes, units when scaled)` of the series made of `instances`
/// (`(SOP Instance UID, bytes)`), which must form exactly one volume.
pub fn series_nifti(
    instances: &[(String, Vec<u8>)],
) -> Result<(Vec<u8>, Option<&'static str>), String> {
    let parsed = instances
        .iter()
        .map(|(sop, bytes)| Instance::from_bytes(sop.clone(), bytes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut v = volumes(&parsed).map_err(|e| e.to_string())?;
    if v.len() != 1 {
        return Err(format!(
            "it forms {} volumes (echoes, time points or stacks); the viewer shows one",
            v.len()
        ));
    }
    let mut volume = v.remove(0);
    let mut units = None;
    if volume.source.modality.as_deref() == Some("PT")
        && let Ok(f) = corelab_image::suv::factors(&volume.source.pet)
    {
        let bw = f.bw as f32;
        volume.data.mapv_inplace(|x| x * bw);
        units = Some("SUVbw");
    }
    Ok((crate::jobs::nifti_bytes(&volume)?, units))
}
