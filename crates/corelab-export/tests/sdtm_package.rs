//! The SDTM package end to end: TU, TR and RS of pharmaversesdtm subjects (read by corelab's SDTM
//! reader, assessed under RECIST 1.1, two reads of one subject) and NV of a few neurology
//! measurements, written to a directory; then every .xpt read back by pyreadstat and pandas and
//! define.xml parsed (`read_xpt.py`), and compared with what was written. Also: the column order
//! against the pharmaverse examples, and TU + TR read back into the same subject.

use corelab_algo::onco::lesions::Subject;
use corelab_algo::onco::recist11;
use corelab_algo::onco::sdtm::{Evaluator as Which, read};
use corelab_export::dataset::{Cell, Dataset};
use corelab_export::sdtm::{
    Criterion, Evaluator, NvMeasure, OncologyRead, nv, rs, tr, tu, write_package,
};
use serde_json::Value;
use std::path::Path;

const PHARMAVERSE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/clinical_rules/recist1.1/pharmaversesdtm"
);

fn pharmaverse(file: &str) -> String {
    std::fs::read_to_string(format!("{PHARMAVERSE}/{file}"))
        .unwrap_or_else(|e| panic!("the pharmaversesdtm test data {PHARMAVERSE}/{file}: {e}"))
}

fn subject(id: &str, which: Which) -> Subject {
    read(
        &pharmaverse("tu_onco_recist.csv"),
        &pharmaverse("tr_onco_recist.csv"),
        Some(id),
        which,
    )
    .unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn nv_records() -> Vec<NvMeasure> {
    let m =
        |visit: &str, num: f64, date: &str, measure: &str, alg: &str, v, unit: &str| NvMeasure {
            usubjid: "CL-N-001".into(),
            visit: visit.into(),
            visitnum: num,
            date: date.into(),
            measure: measure.into(),
            algorithm: alg.into(),
            value: v,
            unit: unit.into(),
        };
    let tissue = "neuro.tissue-seg@1.2.0";
    let amyloid = "neuro.amyloid-centiloid@1.0.0";
    vec![
        m(
            "BASELINE",
            1.0,
            "2024-01-02",
            "gm-volume",
            tissue,
            Some(612.345_678_901_234_5),
            "mL",
        ),
        m(
            "BASELINE",
            1.0,
            "2024-01-02",
            "wm-volume",
            tissue,
            Some(488.1),
            "mL",
        ),
        m(
            "BASELINE",
            1.0,
            "2024-01-02",
            "brain-parenchymal-fraction",
            tissue,
            Some(0.7812),
            "1",
        ),
        m(
            "BASELINE",
            1.0,
            "2024-01-02",
            "suvr",
            amyloid,
            Some(1.4321),
            "1",
        ),
        m(
            "BASELINE",
            1.0,
            "2024-01-02",
            "centiloid",
            amyloid,
            Some(-3.25),
            "1",
        ),
        m(
            "BASELINE",
            1.0,
            "2024-01-02",
            "positive",
            amyloid,
            Some(0.0),
            "1",
        ),
        m(
            "MONTH 12",
            2.0,
            "2025-01",
            "pbvc",
            "neuro.pbvc@1.2.0",
            Some(-0.83),
            "%",
        ),
        m(
            "MONTH 12",
            2.0,
            "2025-01",
            "lesion-count",
            "neuro.ms-lesions@1.0.0",
            Some(7.0),
            "1",
        ),
        m(
            "MONTH 12",
            2.0,
            "",
            "sbr-left-putamen",
            "neuro.dat-sbr@1.0.0",
            None,
            "1",
        ),
    ]
}

/// Runs the oracle; fails with how to install it when Python or its packages are missing.
fn oracle(dir: &Path) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/read_xpt.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 could not be run ({e}): this test reads the XPT files back with Python. \
                 Install Python 3, then: python3 -m pip install pyreadstat==1.3.8 pandas"
            )
        });
    assert!(
        out.status.success(),
        "read_xpt.py failed (status {}): {}\nInstall the readers with: python3 -m pip install pyreadstat==1.3.8 pandas",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("read_xpt.py's JSON: {e}"))
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// Compares what one reader found in an .xpt with the dataset written.
fn compare(ds: &Dataset, found: &Value, reader: &str) {
    let names: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
    let columns: Vec<&str> = found["columns"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(columns, names, "{reader}: {} columns", ds.name);
    assert_eq!(
        found["rows"].as_u64(),
        Some(ds.rows.len() as u64),
        "{reader}: {} rows",
        ds.name
    );
    for (c, col) in ds.columns.iter().enumerate() {
        let values = found["values"][&col.name]
            .as_array()
            .unwrap_or_else(|| panic!("{reader}: {}.{} values", ds.name, col.name));
        assert_eq!(values.len(), ds.rows.len());
        for (r, (row, v)) in ds.rows.iter().zip(values).enumerate() {
            let at = format!("{reader}: {}.{} row {r}", ds.name, col.name);
            match &row[c] {
                Cell::Text(s) => assert_eq!(v.as_str(), Some(s.as_str()), "{at}"),
                Cell::Num(None) => assert!(v.is_null(), "{at}: missing, found {v}"),
                Cell::Num(Some(x)) => {
                    let y = v.as_f64().unwrap_or(f64::NAN);
                    // pandas reads IBM zero (all zero bytes, as SAS writes it) as 16^-65, the
                    // smallest IBM double: pandas-dev/pandas#50670, open. pyreadstat reads 0.
                    let pandas_zero = reader == "pandas" && *x == 0.0 && y == 16f64.powi(-65);
                    assert!(close(*x, y) || pandas_zero, "{at}: wrote {x}, read {y}");
                }
            }
        }
    }
}

/// Whether the pharmaverse columns present in `ours` appear there in the pharmaverse order.
fn pharmaverse_order(ours: &Dataset, file: &str) {
    let text = pharmaverse(file);
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
    let positions: Vec<(usize, &str)> = header
        .iter()
        .map(|h| {
            let at = ours
                .column(h)
                .unwrap_or_else(|| panic!("{}: the pharmaverse column {h} is missing", ours.name));
            (at, *h)
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0].0 < w[1].0),
        "{}: pharmaverse order {header:?}, ours {positions:?}",
        ours.name
    );
}

#[test]
fn writes_a_package_that_pyreadstat_pandas_and_define_xml_agree_with() {
    let s1015 = subject("01-701-1015", Which::Accepted);
    let inv1015 = subject("01-701-1015", Which::Investigator);
    let s1028 = subject("01-701-1028", Which::Accepted);
    let rules = recist11::Rules::default();
    let assess = |s: &Subject| recist11::assess(s, &rules).unwrap_or_else(|e| panic!("{e}"));
    let (a1015, ainv, a1028) = (assess(&s1015), assess(&inv1015), assess(&s1028));
    let (p1015, pinv, p1028) = (a1015.reported(), ainv.reported(), a1028.reported());
    let accepted = Evaluator {
        eval: "INDEPENDENT ASSESSOR".into(),
        evalid: "RADIOLOGIST 1".into(),
        accepted: true,
    };
    let investigator = Evaluator {
        eval: "INVESTIGATOR".into(),
        evalid: String::new(),
        accepted: false,
    };
    let read_of = |s, e, p, best| OncologyRead {
        subject: s,
        evaluator: e,
        criterion: Criterion::Recist11,
        points: p,
        best,
        method: "CT SCAN",
    };
    let reads = [
        read_of(&s1015, &accepted, &p1015, a1015.best),
        read_of(&inv1015, &investigator, &pinv, ainv.best),
        read_of(&s1028, &accepted, &p1028, a1028.best),
    ];
    let datasets = [
        tu(&reads).expect("TU"),
        tr(&reads).expect("TR"),
        rs(&reads).expect("RS"),
        nv("CDISCPILOT01", &nv_records()).expect("NV"),
    ];
    pharmaverse_order(&datasets[0], "tu_onco_recist.csv");
    pharmaverse_order(&datasets[1], "tr_onco_recist.csv");
    pharmaverse_order(&datasets[2], "rs_onco_recist.csv");

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("sdtm");
    let paths = write_package(&dir, "CDISCPILOT01", &datasets).expect("written");
    assert_eq!(paths.len(), 9, "{paths:?}");

    // TU and TR as written read back into the accepted read of each subject (the reader skips
    // the SUMDIAM rows, which belong to no lesion).
    let tu_csv = std::fs::read_to_string(dir.join("tu.csv")).expect("tu.csv");
    let tr_csv = std::fs::read_to_string(dir.join("tr.csv")).expect("tr.csv");
    assert!(tr_csv.contains(",SUMDIAM,"), "{tr_csv}");
    for (id, which, original) in [
        ("01-701-1015", Which::Accepted, &s1015),
        ("01-701-1015", Which::Investigator, &inv1015),
        ("01-701-1028", Which::Accepted, &s1028),
    ] {
        let back = read(&tu_csv, &tr_csv, Some(id), which).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, original, "{id} {which:?}");
    }

    let found = oracle(&dir);
    for ds in &datasets {
        let file = format!("{}.xpt", ds.name.to_ascii_lowercase());
        let p = &found["pyreadstat"][&file];
        compare(ds, p, "pyreadstat");
        compare(ds, &found["pandas"][&file], "pandas");
        assert_eq!(p["table_name"].as_str(), Some(ds.name.as_str()));
        assert_eq!(p["file_label"].as_str(), Some(ds.label.as_str()));
        let labels: Vec<&str> = ds.columns.iter().map(|c| c.label.as_str()).collect();
        let read_labels: Vec<&str> = p["labels"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(read_labels, labels, "{} labels", ds.name);
        for c in &ds.columns {
            assert_eq!(
                p["types"][&c.name].as_str(),
                Some(format!("{:?}", c.kind).as_str()),
                "{}.{} type",
                ds.name,
                c.name
            );
        }

        let d = &found["define"]["datasets"][&ds.name];
        let names: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
        let vars: Vec<&str> = d["variables"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(vars, names, "define.xml variables of {}", ds.name);
        let define_labels: Vec<&str> = d["labels"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(define_labels, labels, "define.xml labels of {}", ds.name);
        assert_eq!(d["leaf"].as_str(), Some(file.as_str()));
        assert_eq!(d["label"].as_str(), Some(ds.label.as_str()));
        let testcd = format!("{}TESTCD", ds.name);
        let mut codes: Vec<String> = Vec::new();
        for i in 0..ds.rows.len() {
            let c = ds.text(i, &testcd).to_owned();
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
        let listed: Vec<&str> = d["codelists"][&testcd]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(listed, codes, "define.xml code list {testcd}");
    }
    let define = &found["define"];
    assert_eq!(
        define["errors"],
        Value::Array(vec![]),
        "define.xml: {define}"
    );
    assert_eq!(define["odm_version"].as_str(), Some("1.3.2"));
    assert_eq!(define["define_version"].as_str(), Some("2.0.0"));
    assert_eq!(define["study"].as_str(), Some("CDISCPILOT01"));
    assert_eq!(
        define["datasets"].as_object().map(|o| o.len()),
        Some(datasets.len())
    );

    // The values that matter, as the readers see them.
    let rs_found = &found["pyreadstat"]["rs.xpt"]["values"];
    let overall: Vec<&str> = (0..datasets[2].rows.len())
        .filter(|&i| {
            rs_found["RSTESTCD"][i] == "OVRLRESP"
                && rs_found["USUBJID"][i] == "01-701-1015"
                && rs_found["RSACPTFL"][i] == "Y"
        })
        .filter_map(|i| rs_found["RSSTRESC"][i].as_str())
        .collect();
    assert_eq!(
        overall,
        ["SD", "NE", "CR"],
        "expected_bor_annotations: SD NE CR"
    );
    let nv_found = &found["pandas"]["nv.xpt"]["values"];
    assert_eq!(
        nv_found["NVSTRESN"][0].as_f64(),
        Some(612.345_678_901_234_5)
    );
    assert_eq!(nv_found["NVSTRESC"][5].as_str(), Some("NEGATIVE"));
    assert!(nv_found["NVSTRESN"][8].is_null(), "not done");
}
