//! An instance's metadata as DICOM JSON (PS3.18 Annex F), made once at ingest: the whole data set
//! without its bulk data (for WADO-RS metadata), and its short top-level attributes (for QIDO-RS
//! `includefield`, answered from the index). Bulk data (pixel data and any large binary value)
//! is replaced by a `BulkDataURI` relative to the instance (`bulk/GGGGEEEE`), which the server
//! makes absolute when it answers.

use dicom_core::header::Header;
use dicom_core::value::Value as DicomValue;
use dicom_core::{Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use serde_json::{Map, Value, json};

/// Binary values larger than this are bulk data (PS3.18 leaves the threshold to the server).
const BULK_BYTES: u32 = 1024;

/// Attributes longer than this are left out of the index's attribute set.
const SHORT_BYTES: u32 = 256;

/// What the index keeps of an instance.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// The DICOM JSON object of the whole data set, bulk data as relative `BulkDataURI`s.
    pub json: Vec<u8>,
    /// The DICOM JSON object of the short, non-sequence, non-binary top-level attributes.
    pub attributes: String,
}

fn is_binary(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN
    )
}

/// Whether an element is bulk data: pixel data of any kind, or a large binary value.
fn is_bulk(tag: Tag, vr: VR, len: Option<u32>) -> bool {
    tag == dicom_dictionary_std::tags::PIXEL_DATA
        || tag == dicom_dictionary_std::tags::FLOAT_PIXEL_DATA
        || tag == dicom_dictionary_std::tags::DOUBLE_FLOAT_PIXEL_DATA
        || (is_binary(vr) && len.is_none_or(|l| l > BULK_BYTES))
}

/// The byte length of a primitive value (None for sequences and encapsulated pixel data).
fn value_len(e: &InMemElement) -> Option<u32> {
    match e.value() {
        DicomValue::Primitive(p) => u32::try_from(p.calculate_byte_len()).ok(),
        _ => None,
    }
}

/// The tag as DICOM JSON names it (`GGGGEEEE`, upper-case hex).
pub fn json_key(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.group(), tag.element())
}

/// The metadata of a (de-identified) data set.
pub fn metadata(obj: &InMemDicomObject) -> Result<Metadata, String> {
    let mut bulk = Vec::new();
    let kept = InMemDicomObject::from_element_iter(obj.iter().filter_map(|e| {
        let len = value_len(e);
        if is_bulk(e.tag(), e.vr(), len) {
            bulk.push((e.tag(), e.vr()));
            None
        } else {
            Some(e.clone())
        }
    }));
    let mut whole = match dicom_json::to_value(&kept) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("DICOM JSON of the data set is not an object".into()),
        Err(e) => return Err(format!("cannot write the data set as DICOM JSON: {e}")),
    };
    for (tag, vr) in bulk {
        let key = json_key(tag);
        whole.insert(
            key.clone(),
            json!({"vr": vr.to_string(), "BulkDataURI": format!("bulk/{key}")}),
        );
    }
    let short = InMemDicomObject::from_element_iter(
        kept.iter()
            .filter(|e| {
                e.vr() != VR::SQ
                    && !is_binary(e.vr())
                    && value_len(e).is_some_and(|l| l <= SHORT_BYTES)
            })
            .cloned(),
    );
    let mut attributes = dicom_json::to_value(&short)
        .map_err(|e| format!("cannot write the attributes as DICOM JSON: {e}"))?;
    numbers(&mut attributes);
    let attributes = attributes.to_string();
    let mut whole = Value::Object(sorted(whole));
    numbers(&mut whole);
    let json = serde_json::to_vec(&whole).map_err(|e| format!("cannot encode DICOM JSON: {e}"))?;
    Ok(Metadata { json, attributes })
}

/// IS and DS values as JSON numbers, as PS3.18 Table F.2.3-1 has them (dicom-json writes them as
/// strings); a value that is not a number stays a string. At any depth.
fn numbers(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let numeric = matches!(o.get("vr").and_then(Value::as_str), Some("IS" | "DS"));
            for (k, e) in o.iter_mut() {
                if numeric && k == "Value" {
                    if let Some(items) = e.as_array_mut() {
                        for item in items {
                            let n = item
                                .as_str()
                                .and_then(|s| s.trim().parse::<f64>().ok())
                                .and_then(|f| {
                                    if f.fract() == 0.0 && f.abs() < 9.0e15 {
                                        Some(Value::from(f as i64))
                                    } else {
                                        serde_json::Number::from_f64(f).map(Value::Number)
                                    }
                                });
                            if let Some(n) = n {
                                *item = n;
                            }
                        }
                    }
                } else {
                    numbers(e);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(numbers),
        _ => {}
    }
}

/// The map with its keys in tag order (DICOM JSON objects are conventionally so ordered).
fn sorted(m: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue};
    use dicom_dictionary_std::tags;

    #[test]
    fn pixel_data_becomes_a_bulk_data_uri_and_short_attributes_are_indexed() {
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("SUBJ-001")),
            DataElement::new(tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from("7")),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(2_u16)),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U8(vec![1_u8; 4096].into()),
            ),
        ]);
        let m = metadata(&obj).unwrap();
        let v: Value = serde_json::from_slice(&m.json).unwrap();
        assert_eq!(v["00100020"]["Value"][0], "SUBJ-001");
        assert_eq!(v["7FE00010"]["BulkDataURI"], "bulk/7FE00010");
        assert!(v["7FE00010"].get("InlineBinary").is_none());
        let a: Value = serde_json::from_str(&m.attributes).unwrap();
        assert_eq!(a["00200013"]["Value"][0], 7);
        assert_eq!(a["00280010"]["Value"][0], 2);
        assert!(a.get("7FE00010").is_none());
    }
}
