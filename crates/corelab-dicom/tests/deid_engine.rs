//! The engine on objects built with planted PHI: at the top level, inside nested sequences, in
//! private blocks and under a UN VR; UID references stay consistent; date intervals are preserved.

use chrono::NaiveDate;
use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{DeidError, Deidentifier, TrialSecret, UidMapper};
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

const SECRET: [u8; 32] = [5; 32];

fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(
        tag,
        VR::SQ,
        Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
    )
}

fn el(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

fn planted() -> InMemDicomObject {
    let referenced = InMemDicomObject::from_element_iter([
        el(
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.4",
        ),
        el(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            "1.2.3.4.5.6.7.100",
        ),
    ]);
    let radiopharmaceutical = InMemDicomObject::from_element_iter([
        el(
            tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
            VR::DT,
            "20250110083000.000000",
        ),
        el(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "083000"),
        // PHI hidden two levels down, in an attribute the profile zeroes wherever it is.
        seq(
            tags::REQUEST_ATTRIBUTES_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([el(
                tags::REQUESTED_PROCEDURE_ID,
                VR::SH,
                "PHI-REQ-77",
            )])],
        ),
        el(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Hidden^Doctor"),
    ]);
    InMemDicomObject::from_element_iter([
        el(tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
        el(tags::PATIENT_ID, VR::LO, "MRN-0042"),
        el(tags::PATIENT_BIRTH_DATE, VR::DA, "19610412"),
        el(tags::ACCESSION_NUMBER, VR::SH, "ACC-991"),
        el(tags::INSTITUTION_NAME, VR::LO, "St Elsewhere"),
        el(tags::STUDY_DATE, VR::DA, "20250110"),
        el(tags::SERIES_TIME, VR::TM, "091500"),
        el(tags::ACQUISITION_DATE_TIME, VR::DT, "20250110091500"),
        el(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.4.5.6.7.1"),
        el(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5.6.7.100"),
        el(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.128"),
        el(tags::MODALITY, VR::CS, "PT"),
        el(tags::STUDY_DESCRIPTION, VR::LO, "PET for Jane Doe"),
        seq(tags::REFERENCED_IMAGE_SEQUENCE, vec![referenced]),
        seq(
            tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
            vec![radiopharmaceutical],
        ),
        el(Tag(0x0009, 0x0010), VR::LO, "ACME private"),
        el(Tag(0x0009, 0x1001), VR::LO, "Doe^Jane again"),
        DataElement::new(
            tags::OPERATORS_NAME,
            VR::UN,
            PrimitiveValue::from(b"Tech^Tom".to_vec()),
        ),
    ])
}

fn everything_as_text(obj: &InMemDicomObject) -> String {
    let mut out = String::new();
    for e in obj.iter() {
        match e.value() {
            Value::Sequence(s) => s
                .items()
                .iter()
                .for_each(|i| out.push_str(&everything_as_text(i))),
            v => {
                out.push_str(&v.to_str().map(|s| s.into_owned()).unwrap_or_default());
                out.push('|');
            }
        }
    }
    out
}

fn value(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag).map(|e| {
        e.value()
            .to_str()
            .map(|s| s.into_owned())
            .unwrap_or_default()
    })
}

fn item(obj: &InMemDicomObject, tag: Tag) -> InMemDicomObject {
    match obj.element(tag).unwrap().value() {
        Value::Sequence(s) => s.items()[0].clone(),
        _ => panic!("{tag} is not a sequence"),
    }
}

#[test]
fn no_planted_identifier_survives_at_any_depth() {
    let d = Deidentifier::new(
        [ProfileOption::RetainLongModifiedDates],
        TrialSecret::from_bytes(SECRET),
        -3650..=-365,
    )
    .unwrap();
    let (out, outcome) = d.deidentify(&planted()).unwrap();
    let text = everything_as_text(&out);
    for phi in [
        "Doe",
        "Jane",
        "MRN-0042",
        "19610412",
        "ACC-991",
        "Elsewhere",
        "PHI-REQ-77",
        "Hidden",
        "ACME",
        "Tech^Tom",
    ] {
        assert!(!text.contains(phi), "{phi} survived: {text}");
    }
    assert_eq!(value(&out, tags::PATIENT_ID).unwrap(), outcome.subject);
    assert_eq!(value(&out, tags::PATIENT_NAME).unwrap(), outcome.subject);
    assert!(outcome.subject.starts_with("SUBJ-"));
    assert_eq!(value(&out, tags::PATIENT_IDENTITY_REMOVED).unwrap(), "YES");
    assert_eq!(
        value(&out, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).unwrap(),
        "MODIFIED"
    );
    assert!(
        out.element_opt(Tag(0x0009, 0x1001)).unwrap().is_none(),
        "private attribute kept"
    );
    let codes: Vec<String> = match out
        .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .value()
    {
        Value::Sequence(s) => s
            .items()
            .iter()
            .map(|i| value(i, tags::CODE_VALUE).unwrap())
            .collect(),
        _ => panic!(),
    };
    assert_eq!(codes, ["113100", "113107"]);
}

#[test]
fn uid_references_stay_consistent_across_sequences_and_files() {
    let d = Deidentifier::new([], TrialSecret::from_bytes(SECRET), -3650..=-365).unwrap();
    let (out, _) = d.deidentify(&planted()).unwrap();
    let m = UidMapper::new(TrialSecret::from_bytes(SECRET));
    assert_eq!(
        value(&out, tags::STUDY_INSTANCE_UID).unwrap(),
        m.map("1.2.3.4.5.6.7.1")
    );
    let new_sop = value(&out, tags::SOP_INSTANCE_UID).unwrap();
    let refd = item(&out, tags::REFERENCED_IMAGE_SEQUENCE);
    assert_eq!(
        value(&refd, tags::REFERENCED_SOP_INSTANCE_UID).unwrap(),
        new_sop
    );
    assert_eq!(
        value(&out, tags::SOP_CLASS_UID).unwrap(),
        "1.2.840.10008.5.1.4.1.1.128",
        "SOP Class UIDs are not identifying"
    );
    // Another site, another run: the same mapping.
    let (again, _) = Deidentifier::new([], TrialSecret::from_bytes(SECRET), -3650..=-365)
        .unwrap()
        .deidentify(&planted())
        .unwrap();
    assert_eq!(value(&again, tags::SOP_INSTANCE_UID).unwrap(), new_sop);
}

#[test]
fn modified_dates_keep_every_interval_and_time_so_pet_decay_stays_right() {
    let d = Deidentifier::new(
        [ProfileOption::RetainLongModifiedDates],
        TrialSecret::from_bytes(SECRET),
        -3650..=-365,
    )
    .unwrap();
    let (out, outcome) = d.deidentify(&planted()).unwrap();
    assert!((-3650..=-365).contains(&outcome.date_offset_days));
    let study =
        NaiveDate::parse_from_str(&value(&out, tags::STUDY_DATE).unwrap(), "%Y%m%d").unwrap();
    assert_eq!(
        (study - NaiveDate::from_ymd_opt(2025, 1, 10).unwrap()).num_days(),
        outcome.date_offset_days
    );
    let acq = value(&out, tags::ACQUISITION_DATE_TIME).unwrap();
    let injection = value(
        &item(&out, tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE),
        tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
    )
    .unwrap();
    assert_eq!(
        &acq[..8],
        &injection[..8],
        "same day before, same day after"
    );
    assert_eq!(
        (&acq[8..], &injection[8..]),
        ("091500", "083000.000000"),
        "times untouched"
    );
    assert_eq!(value(&out, tags::SERIES_TIME).unwrap(), "091500");
    assert_eq!(&acq[..8], value(&out, tags::STUDY_DATE).unwrap());
}

#[test]
fn without_date_options_dates_are_emptied_and_with_full_dates_kept() {
    let basic = Deidentifier::new([], TrialSecret::from_bytes(SECRET), -10..=-1).unwrap();
    let (out, outcome) = basic.deidentify(&planted()).unwrap();
    assert_eq!(value(&out, tags::STUDY_DATE).unwrap(), "");
    assert_eq!(outcome.date_offset_days, 0);
    let full = Deidentifier::new(
        [ProfileOption::RetainLongFullDates],
        TrialSecret::from_bytes(SECRET),
        -10..=-1,
    )
    .unwrap();
    let (out, _) = full.deidentify(&planted()).unwrap();
    assert_eq!(value(&out, tags::STUDY_DATE).unwrap(), "20250110");
    assert_eq!(
        value(&out, tags::PATIENT_BIRTH_DATE).unwrap_or_default(),
        "",
        "birth date is not a longitudinal date"
    );
}

#[test]
fn contradicting_date_options_are_refused() {
    let e = Deidentifier::new(
        [
            ProfileOption::RetainLongFullDates,
            ProfileOption::RetainLongModifiedDates,
        ],
        TrialSecret::from_bytes(SECRET),
        -10..=-1,
    )
    .unwrap_err();
    assert_eq!(
        e,
        DeidError::ConflictingOptions("retain-long-full-dates", "retain-long-modified-dates")
    );
}

#[test]
fn burned_in_text_risk_is_flagged_for_secondary_capture_and_ultrasound() {
    let d = Deidentifier::new([], TrialSecret::from_bytes(SECRET), -10..=-1).unwrap();
    let mut sc = planted();
    sc.put(el(tags::MODALITY, VR::CS, "US"));
    assert!(
        d.deidentify(&sc)
            .unwrap()
            .1
            .burned_in_risk
            .unwrap()
            .contains("US")
    );
    let mut yes = planted();
    yes.put(el(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"));
    assert!(d.deidentify(&yes).unwrap().1.burned_in_risk.is_some());
    assert!(d.deidentify(&planted()).unwrap().1.burned_in_risk.is_none());
}

#[test]
fn the_verifier_passes_clean_output_and_finds_every_kind_of_residue() {
    use corelab_dicom::deid::{OriginalPhi, verify_dataset};
    let d = Deidentifier::new(
        [ProfileOption::RetainLongModifiedDates],
        TrialSecret::from_bytes(SECRET),
        -3650..=-365,
    )
    .unwrap();
    let original = planted();
    let (clean, _) = d.deidentify(&original).unwrap();
    let mut phi = OriginalPhi::default();
    phi.collect(&original, &d);
    assert!(phi.len() >= 8, "{}", phi.len());
    assert_eq!(verify_dataset(&clean, &d, Some(&phi)), vec![]);

    let findings_after = |change: &dyn Fn(&mut InMemDicomObject)| {
        let mut bad = clean.clone();
        change(&mut bad);
        verify_dataset(&bad, &d, Some(&phi))
    };
    // an original name in free text, nested in a sequence item
    let f = findings_after(&|o| {
        o.put(seq(
            tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([el(
                tags::IMAGE_COMMENTS,
                VR::LT,
                "scan of Doe^Jane",
            )])],
        ));
    });
    assert!(
        f.iter()
            .any(|f| f.tag.contains("[0].") && f.why.contains("Doe")),
        "{f:?}"
    );
    // a private attribute
    assert!(
        findings_after(&|o| {
            o.put(el(Tag(0x0011, 0x1010), VR::LO, "x"));
        })
        .iter()
        .any(|f| f.why.starts_with("private attribute"))
    );
    // an attribute the profile removes
    assert!(
        findings_after(&|o| {
            o.put(el(tags::PATIENT_ADDRESS, VR::LO, "zzz"));
        })
        .iter()
        .any(|f| f.why.contains("removed by the profile"))
    );
    // a UID left as it was
    let f = findings_after(&|o| {
        o.put(el(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.4.5.6.7.1"));
    });
    assert!(
        f.iter().any(|f| f.why.contains("was not replaced")),
        "{f:?}"
    );
    // an original date
    assert!(
        findings_after(&|o| {
            o.put(el(tags::STUDY_DATE, VR::DA, "20250110"));
        })
        .iter()
        .any(|f| f.why.contains("20250110"))
    );
    // identity not marked removed
    assert!(
        findings_after(&|o| {
            o.remove_element(tags::PATIENT_IDENTITY_REMOVED);
        })
        .iter()
        .any(|f| f.why.contains("PatientIdentityRemoved"))
    );
}

#[test]
fn overlays_and_curves_go_whole_unless_clean_graphics_keeps_them_for_review() {
    let mut obj = planted();
    obj.put(DataElement::new(
        Tag(0x6000, 0x0010),
        VR::US,
        PrimitiveValue::from(4u16),
    ));
    obj.put(el(Tag(0x6000, 0x0022), VR::LO, "Jane Doe annotation"));
    obj.put(el(Tag(0x6002, 0x1500), VR::LO, "Doe label"));
    obj.put(DataElement::new(
        Tag(0x6000, 0x3000),
        VR::OW,
        PrimitiveValue::from(vec![0xFFu8; 2]),
    ));
    obj.put(el(Tag(0x5000, 0x2500), VR::LO, "curve of Jane"));
    let basic = Deidentifier::new([], TrialSecret::from_bytes(SECRET), -3650..=-365).unwrap();
    let (out, outcome) = basic.deidentify(&obj).unwrap();
    assert!(
        out.iter()
            .all(|e| !(0x5000..=0x601E).contains(&e.header().tag.group())),
        "an overlay or curve attribute survived"
    );
    assert!(outcome.burned_in_risk.is_none());
    let graphics = Deidentifier::new(
        [ProfileOption::CleanGraphics],
        TrialSecret::from_bytes(SECRET),
        -3650..=-365,
    )
    .unwrap();
    let (out, outcome) = graphics.deidentify(&obj).unwrap();
    assert_eq!(value(&out, Tag(0x6000, 0x0022)).as_deref(), Some(""));
    assert_eq!(value(&out, Tag(0x6002, 0x1500)).as_deref(), Some(""));
    assert_eq!(value(&out, Tag(0x5000, 0x2500)).as_deref(), Some(""));
    assert!(out.element(Tag(0x6000, 0x3000)).is_ok());
    assert!(outcome.burned_in_risk.unwrap().contains("(6000,3000)"));
    assert!(!everything_as_text(&out).contains("Jane"));
}

#[test]
fn clean_descriptors_keeps_descriptions_without_identifying_values_and_empties_the_rest() {
    use corelab_dicom::deid::{OriginalPhi, verify_dataset};
    let d = Deidentifier::new(
        [ProfileOption::CleanDescriptors],
        TrialSecret::from_bytes(SECRET),
        -3650..=-365,
    )
    .unwrap();
    let with = |series: &str, study: &str, protocol: &str| {
        let mut o = planted();
        o.put(el(tags::SERIES_DESCRIPTION, VR::LO, series));
        o.put(el(tags::STUDY_DESCRIPTION, VR::LO, study));
        o.put(el(tags::PROTOCOL_NAME, VR::LO, protocol));
        o
    };
    let original = with("AX T2 FLAIR", "BRAIN jane doe", "t1 mprage 20250110");
    let (clean, outcome) = d.deidentify(&original).unwrap();
    assert_eq!(
        value(&clean, tags::SERIES_DESCRIPTION).as_deref(),
        Some("AX T2 FLAIR")
    );
    // The patient's name (in any case) and a long number (a date) empty their descriptors.
    assert_eq!(
        value(&clean, tags::STUDY_DESCRIPTION).unwrap_or_default(),
        ""
    );
    assert_eq!(value(&clean, tags::PROTOCOL_NAME).unwrap_or_default(), "");
    assert_eq!(outcome.descriptors_emptied.len(), 2, "{outcome:?}");
    let mut phi = OriginalPhi::default();
    phi.collect(&original, &d);
    assert_eq!(verify_dataset(&clean, &d, Some(&phi)), vec![]);
    // Without the option, descriptors go as the Basic Profile says.
    let basic = Deidentifier::new([], TrialSecret::from_bytes(SECRET), -3650..=-365).unwrap();
    let (plain, _) = basic.deidentify(&original).unwrap();
    assert_eq!(
        value(&plain, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        ""
    );
}
