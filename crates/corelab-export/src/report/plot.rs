//! Vector plots drawn with PDF lines and rectangles: a line plot of one measure over the visits
//! and a grouped bar chart of status counts. Vector rather than raster so they stay sharp at any
//! zoom and cost a few hundred bytes.

use super::MeasureSeries;
use super::pdf::{Align, Page, Rgb};
use super::text;

/// A box on the page, top-left corner and size in points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Area {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

const LINE: Rgb = Rgb(0.12, 0.35, 0.70);
const GRID: Rgb = Rgb(0.88, 0.88, 0.88);
/// Room left of the plot frame for the y tick labels.
const LEFT: f32 = 52.0;
/// Room under the plot frame for the visit labels.
const BOTTOM: f32 = 30.0;
/// Room above the frame for the title and unit.
const TOP: f32 = 30.0;

/// Tick positions over `[lo, hi]` at a "nice" step (1, 2 or 5 × 10^k), and the number of
/// decimals their labels need. `None` when the range is not finite.
pub(crate) fn ticks(lo: f64, hi: f64) -> Option<(Vec<f64>, usize)> {
    // Checked before min/max, which would quietly drop a NaN.
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    let (mut lo, mut hi) = (lo.min(hi), lo.max(hi));
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        // A flat series still needs an axis: open the range by 10 % of the value (or 1).
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    let raw = (hi - lo) / 5.0;
    if !raw.is_finite() || raw <= 0.0 {
        return None;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    if !(first.is_finite() && last.is_finite()) || last - first > 50.0 {
        return None;
    }
    let values = (0..=((last - first) as usize))
        .map(|k| (first + k as f64) * step)
        .collect();
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    Some((values, decimals))
}

fn label(v: f64, decimals: usize) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-4) {
        format!("{v:.2e}")
    } else {
        // Avoid "-0.0" for a tick that is zero up to rounding.
        let s = format!("{v:.decimals$}");
        if s.trim_start_matches(['-', '0', '.']).is_empty() {
            s.trim_start_matches('-').to_string()
        } else {
            s
        }
    }
}

/// Draws one measure over the visits inside `area`. Points whose x or value is not finite are
/// left out, and how many is written under the plot; a series with no plottable point gets an
/// empty frame saying so.
pub(crate) fn line_plot(page: &mut Page, area: Area, series: &MeasureSeries) {
    let title = format!("{} ({})", series.measure, series.algorithm);
    page.text_fit(
        &title,
        area.x,
        area.y + 11.0,
        11.0,
        true,
        Rgb::BLACK,
        area.w,
    );
    let frame = Area {
        x: area.x + LEFT,
        y: area.y + TOP,
        w: area.w - LEFT - 8.0,
        h: area.h - TOP - BOTTOM,
    };
    page.text_fit(
        &series.unit,
        area.x,
        area.y + TOP - 6.0,
        8.0,
        false,
        Rgb::GREY,
        LEFT + 60.0,
    );
    page.stroke_rect(frame.x, frame.y, frame.w, frame.h, 0.6, Rgb::BLACK);

    let mut points: Vec<&(String, f64, f64)> = series
        .points
        .iter()
        .filter(|(_, x, v)| x.is_finite() && v.is_finite())
        .collect();
    let skipped = series.points.len() - points.len();
    if skipped > 0 {
        let note = format!(
            "{skipped} point(s) not plotted: visit day or value not finite ({})",
            series
                .points
                .iter()
                .filter(|(_, x, v)| !(x.is_finite() && v.is_finite()))
                .map(|(visit, _, _)| visit.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        page.text_fit(
            &note,
            frame.x,
            area.y + area.h - 2.0,
            7.0,
            false,
            Rgb(0.7, 0.1, 0.1),
            frame.w,
        );
    }
    points.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        no_data(page, frame);
        return;
    };
    let (vmin, vmax) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.2), hi.max(p.2))
        });
    // A margin of 8 % of the range keeps the extreme points and their labels inside the frame.
    let margin = (vmax - vmin) * 0.08;
    let Some((yticks, decimals)) = ticks(vmin - margin, vmax + margin) else {
        no_data(page, frame);
        return;
    };
    let (ylo, yhi) = (yticks[0], yticks[yticks.len() - 1]);
    let (mut xlo, mut xhi) = (first.1, last.1);
    if !(xhi - xlo).is_finite() {
        no_data(page, frame);
        return;
    }
    if xhi - xlo <= 0.0 {
        xlo -= 1.0;
        xhi += 1.0;
    }
    // Keep the first and last points off the frame edge.
    let pad = (xhi - xlo) * 0.06;
    let (xlo, xhi) = (xlo - pad, xhi + pad);
    let px = |x: f64| frame.x + ((x - xlo) / (xhi - xlo)) as f32 * frame.w;
    let py = |v: f64| frame.y + frame.h - ((v - ylo) / (yhi - ylo)) as f32 * frame.h;

    for &t in &yticks {
        let y = py(t);
        page.line((frame.x, y), (frame.x + frame.w, y), 0.3, GRID);
        page.line((frame.x - 3.0, y), (frame.x, y), 0.6, Rgb::BLACK);
        page.text(
            &label(t, decimals),
            frame.x - 5.0,
            y + 2.5,
            7.5,
            false,
            Rgb::BLACK,
            Align::Right,
        );
    }
    let bottom = frame.y + frame.h;
    let mut last_label_end = f32::NEG_INFINITY;
    for (visit, x, _) in &points {
        let cx = px(*x);
        page.line((cx, bottom), (cx, bottom + 3.0), 0.6, Rgb::BLACK);
        // Visit names that would overlap the previous one are left out rather than overprinted.
        let name = text::fit(&text::sanitize(visit), 7.5, false, 80.0);
        let w = text::width(&name, 7.5, false);
        if cx - w / 2.0 > last_label_end + 3.0 {
            page.text(
                &name,
                cx,
                bottom + 12.0,
                7.5,
                false,
                Rgb::BLACK,
                Align::Centre,
            );
            last_label_end = cx + w / 2.0;
        }
    }
    let line: Vec<(f32, f32)> = points.iter().map(|p| (px(p.1), py(p.2))).collect();
    page.polyline(&line, 1.4, LINE);
    // Values are written at the points while there is room for them to be read.
    let write_values = points.len() <= 12;
    for (&(x, y), p) in line.iter().zip(&points) {
        page.fill_rect(x - 2.2, y - 2.2, 4.4, 4.4, LINE);
        if write_values {
            let value = label(p.2, (decimals + 1).min(6));
            page.text(&value, x + 4.0, y - 4.0, 7.0, false, LINE, Align::Left);
        }
    }
}

fn no_data(page: &mut Page, frame: Area) {
    page.text(
        "no plottable values",
        frame.x + frame.w / 2.0,
        frame.y + frame.h / 2.0,
        9.0,
        false,
        Rgb::GREY,
        Align::Centre,
    );
}

/// A grouped bar chart: one group per `(name, counts)`, one bar per category in `colours`,
/// the count written above each bar, and a legend of `categories` on the right.
pub(crate) fn bar_chart(
    page: &mut Page,
    area: Area,
    groups: &[(&str, [u64; 4])],
    categories: [&str; 4],
    colours: [Rgb; 4],
) {
    let legend_w = 80.0;
    let frame = Area {
        x: area.x + LEFT,
        y: area.y + 10.0,
        w: area.w - LEFT - legend_w,
        h: area.h - 10.0 - BOTTOM,
    };
    let max = groups
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(0);
    // Counts are integers: a step below 1 would label ticks 0.2, 0.4, ...
    let Some((yticks, _)) = ticks(0.0, (max as f64).max(5.0)) else {
        return;
    };
    let yhi = yticks[yticks.len() - 1];
    let py = |v: f64| frame.y + frame.h - (v / yhi) as f32 * frame.h;
    for &t in yticks.iter().filter(|t| **t >= 0.0) {
        let y = py(t);
        page.line((frame.x, y), (frame.x + frame.w, y), 0.3, GRID);
        page.text(
            &label(t, 0),
            frame.x - 5.0,
            y + 2.5,
            7.5,
            false,
            Rgb::BLACK,
            Align::Right,
        );
    }
    page.line(
        (frame.x, frame.y + frame.h),
        (frame.x + frame.w, frame.y + frame.h),
        0.8,
        Rgb::BLACK,
    );
    page.line(
        (frame.x, frame.y),
        (frame.x, frame.y + frame.h),
        0.8,
        Rgb::BLACK,
    );
    let group_w = frame.w / groups.len().max(1) as f32;
    let bar_w = group_w * 0.8 / 4.0;
    for (g, (name, counts)) in groups.iter().enumerate() {
        let gx = frame.x + g as f32 * group_w + group_w * 0.1;
        for (k, &count) in counts.iter().enumerate() {
            let x = gx + k as f32 * bar_w;
            let top = py(count as f64);
            page.fill_rect(
                x + 1.0,
                top,
                bar_w - 2.0,
                frame.y + frame.h - top,
                colours[k],
            );
            page.text(
                &count.to_string(),
                x + bar_w / 2.0,
                top - 3.0,
                7.5,
                false,
                Rgb::BLACK,
                Align::Centre,
            );
        }
        page.text(
            name,
            gx + group_w * 0.4,
            frame.y + frame.h + 14.0,
            9.0,
            true,
            Rgb::BLACK,
            Align::Centre,
        );
    }
    let lx = frame.x + frame.w + 14.0;
    for (k, category) in categories.iter().enumerate() {
        let ly = frame.y + 8.0 + k as f32 * 16.0;
        page.fill_rect(lx, ly, 10.0, 10.0, colours[k]);
        page.text(
            category,
            lx + 14.0,
            ly + 8.5,
            8.5,
            false,
            Rgb::BLACK,
            Align::Left,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_plot_ticks_are_nice_and_cover_the_range() {
        let (t, d) = ticks(3.2, 17.9).unwrap();
        assert_eq!(t, vec![0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(d, 0);
        let (t, d) = ticks(0.012, 0.031).unwrap();
        assert!(t[0] <= 0.012 && *t.last().unwrap() >= 0.031);
        assert_eq!(d, 3);
        // A flat series gets a range around its value.
        let (t, _) = ticks(42.0, 42.0).unwrap();
        assert!(t[0] < 42.0 && *t.last().unwrap() > 42.0);
        let (t, _) = ticks(0.0, 0.0).unwrap();
        assert!(t[0] <= -1.0 && *t.last().unwrap() >= 1.0);
        assert!(ticks(f64::NAN, 1.0).is_none());
        assert!(ticks(-f64::MAX, f64::MAX).is_none());
    }

    #[test]
    fn report_plot_labels_are_readable() {
        assert_eq!(label(12.5, 1), "12.5");
        assert_eq!(label(-0.0, 1), "0.0");
        assert_eq!(label(2.5e7, 0), "2.50e7");
    }

    #[test]
    fn report_plot_handles_empty_nan_and_huge_series() {
        let area = Area {
            x: 40.0,
            y: 80.0,
            w: 500.0,
            h: 200.0,
        };
        for points in [
            vec![],
            vec![("V1".to_string(), 1.0, f64::NAN)],
            vec![
                ("V1".to_string(), 1.0, f64::MAX),
                ("V2".to_string(), 2.0, -f64::MAX),
            ],
            vec![
                ("V1".to_string(), f64::MAX, 1.0),
                ("V2".to_string(), -f64::MAX, 2.0),
            ],
            vec![("V1".to_string(), 5.0, 1.0)],
        ] {
            let mut page = Page::default();
            let series = MeasureSeries {
                measure: "m".into(),
                unit: "mm".into(),
                algorithm: "a@1".into(),
                points,
            };
            line_plot(&mut page, area, &series);
        }
    }
}
