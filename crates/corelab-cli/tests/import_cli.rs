//! `corelab import` and `corelab quarantine` as a coordinator runs them: folders and zip archives
//! in, a report per object, bad entries refused by name, quarantine released and discarded.

mod common;

use common::{corelab, corpus, json, lab_with_trial};
use std::io::Write;
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    corpus(&format!("pydicom_test_files/{rel}"))
}

const TRIAL: &str = r#"
[trial]
id = "IMP-1"
sponsor = "Example Pharma"
protocol = "EXP-1"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"

[deid]
options = ["retain-long-modified-dates"]
"#;

#[test]
fn a_folder_and_a_zip_are_imported_and_every_object_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("study")).unwrap();
    std::fs::copy(shared("CT_small.dcm"), input.join("study/ct.dcm")).unwrap();
    std::fs::write(input.join("notes.txt"), "not dicom").unwrap();
    // A zip: a good entry, one that escapes, and one that expands past the limit.
    let zip_path = dir.path().join("upload.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("series/mr.dcm", opts).unwrap();
        zip.write_all(&std::fs::read(shared("MR_small.dcm")).unwrap())
            .unwrap();
        zip.start_file("../../etc/evil.dcm", opts).unwrap();
        zip.write_all(b"x").unwrap();
        zip.start_file("bomb.dcm", opts).unwrap();
        zip.write_all(&vec![0u8; 3 << 20]).unwrap();
        zip.finish().unwrap();
    }
    let r = corelab(
        &data,
        &[
            "--json",
            "import",
            "IMP-1",
            "--site",
            "S01",
            "--max-mib",
            "1",
            input.to_str().unwrap(),
            zip_path.to_str().unwrap(),
        ],
    );
    assert_eq!(
        r.status.code(),
        Some(3),
        "quarantined or refused objects: exit 3"
    );
    let s = json(&r);
    assert_eq!(
        (
            s["stored"].as_u64(),
            s["quarantined"].as_u64(),
            s["refused"].as_u64()
        ),
        (Some(2), Some(1), Some(2)),
        "{s}"
    );
    let files = s["files"].as_array().unwrap();
    let row = |suffix: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
            .unwrap()
            .clone()
    };
    assert!(
        row("evil.dcm")["reason"]
            .as_str()
            .unwrap()
            .contains("escapes the archive")
    );
    assert!(
        row("bomb.dcm")["reason"]
            .as_str()
            .unwrap()
            .contains("limit")
    );
    assert!(
        row("notes.txt")["reason"]
            .as_str()
            .unwrap()
            .contains("not a DICOM file")
    );
    assert_eq!(row("upload.zip!series/mr.dcm")["outcome"], "stored");
    // Importing again: duplicates, nothing new.
    let again = json(&corelab(
        &data,
        &[
            "--json",
            "import",
            "IMP-1",
            "--site",
            "S01",
            input.join("study").to_str().unwrap(),
        ],
    ));
    assert_eq!(again["duplicate"], 1, "{again}");
    // The quarantine: list, show (no identifying values), discard with a reason.
    let list = json(&corelab(&data, &["--json", "quarantine", "list"]));
    let id = list[0]["id"].as_i64().unwrap();
    let shown = corelab(&data, &["--json", "quarantine", "show", &id.to_string()]);
    assert!(
        json(&shown)["entry"]["reason"]
            .as_str()
            .unwrap()
            .contains("not a DICOM file")
    );
    let r = corelab(
        &data,
        &["quarantine", "release", &id.to_string(), "--reason", "try"],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("stays held"));
    assert!(
        corelab(
            &data,
            &[
                "quarantine",
                "discard",
                &id.to_string(),
                "--reason",
                "a text file"
            ]
        )
        .status
        .success()
    );
    assert_eq!(
        json(&corelab(&data, &["--json", "quarantine", "list"]))
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Unknown trial or site: a usage error before anything is read.
    let r = corelab(
        &data,
        &["import", "IMP-1", "--site", "S09", input.to_str().unwrap()],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no site \"S09\""));
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}

#[test]
fn a_dicomdir_brings_the_files_of_its_set_and_one_that_points_outside_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    // The DICOMDIR of pydicom's test file set: 31 image records under 77654033/ and 98892001/.
    let index = shared("dicomdirtests/DICOMDIR");
    let r = corelab(
        &data,
        &[
            "--json",
            "import",
            "IMP-1",
            "--site",
            "S01",
            index.to_str().unwrap(),
        ],
    );
    let s = json(&r);
    let files = s["files"].as_array().unwrap();
    assert_eq!(files.len(), 32, "the index and its 31 files: {s}");
    assert_eq!(
        files[0]["outcome"], "skipped",
        "the index itself: {}",
        files[0]
    );
    assert_eq!(
        s["stored"].as_u64().unwrap() + s["quarantined"].as_u64().unwrap(),
        31,
        "{s}"
    );
    // The same set named twice (its folder and its index): each file once.
    let folder = index.parent().unwrap().join("77654033");
    let twice = json(&corelab(
        &data,
        &[
            "--json",
            "import",
            "IMP-1",
            "--site",
            "S01",
            folder.to_str().unwrap(),
            index.to_str().unwrap(),
        ],
    ));
    assert_eq!(twice["files"].as_array().unwrap().len(), 32, "{twice}");

    // A DICOMDIR whose record points at ../../etc/passwd: refused by name, nothing read.
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let mut evil = dicom_object::open_file(&index).unwrap();
    let record = dicom_object::InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::DIRECTORY_RECORD_TYPE,
            VR::CS,
            PrimitiveValue::from("IMAGE"),
        ),
        DataElement::new(
            tags::REFERENCED_FILE_ID,
            VR::CS,
            PrimitiveValue::Strs(
                ["..", "..", "ETC", "PASSWD"]
                    .map(String::from)
                    .into_iter()
                    .collect(),
            ),
        ),
    ]);
    evil.put(DataElement::new(
        tags::DIRECTORY_RECORD_SEQUENCE,
        VR::SQ,
        dicom_core::value::DataSetSequence::from(vec![record]),
    ));
    let evil_dir = dir.path().join("media");
    std::fs::create_dir_all(&evil_dir).unwrap();
    evil.write_to_file(evil_dir.join("DICOMDIR")).unwrap();
    let r = corelab(
        &data,
        &[
            "import",
            "IMP-1",
            "--site",
            "S01",
            evil_dir.join("DICOMDIR").to_str().unwrap(),
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("record 1 references") && err.contains("outside the file set"),
        "{err}"
    );
}
