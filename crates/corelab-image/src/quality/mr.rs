//! MR image-quality metrics of a structural image or a phantom, after MRIQC (Esteban et al.,
//! 2017): the automatic object and air masks, tissue SNR, Dietrich's SNR, CNR, CJV, EFC, FBER and
//! the N/2 ghost ratio. Formulas in `docs/algorithms/qc-metrics.md`.

use super::{
    Mask, QualityError, check_finite, check_mask, check_range, otsu_threshold, shape_of, stats,
};
use crate::components::{Connectivity, label};
use crate::distance::squared_edt;
use crate::geometry::Geometry;
use crate::morphology::{dilate, erode, fill_holes};
use crate::volume::Volume;
use ndarray::Array3;
use std::collections::VecDeque;

/// `sqrt(2 / (4 − π))`: the ratio of the Gaussian σ of each channel to the standard deviation of
/// the Rayleigh-distributed magnitude of pure noise (Dietrich et al., JMRI 26:375, 2007).
pub const RAYLEIGH_SD_TO_SIGMA: f64 = 1.526_399_745_532_848;

/// The voxel axis the phase is encoded along, from DICOM's In-plane Phase Encoding Direction
/// (0018,1312): `"COL"` (phase encoded down the columns, i.e. along the row index) is axis 1
/// (`j`), `"ROW"` (along a row) is axis 0 (`i`); anything else is `None`. Axes are those of
/// `Volume::data` (`[i, j, k]`, `i` along a row, `j` down the rows, `k` across slices).
pub fn phase_axis(in_plane_phase_encoding_direction: &str) -> Option<usize> {
    match in_plane_phase_encoding_direction
        .trim()
        .to_ascii_uppercase()
        .as_str()
    {
        "COL" => Some(1),
        "ROW" => Some(0),
        _ => None,
    }
}

/// The object (head, phantom) of an MR image: voxels above Otsu's threshold, the 26-connected
/// components of them at least 5 % the size of the largest, their holes filled slice by slice
/// (each `k` slice, 4-connected background not reached from the slice's edge) and then in 3-D
/// (6-connected background not reaching the volume's edge). Keeping every large component,
/// not only the largest, matters for heads: a dark skull and CSF split the bright scalp from the
/// brain, and a field of view that cuts the head leaves the scalp's shell open, so either one
/// alone would leave the other in the "air".
pub fn object_mask(image: &Volume<f32>) -> Result<Mask, QualityError> {
    let t = otsu_threshold(image)?;
    let above = image.data.mapv(|v| v > t);
    let (labels, sizes) = label(&above, Connectivity::TwentySix);
    let Some(&largest) = sizes.iter().skip(1).max() else {
        return Err(QualityError::EmptyMask("object"));
    };
    if largest == 0 {
        return Err(QualityError::EmptyMask("object"));
    }
    let kept: Vec<bool> = sizes
        .iter()
        .enumerate()
        .map(|(l, &s)| l > 0 && s * 20 >= largest)
        .collect();
    let object = labels.mapv(|l| kept.get(l as usize).copied().unwrap_or(false));
    Ok(fill_holes(&fill_slice_holes(&object)))
}

/// Holes of each `k` slice filled: background pixels that no 4-connected path of background
/// joins to the slice's edge.
fn fill_slice_holes(mask: &Mask) -> Mask {
    let (ni, nj, nk) = mask.dim();
    let mut out = mask.clone();
    let mut reached = ndarray::Array2::from_elem((ni, nj), false);
    let mut queue = VecDeque::new();
    for k in 0..nk {
        reached.fill(false);
        for i in 0..ni {
            for j in 0..nj {
                let edge = i == 0 || j == 0 || i + 1 == ni || j + 1 == nj;
                if edge && !mask[[i, j, k]] {
                    reached[[i, j]] = true;
                    queue.push_back((i, j));
                }
            }
        }
        while let Some((i, j)) = queue.pop_front() {
            let neighbours = [
                (i.wrapping_sub(1), j),
                (i + 1, j),
                (i, j.wrapping_sub(1)),
                (i, j + 1),
            ];
            for (a, b) in neighbours {
                if a < ni && b < nj && !reached[[a, b]] && !mask[[a, b, k]] {
                    reached[[a, b]] = true;
                    queue.push_back((a, b));
                }
            }
        }
        for i in 0..ni {
            for j in 0..nj {
                if !reached[[i, j]] {
                    out[[i, j, k]] = true;
                }
            }
        }
    }
    out
}

/// The uniform interior of an object: the object eroded by `erode_mm` (a ball in mm; the edge
/// of the grid counts as outside). MRIQC's tissue SNR is measured in such a region.
pub fn uniform_mask(object: &Mask, grid: &Geometry, erode_mm: f64) -> Result<Mask, QualityError> {
    check_grid(object, grid, "object")?;
    check_range(
        "erode_mm",
        erode_mm,
        0.0,
        100.0,
        "an erosion radius from 0 to 100 mm",
    )?;
    if !object.iter().any(|m| *m) {
        return Err(QualityError::EmptyMask("object"));
    }
    let eroded = erode(object, grid.spacing(), erode_mm);
    if !eroded.iter().any(|m| *m) {
        return Err(QualityError::EmptyMask("uniform (eroded object)"));
    }
    Ok(eroded)
}

/// How the air (background) mask is drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct AirOptions {
    /// Air is at least this far from the object (mm, by the exact distance transform).
    pub distance_mm: f64,
    /// The phase-encoding axis (0 = `i`, 1 = `j`, 2 = `k`; see [`phase_axis`]): the object's
    /// N/2 ghost neighbourhood along it is left out of the air. `None`: nothing left out.
    pub phase_axis: Option<usize>,
    /// The ghost neighbourhood is the object dilated by this (mm), shifted by half the field of
    /// view along the phase-encoding axis.
    pub ghost_margin_mm: f64,
}

impl Default for AirOptions {
    fn default() -> Self {
        Self {
            distance_mm: 10.0,
            phase_axis: None,
            ghost_margin_mm: 10.0,
        }
    }
}

/// The air around an object: voxels at least `distance_mm` from it, less the N/2 ghost
/// neighbourhood when a phase-encoding axis is given.
pub fn air_mask(
    object: &Mask,
    grid: &Geometry,
    options: &AirOptions,
) -> Result<Mask, QualityError> {
    check_grid(object, grid, "object")?;
    check_range(
        "distance_mm",
        options.distance_mm,
        0.0,
        1000.0,
        "a distance from 0 to 1000 mm",
    )?;
    check_range(
        "ghost_margin_mm",
        options.ghost_margin_mm,
        0.0,
        1000.0,
        "a margin from 0 to 1000 mm",
    )?;
    if !object.iter().any(|m| *m) {
        return Err(QualityError::EmptyMask("object"));
    }
    let spacing = grid.spacing();
    let d2 = options.distance_mm * options.distance_mm;
    let mut air = squared_edt(object, spacing).mapv(|d| d >= d2 - 1e-9);
    if let Some(axis) = options.phase_axis {
        check_axis(axis)?;
        let neighbourhood = half_fov_shift(&dilate(object, spacing, options.ghost_margin_mm), axis);
        air.zip_mut_with(&neighbourhood, |a, g| *a = *a && !*g);
    }
    if !air.iter().any(|m| *m) {
        return Err(QualityError::EmptyMask("air"));
    }
    Ok(air)
}

/// Where an N/2 ghost of the object lands: the object shifted by half the field of view along
/// `axis` (both ways, wrapping round; for an even number of voxels the two agree), less the
/// object dilated by `margin_mm`.
pub fn ghost_region(
    object: &Mask,
    grid: &Geometry,
    axis: usize,
    margin_mm: f64,
) -> Result<Mask, QualityError> {
    check_grid(object, grid, "object")?;
    check_axis(axis)?;
    check_range(
        "margin_mm",
        margin_mm,
        0.0,
        1000.0,
        "a margin from 0 to 1000 mm",
    )?;
    if !object.iter().any(|m| *m) {
        return Err(QualityError::EmptyMask("object"));
    }
    let near = dilate(object, grid.spacing(), margin_mm);
    let mut ghost = half_fov_shift(object, axis);
    ghost.zip_mut_with(&near, |g, n| *g = *g && !*n);
    Ok(ghost)
}

/// The mask shifted by half the grid along `axis`, both ways, wrapping.
fn half_fov_shift(mask: &Mask, axis: usize) -> Mask {
    let n = mask.shape()[axis];
    let (forward, backward) = (n / 2, n - n / 2);
    Array3::from_shape_fn(mask.dim(), |(i, j, k)| {
        let mut a = [i, j, k];
        let mut b = [i, j, k];
        a[axis] = (a[axis] + forward) % n;
        b[axis] = (b[axis] + backward) % n;
        mask[a] || mask[b]
    })
}

fn check_axis(axis: usize) -> Result<(), QualityError> {
    if axis > 2 {
        return Err(QualityError::Parameter {
            name: "phase_axis",
            value: axis.to_string(),
            why: "a voxel axis: 0 (i, along a row), 1 (j, down the rows) or 2 (k)",
        });
    }
    Ok(())
}

fn check_grid(mask: &Mask, grid: &Geometry, what: &'static str) -> Result<(), QualityError> {
    let found = shape_of(mask);
    if found != grid.dims {
        return Err(QualityError::ShapeMismatch {
            what: format!("{what} mask"),
            found,
            expected: grid.dims,
        });
    }
    Ok(())
}

/// MRIQC's tissue SNR: `mean(fg) / SD(fg)` over a uniform region (SD with `n − 1`, as MRIQC's
/// `σ·sqrt(n/(n−1))`).
pub fn snr(image: &Volume<f32>, foreground: &Mask) -> Result<f64, QualityError> {
    let fg = stats(image, foreground, "foreground", 2)?;
    if fg.sd <= 0.0 {
        return Err(QualityError::Undefined(
            "the foreground has no spread: its SNR is infinite".into(),
        ));
    }
    Ok(fg.mean / fg.sd)
}

/// Dietrich's SNR: `mean(fg) / (sqrt(2/(4 − π)) · SD(air))`, the air's Rayleigh standard
/// deviation turned into the σ of the noise.
pub fn snr_dietrich(
    image: &Volume<f32>,
    foreground: &Mask,
    air: &Mask,
) -> Result<f64, QualityError> {
    let fg = stats(image, foreground, "foreground", 1)?;
    let bg = stats(image, air, "air", 2)?;
    if bg.sd <= 0.0 {
        return Err(QualityError::Undefined(
            "the air has no spread: the noise cannot be estimated".into(),
        ));
    }
    Ok(fg.mean / (RAYLEIGH_SD_TO_SIGMA * bg.sd))
}

/// Contrast-to-noise ratio: `|μ_GM − μ_WM| / sqrt(σ_air² + σ_GM² + σ_WM²)`.
pub fn cnr(image: &Volume<f32>, gm: &Mask, wm: &Mask, air: &Mask) -> Result<f64, QualityError> {
    let g = stats(image, gm, "gm", 2)?;
    let w = stats(image, wm, "wm", 2)?;
    let a = stats(image, air, "air", 2)?;
    let noise = (a.sd.powi(2) + g.sd.powi(2) + w.sd.powi(2)).sqrt();
    if noise <= 0.0 {
        return Err(QualityError::Undefined(
            "grey matter, white matter and air have no spread: the CNR is infinite".into(),
        ));
    }
    Ok((g.mean - w.mean).abs() / noise)
}

/// Coefficient of joint variation: `(σ_WM + σ_GM) / |μ_WM − μ_GM|` (lower is better).
pub fn cjv(image: &Volume<f32>, gm: &Mask, wm: &Mask) -> Result<f64, QualityError> {
    let g = stats(image, gm, "gm", 2)?;
    let w = stats(image, wm, "wm", 2)?;
    let contrast = (w.mean - g.mean).abs();
    if contrast <= 0.0 {
        return Err(QualityError::Undefined(
            "grey and white matter have the same mean: the CJV is infinite".into(),
        ));
    }
    Ok((w.sd + g.sd) / contrast)
}

/// The entropy focus criterion (Atkinson et al., IEEE TMI 16:903, 1997), normalised as MRIQC
/// does: with `x` the magnitudes of the voxels taken (those of `frame`, or all), `N` their
/// number and `B = sqrt(Σ x²)`, `EFC = Σ (x/B)·ln(x/B) / (√N · ln(1/√N))`: 1 for a constant
/// image (the most entropy), 0 when one voxel holds all the energy.
pub fn efc(image: &Volume<f32>, frame: Option<&Mask>) -> Result<f64, QualityError> {
    if let Some(f) = frame {
        check_mask(image, f, "frame")?;
    }
    let values: Vec<f64> = match frame {
        Some(f) => image
            .data
            .iter()
            .zip(f.iter())
            .filter(|(_, m)| **m)
            .map(|(v, _)| f64::from(*v).abs())
            .collect(),
        None => image.data.iter().map(|v| f64::from(*v).abs()).collect(),
    };
    if values.is_empty() {
        return Err(QualityError::EmptyMask("frame"));
    }
    if values.len() < 2 {
        return Err(QualityError::TooFewVoxels {
            what: "frame",
            found: values.len(),
            needed: 2,
        });
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(QualityError::NotFinite("image"));
    }
    let energy = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if energy <= 0.0 {
        return Err(QualityError::Undefined(
            "the image is zero everywhere: its EFC is undefined".into(),
        ));
    }
    let n = values.len() as f64;
    let max = n.sqrt() * (1.0 / n.sqrt()).ln();
    let sum: f64 = values
        .iter()
        .filter(|v| **v > 0.0)
        .map(|v| (v / energy) * (v / energy).ln())
        .sum();
    Ok(sum / max)
}

/// Foreground–background energy ratio: `mean(fg²) / mean(air²)`. MRIQC's current code takes
/// medians; means have a closed-form expectation under Rician noise
/// (`(S² + 2σ²) / (2σ²)`).
pub fn fber(image: &Volume<f32>, foreground: &Mask, air: &Mask) -> Result<f64, QualityError> {
    let fg = stats(image, foreground, "foreground", 1)?;
    let bg = stats(image, air, "air", 1)?;
    if bg.mean_square <= 0.0 {
        return Err(QualityError::Undefined(
            "the air is zero everywhere: the FBER is infinite".into(),
        ));
    }
    Ok(fg.mean_square / bg.mean_square)
}

/// How the ghost is measured.
#[derive(Clone, Debug, PartialEq)]
pub struct GhostOptions {
    /// The ghost region and the ghost neighbourhood left out of the air keep this far from
    /// the object (mm).
    pub margin_mm: f64,
}

impl Default for GhostOptions {
    fn default() -> Self {
        Self { margin_mm: 10.0 }
    }
}

/// An N/2 ghost measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Ghosting {
    /// The ghost's signal relative to the object's: `A / mean(object)`, with the ghost's
    /// amplitude `A = sqrt(max(0, mean(M²)_ghost − mean(M²)_air))` (Rician second moments:
    /// `E[M²] = A² + 2σ²`).
    pub ratio: f64,
    /// MRIQC's ghost-to-signal ratio: `(mean(ghost) − mean(non-ghost air)) / mean(object)`;
    /// biased low where the ghost is not well above the noise (the Rician mean is not linear).
    pub gsr: f64,
    /// `A`, in image units.
    pub ghost_signal: f64,
    /// The object's mean.
    pub object_mean: f64,
    /// Voxels of the ghost region.
    pub ghost_voxels: usize,
    /// Voxels of the air outside the ghost neighbourhood.
    pub air_voxels: usize,
}

/// The N/2 ghost along `axis` (see [`phase_axis`]): the ghost region is
/// [`ghost_region`]`(object, axis, margin)`; the reference air is `air` less the object's ghost
/// neighbourhood (the object dilated by the margin, shifted by half the field of view).
pub fn ghost(
    image: &Volume<f32>,
    object: &Mask,
    air: &Mask,
    axis: usize,
    options: &GhostOptions,
) -> Result<Ghosting, QualityError> {
    check_finite(image)?;
    check_mask(image, object, "object")?;
    check_mask(image, air, "air")?;
    let region = ghost_region(object, &image.geometry, axis, options.margin_mm)?;
    let neighbourhood = half_fov_shift(
        &dilate(object, image.geometry.spacing(), options.margin_mm),
        axis,
    );
    let mut clean_air = air.clone();
    clean_air.zip_mut_with(&neighbourhood, |a, g| *a = *a && !*g);
    let o = stats(image, object, "object", 1)?;
    let g = stats(image, &region, "ghost region", 10)?;
    let a = stats(image, &clean_air, "non-ghost air", 10)?;
    if o.mean <= 0.0 {
        return Err(QualityError::Undefined(
            "the object's mean is not positive: no ratio to it".into(),
        ));
    }
    let amplitude = (g.mean_square - a.mean_square).max(0.0).sqrt();
    Ok(Ghosting {
        ratio: amplitude / o.mean,
        gsr: (g.mean - a.mean) / o.mean,
        ghost_signal: amplitude,
        object_mean: o.mean,
        ghost_voxels: g.n,
        air_voxels: a.n,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{mask, normals, qc, render, volume};
    use super::*;
    use crate::phantom::Kind;

    /// Object, uniform interior and air of a QC sphere series.
    fn masks(image: &Volume<f32>, axis: Option<usize>) -> (Mask, Mask, Mask) {
        let object = object_mask(image).unwrap();
        let uniform = uniform_mask(&object, &image.geometry, 5.0).unwrap();
        let options = AirOptions {
            phase_axis: axis,
            ..AirOptions::default()
        };
        let air = air_mask(&object, &image.geometry, &options).unwrap();
        (object, uniform, air)
    }

    fn count(m: &Mask) -> usize {
        m.iter().filter(|x| **x).count()
    }

    #[test]
    fn the_object_mask_finds_the_phantom_sphere() {
        let (r, _) = qc(1, 2.0, 0, "SNR");
        let object = object_mask(&r.images[0]).unwrap();
        let truth = mask(&r, "fluid");
        let both = object
            .iter()
            .zip(truth.iter())
            .filter(|(a, b)| **a && **b)
            .count();
        let dice = 2.0 * both as f64 / (count(&object) + count(&truth)) as f64;
        assert!(dice > 0.98, "Dice {dice}");
    }

    #[test]
    fn snr_and_dietrich_snr_match_the_phantom_truth() {
        for (seed, subject) in [(1, 0), (1, 1), (7, 0), (7, 2)] {
            let (r, truth) = qc(seed, 2.0, subject, "SNR");
            let image = &r.images[0];
            let (_, uniform, air) = masks(image, Some(1));
            let s = snr(image, &uniform).unwrap();
            let d = snr_dietrich(image, &uniform, &air).unwrap();
            eprintln!(
                "seed {seed} subject {subject}: truth snr {:.2}, snr {s:.2} ({:+.2} %), dietrich {d:.2} ({:+.2} %)",
                truth.snr,
                100.0 * (s / truth.snr - 1.0),
                100.0 * (d / truth.snr - 1.0)
            );
            assert!(
                (s / truth.snr - 1.0).abs() < 0.05,
                "snr {s} vs {}",
                truth.snr
            );
            assert!(
                (d / truth.snr - 1.0).abs() < 0.05,
                "dietrich {d} vs {}",
                truth.snr
            );
        }
    }

    #[test]
    fn fber_matches_its_rician_expectation() {
        for (seed, subject) in [(1, 0), (7, 2)] {
            let (r, truth) = qc(seed, 2.0, subject, "SNR");
            let image = &r.images[0];
            let (object, uniform, air) = masks(image, None);
            let sigma2 = truth.noise_sigma.powi(2);
            let expected = (truth.signal.powi(2) + 2.0 * sigma2) / (2.0 * sigma2);
            let f = fber(image, &uniform, &air).unwrap();
            let whole = fber(image, &object, &air).unwrap();
            eprintln!(
                "seed {seed} subject {subject}: expected fber {expected:.1}, uniform {f:.1} ({:+.2} %), object {whole:.1} ({:+.2} %)",
                100.0 * (f / expected - 1.0),
                100.0 * (whole / expected - 1.0)
            );
            assert!((f / expected - 1.0).abs() < 0.03, "{f} vs {expected}");
        }
    }

    #[test]
    fn the_ghost_ratio_recovers_the_ghost_amplitude_and_is_near_zero_without_one() {
        for (seed, subject) in [(1, 0), (1, 1), (7, 2)] {
            let axis = phase_axis("COL").unwrap();
            for name in ["GHOST", "SNR"] {
                let (r, truth) = qc(seed, 2.0, subject, name);
                let image = &r.images[0];
                let (object, _, air) = masks(image, Some(axis));
                let g = ghost(image, &object, &air, axis, &GhostOptions::default()).unwrap();
                let expected = if name == "GHOST" {
                    truth.ghost_amplitude
                } else {
                    0.0
                };
                eprintln!(
                    "seed {seed} subject {subject} {name}: sigma {:.1}, truth {expected:.4}, ratio {:.4}, gsr {:.4}",
                    truth.noise_sigma, g.ratio, g.gsr
                );
                assert!(
                    (g.ratio - expected).abs() < 0.005,
                    "{name}: {g:?} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn efc_is_one_for_a_constant_image_zero_for_a_point_and_rises_with_noise_and_ghosts() {
        let flat = volume(Array3::from_elem((16, 16, 8), 7.0), [1.0; 3]);
        assert!((efc(&flat, None).unwrap() - 1.0).abs() < 1e-9);
        let mut point = Array3::from_elem((16, 16, 8), 0.0f32);
        point[[3, 4, 5]] = 100.0;
        assert!(efc(&volume(point, [1.0; 3]), None).unwrap().abs() < 1e-12);

        let sphere = Array3::from_shape_fn((48, 48, 16), |(i, j, k)| {
            let d =
                (i as f64 - 23.5).powi(2) + (j as f64 - 23.5).powi(2) + (k as f64 - 7.5).powi(2);
            if d < 100.0 { 1000.0f32 } else { 0.0 }
        });
        let noise = normals(3, sphere.len());
        let mut noisy = sphere.clone();
        for (v, z) in noisy.iter_mut().zip(&noise) {
            *v = (*v + 20.0 * *z as f32).abs();
        }
        let mut ghosted = sphere.clone();
        for ((i, j, k), v) in ghosted.indexed_iter_mut() {
            *v += 0.05 * sphere[[i, (j + 24) % 48, k]];
        }
        let clean = efc(&volume(sphere, [1.0; 3]), None).unwrap();
        let with_noise = efc(&volume(noisy, [1.0; 3]), None).unwrap();
        let with_ghost = efc(&volume(ghosted, [1.0; 3]), None).unwrap();
        eprintln!("efc clean {clean:.4}, noise {with_noise:.4}, ghost {with_ghost:.4}");
        assert!(with_noise > clean && with_ghost > clean);

        let (snr_series, _) = qc(1, 2.0, 0, "SNR");
        let (ghost_series, _) = qc(1, 2.0, 0, "GHOST");
        let a = efc(&snr_series.images[0], None).unwrap();
        let b = efc(&ghost_series.images[0], None).unwrap();
        eprintln!("efc phantom SNR {a:.4}, GHOST {b:.4}");
        assert!(b > a);
    }

    #[test]
    fn cnr_and_cjv_match_their_closed_forms_on_two_noisy_regions() {
        let (ni, nj, nk) = (64, 64, 12);
        let gm = Array3::from_shape_fn((ni, nj, nk), |(i, j, _)| i < 32 && j < 48);
        let wm = Array3::from_shape_fn((ni, nj, nk), |(i, j, _)| i >= 32 && j < 48);
        let air = Array3::from_shape_fn((ni, nj, nk), |(_, j, _)| j >= 48);
        let z = normals(11, ni * nj * nk);
        let mut n = 0;
        let data = Array3::from_shape_fn((ni, nj, nk), |p| {
            let e = z[n];
            n += 1;
            let v = if gm[p] {
                600.0 + 20.0 * e
            } else if wm[p] {
                900.0 + 30.0 * e
            } else {
                50.0 + 10.0 * e
            };
            v as f32
        });
        let image = volume(data, [1.0; 3]);
        let c = cnr(&image, &gm, &wm, &air).unwrap();
        let j = cjv(&image, &gm, &wm).unwrap();
        let (c0, j0) = (300.0 / (100.0f64 + 400.0 + 900.0).sqrt(), 50.0 / 300.0);
        eprintln!("cnr {c:.4} (closed form {c0:.4}), cjv {j:.4} ({j0:.4})");
        assert!((c / c0 - 1.0).abs() < 0.03, "{c} vs {c0}");
        assert!((j / j0 - 1.0).abs() < 0.03, "{j} vs {j0}");
    }

    #[test]
    fn cnr_and_cjv_of_the_brain_phantom_are_plausible() {
        let r = render(Kind::Brain, 1, 2.0, 0, "T1w");
        let image = &r.images[0];
        let (gm, wm) = (mask(&r, "gm"), mask(&r, "wm"));
        let object = object_mask(image).unwrap();
        let air = air_mask(&object, &image.geometry, &AirOptions::default()).unwrap();
        let c = cnr(image, &gm, &wm, &air).unwrap();
        let j = cjv(image, &gm, &wm).unwrap();
        let s = snr(image, &wm).unwrap();
        eprintln!("brain T1w: cnr {c:.3}, cjv {j:.3}, snr(wm) {s:.2}");
        assert!(c.is_finite() && (0.5..30.0).contains(&c), "{c}");
        assert!(j.is_finite() && (0.05..1.5).contains(&j), "{j}");
    }

    #[test]
    fn bad_masks_and_parameters_are_refused_saying_what_is_wrong() {
        let image = volume(Array3::from_elem((8, 8, 4), 5.0), [1.0; 3]);
        let empty = Array3::from_elem((8, 8, 4), false);
        let full = Array3::from_elem((8, 8, 4), true);
        let wrong = Array3::from_elem((8, 8, 5), true);
        assert_eq!(
            snr(&image, &empty),
            Err(QualityError::EmptyMask("foreground"))
        );
        assert!(matches!(
            snr_dietrich(&image, &full, &wrong),
            Err(QualityError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            cnr(&image, &full, &empty, &full),
            Err(QualityError::EmptyMask("wm"))
        ));
        assert!(matches!(
            cjv(&image, &full, &full),
            Err(QualityError::Undefined(_))
        ));
        assert!(matches!(
            efc(&image, Some(&wrong)),
            Err(QualityError::ShapeMismatch { .. })
        ));
        assert_eq!(
            efc(&image, Some(&empty)),
            Err(QualityError::EmptyMask("frame"))
        );
        assert!(matches!(
            fber(&image, &full, &empty),
            Err(QualityError::EmptyMask("air"))
        ));
        assert!(matches!(
            air_mask(&empty, &image.geometry, &AirOptions::default()),
            Err(QualityError::EmptyMask("object"))
        ));
        assert!(matches!(
            air_mask(&wrong, &image.geometry, &AirOptions::default()),
            Err(QualityError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            ghost(&image, &full, &full, 3, &GhostOptions::default()),
            Err(QualityError::Parameter {
                name: "phase_axis",
                ..
            })
        ));
        assert!(matches!(
            uniform_mask(&full, &image.geometry, f64::NAN),
            Err(QualityError::Parameter {
                name: "erode_mm",
                ..
            })
        ));
        assert!(matches!(
            uniform_mask(&full, &image.geometry, 50.0),
            Err(QualityError::EmptyMask(_))
        ));
        assert!(matches!(
            object_mask(&image),
            Err(QualityError::Undefined(_))
        ));
        let exact = (2.0 / (4.0 - std::f64::consts::PI)).sqrt();
        assert!((RAYLEIGH_SD_TO_SIGMA - exact).abs() < 1e-15);
        assert_eq!(phase_axis("COL"), Some(1));
        assert_eq!(phase_axis(" row"), Some(0));
        assert_eq!(phase_axis("OTHER"), None);
    }
}
