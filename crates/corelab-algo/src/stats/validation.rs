//! The analytical-validation report of a measurement method against a reference (QIBA's
//! metrology: Raunig et al. 2015; Obuchowski et al. 2015): two CSV tables joined on their first
//! column (the case), every column both have compared, as agreement for numbers (Bland–Altman,
//! ICC(2,1) and (3,1), Pearson's r) and categories (Cohen's κ, percentage agreement); a case
//! that appears more than once in the measured table is a set of replicates, from which the
//! repeatability (wSD, wCV, RC) comes; numeric columns only the measured table has (Dice,
//! Hausdorff distances per case) are summarised. Written as JSON and as one self-contained HTML
//! page with its plots as inline SVG.

use super::agreement::{
    BlandAltman, Repeatability, Summary, bland_altman, cohen_kappa, icc, pearson, repeatability,
    summary, weighted_kappa,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// One table: case → rows (several for replicates), columns by name.
struct Table {
    source: String,
    columns: Vec<String>,
    rows: BTreeMap<String, Vec<Vec<String>>>,
}

fn table(text: &str, source: &str) -> Result<Table, String> {
    let (header, records) = crate::csv::table(text, source)?;
    if header.len() < 2 {
        return Err(format!(
            "{source}: the header has {} column(s); the first names the case, the others measures",
            header.len()
        ));
    }
    let mut rows: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for (n, r) in records.into_iter().enumerate() {
        let id = r[0].trim().to_owned();
        if id.is_empty() {
            return Err(format!(
                "{source}, line {}: no case in the first column",
                n + 2
            ));
        }
        rows.entry(id)
            .or_default()
            .push(r[1..].iter().map(|v| v.trim().to_owned()).collect());
    }
    Ok(Table {
        source: source.to_owned(),
        columns: header[1..].iter().map(|h| h.trim().to_owned()).collect(),
        rows,
    })
}

impl Table {
    fn values(&self, column: &str) -> Option<BTreeMap<&str, Vec<&str>>> {
        let c = self.columns.iter().position(|h| h == column)?;
        Some(
            self.rows
                .iter()
                .map(|(id, rs)| {
                    (
                        id.as_str(),
                        rs.iter()
                            .map(|r| r[c].as_str())
                            .filter(|v| !v.is_empty())
                            .collect(),
                    )
                })
                .collect(),
        )
    }
    fn numeric(&self, column: &str) -> bool {
        self.values(column).is_some_and(|m| {
            m.values()
                .flatten()
                .all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
        })
    }
}

/// The ICCs as reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Iccs {
    /// ICC(2,1), absolute agreement.
    pub icc2_1: f64,
    /// ICC(3,1), consistency.
    pub icc3_1: f64,
}

/// One measure's comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measure {
    /// The column.
    pub name: String,
    /// `numeric` or `categorical`.
    pub kind: &'static str,
    /// Cases compared (in both tables, with a value in both).
    pub n: usize,
    /// Bland–Altman of measured − reference.
    pub bland_altman: Option<BlandAltman>,
    /// Bland–Altman of the percentage difference (measured − reference) / mean × 100.
    pub bland_altman_percent: Option<BlandAltman>,
    /// ICCs of the (reference, measured) pairs.
    pub icc: Option<Iccs>,
    /// Pearson's r.
    pub pearson: Option<f64>,
    /// Repeatability of the measured replicates, where cases have several.
    pub repeatability: Option<Repeatability>,
    /// Cohen's κ (categorical).
    pub cohen_kappa: Option<f64>,
    /// Cohen's weighted κ, linear and quadratic, when the values are ordinal scores (integers
    /// spanning at most 10: a grade, a Likert rating), of the first replicate.
    pub weighted_kappa: Option<(f64, f64)>,
    /// Share of cases where both agree (categorical).
    pub agreement: Option<f64>,
    /// (reference, measured) per case, the measured as the mean of its replicates: the plots'
    /// data.
    pub pairs: Vec<(String, f64, f64)>,
}

/// A measured-only numeric column summarised (Dice, Hausdorff distance…).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// The column.
    pub name: String,
    /// Its summary over cases (replicates pooled).
    pub summary: Summary,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The reference table's name.
    pub reference: String,
    /// The measured table's name.
    pub measured: String,
    /// Cases in both.
    pub cases: usize,
    /// Cases only in the reference.
    pub reference_only: Vec<String>,
    /// Cases only in the measured table.
    pub measured_only: Vec<String>,
    /// Every column both have.
    pub measures: Vec<Measure>,
    /// Numeric columns only the measured table has.
    pub distributions: Vec<Distribution>,
}

/// Compares `measured` with `reference` (CSV texts named by `*_name` in messages).
pub fn report(
    reference: &str,
    reference_name: &str,
    measured: &str,
    measured_name: &str,
) -> Result<Report, String> {
    let r = table(reference, reference_name)?;
    let m = table(measured, measured_name)?;
    let common: Vec<&String> = r.columns.iter().filter(|c| m.columns.contains(c)).collect();
    let extra: Vec<&String> = m
        .columns
        .iter()
        .filter(|c| !r.columns.contains(c))
        .collect();
    let mut measures = Vec::new();
    for name in common {
        let (rv, mv) = (
            r.values(name).unwrap_or_default(),
            m.values(name).unwrap_or_default(),
        );
        if r.numeric(name) && m.numeric(name) {
            let num = |v: &&str| v.parse::<f64>().unwrap_or(f64::NAN);
            let mut pairs = Vec::new();
            let mut replicates = Vec::new();
            for (id, refs) in &rv {
                let Some(ms) = mv.get(id).filter(|v| !v.is_empty()) else {
                    continue;
                };
                let Some(first) = refs.first() else {
                    continue;
                };
                let reps: Vec<f64> = ms.iter().map(num).collect();
                let mean = reps.iter().sum::<f64>() / reps.len() as f64;
                pairs.push(((*id).to_owned(), num(first), mean));
                replicates.push(reps);
            }
            let a: Vec<f64> = pairs.iter().map(|p| p.1).collect();
            let b: Vec<f64> = pairs.iter().map(|p| p.2).collect();
            let pct: Vec<f64> = pairs
                .iter()
                .map(|p| {
                    let mean = (p.1 + p.2) / 2.0;
                    if mean != 0.0 {
                        (p.2 - p.1) / mean * 100.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let icc_rows: Vec<Vec<f64>> = pairs.iter().map(|p| vec![p.1, p.2]).collect();
            let firsts: Vec<f64> = replicates.iter().map(|r| r[0]).collect();
            let mut levels: Vec<f64> = a.iter().chain(&firsts).copied().collect();
            levels.sort_by(f64::total_cmp);
            levels.dedup();
            // Scores, not quantities: integers over a short range (a grade, a Likert rating).
            let ordinal = levels.iter().all(|v| v.fract() == 0.0)
                && levels
                    .last()
                    .zip(levels.first())
                    .is_some_and(|(hi, lo)| hi - lo <= 10.0);
            let weighted_kappa = ordinal
                .then(|| weighted_kappa(&a, &firsts, false).zip(weighted_kappa(&a, &firsts, true)))
                .flatten();
            measures.push(Measure {
                name: name.clone(),
                kind: "numeric",
                n: pairs.len(),
                bland_altman: bland_altman(&a, &b),
                bland_altman_percent: bland_altman(&vec![0.0; pct.len()], &pct),
                icc: icc(&icc_rows).map(|i| Iccs {
                    icc2_1: i.icc2_1,
                    icc3_1: i.icc3_1,
                }),
                pearson: pearson(&a, &b),
                repeatability: repeatability(&replicates)
                    .filter(|_| replicates.iter().any(|r| r.len() > 1)),
                cohen_kappa: None,
                weighted_kappa,
                agreement: None,
                pairs,
            });
        } else {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (id, refs) in &rv {
                if let (Some(x), Some(y)) = (refs.first(), mv.get(id).and_then(|v| v.first())) {
                    a.push((*x).to_owned());
                    b.push((*y).to_owned());
                }
            }
            let agree = a.iter().zip(&b).filter(|(x, y)| x == y).count();
            measures.push(Measure {
                name: name.clone(),
                kind: "categorical",
                n: a.len(),
                bland_altman: None,
                bland_altman_percent: None,
                icc: None,
                pearson: None,
                repeatability: None,
                cohen_kappa: cohen_kappa(&a, &b),
                weighted_kappa: None,
                agreement: (!a.is_empty()).then(|| agree as f64 / a.len() as f64),
                pairs: Vec::new(),
            });
        }
    }
    let distributions: Vec<Distribution> = extra
        .into_iter()
        .filter(|c| m.numeric(c))
        .filter_map(|c| {
            let v: Vec<f64> = m
                .values(c)?
                .values()
                .flatten()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(Distribution {
                name: c.clone(),
                summary: summary(&v)?,
            })
        })
        .collect();
    if measures.is_empty() && distributions.is_empty() {
        return Err(format!(
            "{} and {} share no measure column, and {} has no numeric column of its own",
            r.source, m.source, m.source
        ));
    }
    Ok(Report {
        reference: r.source.clone(),
        measured: m.source.clone(),
        cases: r.rows.keys().filter(|k| m.rows.contains_key(*k)).count(),
        reference_only: r
            .rows
            .keys()
            .filter(|k| !m.rows.contains_key(*k))
            .cloned()
            .collect(),
        measured_only: m
            .rows
            .keys()
            .filter(|k| !r.rows.contains_key(*k))
            .cloned()
            .collect(),
        measures,
        distributions,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.4}"))
}

/// An SVG scatter of (x, y) with optional horizontal lines (value, label) and the identity line.
fn scatter(
    title: &str,
    xl: &str,
    yl: &str,
    pts: &[(f64, f64)],
    lines: &[(f64, &str)],
    identity: bool,
) -> String {
    let (w, h, pad) = (420.0, 320.0, 48.0);
    let xs = pts.iter().map(|p| p.0);
    let ys = pts.iter().map(|p| p.1).chain(lines.iter().map(|l| l.0));
    let (mut x0, mut x1) = xs.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
        (a.0.min(v), a.1.max(v))
    });
    let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
        (a.0.min(v), a.1.max(v))
    });
    if identity {
        (x0, x1) = (x0.min(y0), x1.max(y1));
        (y0, y1) = (x0, x1);
    }
    if x1.is_nan() || x0.is_nan() || x1 <= x0 {
        (x0, x1) = (x0 - 1.0, x0 + 1.0);
    }
    if y1.is_nan() || y0.is_nan() || y1 <= y0 {
        (y0, y1) = (y0 - 1.0, y0 + 1.0);
    }
    let sx = |x: f64| pad + (x - x0) / (x1 - x0) * (w - 2.0 * pad);
    let sy = |y: f64| h - pad - (y - y0) / (y1 - y0) * (h - 2.0 * pad);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{t}"><title>{t}</title><rect x="{pad}" y="{pad}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        w - 2.0 * pad,
        h - 2.0 * pad,
        t = esc(title)
    );
    if identity {
        s += &format!(
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#bbb" stroke-dasharray="4"/>"##,
            sx(x0),
            sy(x0),
            sx(x1),
            sy(x1)
        );
    }
    for (v, label) in lines {
        s += &format!(
            r##"<line x1="{pad}" y1="{y}" x2="{}" y2="{y}" stroke="#c33" stroke-dasharray="5 3"/><text x="{}" y="{}" font-size="10" fill="#c33" text-anchor="end">{} {:.3}</text>"##,
            w - pad,
            w - pad - 2.0,
            sy(*v) - 3.0,
            esc(label),
            v,
            y = sy(*v)
        );
    }
    for (x, y) in pts {
        s += &format!(
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#2a6ebb"/>"##,
            sx(*x),
            sy(*y)
        );
    }
    s += &format!(
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text><text x="12" y="{}" font-size="11" transform="rotate(-90 12 {})" text-anchor="middle">{}</text><text x="{pad}" y="{}" font-size="10">{:.3}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{:.3}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{:.3}</text><text x="{}" y="{pad}" font-size="10" text-anchor="end">{:.3}</text></svg>"#,
        w / 2.0,
        h - 8.0,
        esc(xl),
        h / 2.0,
        h / 2.0,
        esc(yl),
        h - pad + 14.0,
        x0,
        w - pad,
        h - pad + 14.0,
        x1,
        pad - 4.0,
        h - pad,
        y0,
        pad - 4.0,
        y1
    );
    s
}

/// The report as one HTML page.
pub fn html(report: &Report) -> String {
    let mut s = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Analytical validation: {m} against {r}</title><style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}}th:first-child,td:first-child{{text-align:left}}</style></head><body><h1>Analytical validation</h1><p>Measured: <code>{m}</code>. Reference: <code>{r}</code>. Cases in both: {c}; only in the reference: {ro}; only measured: {mo}.</p>"#,
        m = esc(&report.measured),
        r = esc(&report.reference),
        c = report.cases,
        ro = report.reference_only.len(),
        mo = report.measured_only.len()
    );
    s += "<h2>Agreement</h2><table><tr><th>measure</th><th>n</th><th>bias</th><th>SD of differences</th><th>95 % limits of agreement</th><th>ICC(2,1)</th><th>ICC(3,1)</th><th>Pearson r</th><th>wCV</th><th>RC</th><th>Cohen's κ</th><th>weighted κ (linear, quadratic)</th><th>agreement</th></tr>";
    for m in &report.measures {
        let ba = m.bland_altman;
        s += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.name),
            m.n,
            fmt(ba.map(|b| b.bias)),
            fmt(ba.map(|b| b.sd)),
            ba.map_or("–".into(), |b| format!(
                "{:.4} to {:.4}",
                b.lower, b.upper
            )),
            fmt(m.icc.map(|i| i.icc2_1)),
            fmt(m.icc.map(|i| i.icc3_1)),
            fmt(m.pearson),
            fmt(m.repeatability.map(|r| r.wcv)),
            fmt(m.repeatability.map(|r| r.rc)),
            fmt(m.cohen_kappa),
            m.weighted_kappa
                .map_or("–".into(), |(l, q)| format!("{l:.4}, {q:.4}")),
            fmt(m.agreement)
        );
    }
    s += "</table>";
    for m in report
        .measures
        .iter()
        .filter(|m| m.kind == "numeric" && !m.pairs.is_empty())
    {
        let pts: Vec<(f64, f64)> = m.pairs.iter().map(|p| (p.1, p.2)).collect();
        let ba_pts: Vec<(f64, f64)> = m
            .pairs
            .iter()
            .map(|p| ((p.1 + p.2) / 2.0, p.2 - p.1))
            .collect();
        s += &format!("<h2>{}</h2>", esc(&m.name));
        s += &scatter(
            &format!("{}: measured against reference", m.name),
            "reference",
            "measured",
            &pts,
            &[],
            true,
        );
        if let Some(b) = m.bland_altman {
            s += &scatter(
                &format!("{}: Bland–Altman", m.name),
                "mean of the two",
                "measured − reference",
                &ba_pts,
                &[
                    (b.upper, "+1.96 SD"),
                    (b.bias, "bias"),
                    (b.lower, "−1.96 SD"),
                ],
                false,
            );
        }
    }
    if !report.distributions.is_empty() {
        s += "<h2>Distributions</h2><table><tr><th>measure</th><th>n</th><th>mean</th><th>SD</th><th>min</th><th>Q1</th><th>median</th><th>Q3</th><th>max</th></tr>";
        for d in &report.distributions {
            let x = d.summary;
            s += &format!(
                "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                esc(&d.name),
                x.n,
                x.mean,
                x.sd,
                x.min,
                x.q1,
                x.median,
                x.q3,
                x.max
            );
        }
        s += "</table>";
    }
    s += "<p>Methods: Bland &amp; Altman (Lancet 1986); ICC(2,1) and ICC(3,1) (Shrout &amp; Fleiss 1979); wCV, wSD and RC = 2.77 wSD from replicates (QIBA, Raunig et al. 2015); Cohen's κ, and Cohen's weighted κ (1968) for ordinal scores. Produced by corelab.</p></body></html>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_joins_cases_compares_columns_and_keeps_replicates() {
        let reference = "case,volume,response,\n\
                         a,10,PR,\n\
                         b,20,SD,\n\
                         c,30,PD,\n\
                         d,40,SD,\n";
        let reference = reference.replace(",\n", "\n");
        let measured = "case,volume,response,dice\n\
                        a,11,PR,0.9\n\
                        a,12,PR,0.88\n\
                        b,19,SD,0.8\n\
                        c,33,SD,0.7\n\
                        e,5,PR,0.6\n";
        let r = report(&reference, "ref.csv", measured, "measured.csv").unwrap();
        assert_eq!(
            (r.cases, r.reference_only.clone(), r.measured_only.clone()),
            (3, vec!["d".to_owned()], vec!["e".to_owned()])
        );
        let v = &r.measures[0];
        assert_eq!((v.name.as_str(), v.kind, v.n), ("volume", "numeric", 3));
        // a: mean of 11 and 12.
        assert_eq!(v.pairs[0], ("a".to_owned(), 10.0, 11.5));
        let ba = v.bland_altman.unwrap();
        assert!((ba.bias - (1.5 - 1.0 + 3.0) / 3.0).abs() < 1e-12);
        assert!(v.repeatability.is_some());
        assert_eq!(v.weighted_kappa, None, "volumes are not scores");
        let c = &r.measures[1];
        assert_eq!((c.kind, c.n), ("categorical", 3));
        assert!((c.agreement.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.distributions[0].name, "dice");
        assert_eq!(r.distributions[0].summary.n, 5);
        let page = html(&r);
        assert!(page.contains("<svg") && page.contains("Bland–Altman") && page.contains("dice"));
    }

    #[test]
    fn ordinal_scores_get_weighted_kappa() {
        let reference = "case,fazekas\na,0\nb,1\nc,2\nd,3\ne,2\n";
        let measured = "case,fazekas\na,0\nb,2\nc,2\nd,3\ne,1\n";
        let r = report(reference, "r.csv", measured, "m.csv").unwrap();
        let (l, q) = r.measures[0].weighted_kappa.unwrap();
        let (a, b) = ([0., 1., 2., 3., 2.], [0., 2., 2., 3., 1.]);
        assert_eq!(l, weighted_kappa(&a, &b, false).unwrap());
        assert_eq!(q, weighted_kappa(&a, &b, true).unwrap());
        assert!(html(&r).contains("weighted κ"));
    }

    #[test]
    fn bad_tables_are_refused_with_where() {
        assert!(
            report("id\n1\n", "r.csv", "id,x\n1,2\n", "m.csv")
                .unwrap_err()
                .contains("r.csv")
        );
        let e = report("id,x\n1,2\n2\n", "r.csv", "id,x\n1,2\n", "m.csv").unwrap_err();
        assert!(e.contains("r.csv, line 3"), "{e}");
        assert!(report("id,x\n1,2\n", "r.csv", "id,y\n1,2\n", "m.csv").is_ok());
        assert!(
            report("id,x\n1,2\n", "r.csv", "id,y\n1,two\n", "m.csv")
                .unwrap_err()
                .contains("no measure")
        );
    }
}
