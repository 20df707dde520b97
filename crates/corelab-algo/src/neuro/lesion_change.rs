//! `neuro.lesion-change`: new and enlarging white-matter lesions between a baseline and a
//! follow-up FLAIR of one subject, the count most MS trials take as their MRI endpoint.
//!
//! Method:
//! 1. Lesions are found in each scan on its own grid by [`ms_lesions::detect`] (each scan
//!    against its own tissue intensities, so no intensity normalisation between visits or
//!    scanners is needed, and neither scan is interpolated before detection).
//! 2. The follow-up is registered to the baseline (rigid, Mattes mutual information).
//! 3. Matching by overlap: each follow-up lesion's voxels are carried into the baseline grid
//!    (each voxel by its centre and the eight points a quarter voxel from it, so half a voxel of
//!    residual misregistration or of sampling difference between the two grids still overlaps).
//!    A follow-up lesion that overlaps no baseline lesion is **new** unless the baseline is
//!    brighter than nearly all grey matter where it lands (above the grey-matter median + 2 SD,
//!    the level lesion rims grow to): then it was there below the baseline's detection threshold,
//!    and its baseline volume is measured in place (partial volume). A lesion whose partial-volume
//!    volume exceeds that of the baseline lesions it overlaps by more than `enlarging-fraction`
//!    is **enlarging**; the others are **stable**. Without the in-place check a lesion just
//!    under the threshold at baseline counts as new (the phantom's site 1 did so).
//!
//! Not done (documented): subtraction imaging (the follow-up minus the registered baseline,
//! which finds new lesions inside diffuse abnormal white matter), and shrinking or vanished
//! lesions.

use super::measurement;
use super::ms_lesions::{self, Detection, Options, brain_and_t1, options_of};
use crate::image::{input, visit_transforms};
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params, Table, TableSpec,
};
use corelab_image::Volume;
use corelab_image::resample::{Interpolation, resample_through};
use nalgebra::{Matrix4, Vector4};
use std::collections::BTreeSet;

/// See the module.
pub struct LesionChange;

/// What happened to a follow-up lesion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It overlaps no baseline lesion.
    New = 1,
    /// It overlaps baseline lesions and has grown by more than the enlarging fraction.
    Enlarging = 2,
    /// Neither.
    Stable = 3,
}

/// A follow-up lesion and what it was at baseline.
#[derive(Clone, Debug)]
pub struct Matched {
    /// Its id in the follow-up detection.
    pub id: usize,
    /// Its centroid carried into the baseline's space (LPS, mm).
    pub centroid_mm: [f64; 3],
    /// Its partial-volume volume (mm³).
    pub volume_mm3: f64,
    /// The volume of the baseline lesions it overlaps (mm³; 0 for a new one).
    pub baseline_volume_mm3: f64,
    /// Its status.
    pub status: Status,
}

/// What [`change`] finds.
#[derive(Clone, Debug)]
pub struct Change {
    /// Lesions of the baseline, on its grid.
    pub baseline: Detection,
    /// Lesions of the follow-up, on its grid.
    pub followup: Detection,
    /// One per follow-up lesion, by id.
    pub matched: Vec<Matched>,
    /// On the baseline grid: 1 new, 2 enlarging, 3 stable follow-up lesion, 0 elsewhere.
    pub change: Volume<f32>,
}

/// One scan: its FLAIR, brain mask (on its grid) and T1w (on its grid) if any.
pub struct Scan<'a> {
    /// The FLAIR.
    pub flair: &'a Volume<f32>,
    /// The brain on the FLAIR grid.
    pub brain: &'a ndarray::Array3<bool>,
    /// A T1w on the FLAIR grid.
    pub t1: Option<&'a Volume<f32>>,
}

/// New, enlarging and stable lesions from `baseline` to `followup` (module documentation).
pub fn change(
    baseline: &Scan,
    followup: &Scan,
    options: &Options,
    enlarging_fraction: f64,
) -> Result<Change, AlgoError> {
    let named = |role: &'static str| {
        move |e: AlgoError| match e {
            AlgoError::Input { role: r, why } if r == "flair" => AlgoError::Input {
                role: role.to_owned(),
                why,
            },
            AlgoError::Input { role: r, why } => AlgoError::Input {
                role: format!("{role}-{r}"),
                why,
            },
            other => other,
        }
    };
    let base = ms_lesions::detect(baseline.flair, baseline.brain, baseline.t1, options)
        .map_err(named("baseline"))?;
    let follow = ms_lesions::detect(followup.flair, followup.brain, followup.t1, options)
        .map_err(named("followup"))?;
    // Baseline points → follow-up points; its inverse carries follow-up lesions back.
    let (base_to_follow, follow_to_base) = visit_transforms(baseline.flair, followup.flair)?;
    let base_geometry = &baseline.flair.geometry;
    let to_base_index = base_geometry
        .affine
        .try_inverse()
        .ok_or_else(|| AlgoError::Failed("the baseline's affine is singular".into()))?
        * follow_to_base
        * followup.flair.geometry.affine;
    let footprints = footprints(&follow, &base, &to_base_index);
    let base_tissue = ms_lesions::tissue("baseline", &baseline.flair.data, baseline.brain)?;
    let evidence = base_tissue.gm + 2.0 * base_tissue.sd;
    let level = ms_lesions::lesion_level(&baseline.flair.data, &base.labels)
        .or_else(|| {
            // No baseline lesion: the follow-up's level, scaled by the two scans' grey matter.
            let follow_tissue =
                ms_lesions::tissue("followup", &followup.flair.data, followup.brain).ok()?;
            ms_lesions::lesion_level(&followup.flair.data, &follow.labels)
                .map(|l| l * base_tissue.gm / follow_tissue.gm)
        })
        .unwrap_or(0.0);
    let matched = follow
        .lesions
        .iter()
        .zip(&footprints)
        .map(|(l, footprint)| {
            let hit: BTreeSet<u32> = footprint
                .iter()
                .map(|&q| base.labels[q])
                .filter(|&b| b > 0)
                .collect();
            let before: f64 = if hit.is_empty() {
                // Below the baseline's detection threshold but there (brighter than nearly all
                // grey matter at its place): not new; its baseline volume measured in place.
                let brightest = footprint
                    .iter()
                    .filter(|&&q| baseline.brain[q])
                    .map(|&q| f64::from(baseline.flair.data[q]))
                    .fold(f64::NEG_INFINITY, f64::max);
                if brightest > evidence {
                    ms_lesions::partial_volume(
                        baseline.flair,
                        baseline.brain,
                        &base.labels,
                        footprint,
                        level,
                    )
                } else {
                    0.0
                }
            } else {
                hit.iter()
                    .map(|&b| base.lesions[b as usize - 1].volume_mm3)
                    .sum()
            };
            let status = if before <= 0.0 {
                Status::New
            } else if l.volume_mm3 > (1.0 + enlarging_fraction) * before {
                Status::Enlarging
            } else {
                Status::Stable
            };
            let c = follow_to_base
                * Vector4::new(l.centroid_mm[0], l.centroid_mm[1], l.centroid_mm[2], 1.0);
            Matched {
                id: l.id,
                centroid_mm: [c[0], c[1], c[2]],
                volume_mm3: l.volume_mm3,
                baseline_volume_mm3: before,
                status,
            }
        })
        .collect::<Vec<_>>();
    let status_of: Vec<f32> = std::iter::once(0.0)
        .chain(matched.iter().map(|m| m.status as u8 as f32))
        .collect();
    let statuses = Volume::new(
        follow.labels.mapv(|l| status_of[l as usize]),
        followup.flair.geometry.clone(),
    )
    .map_err(|e| AlgoError::Failed(e.to_string()))?;
    let change = resample_through(
        &statuses,
        base_geometry,
        &base_to_follow,
        Interpolation::Nearest,
        0.0,
    )
    .map_err(|e| AlgoError::Failed(e.to_string()))?;
    Ok(Change {
        baseline: base,
        followup: follow,
        matched,
        change,
    })
}

/// For each follow-up lesion (by id − 1), the baseline voxels its voxels land in (each by its
/// centre and the eight points a quarter voxel off), in index order; `to_base` maps follow-up
/// voxel indices to baseline voxel indices.
fn footprints(
    follow: &Detection,
    base: &Detection,
    to_base: &Matrix4<f64>,
) -> Vec<Vec<[usize; 3]>> {
    let mut out = vec![BTreeSet::new(); follow.lesions.len()];
    let (ni, nj, nk) = base.labels.dim();
    for ((i, j, k), &l) in follow.labels.indexed_iter() {
        if l == 0 {
            continue;
        }
        for di in [-0.25, 0.0, 0.25] {
            for dj in [-0.25, 0.0, 0.25] {
                for dk in [-0.25, 0.0, 0.25] {
                    let p =
                        to_base * Vector4::new(i as f64 + di, j as f64 + dj, k as f64 + dk, 1.0);
                    let q = [p[0].round(), p[1].round(), p[2].round()];
                    if q.iter().any(|&x| x < 0.0)
                        || q[0] as usize >= ni
                        || q[1] as usize >= nj
                        || q[2] as usize >= nk
                    {
                        continue;
                    }
                    out[l as usize - 1].insert([q[0] as usize, q[1] as usize, q[2] as usize]);
                }
            }
        }
    }
    out.into_iter().map(|s| s.into_iter().collect()).collect()
}

impl Algorithm for LesionChange {
    fn id(&self) -> &'static str {
        "neuro.lesion-change"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "New and enlarging white-matter lesions from a baseline to a follow-up FLAIR: lesions found in each (neuro.ms-lesions), the follow-up registered to the baseline (rigid, Mattes mutual information), follow-up lesions matched to baseline ones by overlap (docs/algorithms/neuro.lesion-change.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Schmidt P et al. Automated segmentation of changes in FLAIR-hyperintense white matter lesions in multiple sclerosis on serial magnetic resonance imaging. NeuroImage Clin 2019;23:101849.",
            "Rovira A et al. MAGNIMS consensus guidelines on the use of MRI in multiple sclerosis: clinical implementation in the diagnostic process. Nat Rev Neurol 2015;11:471-482.",
            "Mattes D et al. PET-CT image registration in the chest using free-form deformations. IEEE TMI 2003;22:120-128.",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        let role = |role, kind, required, description| InputRole {
            role,
            kind,
            required,
            description,
        };
        vec![
            role("baseline", InputKind::Image, true, "the baseline FLAIR"),
            role(
                "followup",
                InputKind::Image,
                true,
                "the follow-up FLAIR of the same subject",
            ),
            role(
                "baseline-mask",
                InputKind::Mask,
                false,
                "the baseline's brain mask, on any grid (default: brain extraction)",
            ),
            role(
                "followup-mask",
                InputKind::Mask,
                false,
                "the follow-up's brain mask, on any grid (default: brain extraction)",
            ),
            role(
                "baseline-t1",
                InputKind::Image,
                false,
                "a T1w of the baseline session (drops candidates brighter than white matter on it)",
            ),
            role(
                "followup-t1",
                InputKind::Image,
                false,
                "a T1w of the follow-up session",
            ),
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let mut p = ms_lesions::parameters();
        p.push(ParamSpec {
            name: "enlarging-fraction",
            kind: ParamKind::Number {
                min: 0.0,
                max: 10.0,
            },
            default: ParamValue::Number(0.5),
            unit: Some("1"),
            description: "a matched lesion is enlarging when its volume exceeds its baseline volume by more than this fraction",
        });
        p
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        let m = |name, unit, description| MeasurementSpec {
            name,
            unit,
            description,
        };
        vec![
            m(
                "new-lesions",
                "1",
                "follow-up lesions overlapping no baseline lesion",
            ),
            m(
                "enlarging-lesions",
                "1",
                "follow-up lesions grown by more than the enlarging fraction",
            ),
            m("baseline-lesion-count", "1", "lesions in the baseline"),
            m("followup-lesion-count", "1", "lesions in the follow-up"),
            m(
                "baseline-lesion-volume",
                "mL",
                "total lesion volume at baseline (partial volume)",
            ),
            m(
                "followup-lesion-volume",
                "mL",
                "total lesion volume at follow-up (partial volume)",
            ),
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "change",
            description: "follow-up lesions on the baseline grid: 1 new, 2 enlarging, 3 stable",
            kind: ImageKind::Labels(&[
                (1, "new lesion"),
                (2, "enlarging lesion"),
                (3, "stable lesion"),
            ]),
            grid: "baseline",
        }]
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "changes",
            columns: &[
                ("id", "1"),
                ("centroid-x", "mm"),
                ("centroid-y", "mm"),
                ("centroid-z", "mm"),
                ("volume", "mm3"),
                ("baseline-volume", "mm3"),
                ("status", "1"),
            ],
            description: "one row per follow-up lesion: its id in the follow-up, centroid in the baseline's space (LPS), volume, the volume of the baseline lesions it overlaps (0 for new), status (1 new, 2 enlarging, 3 stable)",
        }]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let base = input(inputs, "baseline")?;
        let follow = input(inputs, "followup")?;
        ms_lesions::check_flair("baseline", base)?;
        ms_lesions::check_flair("followup", follow)?;
        let options = options_of(params)?;
        let fraction = params
            .number("enlarging-fraction")
            .ok_or_else(|| AlgoError::Param {
                name: "enlarging-fraction".into(),
                why: "missing".into(),
            })?;
        let (base_brain, base_t1) = brain_and_t1(
            base,
            inputs.get("baseline-mask"),
            "baseline-mask",
            inputs.get("baseline-t1"),
            "baseline-t1",
        )?;
        let (follow_brain, follow_t1) = brain_and_t1(
            follow,
            inputs.get("followup-mask"),
            "followup-mask",
            inputs.get("followup-t1"),
            "followup-t1",
        )?;
        let c = change(
            &Scan {
                flair: base,
                brain: &base_brain,
                t1: base_t1.as_ref(),
            },
            &Scan {
                flair: follow,
                brain: &follow_brain,
                t1: follow_t1.as_ref(),
            },
            &options,
            fraction,
        )?;
        let count = |s: Status| c.matched.iter().filter(|m| m.status == s).count() as f64;
        let ml = |d: &Detection| d.lesions.iter().map(|l| l.volume_mm3).sum::<f64>() / 1000.0;
        Ok(Outputs {
            measurements: vec![
                measurement("new-lesions", count(Status::New), "1"),
                measurement("enlarging-lesions", count(Status::Enlarging), "1"),
                measurement(
                    "baseline-lesion-count",
                    c.baseline.lesions.len() as f64,
                    "1",
                ),
                measurement(
                    "followup-lesion-count",
                    c.followup.lesions.len() as f64,
                    "1",
                ),
                measurement("baseline-lesion-volume", ml(&c.baseline), "mL"),
                measurement("followup-lesion-volume", ml(&c.followup), "mL"),
            ],
            images: vec![("change".into(), c.change)],
            tables: vec![Table {
                name: "changes".into(),
                columns: [
                    "id",
                    "centroid-x",
                    "centroid-y",
                    "centroid-z",
                    "volume",
                    "baseline-volume",
                    "status",
                ]
                .map(String::from)
                .to_vec(),
                rows: c
                    .matched
                    .iter()
                    .map(|m| {
                        vec![
                            m.id as f64,
                            m.centroid_mm[0],
                            m.centroid_mm[1],
                            m.centroid_mm[2],
                            m.volume_mm3,
                            m.baseline_volume_mm3,
                            m.status as u8 as f64,
                        ]
                    })
                    .collect(),
            }],
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuro::mask_volume;
    use crate::neuro::testing::truth;
    use corelab_image::phantom::{self, Kind as Phantom};

    /// Baseline and follow-up FLAIR of a subject of the MS phantom with brain masks, and the
    /// truth's (new, enlarging) counts and per-lesion (status, volume) at follow-up.
    fn pair(seed: u64, voxel_mm: f64, subject: usize) -> (Inputs, (usize, usize)) {
        let options = phantom::Options {
            seed,
            subjects: subject + 1,
            voxel_mm: Some(voxel_mm),
            atrophy_percent: None,
            subsamples: 2,
        };
        let plan = phantom::plan(Phantom::MsLesions, &options).expect("plan");
        let mut inputs = Inputs::new();
        for (visit, role) in [(0, "baseline"), (1, "followup")] {
            let s = plan
                .series
                .iter()
                .find(|s| {
                    s.subject_index == subject && s.visit_index == visit && s.info.name == "FLAIR"
                })
                .expect("series");
            let r = s.render(options.subsamples).expect("render");
            let mask = mask_volume(&truth(&r, "brain"), &r.images[0].geometry);
            inputs.insert(role.to_owned(), r.images[0].clone());
            inputs.insert(format!("{role}-mask"), mask);
        }
        let b = plan.truth.subjects[subject].visits[1]
            .brain
            .clone()
            .expect("brain truth");
        (
            inputs,
            (
                b.new_lesions.expect("new"),
                b.enlarging_lesions.expect("enlarging"),
            ),
        )
    }

    /// Runs the pair of a site and asserts the truth's new and enlarging counts.
    fn counts_are_exact(subject: usize) {
        {
            let (inputs, (new, enlarging)) = pair(1, 2.0, subject);
            let started = std::time::Instant::now();
            let (_, out) = crate::run(&LesionChange, &inputs, &Default::default()).unwrap();
            eprintln!(
                "site {subject}: lesion-change took {:.2} s",
                started.elapsed().as_secs_f64()
            );
            let value = |n: &str| {
                out.measurements
                    .iter()
                    .find(|m| m.name == n)
                    .map(|m| m.value)
                    .unwrap()
            };
            for row in &out.tables[0].rows {
                if row[5] > 0.0 {
                    eprintln!(
                        "site {subject}: lesion {} volume ratio {:.2} status {}",
                        row[0],
                        row[4] / row[5],
                        row[6]
                    );
                }
            }
            eprintln!(
                "site {subject}: new {} (truth {new}), enlarging {} (truth {enlarging})",
                value("new-lesions"),
                value("enlarging-lesions")
            );
            assert_eq!(value("new-lesions"), new as f64, "site {subject}");
            assert_eq!(
                value("enlarging-lesions"),
                enlarging as f64,
                "site {subject}"
            );
            let change = &out.images[0].1;
            assert!(change.data.iter().any(|&v| v == 1.0));
            assert_eq!(change.geometry.dims, inputs["baseline"].geometry.dims);
        }
    }

    #[test]
    fn new_and_enlarging_lesion_counts_are_exact_at_site_1() {
        counts_are_exact(0);
    }

    #[test]
    fn new_and_enlarging_lesion_counts_are_exact_at_site_2() {
        counts_are_exact(1);
    }

    #[test]
    fn new_and_enlarging_lesion_counts_are_exact_at_site_3() {
        counts_are_exact(2);
    }

    #[test]
    fn a_scan_against_itself_has_nothing_new_or_enlarging() {
        let (mut inputs, _) = pair(1, 2.0, 0);
        inputs.insert("followup".into(), inputs["baseline"].clone());
        inputs.insert("followup-mask".into(), inputs["baseline-mask"].clone());
        let (_, out) = crate::run(&LesionChange, &inputs, &Default::default()).unwrap();
        assert_eq!(out.measurements[0].value, 0.0);
        assert_eq!(out.measurements[1].value, 0.0);
        assert_eq!(out.measurements[2].value, out.measurements[3].value);
        assert!(out.tables[0].rows.iter().all(|r| r[6] == 3.0));
    }

    #[test]
    fn an_empty_followup_mask_is_refused_by_name() {
        let (mut inputs, _) = pair(1, 2.0, 0);
        let empty = inputs["followup-mask"].data.mapv(|_| 0.0);
        inputs.get_mut("followup-mask").unwrap().data = empty;
        let e = crate::run(&LesionChange, &inputs, &Default::default()).unwrap_err();
        assert!(
            matches!(e, AlgoError::Input { ref role, .. } if role == "followup-mask"),
            "{e}"
        );
    }
}
