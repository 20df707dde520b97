//! Layout of the trial QC report.

use super::pdf::{Align, BODY_BOTTOM, BODY_W, Doc, Frame, MARGIN, Rgb};
use super::plot::{self, Area};
use super::text;
use super::{QcReport, QcSubjectRow, ReportError, StatusCounts};

/// Status colours, chosen so each is dominated by a different channel (green, red+green,
/// red, none) and stays distinguishable in greyscale print by lightness.
const PASS: Rgb = Rgb(0.40, 0.74, 0.40);
const REVIEW: Rgb = Rgb(1.00, 0.76, 0.20);
const FAIL: Rgb = Rgb(0.88, 0.26, 0.26);
const PENDING: Rgb = Rgb(0.78, 0.78, 0.78);
const STATUSES: [&str; 4] = ["pass", "review", "fail", "pending"];
const COLOURS: [Rgb; 4] = [PASS, REVIEW, FAIL, PENDING];

const ROW_H: f32 = 15.0;
const SUBJECT_W: f32 = 90.0;
const SITE_W: f32 = 60.0;
/// Width of one visit column; the visits that do not fit across are drawn in further
/// column blocks below (or on following pages).
const VISIT_W: f32 = 60.0;

/// The grid colour of a status, matched case-insensitively; `None` for anything else.
fn status_colour(status: &str) -> Option<Rgb> {
    match status.trim().to_ascii_lowercase().as_str() {
        "pass" | "passed" => Some(PASS),
        "review" => Some(REVIEW),
        "fail" | "failed" => Some(FAIL),
        "pending" => Some(PENDING),
        _ => None,
    }
}

pub(crate) fn render(report: &QcReport) -> Result<Vec<u8>, ReportError> {
    let mut doc = Doc::new();
    summary(&mut doc, report);
    doc.break_page();
    grid(&mut doc, &report.subjects);
    problems(&mut doc, &report.problems);
    let frame = Frame {
        title: "Trial QC report".into(),
        header: format!("Trial {}", report.trial),
        footer: format!(
            "{} \u{b7} {}",
            report.generated_by,
            report.generated_at.format("%Y-%m-%d %H:%M UTC")
        ),
        generated_by: report.generated_by.clone(),
        generated_at: report.generated_at,
    };
    doc.finish(&frame)
}

fn summary(doc: &mut Doc, report: &QcReport) {
    doc.heading("QC status counts");
    let label_w = 110.0;
    let col_w = (BODY_W - label_w) / 5.0;
    let y = doc.y;
    let page = doc.page();
    page.fill_rect(MARGIN, y, BODY_W, ROW_H + 2.0, Rgb::LIGHT);
    for (k, name) in STATUSES.iter().chain(&["total"]).enumerate() {
        let x = MARGIN + label_w + k as f32 * col_w;
        if let Some(colour) = COLOURS.get(k) {
            page.fill_rect(x + 4.0, y + 4.0, 8.0, 8.0, *colour);
        }
        page.text(name, x + 16.0, y + 11.5, 9.0, true, Rgb::BLACK, Align::Left);
    }
    doc.y += ROW_H + 2.0;
    for (name, counts) in [
        ("Series", report.series_counts),
        ("Visits", report.visit_counts),
    ] {
        let y = doc.y;
        let page = doc.page();
        page.text(
            name,
            MARGIN + 4.0,
            y + 11.0,
            9.5,
            true,
            Rgb::BLACK,
            Align::Left,
        );
        let values = [
            counts.pass,
            counts.review,
            counts.fail,
            counts.pending,
            counts.total(),
        ];
        for (k, v) in values.iter().enumerate() {
            let x = MARGIN + label_w + (k + 1) as f32 * col_w - 8.0;
            page.text(
                &v.to_string(),
                x,
                y + 11.0,
                9.5,
                false,
                Rgb::BLACK,
                Align::Right,
            );
        }
        page.line(
            (MARGIN, y + ROW_H),
            (MARGIN + BODY_W, y + ROW_H),
            0.3,
            Rgb::LIGHT,
        );
        doc.y += ROW_H;
    }
    doc.y += 20.0;
    let chart_h = 230.0;
    doc.ensure(chart_h);
    let area = Area {
        x: MARGIN,
        y: doc.y,
        w: BODY_W,
        h: chart_h,
    };
    let as_array = |c: StatusCounts| [c.pass, c.review, c.fail, c.pending];
    plot::bar_chart(
        doc.page(),
        area,
        &[
            ("Series", as_array(report.series_counts)),
            ("Visits", as_array(report.visit_counts)),
        ],
        STATUSES,
        COLOURS,
    );
    doc.y += chart_h + 10.0;
}

/// Visit names in order of first appearance over all subjects.
fn visit_columns(subjects: &[QcSubjectRow]) -> Vec<&str> {
    let mut visits: Vec<&str> = Vec::new();
    for row in subjects {
        for (visit, _) in &row.visits {
            if !visits.contains(&visit.as_str()) {
                visits.push(visit);
            }
        }
    }
    visits
}

fn grid(doc: &mut Doc, subjects: &[QcSubjectRow]) {
    doc.heading("Subject \u{d7} visit QC status");
    let visits = visit_columns(subjects);
    if subjects.is_empty() || visits.is_empty() {
        let y = doc.y + 10.0;
        doc.page().text(
            "No subjects with visits.",
            MARGIN,
            y,
            10.0,
            false,
            Rgb::BLACK,
            Align::Left,
        );
        doc.y += 24.0;
        return;
    }
    let per_block = (((BODY_W - SUBJECT_W - SITE_W) / VISIT_W) as usize).max(1);
    let blocks = visits.len().div_ceil(per_block);
    for (b, block) in visits.chunks(per_block).enumerate() {
        if blocks > 1 {
            doc.ensure(3.0 * ROW_H + 16.0);
            let first = b * per_block + 1;
            let note = format!(
                "Visits {first} to {} of {}",
                first + block.len() - 1,
                visits.len()
            );
            let y = doc.y + 10.0;
            doc.page()
                .text(&note, MARGIN, y, 9.0, true, Rgb::GREY, Align::Left);
            doc.y += 16.0;
        }
        doc.ensure(2.0 * ROW_H + 2.0);
        grid_header(doc, block);
        for row in subjects {
            if doc.y + ROW_H > BODY_BOTTOM {
                doc.new_page();
                grid_header(doc, block);
            }
            grid_row(doc, row, block);
        }
        doc.y += 14.0;
    }
}

fn grid_header(doc: &mut Doc, visits: &[&str]) {
    let y = doc.y;
    let width = SUBJECT_W + SITE_W + visits.len() as f32 * VISIT_W;
    let page = doc.page();
    page.fill_rect(MARGIN, y, width, ROW_H + 2.0, Rgb::LIGHT);
    page.text(
        "Subject",
        MARGIN + 3.0,
        y + 11.5,
        8.5,
        true,
        Rgb::BLACK,
        Align::Left,
    );
    page.text(
        "Site",
        MARGIN + SUBJECT_W + 3.0,
        y + 11.5,
        8.5,
        true,
        Rgb::BLACK,
        Align::Left,
    );
    for (k, visit) in visits.iter().enumerate() {
        let x = MARGIN + SUBJECT_W + SITE_W + k as f32 * VISIT_W;
        let name = text::fit(&text::sanitize(visit), 8.5, true, VISIT_W - 4.0);
        page.text(
            &name,
            x + VISIT_W / 2.0,
            y + 11.5,
            8.5,
            true,
            Rgb::BLACK,
            Align::Centre,
        );
    }
    doc.y += ROW_H + 2.0;
}

fn grid_row(doc: &mut Doc, row: &QcSubjectRow, visits: &[&str]) {
    let y = doc.y;
    let page = doc.page();
    page.text_fit(
        &row.subject,
        MARGIN + 3.0,
        y + 10.5,
        8.5,
        false,
        Rgb::BLACK,
        SUBJECT_W - 6.0,
    );
    page.text_fit(
        &row.site,
        MARGIN + SUBJECT_W + 3.0,
        y + 10.5,
        8.5,
        false,
        Rgb::BLACK,
        SITE_W - 6.0,
    );
    for (k, visit) in visits.iter().enumerate() {
        let x = MARGIN + SUBJECT_W + SITE_W + k as f32 * VISIT_W;
        // A visit listed twice for one subject: the first entry counts.
        let status = row
            .visits
            .iter()
            .find(|(v, _)| v == visit)
            .map(|(_, s)| s.as_str());
        match status {
            Some(s) => {
                if let Some(colour) = status_colour(s) {
                    page.fill_rect(x + 1.0, y + 1.0, VISIT_W - 2.0, ROW_H - 2.0, colour);
                } else {
                    page.stroke_rect(x + 1.0, y + 1.0, VISIT_W - 2.0, ROW_H - 2.0, 0.5, Rgb::GREY);
                }
                let label = text::fit(&text::sanitize(s), 7.5, false, VISIT_W - 6.0);
                page.text(
                    &label,
                    x + VISIT_W / 2.0,
                    y + 10.0,
                    7.5,
                    false,
                    Rgb::BLACK,
                    Align::Centre,
                );
            }
            None => page.text(
                "-",
                x + VISIT_W / 2.0,
                y + 10.0,
                7.5,
                false,
                Rgb::GREY,
                Align::Centre,
            ),
        }
    }
    let width = SUBJECT_W + SITE_W + visits.len() as f32 * VISIT_W;
    page.line(
        (MARGIN, y + ROW_H),
        (MARGIN + width, y + ROW_H),
        0.3,
        Rgb::LIGHT,
    );
    doc.y += ROW_H;
}

fn problems(doc: &mut Doc, problems: &[String]) {
    doc.heading(&format!("Problems ({})", problems.len()));
    if problems.is_empty() {
        let y = doc.y + 10.0;
        doc.page().text(
            "No problems.",
            MARGIN,
            y,
            10.0,
            false,
            Rgb::BLACK,
            Align::Left,
        );
        doc.y += 14.0;
        return;
    }
    for problem in problems {
        let lines = text::wrap(&text::sanitize(problem), 9.5, BODY_W - 12.0);
        for (i, l) in lines.iter().enumerate() {
            doc.ensure(12.5);
            let y = doc.y + 9.5;
            let page = doc.page();
            if i == 0 {
                page.text("\u{2022}", MARGIN, y, 9.5, false, Rgb::BLACK, Align::Left);
            }
            page.text(l, MARGIN + 12.0, y, 9.5, false, Rgb::BLACK, Align::Left);
            doc.y += 12.5;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_qc_status_colours_match_case_insensitively() {
        assert_eq!(status_colour("PASS"), Some(PASS));
        assert_eq!(status_colour(" review "), Some(REVIEW));
        assert_eq!(status_colour("Failed"), Some(FAIL));
        assert_eq!(status_colour("pending"), Some(PENDING));
        assert_eq!(status_colour("waived"), None);
    }

    #[test]
    fn report_qc_visit_columns_keep_first_appearance_order() {
        let row = |visits: &[&str]| QcSubjectRow {
            subject: "S".into(),
            site: "X".into(),
            visits: visits
                .iter()
                .map(|v| ((*v).to_string(), "pass".to_string()))
                .collect(),
        };
        let rows = [row(&["BL", "W12"]), row(&["BL", "W6", "W12", "W24"])];
        assert_eq!(visit_columns(&rows), vec!["BL", "W12", "W6", "W24"]);
    }
}
