//! The trial's own de-identification rules: safe private attributes (PS3.15 Table E.3.10-1 and
//! the trial's additions), blocks the trial must keep (refused when not safe), the trial's subject
//! and Clinical Trial modules, and pixel blackout.

use corelab_core::{BlackoutRule, PrivateTag, SafePrivateSpec};
use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{
    ClinicalTrial, Deidentifier, OriginalSubject, PrivatePolicy, Refusal, SafePrivateList, Subject,
    SubjectResolver, TrialSecret, verify_dataset,
};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::sync::Arc;

fn el(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

fn value(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag).map(|e| {
        e.value()
            .to_str()
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

/// An MR object with a Siemens diffusion block (safe: B value; not safe: a free-text element) and
/// an unknown vendor's block holding a name.
fn mr_with_private() -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        el(tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
        el(tags::PATIENT_ID, VR::LO, "MRN-0042"),
        el(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4"),
        el(tags::MODALITY, VR::CS, "MR"),
        el(Tag(0x0019, 0x0010), VR::LO, "SIEMENS MR HEADER"),
        el(Tag(0x0019, 0x100C), VR::IS, "1000"),
        el(Tag(0x0019, 0x1099), VR::LO, "Doe^Jane private"),
        el(Tag(0x0029, 0x0011), VR::LO, "ACME 1.0"),
        el(Tag(0x0029, 0x1110), VR::LO, "Doe Jane elsewhere"),
        DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            Value::Sequence(DataSetSequence::new(
                vec![InMemDicomObject::from_element_iter([
                    el(Tag(0x0019, 0x0010), VR::LO, "SIEMENS MR HEADER"),
                    el(Tag(0x0019, 0x100C), VR::IS, "500"),
                ])],
                Length::UNDEFINED,
            )),
        ),
    ])
}

fn d(options: Vec<ProfileOption>) -> Deidentifier {
    Deidentifier::new(options, TrialSecret::from_bytes([7; 32]), -3650..=-365).unwrap()
}

#[test]
fn without_the_option_every_private_attribute_goes() {
    let (out, outcome) = d(vec![]).deidentify(&mr_with_private()).unwrap();
    assert!(out.iter().all(|e| e.tag().group() % 2 == 0));
    assert!(outcome.private_kept.is_empty());
}

#[test]
fn retain_safe_private_keeps_only_listed_elements_and_their_creator() {
    let d = d(vec![ProfileOption::RetainSafePrivate]);
    let (out, outcome) = d.deidentify(&mr_with_private()).unwrap();
    assert_eq!(value(&out, Tag(0x0019, 0x100C)).as_deref(), Some("1000"));
    assert_eq!(
        value(&out, Tag(0x0019, 0x0010)).as_deref(),
        Some("SIEMENS MR HEADER")
    );
    for gone in [
        Tag(0x0019, 0x1099),
        Tag(0x0029, 0x0011),
        Tag(0x0029, 0x1110),
    ] {
        assert!(value(&out, gone).is_none(), "{gone} kept");
    }
    // Inside sequence items too, with the item's own creator.
    let Value::Sequence(s) = out
        .element(tags::REFERENCED_IMAGE_SEQUENCE)
        .unwrap()
        .value()
    else {
        panic!()
    };
    assert_eq!(
        value(&s.items()[0], Tag(0x0019, 0x100C)).as_deref(),
        Some("500")
    );
    assert_eq!(outcome.private_kept.len(), 2, "{:?}", outcome.private_kept);
    // The verifier accepts what the option keeps.
    assert!(verify_dataset(&out, &d, None).is_empty());
}

#[test]
fn the_verifier_finds_a_private_attribute_that_is_not_safe() {
    let d = d(vec![ProfileOption::RetainSafePrivate]);
    let (mut out, _) = d.deidentify(&mr_with_private()).unwrap();
    out.put(el(Tag(0x0019, 0x1099), VR::LO, "leaked"));
    let findings = verify_dataset(&out, &d, None);
    assert!(
        findings.iter().any(|f| f.tag == "(0019,1099)"),
        "{findings:?}"
    );
}

#[test]
fn an_element_in_the_same_block_number_of_another_creator_is_not_safe() {
    // (0019,100C) is safe only under "SIEMENS MR HEADER"; under another creator it goes.
    let mut obj = mr_with_private();
    obj.put(el(Tag(0x0019, 0x0010), VR::LO, "OTHER VENDOR"));
    let (out, _) = d(vec![ProfileOption::RetainSafePrivate])
        .deidentify(&obj)
        .unwrap();
    assert!(value(&out, Tag(0x0019, 0x100C)).is_none());
}

#[test]
fn a_kept_block_with_an_unlisted_element_is_refused() {
    let policy = PrivatePolicy {
        keep: ["SIEMENS MR HEADER".to_owned()].into(),
        ..PrivatePolicy::default()
    };
    let d = d(vec![ProfileOption::RetainSafePrivate]).with_private(policy.clone());
    match d.deidentify(&mr_with_private()) {
        Err(Refusal::UnsafePrivate(why)) => {
            assert!(
                why.contains("(0019,1099)") && why.contains("SIEMENS MR HEADER"),
                "{why}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The trial reviews the element and adds it to its safe list: now the object passes.
    let reviewed = PrivatePolicy {
        safe: Arc::new(SafePrivateList::with_additions(&[SafePrivateSpec {
            creator: "SIEMENS MR HEADER".into(),
            tag: PrivateTag {
                group: 0x0019,
                element: 0x99,
            },
        }])),
        ..policy
    };
    let d = crate::d(vec![ProfileOption::RetainSafePrivate]).with_private(reviewed);
    let (out, _) = d.deidentify(&mr_with_private()).unwrap();
    assert!(value(&out, Tag(0x0019, 0x1099)).is_some());
    // Keeping a block without the option cannot be honoured either.
    let d = crate::d(vec![]).with_private(PrivatePolicy {
        keep: ["ACME 1.0".to_owned()].into(),
        ..PrivatePolicy::default()
    });
    assert!(matches!(
        d.deidentify(&mr_with_private()),
        Err(Refusal::UnsafePrivate(_))
    ));
}

#[derive(Debug)]
struct Trial;

impl SubjectResolver for Trial {
    fn resolve(&self, original: &OriginalSubject) -> Result<Subject, String> {
        if original.patient_id == "UNKNOWN" {
            return Err("no site for this object".into());
        }
        Ok(Subject {
            id: format!("S01-{:03}", original.patient_id.len()),
            trial: Some(ClinicalTrial {
                sponsor: "Example Pharma".into(),
                protocol_id: "EXP-01".into(),
                site_id: "S01".into(),
                site_name: "University Hospital A".into(),
                time_point: Some("BASELINE".into()),
                coordinating_center: "corelab".into(),
            }),
        })
    }
}

#[test]
fn a_trial_subject_fills_the_clinical_trial_modules() {
    let d = d(vec![ProfileOption::RetainLongModifiedDates]).with_subjects(Arc::new(Trial));
    let (out, outcome) = d.deidentify(&mr_with_private()).unwrap();
    assert_eq!(outcome.subject, "S01-008");
    for (tag, want) in [
        (tags::PATIENT_ID, "S01-008"),
        (tags::PATIENT_NAME, "S01-008"),
        (tags::CLINICAL_TRIAL_SUBJECT_ID, "S01-008"),
        (tags::CLINICAL_TRIAL_SPONSOR_NAME, "Example Pharma"),
        (tags::CLINICAL_TRIAL_PROTOCOL_ID, "EXP-01"),
        (tags::CLINICAL_TRIAL_SITE_ID, "S01"),
        (tags::CLINICAL_TRIAL_SITE_NAME, "University Hospital A"),
        (tags::CLINICAL_TRIAL_TIME_POINT_ID, "BASELINE"),
        (tags::PATIENT_IDENTITY_REMOVED, "YES"),
    ] {
        assert_eq!(value(&out, tag).as_deref(), Some(want), "{tag}");
    }
    let mut unknown = mr_with_private();
    unknown.put(el(tags::PATIENT_ID, VR::LO, "UNKNOWN"));
    assert!(matches!(d.deidentify(&unknown), Err(Refusal::Subject(_))));
}

fn us_image(frames: u32, pixels: Value<InMemDicomObject>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        el(tags::PATIENT_ID, VR::LO, "MRN-1"),
        el(tags::MODALITY, VR::CS, "US"),
        el(tags::MANUFACTURER, VR::LO, "GE Healthcare"),
        el(tags::MANUFACTURER_MODEL_NAME, VR::LO, "LOGIQ E9"),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(4u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(6u16)),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16)),
        DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16)),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        el(tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string()),
        DataElement::new(tags::PIXEL_DATA, VR::OB, pixels),
    ])
}

fn rule() -> BlackoutRule {
    BlackoutRule {
        modality: Some("us".into()),
        manufacturer: Some("GE".into()),
        model: Some("logiq".into()),
        rows: None,
        columns: None,
        rectangles: vec![[0, 0, 6, 1], [4, 2, 10, 10]],
    }
}

#[test]
fn blackout_clears_the_rectangles_in_every_frame_and_nothing_else() {
    let pixels = Value::Primitive(PrimitiveValue::U8(vec![200u8; 4 * 6 * 2].into()));
    let d = d(vec![]).with_blackout(vec![rule()]);
    let (out, outcome) = d.deidentify(&us_image(2, pixels)).unwrap();
    let bytes = out
        .element(tags::PIXEL_DATA)
        .unwrap()
        .value()
        .to_bytes()
        .unwrap();
    for f in 0..2 {
        for y in 0..4 {
            for x in 0..6 {
                let v = bytes[f * 24 + y * 6 + x];
                let inside = y == 0 || (x >= 4 && y >= 2);
                assert_eq!(v, if inside { 0 } else { 200 }, "frame {f} x {x} y {y}");
            }
        }
    }
    assert!(outcome.blacked_out.unwrap().contains("deid.blackout[0]"));
    // Another device: untouched.
    let mut other = us_image(
        1,
        Value::Primitive(PrimitiveValue::U8(vec![200u8; 24].into())),
    );
    other.put(el(tags::MANUFACTURER, VR::LO, "Philips"));
    let (out, outcome) = d.deidentify(&other).unwrap();
    assert!(outcome.blacked_out.is_none());
    assert!(
        out.element(tags::PIXEL_DATA)
            .unwrap()
            .value()
            .to_bytes()
            .unwrap()
            .iter()
            .all(|b| *b == 200)
    );
}

#[test]
fn blackout_of_compressed_pixels_is_refused_not_skipped() {
    use dicom_core::value::PixelFragmentSequence;
    let pixels = Value::PixelSequence(PixelFragmentSequence::new(
        Vec::<u32>::new(),
        vec![vec![0xFF, 0xD8, 0xFF, 0xD9]],
    ));
    let d = d(vec![]).with_blackout(vec![rule()]);
    match d.deidentify(&us_image(1, pixels)) {
        Err(Refusal::Blackout(why)) => assert!(why.contains("compressed"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
