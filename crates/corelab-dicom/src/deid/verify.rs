//! The residual-PHI verifier: scans de-identified data sets for anything the profile should have
//! removed or replaced and, given the originals, for every original identifying string anywhere in
//! the output — nested sequences, private blocks and free text included.

use super::engine::{Dates, Deidentifier, is_text_vr};
use super::profile::{Action, ProfileTable};
use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::json;
use std::collections::BTreeSet;

/// One thing found: where, what value, and why it should not be there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Tag path, e.g. `(0040,0275)[0].(0040,1001)`.
    pub tag: String,
    /// The value found (truncated to 64 characters).
    pub value: String,
    /// Why it is a finding.
    pub why: String,
}

impl Finding {
    /// As JSON, with the file it was found in.
    pub fn to_json(&self, path: &str) -> serde_json::Value {
        json!({"path": path, "tag": self.tag, "value": self.value, "why": self.why})
    }
}

/// Identifying strings collected from original objects.
#[derive(Clone, Debug, Default)]
pub struct OriginalPhi {
    values: BTreeSet<String>,
    /// Values the originals also carry in attributes the profile keeps (a body part, a
    /// manufacturer): not evidence of a leak when they, or parts of them, reappear.
    kept: BTreeSet<String>,
    /// `values` less the kept ones, computed once after the last `collect`.
    searched: std::sync::OnceLock<Vec<String>>,
}

/// Values shorter than this are not searched for: they match everywhere by chance.
const MIN_LEN: usize = 4;

impl OriginalPhi {
    /// Collects the identifying values of `obj`: every text value of an attribute the profile does
    /// not keep under the given options (names also by their components), at every depth.
    pub fn collect(&mut self, obj: &InMemDicomObject, d: &Deidentifier) {
        self.searched = std::sync::OnceLock::new();
        let kept_private = kept_private(obj, d);
        for e in obj.iter() {
            match e.value() {
                Value::Sequence(s) => s.items().iter().for_each(|i| self.collect(i, d)),
                // A descriptor the profile cleans (Clean Descriptors) is kept only when it holds
                // no identifying value: neither one itself nor a kept value that would hide one.
                Value::Primitive(_) if cleaned(e.tag(), e.vr(), d) => {}
                Value::Primitive(_) if is_text_vr(e.vr()) => {
                    let text = e
                        .value()
                        .to_str()
                        .map(|s| s.into_owned())
                        .unwrap_or_default();
                    let identifying =
                        identifying(e.tag(), e.vr(), d) && !kept_private.contains(&e.tag());
                    for v in text.split('\\') {
                        let v = v.trim_matches(|c: char| c == '\0' || c == ' ');
                        if !identifying {
                            self.kept.insert(v.to_owned());
                            continue;
                        }
                        self.add(v);
                        if e.vr() == VR::PN {
                            v.split(['^', '=']).for_each(|part| self.add(part.trim()));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn add(&mut self, v: &str) {
        // Short numbers ("00000", "350") match measurements by chance; letters, or at least eight
        // characters (dates, identifiers, UIDs), make a value worth searching for.
        let telling = v.chars().any(char::is_alphabetic) || v.chars().count() >= 8;
        if v.chars().count() >= MIN_LEN && telling && !GENERIC.contains(&v) {
            self.values.insert(v.to_owned());
        }
    }

    /// The first identifying value found in `text` (compared without regard to case).
    pub fn found_in(&self, text: &str) -> Option<&str> {
        let upper = text.to_uppercase();
        self.searched()
            .iter()
            .find(|v| upper.contains(&v.to_uppercase()))
            .map(String::as_str)
    }

    /// How many distinct values are searched for.
    pub fn len(&self) -> usize {
        self.searched().len()
    }

    fn searched(&self) -> &[String] {
        self.searched.get_or_init(|| {
            // A value that is part of a kept value ("TOSHIBA" in Manufacturer "TOSHIBA_MEC"), or
            // of the dummy values this engine writes, proves nothing.
            self.values
                .iter()
                .filter(|v| {
                    !self
                        .kept
                        .iter()
                        .chain(GENERIC_OWNED.iter())
                        .any(|k| k.contains(v.as_str()))
                })
                .cloned()
                .collect()
        })
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values that occur in de-identified objects by design or as common vocabulary.
const GENERIC: &[&str] = &[
    "ANONYMIZED",
    "NONE",
    "UNKNOWN",
    "ORIGINAL",
    "PRIMARY",
    "DERIVED",
    "SECONDARY",
];
static GENERIC_OWNED: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| GENERIC.iter().map(|s| s.to_string()).collect());

/// The private elements of one data set level that the de-identifier keeps (safe ones, with Retain
/// Safe Private), and the creator elements of their blocks.
fn kept_private(obj: &InMemDicomObject, d: &Deidentifier) -> BTreeSet<Tag> {
    let policy = d.private_policy();
    let found = super::private::creators(obj);
    let kept: BTreeSet<Tag> = obj
        .iter()
        .map(|e| e.tag())
        .filter(|t| {
            t.group() % 2 == 1 && policy.decide(*t, &found) == super::private::PrivateDecision::Keep
        })
        .collect();
    let creators = kept
        .iter()
        .map(|t| Tag(t.group(), t.element() >> 8))
        .collect::<Vec<_>>();
    kept.into_iter().chain(creators).collect()
}

/// Whether the profile treats this attribute's value as identifying under the options in effect.
/// Whether the attribute is a text descriptor that the profile, under the selected options,
/// cleans (C) and nothing else. Dates are cleaned by shifting, and stay identifying.
fn cleaned(tag: Tag, vr: VR, d: &Deidentifier) -> bool {
    matches!(vr, VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC)
        && ProfileTable::standard()
            .lookup(tag.group(), tag.element())
            .is_some_and(|row| row.effective(d.options()).alternatives() == [Action::Clean])
}

fn identifying(tag: Tag, vr: VR, d: &Deidentifier) -> bool {
    let opts = d.options();
    if matches!(vr, VR::DA | VR::DT | VR::TM) && d.dates() == Dates::Full {
        return false;
    }
    if vr == VR::TM {
        return false; // times are kept under every date option, and are too short to be telling
    }
    match ProfileTable::standard().lookup(tag.group(), tag.element()) {
        None => false,
        Some(row) => {
            let code = row.effective(opts);
            !code.alternatives().iter().all(|a| *a == Action::Keep)
        }
    }
}

/// Checks one de-identified data set; `originals` adds the search for original values.
pub fn verify_dataset(
    obj: &InMemDicomObject,
    d: &Deidentifier,
    originals: Option<&OriginalPhi>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let removed = obj
        .get(tags::PATIENT_IDENTITY_REMOVED)
        .and_then(|e| e.value().to_str().ok().map(|s| s.trim().to_owned()));
    if removed.as_deref() != Some("YES") {
        out.push(Finding {
            tag: tags::PATIENT_IDENTITY_REMOVED.to_string(),
            value: removed.unwrap_or_default(),
            why: "PatientIdentityRemoved is not YES".into(),
        });
    }
    walk(obj, d, originals, "", &mut out);
    out
}

fn walk(
    obj: &InMemDicomObject,
    d: &Deidentifier,
    originals: Option<&OriginalPhi>,
    path: &str,
    out: &mut Vec<Finding>,
) {
    let opts = d.options();
    let kept_private = kept_private(obj, d);
    for e in obj.iter() {
        let tag = e.tag();
        let here = format!("{path}{tag}");
        let text = match e.value() {
            Value::Sequence(s) => {
                for (i, item) in s.items().iter().enumerate() {
                    walk(item, d, originals, &format!("{here}[{i}]."), out);
                }
                String::new()
            }
            Value::Primitive(p) if is_text_vr(e.vr()) => p.to_str().into_owned(),
            // UN may hide text; other binary values (pixels, LUTs, waveforms) are not searched.
            Value::Primitive(p) if e.vr() == VR::UN => {
                String::from_utf8_lossy(&p.to_bytes()).into_owned()
            }
            Value::Primitive(_) => String::new(),
            Value::PixelSequence(_) => String::new(),
        };
        let shown: String = text.chars().take(64).collect();
        let mut find = |why: String| {
            out.push(Finding {
                tag: here.clone(),
                value: shown.clone(),
                why,
            })
        };
        let graphics = tag.group() % 2 == 0
            && ((0x5000..=0x501E).contains(&tag.group())
                || (0x6000..=0x601E).contains(&tag.group()));
        if graphics && !opts.contains(&super::profile::ProfileOption::CleanGraphics) {
            find("overlay or curve attribute left without the Clean Graphics option".into());
            continue;
        }
        // Safe private values that are kept are still searched for original text below.
        if tag.group() % 2 == 1 && !kept_private.contains(&tag) {
            find("private attribute not on the safe-private list".into());
            continue;
        }
        let written = d.writes_trial_modules()
            && super::engine::CLINICAL_TRIAL_TAGS.contains(&tag)
            && path.is_empty();
        if let Some(row) = ProfileTable::standard()
            .lookup(tag.group(), tag.element())
            .filter(|_| !written)
        {
            let code = row.effective(opts);
            let alts = code.alternatives();
            let trimmed = text.trim_matches(|c: char| c == '\0' || c == ' ');
            if alts == [Action::Remove] {
                find(format!("{} is removed by the profile ({code})", row.name));
            } else if alts
                .iter()
                .all(|a| matches!(a, Action::Remove | Action::Zero))
                && !trimmed.is_empty()
                && !matches!(e.value(), Value::Sequence(_))
                && tag != tags::PATIENT_NAME
            {
                find(format!("{} must be empty ({code})", row.name));
            } else if alts == [Action::Uid]
                && e.vr() == VR::UI
                && !trimmed.is_empty()
                && !trimmed
                    .split('\\')
                    .all(|u| u.trim_matches('\0').starts_with("2.25."))
            {
                find(format!("{} was not replaced ({code})", row.name));
            }
        }
        if let Some(v) =
            originals.and_then(|phi| phi.searched().iter().find(|v| text.contains(v.as_str())))
        {
            find(format!("original identifying value {v:?} found"));
        }
    }
}
