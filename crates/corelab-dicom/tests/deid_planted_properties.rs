//! Property test through the engine: random objects with PHI planted at random depths, in random
//! identifying attributes and private blocks; none of it survives, UIDs map consistently wherever
//! they occur, and intervals between dates are preserved exactly.

use chrono::NaiveDate;
use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{Deidentifier, TrialSecret, UidMapper};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use proptest::prelude::*;

/// Identifying attributes the profile removes, empties or replaces (text VRs).
const PHI_SLOTS: &[(Tag, VR)] = &[
    (tags::PATIENT_NAME, VR::PN),
    (tags::OTHER_PATIENT_NAMES, VR::PN),
    (tags::PATIENT_ADDRESS, VR::LO),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::PERFORMING_PHYSICIAN_NAME, VR::PN),
    (tags::OPERATORS_NAME, VR::PN),
    (tags::INSTITUTION_NAME, VR::LO),
    (tags::STATION_NAME, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
    (tags::STUDY_ID, VR::SH),
    (tags::REQUESTED_PROCEDURE_ID, VR::SH),
    (tags::IMAGE_COMMENTS, VR::LT),
    (tags::STUDY_DESCRIPTION, VR::LO),
    (tags::SERIES_DESCRIPTION, VR::LO),
    (tags::PATIENT_COMMENTS, VR::LT),
    (tags::PATIENT_MOTHER_BIRTH_NAME, VR::PN),
];

/// Sequences to nest in: ones the profile keeps and cleans, or does not list.
const NESTS: &[Tag] = &[
    tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
    tags::ANATOMIC_REGION_SEQUENCE,
    tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
    tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
];

#[derive(Clone, Debug)]
enum Plant {
    Phi { slot: usize, marker: String },
    Private { group: u16, marker: String },
    Nest { seq: usize, inner: Vec<Plant> },
}

fn plant() -> impl Strategy<Value = Plant> {
    let leaf = prop_oneof![
        (0..PHI_SLOTS.len(), "[A-Z]{6}").prop_map(|(slot, m)| Plant::Phi {
            slot,
            marker: format!("PHI{m}")
        }),
        (0x0009u16..0x0100, "[A-Z]{6}").prop_map(|(g, m)| Plant::Private {
            group: g | 1,
            marker: format!("PHI{m}")
        }),
    ];
    leaf.prop_recursive(4, 24, 6, |inner| {
        (0..NESTS.len(), prop::collection::vec(inner, 1..6))
            .prop_map(|(seq, inner)| Plant::Nest { seq, inner })
    })
}

fn build(plants: &[Plant], markers: &mut Vec<String>) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    for p in plants {
        match p {
            Plant::Phi { slot, marker } => {
                let (tag, vr) = PHI_SLOTS[*slot];
                obj.put(DataElement::new(
                    tag,
                    vr,
                    PrimitiveValue::from(format!("x {marker} y")),
                ));
                markers.push(marker.clone());
            }
            Plant::Private { group, marker } => {
                obj.put(DataElement::new(
                    Tag(*group, 0x0010),
                    VR::LO,
                    PrimitiveValue::from("CREATOR"),
                ));
                obj.put(DataElement::new(
                    Tag(*group, 0x1001),
                    VR::LO,
                    PrimitiveValue::from(marker.clone()),
                ));
                markers.push(marker.clone());
            }
            Plant::Nest { seq, inner } => {
                let item = build(inner, markers);
                obj.put(DataElement::new(
                    NESTS[*seq],
                    VR::SQ,
                    Value::Sequence(DataSetSequence::new(vec![item], Length::UNDEFINED)),
                ));
            }
        }
    }
    obj
}

fn all_text(obj: &InMemDicomObject) -> String {
    let mut out = String::new();
    for e in obj.iter() {
        match e.value() {
            Value::Sequence(s) => s.items().iter().for_each(|i| out.push_str(&all_text(i))),
            v => out.push_str(&v.to_str().map(|s| s.into_owned()).unwrap_or_default()),
        }
        out.push('|');
    }
    out
}

fn uid_values(obj: &InMemDicomObject, tag: Tag, out: &mut Vec<String>) {
    for e in obj.iter() {
        if let Value::Sequence(s) = e.value() {
            s.items().iter().for_each(|i| uid_values(i, tag, out));
        } else if e.tag() == tag {
            out.push(e.value().to_str().unwrap().into_owned());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn planted_phi_never_survives_and_uids_and_intervals_hold(
        plants in prop::collection::vec(plant(), 1..8),
        seed in any::<[u8; 32]>(),
        days in prop::collection::vec(0u64..20_000, 2..5),
        sop in "1\\.2\\.[1-9][0-9]{1,8}\\.[1-9][0-9]{0,6}",
    ) {
        let mut markers = Vec::new();
        let mut obj = build(&plants, &mut markers);
        obj.put(DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("MRN-PHI-1")));
        obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop.clone())));
        // The same UID referenced from inside a nested sequence.
        let reference = InMemDicomObject::from_element_iter([DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop.clone()))]);
        obj.put(DataElement::new(tags::SOURCE_IMAGE_SEQUENCE, VR::SQ, Value::Sequence(DataSetSequence::new(vec![reference], Length::UNDEFINED))));
        let base = NaiveDate::from_ymd_opt(1980, 1, 1).unwrap();
        let dates: Vec<NaiveDate> = days.iter().map(|d| base + chrono::Days::new(*d)).collect();
        let date_tags = [tags::STUDY_DATE, tags::SERIES_DATE, tags::ACQUISITION_DATE, tags::CONTENT_DATE];
        for (t, d) in date_tags.iter().zip(&dates) {
            obj.put(DataElement::new(*t, VR::DA, PrimitiveValue::from(d.format("%Y%m%d").to_string())));
        }

        let d = Deidentifier::new([ProfileOption::RetainLongModifiedDates], TrialSecret::from_bytes(seed), -3650..=-365).unwrap();
        let (clean, outcome) = d.deidentify(&obj).unwrap();
        let text = all_text(&clean);
        prop_assert!(!text.contains("MRN-PHI-1"));
        for m in &markers {
            prop_assert!(!text.contains(m.as_str()), "{} survived in {}", m, text);
        }
        let mapped = UidMapper::new(TrialSecret::from_bytes(seed)).map(&sop);
        let mut refs = Vec::new();
        uid_values(&clean, tags::REFERENCED_SOP_INSTANCE_UID, &mut refs);
        prop_assert_eq!(refs, vec![mapped.clone()]);
        let mut own = Vec::new();
        uid_values(&clean, tags::SOP_INSTANCE_UID, &mut own);
        prop_assert_eq!(own, vec![mapped]);
        for (t, original) in date_tags.iter().zip(&dates) {
            let shifted = clean.element(*t).unwrap().value().to_str().unwrap().into_owned();
            let shifted = NaiveDate::parse_from_str(&shifted, "%Y%m%d").unwrap();
            prop_assert_eq!((shifted - *original).num_days(), outcome.date_offset_days);
        }
    }
}
