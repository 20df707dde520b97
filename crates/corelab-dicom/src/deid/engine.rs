//! The de-identification engine: applies the PS3.15 Annex E profile ([`ProfileTable`]) to a data
//! set, recursively in every sequence item, with trial-consistent UIDs ([`UidMapper`]),
//! per-subject date shifts ([`DateShift`]) and the subject's pseudonym.
//!
//! How each table entry becomes one action (the table leaves some choices to the implementation):
//! - a selected option that lists the attribute overrides the Basic Profile; the two
//!   longitudinal-date options contradict each other and are refused together;
//! - combined codes (`X/Z`, `X/D`, `X/Z/D`, `Z/D`) take Z when it is offered (the attribute stays,
//!   empty: valid for Type 2 and 3), else D; `X/Z/U*` keeps a reference sequence with every UID in
//!   its items replaced, so references stay resolvable;
//! - C on a date (DA, DT) shifts it; on a time (TM) keeps it (whole-day shifts leave times right);
//!   on a text descriptor (Series Description, Protocol Name, … under the Clean Descriptors
//!   option) it keeps the text only when it holds none of the object's identifying values (the
//!   names and their parts, IDs, dates and other values the profile removes, as the verifier
//!   searches for them) and no run of six or more digits (a date, an ID, a telephone number),
//!   and empties it otherwise (`DeidOutcome::descriptors_emptied`): protocol-driven QC needs the
//!   descriptions to tell series apart, and free text cannot be cleaned word by word with a
//!   guarantee; on anything else it empties the value;
//! - K on a sequence keeps it and cleans its items;
//! - private attributes are removed, except, with Retain Safe Private, those on the safe list
//!   ([`super::private`]); group-length and command-group elements are removed; attributes the
//!   table does not list are kept, sequences among them are cleaned item by item, and dates among
//!   them are treated like the listed dates;
//! - the subject's ID comes from a [`SubjectResolver`] (a trial's assignment), else from the
//!   default keyed pseudonym; a trial's subject also fills the Clinical Trial Subject, Study and
//!   Series modules.

use super::dates::DateShift;
use super::pixels;
use super::private::{PrivateDecision, PrivatePolicy, creators, is_creator};
use super::profile::{Action, ActionCode, ProfileOption, ProfileTable};
use super::secret::TrialSecret;
use super::uid::UidMapper;
use corelab_core::BlackoutRule;
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::collections::{BTreeSet, HashMap};
use std::ops::RangeInclusive;
use std::sync::Arc;

/// A configuration that cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeidError {
    /// Two options that contradict each other.
    #[error("options {0} and {1} contradict each other; choose one")]
    ConflictingOptions(&'static str, &'static str),
}

/// Why an object was refused: its de-identification cannot be guaranteed, or it cannot be given
/// its subject. Nothing is written for it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The subject could not be resolved (for example, an unknown site or a store error).
    #[error("subject: {0}")]
    Subject(String),
    /// A private block the trial keeps holds an element not known to be safe.
    #[error("{0}")]
    UnsafePrivate(String),
    /// A blackout rule matched pixel data it cannot alter.
    #[error("pixel blackout: {0}")]
    Blackout(String),
}

/// The identity a subject had at its site, as found in the object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginalSubject {
    /// PatientID (0010,0020).
    pub patient_id: String,
    /// PatientName (0010,0010).
    pub patient_name: String,
    /// IssuerOfPatientID (0010,0021).
    pub issuer: String,
    /// PatientBirthDate (0010,0030).
    pub birth_date: String,
}

/// A trial subject: the ID that replaces the original identity, and the Clinical Trial module
/// values when the object is de-identified for a trial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The subject's ID in the trial (PatientID, PatientName, ClinicalTrialSubjectID).
    pub id: String,
    /// The trial's attributes, when de-identifying for a trial.
    pub trial: Option<ClinicalTrial>,
}

/// Values of the Clinical Trial Subject (PS3.3 C.7.1.3), Study (C.7.2.3) and Series (C.7.3.2)
/// modules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClinicalTrial {
    /// ClinicalTrialSponsorName (0012,0010).
    pub sponsor: String,
    /// ClinicalTrialProtocolID (0012,0020).
    pub protocol_id: String,
    /// ClinicalTrialSiteID (0012,0030).
    pub site_id: String,
    /// ClinicalTrialSiteName (0012,0031).
    pub site_name: String,
    /// ClinicalTrialTimePointID (0012,0050), when the visit is known.
    pub time_point: Option<String>,
    /// ClinicalTrialCoordinatingCenterName (0012,0060): the core lab.
    pub coordinating_center: String,
}

/// Gives each original identity its trial subject (a trial's assignment, kept by the catalogue).
pub trait SubjectResolver: Send + Sync + std::fmt::Debug {
    /// The subject for this original identity, or why there is none.
    fn resolve(&self, original: &OriginalSubject) -> Result<Subject, String>;
}

/// What happened to one data set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeidOutcome {
    /// The subject's pseudonym written to PatientID and PatientName.
    pub subject: String,
    /// The whole-day shift applied to dates (0 when dates were kept or removed).
    pub date_offset_days: i64,
    /// Why the pixel data may carry burned-in identifying text, if it may.
    pub burned_in_risk: Option<String>,
    /// Dates that could not be shifted exactly and were removed instead (tag path and value).
    pub dates_removed: Vec<String>,
    /// Private attributes kept as safe (tag paths).
    pub private_kept: Vec<String>,
    /// Pixel rectangles blacked out, and by which rule.
    pub blacked_out: Option<String>,
    /// Elements that could not be parsed and were removed before de-identification (tag and why).
    pub removed_unread: Vec<String>,
    /// Descriptors (Clean Descriptors option) emptied because they held an identifying value
    /// or a long number (tag paths).
    pub descriptors_emptied: Vec<String>,
}

/// What happens to dates (DA, DT), decided once from the two longitudinal-date options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dates {
    /// No date option: dates are removed or emptied.
    Removed,
    /// Retain Longitudinal Temporal Information with Full Dates: dates are kept.
    Full,
    /// …with Modified Dates: dates move by the subject's offset.
    Modified,
}

/// De-identifies data sets for one trial.
#[derive(Clone, Debug)]
pub struct Deidentifier {
    table: &'static ProfileTable,
    options: BTreeSet<ProfileOption>,
    dates: Dates,
    secret: TrialSecret,
    uids: UidMapper,
    date_range: RangeInclusive<i64>,
    private: PrivatePolicy,
    subjects: Option<Arc<dyn SubjectResolver>>,
    blackout: Arc<Vec<BlackoutRule>>,
    trial_modules: bool,
}

/// The Clinical Trial module attributes the de-identifier writes for a trial's subject.
pub const CLINICAL_TRIAL_TAGS: [Tag; 8] = [
    tags::CLINICAL_TRIAL_SPONSOR_NAME,
    tags::CLINICAL_TRIAL_PROTOCOL_ID,
    tags::CLINICAL_TRIAL_PROTOCOL_NAME,
    tags::CLINICAL_TRIAL_SITE_ID,
    tags::CLINICAL_TRIAL_SITE_NAME,
    tags::CLINICAL_TRIAL_SUBJECT_ID,
    tags::CLINICAL_TRIAL_TIME_POINT_ID,
    tags::CLINICAL_TRIAL_COORDINATING_CENTER_NAME,
];

/// Per-data-set state threaded through the walk.
struct Walk {
    shift: Option<DateShift>,
    /// The object's identifying values, searched for in descriptors kept under Clean
    /// Descriptors.
    phi: Option<super::verify::OriginalPhi>,
    outcome: DeidOutcome,
    refusal: Option<Refusal>,
}

const DUMMY_TEXT: &str = "ANONYMIZED";

impl Deidentifier {
    /// A de-identifier with the given options, secret, and range of per-subject date shifts (days).
    pub fn new(
        options: impl IntoIterator<Item = ProfileOption>,
        secret: TrialSecret,
        date_range: RangeInclusive<i64>,
    ) -> Result<Self, DeidError> {
        let options: BTreeSet<_> = options.into_iter().collect();
        if options.contains(&ProfileOption::RetainLongFullDates)
            && options.contains(&ProfileOption::RetainLongModifiedDates)
        {
            return Err(DeidError::ConflictingOptions(
                ProfileOption::RetainLongFullDates.name(),
                ProfileOption::RetainLongModifiedDates.name(),
            ));
        }
        let dates = if options.contains(&ProfileOption::RetainLongFullDates) {
            Dates::Full
        } else if options.contains(&ProfileOption::RetainLongModifiedDates) {
            Dates::Modified
        } else {
            Dates::Removed
        };
        let private = PrivatePolicy {
            retain_safe: options.contains(&ProfileOption::RetainSafePrivate),
            ..PrivatePolicy::default()
        };
        Ok(Self {
            dates,
            table: ProfileTable::standard(),
            uids: UidMapper::new(secret.clone()),
            options,
            secret,
            date_range,
            private,
            subjects: None,
            blackout: Arc::new(Vec::new()),
            trial_modules: false,
        })
    }

    /// The same, for a trial: outputs carry the Clinical Trial modules the de-identifier writes
    /// (the verifier then accepts their values).
    pub fn for_trial(mut self) -> Self {
        self.trial_modules = true;
        self
    }

    /// Whether outputs carry the Clinical Trial modules written by the de-identifier.
    pub fn writes_trial_modules(&self) -> bool {
        self.trial_modules
    }

    /// The same, with a trial's private-attribute rules (safe list and blocks to keep); whether
    /// safe ones are kept still follows the Retain Safe Private option.
    pub fn with_private(mut self, policy: PrivatePolicy) -> Self {
        self.private = PrivatePolicy {
            retain_safe: self.options.contains(&ProfileOption::RetainSafePrivate),
            ..policy
        };
        self
    }

    /// The same, with a trial's subject assignment.
    pub fn with_subjects(mut self, resolver: Arc<dyn SubjectResolver>) -> Self {
        self.subjects = Some(resolver);
        self.trial_modules = true;
        self
    }

    /// The same, with pixel blackout rules.
    pub fn with_blackout(mut self, rules: Vec<BlackoutRule>) -> Self {
        self.blackout = Arc::new(rules);
        self
    }

    /// The private-attribute rules in effect.
    pub fn private_policy(&self) -> &PrivatePolicy {
        &self.private
    }

    /// The options in effect.
    pub fn options(&self) -> &BTreeSet<ProfileOption> {
        &self.options
    }

    /// What happens to dates under these options.
    pub fn dates(&self) -> Dates {
        self.dates
    }

    /// The pseudonym of a subject known at the site as `patient_id` when no trial assigns one:
    /// the trial's default subject-ID rule, `SUBJ-` and 12 hexadecimal digits keyed by the secret
    /// (the same a trial computes with `SUBJ-{hash:12}`).
    pub fn pseudonym(&self, patient_id: &str) -> String {
        corelab_core::SubjectIdRule::default().render(&self.secret, "", 0, patient_id)
    }

    /// De-identifies one data set (without its file meta group) and returns the new data set, or
    /// why it must be refused.
    pub fn deidentify(
        &self,
        obj: &InMemDicomObject,
    ) -> Result<(InMemDicomObject, DeidOutcome), Refusal> {
        let original = original_subject(obj);
        let subject = match &self.subjects {
            Some(r) => r.resolve(&original).map_err(Refusal::Subject)?,
            None => Subject {
                id: self.pseudonym(&original.patient_id),
                trial: None,
            },
        };
        self.deidentify_as(obj, &subject)
    }

    /// De-identifies one data set as the given subject (already resolved by the caller, e.g.
    /// from the catalogue in async code).
    pub fn deidentify_as(
        &self,
        obj: &InMemDicomObject,
        subject: &Subject,
    ) -> Result<(InMemDicomObject, DeidOutcome), Refusal> {
        let shift = (self.dates == Dates::Modified)
            .then(|| DateShift::for_subject(&self.secret, &subject.id, self.date_range.clone()));
        let phi = self
            .options
            .contains(&ProfileOption::CleanDescriptors)
            .then(|| {
                let mut phi = super::verify::OriginalPhi::default();
                phi.collect(obj, self);
                phi
            });
        let mut walk = Walk {
            shift,
            phi,
            outcome: DeidOutcome {
                subject: subject.id.clone(),
                date_offset_days: shift.map(|s| s.offset_days()).unwrap_or(0),
                ..Default::default()
            },
            refusal: None,
        };
        walk.outcome.burned_in_risk = burned_in_risk(obj);
        let mut out = self.clean(obj, &mut walk, "", false);
        if let Some(refusal) = walk.refusal {
            return Err(refusal);
        }
        if let Some((i, rule)) = self
            .blackout
            .iter()
            .enumerate()
            .find(|(_, r)| pixels::rule_matches(r, obj))
        {
            let done = pixels::black_out(&mut out, rule).map_err(Refusal::Blackout)?;
            walk.outcome.blacked_out = Some(format!("rule deid.blackout[{i}]: {done}"));
        }
        self.mark(&mut out, subject);
        Ok((out, walk.outcome))
    }

    fn clean(
        &self,
        obj: &InMemDicomObject,
        walk: &mut Walk,
        path: &str,
        uids_only: bool,
    ) -> InMemDicomObject {
        let mut out = InMemDicomObject::new_empty();
        let mut private_creators: Option<HashMap<(u16, u8), String>> = None;
        let mut used_blocks = BTreeSet::new();
        for elem in obj.iter() {
            let tag = elem.tag();
            let here = format!("{path}{tag}");
            if tag.group() % 2 == 1 {
                if is_creator(tag) {
                    continue; // written back below if an element of its block is kept
                }
                let found = private_creators.get_or_insert_with(|| creators(obj));
                match self.private.decide(tag, found) {
                    PrivateDecision::Remove => {}
                    PrivateDecision::Refuse(why) => {
                        walk.refusal
                            .get_or_insert(Refusal::UnsafePrivate(format!("{here}: {why}")));
                    }
                    PrivateDecision::Keep => {
                        used_blocks.insert((tag.group(), (tag.element() >> 8) as u8));
                        walk.outcome.private_kept.push(here.clone());
                        out.put(self.keep(elem, walk, &here, false));
                    }
                }
                continue;
            }
            if tag.group() <= 0x0002 || tag.element() == 0x0000 {
                continue; // command or meta group, group length
            }
            if is_graphics_group(tag.group()) {
                // Overlays (60xx) and curves (50xx) go whole unless Clean Graphics is selected;
                // with it their text is emptied and their bitmaps kept, flagged for review, since
                // no program can tell burned-in identifying text in a bitmap from a contour.
                if self.options.contains(&ProfileOption::CleanGraphics) {
                    if is_text_vr(elem.vr()) {
                        out.put(empty(elem));
                    } else {
                        if tag.element() == 0x3000 && walk.outcome.burned_in_risk.is_none() {
                            walk.outcome.burned_in_risk = Some(format!(
                                "overlay {here} kept under Clean Graphics: review it for burned-in text"
                            ));
                        }
                        out.put(elem.clone());
                    }
                }
                continue;
            }
            let normalized;
            let elem = if elem.vr() == VR::UN {
                match interpret_un(elem) {
                    Some(e) => {
                        normalized = e;
                        &normalized
                    }
                    None => continue, // an opaque sequence: it cannot be cleaned, so it goes
                }
            } else {
                elem
            };
            if uids_only {
                // Inside an X/Z/U* reference sequence: keep the structure, replace every UID, and
                // still apply the profile to anything else the items carry.
                if elem.vr() == VR::UI {
                    out.put(self.map_uids(elem));
                    continue;
                }
            }
            let code = self.code_for(tag, elem.vr());
            let Some(code) = code else {
                out.put(self.keep(elem, walk, &here, false));
                continue;
            };
            if let Some(new) = self.apply(elem, &code, walk, &here) {
                out.put(new);
            }
        }
        for (group, block) in used_blocks {
            let tag = Tag(group, block as u16);
            if let Some(creator) = obj.get(tag) {
                out.put(creator.clone());
            }
        }
        out
    }

    /// The action code in effect for a tag: an option's, else the Basic Profile's; dates the table
    /// does not list are treated like the listed ones.
    fn code_for(&self, tag: Tag, vr: VR) -> Option<ActionCode> {
        match self.table.lookup(tag.group(), tag.element()) {
            Some(row) => Some(row.effective(&self.options).clone()),
            None if matches!(vr, VR::DA | VR::DT) => {
                let code = match self.dates {
                    Dates::Full => "K",
                    Dates::Modified => "C",
                    Dates::Removed => "Z",
                };
                code.parse().ok()
            }
            None => None,
        }
    }

    fn apply(
        &self,
        elem: &InMemElement,
        code: &ActionCode,
        walk: &mut Walk,
        path: &str,
    ) -> Option<InMemElement> {
        let tag = elem.tag();
        if tag == tags::PATIENT_ID || tag == tags::PATIENT_NAME {
            return None; // written with the pseudonym afterwards
        }
        if code.uids_in_items() && elem.vr() == VR::SQ {
            return Some(self.keep(elem, walk, path, true));
        }
        let alts = code.alternatives();
        let action = if alts.contains(&Action::Zero) {
            Action::Zero
        } else if alts.contains(&Action::Dummy) {
            Action::Dummy
        } else {
            alts[0]
        };
        match action {
            Action::Remove => None,
            Action::Zero => Some(empty(elem)),
            Action::Dummy => Some(self.dummy(elem)),
            Action::Keep => Some(self.keep(elem, walk, path, false)),
            Action::Uid => Some(self.map_uids(elem)),
            Action::Clean => Some(self.clean_value(elem, walk, path)),
        }
    }

    fn keep(
        &self,
        elem: &InMemElement,
        walk: &mut Walk,
        path: &str,
        uids_only: bool,
    ) -> InMemElement {
        match elem.value() {
            Value::Sequence(seq) => {
                let items: Vec<InMemDicomObject> = seq
                    .items()
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.clean(item, walk, &format!("{path}[{i}]."), uids_only))
                    .collect();
                DataElement::new(
                    elem.tag(),
                    VR::SQ,
                    Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
                )
            }
            _ => elem.clone(),
        }
    }

    fn clean_value(&self, elem: &InMemElement, walk: &mut Walk, path: &str) -> InMemElement {
        match elem.vr() {
            VR::SQ => self.keep(elem, walk, path, false),
            VR::TM => elem.clone(),
            VR::DA | VR::DT => {
                let Some(shift) = walk.shift else {
                    return empty(elem);
                };
                let value = elem
                    .value()
                    .to_str()
                    .map(|s| s.into_owned())
                    .unwrap_or_default();
                let shifted = if elem.vr() == VR::DA {
                    shift.shift_da(&value)
                } else {
                    shift.shift_dt(&value)
                };
                match shifted {
                    Ok(v) => DataElement::new(elem.tag(), elem.vr(), PrimitiveValue::from(v)),
                    Err(e) => {
                        walk.outcome.dates_removed.push(format!("{path}: {e}"));
                        empty(elem)
                    }
                }
            }
            VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC => {
                let Some(phi) = &walk.phi else {
                    return empty(elem);
                };
                let text = elem
                    .value()
                    .to_str()
                    .map(|s| s.into_owned())
                    .unwrap_or_default();
                if phi.found_in(&text).is_some() || has_long_number(&text) {
                    walk.outcome.descriptors_emptied.push(path.to_owned());
                    empty(elem)
                } else {
                    elem.clone()
                }
            }
            _ => empty(elem),
        }
    }

    fn map_uids(&self, elem: &InMemElement) -> InMemElement {
        let Ok(values) = elem.value().to_multi_str() else {
            return empty(elem);
        };
        let mapped: Vec<String> = values
            .iter()
            .filter(|v| !v.trim_matches('\0').trim().is_empty())
            .map(|v| self.uids.map(v))
            .collect();
        DataElement::new(elem.tag(), VR::UI, PrimitiveValue::Strs(mapped.into()))
    }

    fn dummy(&self, elem: &InMemElement) -> InMemElement {
        let tag = elem.tag();
        let vr = elem.vr();
        let value = match vr {
            VR::UI => return self.map_uids(elem),
            VR::SQ => {
                return DataElement::new(
                    tag,
                    VR::SQ,
                    Value::Sequence(DataSetSequence::new(
                        vec![InMemDicomObject::new_empty()],
                        Length::UNDEFINED,
                    )),
                );
            }
            VR::DA => PrimitiveValue::from("19000101"),
            VR::TM => PrimitiveValue::from("000000"),
            VR::DT => PrimitiveValue::from("19000101000000"),
            VR::AS => PrimitiveValue::from("000Y"),
            VR::IS | VR::DS => PrimitiveValue::from("0"),
            VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::CS | VR::AE => {
                PrimitiveValue::from(DUMMY_TEXT)
            }
            VR::UR => PrimitiveValue::from("urn:anonymized"),
            VR::US => PrimitiveValue::from(0u16),
            VR::SS => PrimitiveValue::from(0i16),
            VR::UL => PrimitiveValue::from(0u32),
            VR::SL => PrimitiveValue::from(0i32),
            VR::FL => PrimitiveValue::from(0f32),
            VR::FD => PrimitiveValue::from(0f64),
            _ => PrimitiveValue::Empty,
        };
        DataElement::new(tag, vr, value)
    }

    /// Writes the pseudonym and the de-identification attributes of the Patient Identification and
    /// SOP Common modules (PS3.3 C.7.1.1, C.12.1; CID 7050 codes).
    fn mark(&self, out: &mut InMemDicomObject, subject: &Subject) {
        if let Some(t) = &subject.trial {
            let lo = |tag, v: &str| DataElement::new(tag, VR::LO, PrimitiveValue::from(v));
            out.put(lo(tags::CLINICAL_TRIAL_SPONSOR_NAME, &t.sponsor));
            out.put(lo(tags::CLINICAL_TRIAL_PROTOCOL_ID, &t.protocol_id));
            out.put(lo(tags::CLINICAL_TRIAL_PROTOCOL_NAME, ""));
            out.put(lo(tags::CLINICAL_TRIAL_SITE_ID, &t.site_id));
            out.put(lo(tags::CLINICAL_TRIAL_SITE_NAME, &t.site_name));
            out.put(lo(tags::CLINICAL_TRIAL_SUBJECT_ID, &subject.id));
            out.put(lo(
                tags::CLINICAL_TRIAL_TIME_POINT_ID,
                t.time_point.as_deref().unwrap_or(""),
            ));
            out.put(lo(
                tags::CLINICAL_TRIAL_COORDINATING_CENTER_NAME,
                &t.coordinating_center,
            ));
        }
        let subject = subject.id.as_str();
        out.put(DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from(subject),
        ));
        out.put(DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from(subject),
        ));
        out.put(DataElement::new(
            tags::PATIENT_IDENTITY_REMOVED,
            VR::CS,
            PrimitiveValue::from("YES"),
        ));
        let mut methods = vec![("113100", "Basic Application Confidentiality Profile")];
        methods.extend(self.options.iter().filter_map(|o| method_code(*o)));
        out.put(DataElement::new(
            tags::DEIDENTIFICATION_METHOD,
            VR::LO,
            PrimitiveValue::from(format!(
                "corelab {} PS3.15 E.1-1 ({})",
                env!("CARGO_PKG_VERSION"),
                self.table.edition
            )),
        ));
        let items: Vec<InMemDicomObject> = methods
            .iter()
            .map(|(code, meaning)| {
                InMemDicomObject::from_element_iter([
                    DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(*code)),
                    DataElement::new(
                        tags::CODING_SCHEME_DESIGNATOR,
                        VR::SH,
                        PrimitiveValue::from("DCM"),
                    ),
                    DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(*meaning)),
                ])
            })
            .collect();
        out.put(DataElement::new(
            tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            VR::SQ,
            Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
        ));
        let temporal = match self.dates {
            Dates::Full => "UNMODIFIED",
            Dates::Modified => "MODIFIED",
            Dates::Removed => "REMOVED",
        };
        out.put(DataElement::new(
            tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            PrimitiveValue::from(temporal),
        ));
    }
}

type InMemElement = dicom_object::mem::InMemElement;

/// An element whose VR is UN (unknown: explicit VR files that did not know the attribute, or
/// private-to-standard conversions) read with the VR the standard dictionary gives it, so the
/// profile can act on its value. Text values are decoded; binary values stay as they are; a
/// sequence hidden in UN cannot be parsed here and is refused (`None`), never kept unread.
fn interpret_un(elem: &InMemElement) -> Option<InMemElement> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let dict = dicom_dictionary_std::StandardDataDictionary;
    let vr = match dict.by_tag(elem.tag()).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr,
        Some(_) => return Some(elem.clone()), // pixel-sample dependent binary VRs
        None => return Some(elem.clone()),
    };
    match vr {
        VR::SQ => None,
        vr if is_text_vr(vr) => {
            let bytes = elem.value().to_bytes().ok()?;
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_end_matches(['\0', ' ']);
            let value = if matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR) {
                PrimitiveValue::from(text.to_owned())
            } else {
                PrimitiveValue::Strs(text.split('\\').map(str::to_owned).collect())
            };
            Some(DataElement::new(elem.tag(), vr, value))
        }
        _ => Some(elem.clone()),
    }
}

/// The repeating groups of overlays (6000-601E) and curves (5000-501E), even groups only.
pub(crate) fn is_graphics_group(group: u16) -> bool {
    group.is_multiple_of(2)
        && ((0x5000..=0x501E).contains(&group) || (0x6000..=0x601E).contains(&group))
}

fn empty(elem: &InMemElement) -> InMemElement {
    if elem.vr() == VR::SQ {
        DataElement::new(
            elem.tag(),
            VR::SQ,
            Value::Sequence(DataSetSequence::new(
                Vec::<InMemDicomObject>::new(),
                Length::UNDEFINED,
            )),
        )
    } else {
        DataElement::new(elem.tag(), elem.vr(), PrimitiveValue::Empty)
    }
}

/// A text value with its padding (NUL, spaces) trimmed.
pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' ').to_owned())
}

/// Whether values of this VR are character strings (PS3.5 §6.2).
pub(crate) fn is_text_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

/// CID 7050 code for an option (PS3.16), where the option has one.
fn method_code(o: ProfileOption) -> Option<(&'static str, &'static str)> {
    Some(match o {
        ProfileOption::CleanGraphics => ("113103", "Clean Graphics Option"),
        ProfileOption::CleanStructuredContent => ("113104", "Clean Structured Content Option"),
        ProfileOption::CleanDescriptors => ("113105", "Clean Descriptors Option"),
        ProfileOption::RetainLongFullDates => (
            "113106",
            "Retain Longitudinal Temporal Information Full Dates Option",
        ),
        ProfileOption::RetainLongModifiedDates => (
            "113107",
            "Retain Longitudinal Temporal Information Modified Dates Option",
        ),
        ProfileOption::RetainPatientCharacteristics => {
            ("113108", "Retain Patient Characteristics Option")
        }
        ProfileOption::RetainDeviceIdentity => ("113109", "Retain Device Identity Option"),
        ProfileOption::RetainUids => ("113110", "Retain UIDs Option"),
        ProfileOption::RetainSafePrivate => ("113111", "Retain Safe Private Option"),
        ProfileOption::RetainInstitutionIdentity => {
            ("113112", "Retain Institution Identity Option")
        }
    })
}

/// The identity an object carries (PatientID, PatientName, issuer, birth date).
pub fn original_subject(obj: &InMemDicomObject) -> OriginalSubject {
    OriginalSubject {
        patient_id: text(obj, tags::PATIENT_ID).unwrap_or_default(),
        patient_name: text(obj, tags::PATIENT_NAME).unwrap_or_default(),
        issuer: text(obj, tags::ISSUER_OF_PATIENT_ID).unwrap_or_default(),
        birth_date: text(obj, tags::PATIENT_BIRTH_DATE).unwrap_or_default(),
    }
}

/// Why pixel data may carry burned-in text: BurnedInAnnotation = YES, or a modality or SOP class
/// that commonly does (ultrasound, secondary capture, angiography and fluoroscopy).
fn burned_in_risk(obj: &InMemDicomObject) -> Option<String> {
    if text(obj, tags::BURNED_IN_ANNOTATION).as_deref() == Some("YES") {
        return Some("BurnedInAnnotation is YES".into());
    }
    let modality = text(obj, tags::MODALITY).unwrap_or_default();
    if ["US", "SC", "XA", "RF", "ES", "XC", "OT"].contains(&modality.as_str()) {
        return Some(format!("modality {modality} often carries burned-in text"));
    }
    let class = text(obj, tags::SOP_CLASS_UID).unwrap_or_default();
    if class.starts_with("1.2.840.10008.5.1.4.1.1.7") {
        return Some(format!("SOP class {class} is a secondary capture"));
    }
    None
}

/// Whether text holds six or more digits in a row (a date, an identifier, a telephone number).
fn has_long_number(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 6 {
            return true;
        }
    }
    false
}
