//! What a trial's PDF reports show (`docs/reports.md`), gathered from the store for the
//! renderer in `corelab_export::report`: per subject, a key image per visit (the slice of a
//! segmentation — lesions first, then classes, then masks — with the most voxels, on its source
//! series, the segmentation as the overlay), each
//! measure over the visits, and the table of every endpoint row; per trial, the QC counts, the
//! subject × visit status grid and the problems. Dates come from the data (the newest value
//! recorded), not the clock, so the same store makes the same reports.

use super::dicom::{image_of, input_blobs};
use super::endpoints;
use crate::evaluate::{EngineError, current_report};
use crate::images::one_volume;
use chrono::{DateTime, Utc};
use corelab_algo::{ImageKind, Registry};
use corelab_export::endpoints::EndpointRow;
use corelab_export::report::{
    GreySlice, KeyImage, MeasureRow, MeasureSeries, QcReport, QcSubjectRow, StatusCounts,
    SubjectReport,
};
use corelab_image::Volume;
use corelab_store::{Job, Store};
use std::collections::BTreeMap;

/// A plotted measure: (measure, unit, algorithm).
type SeriesKey = (String, String, String);

/// At most this many key images per subject (one per visit).
const KEY_IMAGES: usize = 4;

fn generated_by() -> String {
    corelab_algo::provenance::build()
}

/// The newest of `times` (RFC 3339), or the epoch when none parses.
fn newest<'a>(times: impl IntoIterator<Item = &'a str>) -> DateTime<Utc> {
    times
        .into_iter()
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
        .unwrap_or_default()
}

/// The trial's QC report for the renderer; None before the first QC evaluation.
pub async fn qc(store: &Store, trial: &str) -> Result<Option<QcReport>, EngineError> {
    let decisions = store.qc_decisions(trial).await?;
    let Some(report) = current_report(store, trial, &decisions).await? else {
        return Ok(None);
    };
    let evaluation = store.latest_qc_evaluation(trial).await?;
    let mut times: Vec<&str> = decisions.iter().map(|d| d.created_at.as_str()).collect();
    if let Some(e) = &evaluation {
        times.push(&e.created_at);
    }
    let counts = |c: &crate::report::Counts| StatusCounts {
        pass: c.pass as u64,
        review: c.review as u64,
        fail: c.fail as u64,
        pending: c.pending as u64,
    };
    Ok(Some(QcReport {
        trial: trial.to_owned(),
        generated_by: generated_by(),
        generated_at: newest(times),
        series_counts: counts(&report.series),
        visit_counts: counts(&report.visits),
        subjects: report
            .subjects
            .iter()
            .map(|s| QcSubjectRow {
                subject: s.subject.clone(),
                site: s.site.clone(),
                visits: s
                    .visits
                    .iter()
                    .map(|v| (v.visit.clone(), v.status.as_str().to_owned()))
                    .collect(),
            })
            .collect(),
        problems: report
            .problems()
            .into_iter()
            .map(|(target, status, why)| format!("{target} ({}): {why}", status.as_str()))
            .collect(),
    }))
}

/// Every subject's report for the renderer, by subject.
pub async fn subjects(store: &Store, trial: &str) -> Result<Vec<SubjectReport>, EngineError> {
    let rows = endpoints(store, trial).await?;
    let jobs = store.jobs(trial).await?;
    let lock = store
        .trial_locks(trial)
        .await?
        .last()
        .map(|l| {
            format!(
                "lock version {} (sha256 {})",
                l.version,
                &l.lock_sha256[..12.min(l.lock_sha256.len())]
            )
        })
        .unwrap_or_else(|| "not locked".into());
    // Protocol order of the visits, for the x axes.
    let (_, text) = store.trial_file_text(trial).await?;
    let visits: Vec<String> = corelab_core::TrialFile::parse(&text)
        .map(|f| f.visits.iter().map(|v| v.name.clone()).collect())
        .unwrap_or_default();
    let place = |visit: &str| {
        visits
            .iter()
            .position(|v| v == visit)
            .map_or(visits.len() as f64, |i| i as f64)
    };
    let mut by_subject: BTreeMap<&str, Vec<&EndpointRow>> = BTreeMap::new();
    for r in &rows {
        by_subject.entry(&r.subject).or_default().push(r);
    }
    let mut out = Vec::new();
    for (subject, rows) in by_subject {
        let mut series: BTreeMap<SeriesKey, Vec<(String, f64, f64)>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.value.is_some()) {
            let key = (
                r.measure.clone(),
                r.unit.clone(),
                r.algorithm.clone().unwrap_or_else(|| "read".into()),
            );
            let point = (
                r.visit.clone(),
                place(&r.visit),
                r.value.unwrap_or(f64::NAN),
            );
            series.entry(key).or_default().push(point);
        }
        let (key_images, notes) = key_images(store, &jobs, subject, &visits).await;
        out.push(SubjectReport {
            trial: trial.to_owned(),
            subject: subject.to_owned(),
            site: rows.first().map(|r| r.site.clone()).unwrap_or_default(),
            generated_by: generated_by(),
            generated_at: newest(rows.iter().map(|r| r.recorded_at.as_str())),
            lock: lock.clone(),
            key_images,
            series: series
                .into_iter()
                .map(|((measure, unit, algorithm), mut points)| {
                    points.sort_by(|a, b| a.1.total_cmp(&b.1));
                    MeasureSeries {
                        measure,
                        unit,
                        algorithm,
                        points,
                    }
                })
                .collect(),
            table: rows
                .iter()
                .map(|r| MeasureRow {
                    visit: r.visit.clone(),
                    measure: r.measure.clone(),
                    value: match (&r.value, &r.value_text) {
                        (Some(v), _) => format!("{v:.4}"),
                        (None, Some(t)) => t.clone(),
                        (None, None) => String::new(),
                    },
                    unit: r.unit.clone(),
                    algorithm: r.algorithm.clone().unwrap_or_default(),
                    qc_status: r.qc_status.clone().unwrap_or_default(),
                })
                .collect(),
            notes,
        });
    }
    Ok(out)
}

/// A subject's key images, one per visit in protocol order: a segmentation a job made at the
/// visit (lesions first, then classes, then masks), on the axial slice where it has the most
/// voxels. What could not be shown is
/// said in the notes.
async fn key_images(
    store: &Store,
    jobs: &[Job],
    subject: &str,
    visits: &[String],
) -> (Vec<KeyImage>, Vec<String>) {
    let registry = Registry::builtin();
    let (mut images, mut notes) = (Vec::new(), Vec::new());
    for visit in visits {
        if images.len() == KEY_IMAGES {
            break;
        }
        let found = pick(jobs, &registry, subject, visit);
        let Some((job, spec)) = found else {
            continue;
        };
        let caption = format!(
            "{visit}: {} of {}@{}",
            spec.role, job.algorithm_id, job.algorithm_version
        );
        let shown = match input_blobs(store, job, spec.grid).await {
            Ok(blobs) => key_image(store, job, spec.role, spec.grid, spec.kind, &blobs).await,
            Err(why) => Err(why),
        };
        match shown {
            Ok((mut k, slice)) => {
                k.caption = format!("{caption} (slice {slice})");
                images.push(k);
            }
            Err(why) => notes.push(format!("{caption}: no key image ({why})")),
        }
    }
    (images, notes)
}

/// The segmentation a visit's key image shows: findings (lesions) say most about a subject,
/// then classes, then masks; the earliest job breaks ties.
pub(super) fn pick<'a>(
    jobs: &'a [Job],
    registry: &Registry,
    subject: &str,
    visit: &str,
) -> Option<(&'a Job, corelab_algo::ImageSpec)> {
    let rank = |k: ImageKind| match k {
        ImageKind::Findings => Some(0),
        ImageKind::Labels(_) => Some(1),
        ImageKind::Mask => Some(2),
        ImageKind::Image | ImageKind::Fraction => None,
    };
    jobs.iter()
        .filter(|j| j.subject == subject && j.visit == visit && j.state == "succeeded")
        .flat_map(|j| {
            registry
                .get(&j.algorithm_id)
                .map(|a| a.images())
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |s| Some((rank(s.kind)?, j, s)))
        })
        .min_by_key(|(r, j, _)| (*r, j.id))
        .map(|(_, j, s)| (j, s))
}

/// The key image of one derived mask: its busiest axial slice, the source under it (the input
/// series `grid`, its instances' `blobs`); with the slice's index.
pub(super) async fn key_image(
    store: &Store,
    job: &Job,
    role: &str,
    grid: &str,
    kind: ImageKind,
    blobs: &[(String, bytes::Bytes)],
) -> Result<(KeyImage, usize), String> {
    let result = job.result.as_ref().ok_or("the job has no result")?;
    let mask = image_of(store, result, role)
        .await?
        .ok_or_else(|| format!("the job stored no {role} image"))?;
    let image = one_volume(blobs.iter().map(|(sop, bytes)| (sop.clone(), bytes)))
        .map_err(|e| format!("input {grid}: {e:?}"))?;
    if image.data.dim() != mask.data.dim() {
        return Err(format!("{role} is not on the grid of {grid}"));
    }
    Ok(slice_of(&image, &mask, kind))
}

/// The axial slice (third index) where `mask` has the most nonzero voxels, rows along the second
/// index, and its index.
fn slice_of(image: &Volume<f32>, mask: &Volume<f32>, kind: ImageKind) -> (KeyImage, usize) {
    let (nx, ny, nz) = mask.data.dim();
    let k = (0..nz)
        .max_by_key(|&k| {
            let n = (0..nx)
                .flat_map(|i| (0..ny).map(move |j| (i, j)))
                .filter(|&(i, j)| mask.data[[i, j, k]] != 0.0)
                .count();
            // Ties go to the lower slice.
            (n, std::cmp::Reverse(k))
        })
        .unwrap_or(0);
    let mut pixels = Vec::with_capacity(nx * ny);
    let mut overlay = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        for i in 0..nx {
            pixels.push(image.data[[i, j, k]]);
            let m = mask.data[[i, j, k]];
            overlay.push(match kind {
                ImageKind::Labels(_) => m.round().clamp(0.0, 255.0) as u8,
                _ => u8::from(m != 0.0),
            });
        }
    }
    let mut sorted: Vec<f32> = pixels.iter().copied().filter(|x| x.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f64| {
        sorted
            .get(((sorted.len().saturating_sub(1)) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0) as f64
    };
    let (lo, hi) = (at(0.01), at(0.99));
    let spacing = image.geometry.spacing();
    let key = KeyImage {
        caption: String::new(),
        slice: GreySlice {
            width: nx,
            height: ny,
            pixels,
            window: ((lo + hi) / 2.0, (hi - lo).max(1e-6)),
        },
        overlay: Some(overlay),
        pixel_aspect: if spacing[0] > 0.0 {
            spacing[1] / spacing[0]
        } else {
            1.0
        },
    };
    (key, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_time_wins_and_nothing_is_the_epoch() {
        let t = newest(["2026-01-02T00:00:00Z", "2026-03-04T05:06:07Z", "junk"]);
        assert_eq!(t.to_rfc3339(), "2026-03-04T05:06:07+00:00");
        assert_eq!(newest([]).timestamp(), 0);
    }

    #[test]
    fn the_key_slice_is_where_the_mask_is_largest() {
        let geometry = corelab_image::Geometry::axis_aligned([4, 3, 5], [0.0; 3], [1.0, 2.0, 3.0]);
        let mut image = Volume::new(ndarray::Array3::<f32>::zeros((4, 3, 5)), geometry)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut mask = image.clone();
        mask.data[[1, 1, 2]] = 1.0;
        mask.data[[2, 1, 3]] = 1.0;
        mask.data[[2, 2, 3]] = 1.0;
        image.data[[2, 2, 3]] = 9.0;
        let (k, slice) = slice_of(&image, &mask, ImageKind::Mask);
        assert_eq!(slice, 3);
        assert_eq!((k.slice.width, k.slice.height), (4, 3));
        // Row j = 2, column i = 2.
        assert_eq!(k.slice.pixels[2 * 4 + 2], 9.0);
        assert_eq!(k.overlay.as_ref().map(|o| o[2 * 4 + 2]), Some(1));
        assert_eq!(k.pixel_aspect, 2.0);
    }
}
