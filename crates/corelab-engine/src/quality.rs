//! Image quality of a series, measured from its pixels (`corelab_image::quality`, formulas in
//! `docs/algorithms/qc-metrics.md`), and held to its role's `[roles.NAME.quality]` thresholds.
//! PET series are checked for what quantification needs: the uptake time and whether SUV can
//! be computed from the header at all.

use crate::conformance::format_number;
use crate::report::{Check, Status};
use corelab_core::protocol::QualityThresholds;
use corelab_image::Volume;
use corelab_image::quality::{self as q, QualityError};
use corelab_image::suv::{PetHeader, factors, uptake_seconds};
use std::collections::BTreeMap;

/// Metrics by name (as in the thresholds table), why any could not be measured, and checks
/// found while measuring (SUV computability).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// Metric values.
    pub values: BTreeMap<String, f64>,
    /// Why a metric could not be measured, by name.
    pub unavailable: BTreeMap<String, String>,
    /// Checks found while measuring.
    pub checks: Vec<Check>,
}

impl Measured {
    fn put(&mut self, name: &str, v: Result<f64, QualityError>) {
        match v {
            Ok(v) if v.is_finite() => {
                self.values.insert(name.into(), v);
            }
            Ok(v) => {
                self.unavailable
                    .insert(name.into(), format!("not finite ({v}) on this image"));
            }
            Err(e) => {
                self.unavailable.insert(name.into(), e.to_string());
            }
        }
    }
}

/// PET: the uptake time (minutes, injection to scan start, when the decay correction is to
/// the scan start) and SUV computability.
pub fn pet(headers: &[PetHeader]) -> Measured {
    let mut m = Measured::default();
    match uptake_seconds(headers) {
        Ok(s) => {
            m.values.insert("uptake_min".into(), s / 60.0);
        }
        Err(e) => {
            m.unavailable.insert("uptake_min".into(), e.0);
        }
    }
    match factors(headers) {
        Ok(f) => {
            m.values.insert("suv_bw_factor".into(), f.bw);
            m.checks.push(Check::new(
                "suv",
                Some("computable".into()),
                "SUV computable from the header".into(),
                Status::Pass,
            ));
        }
        Err(e) => m.checks.push(
            Check::new(
                "suv",
                Some("not computable".into()),
                "SUV computable from the header".into(),
                Status::Fail,
            )
            .note(e.0),
        ),
    }
    m
}

/// MR and CT metrics of a series' volumes. `phase_axis` is the voxel axis the phase is encoded
/// along, when the header says (`quality::phase_axis`). MR: SNR (tissue and Dietrich), EFC,
/// FBER, the N/2 ghost ratio (with a phase axis), and framewise displacement for a time series
/// (three volumes or more); CNR and CJV need tissue masks, which QC does not segment (their
/// thresholds say so). CT: noise (global noise level), air and water HU.
pub fn image(modality: &str, volumes: &[Volume<f32>], phase_axis: Option<usize>) -> Measured {
    let mut m = Measured::default();
    let Some(first) = volumes.first() else {
        return m;
    };
    match modality {
        "MR" => mr(&mut m, first, volumes, phase_axis),
        "CT" => ct(&mut m, first),
        _ => {}
    }
    for name in ["cnr", "cjv"] {
        m.unavailable.entry(name.into()).or_insert_with(|| {
            "needs grey- and white-matter masks, which QC does not segment".into()
        });
    }
    m
}

fn mr(m: &mut Measured, first: &Volume<f32>, volumes: &[Volume<f32>], axis: Option<usize>) {
    match mr_masks(first, axis) {
        Ok((object, uniform, air)) => {
            m.put("snr", q::snr(first, &uniform));
            m.put("snr_dietrich", q::snr_dietrich(first, &uniform, &air));
            m.put("fber", q::fber(first, &object, &air));
            match axis {
                Some(a) => m.put(
                    "ghost_ratio",
                    q::ghost(first, &object, &air, a, &q::GhostOptions::default()).map(|g| g.ratio),
                ),
                None => {
                    m.unavailable.insert(
                        "ghost_ratio".into(),
                        "no In-plane Phase Encoding Direction (0018,1312) in the header".into(),
                    );
                }
            }
        }
        Err(e) => {
            for name in ["snr", "snr_dietrich", "fber", "ghost_ratio"] {
                m.unavailable.insert(name.into(), e.to_string());
            }
        }
    }
    m.put("efc", q::efc(first, None));
    if volumes.len() >= 3 {
        match q::framewise_displacement(volumes, &q::MotionOptions::default()) {
            Ok(motion) => {
                m.put("fd_mean_mm", Ok(motion.mean_fd_mm));
                m.put("fd_max_mm", Ok(motion.max_fd_mm));
            }
            Err(e) => {
                for name in ["fd_mean_mm", "fd_max_mm"] {
                    m.unavailable.insert(name.into(), e.to_string());
                }
            }
        }
    } else {
        for name in ["fd_mean_mm", "fd_max_mm"] {
            m.unavailable.insert(
                name.into(),
                "not a time series (fewer than 3 volumes)".into(),
            );
        }
    }
}

/// The object, its uniform interior (eroded 5 mm) and the air around it.
fn mr_masks(
    image: &Volume<f32>,
    axis: Option<usize>,
) -> Result<(q::Mask, q::Mask, q::Mask), QualityError> {
    let object = q::object_mask(image)?;
    let uniform = q::uniform_mask(&object, &image.geometry, 5.0)?;
    let air = q::air_mask(
        &object,
        &image.geometry,
        &q::AirOptions {
            phase_axis: axis,
            ..Default::default()
        },
    )?;
    Ok((object, uniform, air))
}

fn ct(m: &mut Measured, first: &Volume<f32>) {
    m.put(
        "ct_noise_hu",
        q::ct_noise_hu(first, &q::CtNoiseOptions::default()).map(|n| n.mode_hu),
    );
    m.put(
        "air_hu",
        q::air_hu(first, &q::CtAirOptions::default()).map(|a| a.mean_hu),
    );
    match q::water_hu(first, &q::WaterOptions::default()) {
        Ok(Some(w)) => m.put("water_hu", Ok(w.mean_hu)),
        Ok(None) => {
            m.unavailable.insert(
                "water_hu".into(),
                "no uniform water region in the image".into(),
            );
        }
        Err(e) => m.put("water_hu", Err(e)),
    }
}

/// The role's thresholds against what was measured. A threshold whose metric was not
/// measured (another modality, or it could not be computed) is a review naming it.
pub fn thresholds(t: &QualityThresholds, measured: &Measured) -> Vec<Check> {
    t.ranges()
        .into_iter()
        .map(|(name, r)| match measured.values.get(name) {
            Some(&v) if r.contains(v) => Check::new(
                &format!("quality.{name}"),
                Some(format_number(v)),
                r.to_string(),
                Status::Pass,
            ),
            Some(&v) => Check::new(
                &format!("quality.{name}"),
                Some(format_number(v)),
                r.to_string(),
                Status::Fail,
            )
            .note("image quality outside the protocol's threshold"),
            None => Check::new(
                &format!("quality.{name}"),
                None,
                r.to_string(),
                Status::Review,
            )
            .note(format!(
                "not measured on this series: {}",
                measured
                    .unavailable
                    .get(name)
                    .map(String::as_str)
                    .unwrap_or("not a metric of this modality")
            )),
        })
        .collect()
}
