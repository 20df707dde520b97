//! Blinding of DICOM JSON for readers and adjudicators (invariant 5): no dates or times (every
//! DA, DT and TM attribute, at any depth), and nothing that names the site, institution, device
//! or people at the site. Their own subject pseudonym and time-point labels stay. Applied by the
//! server to every QIDO-RS and WADO-RS metadata answer such a caller receives.

use serde_json::Value;

/// Attributes that name or locate the site, the institution, its staff or its equipment.
pub const SITE_TAGS: &[&str] = &[
    "00080050", // Accession Number (a site's RIS number)
    "00080080", // Institution Name
    "00080081", // Institution Address
    "00080090", // Referring Physician's Name
    "00081010", // Station Name
    "00081040", // Institutional Department Name
    "00081048", // Physician(s) of Record
    "00081050", // Performing Physician's Name
    "00081060", // Name of Physician(s) Reading Study
    "00081070", // Operators' Name
    "00181000", // Device Serial Number
    "00120030", // Clinical Trial Site ID
    "00120031", // Clinical Trial Site Name
    "00120060", // Clinical Trial Coordinating Center Name
    "00120081", // Clinical Trial Protocol Ethics Committee Name
    "00120082", // Clinical Trial Protocol Ethics Committee Approval Number
    "00321032", // Requesting Physician
    "00400241", // Performed Station AE Title
    "00400242", // Performed Station Name
    "00400243", // Performed Location
];

/// Whether a DICOM JSON value representation is a date or a time.
pub fn is_temporal(vr: &str) -> bool {
    matches!(vr, "DA" | "DT" | "TM")
}

/// Removes every date, time and site attribute from a DICOM JSON object, at any depth.
pub fn blind(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    obj.retain(|k, e| {
        let vr = e.get("vr").and_then(Value::as_str).unwrap_or_default();
        !is_temporal(vr) && !SITE_TAGS.contains(&k.as_str())
    });
    for e in obj.values_mut() {
        if e.get("vr").and_then(Value::as_str) == Some("SQ")
            && let Some(items) = e.get_mut("Value").and_then(Value::as_array_mut)
        {
            items.iter_mut().for_each(blind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_and_sites_go_at_every_depth_and_the_rest_stays() {
        let mut v = json!({
            "00080020": {"vr": "DA", "Value": ["20260101"]},
            "00080080": {"vr": "LO", "Value": ["General Hospital"]},
            "00100020": {"vr": "LO", "Value": ["SUBJ-001"]},
            "00120050": {"vr": "LO", "Value": ["V2"]},
            "00081111": {"vr": "SQ", "Value": [{
                "00080021": {"vr": "DA", "Value": ["20260101"]},
                "00081155": {"vr": "UI", "Value": ["1.2.3"]}
            }]}
        });
        blind(&mut v);
        assert!(v.get("00080020").is_none());
        assert!(v.get("00080080").is_none());
        assert_eq!(v["00100020"]["Value"][0], "SUBJ-001");
        assert_eq!(v["00120050"]["Value"][0], "V2");
        let item = &v["00081111"]["Value"][0];
        assert!(item.get("00080021").is_none());
        assert_eq!(item["00081155"]["Value"][0], "1.2.3");
    }
}
