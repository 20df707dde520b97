//! A trial's results as DICOM (`docs/dicom-export.md`): for every succeeded job, a DICOM SEG of
//! each derived image that is a segmentation (`ImageKind`: masks, labels and findings as binary
//! segments, fractions as a fractional one) on the series whose grid it is on, and one SR TID
//! 1500 measurement report of its measurements on its first input series, its groups pointing at
//! the job's first segmentation; and per subject and visit the key image of the PDF report as a
//! Secondary Capture, for viewers that show neither SEG nor SR. UIDs are derived from the trial, job and role, so exporting twice
//! makes the same objects. A job whose source the writers do not take (a multi-frame NM series)
//! is listed with the reason, not exported. Read from the store; nothing is changed.

use crate::evaluate::EngineError;
use corelab_algo::{ImageKind, ImageSpec, Registry};
use corelab_dicom::series::Instance;
use corelab_dicom::write::WriteError;
use corelab_dicom::write::sc::{self, RgbImage};
use corelab_dicom::write::seg::{self, FractionalType, SegKind, Segment, SegmentData, codes};
use corelab_dicom::write::source::{Code, DerivedMeta, Source, to_bytes};
use corelab_dicom::write::sr::{self, Group, Report, SegmentRef};
use corelab_image::Volume;
use corelab_store::{Job, Store, StoredMeasurement};
use serde_json::Value;

/// One derived object, ready to write or send.
#[derive(Clone, Debug)]
pub struct DerivedObject {
    /// The subject it belongs to.
    pub subject: String,
    /// Where it goes under the export folder: `SUBJECT/VISIT/ALGORITHM-ROLE-seg.dcm`,
    /// `…/ALGORITHM-sr.dcm`, `…/key-image-sc.dcm`.
    pub path: String,
    /// `SEG`, `SR` or `OT` (a Secondary Capture key image).
    pub modality: &'static str,
    /// Its SOP Instance UID.
    pub sop_instance_uid: String,
    /// The Part 10 file.
    pub bytes: Vec<u8>,
}

/// Why a job's results cannot be made DICOM.
#[derive(Debug, thiserror::Error)]
pub enum DicomExportError {
    /// The store.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// `2.25.` and 128 bits of SHA-256 over `parts` (joined by U+001F): a UID only these parts make
/// (PS3.5 B.2), as the writers derive theirs.
fn derived_uid(parts: &[&str]) -> String {
    corelab_dicom::write::source::derived_uid(&parts.join("\u{1f}"))
}

/// The algorithm family (CID 7162) of each built-in that segments, as its documentation
/// describes its method.
fn family(algorithm: &str) -> Code {
    match algorithm {
        "neuro.tissue-seg" => codes::cluster_analysis(),
        "neuro.pbvc" | "neuro.brain-extraction" => codes::deformable_models(),
        "onco.lesion-seg" | "onco.lesion-track" | "neuro.lesion-change" => {
            codes::neighborhood_analysis()
        }
        _ => codes::histogram_analysis(),
    }
}

/// Category and type of a segment of `algorithm`'s image `role` (its label, for labels).
fn segment_codes(algorithm: &str, role: &str, label: &str) -> (Code, Code) {
    let lesion = || (codes::morphologically_abnormal_structure(), codes::lesion());
    match (algorithm, role, label) {
        ("neuro.tissue-seg", _, "cerebrospinal fluid") | ("neuro.tissue-seg", "csf-pv", _) => {
            (codes::tissue(), codes::csf())
        }
        ("neuro.tissue-seg", _, "grey matter") | ("neuro.tissue-seg", "gm-pv", _) => {
            (codes::tissue(), codes::grey_matter())
        }
        ("neuro.tissue-seg", _, "white matter") | ("neuro.tissue-seg", "wm-pv", _) => {
            (codes::tissue(), codes::white_matter())
        }
        ("neuro.brain-extraction" | "neuro.pbvc", _, _) => {
            (codes::anatomical_structure(), codes::brain())
        }
        ("onco.lesion-seg" | "onco.lesion-track", _, _) => (
            codes::morphologically_abnormal_structure(),
            codes::neoplasm(),
        ),
        _ => lesion(),
    }
}

/// The segments an image of `spec` holds: `(label, data)`; none for intensities.
fn segments_of(
    spec: &ImageSpec,
    image: &Volume<f32>,
) -> Result<Vec<(String, SegmentData)>, String> {
    let binary = |keep: &dyn Fn(f32) -> bool| {
        let mut v = Volume {
            data: image.data.mapv(|x| u8::from(keep(x))),
            geometry: image.geometry.clone(),
            source: image.source.clone(),
        };
        v.source.modality = None;
        SegmentData::Binary(v)
    };
    Ok(match spec.kind {
        ImageKind::Image => Vec::new(),
        ImageKind::Mask => vec![(spec.role.to_owned(), binary(&|x| x != 0.0))],
        ImageKind::Labels(labels) => labels
            .iter()
            .map(|(value, name)| ((*name).to_owned(), binary(&|x| x == f32::from(*value))))
            .collect(),
        ImageKind::Findings => {
            let mut ids: Vec<u32> = image
                .data
                .iter()
                .filter(|x| **x > 0.0)
                .map(|x| x.round() as u32)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.into_iter()
                .map(|id| {
                    (
                        format!("{} {id}", spec.role),
                        binary(&|x| x.round() as u32 == id && x > 0.0),
                    )
                })
                .collect()
        }
        ImageKind::Fraction => {
            // Partial-volume fractions may stray from [0, 1] by rounding only.
            if let Some(x) = image
                .data
                .iter()
                .find(|x| !x.is_finite() || **x < -1e-4 || **x > 1.0 + 1e-4)
            {
                return Err(format!("{}: {x} is not a fraction", spec.role));
            }
            let v = Volume {
                data: image.data.mapv(|x| x.clamp(0.0, 1.0)),
                geometry: image.geometry.clone(),
                source: image.source.clone(),
            };
            vec![(spec.role.to_owned(), SegmentData::Fractional(v))]
        }
    })
}

/// A Code String value: upper case, `_` for other characters, at most 16 characters.
fn cs(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .take(16)
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SS…` → (`YYYYMMDD`, `HHMMSS`), the job's completion as the objects' content
/// date and time (not the clock: the same job exports the same bytes).
fn content_datetime(at: Option<&str>) -> (String, String) {
    let at = at.unwrap_or("1970-01-01T00:00:00");
    let digits: String = at.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 14 {
        (digits[..8].to_owned(), digits[8..14].to_owned())
    } else {
        ("19700101".into(), "000000".into())
    }
}

/// The instances of a job's input series `role`, read from the blob store: `(SOP Instance UID,
/// bytes)`.
pub(super) async fn input_blobs(
    store: &Store,
    job: &Job,
    role: &str,
) -> Result<Vec<(String, bytes::Bytes)>, String> {
    let instances = job.inputs[role]["instances"]
        .as_array()
        .ok_or_else(|| format!("input {role} is not a series"))?;
    let mut blobs = Vec::with_capacity(instances.len());
    for i in instances {
        let (Some(sop), Some(sha)) = (i[0].as_str(), i[1].as_str()) else {
            return Err(format!("input {role}: an instance without its blob"));
        };
        let bytes = store
            .blob_bytes(sha)
            .await
            .map_err(|e| format!("input {role}: {e}"))?;
        blobs.push((sop.to_owned(), bytes));
    }
    Ok(blobs)
}

/// The source the derived objects reference: a job's input series `role`, made of `blobs`.
fn source_from(job: &Job, role: &str, blobs: &[(String, bytes::Bytes)]) -> Result<Source, String> {
    let parsed = blobs
        .iter()
        .map(|(sop, bytes)| Instance::from_bytes(sop.clone(), bytes).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Source::from_instances(&parsed).map_err(|e: WriteError| {
        format!(
            "input {role} (series {}): {e}",
            job.inputs[role]["series_instance_uid"]
                .as_str()
                .unwrap_or_default()
        )
    })
}

/// The series of a job's input role, read from the blob store.
async fn source_of(store: &Store, job: &Job, role: &str) -> Result<Source, String> {
    source_from(job, role, &input_blobs(store, job, role).await?)
}

/// A derived image of a job, read back from its NIfTI blob.
pub(super) async fn image_of(
    store: &Store,
    result: &Value,
    role: &str,
) -> Result<Option<Volume<f32>>, String> {
    let Some(sha) = result["images"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["role"] == role)
        .and_then(|i| i["sha256"].as_str())
    else {
        return Ok(None);
    };
    let bytes = store.blob_bytes(sha).await.map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("image.nii.gz");
    std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
    corelab_image::nifti_io::read(&path)
        .map(Some)
        .map_err(|e| format!("image {role}: {e}"))
}

/// The procedure (CID 100-like) an SR reports, from its source's modality.
fn procedure(modality: &str) -> Code {
    match modality {
        "CT" => Code::new("77477000", "SCT", "Computed Tomography"),
        "MR" => Code::new("113091000", "SCT", "Magnetic Resonance Imaging"),
        "PT" => Code::new("82918005", "SCT", "Positron Emission Tomography"),
        _ => Code::new("363679005", "SCT", "Imaging"),
    }
}

/// What a trial's DICOM export made, and what it could not.
#[derive(Clone, Debug, Default)]
pub struct DicomExport {
    /// The objects, by job.
    pub objects: Vec<DerivedObject>,
    /// `(job, algorithm@version, why)` of each job whose objects could not be made (a source the
    /// writers do not take, such as a multi-frame NM series): listed, not hidden.
    pub skipped: Vec<(i64, String, String)>,
}

/// Every DICOM object of `trial`'s succeeded jobs, by job; a job whose objects cannot be made
/// is listed in [`DicomExport::skipped`] with the reason.
pub async fn objects(store: &Store, trial: &str) -> Result<DicomExport, DicomExportError> {
    let registry = Registry::builtin();
    let measurements = store.measurements(trial).await.map_err(EngineError::from)?;
    let jobs = store.jobs(trial).await.map_err(EngineError::from)?;
    let mut out = DicomExport::default();
    for job in jobs.iter().filter(|j| j.state == "succeeded") {
        let algorithm = format!("{}@{}", job.algorithm_id, job.algorithm_version);
        let (Some(result), Some(spec)) = (&job.result, registry.get(&job.algorithm_id)) else {
            continue;
        };
        let ms: Vec<&StoredMeasurement> =
            measurements.iter().filter(|m| m.job_id == job.id).collect();
        match job_objects(store, trial, job, &algorithm, result, &spec.images(), &ms).await {
            Ok(made) => out.objects.extend(made),
            Err(why) => out.skipped.push((job.id, algorithm, why)),
        }
    }
    // A key image per subject and visit, as the PDF report shows it, for viewers without SEG.
    let mut visits: Vec<(&str, &str)> = jobs
        .iter()
        .filter(|j| j.state == "succeeded")
        .map(|j| (j.subject.as_str(), j.visit.as_str()))
        .collect();
    visits.sort_unstable();
    visits.dedup();
    for (subject, visit) in visits {
        let Some((job, spec)) = super::report::pick(&jobs, &registry, subject, visit) else {
            continue;
        };
        match key_capture(store, trial, job, &spec).await {
            Ok(o) => out.objects.push(o),
            Err(why) => out.skipped.push((
                job.id,
                format!("{}@{}", job.algorithm_id, job.algorithm_version),
                format!("key image: {why}"),
            )),
        }
    }
    Ok(out)
}

/// What a derived object of `job`'s `role` (`what`: seg, sr, sc) says of itself; its UIDs are
/// derived from the trial, job, role and kind.
fn derived_meta(
    trial: &str,
    job: &Job,
    algorithm: &str,
    role: &str,
    what: &str,
    number: u32,
) -> DerivedMeta {
    let (date, time) = content_datetime(job.finished_at.as_deref());
    let id = job.id.to_string();
    DerivedMeta {
        series_instance_uid: derived_uid(&[trial, &id, role, what, "series"]),
        sop_instance_uid: derived_uid(&[trial, &id, role, what, "instance"]),
        series_number: number,
        instance_number: 1,
        series_description: format!("{algorithm} {role}"),
        content_label: cs(role),
        content_description: format!("{role} of {algorithm}, job {id} of trial {trial}"),
        manufacturer: "corelab".into(),
        manufacturer_model_name: job.algorithm_id.clone(),
        device_serial_number: corelab_algo::provenance::build(),
        software_versions: algorithm.to_owned(),
        content_date: date,
        content_time: time,
    }
}

/// A visit's key image as a Secondary Capture: the segmentation the PDF report shows, blended
/// over its source slice.
async fn key_capture(
    store: &Store,
    trial: &str,
    job: &Job,
    spec: &ImageSpec,
) -> Result<DerivedObject, String> {
    let algorithm = format!("{}@{}", job.algorithm_id, job.algorithm_version);
    // The source series is read once, for the slice shown and for the object's references.
    let blobs = input_blobs(store, job, spec.grid).await?;
    let (key, slice) =
        super::report::key_image(store, job, spec.role, spec.grid, spec.kind, &blobs).await?;
    let source = source_from(job, spec.grid, &blobs)?;
    let (width, height, rgb) = corelab_export::report::key_image_rgb(&key)
        .map_err(|e| e.to_string())?
        .ok_or("the key image is empty")?;
    let meta = derived_meta(trial, job, &algorithm, spec.role, "sc", 980);
    let description = format!(
        "key image: {} of {algorithm} on slice {slice}, blended over the source",
        spec.role
    );
    let file = sc::secondary_capture(
        &source,
        &RgbImage { width, height, rgb },
        slice,
        &description,
        &meta,
    )
    .map_err(|e| e.to_string())?;
    Ok(DerivedObject {
        subject: job.subject.clone(),
        path: format!("{}/{}/key-image-sc.dcm", job.subject, job.visit),
        modality: "OT",
        sop_instance_uid: meta.sop_instance_uid,
        bytes: to_bytes(&file).map_err(|e| e.to_string())?,
    })
}

/// One job's SEGs and SR.
async fn job_objects(
    store: &Store,
    trial: &str,
    job: &Job,
    algorithm: &str,
    result: &Value,
    images: &[ImageSpec],
    measurements: &[&StoredMeasurement],
) -> Result<Vec<DerivedObject>, String> {
    let id = job.id.to_string();
    let folder = format!("{}/{}", job.subject, job.visit);
    let meta = |role: &str, what: &str, number: u32| {
        derived_meta(trial, job, algorithm, role, what, number)
    };
    let mut out = Vec::new();
    let mut first_segmentation: Option<SegmentRef> = None;
    for (n, spec) in images.iter().enumerate() {
        if spec.kind == ImageKind::Image {
            continue;
        }
        let Some(image) = image_of(store, result, spec.role).await? else {
            continue;
        };
        let source = source_of(store, job, spec.grid).await?;
        let segments: Vec<Segment> = segments_of(spec, &image)?
            .into_iter()
            .map(|(label, data)| {
                let (category, property_type) = segment_codes(&job.algorithm_id, spec.role, &label);
                Segment {
                    description: spec.description.to_owned(),
                    label,
                    category,
                    property_type,
                    algorithm: (job.algorithm_id.clone(), job.algorithm_version.clone()),
                    algorithm_family: family(&job.algorithm_id),
                    data,
                }
            })
            .collect();
        if segments.is_empty() {
            continue;
        }
        let kind = if spec.kind == ImageKind::Fraction {
            SegKind::Fractional(FractionalType::Occupancy)
        } else {
            SegKind::Binary
        };
        let m = meta(spec.role, "seg", 900 + n as u32);
        let file = seg::write(&source, &segments, kind, &m).map_err(|e| e.to_string())?;
        if first_segmentation.is_none() && kind == SegKind::Binary {
            first_segmentation = Some(SegmentRef {
                series_instance_uid: m.series_instance_uid.clone(),
                sop_instance_uid: m.sop_instance_uid.clone(),
                segment_number: 1,
            });
        }
        out.push(DerivedObject {
            subject: job.subject.clone(),
            path: format!("{folder}/{}-{}-seg.dcm", job.algorithm_id, spec.role),
            modality: "SEG",
            sop_instance_uid: m.sop_instance_uid,
            bytes: to_bytes(&file).map_err(|e| e.to_string())?,
        });
    }
    if measurements.is_empty() {
        return Ok(out);
    }
    // The SR is on the job's first input series (the one its measurements name).
    let role = job
        .inputs
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(_, v)| {
                    measurements[0].series_instance_uid.as_deref()
                        == v["series_instance_uid"].as_str()
                })
                .or_else(|| o.iter().find(|(_, v)| v["instances"].is_array()))
                .map(|(k, _)| k.clone())
        })
        .ok_or("no input series to report the measurements on")?;
    let source = source_of(store, job, &role).await?;
    let report = Report {
        title: sr::imaging_measurement_report(),
        observer_device: (
            algorithm.to_owned(),
            derived_uid(&[trial, &job.algorithm_id, &job.algorithm_version, "device"]),
        ),
        procedure: procedure(&source.modality),
        groups: vec![Group {
            tracking_id: format!("{} {}", job.algorithm_id, job.visit),
            tracking_uid: derived_uid(&[trial, &id, "tracking"]),
            finding: segment_codes(&job.algorithm_id, "", "").1,
            finding_site: None,
            segment: first_segmentation,
            measurements: measurements
                .iter()
                .map(|m| sr::measure(&m.name, m.value, &m.unit))
                .collect(),
        }],
    };
    let m = meta("measurements", "sr", 990);
    let file = sr::measurement_report(&source, &report, &m).map_err(|e| e.to_string())?;
    out.push(DerivedObject {
        subject: job.subject.clone(),
        path: format!("{folder}/{}-sr.dcm", job.algorithm_id),
        modality: "SR",
        sop_instance_uid: m.sop_instance_uid,
        bytes: to_bytes(&file).map_err(|e| e.to_string())?,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_valid_and_depend_on_every_part() {
        let a = derived_uid(&["T", "1", "mask", "seg"]);
        assert!(a.starts_with("2.25.") && a.len() <= 64);
        assert!(a[5..].bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(a, derived_uid(&["T", "1", "mask", "sr"]));
        assert_eq!(a, derived_uid(&["T", "1", "mask", "seg"]));
    }

    #[test]
    fn content_labels_and_dates_are_what_dicom_accepts() {
        assert_eq!(cs("flair-mask"), "FLAIR_MASK");
        assert_eq!(cs("a-very-long-role-name-indeed"), "A_VERY_LONG_ROLE");
        assert_eq!(
            content_datetime(Some("2026-12-05T21:30:17.123Z")),
            ("20261205".into(), "213017".into())
        );
        assert_eq!(content_datetime(None).0, "19700101");
    }

    #[test]
    fn every_builtin_segmentation_has_codes_and_a_family() {
        for a in Registry::builtin().all() {
            for i in a.images() {
                if i.kind != ImageKind::Image {
                    let (category, kind) = segment_codes(a.id(), i.role, "");
                    assert!(!category.value.is_empty() && !kind.value.is_empty());
                    assert!(!family(a.id()).value.is_empty());
                }
            }
        }
    }
}
