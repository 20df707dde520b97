//! Hostile input to the storage SCP and `corelab import` (issue 16, part 4): PDUs past the
//! negotiated size or claiming 4 GB, PDV items and element lengths that lie, sequences nested
//! thousands deep, in every transfer syntax the SCP accepts; zip bombs (ratio, lying sizes, many
//! entries, a central directory that lies) and zip-slip names. Each gets a refusal that names
//! what and where, in bounded time and memory; nothing half-written, nothing outside, and the
//! server serves on. (`serve_dimse.rs` has the broken transfers and the object-size limit;
//! `import_cli.rs` one escaping entry and one bomb; they are not repeated here.)

mod common;

use common::{Server, audit_actions, corelab, corpus, count, json, lab_with_trial, serve};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TRIAL: &str = r#"
[trial]
id = "HOST-1"
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

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// How deep the depth bombs nest: far past any real object (corelab refuses past 64), enough to
/// overflow a thread's stack if a parser recursed once per level.
const DEPTH: usize = 20_000;

/// Peak memory any process here may reach (the server, an import): far below what a 4 GB
/// declared length or an inflated bomb would cost.
const MAX_PEAK_KIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Encoding by hand: the hostile parts are what no DICOM writer would produce.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Enc {
    ExplicitLe,
    ImplicitLe,
    ExplicitBe,
}

impl Enc {
    fn ts(self) -> &'static str {
        match self {
            Enc::ExplicitLe => EXPLICIT_LE,
            Enc::ImplicitLe => IMPLICIT_LE,
            Enc::ExplicitBe => EXPLICIT_BE,
        }
    }
    fn big(self) -> bool {
        self == Enc::ExplicitBe
    }
    fn u16(self, v: u16) -> [u8; 2] {
        if self.big() {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        if self.big() {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn tag(self, out: &mut Vec<u8>, (g, e): (u16, u16)) {
        out.extend(self.u16(g));
        out.extend(self.u16(e));
    }
    /// The header of an element with a 4-byte length (OB, SQ, …, or any in implicit VR).
    fn long_header(self, out: &mut Vec<u8>, tag: (u16, u16), vr: &[u8; 2], len: u32) {
        self.tag(out, tag);
        if self != Enc::ImplicitLe {
            out.extend(vr);
            out.extend([0, 0]);
        }
        out.extend(self.u32(len));
    }
    /// An item or delimiter header.
    fn item(self, out: &mut Vec<u8>, element: u16, len: u32) {
        self.tag(out, (0xFFFE, element));
        out.extend(self.u32(len));
    }
}

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Sequences of undefined length nested `depth` deep, each in an item of undefined length, under
/// the Digital Signatures Sequence (FFFA,FFFA), which sorts after the pixel data.
fn depth_bomb(enc: Enc, depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(depth * 36);
    for _ in 0..depth {
        enc.long_header(&mut out, (0xFFFA, 0xFFFA), b"SQ", UNDEFINED);
        enc.item(&mut out, 0xE000, UNDEFINED);
    }
    for _ in 0..depth {
        enc.item(&mut out, 0xE00D, 0);
        enc.item(&mut out, 0xE0DD, 0);
    }
    out
}

/// A private OB element (7FE1,1010), after its private creator, that declares `declared` bytes
/// and carries 64.
fn lying_element(enc: Enc, declared: u32) -> Vec<u8> {
    let mut out = Vec::new();
    enc.tag(&mut out, (0x7FE1, 0x0010));
    if enc == Enc::ImplicitLe {
        out.extend(enc.u32(8));
    } else {
        out.extend(b"LO");
        out.extend(enc.u16(8));
    }
    out.extend(b"HOSTILE ");
    enc.long_header(&mut out, (0x7FE1, 0x1010), b"OB", declared);
    out.extend([0xAB; 64]);
    out
}

/// CT_small from the shared corpus: its SOP class and instance, and its data set in `ts`.
fn ct(ts: &str) -> (String, String, Vec<u8>) {
    let ct = dicom_object::open_file(corpus("pydicom_test_files/CT_small.dcm")).unwrap();
    let class = ct
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        .to_owned();
    let instance = ct
        .meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_owned();
    let syntax = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(ts)
        .unwrap();
    let mut dataset = Vec::new();
    ct.write_dataset_with_ts(&mut dataset, syntax).unwrap();
    (class, instance, dataset)
}

use dicom_transfer_syntax_registry::TransferSyntaxIndex as _;

/// Preamble, `DICM` and the file meta group for `ts`, then `dataset`.
fn part10(class: &str, instance: &str, ts: &str, dataset: &[u8]) -> Vec<u8> {
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance)
        .transfer_syntax(ts)
        .build()
        .unwrap();
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    meta.write(&mut out).unwrap();
    out.extend_from_slice(dataset);
    out
}

/// Raw deflate (RFC 1951) of `data`, by way of a zip entry's stored bytes.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(data.len() > u32::MAX as usize / 2);
        zip.start_file("d", opts).unwrap();
        zip.write_all(data).unwrap();
        zip.finish().unwrap();
    }
    let mut archive = zip::ZipArchive::new(buf).unwrap();
    let mut raw = Vec::new();
    archive
        .by_index_raw(0)
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    raw
}

/// The peak resident memory of process `pid` so far, in KiB (0 once it has gone).
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `corelab --data DATA ARGS…` in `cwd`, watched: its output, how long it ran, and the highest
/// peak memory seen while it ran.
fn corelab_watched(
    data: &Path,
    cwd: &Path,
    args: &[&str],
) -> (std::process::Output, Duration, u64) {
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_corelab"))
        .arg("--data")
        .arg(data)
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        out.read_to_end(&mut o).unwrap();
        o
    });
    let err_reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        err.read_to_end(&mut e).unwrap();
        e
    });
    let mut peak = 0;
    let status = loop {
        peak = peak.max(peak_kib(pid));
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "corelab {args:?} still running after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = std::process::Output {
        status,
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (output, started.elapsed(), peak)
}

// ---------------------------------------------------------------------------------------------
// A DIMSE peer that says what it likes.

type Client = dicom_ul::ClientAssociation<std::net::TcpStream>;

fn connect(port: &str, class: &str, ts: &str) -> (Client, u8) {
    let mut a = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title("S01PACS")
        .with_presentation_context(class, vec![ts])
        .establish_with(&format!("CORELAB@127.0.0.1:{port}"))
        .unwrap();
    let pc = a.presentation_contexts()[0].id;
    let s = a.inner_stream();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    (a, pc)
}

fn pdv(pc: u8, value_type: PDataValueType, is_last: bool, data: &[u8]) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type,
            is_last,
            data: data.to_vec(),
        }],
    }
}

/// A command set (implicit VR little endian, as PS3.7 has it).
fn command(elements: Vec<DataElement<dicom_object::InMemDicomObject>>) -> Vec<u8> {
    let mut out = Vec::new();
    dicom_object::InMemDicomObject::command_from_element_iter(elements)
        .write_dataset_with_ts(
            &mut out,
            &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
        )
        .unwrap();
    out
}

fn store_rq(class: &str, instance: &str, message_id: u16) -> Vec<u8> {
    command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0000u16),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(instance),
        ),
    ])
}

/// C-STORE of `dataset` (sent in PDVs of 16 000 bytes); the response's status and comment.
fn c_store(port: &str, class: &str, instance: &str, ts: &str, dataset: &[u8]) -> (u16, String) {
    let (mut a, pc) = connect(port, class, ts);
    a.send(&pdv(
        pc,
        PDataValueType::Command,
        true,
        &store_rq(class, instance, 7),
    ))
    .unwrap();
    let chunks: Vec<&[u8]> = dataset.chunks(16_000).collect();
    for (i, c) in chunks.iter().enumerate() {
        a.send(&pdv(pc, PDataValueType::Data, i + 1 == chunks.len(), c))
            .unwrap();
    }
    let rsp = match a.receive() {
        Ok(Pdu::PData { data }) => data,
        other => panic!("no C-STORE response to a {ts} object: {other:?}"),
    };
    let rsp = dicom_object::InMemDicomObject::read_dataset_with_ts(
        rsp[0].data.as_slice(),
        &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .unwrap();
    let status = rsp.element(tags::STATUS).unwrap().to_int::<u16>().unwrap();
    let comment = rsp
        .get(tags::ERROR_COMMENT)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.into_owned())
        .unwrap_or_default();
    let _ = a.release();
    (status, comment)
}

/// C-ECHO; whether it succeeded.
fn echo(port: &str) -> bool {
    let verification = "1.2.840.10008.1.1";
    let (mut a, pc) = connect(port, verification, IMPLICIT_LE);
    let rq = command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(verification),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0030u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0101u16),
        ),
    ]);
    a.send(&pdv(pc, PDataValueType::Command, true, &rq))
        .unwrap();
    let ok = matches!(a.receive(), Ok(Pdu::PData { .. }));
    let _ = a.release();
    ok
}

/// After raw bytes, the server must end the association (A-ABORT, or close) within the time
/// limit, not wait for more.
fn ended(a: &mut Client, what: &str) {
    let started = Instant::now();
    match a.receive() {
        Ok(Pdu::AbortRQ { .. }) | Err(_) => {}
        Ok(other) => panic!("{what}: answered with {other:?} instead of an abort"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{what}: the server waited {:?}",
        started.elapsed()
    );
}

/// The server is still up, answers C-ECHO, and never used more than [`MAX_PEAK_KIB`].
fn still_serving(server: &mut Server, what: &str) {
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "{what}: the server died"
    );
    assert!(echo(&server.port), "{what}: no C-ECHO answer afterwards");
    let peak = peak_kib(server.child.id());
    assert!(
        peak < MAX_PEAK_KIB,
        "{what}: the server's memory peaked at {peak} KiB"
    );
}

#[test]
fn dimse_pdus_and_command_sets_that_lie_are_aborted_and_the_server_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let mut server = serve(&data);
    let port = server.port.clone();
    let (class, instance, _) = ct(EXPLICIT_LE);

    // A P-DATA-TF claiming 4 GB, and one past the negotiated maximum (64 KiB) with its bytes
    // actually sent: both are PDUs too large, refused before anything is allocated.
    let (mut a, pc) = connect(&port, &class, EXPLICIT_LE);
    a.inner_stream()
        .write_all(&[0x04, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2, pc, 0x02])
        .unwrap();
    ended(&mut a, "a P-DATA-TF of 0xFFFFFFFF bytes");
    let (mut a, pc) = connect(&port, &class, EXPLICIT_LE);
    let big = 1u32 << 20;
    let mut pdu = vec![0x04, 0];
    pdu.extend(big.to_be_bytes());
    pdu.extend((big - 4).to_be_bytes());
    pdu.extend([pc, 0x02]);
    pdu.resize(6 + big as usize, 0);
    let _ = a.inner_stream().write_all(&pdu); // the server may close before it is all sent
    ended(&mut a, "a P-DATA-TF of 1 MiB against a 64 KiB maximum");
    still_serving(&mut server, "oversized PDUs");

    // PDV items whose length lies: 0xFFFFFFF0 in a PDU of 12, and 0 (no room for its own
    // context id and header).
    for (item_len, what) in [(0xFFFF_FFF0u32, "a PDV of 4 GB"), (0, "a PDV of 0 bytes")] {
        let (mut a, pc) = connect(&port, &class, EXPLICIT_LE);
        let mut pdu = vec![0x04, 0, 0, 0, 0, 12];
        pdu.extend(item_len.to_be_bytes());
        pdu.extend([pc, 0x02, 1, 2, 3, 4, 5, 6]);
        a.inner_stream().write_all(&pdu).unwrap();
        ended(&mut a, what);
    }
    still_serving(&mut server, "lying PDV items");

    // Command sets that are hostile data sets: an element declaring 4 GB, and sequences nested
    // thousands deep (a command has no sequences; the parser must not recurse into them).
    let mut huge = store_rq(&class, &instance, 1);
    Enc::ImplicitLe.long_header(&mut huge, (0x0000, 0x5000), b"UN", 0xFFFF_FFF0);
    huge.extend([0u8; 32]);
    // 2000 levels opened (32 kB), some closed: cut to fit one PDU of the negotiated 64 KiB.
    let bomb = depth_bomb(Enc::ImplicitLe, 2_000);
    let mut nested = store_rq(&class, &instance, 1);
    nested.extend(&bomb[..60_000]);
    for (bytes, what) in [
        (huge, "a command with a 4 GB element"),
        (nested, "a command nested 2000 deep"),
    ] {
        let (mut a, pc) = connect(&port, &class, EXPLICIT_LE);
        let mut pdu = vec![0x04, 0];
        pdu.extend((bytes.len() as u32 + 6).to_be_bytes());
        pdu.extend((bytes.len() as u32 + 2).to_be_bytes());
        pdu.extend([pc, 0x03]); // command, last fragment
        pdu.extend(&bytes);
        a.inner_stream().write_all(&pdu).unwrap();
        ended(&mut a, what);
        still_serving(&mut server, what);
    }

    drop(server);
    let status = json(&corelab(&data, &["--json", "status"]));
    assert_eq!(status["instances"], 0, "{status}");
    assert_eq!(status["quarantined"], 0, "{status}");
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}

#[test]
fn dimse_objects_with_lying_lengths_or_depth_bombs_are_refused_by_name_in_every_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let mut server = serve(&data);
    let port = server.port.clone();
    let mut refused = 0;
    for enc in [Enc::ExplicitLe, Enc::ImplicitLe, Enc::ExplicitBe] {
        let (class, instance, dataset) = ct(enc.ts());
        // An element that declares 4 GB and carries 64 bytes.
        let mut lying = dataset.clone();
        lying.extend(lying_element(enc, 0xFFFF_FFF0));
        // Sequences nested 20 000 deep (720 kB).
        let mut nested = dataset.clone();
        nested.extend(depth_bomb(enc, DEPTH));
        for (bytes, what, names) in [
            (lying, "an element declaring 4 GB", "(7FE1,1010)"),
            (nested, "sequences nested 20000 deep", "nested"),
        ] {
            let started = Instant::now();
            let (status, comment) = c_store(&port, &class, &instance, enc.ts(), &bytes);
            let what = format!("{what} in {enc:?}");
            assert!(
                status & 0xF000 == 0xC000 || status & 0xFF00 == 0xA900,
                "{what}: status {status:04X} ({comment})"
            );
            assert!(
                comment.contains(names),
                "{what}: the comment does not name it: {comment}"
            );
            assert!(started.elapsed() < Duration::from_secs(30), "{what}");
            still_serving(&mut server, &what);
            refused += 1;
        }
    }
    // The deflated syntax: the same bomb inside the deflate stream.
    let (class, instance, dataset) = ct(EXPLICIT_LE);
    let mut nested = dataset.clone();
    nested.extend(depth_bomb(Enc::ExplicitLe, DEPTH));
    let (status, comment) = c_store(&port, &class, &instance, DEFLATED, &deflate(&nested));
    assert!(
        status & 0xF000 == 0xC000,
        "deflated depth bomb: {status:04X} {comment}"
    );
    assert!(comment.contains("nested"), "{comment}");
    still_serving(&mut server, "a deflated depth bomb");
    refused += 1;

    // The honest object still goes in.
    let (class, instance, dataset) = ct(EXPLICIT_LE);
    assert_eq!(
        c_store(&port, &class, &instance, EXPLICIT_LE, &dataset).0,
        0
    );
    drop(server);
    let status = json(&corelab(&data, &["--json", "status"]));
    assert_eq!(status["instances"], 1, "{status}");
    assert_eq!(
        status["quarantined"], refused,
        "held with their reasons: {status}"
    );
    assert_eq!(count(&audit_actions(&data), "instance.store"), 1);
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}

/// The report row of `corelab import --json` whose path ends with `suffix`.
fn row<'a>(report: &'a serde_json::Value, suffix: &str) -> &'a serde_json::Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no row for {suffix} in {report}"))
}

#[test]
fn import_refuses_depth_bombs_and_lying_lengths_in_every_form_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut expect = Vec::new();
    for enc in [Enc::ExplicitLe, Enc::ImplicitLe, Enc::ExplicitBe] {
        let (class, instance, dataset) = ct(enc.ts());
        let mut nested = dataset.clone();
        nested.extend(depth_bomb(enc, DEPTH));
        let mut lying = dataset.clone();
        lying.extend(lying_element(enc, 0xFFFF_FFF0));
        for (name, bytes, names) in [
            (
                format!("nested-{enc:?}.dcm"),
                part10(&class, &instance, enc.ts(), &nested),
                "nested",
            ),
            (
                format!("lying-{enc:?}.dcm"),
                part10(&class, &instance, enc.ts(), &lying),
                "(7FE1,1010)",
            ),
            // The same data sets bare (no preamble, no meta group), as old archives hold them.
            (format!("bare-nested-{enc:?}.dcm"), nested.clone(), "nested"),
            (
                format!("bare-lying-{enc:?}.dcm"),
                lying.clone(),
                "(7FE1,1010)",
            ),
        ] {
            std::fs::write(input.join(&name), bytes).unwrap();
            expect.push((name, names));
        }
    }
    let (class, instance, dataset) = ct(EXPLICIT_LE);
    let mut nested = dataset.clone();
    nested.extend(depth_bomb(Enc::ExplicitLe, DEPTH));
    std::fs::write(
        input.join("nested-deflated.dcm"),
        part10(&class, &instance, DEFLATED, &deflate(&nested)),
    )
    .unwrap();
    expect.push(("nested-deflated.dcm".into(), "nested"));

    let (r, took, peak) = corelab_watched(
        &data,
        dir.path(),
        &[
            "--json",
            "import",
            "HOST-1",
            "--site",
            "S01",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(
        r.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let report = json(&r);
    assert_eq!(report["stored"], 0, "{report}");
    for (name, names) in &expect {
        let row = row(&report, name);
        let reason = row["reason"].as_str().unwrap_or_default();
        assert!(
            matches!(row["outcome"].as_str(), Some("quarantined" | "refused")),
            "{name}: {row}"
        );
        assert!(
            reason.contains(names),
            "{name}: the reason does not name it: {row}"
        );
    }
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert!(peak < MAX_PEAK_KIB, "the import peaked at {peak} KiB");
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}

/// A zip of `entries` (name, bytes), deflated.
fn zip_of(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// Every file under `dir` whose name starts with `prefix`.
fn files_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    common_files(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect()
}

fn common_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(common_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn zip_slip_names_are_refused_and_nothing_is_written_outside() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let ct = std::fs::read(corpus("pydicom_test_files/CT_small.dcm")).unwrap();
    // The import runs in work/deep, so `../` would land in work/ and `../../` in the tempdir.
    let cwd = dir.path().join("work/deep");
    std::fs::create_dir_all(&cwd).unwrap();
    let absolute = dir.path().join("slip-absolute.dcm");
    let names = [
        "../slip-parent.dcm".to_owned(),
        "../../slip-grandparent.dcm".to_owned(),
        "a/../../slip-inner.dcm".to_owned(),
        "..\\slip-backslash.dcm".to_owned(),
        "a\\..\\..\\slip-backslash-inner.dcm".to_owned(),
        absolute.to_str().unwrap().to_owned(),
        "C:\\slip-drive.dcm".to_owned(),
        "C:slip-drive-relative.dcm".to_owned(),
        "\\\\server\\share\\slip-unc.dcm".to_owned(),
        "./../slip-dot.dcm".to_owned(),
    ];
    let mut entries: Vec<(String, Vec<u8>)> =
        names.iter().map(|n| (n.clone(), ct.clone())).collect();
    entries.push(("fine/ct.dcm".into(), ct.clone()));
    let archive = dir.path().join("slip.zip");
    zip_of(&archive, &entries);

    let (r, _, _) = corelab_watched(
        &data,
        &cwd,
        &[
            "--json",
            "import",
            "HOST-1",
            "--site",
            "S01",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(
        r.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let report = json(&r);
    assert_eq!(
        report["stored"], 1,
        "only the entry inside the archive: {report}"
    );
    assert_eq!(report["refused"], names.len(), "{report}");
    for name in &names {
        let row = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(&format!("!{name}")))
            .unwrap_or_else(|| panic!("no row for {name}: {report}"));
        assert_eq!(row["outcome"], "refused", "{name}: {row}");
        assert!(
            row["reason"]
                .as_str()
                .unwrap()
                .contains("escapes the archive"),
            "{name}: {row}"
        );
    }
    // Nothing was written anywhere under the tempdir but the archive and the installation's
    // own files; in particular no slip-* file, and nothing in the working folder.
    assert!(files_named(dir.path(), "slip-").is_empty());
    assert!(!absolute.exists());
    assert!(common_files(&dir.path().join("work")).is_empty());
    assert!(!Path::new("/slip-absolute.dcm").exists());
}

#[test]
fn zip_bombs_stop_at_the_limit_by_name_in_bounded_time_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), TRIAL);
    let ct = std::fs::read(corpus("pydicom_test_files/CT_small.dcm")).unwrap();

    // 1. Ratio: 64 MiB of zeros in 64 kB, against --max-mib 1.
    let ratio = dir.path().join("ratio.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&ratio).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("zeros.dcm", opts).unwrap();
        let block = vec![0u8; 1 << 20];
        for _ in 0..64 {
            zip.write_all(&block).unwrap();
        }
        zip.start_file("ct.dcm", opts).unwrap();
        zip.write_all(&ct).unwrap();
        zip.finish().unwrap();
    }
    assert!(std::fs::metadata(&ratio).unwrap().len() < 1 << 20);

    // 2. Declared sizes that lie: 16 MiB of zeros whose local header and central directory say
    //    100 bytes, so only the actual expansion can stop it.
    let lying = dir.path().join("lying.zip");
    zip_of(&lying, &[("liar.dcm".into(), vec![0u8; 16 << 20])]);
    let mut z = std::fs::read(&lying).unwrap();
    assert_eq!(&z[..4], b"PK\x03\x04");
    z[22..26].copy_from_slice(&100u32.to_le_bytes());
    let cd = z
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("a central directory");
    z[cd + 24..cd + 28].copy_from_slice(&100u32.to_le_bytes());
    std::fs::write(&lying, &z).unwrap();

    // 3. Many entries: 20 000 folder entries and 20 000 entries that escape, with one object.
    let many = dir.path().join("many.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&many).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..20_000 {
            zip.add_directory(format!("d{i}/"), opts).unwrap();
            zip.start_file(format!("../e{i}.dcm"), opts).unwrap();
        }
        zip.start_file("ct.dcm", opts).unwrap();
        zip.write_all(&ct).unwrap();
        zip.finish().unwrap();
    }

    // 4. A central directory that claims 65 535 entries in a file of 22 bytes.
    let claims = dir.path().join("claims.zip");
    let mut eocd = b"PK\x05\x06".to_vec();
    eocd.extend([0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    eocd.extend([0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0, 0, 0]);
    // is_zip looks for a local header first: a zip starting with one, then the lying directory.
    let mut claims_bytes = b"PK\x03\x04".to_vec();
    claims_bytes.extend([0u8; 26]);
    claims_bytes.extend(eocd);
    std::fs::write(&claims, claims_bytes).unwrap();
    let r = corelab(
        &data,
        &[
            "--json",
            "import",
            "HOST-1",
            "--site",
            "S01",
            claims.to_str().unwrap(),
        ],
    );
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("claims.zip") && err.contains("not a readable zip archive"),
        "{err}"
    );

    let (r, took, peak) = corelab_watched(
        &data,
        dir.path(),
        &[
            "--json",
            "import",
            "HOST-1",
            "--site",
            "S01",
            "--max-mib",
            "1",
            ratio.to_str().unwrap(),
            lying.to_str().unwrap(),
            many.to_str().unwrap(),
        ],
    );
    assert_eq!(
        r.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let report = json(&r);
    // The CT of ratio.zip is stored; that of many.zip is the same object: a duplicate.
    assert_eq!(report["stored"], 1, "{report}");
    assert_eq!(report["duplicate"], 1, "{report}");
    assert_eq!(report["refused"], 2 + 20_000, "{report}");
    let zeros = row(&report, "ratio.zip!zeros.dcm");
    assert!(
        zeros["reason"].as_str().unwrap().contains("limit"),
        "{zeros}"
    );
    let liar = row(&report, "lying.zip!liar.dcm");
    assert_eq!(liar["outcome"], "refused", "{liar}");
    assert!(
        liar["reason"].as_str().unwrap().contains("liar.dcm"),
        "{liar}"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert!(peak < MAX_PEAK_KIB, "the import peaked at {peak} KiB");
    assert!(files_named(dir.path(), "e1").is_empty());
    let status = json(&corelab(&data, &["--json", "status"]));
    assert_eq!(status["quarantined"], 0, "refused, not held: {status}");
    assert!(corelab(&data, &["audit", "verify"]).status.success());
}
