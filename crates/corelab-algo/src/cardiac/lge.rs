//! `cardiac.lge`: the extent of late gadolinium enhancement (scar, fibrosis) as a volume, a mass
//! and a percentage of the LV myocardium, by the two thresholds the SCMR recommendations name
//! (Schulz-Menger et al. 2020):
//! - **n-SD**: myocardial voxels brighter than the mean of remote (normal) myocardium plus `n`
//!   of its standard deviations (`n` from 2 to 6, 5 by default: Flett et al. 2011 found 5 SD
//!   closest to the histology-validated FWHM, 2 SD overstating it);
//! - **FWHM** (Amado et al. 2004): myocardial voxels at least half the maximal signal of the
//!   hyperenhanced myocardium, the hyperenhanced myocardium being what the n-SD threshold finds
//!   (so that a myocardium without enhancement has none by either method).
//!
//! The remote myocardium is a mask a reader draws (the standard), or, with `auto-remote=true`,
//! the one of six angular sectors of the myocardium's interior (voxels whose in-plane
//! neighbours are all myocardium; sectors around each slice's myocardial centre, pooled over the
//! slices) whose mean signal is lowest.

use super::{MYOCARDIAL_DENSITY_G_PER_ML, measurement, require_finite, require_same_grid};
use crate::image::{input, mean_sd};
use crate::{
    AlgoError, Algorithm, ImageKind, ImageSpec, InputKind, InputRole, Inputs, MeasurementSpec,
    Outputs, ParamKind, ParamSpec, ParamValue, Params,
};
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use ndarray::{Array3, Zip};

/// See the module.
pub struct Lge;

/// Sectors the automatic remote region is chosen among (the six mid-ventricular AHA segments'
/// count, without their anatomical anchoring: only the lowest mean matters here).
pub const REMOTE_SECTORS: usize = 6;
/// The fewest remote voxels whose standard deviation is trusted.
pub const MIN_REMOTE_VOXELS: usize = 30;

/// The myocardium's voxels in `sector` of [`REMOTE_SECTORS`]: angles about each slice's
/// myocardial centroid in the slice plane, counted from the row direction.
fn sectors(myocardium: &Array3<bool>, g: &Geometry) -> Array3<Option<usize>> {
    let (di, dj, dk) = myocardium.dim();
    let [si, sj, _] = g.spacing();
    let mut out = Array3::from_elem((di, dj, dk), None);
    for k in 0..dk {
        let (mut n, mut ci, mut cj) = (0.0, 0.0, 0.0);
        for j in 0..dj {
            for i in 0..di {
                if myocardium[[i, j, k]] {
                    n += 1.0;
                    ci += i as f64;
                    cj += j as f64;
                }
            }
        }
        if n == 0.0 {
            continue;
        }
        let (ci, cj) = (ci / n, cj / n);
        let width = std::f64::consts::TAU / REMOTE_SECTORS as f64;
        for j in 0..dj {
            for i in 0..di {
                if myocardium[[i, j, k]] {
                    let angle = ((j as f64 - cj) * sj).atan2((i as f64 - ci) * si);
                    let s = ((angle + std::f64::consts::PI) / width) as usize;
                    out[[i, j, k]] = Some(s.min(REMOTE_SECTORS - 1));
                }
            }
        }
    }
    out
}

/// The myocardium's voxels whose four in-plane neighbours are myocardium too: away from its
/// borders, where a voxel shares no signal with the bright blood pool (as a reader draws a
/// remote region in the middle of the wall).
fn interior(myocardium: &Array3<bool>) -> Array3<bool> {
    let (di, dj, _) = myocardium.dim();
    let mut out = myocardium.clone();
    for ((i, j, k), v) in out.indexed_iter_mut() {
        if *v {
            *v = i > 0
                && j > 0
                && i + 1 < di
                && j + 1 < dj
                && myocardium[[i - 1, j, k]]
                && myocardium[[i + 1, j, k]]
                && myocardium[[i, j - 1, k]]
                && myocardium[[i, j + 1, k]];
        }
    }
    out
}

/// The sector of the myocardium's interior with the lowest mean signal (with enough voxels).
fn automatic_remote(
    image: &Array3<f32>,
    myocardium: &Array3<bool>,
    g: &Geometry,
) -> Result<Array3<bool>, AlgoError> {
    let sector = sectors(&interior(myocardium), g);
    let mut sums = [(0.0f64, 0usize); REMOTE_SECTORS];
    Zip::from(&sector).and(image).for_each(|s, v| {
        if let Some(s) = s {
            sums[*s].0 += f64::from(*v);
            sums[*s].1 += 1;
        }
    });
    let lowest = (0..REMOTE_SECTORS)
        .filter(|s| sums[*s].1 >= MIN_REMOTE_VOXELS)
        .min_by(|a, b| {
            let mean = |s: usize| sums[s].0 / sums[s].1 as f64;
            mean(*a).total_cmp(&mean(*b))
        })
        .ok_or_else(|| AlgoError::Input {
            role: "myocardium".into(),
            why: format!(
                "too thin or small for an automatic remote region: no sector of its interior ({REMOTE_SECTORS} sectors) holds {MIN_REMOTE_VOXELS} voxels; draw a remote mask"
            ),
        })?;
    Ok(sector.mapv(|s| s == Some(lowest)))
}

/// The mask of a role on the image's grid, as booleans (above ½ inside), refused when empty.
fn mask(role: &str, v: &Volume<f32>, image: &Volume<f32>) -> Result<Array3<bool>, AlgoError> {
    require_same_grid("lge", image, role, v)?;
    require_finite(role, v)?;
    let m = v.data.mapv(|x| x > 0.5);
    if !m.iter().any(|b| *b) {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: "the mask is empty: no voxel inside".into(),
        });
    }
    Ok(m)
}

fn as_image(mask: &Array3<bool>, g: &Geometry) -> Result<Volume<f32>, AlgoError> {
    Volume::new(mask.mapv(|b| if b { 1.0 } else { 0.0 }), g.clone())
        .map_err(|e| AlgoError::Malformed(e.to_string()))
}

impl Algorithm for Lge {
    fn id(&self) -> &'static str {
        "cardiac.lge"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "Late gadolinium enhancement extent (volume, mass at 1.05 g/mL, % of the LV myocardium) by the n-SD threshold over remote myocardium (n 2-6, default 5) and by full width at half maximum; remote myocardium drawn, or chosen automatically as the darkest of six myocardial sectors (docs/algorithms/cardiac.lge.md)."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Schulz-Menger J et al. Standardized image interpretation and post-processing in cardiovascular magnetic resonance - 2020 update. J Cardiovasc Magn Reson 2020;22:19. doi:10.1186/s12968-020-00610-6",
            "Amado LC et al. Accurate and objective infarct sizing by contrast-enhanced magnetic resonance imaging in a canine myocardial infarction model. J Am Coll Cardiol 2004;44:2383-2389. doi:10.1016/j.jacc.2004.09.020",
            "Flett AS et al. Evaluation of techniques for the quantification of myocardial scar of differing etiology using cardiac magnetic resonance. JACC Cardiovasc Imaging 2011;4:150-156. doi:10.1016/j.jcmg.2010.11.015",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "lge",
                kind: InputKind::Image,
                required: true,
                description: "the late-enhancement image (magnitude inversion recovery, short axis), normal myocardium nulled",
            },
            InputRole {
                role: "myocardium",
                kind: InputKind::Mask,
                required: true,
                description: "the LV myocardium on the LGE image's grid",
            },
            InputRole {
                role: "remote",
                kind: InputKind::Mask,
                required: false,
                description: "remote (normal) myocardium: the reference of the n-SD threshold (only its voxels inside the myocardium count); without it set auto-remote=true",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "n-sd",
                kind: ParamKind::Number { min: 2.0, max: 6.0 },
                default: ParamValue::Number(5.0),
                unit: None,
                description: "standard deviations above the remote mean that count as enhanced",
            },
            ParamSpec {
                name: "auto-remote",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(false),
                unit: None,
                description: "without a remote mask, take the darkest of six myocardial sectors as remote",
            },
        ]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        let m = |name, unit, description| MeasurementSpec {
            name,
            unit,
            description,
        };
        vec![
            m("myocardium-volume", "mL", "the myocardium mask's volume"),
            m("myocardium-mass", "g", "its volume × 1.05 g/mL"),
            m(
                "remote-mean",
                "[arb'U]",
                "mean signal of the remote myocardium",
            ),
            m("remote-sd", "[arb'U]", "its standard deviation"),
            m(
                "remote-voxels",
                "1",
                "remote voxels (inside the myocardium)",
            ),
            m("threshold-nsd", "[arb'U]", "remote mean + n SD"),
            m("lge-volume-nsd", "mL", "enhanced myocardium by n-SD"),
            m("lge-mass-nsd", "g", "its volume × 1.05 g/mL"),
            m("lge-percent-nsd", "%", "its share of the myocardium"),
            m(
                "threshold-fwhm",
                "[arb'U]",
                "half the maximal signal of the n-SD-enhanced myocardium (absent when it is empty)",
            ),
            m("lge-volume-fwhm", "mL", "enhanced myocardium by FWHM"),
            m("lge-mass-fwhm", "g", "its volume × 1.05 g/mL"),
            m("lge-percent-fwhm", "%", "its share of the myocardium"),
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![
            ImageSpec {
                role: "enhanced-nsd",
                description: "the myocardium enhanced by n-SD (1 inside)",
                kind: ImageKind::Mask,
                grid: "lge",
            },
            ImageSpec {
                role: "enhanced-fwhm",
                description: "the myocardium enhanced by FWHM (1 inside)",
                kind: ImageKind::Mask,
                grid: "lge",
            },
            ImageSpec {
                role: "remote",
                description: "the remote myocardium used (the given mask's part inside the myocardium, or the sector chosen)",
                kind: ImageKind::Mask,
                grid: "lge",
            },
        ]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let image = input(inputs, "lge")?;
        require_finite("lge", image)?;
        let g = &image.geometry;
        let myocardium = mask("myocardium", input(inputs, "myocardium")?, image)?;
        let n_sd = params.number("n-sd").unwrap_or(5.0);
        let remote = match (inputs.get("remote"), params.boolean("auto-remote")) {
            (Some(r), _) => {
                let r = mask("remote", r, image)?;
                Zip::from(&r).and(&myocardium).map_collect(|a, b| *a && *b)
            }
            (None, Some(true)) => automatic_remote(&image.data, &myocardium, g)?,
            (None, _) => {
                return Err(AlgoError::Input {
                    role: "remote".into(),
                    why: "missing: the n-SD threshold is set over remote (normal) myocardium; give a remote mask or set auto-remote=true".into(),
                });
            }
        };
        let values = |m: &Array3<bool>| -> Vec<f64> {
            Zip::from(&image.data)
                .and(m)
                .fold(Vec::new(), |mut out, v, inside| {
                    if *inside {
                        out.push(f64::from(*v));
                    }
                    out
                })
        };
        let remote_values = values(&remote);
        if remote_values.len() < MIN_REMOTE_VOXELS {
            return Err(AlgoError::Input {
                role: "remote".into(),
                why: format!(
                    "{} of its voxels lie inside the myocardium, fewer than the {MIN_REMOTE_VOXELS} a standard deviation needs",
                    remote_values.len()
                ),
            });
        }
        let (mean, sd) = mean_sd(&remote_values).unwrap_or((0.0, 0.0));
        if sd <= 0.0 {
            return Err(AlgoError::Input {
                role: "lge".into(),
                why: format!(
                    "constant ({mean}) over the remote myocardium: no noise to set an n-SD threshold by (a synthetic or masked image?)"
                ),
            });
        }
        let nsd_threshold = mean + n_sd * sd;
        let above = |t: f64, strict: bool| {
            Zip::from(&image.data).and(&myocardium).map_collect(|v, m| {
                *m && if strict {
                    f64::from(*v) > t
                } else {
                    f64::from(*v) >= t
                }
            })
        };
        let nsd = above(nsd_threshold, true);
        // Half the maximum must stand above what the n-SD threshold calls normal: otherwise
        // there is no clearly hyperenhanced region (only noise or partial volume crossed the
        // n-SD threshold) and half its maximum would count normal myocardium as scar.
        let peak = values(&nsd).into_iter().fold(f64::NEG_INFINITY, f64::max);
        let fwhm_threshold = (peak.is_finite() && peak / 2.0 > nsd_threshold).then_some(peak / 2.0);
        let fwhm = match fwhm_threshold {
            Some(t) => above(t, false),
            None => Array3::from_elem(myocardium.dim(), false),
        };
        let voxel_ml = g.voxel_volume() / 1000.0;
        let count = |m: &Array3<bool>| m.iter().filter(|b| **b).count() as f64;
        let myocardium_ml = count(&myocardium) * voxel_ml;
        let mut measurements = vec![
            measurement("myocardium-volume", myocardium_ml, "mL"),
            measurement(
                "myocardium-mass",
                myocardium_ml * MYOCARDIAL_DENSITY_G_PER_ML,
                "g",
            ),
            measurement("remote-mean", mean, "[arb'U]"),
            measurement("remote-sd", sd, "[arb'U]"),
            measurement("remote-voxels", remote_values.len() as f64, "1"),
            measurement("threshold-nsd", nsd_threshold, "[arb'U]"),
        ];
        let mut extent = |method: &str, m: &Array3<bool>| {
            let ml = count(m) * voxel_ml;
            measurements.push(measurement(&format!("lge-volume-{method}"), ml, "mL"));
            measurements.push(measurement(
                &format!("lge-mass-{method}"),
                ml * MYOCARDIAL_DENSITY_G_PER_ML,
                "g",
            ));
            measurements.push(measurement(
                &format!("lge-percent-{method}"),
                100.0 * ml / myocardium_ml,
                "%",
            ));
        };
        extent("nsd", &nsd);
        if let Some(t) = fwhm_threshold {
            extent("fwhm", &fwhm);
            measurements.push(measurement("threshold-fwhm", t, "[arb'U]"));
        } else if !nsd.iter().any(|b| *b) {
            // Nothing enhanced by either method.
            extent("fwhm", &fwhm);
        }
        Ok(Outputs {
            measurements,
            images: vec![
                ("enhanced-nsd".into(), as_image(&nsd, g)?),
                ("enhanced-fwhm".into(), as_image(&fwhm, g)?),
                ("remote".into(), as_image(&remote, g)?),
            ],
            tables: Vec::new(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests;
