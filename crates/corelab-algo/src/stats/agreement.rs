//! Agreement between raters or methods: Cohen's and Fleiss' κ for categories (readers'
//! responses), the intraclass correlations, Bland–Altman limits of agreement and the
//! repeatability metrics of QIBA (Raunig et al., Stat Methods Med Res 2015) for numbers. Written
//! here because they are a few lines each over plain slices and no maintained crate offers them
//! (linfa and smartcore have none); checked against published worked examples in the tests.

use std::collections::BTreeSet;

/// Cohen's κ of two raters' categories over the same items; None with no items, or when chance
/// agreement is certain (one category only), where κ is undefined.
pub fn cohen_kappa(a: &[String], b: &[String]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n == 0 {
        return None;
    }
    let cats: BTreeSet<&String> = a[..n].iter().chain(&b[..n]).collect();
    let observed = (0..n).filter(|&i| a[i] == b[i]).count() as f64 / n as f64;
    let share =
        |r: &[String], c: &String| r[..n].iter().filter(|x| *x == c).count() as f64 / n as f64;
    let chance: f64 = cats.iter().map(|c| share(a, c) * share(b, c)).sum();
    if (1.0 - chance).abs() < 1e-12 {
        return None;
    }
    Some((observed - chance) / (1.0 - chance))
}

/// Cohen's weighted κ (Cohen, Psychol Bull 1968) of two raters' ordinal scores over the same
/// items: disagreements weighted by their distance in rank among the levels either rater used,
/// linearly (`|i − j|`) or quadratically (`(i − j)²`), as scikit-learn's `cohen_kappa_score`
/// weighs them. None with no items or a single level.
pub fn weighted_kappa(a: &[f64], b: &[f64], quadratic: bool) -> Option<f64> {
    let n = a.len().min(b.len());
    let mut levels: Vec<f64> = a[..n].iter().chain(&b[..n]).copied().collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let m = levels.len();
    if n == 0 || m < 2 {
        return None;
    }
    let rank = |v: f64| levels.iter().position(|&l| l == v).unwrap_or(0);
    let mut observed = vec![vec![0.0; m]; m];
    for i in 0..n {
        observed[rank(a[i])][rank(b[i])] += 1.0;
    }
    let rows: Vec<f64> = observed.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..m)
        .map(|j| observed.iter().map(|r| r[j]).sum())
        .collect();
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..m {
        for j in 0..m {
            let d = i.abs_diff(j) as f64;
            let w = if quadratic { d * d } else { d };
            num += w * observed[i][j];
            den += w * rows[i] * cols[j] / n as f64;
        }
    }
    (den > 0.0).then(|| 1.0 - num / den)
}

/// The single-rater intraclass correlations of a subjects × raters table (Shrout & Fleiss 1979;
/// McGraw & Wong 1996).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Icc {
    /// ICC(2,1): two-way random effects, absolute agreement.
    pub icc2_1: f64,
    /// ICC(3,1): two-way mixed effects, consistency.
    pub icc3_1: f64,
}

/// The ICCs of `rows` (one per subject, one value per rater, all rows as long); None with fewer
/// than two subjects or raters, ragged rows, or no variance at all.
pub fn icc(rows: &[Vec<f64>]) -> Option<Icc> {
    let n = rows.len();
    let k = rows.first()?.len();
    if n < 2 || k < 2 || rows.iter().any(|r| r.len() != k) {
        return None;
    }
    let (nf, kf) = (n as f64, k as f64);
    let grand = rows.iter().flatten().sum::<f64>() / (nf * kf);
    let row_means: Vec<f64> = rows.iter().map(|r| r.iter().sum::<f64>() / kf).collect();
    let col_means: Vec<f64> = (0..k)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / nf)
        .collect();
    let ss_rows = kf * row_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_cols = nf * col_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_total: f64 = rows.iter().flatten().map(|x| (x - grand).powi(2)).sum();
    let ss_error = ss_total - ss_rows - ss_cols;
    let msr = ss_rows / (nf - 1.0);
    let msc = ss_cols / (kf - 1.0);
    let mse = ss_error / ((nf - 1.0) * (kf - 1.0));
    let d2 = msr + (kf - 1.0) * mse + kf * (msc - mse) / nf;
    let d3 = msr + (kf - 1.0) * mse;
    if d2.abs() < 1e-300 || d3.abs() < 1e-300 {
        return None;
    }
    Some(Icc {
        icc2_1: (msr - mse) / d2,
        icc3_1: (msr - mse) / d3,
    })
}

/// Fleiss' κ of many raters: `counts[i][j]` raters put subject `i` in category `j`, the same
/// number of raters per subject (Fleiss 1971). None with no subjects, fewer than two raters,
/// unequal rater counts, or certain chance agreement.
pub fn fleiss_kappa(counts: &[Vec<usize>]) -> Option<f64> {
    let m = counts.first()?.iter().sum::<usize>();
    if m < 2 || counts.iter().any(|r| r.iter().sum::<usize>() != m) {
        return None;
    }
    let (n, mf) = (counts.len() as f64, m as f64);
    let k = counts.iter().map(|r| r.len()).max()?;
    let p_bar = counts
        .iter()
        .map(|r| (r.iter().map(|c| (c * c) as f64).sum::<f64>() - mf) / (mf * (mf - 1.0)))
        .sum::<f64>()
        / n;
    let p_e: f64 = (0..k)
        .map(|j| {
            let pj = counts
                .iter()
                .map(|r| *r.get(j).unwrap_or(&0) as f64)
                .sum::<f64>()
                / (n * mf);
            pj * pj
        })
        .sum();
    if (1.0 - p_e).abs() < 1e-12 {
        return None;
    }
    Some((p_bar - p_e) / (1.0 - p_e))
}

/// Bland–Altman agreement of paired measurements (Bland & Altman, Lancet 1986).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct BlandAltman {
    /// Pairs.
    pub n: usize,
    /// Mean of (measured − reference).
    pub bias: f64,
    /// Sample SD of the differences.
    pub sd: f64,
    /// bias − 1.96 SD.
    pub lower: f64,
    /// bias + 1.96 SD.
    pub upper: f64,
}

/// Bland–Altman of `measured` against `reference` (pairs by position); None with fewer than 2.
pub fn bland_altman(reference: &[f64], measured: &[f64]) -> Option<BlandAltman> {
    let d: Vec<f64> = reference.iter().zip(measured).map(|(r, m)| m - r).collect();
    let (bias, sd) = mean_sd(&d)?;
    Some(BlandAltman {
        n: d.len(),
        bias,
        sd,
        lower: bias - 1.96 * sd,
        upper: bias + 1.96 * sd,
    })
}

/// Mean and sample SD (n − 1); None with fewer than 2 values.
pub fn mean_sd(v: &[f64]) -> Option<(f64, f64)> {
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    Some((
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
    ))
}

/// Repeatability of replicate measurements per subject (QIBA: Raunig et al. 2015).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Repeatability {
    /// Subjects with at least two replicates.
    pub subjects: usize,
    /// Within-subject SD: the root of the mean within-subject variance.
    pub wsd: f64,
    /// Within-subject coefficient of variation: the root mean square of each subject's SD over
    /// its mean.
    pub wcv: f64,
    /// Repeatability coefficient 2.77 × wSD: 95 % of differences between two replicates lie
    /// within it.
    pub rc: f64,
}

/// The repeatability of `replicates` (one list per subject); subjects with fewer than two
/// replicates are left out; None when none has two.
pub fn repeatability(replicates: &[Vec<f64>]) -> Option<Repeatability> {
    let per: Vec<(f64, f64)> = replicates.iter().filter_map(|r| mean_sd(r)).collect();
    if per.is_empty() {
        return None;
    }
    let n = per.len() as f64;
    let wsd = (per.iter().map(|(_, s)| s * s).sum::<f64>() / n).sqrt();
    let wcv = (per
        .iter()
        .map(|(m, s)| if *m != 0.0 { (s / m).powi(2) } else { 0.0 })
        .sum::<f64>()
        / n)
        .sqrt();
    Some(Repeatability {
        subjects: per.len(),
        wsd,
        wcv,
        rc: 1.96 * 2f64.sqrt() * wsd,
    })
}

/// Pearson's correlation; None with fewer than 2 pairs or no variance.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let (ma, mb) = (
        a[..n].iter().sum::<f64>() / n as f64,
        b[..n].iter().sum::<f64>() / n as f64,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma).powi(2);
        sbb += (b[i] - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// A distribution's summary (Dice, Hausdorff distances over cases): percentiles linear between
/// order statistics.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample SD (0 for one value).
    pub sd: f64,
    /// Minimum.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Maximum.
    pub max: f64,
}

/// The `p` quantile (0–1) of sorted, non-empty values, linear between order statistics (R's
/// type 7, numpy's default).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The summary of `v`; None when empty.
pub fn summary(v: &[f64]) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |p: f64| percentile(&s, p);
    let (mean, sd) = mean_sd(&s).unwrap_or((s[0], 0.0));
    Some(Summary {
        n: s.len(),
        mean,
        sd,
        min: s[0],
        q1: q(0.25),
        median: q(0.5),
        q3: q(0.75),
        max: s[s.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pattern: &[(&str, &str, usize)]) -> (Vec<String>, Vec<String>) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (x, y, n) in pattern {
            for _ in 0..*n {
                a.push((*x).to_owned());
                b.push((*y).to_owned());
            }
        }
        (a, b)
    }

    #[test]
    fn weighted_kappa_is_scikit_learns() {
        // scikit-learn 1.7.2: cohen_kappa_score(a, b, weights="linear" / "quadratic") gives
        // 0.6291390728476821 and 0.8041958041958042 here; unweighted, 0.4136125654450262.
        let a = [
            0., 1., 2., 3., 2., 1., 0., 3., 3., 2., 1., 1., 0., 2., 3., 1.,
        ];
        let b = [
            0., 2., 2., 3., 1., 1., 0., 2., 3., 3., 1., 0., 1., 2., 3., 2.,
        ];
        assert!((weighted_kappa(&a, &b, false).unwrap() - 0.6291390728476821).abs() < 1e-12);
        assert!((weighted_kappa(&a, &b, true).unwrap() - 0.8041958041958042).abs() < 1e-12);
        let text = |v: &[f64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!((cohen_kappa(&text(&a), &text(&b)).unwrap() - 0.4136125654450262).abs() < 1e-12);
        // Levels by rank among those used (1, 3, 5), as scikit-learn: 0.6667 and 0.8.
        let (a, b) = ([1., 3., 5.], [1., 5., 5.]);
        assert!((weighted_kappa(&a, &b, false).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((weighted_kappa(&a, &b, true).unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(weighted_kappa(&[2., 2.], &[2., 2.], true), None);
    }

    #[test]
    fn kappa_matches_the_textbook_example() {
        // Cohen's κ's standard worked example: 50 grant proposals, both say yes 20, A yes B no 5,
        // A no B yes 10, both no 15: p_o = 0.7, p_e = 0.5, κ = 0.4.
        let (a, b) = words(&[
            ("yes", "yes", 20),
            ("yes", "no", 5),
            ("no", "yes", 10),
            ("no", "no", 15),
        ]);
        assert!((cohen_kappa(&a, &b).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(cohen_kappa(&a, &a), Some(1.0));
        let one = vec!["PD".to_owned(); 3];
        assert_eq!(cohen_kappa(&one, &one), None);
        assert_eq!(cohen_kappa(&[], &[]), None);
    }

    #[test]
    fn icc_matches_shrout_and_fleiss() {
        // Shrout & Fleiss (1979), Table 2: six targets, four judges. Published ICC(2,1) = 0.29,
        // ICC(3,1) = 0.71 (pingouin: 0.290, 0.715).
        let rows = vec![
            vec![9.0, 2.0, 5.0, 8.0],
            vec![6.0, 1.0, 3.0, 2.0],
            vec![8.0, 4.0, 6.0, 8.0],
            vec![7.0, 1.0, 2.0, 6.0],
            vec![10.0, 5.0, 6.0, 9.0],
            vec![6.0, 2.0, 4.0, 7.0],
        ];
        let r = icc(&rows).unwrap();
        assert!((r.icc2_1 - 0.2898).abs() < 5e-4, "{r:?}");
        assert!((r.icc3_1 - 0.7148).abs() < 5e-4, "{r:?}");
        assert!(icc(&rows[..1]).is_none());
        assert!(icc(&[vec![1.0, 1.0], vec![1.0, 1.0]]).is_none());
    }

    #[test]
    fn fleiss_kappa_matches_fleiss_1971s_worked_example() {
        // Ten subjects, fourteen raters, five categories (the example on Fleiss' κ in the
        // literature): P̄ = 0.378, P̄e = 0.213, κ = 0.210.
        let counts = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        assert!((fleiss_kappa(&counts).unwrap() - 0.210).abs() < 5e-4);
        assert_eq!(fleiss_kappa(&[vec![1, 1], vec![3]]), None);
    }

    #[test]
    fn bland_altman_matches_the_1986_peak_flow_example() {
        // Bland & Altman, Lancet 1986: Wright vs mini Wright peak flow meters, 17 subjects;
        // mean difference −2.1 l/min, SD 38.8, limits −78 to 74.
        let wright = [
            494.0, 395.0, 516.0, 434.0, 476.0, 557.0, 413.0, 442.0, 650.0, 433.0, 417.0, 656.0,
            267.0, 478.0, 178.0, 423.0, 427.0,
        ];
        let mini = [
            512.0, 430.0, 520.0, 428.0, 500.0, 600.0, 364.0, 380.0, 658.0, 445.0, 432.0, 626.0,
            260.0, 477.0, 259.0, 350.0, 451.0,
        ];
        let ba = bland_altman(&mini, &wright).unwrap();
        assert!((ba.bias - -2.1).abs() < 0.05, "{ba:?}");
        assert!((ba.sd - 38.8).abs() < 0.05, "{ba:?}");
        assert!(
            (ba.lower - -78.0).abs() < 0.5 && (ba.upper - 74.0).abs() < 0.5,
            "{ba:?}"
        );
    }

    #[test]
    fn repeatability_follows_qiba() {
        // Two replicates per subject: wSD² is the mean of d²/2, RC = 2.77 wSD.
        let reps = vec![
            vec![10.0, 12.0],
            vec![20.0, 19.0],
            vec![30.0, 33.0],
            vec![5.0],
        ];
        let r = repeatability(&reps).unwrap();
        let wsd = ((4.0 / 2.0 + 1.0 / 2.0 + 9.0 / 2.0) / 3.0f64).sqrt();
        assert_eq!(r.subjects, 3);
        assert!((r.wsd - wsd).abs() < 1e-12);
        assert!((r.rc - 2.7718585822512662 * wsd).abs() < 1e-9);
        let wcv = (((2f64.sqrt() / 11.0).powi(2)
            + (0.5f64.sqrt() / 19.5).powi(2)
            + (4.5f64.sqrt() / 31.5).powi(2))
            / 3.0)
            .sqrt();
        assert!((r.wcv - wcv).abs() < 1e-12);
        let s = summary(&[0.9, 0.7, 0.8, 0.95]).unwrap();
        assert!((s.median - 0.85).abs() < 1e-12 && (s.q1 - 0.775).abs() < 1e-12);
        assert!(
            (pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap() - 0.9979487157886733).abs()
                < 1e-12
        );
    }
}
