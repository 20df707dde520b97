//! A catalogued series as the one volume it forms: the instances' bytes → the series' volume
//! (`corelab_dicom::series`, exact geometry). Jobs read their inputs through it ([`one_volume`]),
//! and the viewer its NIfTI ([`series_nifti`], PET scaled to SUVbw where its header allows it,
//! so that the viewer's SUV window means what it says).

use corelab_dicom::series::{Instance, volumes};
use corelab_image::Volume;

/// Why a series is not one volume.
#[derive(Debug)]
pub enum NotOneVolume {
    /// An instance cannot be read, or the instances form no volume: the reason.
    Unreadable(String),
    /// The series forms this many volumes (echoes, time points or stacks).
    Several(usize),
}

/// The one volume the series made of `instances` (`(SOP Instance UID, bytes)`) forms.
pub fn one_volume<B: AsRef<[u8]>>(
    instances: impl IntoIterator<Item = (String, B)>,
) -> Result<Volume<f32>, NotOneVolume> {
    let parsed = instances
        .into_iter()
        .map(|(sop, bytes)| Instance::from_bytes(sop, bytes.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NotOneVolume::Unreadable(e.to_string()))?;
    let mut v = volumes(&parsed).map_err(|e| NotOneVolume::Unreadable(e.to_string()))?;
    if v.len() != 1 {
        return Err(NotOneVolume::Several(v.len()));
    }
    Ok(v.remove(0))
}

/// `(NIfTI .nii.gz bytes, units when scaled)` of the series made of `instances`
/// (`(SOP Instance UID, bytes)`), which must form exactly one volume.
pub fn series_nifti<B: AsRef<[u8]>>(
    instances: impl IntoIterator<Item = (String, B)>,
) -> Result<(Vec<u8>, Option<&'static str>), String> {
    let mut volume = one_volume(instances).map_err(|e| match e {
        NotOneVolume::Unreadable(why) => why,
        NotOneVolume::Several(n) => {
            format!("it forms {n} volumes (echoes, time points or stacks); the viewer shows one")
        }
    })?;
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
