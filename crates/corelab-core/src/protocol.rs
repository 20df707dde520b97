//! The trial protocol in `trial.toml`: the visit schedule (`[[visits]]`), the series roles a
//! visit expects and how a series is recognised as one (`[roles.NAME]`), QC options (`[qc]`) and
//! the endpoints (`[[endpoints]]`). Types and checks only; the QC engine applies them.
//! `docs/trial-toml.md` is the reference.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;

/// One `[[visits]]` entry: a time point of the schedule and the series roles it expects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitSpec {
    /// The visit's name, unique within the trial (e.g. `baseline`, `week-24`).
    pub name: String,
    /// Target day from baseline; the first visit is the baseline, day 0.
    pub day: i64,
    /// The window around `day`, ± days (0: that day exactly).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window_days: i64,
    /// Series roles (names of `[roles]`) the visit must have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// Series roles the visit may have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optional: Vec<String>,
    /// The Clinical Trial Time Point ID (0012,0050) value that names this visit, when sites send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_point: Option<String>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl VisitSpec {
    /// The first and last day of the visit's window, inclusive.
    pub fn window(&self) -> (i64, i64) {
        (
            self.day.saturating_sub(self.window_days),
            self.day.saturating_add(self.window_days),
        )
    }

    /// Whether a day from baseline falls in the visit's window.
    pub fn in_window(&self, day: i64) -> bool {
        let (first, last) = self.window();
        (first..=last).contains(&day)
    }

    /// The roles the visit expects: required first, then optional.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.required
            .iter()
            .chain(&self.optional)
            .map(String::as_str)
    }
}

/// One `[roles.NAME]` table: a kind of series the protocol expects (T1w, FLAIR, CT_CHEST, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// What the role is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How a series is recognised as this role (`match`).
    #[serde(rename = "match")]
    pub matching: MatchRule,
    /// Acquisition requirements a series of this role must meet.
    #[serde(default, skip_serializing_if = "Requirements::is_empty")]
    pub require: Requirements,
    /// Image quality metric thresholds.
    #[serde(default, skip_serializing_if = "QualityThresholds::is_empty")]
    pub quality: QualityThresholds,
}

/// How a series is recognised as a role: every condition given must hold; a list means "any of".
/// At least one condition must be given (an empty rule would match every series).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRule {
    /// Modality (0008,0060) codes: "MR", "CT", "PT", …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modality: Vec<String>,
    /// SOP Class UIDs (0008,0016).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sop_class: Vec<String>,
    /// Case-insensitive glob patterns (`*` and `?`, see [`glob_match`]) on Series Description
    /// (0008,103E) or Protocol Name (0018,1030).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub description: Vec<String>,
    /// The same, none of which may match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_description: Vec<String>,
    /// Any of these among the Scanning Sequence (0018,0020) values: "SE", "IR", "GR", "EP", "RM".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scanning_sequence: Vec<String>,
    /// Any of these among the Sequence Variant (0018,0021) values: "SK", "MP", "SP", …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequence_variant: Vec<String>,
    /// MR Acquisition Type (0018,0023): "2D" or "3D".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr_acquisition_type: Option<String>,
    /// A contrast agent given (true: Contrast/Bolus Agent (0018,0010) present) or not (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrast: Option<bool>,
    /// Any of these among the Image Type (0008,0008) values, e.g. "ORIGINAL", "DERIVED".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_type: Vec<String>,
    /// Repetition Time (0018,0080), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tr_ms: Option<Range>,
    /// Echo Time (0018,0081), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub te_ms: Option<Range>,
    /// Inversion Time (0018,0082), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ti_ms: Option<Range>,
}

impl MatchRule {
    /// Whether no condition is given (such a rule is refused: it would match every series).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The numeric conditions given, by key.
    pub fn ranges(&self) -> Vec<(&'static str, Range)> {
        given([
            ("tr_ms", self.tr_ms),
            ("te_ms", self.te_ms),
            ("ti_ms", self.ti_ms),
        ])
    }
}

/// Acquisition requirements of a role; each is optional. A series that matches a role but fails
/// one of them is a QC finding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Magnetic Field Strength (0018,0087), tesla.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_strength_t: Option<Range>,
    /// Slice Thickness (0018,0050), mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_thickness_mm: Option<Range>,
    /// Distance between slice centres, mm (from the geometry, not Spacing Between Slices alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_spacing_mm: Option<Range>,
    /// Pixel Spacing (0028,0030), each of row and column, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_spacing_mm: Option<Range>,
    /// Rows (0028,0010) and Columns (0028,0011), each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Range>,
    /// Repetition Time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tr_ms: Option<Range>,
    /// Echo Time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub te_ms: Option<Range>,
    /// Inversion Time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ti_ms: Option<Range>,
    /// Flip Angle (0018,1314), degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip_angle_deg: Option<Range>,
    /// Extent of the series along the slice direction, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_mm: Option<Range>,
    /// PET: minutes from injection (Radiopharmaceutical Start DateTime) to the series start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptake_min: Option<Range>,
    /// PET: injected activity (Radionuclide Total Dose), MBq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_mbq: Option<Range>,
    /// A contrast agent must (true) or must not (false) have been given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrast: Option<bool>,
    /// The slice orientation, from Image Orientation (Patient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<Orientation>,
    /// Accepted Convolution Kernel (0018,1210) values: case-insensitive glob patterns, any of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel: Vec<String>,
    /// Accepted radiopharmaceuticals (0018,0031): case-insensitive substrings, any of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub radiopharmaceutical: Vec<String>,
}

impl Requirements {
    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The numeric requirements given, by key, in the order of the fields.
    pub fn ranges(&self) -> Vec<(&'static str, Range)> {
        given([
            ("field_strength_t", self.field_strength_t),
            ("slice_thickness_mm", self.slice_thickness_mm),
            ("slice_spacing_mm", self.slice_spacing_mm),
            ("pixel_spacing_mm", self.pixel_spacing_mm),
            ("matrix", self.matrix),
            ("tr_ms", self.tr_ms),
            ("te_ms", self.te_ms),
            ("ti_ms", self.ti_ms),
            ("flip_angle_deg", self.flip_angle_deg),
            ("coverage_mm", self.coverage_mm),
            ("uptake_min", self.uptake_min),
            ("dose_mbq", self.dose_mbq),
        ])
    }
}

/// Thresholds on image quality metrics (MRIQC's definitions where they have one); each optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityThresholds {
    /// Signal-to-noise ratio (foreground mean over foreground SD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snr: Option<Range>,
    /// SNR with the noise taken from the air background (Dietrich et al. 2007).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snr_dietrich: Option<Range>,
    /// Contrast-to-noise ratio (grey/white matter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnr: Option<Range>,
    /// Coefficient of joint variation of grey and white matter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cjv: Option<Range>,
    /// Entropy focus criterion (blurring, ghosting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efc: Option<Range>,
    /// Foreground-to-background energy ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fber: Option<Range>,
    /// Ghost-to-signal ratio along the phase-encoding direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ghost_ratio: Option<Range>,
    /// Mean framewise displacement of a time series, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd_mean_mm: Option<Range>,
    /// Largest framewise displacement of a time series, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd_max_mm: Option<Range>,
    /// CT: standard deviation in a uniform region, HU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_noise_hu: Option<Range>,
    /// CT: mean of air outside the body, HU (calibration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub air_hu: Option<Range>,
}

impl QualityThresholds {
    /// Whether no threshold is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The thresholds given, by key, in the order of the fields.
    pub fn ranges(&self) -> Vec<(&'static str, Range)> {
        given([
            ("snr", self.snr),
            ("snr_dietrich", self.snr_dietrich),
            ("cnr", self.cnr),
            ("cjv", self.cjv),
            ("efc", self.efc),
            ("fber", self.fber),
            ("ghost_ratio", self.ghost_ratio),
            ("fd_mean_mm", self.fd_mean_mm),
            ("fd_max_mm", self.fd_max_mm),
            ("ct_noise_hu", self.ct_noise_hu),
            ("air_hu", self.air_hu),
        ])
    }
}

fn given<const N: usize>(all: [(&'static str, Option<Range>); N]) -> Vec<(&'static str, Range)> {
    all.into_iter()
        .filter_map(|(k, r)| r.map(|r| (k, r)))
        .collect()
}

/// The `[qc]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QcSection {
    /// Flag a subject whose scanner (manufacturer, model, field strength or software version)
    /// changes across visits. On by default.
    #[serde(default = "yes")]
    pub scanner_consistency: bool,
    /// What happens to a series that matches no role.
    #[serde(default)]
    pub unmatched: UnmatchedPolicy,
}

fn yes() -> bool {
    true
}

impl Default for QcSection {
    fn default() -> Self {
        Self {
            scanner_consistency: true,
            unmatched: UnmatchedPolicy::default(),
        }
    }
}

impl QcSection {
    /// Whether every option has its default (the table is then left out when written).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A slice orientation (lowercase in TOML).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orientation {
    /// Slices perpendicular to the head–foot axis.
    Axial,
    /// Slices perpendicular to the left–right axis.
    Sagittal,
    /// Slices perpendicular to the front–back axis.
    Coronal,
}

impl fmt::Display for Orientation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Axial => "axial",
            Self::Sagittal => "sagittal",
            Self::Coronal => "coronal",
        })
    }
}

/// What QC does with a series that matches no role (lowercase in TOML).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmatchedPolicy {
    /// Put it up for review (the default).
    #[default]
    Review,
    /// List it, but raise nothing.
    Ignore,
}

/// One `[[endpoints]]` entry: a measurement of an algorithm, at some visits, that the trial reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// The endpoint's name, unique within the trial.
    pub name: String,
    /// The id of an `[[algorithms]]` entry.
    pub algorithm: String,
    /// The name of the algorithm's measurement.
    pub measure: String,
    /// The visits it is measured at; every visit when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visits: Vec<String>,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An inclusive range of numbers, open on a side without a bound. In TOML: `[min, max]`,
/// `{ min = 1.0 }`, `{ max = 3 }`, `{ min = 1, max = 2 }`, or a single number meaning exactly it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// The lowest value accepted.
    pub min: Option<f64>,
    /// The highest value accepted.
    pub max: Option<f64>,
}

impl Range {
    /// `min ≤ v ≤ max`.
    pub fn between(min: f64, max: f64) -> Self {
        Self {
            min: Some(min),
            max: Some(max),
        }
    }

    /// `v ≥ min`.
    pub fn at_least(min: f64) -> Self {
        Self {
            min: Some(min),
            max: None,
        }
    }

    /// `v ≤ max`.
    pub fn at_most(max: f64) -> Self {
        Self {
            min: None,
            max: Some(max),
        }
    }

    /// Exactly `v`.
    pub fn exactly(v: f64) -> Self {
        Self::between(v, v)
    }

    /// Whether `v` lies in the range, bounds included (NaN never does).
    pub fn contains(&self, v: f64) -> bool {
        !v.is_nan() && self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    /// What is wrong with the range as written, if anything: no bound, a bound that is not a
    /// finite number, or min above max.
    pub fn problem(&self) -> Option<String> {
        if let Some(v) = [self.min, self.max]
            .into_iter()
            .flatten()
            .find(|v| !v.is_finite())
        {
            return Some(format!("{v} is not a finite number"));
        }
        match (self.min, self.max) {
            (None, None) => Some("needs a min or a max".into()),
            (Some(lo), Some(hi)) if lo > hi => Some(format!("min {lo} is above max {hi}")),
            _ => None,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) if lo == hi => write!(f, "{lo}"),
            (Some(lo), Some(hi)) => write!(f, "{lo}–{hi}"),
            (Some(lo), None) => write!(f, "≥ {lo}"),
            (None, Some(hi)) => write!(f, "≤ {hi}"),
            (None, None) => f.write_str("any"),
        }
    }
}

/// The table form a range is written back as.
#[derive(Serialize)]
struct RangeTable {
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
}

impl Serialize for Range {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RangeTable {
            min: self.min,
            max: self.max,
        }
        .serialize(s)
    }
}

/// A number, integer or float.
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Range;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a range: [min, max], { min = … }, { max = … }, both, or one number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Range, E> {
                Ok(Range::exactly(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Range, E> {
                Ok(Range::exactly(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Range, E> {
                Ok(Range::exactly(v as f64))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Range, A::Error> {
                let two = "a range [min, max] of two numbers";
                let Number(min) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &two))?;
                let Number(max) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &two))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &two));
                }
                Ok(Range::between(min, max))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Range, A::Error> {
                let mut r = Range {
                    min: None,
                    max: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "min" => &mut r.min,
                        "max" => &mut r.max,
                        other => return Err(de::Error::unknown_field(other, &["min", "max"])),
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("{key} is given twice")));
                    }
                    *slot = Some(map.next_value::<Number>()?.0);
                }
                Ok(r)
            }
        }
        d.deserialize_any(V)
    }
}

/// Whether `text` matches a glob `pattern`, ignoring case: `*` matches any run of characters
/// (none included), `?` exactly one, anything else itself. Linear backtracking over the last `*`
/// only, so the time is at most proportional to the product of the lengths, never exponential.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and the text position it has been tried up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    // Let the `*` take one more character and try again after it.
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether a role name is an identifier: letters, digits, `_` and `-`.
pub fn is_role_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A list as `a|b|c`, for summaries.
fn any_of(list: &[String]) -> String {
    list.join("|")
}

/// One line: the conditions given, e.g. `modality MR, description *t1*|*mprage*, 3D`.
impl fmt::Display for MatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (key, list) in [
            ("modality", &self.modality),
            ("sop_class", &self.sop_class),
            ("description", &self.description),
            ("not", &self.exclude_description),
            ("scanning_sequence", &self.scanning_sequence),
            ("sequence_variant", &self.sequence_variant),
            ("image_type", &self.image_type),
        ] {
            if !list.is_empty() {
                parts.push(format!("{key} {}", any_of(list)));
            }
        }
        parts.extend(self.mr_acquisition_type.clone());
        parts.extend(
            self.contrast
                .map(|c| if c { "contrast" } else { "no contrast" }.to_owned()),
        );
        parts.extend(self.ranges().into_iter().map(|(k, r)| format!("{k} {r}")));
        f.write_str(&parts.join(", "))
    }
}

/// One line: the requirements given, e.g. `slice_thickness_mm ≤ 1.2, contrast no, orientation axial`.
impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .ranges()
            .into_iter()
            .map(|(k, r)| format!("{k} {r}"))
            .collect();
        parts.extend(
            self.contrast
                .map(|c| format!("contrast {}", if c { "yes" } else { "no" })),
        );
        parts.extend(self.orientation.map(|o| format!("orientation {o}")));
        for (key, list) in [
            ("kernel", &self.kernel),
            ("radiopharmaceutical", &self.radiopharmaceutical),
        ] {
            if !list.is_empty() {
                parts.push(format!("{key} {}", any_of(list)));
            }
        }
        f.write_str(&parts.join(", "))
    }
}

/// One line: the thresholds given, e.g. `snr ≥ 10, efc ≤ 0.6`.
impl fmt::Display for QualityThresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .ranges()
            .into_iter()
            .map(|(k, r)| format!("{k} {r}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

mod check;
pub(crate) use check::check;

#[cfg(test)]
mod tests;
