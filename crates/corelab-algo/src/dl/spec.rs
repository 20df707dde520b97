//! What a segmentation network needs besides its weights: how its input is prepared, how it is
//! tiled, what its output channels are and how they are cleaned. A trial declares it as the
//! parameters of `dl.segment` (so the version lock holds it, with the model file's hash);
//! the reference model carries its own.

use crate::dl::DlError;
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use serde::{Deserialize, Serialize};

/// Which way the voxel axes run before the network sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orientation {
    /// As stored.
    Native,
    /// i towards the patient's right, j anterior, k superior (NIfTI's canonical RAS+).
    Ras,
    /// i towards the patient's left, j posterior, k superior (DICOM's LPS+).
    Lps,
}

/// How intensities are normalised (nnU-Net's schemes).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "scheme")]
pub enum Normalisation {
    /// None: the input is already as the network expects it.
    None,
    /// `(x − mean) / sd` over the whole volume (MR).
    ZScore,
    /// `(x − mean) / sd` over the nonzero voxels; zero stays zero (skull-stripped MR).
    ZScoreNonzero,
    /// CT: clip to `[low, high]`, then `(x − mean) / sd` with the training set's values.
    Ct {
        /// Lower clip (HU).
        low: f64,
        /// Upper clip (HU).
        high: f64,
        /// The training foreground's mean after clipping.
        mean: f64,
        /// Its standard deviation.
        sd: f64,
    },
    /// Clip to the volume's `low`th and `high`th percentiles, then scale that range to [0, 1].
    Percentile {
        /// Lower percentile (0–100).
        low: f64,
        /// Upper percentile (0–100).
        high: f64,
    },
}

/// A model's preprocessing, tiling, outputs and post-processing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Voxel size (mm) the network works at; `None` keeps the input's.
    pub target_spacing_mm: Option<[f64; 3]>,
    /// Axis order and direction the network expects.
    pub orientation: Orientation,
    /// Intensity normalisation.
    pub normalisation: Normalisation,
    /// The network's input patch (voxels along the three axes, as the tensor's last three).
    pub patch: [usize; 3],
    /// Fraction of a patch that neighbouring patches share (nnU-Net: 0.5).
    pub overlap: f64,
    /// Test-time augmentation: average the network over the 8 mirrorings of each patch.
    pub mirror: bool,
    /// Patches per network call.
    pub batch: usize,
    /// The output channels after the background (channel 0): `(label value, name)`, in
    /// channel order.
    pub classes: Vec<(u16, String)>,
    /// Classes of which only the largest connected component is kept.
    pub largest_component: Vec<u16>,
    /// Per class, the smallest connected component (mm³) kept; smaller ones become background.
    pub min_component_mm3: Vec<(u16, f64)>,
}

/// The value padding gets around a volume smaller than a patch (after normalisation), as in
/// nnU-Net and in the reference model's training.
pub const PAD: f32 = 0.0;

impl ModelSpec {
    /// Checks that the parts fit together.
    pub fn check(&self) -> Result<(), DlError> {
        let bad = |why: String| Err(DlError::Spec(why));
        if let Some(s) = self.target_spacing_mm
            && s.iter().any(|v| !(v.is_finite() && *v > 0.0 && *v <= 20.0))
        {
            return bad(format!(
                "target spacing {s:?} mm: each must be above 0 and at most 20"
            ));
        }
        if self.patch.iter().any(|p| !(4..=512).contains(p)) {
            return bad(format!(
                "patch {:?}: each side from 4 to 512 voxels",
                self.patch
            ));
        }
        if !(0.0..0.95).contains(&self.overlap) {
            return bad(format!("overlap {}: from 0 to below 0.95", self.overlap));
        }
        if !(1..=64).contains(&self.batch) {
            return bad(format!("batch {}: from 1 to 64", self.batch));
        }
        if self.classes.is_empty() {
            return bad("no classes: the network must segment at least one".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (v, name) in &self.classes {
            if *v == 0 || !seen.insert(*v) || name.trim().is_empty() {
                return bad(format!(
                    "class {v}:{name:?}: label values are distinct, above 0, and named"
                ));
            }
        }
        for v in self
            .largest_component
            .iter()
            .chain(self.min_component_mm3.iter().map(|(v, _)| v))
        {
            if !seen.contains(v) {
                return bad(format!("post-processing names class {v}, which is not one"));
            }
        }
        if let Some((v, mm3)) = self
            .min_component_mm3
            .iter()
            .find(|(_, mm3)| !(mm3.is_finite() && *mm3 >= 0.0))
        {
            return bad(format!("class {v}: minimum component {mm3} mm³"));
        }
        match self.normalisation {
            Normalisation::Ct { low, high, sd, .. } if !(low < high && sd > 0.0) => {
                bad(format!("CT window {low}..{high} with sd {sd}"))
            }
            Normalisation::Percentile { low, high }
                if !(0.0 <= low && low < high && high <= 100.0) =>
            {
                bad(format!("percentiles {low}..{high}"))
            }
            _ => Ok(()),
        }
    }

    /// Output channels of the network: background and each class.
    pub fn channels(&self) -> usize {
        self.classes.len() + 1
    }

    /// The parameters a trial gives `dl.segment` (each with the default of a one-class MR
    /// model at native spacing).
    pub fn parameters() -> Vec<ParamSpec> {
        let text = |name, default: &str, description| ParamSpec {
            name,
            kind: ParamKind::Text { max_chars: 200 },
            default: ParamValue::Text(default.to_owned()),
            unit: None,
            description,
        };
        let number = |name, default, min, max, unit, description| ParamSpec {
            name,
            kind: ParamKind::Number { min, max },
            default: ParamValue::Number(default),
            unit,
            description,
        };
        vec![
            text(
                "target-spacing",
                "native",
                "voxel size the network works at: `X,Y,Z` in mm, or `native`",
            ),
            ParamSpec {
                name: "orientation",
                kind: ParamKind::Choice {
                    values: &["native", "ras", "lps"],
                },
                default: ParamValue::Choice("native".into()),
                unit: None,
                description: "axis order the network expects (voxel axes permuted and flipped, never interpolated)",
            },
            ParamSpec {
                name: "normalisation",
                kind: ParamKind::Choice {
                    values: &["zscore", "zscore-nonzero", "ct", "percentile", "none"],
                },
                default: ParamValue::Choice("zscore".into()),
                unit: None,
                description: "intensity normalisation: z-score over the volume or its nonzero voxels, CT window then the training mean and SD, percentile clip to [0, 1], or none",
            },
            number(
                "window-low",
                -1000.0,
                -100_000.0,
                100_000.0,
                None,
                "CT: lower clip",
            ),
            number(
                "window-high",
                1000.0,
                -100_000.0,
                100_000.0,
                None,
                "CT: upper clip",
            ),
            number(
                "window-mean",
                0.0,
                -100_000.0,
                100_000.0,
                None,
                "CT: the training foreground's mean after clipping",
            ),
            number(
                "window-sd",
                1.0,
                1e-9,
                100_000.0,
                None,
                "CT: its standard deviation",
            ),
            number(
                "percentile-low",
                0.5,
                0.0,
                100.0,
                Some("%"),
                "percentile: lower clip",
            ),
            number(
                "percentile-high",
                99.5,
                0.0,
                100.0,
                Some("%"),
                "percentile: upper clip",
            ),
            text(
                "patch",
                "64,64,64",
                "the network's input patch: `X,Y,Z` voxels",
            ),
            number(
                "overlap",
                0.5,
                0.0,
                0.9,
                Some("1"),
                "fraction of a patch neighbouring patches share",
            ),
            ParamSpec {
                name: "mirror",
                kind: ParamKind::Boolean,
                default: ParamValue::Boolean(false),
                unit: None,
                description: "test-time mirroring: average over the 8 flips of each patch (8× slower)",
            },
            ParamSpec {
                name: "batch",
                kind: ParamKind::Integer { min: 1, max: 64 },
                default: ParamValue::Integer(2),
                unit: None,
                description: "patches per network call",
            },
            text(
                "classes",
                "1:foreground",
                "output channels after the background: `VALUE:NAME,…` in channel order",
            ),
            text(
                "largest-component",
                "",
                "classes of which only the largest connected component is kept: `VALUE,…`",
            ),
            text(
                "min-component",
                "",
                "smallest component kept per class: `VALUE:MM3,…`",
            ),
        ]
    }

    /// The specification a trial's parameters give.
    pub fn from_params(p: &Params) -> Result<Self, DlError> {
        let text = |name: &str| p.text(name).unwrap_or_default().trim().to_owned();
        let number = |name: &str| p.number(name).unwrap_or(0.0);
        let spacing = text("target-spacing");
        let target_spacing_mm = if spacing.eq_ignore_ascii_case("native") || spacing.is_empty() {
            None
        } else {
            Some(triple(&spacing, "target-spacing", |s| {
                s.parse::<f64>().ok().filter(|v| v.is_finite())
            })?)
        };
        let orientation = match p.choice("orientation").unwrap_or("native") {
            "ras" => Orientation::Ras,
            "lps" => Orientation::Lps,
            _ => Orientation::Native,
        };
        let normalisation = match p.choice("normalisation").unwrap_or("zscore") {
            "zscore-nonzero" => Normalisation::ZScoreNonzero,
            "none" => Normalisation::None,
            "ct" => Normalisation::Ct {
                low: number("window-low"),
                high: number("window-high"),
                mean: number("window-mean"),
                sd: number("window-sd"),
            },
            "percentile" => Normalisation::Percentile {
                low: number("percentile-low"),
                high: number("percentile-high"),
            },
            _ => Normalisation::ZScore,
        };
        let patch = triple(&text("patch"), "patch", |s| s.parse::<usize>().ok())?;
        let classes = pairs(&text("classes"), "classes", |s| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        })?;
        let largest_component = list(&text("largest-component"), "largest-component")?;
        let min_component_mm3 = pairs(&text("min-component"), "min-component", |s| {
            s.trim().parse::<f64>().ok()
        })?;
        let spec = Self {
            target_spacing_mm,
            orientation,
            normalisation,
            patch,
            overlap: p.number("overlap").unwrap_or(0.5),
            mirror: p.boolean("mirror").unwrap_or(false),
            batch: p.integer("batch").unwrap_or(1).max(1) as usize,
            classes,
            largest_component,
            min_component_mm3,
        };
        spec.check()?;
        Ok(spec)
    }
}

/// `A,B,C` as three values.
fn triple<T: Copy>(
    text: &str,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<[T; 3], DlError> {
    let values: Vec<Option<T>> = text.split(',').map(|s| parse(s.trim())).collect();
    match values.as_slice() {
        [Some(a), Some(b), Some(c)] => Ok([*a, *b, *c]),
        _ => Err(DlError::Spec(format!(
            "{name} {text:?}: expected three numbers `X,Y,Z`"
        ))),
    }
}

/// `V:X,V:X` as label values with a value each.
fn pairs<T>(
    text: &str,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(u16, T)>, DlError> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parsed = item
            .split_once(':')
            .and_then(|(v, x)| Some((v.trim().parse::<u16>().ok()?, parse(x)?)));
        match parsed {
            Some(pair) => out.push(pair),
            None => {
                return Err(DlError::Spec(format!(
                    "{name}: {item:?} is not `VALUE:…` with a label value from 1 to 65535"
                )));
            }
        }
    }
    Ok(out)
}

/// `V,V` as label values.
fn list(text: &str, name: &str) -> Result<Vec<u16>, DlError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u16>()
                .map_err(|_| DlError::Spec(format!("{name}: {s:?} is not a label value")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn params(given: &[(&str, &str)]) -> Result<Params, crate::AlgoError> {
        let given: BTreeMap<String, String> = given
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::params::resolve(&ModelSpec::parameters(), &given)
    }

    #[test]
    fn parameters_give_a_specification() {
        let p = params(&[
            ("target-spacing", "1, 1,2.5"),
            ("orientation", "ras"),
            ("normalisation", "ct"),
            ("window-low", "-160"),
            ("window-high", "240"),
            ("classes", "1:liver,2:tumour"),
            ("largest-component", "1"),
            ("min-component", "2:10"),
        ])
        .expect("valid");
        let s = ModelSpec::from_params(&p).expect("a spec");
        assert_eq!(s.target_spacing_mm, Some([1.0, 1.0, 2.5]));
        assert_eq!(s.orientation, Orientation::Ras);
        assert!(matches!(
            s.normalisation,
            Normalisation::Ct {
                low: -160.0,
                high: 240.0,
                ..
            }
        ));
        assert_eq!(s.classes, vec![(1, "liver".into()), (2, "tumour".into())]);
        assert_eq!(s.channels(), 3);
        assert_eq!(
            (s.largest_component, s.min_component_mm3),
            (vec![1], vec![(2, 10.0)])
        );
    }

    #[test]
    fn inconsistent_specifications_say_what_is_wrong() {
        let spec = |given: &[(&str, &str)]| {
            ModelSpec::from_params(&params(given).expect("valid"))
                .expect_err("refused")
                .to_string()
        };
        assert!(spec(&[("patch", "64,64")]).contains("patch \"64,64\""));
        assert!(spec(&[("patch", "2,64,64")]).contains("from 4 to 512"));
        assert!(spec(&[("classes", "0:bg")]).contains("above 0"));
        assert!(spec(&[("classes", "1:a,1:b")]).contains("distinct"));
        assert!(spec(&[("largest-component", "3")]).contains("class 3"));
        assert!(spec(&[("target-spacing", "1,x,1")]).contains("target-spacing"));
        assert!(
            spec(&[
                ("normalisation", "percentile"),
                ("percentile-low", "99"),
                ("percentile-high", "1")
            ])
            .contains("percentiles")
        );
    }
}
