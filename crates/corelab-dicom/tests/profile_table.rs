//! The embedded Table E.1-1 against the machine-readable standard in ../shared.

use corelab_dicom::deid::profile::{Action, ProfileOption, ProfileTable, TagPattern};
use std::collections::BTreeMap;

fn shared_json() -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_standard_tables/innolitics_confidentiality_profile_attributes.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_table_has_every_attribute_with_the_published_action_counts() {
    let t = ProfileTable::standard();
    assert_eq!(t.edition, "2024e");
    assert_eq!(t.rows().len(), 621);
    let mut counts = BTreeMap::new();
    for r in t.rows() {
        *counts.entry(r.basic.to_string()).or_insert(0) += 1;
    }
    let expected: BTreeMap<String, i32> = [
        ("X", 384),
        ("D", 92),
        ("U", 54),
        ("Z", 42),
        ("X/D", 22),
        ("X/Z", 11),
        ("X/Z/D", 8),
        ("Z/D", 6),
        ("X/Z/U*", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, expected);
}

#[test]
fn sample_rows_read_as_the_standard_states_them() {
    let t = ProfileTable::standard();
    let row = |g, e| t.lookup(g, e).unwrap();
    assert_eq!(
        (
            row(0x0010, 0x0010).name.as_str(),
            row(0x0010, 0x0010).basic.to_string()
        ),
        ("Patient's Name", "Z".into())
    );
    assert_eq!(row(0x0010, 0x0020).basic.to_string(), "Z/D");
    assert_eq!(row(0x0008, 0x0050).basic.to_string(), "Z"); // Accession Number
    let study_uid = row(0x0020, 0x000d);
    assert_eq!(study_uid.basic.alternatives(), &[Action::Uid]);
    assert_eq!(
        study_uid
            .option_action(ProfileOption::RetainUids)
            .map(|a| a.to_string()),
        Some("K".into())
    );
    let acq_date = row(0x0008, 0x0022);
    assert_eq!(acq_date.basic.to_string(), "X/Z");
    assert_eq!(
        acq_date
            .option_action(ProfileOption::RetainLongFullDates)
            .unwrap()
            .to_string(),
        "K"
    );
    assert_eq!(
        acq_date
            .option_action(ProfileOption::RetainLongModifiedDates)
            .unwrap()
            .to_string(),
        "C"
    );
    assert_eq!(
        row(0x0010, 0x1010)
            .option_action(ProfileOption::RetainPatientCharacteristics)
            .unwrap()
            .to_string(),
        "K"
    ); // age
    assert_eq!(row(0x0018, 0x1000).basic.to_string(), "X/Z/D"); // Device Serial Number
    assert_eq!(
        row(0x0008, 0x0080)
            .option_action(ProfileOption::RetainInstitutionIdentity)
            .unwrap()
            .to_string(),
        "K"
    );
    let refd = row(0x0008, 0x1140); // Referenced Image Sequence
    assert_eq!(refd.basic.to_string(), "X/Z/U*");
    assert!(refd.basic.uids_in_items());
}

#[test]
fn repeating_groups_and_private_attributes_are_found() {
    let t = ProfileTable::standard();
    assert_eq!(t.lookup(0x6002, 0x3000).unwrap().name, "Overlay Data");
    assert_eq!(t.lookup(0x601e, 0x4000).unwrap().name, "Overlay Comments");
    assert_eq!(t.lookup(0x5010, 0x2000).unwrap().name, "Curve Data");
    let private = t.lookup(0x0009, 0x1001).unwrap();
    assert_eq!(private.pattern, TagPattern::PrivateOdd);
    assert_eq!(
        private
            .option_action(ProfileOption::RetainSafePrivate)
            .unwrap()
            .to_string(),
        "C"
    );
    assert!(
        t.lookup(0x0028, 0x0010).is_none(),
        "Rows is not in the profile"
    );
}

#[test]
fn embedded_table_matches_the_machine_readable_standard() {
    let t = ProfileTable::standard();
    let json = shared_json();
    assert_eq!(json.len(), t.rows().len());
    let columns = [
        ("rtnSafePrivOpt", ProfileOption::RetainSafePrivate),
        ("rtnUIDsOpt", ProfileOption::RetainUids),
        ("rtnDevIdOpt", ProfileOption::RetainDeviceIdentity),
        ("rtnInstIdOpt", ProfileOption::RetainInstitutionIdentity),
        (
            "rtnPatCharsOpt",
            ProfileOption::RetainPatientCharacteristics,
        ),
        ("rtnLongFullDatesOpt", ProfileOption::RetainLongFullDates),
        (
            "rtnLongModifDatesOpt",
            ProfileOption::RetainLongModifiedDates,
        ),
        ("cleanDescOpt", ProfileOption::CleanDescriptors),
        ("cleanStructContOpt", ProfileOption::CleanStructuredContent),
        ("cleanGraphOpt", ProfileOption::CleanGraphics),
    ];
    for j in &json {
        let tag = j["tag"].as_str().unwrap();
        let row = t
            .rows()
            .iter()
            .find(|r| {
                r.name
                    == j["name"]
                        .as_str()
                        .unwrap()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
            })
            .unwrap_or_else(|| panic!("{tag} missing"));
        if let TagPattern::Exact(g, e) = row.pattern {
            assert_eq!(format!("({g:04X},{e:04X})"), tag);
        }
        assert_eq!(
            row.basic.to_string(),
            j["basicProfile"].as_str().unwrap(),
            "{tag}"
        );
        for (key, option) in columns {
            assert_eq!(
                row.option_action(option).map(|a| a.to_string()),
                j.get(key).and_then(|v| v.as_str()).map(str::to_owned),
                "{tag} {key}"
            );
        }
        assert_eq!(row.in_std_comp_iod, j["stdCompIOD"] == "Y", "{tag}");
    }
}

#[test]
fn option_names_parse_and_an_unknown_one_lists_the_valid_names() {
    for o in ProfileOption::ALL {
        assert_eq!(o.name().parse::<ProfileOption>().unwrap(), o);
    }
    let e = "retain-long-modified-date"
        .parse::<ProfileOption>()
        .unwrap_err();
    assert!(e.to_string().contains("retain-long-modified-dates"), "{e}");
}

#[test]
fn malformed_table_text_is_refused_with_its_line() {
    let bad = "# edition: x\ntag\tname\tbasic\n0010,0010\tName\tQ\n";
    assert!(ProfileTable::parse(bad).unwrap_err().starts_with("line 3:"));
    let short = "# edition: x\ntag\tname\tbasic\n0010,0010\tName\n";
    assert!(
        ProfileTable::parse(short)
            .unwrap_err()
            .contains("2 cells, expected 3")
    );
}
