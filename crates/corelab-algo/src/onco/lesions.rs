//! The lesion model the response engines share: one subject's lesions (identified at baseline
//! as target or non-target; new lesions at follow-ups) and, per visit, what was seen of each.
//! Readers: [`from_json`] (corelab's lesion JSON, documented in `docs/algorithms/onco.recist11.md`)
//! and [`super::sdtm::read`] (SDTM TU + TR). The engines check the criteria's own rules; this
//! module checks what every criterion needs: unique ids, known ids at follow-up, dates after
//! baseline, finite non-negative diameters.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A rule of the input broken, naming the rule, the lesion and the visit.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}{}{why} ({rule})", visit.as_ref().map(|v| format!("visit {v}: ")).unwrap_or_default(), lesion.as_ref().map(|l| format!("lesion {l}: ")).unwrap_or_default())]
pub struct RuleError {
    /// The rule broken: the criterion's clause, or the input format's.
    pub rule: &'static str,
    /// The lesion it concerns.
    pub lesion: Option<String>,
    /// The visit it concerns.
    pub visit: Option<String>,
    /// What is wrong.
    pub why: String,
}

impl RuleError {
    /// An error of `rule` about what `why` says.
    pub fn new(rule: &'static str, why: impl Into<String>) -> Self {
        Self {
            rule,
            lesion: None,
            visit: None,
            why: why.into(),
        }
    }
    /// Names the lesion.
    pub fn lesion(mut self, id: &str) -> Self {
        self.lesion = Some(id.to_owned());
        self
    }
    /// Names the visit.
    pub fn visit(mut self, label: &str) -> Self {
        self.visit = Some(label.to_owned());
        self
    }
}

/// The format rule of the lesion inputs (not a criterion's clause).
pub const INPUT_RULE: &str = "lesion input format";

/// A calendar date, as days since 1970-01-01 (ISO 8601 text; a partial date `YYYY-MM` or `YYYY`
/// is imputed to its first day, as SDTM `--DTC` partial dates are, and marked so).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Days since 1970-01-01.
    pub days: i64,
    /// The text as given.
    pub text: String,
    /// Whether the day (or month and day) was imputed.
    pub imputed: bool,
}

impl Date {
    /// Parses `YYYY-MM-DD` (a time after it is ignored), `YYYY-MM` or `YYYY`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let date = t.split('T').next().unwrap_or(t);
        let parts: Vec<&str> = date.split('-').collect();
        let num = |s: &str, len: usize| -> Option<i64> {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let (y, m, d, imputed) = match parts.as_slice() {
            [y] => (num(y, 4)?, 1, 1, true),
            [y, m] => (num(y, 4)?, num(m, 2)?, 1, true),
            [y, m, d] => (num(y, 4)?, num(m, 2)?, num(d, 2)?, false),
            _ => return None,
        };
        let month_days = [
            31,
            if is_leap(y) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
            return None;
        }
        Some(Self {
            days: days_from_civil(y, m, d),
            text: t.to_owned(),
            imputed,
        })
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a lesion was identified as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A measured target lesion (identified at baseline).
    Target,
    /// A non-target lesion, followed qualitatively (identified at baseline).
    NonTarget,
}

/// A lesion identified at baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesion {
    /// Its id (`T01`, `NT02`), unique within the subject.
    pub id: String,
    /// Target or non-target.
    pub role: Role,
    /// The organ (lymph nodes, all chains together, are one organ).
    pub organ: String,
    /// Whether it is a lymph node (measured on its short axis).
    pub nodal: bool,
}

/// Two perpendicular diameters in the axial plane, as given (either may be absent).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Diameters {
    /// The longest diameter, mm.
    pub long_mm: Option<f64>,
    /// The longest diameter perpendicular to it (a node's short axis), mm.
    pub short_mm: Option<f64>,
}

/// What was seen of a target lesion at a visit.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetSeen {
    /// Measured.
    Measured(Diameters),
    /// Split into fragments, each measured (the fragments' diameters are summed).
    Split(Vec<Diameters>),
    /// Merged into another target lesion, which carries the merged diameter (this one counts 0).
    MergedInto(String),
    /// Present but too small to measure (a default diameter is used).
    TooSmall,
    /// Disappeared (0 mm).
    Disappeared,
    /// Not assessed, or not evaluable.
    NotEvaluated,
}

/// What was seen of a non-target lesion (or of non-measurable disease) at a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Present (for a node: pathological, ≥ 10 mm short axis).
    Present,
    /// Absent (for a node: normal size, < 10 mm short axis).
    Absent,
    /// Unequivocal progression.
    Progression,
    /// Not assessed, or not evaluable.
    NotEvaluated,
}

/// A new lesion reported at a visit.
#[derive(Clone, Debug, PartialEq)]
pub struct NewLesion {
    /// Its id; the same id at a later visit is the same lesion.
    pub id: String,
    /// Whether the reader called it equivocal (if a later visit confirms it, progression dates
    /// from this visit).
    pub equivocal: bool,
}

/// A trend reported by the reader (RANO's clinical items).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// Better than at baseline (or lower, for a dose).
    Improved,
    /// Unchanged.
    Stable,
    /// Worse (or higher, for a dose).
    Worse,
}

/// RANO's non-imaging and non-enhancing items of a visit; each optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clinical {
    /// Corticosteroid dose versus baseline (`Improved` = lower).
    pub corticosteroids: Option<Trend>,
    /// Whether the patient takes corticosteroids above physiological replacement.
    pub on_corticosteroids: Option<bool>,
    /// Clinical status versus baseline.
    pub clinical_status: Option<Trend>,
    /// Non-enhancing (T2/FLAIR) disease versus baseline or best response.
    pub non_enhancing: Option<Trend>,
}

/// One visit: its date and what was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Visit {
    /// Its label (`BASELINE`, `WEEK 6`).
    pub label: String,
    /// Its date.
    pub date: Date,
    /// The CT slice thickness, mm, when reported (measurability is at least twice it).
    pub slice_thickness_mm: Option<f64>,
    /// Target lesions by id (a target absent from the map was not assessed).
    pub targets: BTreeMap<String, TargetSeen>,
    /// Non-target lesions by id (absent: not assessed).
    pub non_targets: BTreeMap<String, State>,
    /// New lesions reported.
    pub new_lesions: Vec<NewLesion>,
    /// RANO's clinical items.
    pub clinical: Clinical,
}

/// One subject's lesions and visits; `visits[0]` is baseline, the rest in date order.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    /// The subject's id.
    pub id: String,
    /// The study (SDTM STUDYID; the JSON's optional `study`), empty when not given.
    pub study: String,
    /// The date that durations (the minimum for stable disease) count from: the reference
    /// date when given (randomisation, first dose), else the baseline visit's date.
    pub reference: Date,
    /// Lesions identified at baseline.
    pub lesions: Vec<Lesion>,
    /// Visits, baseline first.
    pub visits: Vec<Visit>,
}

impl Subject {
    /// The lesion of an id.
    pub fn lesion(&self, id: &str) -> Option<&Lesion> {
        self.lesions.iter().find(|l| l.id == id)
    }
    /// The target lesions, in input order.
    pub fn targets(&self) -> impl Iterator<Item = &Lesion> {
        self.lesions.iter().filter(|l| l.role == Role::Target)
    }
    /// The non-target lesions, in input order.
    pub fn non_targets(&self) -> impl Iterator<Item = &Lesion> {
        self.lesions.iter().filter(|l| l.role == Role::NonTarget)
    }

    /// Sorts follow-ups by date and checks what every criterion needs: unique lesion ids, every
    /// id seen at a visit known (baseline lesions, or a new lesion), new lesion ids distinct
    /// from baseline ones, no follow-up dated before baseline, diameters finite and ≥ 0, merges
    /// into a target lesion of the same visit.
    pub fn check(mut self) -> Result<Self, RuleError> {
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.lesions {
            if !seen.insert(l.id.as_str()) {
                return Err(
                    RuleError::new(INPUT_RULE, "the id is given to two lesions").lesion(&l.id)
                );
            }
        }
        let Some(baseline) = self.visits.first() else {
            return Err(RuleError::new(
                INPUT_RULE,
                "no visits: the first visit is the baseline",
            ));
        };
        let base_day = baseline.date.days;
        let base_label = baseline.label.clone();
        for v in &self.visits[1..] {
            if v.date.days < base_day {
                return Err(RuleError::new(
                    "a follow-up comes after baseline",
                    format!(
                        "dated {} before the baseline {} ({})",
                        v.date.text, base_label, baseline.date.text
                    ),
                )
                .visit(&v.label));
            }
        }
        self.visits[1..].sort_by_key(|v| v.date.days);
        let mut new_ids = std::collections::BTreeSet::new();
        for (i, v) in self.visits.iter().enumerate() {
            if i == 0 && !v.new_lesions.is_empty() {
                return Err(RuleError::new(
                    INPUT_RULE,
                    "a new lesion at baseline: baseline lesions are targets or non-targets",
                )
                .lesion(&v.new_lesions[0].id)
                .visit(&v.label));
            }
            for n in &v.new_lesions {
                if self.lesion(&n.id).is_some() {
                    return Err(RuleError::new(
                        INPUT_RULE,
                        "reported as new, but the id is a baseline lesion's",
                    )
                    .lesion(&n.id)
                    .visit(&v.label));
                }
                new_ids.insert(n.id.clone());
            }
            if let Some(t) = v
                .slice_thickness_mm
                .filter(|t| !(t.is_finite() && *t > 0.0))
            {
                return Err(RuleError::new(
                    INPUT_RULE,
                    format!("slice thickness {t} mm: a positive number"),
                )
                .visit(&v.label));
            }
            for (id, seen) in &v.targets {
                match self.lesion(id).map(|l| l.role) {
                    Some(Role::Target) => {}
                    Some(Role::NonTarget) => {
                        return Err(RuleError::new(
                            INPUT_RULE,
                            "measured as a target, but identified at baseline as a non-target",
                        )
                        .lesion(id)
                        .visit(&v.label));
                    }
                    None => return Err(unknown(id, &v.label)),
                }
                check_seen(seen, id, v)?;
            }
            for id in v.non_targets.keys() {
                match self.lesion(id).map(|l| l.role) {
                    Some(Role::NonTarget) => {}
                    Some(Role::Target) => {
                        return Err(RuleError::new(INPUT_RULE, "given a qualitative state, but identified at baseline as a target (give its diameters)").lesion(id).visit(&v.label));
                    }
                    None => return Err(unknown(id, &v.label)),
                }
            }
        }
        Ok(self)
    }
}

fn unknown(id: &str, visit: &str) -> RuleError {
    RuleError::new(
        "lesions followed are those identified at baseline",
        "an unknown lesion id: not identified at baseline (report it as a new lesion if it is one)",
    )
    .lesion(id)
    .visit(visit)
}

fn check_seen(seen: &TargetSeen, id: &str, v: &Visit) -> Result<(), RuleError> {
    let bad = |d: Option<f64>| d.is_some_and(|x| !(x.is_finite() && x >= 0.0));
    let check = |d: &Diameters| {
        if bad(d.long_mm) || bad(d.short_mm) {
            Err(RuleError::new(
                INPUT_RULE,
                format!(
                    "diameters {:?} / {:?} mm: finite and ≥ 0",
                    d.long_mm, d.short_mm
                ),
            )
            .lesion(id)
            .visit(&v.label))
        } else {
            Ok(())
        }
    };
    match seen {
        TargetSeen::Measured(d) => check(d),
        TargetSeen::Split(parts) if parts.is_empty() => Err(RuleError::new(INPUT_RULE, "split into no fragments").lesion(id).visit(&v.label)),
        TargetSeen::Split(parts) => parts.iter().try_for_each(check),
        TargetSeen::MergedInto(into) => match v.targets.get(into) {
            Some(TargetSeen::Measured(_)) if into != id => Ok(()),
            _ => Err(RuleError::new(
                "merged target lesions: the merged lesion is measured on one of them",
                format!("merged into {into:?}, which is not another target lesion measured at this visit"),
            )
            .lesion(id)
            .visit(&v.label)),
        },
        _ => Ok(()),
    }
}

// ---- corelab's lesion JSON ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSubject {
    subject: String,
    #[serde(default)]
    study: String,
    #[serde(default)]
    reference_date: Option<String>,
    lesions: Vec<JsonLesion>,
    visits: Vec<JsonVisit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLesion {
    id: String,
    role: String,
    organ: String,
    #[serde(default)]
    nodal: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonVisit {
    visit: String,
    date: String,
    #[serde(default)]
    slice_thickness_mm: Option<f64>,
    #[serde(default)]
    measurements: Vec<JsonSeen>,
    #[serde(default)]
    new_lesions: Vec<JsonNew>,
    #[serde(default)]
    clinical: Option<JsonClinical>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSeen {
    lesion: String,
    #[serde(default)]
    long_axis_mm: Option<f64>,
    #[serde(default)]
    short_axis_mm: Option<f64>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    merged_into: Option<String>,
    #[serde(default)]
    fragments: Option<Vec<JsonDiameters>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDiameters {
    #[serde(default)]
    long_axis_mm: Option<f64>,
    #[serde(default)]
    short_axis_mm: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonNew {
    id: String,
    #[serde(default)]
    equivocal: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonClinical {
    #[serde(default)]
    corticosteroids: Option<String>,
    #[serde(default)]
    on_corticosteroids: Option<bool>,
    #[serde(default)]
    clinical_status: Option<String>,
    #[serde(default)]
    non_enhancing: Option<String>,
}

/// Reads corelab's lesion JSON (one subject) into a checked [`Subject`].
pub fn from_json(text: &str) -> Result<Subject, RuleError> {
    let j: JsonSubject = serde_json::from_str(text)
        .map_err(|e| RuleError::new(INPUT_RULE, format!("not corelab lesion JSON: {e}")))?;
    let mut lesions = Vec::new();
    for l in j.lesions {
        let role = match l.role.to_ascii_lowercase().as_str() {
            "target" => Role::Target,
            "non-target" | "nontarget" => Role::NonTarget,
            other => return Err(RuleError::new(INPUT_RULE, format!("role {other:?}: \"target\" or \"non-target\" (new lesions are listed in a visit's new_lesions)")).lesion(&l.id)),
        };
        let nodal = l.nodal || is_nodal_organ(&l.organ);
        lesions.push(Lesion {
            id: l.id,
            role,
            organ: l.organ,
            nodal,
        });
    }
    let mut visits = Vec::new();
    for v in j.visits {
        let date = Date::parse(&v.date).ok_or_else(|| {
            RuleError::new(
                INPUT_RULE,
                format!("date {:?}: ISO 8601 (YYYY-MM-DD)", v.date),
            )
            .visit(&v.visit)
        })?;
        let mut visit = Visit {
            label: v.visit.clone(),
            date,
            slice_thickness_mm: v.slice_thickness_mm,
            targets: BTreeMap::new(),
            non_targets: BTreeMap::new(),
            new_lesions: v
                .new_lesions
                .into_iter()
                .map(|n| NewLesion {
                    id: n.id,
                    equivocal: n.equivocal,
                })
                .collect(),
            clinical: match v.clinical {
                Some(c) => Clinical {
                    corticosteroids: c
                        .corticosteroids
                        .as_deref()
                        .map(|t| trend(t, "corticosteroids", &v.visit))
                        .transpose()?,
                    on_corticosteroids: c.on_corticosteroids,
                    clinical_status: c
                        .clinical_status
                        .as_deref()
                        .map(|t| trend(t, "clinical_status", &v.visit))
                        .transpose()?,
                    non_enhancing: c
                        .non_enhancing
                        .as_deref()
                        .map(|t| trend(t, "non_enhancing", &v.visit))
                        .transpose()?,
                },
                None => Clinical::default(),
            },
        };
        for m in v.measurements {
            let Some(lesion) = lesions.iter().find(|l| l.id == m.lesion) else {
                return Err(unknown(&m.lesion, &v.visit));
            };
            let twice = match lesion.role {
                Role::Target => visit
                    .targets
                    .insert(m.lesion.clone(), target_seen(&m, &v.visit)?)
                    .is_some(),
                Role::NonTarget => {
                    if m.long_axis_mm.is_some()
                        || m.short_axis_mm.is_some()
                        || m.fragments.is_some()
                        || m.merged_into.is_some()
                    {
                        return Err(RuleError::new(INPUT_RULE, "a non-target lesion is followed by its state (present, absent, progression, not-evaluated), not measured").lesion(&m.lesion).visit(&v.visit));
                    }
                    let s = m.state.as_deref().ok_or_else(|| {
                        RuleError::new(INPUT_RULE, "a non-target lesion needs a state")
                            .lesion(&m.lesion)
                            .visit(&v.visit)
                    })?;
                    visit
                        .non_targets
                        .insert(m.lesion.clone(), state(s, &m.lesion, &v.visit)?)
                        .is_some()
                }
            };
            if twice {
                return Err(RuleError::new(INPUT_RULE, "reported twice at one visit")
                    .lesion(&m.lesion)
                    .visit(&v.visit));
            }
        }
        visits.push(visit);
    }
    let reference = match &j.reference_date {
        Some(t) => Date::parse(t).ok_or_else(|| {
            RuleError::new(
                INPUT_RULE,
                format!("reference_date {t:?}: ISO 8601 (YYYY-MM-DD)"),
            )
        })?,
        None => visits.first().map(|v| v.date.clone()).ok_or_else(|| {
            RuleError::new(INPUT_RULE, "no visits: the first visit is the baseline")
        })?,
    };
    Subject {
        id: j.subject,
        study: j.study,
        reference,
        lesions,
        visits,
    }
    .check()
}

fn target_seen(m: &JsonSeen, visit: &str) -> Result<TargetSeen, RuleError> {
    let diameters = Diameters {
        long_mm: m.long_axis_mm,
        short_mm: m.short_axis_mm,
    };
    let measured = diameters.long_mm.is_some() || diameters.short_mm.is_some();
    let err = |why: &str| {
        RuleError::new(INPUT_RULE, why.to_owned())
            .lesion(&m.lesion)
            .visit(visit)
    };
    let given = [
        measured,
        m.state.is_some(),
        m.merged_into.is_some(),
        m.fragments.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        return Err(err(
            "a target lesion gives one of: its diameters, a state (absent, too-small, not-evaluated), merged_into, or fragments",
        ));
    }
    if let Some(into) = &m.merged_into {
        return Ok(TargetSeen::MergedInto(into.clone()));
    }
    if let Some(parts) = &m.fragments {
        return Ok(TargetSeen::Split(
            parts
                .iter()
                .map(|p| Diameters {
                    long_mm: p.long_axis_mm,
                    short_mm: p.short_axis_mm,
                })
                .collect(),
        ));
    }
    match m.state.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(TargetSeen::Measured(diameters)),
        Some("absent") => Ok(TargetSeen::Disappeared),
        Some("too-small") | Some("too small to measure") => Ok(TargetSeen::TooSmall),
        Some("not-evaluated") | Some("ne") => Ok(TargetSeen::NotEvaluated),
        Some(other) => Err(err(&format!(
            "state {other:?} of a target lesion: absent, too-small or not-evaluated"
        ))),
    }
}

/// A non-target state word (JSON's, and SDTM TUMSTATE's).
pub(crate) fn state(word: &str, lesion: &str, visit: &str) -> Result<State, RuleError> {
    match word.trim().to_ascii_lowercase().as_str() {
        "present" | "non-cr/non-pd" => Ok(State::Present),
        "absent" => Ok(State::Absent),
        "progression" | "unequivocal progression" | "unequivocal" | "pd" => Ok(State::Progression),
        "not-evaluated" | "not evaluable" | "not evaluated" | "ne" | "" => Ok(State::NotEvaluated),
        other => Err(RuleError::new(
            INPUT_RULE,
            format!("state {other:?}: present, absent, progression or not-evaluated"),
        )
        .lesion(lesion)
        .visit(visit)),
    }
}

fn trend(word: &str, what: &str, visit: &str) -> Result<Trend, RuleError> {
    match word.trim().to_ascii_lowercase().as_str() {
        "improved" | "decreased" | "better" => Ok(Trend::Improved),
        "stable" | "unchanged" => Ok(Trend::Stable),
        "worse" | "increased" => Ok(Trend::Worse),
        other => Err(RuleError::new(
            INPUT_RULE,
            format!("{what} {other:?}: improved (decreased), stable or worse (increased)"),
        )
        .visit(visit)),
    }
}

/// Whether an organ (SDTM TULOC) names a lymph node.
pub(crate) fn is_nodal_organ(organ: &str) -> bool {
    let o = organ.to_ascii_lowercase();
    o.contains("lymph node") || o.contains("node")
}
