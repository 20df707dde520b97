//! Agreement between raters: Cohen's κ for categories (readers' responses) and the intraclass
//! correlation for numbers (readers' sums of diameters, lesion counts). Written here because they
//! are a few lines each over plain slices and no maintained crate offers both (linfa and smartcore
//! have neither); checked against the published worked examples in the tests.

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
}
