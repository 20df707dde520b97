//! Input monitoring: each run's input statistics set beside the model's training distribution,
//! with a warning for every way the input falls outside it. Distribution shift (another
//! scanner, another protocol, another contrast) is how imaging networks fail across sites,
//! and it fails silently: the network still answers.
//!
//! Three checks, each against what the training set covered:
//! - **spacing**: each axis' voxel size within the training range, with 25 % either side;
//! - **scanner**: `Manufacturer ManufacturerModelName` among those trained on (when the input
//!   says; a file without a DICOM header has none and is not flagged for it);
//! - **intensities**: the histogram of the normalised intensities on the network's grid, as
//!   the network sees them, against the training volumes' mean histogram, by Jensen–Shannon
//!   distance (base 2, from 0 for the same to 1 for disjoint). The threshold is the largest
//!   distance of a training volume from that mean, times [`MARGIN`].

use crate::dl::preprocess::{Prepared, percentile};
use corelab_image::Volume;
use serde::{Deserialize, Serialize};

/// Histogram range of normalised intensities (values beyond go to the end bins).
pub const HIST_RANGE: (f64, f64) = (-3.0, 7.0);
/// Histogram bins (0.2 wide over the range).
pub const HIST_BINS: usize = 50;
/// How far beyond the training volumes' own largest distance an input may lie.
pub const MARGIN: f64 = 1.5;
/// Relative slack on the training spacing range.
pub const SPACING_SLACK: f64 = 1.25;

/// What one input looked like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputStats {
    /// The input's voxel size (mm), in the model's axis order.
    pub spacing_mm: [f64; 3],
    /// The input's voxels along each axis, in the model's axis order.
    pub dims: [usize; 3],
    /// `Manufacturer ManufacturerModelName`, when the input carries a DICOM header.
    pub scanner: Option<String>,
    /// The input's intensities (before normalisation): 1st, 50th and 99th percentiles.
    pub raw_percentiles: [f64; 3],
    /// Fractions of the normalised voxels in each of [`HIST_BINS`] bins over [`HIST_RANGE`].
    pub histogram: Vec<f64>,
}

/// What the model was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingDistribution {
    /// Training volumes.
    pub volumes: usize,
    /// Smallest voxel size seen along each axis (mm).
    pub spacing_min_mm: [f64; 3],
    /// Largest.
    pub spacing_max_mm: [f64; 3],
    /// The scanners seen.
    pub scanners: Vec<String>,
    /// The training volumes' mean histogram.
    pub histogram: Vec<f64>,
    /// The largest Jensen–Shannon distance of a training volume from the mean histogram.
    pub largest_distance: f64,
    /// Above this distance an input is flagged (`largest_distance × MARGIN`).
    pub threshold: f64,
}

/// One run's monitoring verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Whether the input lies inside the training distribution on every check.
    pub in_distribution: bool,
    /// The intensity histogram's distance from the training mean.
    pub histogram_distance: f64,
    /// The threshold it is held to.
    pub threshold: f64,
    /// One sentence per check failed.
    pub warnings: Vec<String>,
    /// The input's statistics.
    pub input: InputStats,
}

/// The statistics of `volume` as prepared for the network.
pub fn stats(volume: &Volume<f32>, prepared: &Prepared) -> InputStats {
    let mut raw: Vec<f32> = volume.data.iter().copied().collect();
    let raw_percentiles = [1.0, 50.0, 99.0].map(|p| f64::from(percentile(&mut raw, p)));
    let mut histogram = vec![0.0; HIST_BINS];
    let (lo, hi) = HIST_RANGE;
    let width = (hi - lo) / HIST_BINS as f64;
    for v in prepared.data.iter() {
        let bin = ((f64::from(*v) - lo) / width).floor();
        histogram[bin.clamp(0.0, (HIST_BINS - 1) as f64) as usize] += 1.0;
    }
    let n = prepared.data.len().max(1) as f64;
    histogram.iter_mut().for_each(|h| *h /= n);
    InputStats {
        spacing_mm: prepared.oriented_spacing_mm,
        dims: prepared.oriented_shape,
        scanner: volume.source.scanner.clone(),
        raw_percentiles,
        histogram,
    }
}

/// Jensen–Shannon distance (base 2) between two histograms of fractions.
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).log2())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a + b) / 2.0).collect();
    (0.5 * kl(p, &m) + 0.5 * kl(q, &m)).max(0.0).sqrt()
}

/// The training distribution of a training set's statistics.
pub fn fit(training: &[InputStats]) -> TrainingDistribution {
    let n = training.len().max(1) as f64;
    let mut histogram = vec![0.0; HIST_BINS];
    for s in training {
        for (h, v) in histogram.iter_mut().zip(&s.histogram) {
            *h += v / n;
        }
    }
    let largest_distance = training
        .iter()
        .map(|s| js_distance(&s.histogram, &histogram))
        .fold(0.0, f64::max);
    let mut scanners: Vec<String> = training.iter().filter_map(|s| s.scanner.clone()).collect();
    scanners.sort();
    scanners.dedup();
    let range = |f: fn(f64, f64) -> f64, start: f64| {
        [0, 1, 2].map(|a| training.iter().map(|s| s.spacing_mm[a]).fold(start, f))
    };
    TrainingDistribution {
        volumes: training.len(),
        spacing_min_mm: range(f64::min, f64::INFINITY),
        spacing_max_mm: range(f64::max, 0.0),
        scanners,
        histogram,
        largest_distance,
        threshold: largest_distance * MARGIN,
    }
}

/// How `input` stands against `training`.
pub fn check(input: InputStats, training: &TrainingDistribution) -> DriftReport {
    let mut warnings = Vec::new();
    for a in 0..3 {
        let (s, lo, hi) = (
            input.spacing_mm[a],
            training.spacing_min_mm[a] / SPACING_SLACK,
            training.spacing_max_mm[a] * SPACING_SLACK,
        );
        if !(lo..=hi).contains(&s) {
            warnings.push(format!(
                "voxel size {s:.2} mm along axis {a} is outside the training range {:.2}–{:.2} mm",
                training.spacing_min_mm[a], training.spacing_max_mm[a]
            ));
        }
    }
    if let Some(scanner) = &input.scanner
        && !training.scanners.is_empty()
        && !training.scanners.contains(scanner)
    {
        warnings.push(format!(
            "scanner {scanner:?} was not in the training set ({})",
            training.scanners.join(", ")
        ));
    }
    let histogram_distance = js_distance(&input.histogram, &training.histogram);
    if histogram_distance > training.threshold {
        warnings.push(format!(
            "intensity distribution is {histogram_distance:.3} from the training mean (Jensen–Shannon), beyond the threshold {:.3}",
            training.threshold
        ));
    }
    DriftReport {
        in_distribution: warnings.is_empty(),
        histogram_distance,
        threshold: training.threshold,
        warnings,
        input,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(spacing: f64, scanner: &str, histogram: Vec<f64>) -> InputStats {
        InputStats {
            spacing_mm: [spacing, spacing, 2.0 * spacing],
            dims: [10, 10, 10],
            scanner: Some(scanner.into()),
            raw_percentiles: [0.0, 1.0, 2.0],
            histogram,
        }
    }

    fn peak(at: usize, spread: usize) -> Vec<f64> {
        let mut h = vec![0.0; HIST_BINS];
        h.iter_mut()
            .skip(at)
            .take(spread)
            .for_each(|v| *v = 1.0 / spread as f64);
        h
    }

    #[test]
    fn distances_are_zero_for_the_same_and_one_for_disjoint() {
        assert_eq!(js_distance(&peak(3, 4), &peak(3, 4)), 0.0);
        assert!((js_distance(&peak(0, 4), &peak(10, 4)) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn inputs_outside_the_training_set_are_flagged_each_way() {
        let training = fit(&[
            stats(1.8, "Siemens Prisma", peak(10, 6)),
            stats(2.2, "GE Signa", peak(11, 6)),
        ]);
        assert_eq!(training.scanners, ["GE Signa", "Siemens Prisma"]);
        assert!(training.threshold > 0.0);
        let fine = check(stats(2.0, "GE Signa", peak(10, 7)), &training);
        assert!(fine.in_distribution, "{:?}", fine.warnings);
        let far = check(stats(5.0, "Philips Ingenia", peak(30, 6)), &training);
        assert!(!far.in_distribution);
        // Three axes' voxel sizes, the scanner, the intensities.
        assert_eq!(far.warnings.len(), 5, "{:?}", far.warnings);
        assert!(far.warnings[0].contains("axis 0") && far.warnings[2].contains("axis 2"));
        assert!(far.warnings[3].contains("Philips Ingenia"));
        assert!(far.warnings[4].contains("Jensen"));
        assert!((far.histogram_distance - 1.0).abs() < 1e-9);
    }
}
