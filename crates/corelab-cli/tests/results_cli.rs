//! `corelab results` (issue 14): a locked MS phantom trial run as jobs (brain extraction), then
//! its endpoint dataset as CSV, JSON and Parquet (read back with pyarrow), every row with its
//! unit, algorithm@version, lock version, job, provenance entity and QC status, the data
//! dictionary beside each file; its SDTM NV dataset (XPT read back with pyreadstat); its brain
//! masks as DICOM SEG, its measurements as SR TID 1500 and its key images as Secondary Capture
//! (dciodvfy, highdicom), sent by C-STORE to each site's PACS (Orthanc); its PDF reports; each
//! export in the audit trail.

mod common;

use common::{audit_actions, corelab, count, json, lab_with_trial, make_phantom};
use serde_json::Value;
use std::path::Path;

/// The trial, sites S01 and S02 sending results back to the PACS on `pacs_port` under two
/// AE titles.
fn trial_text(pacs_port: u16) -> String {
    common::ms_trial(
        "MS-RES",
        "\n[[algorithms]]\nid = \"neuro.brain-extraction\"\nversion = \"^1.0\"\n\
         inputs = { t1 = \"T1w\" }\n",
    )
    .replace(
        "name = \"University Hospital A\"\n",
        &format!("name = \"University Hospital A\"\npacs = \"ORTHANC@127.0.0.1:{pacs_port}\"\n"),
    )
    .replace(
        "name = \"Clinique du Parc B\"\n",
        &format!("name = \"Clinique du Parc B\"\npacs = \"HOSPB@127.0.0.1:{pacs_port}\"\n"),
    )
}

fn ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The Parquet file's rows and column descriptions, as pyarrow reads them.
fn pyarrow_read(path: &Path) -> Value {
    let script = "import json, sys\n\
        import pyarrow.parquet as pq\n\
        t = pq.read_table(sys.argv[1])\n\
        meta = {f.name: (f.metadata or {}).get(b'description', b'').decode() for f in t.schema}\n\
        kv = {k.decode(): v.decode() for k, v in (pq.read_metadata(sys.argv[1]).metadata or {}).items()}\n\
        print(json.dumps({'rows': t.to_pylist(), 'descriptions': meta, 'kv': kv}))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .expect("python3 runs (CI installs pyarrow: pip install pyarrow)");
    assert!(
        out.status.success(),
        "pyarrow could not read {}: {} (pip install pyarrow)",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0): the body of a 200, else None.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_owned()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Orthanc (Debian's `orthanc`) as the receiving PACS: its DICOM and HTTP ports, killed when
/// dropped.
struct Orthanc {
    child: std::process::Child,
    dicom: u16,
    http: u16,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Orthanc {
    fn start(dir: &Path) -> Orthanc {
        let (dicom, http) = (free_port(), free_port());
        let storage = dir.join("orthanc-db");
        let config = serde_json::json!({
            "Name": "corelab-test", "StorageDirectory": storage, "IndexDirectory": storage,
            "DicomAet": "ORTHANC", "DicomPort": dicom, "HttpPort": http,
            "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
            "DicomCheckCalledAet": false, "DicomAlwaysAllowStore": true, "Plugins": [],
        });
        let path = dir.join("orthanc.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let child = std::process::Command::new("Orthanc")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Orthanc runs (CI installs Debian's orthanc: apt-get install orthanc)");
        let o = Orthanc { child, dicom, http };
        for _ in 0..100 {
            if http_get(http, "/system").is_some() {
                return o;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("Orthanc did not answer on port {http}");
    }
}

/// `dciodvfy`'s errors on a file (dicom3tools): lines that say Error.
fn dciodvfy_errors(path: &Path) -> Vec<String> {
    let out = std::process::Command::new("dciodvfy")
        .arg(path)
        .output()
        .expect("dciodvfy runs (apt-get install dicom3tools)");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter(|l| l.contains("Error"))
        .map(str::to_owned)
        .collect()
}

/// What highdicom reads from each file: `[modality, segments or measurement groups, SOP
/// Instance UID]`.
fn highdicom_read(paths: &[std::path::PathBuf]) -> Value {
    let script = "import json, sys\n\
        import highdicom as hd, pydicom\n\
        out = {}\n\
        for p in sys.argv[1:]:\n\
        \x20   if p.endswith('-sc.dcm'):\n\
        \x20       ds = pydicom.dcmread(p)\n\
        \x20       out[p] = [ds.Modality, int(ds.pixel_array.shape[-1]), ds.SOPInstanceUID]\n\
        \x20       continue\n\
        \x20   ds = hd.seg.segread(p) if p.endswith('-seg.dcm') else hd.sr.srread(p)\n\
        \x20   if ds.Modality == 'SEG':\n\
        \x20       n = len(ds.SegmentSequence)\n\
        \x20   else:\n\
        \x20       r = hd.sr.MeasurementReport.from_sequence([ds])\n\
        \x20       groups = list(r.get_volumetric_roi_measurement_groups()) + list(r.get_image_measurement_groups())\n\
        \x20       n = sum(len(g.get_measurements()) for g in groups)\n\
        \x20   out[p] = [ds.Modality, n, ds.SOPInstanceUID]\n\
        print(json.dumps(out))\n";
    let mut args = vec!["-c".to_owned(), script.to_owned()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let out = std::process::Command::new("python3")
        .args(&args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "highdicom could not read the export: {} (pip install highdicom==0.28.2)",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn results_are_every_measurement_with_its_lock_provenance_and_qc_in_three_formats() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("phantom");
    make_phantom(
        dir.path(),
        "ms-lesions",
        &phantom,
        &["--subjects", "2", "--voxel-mm", "3"],
    );
    let orthanc = Orthanc::start(dir.path());
    let data = lab_with_trial(dir.path(), &trial_text(orthanc.dicom));
    for (site, subject) in [("S01", "MS-001"), ("S02", "MS-002")] {
        ok(&corelab(
            &data,
            &[
                "import",
                "MS-RES",
                "--site",
                site,
                phantom.join(subject).to_str().unwrap(),
            ],
        ));
    }
    ok(&corelab(&data, &["trial", "lock", "MS-RES"]));
    ok(&corelab(&data, &["run", "MS-RES", "--wait"]));
    let jobs = json(&corelab(&data, &["--json", "jobs", "MS-RES"]));
    let jobs = jobs.as_array().unwrap();
    let expected: usize = jobs
        .iter()
        .map(|j| j["result"]["measurements"].as_array().unwrap().len())
        .sum();
    assert!(expected >= 4, "{jobs:#?}");

    // CSV on standard output: the dictionary's columns, one row per measurement.
    let csv = corelab(&data, &["results", "MS-RES"]);
    ok(&csv);
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("trial,site,subject,visit,visit_date,series_instance_uid,source"),
        "{header}"
    );
    assert_eq!(lines.count(), expected);

    // JSON to a file, with its dictionary beside it.
    let out = dir.path().join("endpoints.json");
    let doc = json(&corelab(
        &data,
        &[
            "--json",
            "results",
            "MS-RES",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(doc["rows"], expected, "{doc:#}");
    let dictionary = std::fs::read_to_string(dir.path().join("endpoints.dictionary.csv")).unwrap();
    assert!(dictionary.starts_with("name,type,nullable,description\ntrial,string,false,"));
    let file: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let rows = file["rows"].as_array().unwrap();
    assert_eq!(rows.len(), expected);
    for r in rows {
        let job = jobs.iter().find(|j| j["id"] == r["job_id"]).unwrap();
        assert_eq!(r["source"], "algorithm");
        assert_eq!(r["algorithm"], "neuro.brain-extraction@1.2.0");
        assert_eq!(r["lock_version"], 1, "{r:#}");
        assert_eq!(r["qc_status"], "pass", "{r:#}");
        assert_eq!(r["subject"], job["subject"]);
        assert_eq!(r["visit"], job["visit"]);
        assert!(
            ["S01", "S02"].contains(&r["site"].as_str().unwrap()),
            "{r:#}"
        );
        assert!(r["visit_date"].as_str().unwrap().len() == 10, "{r:#}");
        let m = job["result"]["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == r["measure"])
            .unwrap();
        assert_eq!(r["value"], m["value"]);
        assert_eq!(r["unit"], m["unit"]);
        // The provenance entity is the one the job's PROV record holds.
        let prov = json(&corelab(
            &data,
            &["provenance", "MS-RES", &job["id"].to_string()],
        ));
        let entity = r["provenance_id"].as_str().unwrap();
        assert!(
            prov["entity"].as_object().unwrap().contains_key(entity),
            "{entity} not in {prov:#}"
        );
    }

    // Parquet: the same rows through pyarrow, column descriptions in the schema.
    let pq = dir.path().join("endpoints.parquet");
    ok(&corelab(
        &data,
        &[
            "results",
            "MS-RES",
            "--format",
            "parquet",
            "--out",
            pq.to_str().unwrap(),
        ],
    ));
    let read = pyarrow_read(&pq);
    assert_eq!(read["rows"].as_array().unwrap(), rows);
    assert!(
        read["descriptions"]["unit"]
            .as_str()
            .unwrap()
            .contains("UCUM")
    );
    assert_eq!(read["kv"]["corelab.trial"], "MS-RES");

    // Each export is audited; the trail verifies.
    assert_eq!(count(&audit_actions(&data), "results.export"), 2);
    assert_eq!(
        json(&corelab(&data, &["--json", "audit", "verify"]))["ok"],
        true
    );

    // Refusals say what is wrong.
    let r = corelab(&data, &["results", "MS-RES", "--format", "parquet"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--out"));
    let r = corelab(&data, &["results", "NO-SUCH-TRIAL"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("NO-SUCH-TRIAL"));
    // SDTM: NV of the brain volumes, as CSV, XPT and define.xml; pyreadstat reads the XPT.
    let sdtm = dir.path().join("sdtm");
    let doc = json(&corelab(
        &data,
        &[
            "--json",
            "results",
            "MS-RES",
            "--format",
            "sdtm",
            "--out",
            sdtm.to_str().unwrap(),
        ],
    ));
    assert_eq!(doc["files"].as_array().unwrap().len(), 3, "{doc:#}");
    let script = "import json, sys, pyreadstat\n\
        df, meta = pyreadstat.read_xport(sys.argv[1])\n\
        print(json.dumps({'rows': df.to_dict(orient='records'), 'labels': meta.column_names_to_labels}))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, sdtm.join("nv.xpt").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nv_rows = nv["rows"].as_array().unwrap();
    assert_eq!(
        nv_rows.len(),
        rows.len(),
        "one NV row per brain volume measured"
    );
    for r in rows {
        let found = nv_rows.iter().any(|n| {
            n["USUBJID"] == r["subject"]
                && n["VISIT"] == r["visit"]
                && (n["NVSTRESN"].as_f64().unwrap() - r["value"].as_f64().unwrap()).abs()
                    <= 1e-9 * r["value"].as_f64().unwrap().abs()
        });
        assert!(found, "{r:#} not in NV {nv_rows:#?}");
    }
    let define = std::fs::read_to_string(sdtm.join("define.xml")).unwrap();
    assert!(define.contains("nv.xpt") && define.contains("NVTESTCD"));

    // DICOM: a SEG of each brain and intracranial mask and an SR of each job's volumes, valid
    // for dciodvfy, read by highdicom, and stored by Orthanc.
    let dicom = dir.path().join("dicom");
    let doc = json(&corelab(
        &data,
        &[
            "--json",
            "results",
            "MS-RES",
            "--format",
            "dicom",
            "--out",
            dicom.to_str().unwrap(),
            // Each subject's objects to its site's PACS (trial.toml).
            "--send",
        ],
    ));
    let files: Vec<std::path::PathBuf> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| std::path::PathBuf::from(f.as_str().unwrap()))
        .collect();
    // Per job: mask and icv as SEG (no FLAIR input, so no flair-mask), one SR; and a key image
    // per visit (one job each).
    assert_eq!(files.len(), jobs.len() * 4, "{doc:#}");
    assert_eq!(doc["sent"], files.len(), "{doc:#}");
    for f in &files {
        let errors = dciodvfy_errors(f);
        assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
    }
    let read = highdicom_read(&files);
    let mut uids = Vec::new();
    for f in &files {
        let r = &read[f.display().to_string()];
        let name = f.file_name().unwrap().to_str().unwrap();
        if name.ends_with("-sc.dcm") {
            assert_eq!(r[0], "OT");
            assert_eq!(r[1], 3, "RGB: {name}");
        } else if name.ends_with("-seg.dcm") {
            assert_eq!(r[0], "SEG");
            assert_eq!(r[1], 1, "one segment: {name}");
        } else {
            assert_eq!(r[0], "SR");
            assert_eq!(r[1], 2, "brain volume and ICV: {name}");
        }
        uids.push(r[2].as_str().unwrap().to_owned());
    }
    let stored: Value =
        serde_json::from_str(&http_get(orthanc.http, "/instances?expand").unwrap()).unwrap();
    let mut in_pacs: Vec<String> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["MainDicomTags"]["SOPInstanceUID"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    in_pacs.sort();
    uids.sort();
    assert_eq!(in_pacs, uids, "Orthanc holds every object sent");
    // The same store exports the same objects.
    let again = dir.path().join("dicom-again");
    ok(&corelab(
        &data,
        &[
            "results",
            "MS-RES",
            "--format",
            "dicom",
            "--out",
            again.to_str().unwrap(),
        ],
    ));
    for f in &files {
        let rel = f.strip_prefix(&dicom).unwrap();
        assert_eq!(
            std::fs::read(f).unwrap(),
            std::fs::read(again.join(rel)).unwrap()
        );
    }
    let actions = audit_actions(&data);
    assert_eq!(
        count(&actions, "results.send"),
        2,
        "one association per site's PACS"
    );
    // A node named on the command line must be one.
    let r = corelab(
        &data,
        &[
            "results",
            "MS-RES",
            "--format",
            "dicom",
            "--out",
            again.to_str().unwrap(),
            "--send",
            "PACS",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("AE@host:port"));

    // PDF reports: the QC report and one per subject, each page rendered by pdftoppm, the
    // subject's id and measures in its text.
    let pdf = dir.path().join("reports");
    let doc = json(&corelab(
        &data,
        &[
            "--json",
            "results",
            "MS-RES",
            "--format",
            "pdf",
            "--out",
            pdf.to_str().unwrap(),
        ],
    ));
    let subjects: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        doc["files"].as_array().unwrap().len(),
        subjects.len() + 1,
        "{doc:#}"
    );
    for subject in &subjects {
        let file = pdf.join(format!("{subject}.pdf"));
        let text = std::process::Command::new("pdftotext")
            .arg(&file)
            .arg("-")
            .output()
            .expect("pdftotext runs (apt-get install poppler-utils)");
        let text = String::from_utf8_lossy(&text.stdout);
        for needle in [
            *subject,
            "brain-volume",
            "mL",
            "neuro.brain-extraction@1.2.0",
            "page 1 of",
        ] {
            assert!(
                text.contains(needle),
                "{needle} not in the report of {subject}: {text}"
            );
        }
        let pages = dir.path().join(format!("page-{subject}"));
        let out = std::process::Command::new("pdftoppm")
            .args(["-r", "30", "-png"])
            .arg(&file)
            .arg(&pages)
            .output()
            .expect("pdftoppm runs (apt-get install poppler-utils)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("page-{subject}"))
            })
            .count();
        assert!(rendered >= 2, "{rendered} pages for {subject}");
    }
    let qc = std::process::Command::new("pdftotext")
        .arg(pdf.join("qc.pdf"))
        .arg("-")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&qc.stdout).contains("MS-RES"));
    // A node that is not there: a clear error, and the export itself stays written.
    let r = corelab(
        &data,
        &[
            "results",
            "MS-RES",
            "--format",
            "dicom",
            "--out",
            again.to_str().unwrap(),
            "--send",
            &format!("NOBODY@127.0.0.1:{}", free_port()),
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("NOBODY@127.0.0.1"));
}
