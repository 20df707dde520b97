//! Digital phantoms on disk (`docs/phantoms.md`): each series of a `corelab_image::phantom`
//! plan rendered and written as DICOM (`crate::write`) with its site's headers, its truth masks
//! and bias field as NIfTI, and the whole truth as JSON:
//!
//! ```text
//! OUT/SUBJECT/VISIT/SERIES/0001.dcm …   the series
//! OUT/truth.json                         everything known (truth.json in docs/phantoms.md)
//! OUT/truth/SUBJECT_VISIT_SERIES_STRUCTURE.nii.gz   binary masks (fraction ≥ ½)
//! OUT/truth/SUBJECT_VISIT_SERIES_bias.nii.gz        the bias field (MR)
//! OUT/templates/NAME.nii.gz              template images and regions (neuro-pet)
//! ```
//!
//! UIDs are derived from the kind, the seed, the subject, the visit and the series under
//! corelab's root, so the same seed gives the same files, byte for byte.

use crate::write::{SeriesHeader, WriteError, uid, write_series};
use corelab_image::phantom::{Kind, Options, PhantomError, SeriesPlan, plan};
use std::path::{Path, PathBuf};

/// corelab's UID root, branch 9: phantoms.
pub const UID_ROOT: &str = "1.2.826.0.1.3680043.9.7782.9";

/// Why a phantom could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PhantomWriteError {
    /// The options or the design.
    #[error(transparent)]
    Phantom(#[from] PhantomError),
    /// A series.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A file or folder.
    #[error("{path}: {why}")]
    Io {
        /// The path.
        path: String,
        /// What went wrong.
        why: String,
    },
}

fn io<T>(path: &Path, why: impl std::fmt::Display) -> Result<T, PhantomWriteError> {
    Err(PhantomWriteError::Io {
        path: path.display().to_string(),
        why: why.to_string(),
    })
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// Subjects.
    pub subjects: usize,
    /// Series.
    pub series: usize,
    /// DICOM files.
    pub instances: usize,
    /// NIfTI files under `truth/`.
    pub truth_files: usize,
    /// NIfTI files under `templates/` (the template images and regions an algorithm quantifies
    /// the series with: `neuro-pet`).
    pub template_files: usize,
    /// truth.json.
    pub truth: PathBuf,
}

/// Writes the phantom of `kind` into `out`, which must be absent or an empty folder.
/// `progress(done, total, series)` is called before each series.
pub fn write(
    kind: Kind,
    options: &Options,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Written, PhantomWriteError> {
    let mut plan = plan(kind, options)?;
    prepare(out)?;
    let truth_dir = out.join("truth");
    std::fs::create_dir_all(&truth_dir).or_else(|e| io(&truth_dir, e))?;
    let total = plan.series.len();
    let (mut instances, mut truth_files) = (0, 0);
    for (n, s) in plan.series.iter().enumerate() {
        progress(n, total, &s.path());
        let rendered = s.render(options.subsamples)?;
        let header = header(kind, options.seed, s)?;
        let dir = out.join(&s.subject).join(&s.visit).join(&s.info.name);
        instances += write_series(&rendered.images, &header, &dir)?.len();
        for (name, mask) in &rendered.masks {
            let path = out.join(format!("{}{name}.nii.gz", s.truth_prefix()));
            corelab_image::nifti_io::write(&path, mask).or_else(|e| io(&path, e.why))?;
            truth_files += 1;
        }
        if let Some(bias) = &rendered.bias {
            let path = out.join(format!("{}bias.nii.gz", s.truth_prefix()));
            corelab_image::nifti_io::write(&path, bias).or_else(|e| io(&path, e.why))?;
            truth_files += 1;
        }
        let mut truth = rendered.truth;
        truth.series_instance_uid = Some(header.series_instance_uid);
        let Some(visit) = plan
            .truth
            .subjects
            .get_mut(s.subject_index)
            .and_then(|subject| subject.visits.get_mut(s.visit_index))
        else {
            return Err(
                PhantomError::Design(format!("{}: no visit in the truth", s.path())).into(),
            );
        };
        visit.series.push(truth);
    }
    let mut template_files = 0;
    if kind == Kind::NeuroPet {
        progress(total, total, "templates");
        let dir = out.join("templates");
        std::fs::create_dir_all(&dir).or_else(|e| io(&dir, e))?;
        for (name, volume) in corelab_image::phantom::neuro_pet::templates(options.subsamples)? {
            let path = dir.join(format!("{name}.nii.gz"));
            corelab_image::nifti_io::write(&path, &volume).or_else(|e| io(&path, e.why))?;
            template_files += 1;
        }
    }
    progress(total, total, "truth.json");
    let path = out.join("truth.json");
    let mut json = serde_json::to_vec_pretty(&plan.truth).or_else(|e| io(&path, e))?;
    json.push(b'\n');
    std::fs::write(&path, json).or_else(|e| io(&path, e))?;
    Ok(Written {
        subjects: plan.truth.subjects.len(),
        series: total,
        instances,
        truth_files,
        template_files,
        truth: path,
    })
}

/// `out` made, or found empty.
fn prepare(out: &Path) -> Result<(), PhantomWriteError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return io(
                    out,
                    "exists and is not empty; a phantom is written into a new or empty folder",
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(out)
            .or_else(|e| io(out, format!("cannot create the folder: {e}"))),
        Err(e) => io(out, format!("cannot use it as the output folder: {e}")),
    }
}

/// The DICOM header of a planned series.
pub fn header(kind: Kind, seed: u64, s: &SeriesPlan) -> Result<SeriesHeader, WriteError> {
    let kind_number = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u64 + 1;
    let base = [
        kind_number,
        seed,
        s.subject_index as u64 + 1,
        s.visit_index as u64 + 1,
    ];
    let with = |more: &[u64]| uid(UID_ROOT, &[&base[..], more].concat());
    let p = &s.patient;
    Ok(SeriesHeader {
        patient_name: p.name.clone(),
        patient_id: p.id.clone(),
        patient_birth_date: p.birth_date.clone(),
        patient_sex: p.sex.clone(),
        // A test object (the QC phantom) has no weight or size.
        patient_weight_kg: (p.weight_kg > 0.0).then_some(p.weight_kg),
        patient_size_m: (p.height_m > 0.0).then_some(p.height_m),
        study_instance_uid: with(&[1])?,
        study_id: s.visit.clone(),
        study_date: s.study_date.clone(),
        study_time: s.study_time.clone(),
        study_description: s.study_description.clone(),
        accession_number: format!(
            "PH{kind_number}{:03}{:02}",
            s.subject_index + 1,
            s.visit_index + 1
        ),
        // Room for ".N" slice numbers up to 9999 within 64 characters.
        series_instance_uid: with(&[2, u64::from(s.info.number)])?,
        series_number: s.info.number,
        series_description: s.info.description.clone(),
        protocol_name: s.info.protocol.clone(),
        series_date: s.info.date.clone(),
        series_time: s.info.time.clone(),
        body_part_examined: s.info.body_part.clone(),
        frame_of_reference_uid: with(&[3])?,
        manufacturer: s.site.manufacturer.clone(),
        manufacturer_model_name: s.site.model.clone(),
        institution_name: s.site.institution.clone(),
        station_name: s.site.station.clone(),
        software_versions: s.site.software.clone(),
        acquisition: s.info.acquisition.clone(),
        times_ms: s.times_ms.clone(),
        nominal_interval_ms: s.rr_interval_ms,
    })
}
