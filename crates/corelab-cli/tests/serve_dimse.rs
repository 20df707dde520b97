//! `corelab serve --dicom` against dcmtk's echoscu and storescu: routing by calling AE title,
//! rejections audited, objects stored through the ingest pipeline before success is answered,
//! failures quarantined with a failure status, many associations at once, a clean stop.

mod common;

use common::{audit_actions, corelab, corpus as shared, count, json, lab_with_trial, serve};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const TRIAL: &str = r#"
[trial]
id = "NET-1"
sponsor = "Example Pharma"
protocol = "EXP-1"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

fn dcmtk(tool: &str, aet: &str, port: &str, files: &[PathBuf]) -> Output {
    Command::new(format!("/usr/bin/{tool}"))
        .args(["-aet", aet, "-aec", "CORELAB", "127.0.0.1", port])
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("/usr/bin/{tool} (Debian package dcmtk; .ci/run installs it): {e}")
        })
}

#[test]
fn dcmtk_clients_echo_and_store_and_unknown_callers_are_turned_away() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let mut server = serve(&data);
    let port = server.port.clone();

    assert!(dcmtk("echoscu", "S01PACS", &port, &[]).status.success());
    let unknown = dcmtk("echoscu", "STRANGER", &port, &[]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("Calling AE Title Not Recognized"));

    let ct = shared("pydicom_test_files/CT_small.dcm");
    let mr = shared("pydicom_test_files/MR_small.dcm");
    let stored = dcmtk("storescu", "S01PACS", &port, &[ct.clone(), mr]);
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    // An object that cannot be linked to a subject (no Patient ID): a failure status, quarantined.
    let no_patient = dcmtk(
        "storescu",
        "S01PACS",
        &port,
        &[shared("pydicom_data/emri_small.dcm")],
    );
    assert!(
        !no_patient.status.success(),
        "a failure status makes storescu fail"
    );
    // 64 associations at once (the default limit), each sending the CT again: all acknowledged,
    // stored once.
    let clients: Vec<_> = (0..64)
        .map(|_| {
            Command::new("/usr/bin/storescu")
                .args(["-aet", "S01PACS", "-aec", "CORELAB", "127.0.0.1", &port])
                .arg(&ct)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in clients {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Hostile or broken peers: garbage instead of a PDU, an A-ASSOCIATE-RQ cut short, a
    // connection dropped at once. The server answers or drops them and keeps serving.
    use std::io::Write;
    for junk in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01], // A-ASSOCIATE-RQ claiming 4 GB
        vec![0x01, 0x00, 0x00, 0x00, 0x00, 0x44, 0x00, 0x01, 0x00, 0x00], // cut short
        Vec::new(),
    ] {
        let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        let _ = s.write_all(&junk);
        drop(s);
    }
    assert!(
        dcmtk("echoscu", "S01PACS", &port, &[]).status.success(),
        "still serving"
    );

    // A trial created while the server runs is routed at once.
    let second = dir.path().join("second.toml");
    std::fs::write(
        &second,
        TRIAL
            .replace("NET-1", "NET-2")
            .replace("S01PACS", "S02PACS"),
    )
    .unwrap();
    assert!(
        corelab(&data, &["trial", "create", second.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        dcmtk("echoscu", "S02PACS", &port, &[]).status.success(),
        "new site routed"
    );

    // A clean stop on SIGTERM.
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(server.child.wait().unwrap().success());

    let status = json(&corelab(&data, &["--json", "status"]));
    assert_eq!(status["instances"], 2, "{status}");
    assert_eq!(status["quarantined"], 1, "{status}");
    let actions = audit_actions(&data);
    assert_eq!(count(&actions, "dimse.reject"), 1, "{actions:?}");
    assert_eq!(count(&actions, "instance.duplicate"), 64, "{actions:?}");
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}

/// A DIMSE command set, encoded as the standard says (implicit VR little endian).
fn command(elements: Vec<dicom_core::DataElement<dicom_object::InMemDicomObject>>) -> Vec<u8> {
    let mut out = Vec::new();
    dicom_object::InMemDicomObject::command_from_element_iter(elements)
        .write_dataset_with_ts(
            &mut out,
            &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
        )
        .unwrap();
    out
}

#[test]
fn transfers_broken_inside_an_association_leave_nothing_behind_and_the_server_serves_on() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let server = serve(&data);
    let address = format!("CORELAB@127.0.0.1:{}", server.port);

    let ct_path = shared("pydicom_test_files/CT_small.dcm");
    let ct = dicom_object::open_file(&ct_path).unwrap();
    let sop_class = ct.meta().media_storage_sop_class_uid().to_owned();
    let sop_instance = ct.meta().media_storage_sop_instance_uid().to_owned();
    let ts = ct.meta().transfer_syntax().to_owned();
    let mut dataset = Vec::new();
    ct.write_dataset_with_ts(
        &mut dataset,
        &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .unwrap();
    let store_rq = command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class.as_str()),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0000u16),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance.as_str()),
        ),
    ]);
    let connect = || {
        let a = dicom_ul::ClientAssociationOptions::new()
            .calling_ae_title("S01PACS")
            .with_presentation_context(sop_class.as_str(), vec![ts.trim_end_matches('\0')])
            .establish_with(&address)
            .unwrap();
        let pc = a.presentation_contexts()[0].id;
        (a, pc)
    };
    let pdv = |pc, value_type, is_last, data: &[u8]| Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type,
            is_last,
            data: data.to_vec(),
        }],
    };

    // 1. The command and half the data set, then the client vanishes (no release, no abort).
    let (mut a, pc) = connect();
    a.send(&pdv(pc, PDataValueType::Command, true, &store_rq))
        .unwrap();
    a.send(&pdv(
        pc,
        PDataValueType::Data,
        false,
        &dataset[..dataset.len() / 2],
    ))
    .unwrap();
    drop(a);

    // 2. A P-DATA-TF whose PDV item claims 100 bytes in a PDU of 10: the server aborts.
    let (mut b, pc) = connect();
    b.inner_stream()
        .write_all(&[0x04, 0, 0, 0, 0, 10, 0, 0, 0, 100, pc, 0x02, 1, 2, 3, 4])
        .unwrap();
    assert!(
        matches!(b.receive(), Ok(Pdu::AbortRQ { .. })),
        "malformed P-DATA is answered with A-ABORT"
    );

    // 3. A data set with no C-STORE request before it, and 4. a command set that is not one.
    for (value_type, bytes) in [
        (PDataValueType::Data, dataset.clone()),
        (PDataValueType::Command, vec![0xFF; 40]),
    ] {
        let (mut c, pc) = connect();
        c.send(&pdv(pc, value_type, true, &bytes)).unwrap();
        assert!(
            matches!(c.receive(), Ok(Pdu::AbortRQ { .. })),
            "a P-DATA out of order is answered with A-ABORT"
        );
    }

    // 5. The whole object, sent in two fragments, is stored: the server kept serving.
    let (mut d, pc) = connect();
    d.send(&pdv(pc, PDataValueType::Command, true, &store_rq))
        .unwrap();
    let half = dataset.len() / 2;
    d.send(&pdv(pc, PDataValueType::Data, false, &dataset[..half]))
        .unwrap();
    d.send(&pdv(pc, PDataValueType::Data, true, &dataset[half..]))
        .unwrap();
    let Ok(Pdu::PData { data: rsp }) = d.receive() else {
        panic!("no C-STORE response")
    };
    let rsp = dicom_object::InMemDicomObject::read_dataset_with_ts(
        rsp[0].data.as_slice(),
        &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .unwrap();
    assert_eq!(
        rsp.element(tags::STATUS).unwrap().to_int::<u16>().unwrap(),
        0
    );
    d.release().unwrap();
    drop(server);

    // Nothing from the broken transfers reached the catalogue or quarantine.
    let status = json(&corelab(&data, &["--json", "status"]));
    assert_eq!(status["instances"], 1, "{status}");
    assert_eq!(status["quarantined"], 0, "{status}");
    assert_eq!(count(&audit_actions(&data), "instance.store"), 1);
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}

/// CT_small with a blank image of `side`² 16-bit pixels, written to `path`.
fn large_ct(path: &std::path::Path, side: u16, uid_suffix: &str) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let mut ct = dicom_object::open_file(shared("pydicom_test_files/CT_small.dcm")).unwrap();
    let uid = format!("1.2.826.0.1.3680043.9.7782.77.{uid_suffix}");
    for (tag, value) in [(tags::ROWS, side), (tags::COLUMNS, side)] {
        ct.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    ct.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid.as_str()),
    ));
    ct.meta_mut().media_storage_sop_instance_uid = uid;
    let pixels = vec![0u16; usize::from(side) * usize::from(side)];
    ct.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    ct.write_to_file(path).unwrap();
}

#[test]
fn objects_past_the_spill_size_are_stored_whole_and_those_past_the_limit_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let server = common::serve_with(&data, &["--max-mib", "16"]);
    let (spilled, over) = (dir.path().join("10mib.dcm"), dir.path().join("20mib.dcm"));
    large_ct(&spilled, 2304, "1"); // 10.6 MB: received into a temporary file (past 8 MiB)
    large_ct(&over, 3200, "2"); // 20.5 MB: past --max-mib 16

    let ok = dcmtk("storescu", "S01PACS", &server.port, &[spilled]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let refused = dcmtk("storescu", "S01PACS", &server.port, &[over]);
    assert!(!refused.status.success());
    drop(server);

    let status = json(&corelab(&data, &["--json", "status"]));
    assert_eq!(status["instances"], 1, "{status}");
    assert_eq!(status["quarantined"], 0, "refused, not held: {status}");
    // The blob store holds the whole object (de-identified; the pixels as sent).
    fn largest(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() {
                    largest(&p)
                } else {
                    p.metadata().unwrap().len()
                }
            })
            .max()
            .unwrap_or(0)
    }
    let size = largest(&data);
    assert!(size > 2304 * 2304 * 2, "the whole object is stored: {size}");
    // Spilled objects leave no file behind.
    assert_eq!(std::fs::read_dir(data.join("spool")).unwrap().count(), 0);
}
