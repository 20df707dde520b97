//! The PDF reports checked the way a reader sees them: pages rasterised with `pdftoppm` and
//! inspected pixel by pixel, and text extracted with `pdftotext`. Both tools come from the
//! Debian package `poppler-utils`.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use corelab_export::report::{
    GreySlice, KeyImage, MeasureRow, MeasureSeries, QcReport, QcSubjectRow, ReportError,
    StatusCounts, SubjectReport, qc_pdf, subject_pdf,
};
use image::RgbImage;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_268_800, 0).unwrap() // 2026-01-01 12:00 UTC
}

/// Runs a poppler tool, failing with a clear message when it is not installed.
fn poppler(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{tool}` ({e}): install the Debian package poppler-utils \
             (apt-get install poppler-utils)"
        )
    });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes the PDF into the test's temporary folder, and also into `CORELAB_REPORT_KEEP` when
/// that is set, so that a person can look at the reports the tests made.
fn write_pdf(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    if let Some(keep) = std::env::var_os("CORELAB_REPORT_KEEP") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(Path::new(&keep).join(name), bytes).unwrap();
    }
    path
}

/// Rasterises every page at 50 dpi and decodes the PNGs, in page order.
fn rasterise(dir: &Path, pdf: &Path) -> Vec<RgbImage> {
    let prefix = dir.join(format!(
        "{}-page",
        pdf.file_stem().unwrap().to_string_lossy()
    ));
    poppler(
        "pdftoppm",
        &[
            "-r",
            "50",
            "-png",
            pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let stem = prefix.file_name().unwrap().to_string_lossy().to_string();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&stem) && name.ends_with(".png")
        })
        .collect();
    // pdftoppm zero-pads page numbers to the width of the page count, so names sort in order.
    files.sort();
    files
        .iter()
        .map(|p| image::open(p).unwrap().to_rgb8())
        .collect()
}

fn pdf_text(pdf: &Path) -> String {
    let out = poppler("pdftotext", &["-layout", pdf.to_str().unwrap(), "-"]);
    String::from_utf8(out.stdout).unwrap()
}

fn count(page: &RgbImage, pred: impl Fn(i32, i32, i32) -> bool) -> usize {
    page.pixels()
        .filter(|p| pred(i32::from(p[0]), i32::from(p[1]), i32::from(p[2])))
        .count()
}

fn non_white(page: &RgbImage) -> usize {
    count(page, |r, g, b| r.min(g).min(b) < 200)
}

fn red(r: i32, g: i32, b: i32) -> bool {
    r > g + 60 && r > b + 60
}
fn green(r: i32, g: i32, b: i32) -> bool {
    g > r + 60 && g > b + 60
}
fn blue(r: i32, g: i32, b: i32) -> bool {
    b > r + 60 && b > g + 40
}
fn amber(r: i32, g: i32, b: i32) -> bool {
    r > b + 100 && g > b + 100 && r > 200
}

/// A 128 × 128 slice: a bright disc on a dark background, with the disc labelled `label`.
fn disc(caption: &str, label: u8) -> KeyImage {
    let n = 128usize;
    let mut pixels = Vec::with_capacity(n * n);
    let mut overlay = Vec::with_capacity(n * n);
    for row in 0..n {
        for col in 0..n {
            let (dx, dy) = (col as f32 - 64.0, row as f32 - 64.0);
            let inside = dx * dx + dy * dy < 30.0 * 30.0;
            pixels.push(if inside {
                800.0
            } else {
                50.0 + (col % 7) as f32
            });
            overlay.push(if inside { label } else { 0 });
        }
    }
    KeyImage {
        caption: caption.into(),
        slice: GreySlice {
            width: n,
            height: n,
            pixels,
            window: (400.0, 1000.0),
        },
        overlay: Some(overlay),
        pixel_aspect: 1.0,
    }
}

const MEASURES: [(&str, &str); 3] = [
    ("Whole brain volume", "mL"),
    ("Lesion volume", "mm³"),
    ("Centiloid", "CL"),
];
const VISITS: [(&str, f64); 3] = [("Baseline", 0.0), ("Week 26", 182.0), ("Week 52", 364.0)];

fn subject_report() -> SubjectReport {
    let series = MEASURES
        .iter()
        .enumerate()
        .map(|(m, (measure, unit))| MeasureSeries {
            measure: (*measure).into(),
            unit: (*unit).into(),
            algorithm: format!("algo-{m}@1.2.0"),
            points: VISITS
                .iter()
                .enumerate()
                .map(|(v, (visit, day))| ((*visit).into(), *day, 100.0 * (m + 1) as f64 - v as f64))
                .collect(),
        })
        .collect();
    let table = (0..60)
        .map(|i| MeasureRow {
            visit: VISITS[i % 3].0.into(),
            measure: MEASURES[i % 3].0.into(),
            value: format!("{:.2}", 10.0 + i as f64 / 3.0),
            unit: MEASURES[i % 3].1.into(),
            algorithm: "segmentation@2.0.1".into(),
            qc_status: if i % 5 == 0 { "review" } else { "pass" }.into(),
        })
        .collect();
    SubjectReport {
        trial: "TRIAL-ALPHA".into(),
        subject: "SUBJ-0042".into(),
        site: "SITE-07".into(),
        generated_by: "corelab 0.1.0".into(),
        generated_at: at(),
        lock: "v3 (sha256 9f2c4e1a)".into(),
        key_images: vec![
            disc("Baseline axial 64: lesion", 1),
            disc("Week 52 axial 64", 2),
        ],
        series,
        table,
        notes: vec![
            "Reader 2 adjudicated the week 52 lesion volume.".into(),
            "Site in Zürich — 東京 cohort".into(),
        ],
    }
}

#[test]
fn subject_report_pages_render_with_images_plots_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let report = subject_report();
    let bytes = subject_pdf(&report).unwrap();
    let pdf = write_pdf(dir.path(), "subject.pdf", &bytes);
    let pages = rasterise(dir.path(), &pdf);
    // 1: details, notes and the two key images; 2: the three plots; 3-4: the 60-row table
    // (48 rows fit under the heading on the first table page).
    assert_eq!(pages.len(), 4, "page count");
    for (i, page) in pages.iter().enumerate() {
        assert!(non_white(page) > 200, "page {} is blank", i + 1);
    }
    // The overlays: label 1 red on the first image, label 2 green on the second.
    assert!(
        count(&pages[0], red) > 300,
        "no red overlay on the key-image page"
    );
    assert!(
        count(&pages[0], green) > 300,
        "no green overlay on the key-image page"
    );
    // The plot lines.
    assert!(
        count(&pages[1], blue) > 100,
        "no plot lines on the plot page"
    );
    assert_eq!(
        count(&pages[2], red),
        0,
        "overlay colour leaked onto the table"
    );

    let text = pdf_text(&pdf);
    for needle in [
        "SUBJ-0042",
        "TRIAL-ALPHA",
        "SITE-07",
        "v3 (sha256 9f2c4e1a)",
        "Whole brain volume",
        "Lesion volume",
        "Centiloid",
        "mL",
        "mm³",
        "CL",
        "Baseline",
        "Week 52",
        "segmentation@2.0.1",
        "Zürich — ?? cohort",
        "page 1 of 4",
        "page 4 of 4",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn subject_report_same_input_gives_same_bytes() {
    let report = subject_report();
    assert_eq!(subject_pdf(&report).unwrap(), subject_pdf(&report).unwrap());
    let mut later = report.clone();
    later.generated_at = DateTime::from_timestamp(1_767_355_200, 0).unwrap();
    assert_ne!(subject_pdf(&report).unwrap(), subject_pdf(&later).unwrap());
}

#[test]
fn subject_report_refuses_overlay_of_wrong_size_naming_the_image() {
    let mut report = subject_report();
    report.key_images[1].overlay = Some(vec![0; 10]);
    let err = subject_pdf(&report).unwrap_err();
    assert!(
        matches!(
            err,
            ReportError::OverlaySize {
                index: 1,
                found: 10,
                expected: 16384,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Week 52 axial 64"), "{err}");
}

#[test]
fn subject_report_survives_empty_nan_and_huge_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = subject_report();
    report.key_images.push(KeyImage {
        caption: "empty".into(),
        slice: GreySlice {
            width: 0,
            height: 0,
            pixels: vec![],
            window: (0.0, 0.0),
        },
        overlay: None,
        pixel_aspect: f64::NAN,
    });
    report.series[0].points[1].2 = f64::NAN;
    report.series[1].points.clear();
    report.series[2].points[0].1 = f64::INFINITY;
    let row = report.table[0].clone();
    report.table = vec![row; 2000];
    let bytes = subject_pdf(&report).unwrap();
    let pdf = write_pdf(dir.path(), "edge.pdf", &bytes);
    let text = pdf_text(&pdf);
    assert!(text.contains("not plotted"), "NaN point not noted");
    assert!(text.contains("Week 26"), "visit of the NaN point not named");
    assert!(text.contains("no plottable values"));
    assert!(text.contains("(empty image)"));
    // 2000 table rows at 50 a page, plus the other pages.
    let total = text.matches("page 1 of ").count();
    assert_eq!(total, 1);
    let n: usize = text
        .split("page 1 of ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(n > 40, "table not paginated: {n} pages");
    assert!(text.contains(&format!("page {n} of {n}")));

    // Nothing at all.
    let empty = SubjectReport {
        key_images: vec![],
        series: vec![],
        table: vec![],
        notes: vec![],
        ..subject_report()
    };
    let bytes = subject_pdf(&empty).unwrap();
    let pdf = write_pdf(dir.path(), "empty.pdf", &bytes);
    let pages = rasterise(dir.path(), &pdf);
    assert_eq!(pages.len(), 3);
    let text = pdf_text(&pdf);
    for needle in ["No key images.", "No measures.", "No measurements."] {
        assert!(text.contains(needle), "{needle:?} missing");
    }
}

fn qc_report(subjects: usize, visits: usize) -> QcReport {
    let statuses = ["pass", "review", "fail", "pending", "pass", "PASS"];
    QcReport {
        trial: "TRIAL-ALPHA".into(),
        generated_by: "corelab 0.1.0".into(),
        generated_at: at(),
        series_counts: StatusCounts {
            pass: 120,
            review: 14,
            fail: 6,
            pending: 30,
        },
        visit_counts: StatusCounts {
            pass: 40,
            review: 5,
            fail: 2,
            pending: 9,
        },
        subjects: (0..subjects)
            .map(|s| QcSubjectRow {
                subject: format!("SUBJ-{s:04}"),
                site: format!("SITE-{:02}", s % 4),
                visits: (0..visits)
                    .filter(|v| (s + v) % 7 != 6)
                    .map(|v| (format!("V{v}"), statuses[(s + v) % statuses.len()].to_string()))
                    .collect(),
            })
            .collect(),
        problems: vec![
            "SUBJ-0003 V2: series 1.2.840.113619.2.55 has slice gaps (2.5 mm expected, 5.0 mm found)".into(),
            "SUBJ-0007 V1: T1 missing".into(),
            "SUBJ-0009 V0: motion artefact, re-scan requested — site notified 東京".into(),
        ],
    }
}

#[test]
fn qc_report_pages_render_with_chart_grid_and_problems() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = qc_pdf(&qc_report(12, 4)).unwrap();
    let pdf = write_pdf(dir.path(), "qc.pdf", &bytes);
    let pages = rasterise(dir.path(), &pdf);
    // 1: counts and bar chart; 2: the 12 × 4 grid and the problems.
    assert_eq!(pages.len(), 2, "page count");
    for (i, page) in pages.iter().enumerate() {
        assert!(non_white(page) > 200, "page {} is blank", i + 1);
    }
    for (name, pred) in [
        ("pass", green as fn(i32, i32, i32) -> bool),
        ("fail", red),
        ("review", amber),
    ] {
        assert!(count(&pages[0], pred) > 50, "no {name} bar in the chart");
        assert!(count(&pages[1], pred) > 50, "no {name} cells in the grid");
    }
    let text = pdf_text(&pdf);
    for needle in [
        "Trial QC report",
        "TRIAL-ALPHA",
        "SUBJ-0000",
        "SUBJ-0011",
        "V3",
        "170",
        "slice gaps",
        "T1 missing",
        "page 1 of 2",
        "page 2 of 2",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert_eq!(
        bytes,
        qc_pdf(&qc_report(12, 4)).unwrap(),
        "not deterministic"
    );
}

#[test]
fn qc_report_paginates_many_subjects_and_visits() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = qc_pdf(&qc_report(150, 15)).unwrap();
    let pdf = write_pdf(dir.path(), "qc-big.pdf", &bytes);
    let pages = rasterise(dir.path(), &pdf);
    let n = pages.len();
    assert!(n > 4, "only {n} pages for 150 subjects × 15 visits");
    let text = pdf_text(&pdf);
    assert!(text.contains(&format!("page {n} of {n}")));
    assert!(
        text.contains("Visits 1 to 6 of 15"),
        "column blocks missing"
    );
    assert!(text.contains("V14"));
    for (i, page) in pages.iter().enumerate() {
        assert!(non_white(page) > 200, "page {} is blank", i + 1);
    }

    let empty = QcReport {
        subjects: vec![],
        problems: vec![],
        ..qc_report(0, 0)
    };
    let bytes = qc_pdf(&empty).unwrap();
    let pdf = write_pdf(dir.path(), "qc-empty.pdf", &bytes);
    assert_eq!(pages_count(dir.path(), &pdf), 2);
    let text = pdf_text(&pdf);
    assert!(text.contains("No subjects with visits."));
    assert!(text.contains("No problems."));
}

fn pages_count(dir: &Path, pdf: &Path) -> usize {
    rasterise(dir, pdf).len()
}
