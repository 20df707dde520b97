//! Measurements written as a DICOM SR Measurement Report (PS3.16 TID 1500) in a Comprehensive 3D
//! SR object (1.2.840.10008.5.1.4.1.1.88.34; PS3.3 A.35.13), Explicit VR Little Endian.
//!
//! Modules: Patient, General Study, Clinical Trial Subject/Study (copied from the source,
//! `source.rs`), SR Document Series (Modality `SR`), General Equipment, SR Document General
//! (Completion Flag COMPLETE, Verification Flag UNVERIFIED: an algorithm's report, nobody has
//! verified it; Current Requested Procedure Evidence Sequence listing the source images and every
//! referenced SEG), SR Document Content, SOP Common.
//!
//! Content tree (TID 1500, as highdicom 0.28 writes and reads it):
//! - CONTAINER `report.title` (DCM 126000 "Imaging Measurement Report"), template 1500
//!   - HAS CONCEPT MOD Language of Content Item and Descendants (DCM 121049) = `en-US` (RFC5646)
//!   - HAS OBS CONTEXT Observer Type (DCM 121005) = Device (DCM 121007); Device Observer UID
//!     (DCM 121012); Device Observer Name (DCM 121013) (TID 1002/1004)
//!   - HAS CONCEPT MOD Procedure reported (DCM 121058) = `report.procedure`
//!   - CONTAINS Image Library (DCM 111028, TID 1600) → Image Library Group (DCM 126200) with the
//!     source's Modality (DCM 121139) and Frame of Reference UID (DCM 112227) as HAS ACQ CONTEXT,
//!     and one IMAGE item per source image
//!   - CONTAINS Imaging Measurements (DCM 126010) → one Measurement Group (DCM 125007) per group:
//!     TID 1411 (Volumetric ROI) when it references a SEG segment, TID 1501 (Measurement and
//!     Qualitative Evaluation Group) otherwise; each with Tracking Identifier (DCM 112039, TEXT),
//!     Tracking Unique Identifier (DCM 112040, UIDREF), Finding (DCM 121071), Finding Site
//!     (SCT 363698007, HAS CONCEPT MOD) if given, for TID 1411 Referenced Segment (DCM 121191,
//!     IMAGE: the SEG's SOP Instance UID and Referenced Segment Number) and Source series for
//!     segmentation (DCM 121232, UIDREF), then the measurements as NUM items (TID 1419 row 1:
//!     concept, Measured Value Sequence with Numeric Value (DS) and Floating Point Value (FD, the
//!     exact double) and a UCUM unit; an optional Derivation (DCM 121401) HAS CONCEPT MOD).
//!
//! Measurement names → codes: [`measure`] (table in `docs/dicom-export.md`).
//!
//! Refused: no group, a non-finite value (TID 1419 could carry a NaN through a Numeric Value
//! Qualifier, but corelab's measurements are finite by contract, so one that is not is a bug),
//! a unit whose scheme is not UCUM, an invalid UID, an incomplete code, segment number 0.

use super::source::{Code, DerivedMeta, Source, check_uid, code_sq, part10, sq, txt};
use super::{WriteError, ds, fail};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileDicomObject, InMemDicomObject};

/// One numeric measurement (TID 1419 row 1 / TID 1501 NUM).
#[derive(Clone, Debug, PartialEq)]
pub struct NumMeasure {
    /// What is measured (Concept Name), e.g. SCT 118565006 "Volume".
    pub concept: Code,
    /// The value (finite).
    pub value: f64,
    /// Its unit (scheme `UCUM`).
    pub unit: Code,
    /// How it is derived from the region's values (DCM 121401 "Derivation", CID 3488/7464:
    /// SCT 56851009 Maximum, SCT 373098007 Mean, DCM 126031 Peak Value Within ROI), if any.
    pub derivation: Option<Code>,
}

/// A segment of a SEG object that a measurement group is about.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentRef {
    /// The SEG's Series Instance UID (for the evidence sequence).
    pub series_instance_uid: String,
    /// The SEG's SOP Instance UID.
    pub sop_instance_uid: String,
    /// The segment's number in it (from 1).
    pub segment_number: u16,
}

/// One measurement group: one tracked finding and its measurements.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Tracking Identifier (text, e.g. `lesion 1`).
    pub tracking_id: String,
    /// Tracking Unique Identifier (a UID that stays the same for this finding across visits).
    pub tracking_uid: String,
    /// Finding (CID 6051 and others), e.g. SCT 52988006 "Lesion".
    pub finding: Code,
    /// Finding Site, e.g. SCT 10200004 "Liver".
    pub finding_site: Option<Code>,
    /// The SEG segment measured: a TID 1411 volumetric group; `None`: a TID 1501 group.
    pub segment: Option<SegmentRef>,
    /// The measurements.
    pub measurements: Vec<NumMeasure>,
}

/// A TID 1500 Measurement Report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Document title (CID 7021), usually [`imaging_measurement_report`].
    pub title: Code,
    /// The device observer: its name (`algorithm@version`) and UID.
    pub observer_device: (String, String),
    /// Procedure reported (CID 100), e.g. SCT 77477000 "Computed Tomography".
    pub procedure: Code,
    /// The groups.
    pub groups: Vec<Group>,
}

/// DCM 126000 "Imaging Measurement Report", the usual document title.
pub fn imaging_measurement_report() -> Code {
    Code::new("126000", "DCM", "Imaging Measurement Report")
}

/// How corelab's measurement names map to coded concepts (documented in
/// `docs/dicom-export.md`): the concept, the derivation (if any) and the unit the value is
/// written with (the given UCUM unit, except SUVs, which DICOM gives the UCUM unit
/// `{SUVbw}g/ml`, CID 85).
/// A code as (value, scheme, meaning).
type CodeText = (&'static str, &'static str, &'static str);

const TABLE: &[(&str, CodeText, Option<CodeText>)] = &[
    ("volume", ("118565006", "SCT", "Volume"), None),
    ("lesion-volume", ("118565006", "SCT", "Volume"), None),
    ("long-axis", ("103339001", "SCT", "Long axis"), None),
    ("ldiam", ("103339001", "SCT", "Long axis"), None),
    ("short-axis", ("103340004", "SCT", "Short axis"), None),
    ("sdiam", ("103340004", "SCT", "Short axis"), None),
    ("diameter", ("81827009", "SCT", "Diameter"), None),
    (
        "suvmax",
        ("126401", "DCM", "SUVbw"),
        Some(("56851009", "SCT", "Maximum")),
    ),
    (
        "suvmean",
        ("126401", "DCM", "SUVbw"),
        Some(("373098007", "SCT", "Mean")),
    ),
    (
        "suvpeak",
        ("126401", "DCM", "SUVbw"),
        Some(("126031", "DCM", "Peak Value Within ROI")),
    ),
    ("mtv", ("126032", "DCM", "Metabolic Volume"), None),
    ("tlg", ("126033", "DCM", "Total Lesion Glycolysis"), None),
    (
        "lesion-count",
        ("246206008", "SCT", "Number of lesions"),
        None,
    ),
    ("lesions", ("246206008", "SCT", "Number of lesions"), None),
];

/// The private coding scheme of measurements with no standard code (PS3.16 8.2: a designator
/// beginning with `99`).
pub const PRIVATE_SCHEME: &str = "99CORELAB";

/// A measurement from corelab's name for it (`volume`, `suvmax`, `gm-volume`, …), its value and
/// its UCUM unit: the standard concept where the table has one, otherwise the private scheme
/// `99CORELAB` with the name as code value and meaning, so that the name is never lost.
pub fn measure(name: &str, value: f64, ucum: &str) -> NumMeasure {
    let row = TABLE.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name));
    let code = |(v, s, m): (&str, &str, &str)| Code::new(v, s, m);
    match row {
        Some((n, concept, derivation)) => {
            let suv = n.starts_with("suv") || *n == "tlg";
            let unit = match (suv, *n) {
                (true, "tlg") => Code::new("{SUVbw}g/ml.ml", "UCUM", "SUVbw × millilitre"),
                (true, _) => Code::new(
                    "{SUVbw}g/ml",
                    "UCUM",
                    "Standardized Uptake Value body weight",
                ),
                (false, "lesion-count" | "lesions") => Code::new("{lesions}", "UCUM", "lesions"),
                _ => unit(ucum),
            };
            NumMeasure {
                concept: code(*concept),
                value,
                unit,
                derivation: derivation.map(code),
            }
        }
        None => NumMeasure {
            concept: Code::new(name, PRIVATE_SCHEME, name),
            value,
            unit: unit(ucum),
            derivation: None,
        },
    }
}

/// The Measurement Units code of a UCUM unit (CID 7181 and others), with the meaning DICOM
/// gives it where known, otherwise the unit itself.
pub fn unit(ucum: &str) -> Code {
    let meaning = match ucum {
        "mm" => "millimeter",
        "cm" => "centimeter",
        "mm2" => "square millimeter",
        "mm3" => "cubic millimeter",
        "cm3" => "cubic centimeter",
        "mL" | "ml" => "milliliter",
        "1" => "no units",
        "%" => "Percent",
        "d" => "day",
        "s" => "second",
        "ms" => "millisecond",
        "g/mL" | "g/ml" => "gram per milliliter",
        "[hnsf'U]" => "Hounsfield unit",
        "[arb'U]" => "arbitrary unit",
        "{ratio}" => "ratio",
        other => other,
    };
    Code::new(ucum, "UCUM", meaning)
}

/// The SR object of `report` about `source`.
pub fn measurement_report(
    source: &Source,
    report: &Report,
    meta: &DerivedMeta,
) -> Result<FileDicomObject<InMemDicomObject>, WriteError> {
    meta.check()?;
    report.title.check("document title")?;
    report.procedure.check("procedure reported")?;
    let (observer_name, observer_uid) = &report.observer_device;
    check_uid("Device Observer UID", observer_uid)?;
    if observer_name.trim().is_empty() {
        return fail("Device Observer Name", "empty");
    }
    if report.groups.is_empty() {
        return fail("SR", "no measurement group to report");
    }
    let mut groups = Vec::with_capacity(report.groups.len());
    for (n, g) in report.groups.iter().enumerate() {
        groups.push(group(source, g).map_err(|e| WriteError {
            what: format!("group {} ({}): {}", n + 1, g.tracking_id, e.what),
            why: e.why,
        })?);
    }

    let root = [
        code_item(
            "HAS CONCEPT MOD",
            &Code::new("121049", "DCM", "Language of Content Item and Descendants"),
            &Code::new("en-US", "RFC5646", "English (United States)"),
        ),
        code_item(
            "HAS OBS CONTEXT",
            &Code::new("121005", "DCM", "Observer Type"),
            &Code::new("121007", "DCM", "Device"),
        ),
        uid_item(
            "HAS OBS CONTEXT",
            &Code::new("121012", "DCM", "Device Observer UID"),
            observer_uid,
        ),
        text_item(
            "HAS OBS CONTEXT",
            &Code::new("121013", "DCM", "Device Observer Name"),
            observer_name,
        ),
        code_item(
            "HAS CONCEPT MOD",
            &Code::new("121058", "DCM", "Procedure reported"),
            &report.procedure,
        ),
        container(
            Some("CONTAINS"),
            &Code::new("111028", "DCM", "Image Library"),
            None,
            vec![image_library_group(source)],
        ),
        container(
            Some("CONTAINS"),
            &Code::new("126010", "DCM", "Imaging Measurements"),
            None,
            groups,
        ),
    ];

    let mut obj = InMemDicomObject::new_empty();
    for e in source.attributes.iter() {
        obj.put(e.clone());
    }
    let content = container(None, &report.title, Some("1500"), root.into());
    for e in meta.series_elements(uids::COMPREHENSIVE3_DSR_STORAGE, "SR") {
        obj.put(e);
    }
    for e in [
        // SR Document Series Module: type 2, no performed procedure step is known.
        sq(tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, vec![]),
        txt(tags::COMPLETION_FLAG, VR::CS, "COMPLETE"),
        txt(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"),
        // SR Document General Module: type 2.
        sq(tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, vec![]),
        evidence(source, report),
    ] {
        obj.put(e);
    }
    for e in content {
        obj.put(e);
    }
    part10(obj, "SR")
}

/// Current Requested Procedure Evidence Sequence (C.17.2.3): every instance the content tree
/// references, by study and series: the source images and each referenced SEG.
fn evidence(source: &Source, report: &Report) -> DataElement<InMemDicomObject> {
    let sop = |class: &str, instance: &str| {
        InMemDicomObject::from_element_iter([
            txt(tags::REFERENCED_SOP_CLASS_UID, VR::UI, class),
            txt(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, instance),
        ])
    };
    let mut series: Vec<(String, Vec<InMemDicomObject>)> = vec![(
        source.series_instance_uid.clone(),
        source
            .slices
            .iter()
            .map(|s| sop(&s.sop_class_uid, &s.sop_instance_uid))
            .collect(),
    )];
    let mut seen: Vec<&str> = Vec::new();
    for seg in report.groups.iter().filter_map(|g| g.segment.as_ref()) {
        if seen.contains(&seg.sop_instance_uid.as_str()) {
            continue;
        }
        seen.push(&seg.sop_instance_uid);
        let item = sop(uids::SEGMENTATION_STORAGE, &seg.sop_instance_uid);
        match series
            .iter_mut()
            .find(|(s, _)| *s == seg.series_instance_uid)
        {
            Some((_, items)) => items.push(item),
            None => series.push((seg.series_instance_uid.clone(), vec![item])),
        }
    }
    let series_items = series
        .into_iter()
        .map(|(uid, items)| {
            InMemDicomObject::from_element_iter([
                sq(tags::REFERENCED_SOP_SEQUENCE, items),
                txt(tags::SERIES_INSTANCE_UID, VR::UI, &uid),
            ])
        })
        .collect();
    sq(
        tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            sq(tags::REFERENCED_SERIES_SEQUENCE, series_items),
            txt(tags::STUDY_INSTANCE_UID, VR::UI, &source.study_instance_uid),
        ])],
    )
}

/// Image Library Group (TID 1601): the descriptors all source images share (TID 1602: Modality,
/// Frame of Reference UID) and one IMAGE item per source image.
fn image_library_group(source: &Source) -> InMemDicomObject {
    let mut items = vec![
        code_item(
            "HAS ACQ CONTEXT",
            &Code::new("121139", "DCM", "Modality"),
            &modality_code(&source.modality),
        ),
        uid_item(
            "HAS ACQ CONTEXT",
            &Code::new("112227", "DCM", "Frame of Reference UID"),
            &source.frame_of_reference_uid,
        ),
    ];
    for s in &source.slices {
        items.push(image_item(
            "CONTAINS",
            &Code::new("260753009", "SCT", "Source"),
            &s.sop_class_uid,
            &s.sop_instance_uid,
            None,
        ));
    }
    container(
        Some("CONTAINS"),
        &Code::new("126200", "DCM", "Image Library Group"),
        None,
        items,
    )
}

/// The Modality code (CID 29, scheme DCM: the code value is the Modality attribute's value).
fn modality_code(modality: &str) -> Code {
    let meaning = match modality {
        "CT" => "Computed Tomography",
        "MR" => "Magnetic Resonance",
        "PT" => "Positron emission tomography",
        "NM" => "Nuclear Medicine",
        other => other,
    };
    Code::new(modality, "DCM", meaning)
}

/// A Measurement Group container (TID 1411 or 1501).
fn group(source: &Source, g: &Group) -> Result<InMemDicomObject, WriteError> {
    check_uid("Tracking Unique Identifier", &g.tracking_uid)?;
    if g.tracking_id.trim().is_empty() {
        return fail("Tracking Identifier", "empty");
    }
    g.finding.check("Finding")?;
    let mut items = vec![
        text_item(
            "HAS OBS CONTEXT",
            &Code::new("112039", "DCM", "Tracking Identifier"),
            &g.tracking_id,
        ),
        uid_item(
            "HAS OBS CONTEXT",
            &Code::new("112040", "DCM", "Tracking Unique Identifier"),
            &g.tracking_uid,
        ),
        code_item(
            "CONTAINS",
            &Code::new("121071", "DCM", "Finding"),
            &g.finding,
        ),
    ];
    if let Some(site) = &g.finding_site {
        site.check("Finding Site")?;
        items.push(code_item(
            "HAS CONCEPT MOD",
            &Code::new("363698007", "SCT", "Finding Site"),
            site,
        ));
    }
    for (n, m) in g.measurements.iter().enumerate() {
        items.push(num_item(m).map_err(|e| WriteError {
            what: format!("measurement {} ({}): {}", n + 1, m.concept.meaning, e.what),
            why: e.why,
        })?);
    }
    let template = match &g.segment {
        Some(seg) => {
            check_uid("Referenced Segment SOP Instance UID", &seg.sop_instance_uid)?;
            check_uid(
                "Referenced Segment Series Instance UID",
                &seg.series_instance_uid,
            )?;
            if seg.segment_number == 0 {
                return fail("Referenced Segment", "segment numbers start at 1");
            }
            items.push(image_item(
                "CONTAINS",
                &Code::new("121191", "DCM", "Referenced Segment"),
                uids::SEGMENTATION_STORAGE,
                &seg.sop_instance_uid,
                Some(seg.segment_number),
            ));
            items.push(uid_item(
                "CONTAINS",
                &Code::new("121232", "DCM", "Source series for segmentation"),
                &source.series_instance_uid,
            ));
            "1411"
        }
        None => "1501",
    };
    Ok(container(
        Some("CONTAINS"),
        &Code::new("125007", "DCM", "Measurement Group"),
        Some(template),
        items,
    ))
}

/// A content item's common part: Relationship Type (absent at the root), Value Type, Concept
/// Name (PS3.3 C.17.3, Table C.17-5).
fn item(relationship: Option<&str>, value_type: &str, concept: &Code) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    if let Some(r) = relationship {
        obj.put(txt(tags::RELATIONSHIP_TYPE, VR::CS, r));
    }
    obj.put(txt(tags::VALUE_TYPE, VR::CS, value_type));
    obj.put(code_sq(tags::CONCEPT_NAME_CODE_SEQUENCE, concept));
    obj
}

fn container(
    relationship: Option<&str>,
    concept: &Code,
    template: Option<&str>,
    children: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    let mut obj = item(relationship, "CONTAINER", concept);
    obj.put(txt(tags::CONTINUITY_OF_CONTENT, VR::CS, "CONTINUOUS"));
    if let Some(t) = template {
        obj.put(sq(
            tags::CONTENT_TEMPLATE_SEQUENCE,
            vec![InMemDicomObject::from_element_iter([
                txt(tags::MAPPING_RESOURCE, VR::CS, "DCMR"),
                txt(tags::TEMPLATE_IDENTIFIER, VR::CS, t),
            ])],
        ));
    }
    obj.put(sq(tags::CONTENT_SEQUENCE, children));
    obj
}

fn code_item(relationship: &str, concept: &Code, value: &Code) -> InMemDicomObject {
    let mut obj = item(Some(relationship), "CODE", concept);
    obj.put(code_sq(tags::CONCEPT_CODE_SEQUENCE, value));
    obj
}

fn text_item(relationship: &str, concept: &Code, value: &str) -> InMemDicomObject {
    let mut obj = item(Some(relationship), "TEXT", concept);
    obj.put(txt(tags::TEXT_VALUE, VR::UT, value));
    obj
}

fn uid_item(relationship: &str, concept: &Code, uid: &str) -> InMemDicomObject {
    let mut obj = item(Some(relationship), "UIDREF", concept);
    obj.put(txt(tags::UID, VR::UI, uid));
    obj
}

fn image_item(
    relationship: &str,
    concept: &Code,
    class: &str,
    instance: &str,
    segment: Option<u16>,
) -> InMemDicomObject {
    let mut obj = item(Some(relationship), "IMAGE", concept);
    let mut reference = InMemDicomObject::from_element_iter([
        txt(tags::REFERENCED_SOP_CLASS_UID, VR::UI, class),
        txt(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, instance),
    ]);
    if let Some(n) = segment {
        reference.put(DataElement::new(
            tags::REFERENCED_SEGMENT_NUMBER,
            VR::US,
            PrimitiveValue::from(n),
        ));
    }
    obj.put(sq(tags::REFERENCED_SOP_SEQUENCE, vec![reference]));
    obj
}

/// A NUM item (C.17.3.2.2 Numeric Measurement Macro): Numeric Value as a Decimal String and the
/// exact double as Floating Point Value (PS3.3 Table C.18.1-1, which a DS of 16 characters
/// cannot always hold), in a UCUM unit.
fn num_item(m: &NumMeasure) -> Result<InMemDicomObject, WriteError> {
    m.concept.check("concept")?;
    m.unit.check("unit")?;
    if m.unit.scheme != "UCUM" {
        return fail(
            "unit",
            format!("{:?}: measurement units are UCUM (CID 7181)", m.unit),
        );
    }
    if !m.value.is_finite() {
        return fail("value", format!("{} is not a finite number", m.value));
    }
    let mut obj = item(Some("CONTAINS"), "NUM", &m.concept);
    obj.put(sq(
        tags::MEASURED_VALUE_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            code_sq(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, &m.unit),
            DataElement::new(
                tags::FLOATING_POINT_VALUE,
                VR::FD,
                PrimitiveValue::F64(vec![m.value].into()),
            ),
            txt(tags::NUMERIC_VALUE, VR::DS, &ds(m.value)),
        ])],
    ));
    if let Some(d) = &m.derivation {
        d.check("derivation")?;
        obj.put(sq(
            tags::CONTENT_SEQUENCE,
            vec![code_item(
                "HAS CONCEPT MOD",
                &Code::new("121401", "DCM", "Derivation"),
                d,
            )],
        ));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_standard_codes_or_the_private_scheme() {
        let v = measure("volume", 12.5, "mL");
        assert_eq!(v.concept, Code::new("118565006", "SCT", "Volume"));
        assert_eq!(v.unit, Code::new("mL", "UCUM", "milliliter"));
        let s = measure("suvmax", 7.1, "g/mL");
        assert_eq!(s.concept.value, "126401");
        assert_eq!(s.unit.value, "{SUVbw}g/ml");
        assert_eq!(s.derivation, Some(Code::new("56851009", "SCT", "Maximum")));
        let p = measure("putamen-caudate-ratio-left", 2.0, "1");
        assert_eq!(p.concept.scheme, PRIVATE_SCHEME);
        assert_eq!(p.concept.value, "putamen-caudate-ratio-left");
        assert_eq!(p.unit.meaning, "no units");
        // Over 16 characters: a Long Code Value.
        assert!(p.concept.item().get(tags::LONG_CODE_VALUE).is_some());
        assert!(p.concept.item().get(tags::CODE_VALUE).is_none());
        assert_eq!(measure("lesion-count", 3.0, "1").unit.value, "{lesions}");
    }
}
