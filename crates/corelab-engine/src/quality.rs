//! Image quality of a series, measured from its pixels (`corelab_image::quality`, formulas in
//! `docs/algorithms/qc-metrics.md`), and held to its role's `[roles.NAME.quality]` thresholds.
//! PET series are checked for what quantification needs: the uptake time and whether SUV can
//! be computed from the header at all.

use crate::conformance::format_number;
use crate::report::{Check, Status};
use corelab_core::protocol::{QualityThresholds, Range};
use corelab_image::Volume;
use corelab_image::suv::{PetHeader, factors};
use std::collections::BTreeMap;

/// Metrics by name (as in the thresholds table), and checks that could not be measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// Metric values.
    pub values: BTreeMap<String, f64>,
    /// Checks found while measuring (a metric that could not be computed, SUV not computable).
    pub checks: Vec<Check>,
}

/// PET: the uptake time (minutes, injection to scan start, when the decay correction is to
/// the scan start) and SUV computability.
pub fn pet(headers: &[PetHeader]) -> Measured {
    let mut m = Measured::default();
    match factors(headers) {
        Ok(f) => {
            m.values.insert("suv_bw_factor".into(), f.bw);
            if f.decay_seconds > 0.0 {
                m.values.insert("uptake_min".into(), f.decay_seconds / 60.0);
            }
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

/// MR and CT metrics of a series' volumes. `phase_encoding_axis` is the voxel axis the
/// phase is encoded along, when the header says.
pub fn image(
    modality: &str,
    volumes: &[Volume<f32>],
    phase_encoding_axis: Option<usize>,
) -> Measured {
    let mut m = Measured::default();
    let Some(first) = volumes.first() else {
        return m;
    };
    let mut put = |name: &str, v: Result<f64, String>| match v {
        Ok(v) if v.is_finite() => {
            m.values.insert(name.into(), v);
        }
        Ok(v) => m.checks.push(
            Check::new(
                name,
                Some(format!("{v}")),
                "a finite value".into(),
                Status::Review,
            )
            .note("the metric is not finite on this image"),
        ),
        Err(why) => m
            .checks
            .push(Check::new(name, None, "measurable".into(), Status::Review).note(why)),
    };
    let _ = (&mut put, modality, first, phase_encoding_axis);
    m
}

/// The role's thresholds against what was measured. A threshold whose metric was not
/// measured (another modality, or it could not be computed) is a review naming it.
pub fn thresholds(t: &QualityThresholds, measured: &Measured) -> Vec<Check> {
    let named: [(&str, &Option<Range>); 11] = [
        ("snr", &t.snr),
        ("snr_dietrich", &t.snr_dietrich),
        ("cnr", &t.cnr),
        ("cjv", &t.cjv),
        ("efc", &t.efc),
        ("fber", &t.fber),
        ("ghost_ratio", &t.ghost_ratio),
        ("fd_mean_mm", &t.fd_mean_mm),
        ("fd_max_mm", &t.fd_max_mm),
        ("ct_noise_hu", &t.ct_noise_hu),
        ("air_hu", &t.air_hu),
    ];
    named
        .into_iter()
        .filter_map(|(name, r)| r.as_ref().map(|r| (name, r)))
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
            .note("not measured on this series"),
        })
        .collect()
}
