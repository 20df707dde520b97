//! The `deid` target: de-identification of a parsed object into which PHI markers were planted,
//! under options chosen by the input. Input: two bytes of options (little endian, see
//! [`Choice`]), then the DICOM object.
//!
//! Property: a refusal is fine; an object it returns holds no marker, neither in its data set
//! nor in its Part 10 encoding. The markers go into attributes the Basic Profile removes,
//! empties or replaces under every option chosen here (Retain Institution Identity, which keeps
//! Institution Name, is never chosen), into a sequence item, into every item of every sequence
//! the object already has (any depth up to 8), and into a private block whose creator is on no
//! safe list.

use corelab_core::BlackoutRule;
use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{
    ClinicalTrial, Deidentifier, OriginalPhi, PrivatePolicy, Subject, TrialSecret, encode_part10,
    verify_dataset,
};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// Every marker starts with it; an input that already holds it is skipped, so that a marker found
/// after de-identification can only be one that was planted.
pub const MARK: &str = "QZXPHI";

/// Identifying attributes (text VRs, a date holding text too) that no option chosen here keeps.
const SLOTS: [(Tag, VR); 9] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::INSTITUTION_NAME, VR::LO),
    (tags::INSTITUTION_ADDRESS, VR::ST),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    // Other Patient IDs (0010,1000): retired, still sent, and still X in the profile.
    (Tag(0x0010, 0x1000), VR::LO),
    (tags::PATIENT_ADDRESS, VR::LO),
    (tags::PATIENT_BIRTH_NAME, VR::PN),
];

/// A private block whose creator no safe list names: everything in it must go.
const PRIVATE_GROUP: u16 = 0x0013;
const PRIVATE_CREATOR: &str = "CORELAB FUZZ PHI";

/// Deepest sequence nesting planted into.
const DEPTH: usize = 8;

/// The de-identification set-up the first two input bytes choose: bits 0–9 select
/// [`ProfileOption::ALL`] (Retain Institution Identity never; with both longitudinal-date
/// options, only Modified Dates), bit 10 a blackout rule that matches every object, bit 11 a
/// trial's private rules (a kept block and a safe-list addition), bit 12 a trial subject with the
/// Clinical Trial modules instead of the default pseudonym.
#[derive(Clone, Debug)]
pub struct Choice {
    options: Vec<ProfileOption>,
    blackout: bool,
    private: bool,
    trial_subject: bool,
}

impl Choice {
    /// The set-up of two option bytes.
    pub fn of(bits: u16) -> Self {
        let mut options: Vec<ProfileOption> = ProfileOption::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, o)| *o)
            .filter(|o| *o != ProfileOption::RetainInstitutionIdentity)
            .collect();
        if options.contains(&ProfileOption::RetainLongModifiedDates) {
            options.retain(|o| *o != ProfileOption::RetainLongFullDates);
        }
        Self {
            options,
            blackout: bits & (1 << 10) != 0,
            private: bits & (1 << 11) != 0,
            trial_subject: bits & (1 << 12) != 0,
        }
    }

    fn deidentifier(&self) -> Deidentifier {
        let mut d = match Deidentifier::new(
            self.options.iter().copied(),
            TrialSecret::from_bytes([7; 32]),
            -3650..=-365,
        ) {
            Ok(d) => d,
            // `of` never chooses contradicting options; this is the harness's own bug.
            Err(e) => panic!("fuzz harness chose options the engine refuses: {e}"),
        };
        if self.blackout {
            d = d.with_blackout(vec![BlackoutRule {
                modality: Some(String::new()),
                manufacturer: None,
                model: None,
                rows: None,
                columns: None,
                rectangles: vec![[0, 0, 16, 4], [3, 2, 5, 7]],
            }]);
        }
        if self.private {
            d = d.with_private(PrivatePolicy {
                keep: ["GEMS_PARM_01".to_owned()].into_iter().collect(),
                ..PrivatePolicy::default()
            });
        }
        d
    }
}

/// Runs the target; `true` when the object was de-identified (and held no marker).
pub fn run(data: &[u8]) -> bool {
    let Some((head, dicom)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let choice = Choice::of(u16::from_le_bytes(*head));
    let Ok(parsed) = corelab_dicom::read::read_bytes(dicom) else {
        return false;
    };
    // The bytes as the pipeline writes them: in the object's own transfer syntax, except
    // deflated, which would hide text from a byte search.
    let ts = match parsed.transfer_syntax.as_str() {
        "1.2.840.10008.1.2.1.99" => "1.2.840.10008.1.2.1",
        other => other,
    };
    // An input that holds a marker itself is skipped: a finding would be meaningless. In its
    // values, its bytes, and its encoding (a big endian value is held byte-swapped in memory,
    // so only the encoding shows a marker the fuzzer wrote into it).
    if find(&parsed.dataset, MARK, "").is_some()
        || holds(dicom, MARK)
        || encode_part10(parsed.dataset.clone(), ts).is_ok_and(|b| holds(&b, MARK))
    {
        return false;
    }
    let mut obj = parsed.dataset;
    let markers = plant(&mut obj);
    let d = choice.deidentifier();
    let result = if choice.trial_subject {
        let subject = Subject {
            id: "S01-001".into(),
            trial: Some(ClinicalTrial {
                sponsor: "Fuzz Pharma".into(),
                protocol_id: "FUZZ-PROTOCOL".into(),
                site_id: "S01".into(),
                site_name: "Fuzz Hospital".into(),
                time_point: Some("BASELINE".into()),
                coordinating_center: "corelab".into(),
            }),
        };
        d.clone().for_trial().deidentify_as(&obj, &subject)
    } else {
        d.deidentify(&obj)
    };
    let Ok((clean, _outcome)) = result else {
        return false; // a refusal: nothing is written
    };
    if let Some(at) = find(&clean, MARK, "") {
        panic!(
            "planted PHI survived de-identification with {choice:?}: {at} (markers {markers:?})"
        );
    }
    // The verifier `corelab deid --verify` runs, on the same pair: it must not fail on any input.
    let mut originals = OriginalPhi::default();
    originals.collect(&obj, &d);
    let _ = verify_dataset(&clean, &d, Some(&originals));
    if let Ok(bytes) = encode_part10(clean, ts)
        && let Some(at) = bytes.windows(MARK.len()).position(|w| w == MARK.as_bytes())
    {
        let end = (at + 24).min(bytes.len());
        panic!(
            "planted PHI survived in the encoded object ({ts}) with {choice:?} at byte {at}: {:?}",
            String::from_utf8_lossy(&bytes[at..end])
        );
    }
    true
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Plants the markers into `obj`; returns them.
pub fn plant(obj: &mut InMemDicomObject) -> Vec<String> {
    let mut markers = Vec::new();
    let mut next = || {
        let m = format!("{MARK}{:02}", markers.len());
        markers.push(m.clone());
        m
    };
    let text = |tag: Tag, vr: VR, v: String| DataElement::new(tag, vr, PrimitiveValue::from(v));
    // Into every item of the sequences the object has, before the planted ones are added.
    plant_in_items(obj, &mut next, 0);
    for (tag, vr) in SLOTS {
        obj.put(text(tag, vr, format!("DOE^{}", next())));
    }
    obj.put(text(
        Tag(PRIVATE_GROUP, 0x0010),
        VR::LO,
        PRIVATE_CREATOR.to_owned(),
    ));
    obj.put(text(Tag(PRIVATE_GROUP, 0x1001), VR::LO, next()));
    obj.put(text(Tag(PRIVATE_GROUP, 0x1002), VR::PN, next()));
    // A sequence the profile does not list (kept, its items cleaned), holding identifying
    // attributes and a reference sequence (X/Z/U*: UIDs replaced, the rest cleaned) in turn.
    let inner = InMemDicomObject::from_element_iter([
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.4".into()),
        text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, next()),
        text(tags::PATIENT_ID, VR::LO, next()),
    ]);
    let item = InMemDicomObject::from_element_iter([
        text(tags::CODE_VALUE, VR::SH, "T-A0100".into()),
        text(tags::PATIENT_NAME, VR::PN, next()),
        text(tags::INSTITUTION_NAME, VR::LO, next()),
        DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            Value::Sequence(DataSetSequence::new(vec![inner], Length::UNDEFINED)),
        ),
    ]);
    obj.put(DataElement::new(
        tags::ANATOMIC_REGION_SEQUENCE,
        VR::SQ,
        Value::Sequence(DataSetSequence::new(vec![item], Length::UNDEFINED)),
    ));
    markers
}

/// Puts an Institution Name and a Patient Name marker into every item of every sequence of
/// `obj`, down to [`DEPTH`].
fn plant_in_items(obj: &mut InMemDicomObject, next: &mut impl FnMut() -> String, depth: usize) {
    if depth >= DEPTH {
        return;
    }
    let sequences: Vec<Tag> = obj
        .iter()
        .filter(|e| matches!(e.value(), Value::Sequence(_)))
        .map(|e| e.tag())
        .collect();
    for tag in sequences {
        obj.update_value(tag, |value| {
            if let Some(items) = value.items_mut() {
                for item in items.iter_mut() {
                    plant_in_items(item, next, depth + 1);
                    item.put(DataElement::new(
                        tags::INSTITUTION_NAME,
                        VR::LO,
                        PrimitiveValue::from(next()),
                    ));
                    item.put(DataElement::new(
                        tags::PATIENT_NAME,
                        VR::PN,
                        PrimitiveValue::from(next()),
                    ));
                }
            }
        });
    }
}

/// Where `needle` occurs in `obj`'s values (text, binary, fragments, sequence items), as a tag
/// path with the value.
pub fn find(obj: &InMemDicomObject, needle: &str, path: &str) -> Option<String> {
    for e in obj.iter() {
        let here = format!("{path}{}", e.tag());
        match e.value() {
            Value::Primitive(p) => {
                if holds(&p.to_bytes(), needle) {
                    return Some(format!("{here} = {:?}", p.to_str()));
                }
            }
            Value::Sequence(s) => {
                for (i, item) in s.items().iter().enumerate() {
                    if let Some(at) = find(item, needle, &format!("{here}[{i}].")) {
                        return Some(at);
                    }
                }
            }
            Value::PixelSequence(ps) => {
                if ps.fragments().iter().any(|f| holds(f, needle)) {
                    return Some(format!("{here} (a pixel data fragment)"));
                }
            }
        }
    }
    None
}
