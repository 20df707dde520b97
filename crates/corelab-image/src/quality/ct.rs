//! CT image-quality metrics: the global noise level (Christianson et al., Med Phys 42:1956,
//! 2015), the CT number of the air outside the body and, where one is imaged, of water.
//! Formulas in `docs/algorithms/qc-metrics.md`. Images are in HU.

use super::{Mask, QualityError, check_finite, check_range, stats};
use crate::components::{Connectivity, label};
use crate::morphology::erode;
use crate::volume::Volume;
use ndarray::Array3;

/// How the global noise level is measured.
#[derive(Clone, Debug, PartialEq)]
pub struct CtNoiseOptions {
    /// The in-plane window is `(2h + 1) × (2h + 1)` voxels (2: 5 × 5).
    pub half_width: usize,
    /// A window counts only if every voxel in it lies in this range (HU): soft tissue, so that
    /// air, lung and bone, and the edges between them and soft tissue, are left out.
    pub range_hu: (f64, f64),
    /// Width of the histogram bins of the local standard deviations (HU).
    pub bin_hu: f64,
}

impl Default for CtNoiseOptions {
    fn default() -> Self {
        Self {
            half_width: 2,
            range_hu: (-300.0, 300.0),
            bin_hu: 0.25,
        }
    }
}

/// The global noise level.
#[derive(Clone, Debug, PartialEq)]
pub struct CtNoise {
    /// The mode of the local standard deviations (HU): the global noise level.
    pub mode_hu: f64,
    /// Their median (HU).
    pub median_hu: f64,
    /// Windows measured.
    pub windows: usize,
}

/// The global noise level: the standard deviation (`n − 1`) in every in-plane window whose
/// voxels all lie in the soft-tissue range, and the mode of their distribution (the peak of a
/// histogram of `bin_hu` bins smoothed by a five-bin triangle). Windows that straddle an edge
/// between tissues of the range have a larger SD and fall in the histogram's tail, away from
/// the mode.
pub fn ct_noise_hu(image: &Volume<f32>, options: &CtNoiseOptions) -> Result<CtNoise, QualityError> {
    check_finite(image)?;
    check_range(
        "half_width",
        options.half_width as f64,
        1.0,
        10.0,
        "a half-width from 1 to 10 voxels",
    )?;
    let (lo, hi) = options.range_hu;
    check_range("range_hu.0", lo, -2000.0, 4000.0, "a CT number (HU)")?;
    check_range(
        "range_hu.1",
        hi,
        lo + 1.0,
        4000.0,
        "above the range's lower end",
    )?;
    check_range(
        "bin_hu",
        options.bin_hu,
        1e-3,
        100.0,
        "a bin width from 0.001 to 100 HU",
    )?;
    let h = options.half_width;
    let (ni, nj, nk) = image.data.dim();
    let inside = image
        .data
        .mapv(|v| f64::from(v) >= lo && f64::from(v) <= hi);
    let count = ((2 * h + 1) * (2 * h + 1)) as f64;
    let mut sds = Vec::new();
    for k in 0..nk {
        for j in h..nj.saturating_sub(h) {
            for i in h..ni.saturating_sub(h) {
                if !inside[[i, j, k]] {
                    continue;
                }
                let (mut sum, mut sum_sq, mut all) = (0.0f64, 0.0f64, true);
                'window: for b in j - h..=j + h {
                    for a in i - h..=i + h {
                        if !inside[[a, b, k]] {
                            all = false;
                            break 'window;
                        }
                        let v = f64::from(image.data[[a, b, k]]);
                        sum += v;
                        sum_sq += v * v;
                    }
                }
                if all {
                    let var = (sum_sq - sum * sum / count) / (count - 1.0);
                    sds.push(var.max(0.0).sqrt());
                }
            }
        }
    }
    const NEEDED: usize = 100;
    if sds.len() < NEEDED {
        return Err(QualityError::TooFewVoxels {
            what: "soft-tissue windows",
            found: sds.len(),
            needed: NEEDED,
        });
    }
    let windows = sds.len();
    let bins = (((hi - lo) / options.bin_hu).ceil() as usize).clamp(8, 1_000_000);
    let mut hist = vec![0f64; bins];
    for s in &sds {
        let b = ((s / options.bin_hu) as usize).min(bins - 1);
        hist[b] += 1.0;
    }
    let weights = [1.0, 2.0, 3.0, 2.0, 1.0];
    let smoothed: Vec<f64> = (0..bins)
        .map(|b| {
            weights
                .iter()
                .enumerate()
                .filter_map(|(w, weight)| {
                    (b + w)
                        .checked_sub(2)
                        .and_then(|x| hist.get(x))
                        .map(|c| c * weight)
                })
                .sum()
        })
        .collect();
    let peak = smoothed
        .iter()
        .enumerate()
        .fold(
            (0, f64::MIN),
            |best, (b, &c)| if c > best.1 { (b, c) } else { best },
        )
        .0;
    let mid = windows / 2;
    let (_, median, _) = sds.select_nth_unstable_by(mid, f64::total_cmp);
    Ok(CtNoise {
        mode_hu: (peak as f64 + 0.5) * options.bin_hu,
        median_hu: *median,
        windows,
    })
}

/// How the air outside the body is found.
#[derive(Clone, Debug, PartialEq)]
pub struct CtAirOptions {
    /// Air is below this (HU).
    pub threshold_hu: f64,
    /// The air region is eroded by this (mm) before it is measured.
    pub erode_mm: f64,
}

impl Default for CtAirOptions {
    fn default() -> Self {
        Self {
            threshold_hu: -900.0,
            erode_mm: 3.0,
        }
    }
}

/// The air outside the body, measured.
#[derive(Clone, Debug, PartialEq)]
pub struct AirHu {
    /// Mean CT number (HU); about −1000 on a calibrated scanner (a −1024 floor of the stored
    /// values raises it slightly when the noise reaches it).
    pub mean_hu: f64,
    /// Its standard deviation (HU).
    pub sd_hu: f64,
    /// Voxels measured.
    pub voxels: usize,
}

/// The air outside the body: the largest 26-connected component of voxels below
/// `threshold_hu` that touches the edge of the grid (so not the lungs or bowel gas), eroded by
/// `erode_mm`, and its mean.
pub fn air_hu(image: &Volume<f32>, options: &CtAirOptions) -> Result<AirHu, QualityError> {
    check_finite(image)?;
    check_range(
        "threshold_hu",
        options.threshold_hu,
        -1100.0,
        0.0,
        "from −1100 to 0 HU",
    )?;
    check_range("erode_mm", options.erode_mm, 0.0, 50.0, "from 0 to 50 mm")?;
    let below = image.data.mapv(|v| f64::from(v) < options.threshold_hu);
    let (labels, sizes) = label(&below, Connectivity::TwentySix);
    let (ni, nj, nk) = below.dim();
    let mut touches = vec![false; sizes.len()];
    for ((i, j, k), l) in labels.indexed_iter() {
        if *l != 0 && (i == 0 || j == 0 || k == 0 || i + 1 == ni || j + 1 == nj || k + 1 == nk) {
            touches[*l as usize] = true;
        }
    }
    let Some((outside, _)) = sizes
        .iter()
        .enumerate()
        .filter(|(l, _)| touches[*l])
        .max_by_key(|&(l, &s)| (s, std::cmp::Reverse(l)))
    else {
        return Err(QualityError::EmptyMask("air outside the body"));
    };
    let outside = outside as u32;
    let air: Mask = labels.mapv(|l| l == outside);
    let eroded = erode(&air, image.geometry.spacing(), options.erode_mm);
    let s = stats(image, &eroded, "air outside the body (eroded)", 10)?;
    Ok(AirHu {
        mean_hu: s.mean,
        sd_hu: s.sd,
        voxels: s.n,
    })
}

/// How a water region is looked for.
#[derive(Clone, Debug, PartialEq)]
pub struct WaterOptions {
    /// Candidate voxels have an in-plane local mean in this range (HU).
    pub range_hu: (f64, f64),
    /// The local mean's window is `(2h + 1) × (2h + 1)` voxels.
    pub half_width: usize,
    /// The largest candidate component is eroded by this (mm): edges between tissues whose
    /// local means pass through the range are thin and go.
    pub erode_mm: f64,
    /// What is left must be at least this large (mL), or there is no water region.
    pub min_volume_ml: f64,
}

impl Default for WaterOptions {
    fn default() -> Self {
        Self {
            range_hu: (-20.0, 20.0),
            half_width: 2,
            erode_mm: 5.0,
            min_volume_ml: 20.0,
        }
    }
}

/// A uniform water region, measured.
#[derive(Clone, Debug, PartialEq)]
pub struct WaterHu {
    /// Its mean CT number (HU): 0 on a calibrated scanner.
    pub mean_hu: f64,
    /// Its standard deviation (HU).
    pub sd_hu: f64,
    /// Its volume (mL).
    pub volume_ml: f64,
}

/// The CT number of water, if a uniform water region (a water phantom, a water bath) is imaged:
/// the largest 26-connected component of voxels whose in-plane local mean lies in `range_hu`,
/// eroded by `erode_mm`, if at least `min_volume_ml` remains; otherwise `None` (no water is
/// claimed where there is none; a scanner whose water reads outside the range also gives `None`).
pub fn water_hu(
    image: &Volume<f32>,
    options: &WaterOptions,
) -> Result<Option<WaterHu>, QualityError> {
    check_finite(image)?;
    let (lo, hi) = options.range_hu;
    check_range("range_hu.0", lo, -500.0, 500.0, "a CT number (HU)")?;
    check_range(
        "range_hu.1",
        hi,
        lo + 1.0,
        500.0,
        "above the range's lower end",
    )?;
    check_range(
        "half_width",
        options.half_width as f64,
        0.0,
        10.0,
        "a half-width from 0 to 10 voxels",
    )?;
    check_range("erode_mm", options.erode_mm, 0.0, 100.0, "from 0 to 100 mm")?;
    check_range(
        "min_volume_ml",
        options.min_volume_ml,
        0.0,
        1e6,
        "a volume (mL)",
    )?;
    let mean = local_mean(&image.data, options.half_width);
    let candidate = mean.mapv(|m| m >= lo && m <= hi);
    let (labels, sizes) = label(&candidate, Connectivity::TwentySix);
    let Some((largest, _)) = sizes
        .iter()
        .enumerate()
        .skip(1)
        .max_by_key(|&(l, &s)| (s, std::cmp::Reverse(l)))
    else {
        return Ok(None);
    };
    let largest = largest as u32;
    let region = erode(
        &labels.mapv(|l| l == largest),
        image.geometry.spacing(),
        options.erode_mm,
    );
    let voxels = region.iter().filter(|m| **m).count();
    let volume_ml = voxels as f64 * image.geometry.voxel_volume() / 1000.0;
    if voxels < 2 || volume_ml < options.min_volume_ml {
        return Ok(None);
    }
    let s = stats(image, &region, "water region", 2)?;
    Ok(Some(WaterHu {
        mean_hu: s.mean,
        sd_hu: s.sd,
        volume_ml,
    }))
}

/// The mean of each voxel's in-plane window (clipped at the slice's edges).
fn local_mean(data: &Array3<f32>, h: usize) -> Array3<f64> {
    let (ni, nj, _) = data.dim();
    Array3::from_shape_fn(data.dim(), |(i, j, k)| {
        let (mut sum, mut n) = (0.0, 0.0);
        for b in j.saturating_sub(h)..=(j + h).min(nj - 1) {
            for a in i.saturating_sub(h)..=(i + h).min(ni - 1) {
                sum += f64::from(data[[a, b, k]]);
                n += 1.0;
            }
        }
        sum / n
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{normals, render, volume};
    use super::*;
    use crate::phantom::Kind;

    /// A water cylinder (radius 80 mm, `water` HU) in air, Gaussian noise of σ 12 HU, the
    /// −1024 floor.
    fn water_phantom(water: f64) -> Volume<f32> {
        let (ni, nj, nk) = (100, 100, 8);
        let z = normals(5, ni * nj * nk);
        let mut n = 0;
        let data = Array3::from_shape_fn((ni, nj, nk), |(i, j, _)| {
            let (x, y) = (2.0 * (i as f64 - 49.5), 2.0 * (j as f64 - 49.5));
            let v = if x * x + y * y < 80.0 * 80.0 {
                water
            } else {
                -1000.0
            };
            n += 1;
            (v + 12.0 * z[n - 1]).max(-1024.0) as f32
        });
        volume(data, [2.0, 2.0, 5.0])
    }

    #[test]
    fn ct_noise_of_the_tumour_phantom_is_its_sigma() {
        for (seed, subject) in [(1, 0), (3, 1)] {
            let r = render(Kind::CtTumor, seed, 4.0, subject, "CT");
            let noise = ct_noise_hu(&r.images[0], &CtNoiseOptions::default()).unwrap();
            eprintln!(
                "ct-tumor seed {seed} subject {subject}: sigma 12, mode {:.2} ({:+.1} %), median {:.2}, {} windows",
                noise.mode_hu,
                100.0 * (noise.mode_hu / 12.0 - 1.0),
                noise.median_hu,
                noise.windows
            );
            assert!((noise.mode_hu / 12.0 - 1.0).abs() < 0.10, "{noise:?}");
        }
    }

    #[test]
    fn air_outside_the_body_reads_minus_1000() {
        let r = render(Kind::CtTumor, 1, 4.0, 0, "CT");
        let air = air_hu(&r.images[0], &CtAirOptions::default()).unwrap();
        eprintln!("ct-tumor air: {air:?}");
        assert!((air.mean_hu + 1000.0).abs() < 3.0, "{air:?}");
        assert!(air.voxels > 1000);
    }

    #[test]
    fn water_is_found_in_a_water_phantom_and_not_claimed_in_a_body() {
        let phantom = water_phantom(3.0);
        let w = water_hu(&phantom, &WaterOptions::default())
            .unwrap()
            .unwrap();
        eprintln!("water phantom (3 HU): {w:?}");
        assert!(
            (w.mean_hu - 3.0).abs() < 1.0 && (w.sd_hu - 12.0).abs() < 1.0,
            "{w:?}"
        );
        let noise = ct_noise_hu(&phantom, &CtNoiseOptions::default()).unwrap();
        assert!((noise.mode_hu / 12.0 - 1.0).abs() < 0.10, "{noise:?}");
        let air = air_hu(&phantom, &CtAirOptions::default()).unwrap();
        assert!((air.mean_hu + 1000.0).abs() < 3.0, "{air:?}");
        let r = render(Kind::CtTumor, 1, 4.0, 0, "CT");
        assert_eq!(
            water_hu(&r.images[0], &WaterOptions::default()).unwrap(),
            None
        );
    }

    #[test]
    fn images_without_soft_tissue_or_air_and_bad_options_are_refused() {
        let bone = volume(Array3::from_elem((20, 20, 4), 1000.0), [1.0; 3]);
        assert!(matches!(
            ct_noise_hu(&bone, &CtNoiseOptions::default()),
            Err(QualityError::TooFewVoxels {
                what: "soft-tissue windows",
                ..
            })
        ));
        assert_eq!(
            air_hu(&bone, &CtAirOptions::default()),
            Err(QualityError::EmptyMask("air outside the body"))
        );
        assert_eq!(water_hu(&bone, &WaterOptions::default()), Ok(None));
        let options = CtNoiseOptions {
            half_width: 0,
            ..CtNoiseOptions::default()
        };
        assert!(matches!(
            ct_noise_hu(&bone, &options),
            Err(QualityError::Parameter {
                name: "half_width",
                ..
            })
        ));
        let options = CtNoiseOptions {
            range_hu: (100.0, -100.0),
            ..CtNoiseOptions::default()
        };
        assert!(matches!(
            ct_noise_hu(&bone, &options),
            Err(QualityError::Parameter { .. })
        ));
        let mut nan = Array3::from_elem((20, 20, 4), 0.0f32);
        nan[[3, 3, 3]] = f32::NAN;
        assert_eq!(
            air_hu(&volume(nan, [1.0; 3]), &CtAirOptions::default()),
            Err(QualityError::NotFinite("image"))
        );
    }
}
