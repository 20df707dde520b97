//! First-order features (IBSI 1 ch. 3.2–3.5): local intensity, intensity statistics, the
//! intensity histogram and the intensity-volume histogram.

use super::Feature;
use super::roi::{Levels, Roi};
use crate::stats::agreement::percentile;
use std::f64::consts::PI;

/// Local intensity peaks (IBSI 3.2): the mean intensity in a 1 cm³ sphere around a voxel,
/// taken over the image (not only the ROI).
pub fn local(roi: &Roi, out: &mut Vec<Feature>) {
    let r = 10.0 * (3.0 / (4.0 * PI)).cbrt(); // mm: a sphere of 1 cm³
    let reach: [isize; 3] = std::array::from_fn(|a| (r / roi.spacing[a]).floor() as isize);
    let mut offsets = Vec::new();
    for dk in -reach[2]..=reach[2] {
        for dj in -reach[1]..=reach[1] {
            for di in -reach[0]..=reach[0] {
                let d2 = (di as f64 * roi.spacing[0]).powi(2)
                    + (dj as f64 * roi.spacing[1]).powi(2)
                    + (dk as f64 * roi.spacing[2]).powi(2);
                if d2 <= r * r {
                    offsets.push([di, dj, dk]);
                }
            }
        }
    }
    let peak_at = |i: usize, j: usize, k: usize| -> f64 {
        let (mut s, mut n) = (0.0, 0.0);
        for o in &offsets {
            let (a, b, c) = (i as isize + o[0], j as isize + o[1], k as isize + o[2]);
            if a >= 0
                && b >= 0
                && c >= 0
                && (a as usize) < roi.dims[0]
                && (b as usize) < roi.dims[1]
                && (c as usize) < roi.dims[2]
            {
                s += roi.image[roi.at(a as usize, b as usize, c as usize)];
                n += 1.0;
            }
        }
        s / n
    };
    let max = roi.values().into_iter().fold(f64::NEG_INFINITY, f64::max);
    use rayon::prelude::*;
    let (local, global) = (0..roi.dims[2])
        .into_par_iter()
        .map(|k| {
            let (mut local, mut global) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            for j in 0..roi.dims[1] {
                for i in 0..roi.dims[0] {
                    let n = roi.at(i, j, k);
                    if !roi.inten[n] {
                        continue;
                    }
                    let p = peak_at(i, j, k);
                    global = global.max(p);
                    if roi.image[n] == max {
                        local = local.max(p);
                    }
                }
            }
            (local, global)
        })
        .reduce(
            || (f64::NEG_INFINITY, f64::NEG_INFINITY),
            |a, b| (a.0.max(b.0), a.1.max(b.1)),
        );
    out.push(Feature::new(
        "local intensity",
        "loc_peak_loc",
        "Local intensity peak",
        "VJGA",
        local,
    ));
    out.push(Feature::new(
        "local intensity",
        "loc_peak_glob",
        "Global intensity peak",
        "0F91",
        global,
    ));
}

/// The statistics shared by the intensity and histogram families.
struct Moments {
    mean: f64,
    var: f64,
    skew: f64,
    kurt: f64,
    median: f64,
    min: f64,
    p10: f64,
    p25: f64,
    p75: f64,
    p90: f64,
    max: f64,
    mad: f64,
    rmad: f64,
    medad: f64,
}

fn moments(values: &[f64]) -> Moments {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let mean = s.iter().sum::<f64>() / n;
    let m2 = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let m3 = s.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n;
    let m4 = s.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
    let (p10, p90) = (percentile(&s, 0.10), percentile(&s, 0.90));
    let median = percentile(&s, 0.5);
    let robust: Vec<f64> = s
        .iter()
        .copied()
        .filter(|x| *x >= p10 && *x <= p90)
        .collect();
    let rmean = robust.iter().sum::<f64>() / robust.len() as f64;
    Moments {
        mean,
        var: m2,
        skew: if m2 > 0.0 { m3 / m2.powf(1.5) } else { 0.0 },
        kurt: if m2 > 0.0 { m4 / (m2 * m2) - 3.0 } else { 0.0 },
        median,
        min: s[0],
        p10,
        p25: percentile(&s, 0.25),
        p75: percentile(&s, 0.75),
        p90,
        max: s[s.len() - 1],
        mad: s.iter().map(|x| (x - mean).abs()).sum::<f64>() / n,
        rmad: robust.iter().map(|x| (x - rmean).abs()).sum::<f64>() / robust.len() as f64,
        medad: s.iter().map(|x| (x - median).abs()).sum::<f64>() / n,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b != 0.0 { a / b } else { 0.0 }
}

/// Intensity-based statistics (IBSI 3.3) of the intensity mask.
pub fn statistics(roi: &Roi, out: &mut Vec<Feature>) {
    let v = roi.values();
    let m = moments(&v);
    let energy: f64 = v.iter().map(|x| x * x).sum();
    let f = "intensity statistics";
    let rows: [(&'static str, &'static str, &'static str, f64); 18] = [
        ("stat_mean", "Mean intensity", "Q4LE", m.mean),
        ("stat_var", "Intensity variance", "ECT3", m.var),
        ("stat_skew", "Intensity skewness", "KE2A", m.skew),
        ("stat_kurt", "(Excess) intensity kurtosis", "IPH6", m.kurt),
        ("stat_median", "Median intensity", "Y12H", m.median),
        ("stat_min", "Minimum intensity", "1GSF", m.min),
        ("stat_p10", "10th intensity percentile", "QG58", m.p10),
        ("stat_p90", "90th intensity percentile", "8DWT", m.p90),
        ("stat_max", "Maximum intensity", "84IY", m.max),
        (
            "stat_iqr",
            "Intensity interquartile range",
            "SALO",
            m.p75 - m.p25,
        ),
        ("stat_range", "Intensity range", "2OJQ", m.max - m.min),
        (
            "stat_mad",
            "Intensity-based mean absolute deviation",
            "4FUA",
            m.mad,
        ),
        (
            "stat_rmad",
            "Intensity-based robust mean absolute deviation",
            "1128",
            m.rmad,
        ),
        (
            "stat_medad",
            "Intensity-based median absolute deviation",
            "N72L",
            m.medad,
        ),
        (
            "stat_cov",
            "Intensity-based coefficient of variation",
            "7TET",
            ratio(m.var.sqrt(), m.mean),
        ),
        (
            "stat_qcod",
            "Intensity-based quartile coefficient of dispersion",
            "9S40",
            ratio(m.p75 - m.p25, m.p75 + m.p25),
        ),
        ("stat_energy", "Intensity-based energy", "N8CA", energy),
        (
            "stat_rms",
            "Root mean square intensity",
            "5ZWQ",
            (energy / v.len() as f64).sqrt(),
        ),
    ];
    for (tag, name, id, value) in rows {
        out.push(Feature::new(f, tag, name, id, value));
    }
}

/// Intensity histogram features (IBSI 3.4) of the discretised grey levels.
pub fn histogram(levels: &Levels, out: &mut Vec<Feature>) {
    let v: Vec<f64> = levels
        .data
        .iter()
        .filter(|l| **l > 0)
        .map(|l| f64::from(*l))
        .collect();
    let m = moments(&v);
    let n = v.len() as f64;
    let ng = levels.ng;
    let mut h = vec![0.0; ng + 1];
    for l in levels.data.iter().filter(|l| **l > 0) {
        h[*l as usize] += 1.0;
    }
    let mode = (1..=ng).fold(1, |best, i| if h[i] > h[best] { i } else { best });
    let entropy = -(1..=ng)
        .filter(|i| h[*i] > 0.0)
        .map(|i| h[i] / n * (h[i] / n).log2())
        .sum::<f64>();
    let uniformity = (1..=ng).map(|i| (h[i] / n).powi(2)).sum::<f64>();
    // Gradient of the histogram over the levels 1..=ng (one-sided at the ends).
    let grad = |i: usize| -> f64 {
        if ng == 1 {
            0.0
        } else if i == 1 {
            h[2] - h[1]
        } else if i == ng {
            h[ng] - h[ng - 1]
        } else {
            (h[i + 1] - h[i - 1]) / 2.0
        }
    };
    let (mut gmax, mut gmin) = (1, 1);
    for i in 1..=ng {
        if grad(i) > grad(gmax) {
            gmax = i;
        }
        if grad(i) < grad(gmin) {
            gmin = i;
        }
    }
    let f = "intensity histogram";
    let rows: [(&'static str, &'static str, &'static str, f64); 23] = [
        ("ih_mean", "Mean discretised intensity", "X6K6", m.mean),
        ("ih_var", "Discretised intensity variance", "CH89", m.var),
        ("ih_skew", "Discretised intensity skewness", "88K1", m.skew),
        (
            "ih_kurt",
            "(Excess) discretised intensity kurtosis",
            "C3I7",
            m.kurt,
        ),
        (
            "ih_median",
            "Median discretised intensity",
            "WIFQ",
            m.median,
        ),
        ("ih_min", "Minimum discretised intensity", "1PR8", m.min),
        (
            "ih_p10",
            "10th discretised intensity percentile",
            "GPMT",
            m.p10,
        ),
        (
            "ih_p90",
            "90th discretised intensity percentile",
            "OZ0C",
            m.p90,
        ),
        ("ih_max", "Maximum discretised intensity", "3NCY", m.max),
        ("ih_mode", "Intensity histogram mode", "AMMC", mode as f64),
        (
            "ih_iqr",
            "Discretised intensity interquartile range",
            "WR0O",
            m.p75 - m.p25,
        ),
        (
            "ih_range",
            "Discretised intensity range",
            "5Z3W",
            m.max - m.min,
        ),
        (
            "ih_mad",
            "Intensity histogram mean absolute deviation",
            "D2ZX",
            m.mad,
        ),
        (
            "ih_rmad",
            "Intensity histogram robust mean absolute deviation",
            "WRZB",
            m.rmad,
        ),
        (
            "ih_medad",
            "Intensity histogram median absolute deviation",
            "4RNL",
            m.medad,
        ),
        (
            "ih_cov",
            "Intensity histogram coefficient of variation",
            "CWYJ",
            ratio(m.var.sqrt(), m.mean),
        ),
        (
            "ih_qcod",
            "Intensity histogram quartile coefficient of dispersion",
            "SLWD",
            ratio(m.p75 - m.p25, m.p75 + m.p25),
        ),
        (
            "ih_entropy",
            "Discretised intensity entropy",
            "TLU2",
            entropy,
        ),
        (
            "ih_uniformity",
            "Discretised intensity uniformity",
            "BJ5W",
            uniformity,
        ),
        (
            "ih_max_grad",
            "Maximum histogram gradient",
            "12CE",
            grad(gmax),
        ),
        (
            "ih_max_grad_g",
            "Maximum histogram gradient intensity",
            "8E6O",
            gmax as f64,
        ),
        (
            "ih_min_grad",
            "Minimum histogram gradient",
            "VQB3",
            grad(gmin),
        ),
        (
            "ih_min_grad_g",
            "Minimum histogram gradient intensity",
            "RHQZ",
            gmin as f64,
        ),
    ];
    for (tag, name, id, value) in rows {
        out.push(Feature::new(f, tag, name, id, value));
    }
}

/// Intensity-volume histogram features (IBSI 3.5) of the intensity mask's intensities taken as
/// calibrated and discrete in steps of `step` (rounded to it), with the intensity fraction
/// measured over `range` (the re-segmentation range) or the ROI's own range.
pub fn volume_histogram(roi: &Roi, step: f64, range: Option<(f64, f64)>, out: &mut Vec<Feature>) {
    let mut v: Vec<f64> = roi
        .values()
        .iter()
        .map(|x| (x / step).round() * step)
        .collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let (lo, hi) = range.unwrap_or((v[0], v[v.len() - 1]));
    // Fraction of the volume at or above intensity x.
    let above = |x: f64| -> f64 { (v.len() - v.partition_point(|y| *y < x)) as f64 / n };
    let span = hi - lo;
    let volume_at = |fraction: f64| -> f64 { above(lo + fraction * span) };
    // The lowest intensity step whose volume fraction is at most `fraction`.
    let intensity_at = |fraction: f64| -> f64 {
        let steps = (span / step).round() as i64;
        if above(lo) <= fraction {
            return lo;
        }
        if above(lo + steps as f64 * step) > fraction {
            return lo + (steps + 1) as f64 * step;
        }
        // above() only falls as the intensity grows: above(a) > fraction >= above(b).
        let (mut a, mut b) = (0i64, steps);
        while a + 1 < b {
            let mid = (a + b) / 2;
            if above(lo + mid as f64 * step) <= fraction {
                b = mid;
            } else {
                a = mid;
            }
        }
        lo + b as f64 * step
    };
    let f = "intensity-volume histogram";
    let (v10, v90) = (volume_at(0.10), volume_at(0.90));
    let (i10, i90) = (intensity_at(0.10), intensity_at(0.90));
    out.push(Feature::new(
        f,
        "ivh_v10",
        "Volume at intensity fraction 10%",
        "BC2M",
        v10,
    ));
    out.push(Feature::new(
        f,
        "ivh_v90",
        "Volume at intensity fraction 90%",
        "BC2M",
        v90,
    ));
    out.push(Feature::new(
        f,
        "ivh_i10",
        "Intensity at volume fraction 10%",
        "GBPN",
        i10,
    ));
    out.push(Feature::new(
        f,
        "ivh_i90",
        "Intensity at volume fraction 90%",
        "GBPN",
        i90,
    ));
    out.push(Feature::new(
        f,
        "ivh_diff_v10_v90",
        "Volume fraction difference between intensity fractions 10% and 90%",
        "DDTU",
        v10 - v90,
    ));
    out.push(Feature::new(
        f,
        "ivh_diff_i10_i90",
        "Intensity fraction difference between volume fractions 10% and 90%",
        "CNV2",
        i10 - i90,
    ));
}
