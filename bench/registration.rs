//! Pairs for `bench/registration.sh`, and their errors.
//!
//! `registration pairs OUT [--cases N] [--seed S]`: writes OUT/fixed.nii.gz (the MNI152 T1
//! template from `../shared/data/brain_mri`), and for each case a moving image made by a random
//! rigid transform (each angle in ±15°, each translation in ±20 mm) on a grid offset by a fraction
//! of a voxel, with 2 % noise: `ms-N.nii.gz` (same contrast, for mean squares) and `mi-N.nii.gz`
//! (the template's intensities through `4u(1 − u)²`, CSF bright and white matter dark, for
//! mutual information), and the true transform `truth-N.txt` (ITK text, fixed → moving).
//!
//! `registration error TRUTH FOUND`: the error of a found transform (ITK text, or elastix's
//! `TransformParameters.0.txt` of an EulerTransform or AffineTransform) against the truth, as
//! `degrees mm`: the residual rotation angle and the largest distance between where the two
//! transforms take the corners of a 140 mm box about the fixed image's centre.

use anyhow::{Context, Result, bail};
use corelab_image::registration::{AffineTransform, itk};
use corelab_image::resample::{Interpolation, resample_through};
use corelab_image::{Volume, nifti_io};
use nalgebra::{Matrix3, Vector3, Vector4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("pairs") => {
            let out = PathBuf::from(args.get(1).context("pairs OUT")?);
            let flag = |name: &str, default: u64| -> Result<u64> {
                match args.iter().position(|a| a == name) {
                    Some(i) => Ok(args.get(i + 1).context("a value")?.parse()?),
                    None => Ok(default),
                }
            };
            pairs(&out, flag("--cases", 5)? as usize, flag("--seed", 2026)?)
        }
        Some("error") => {
            let truth = read_transform(Path::new(args.get(1).context("error TRUTH FOUND")?))?;
            let found = read_transform(Path::new(args.get(2).context("error TRUTH FOUND")?))?;
            let c = truth.center;
            let mut corners = Vec::new();
            for dx in [-70.0, 70.0] {
                for dy in [-70.0, 70.0] {
                    for dz in [-70.0, 70.0] {
                        corners.push([c[0] + dx, c[1] + dy, c[2] + dz]);
                    }
                }
            }
            let (deg, mm) = found.difference(&truth, &corners);
            println!("{deg:.4} {mm:.4}");
            Ok(())
        }
        _ => bail!(
            "usage: registration pairs OUT [--cases N] [--seed S] | registration error TRUTH FOUND"
        ),
    }
}

fn pairs(out: &Path, cases: usize, seed: u64) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/brain_mri");
    let fixed = nifti_io::read(
        &root.join("mni152_nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
    )?;
    std::fs::create_dir_all(out)?;
    nifti_io::write(&out.join("fixed.nii.gz"), &fixed)?;
    let max = fixed.data.iter().copied().fold(0.0f32, f32::max);
    let mut other = fixed.clone();
    other.data.mapv_inplace(|v| {
        let u = (v / max).clamp(0.0, 1.0);
        max * 4.0 * u * (1.0 - u) * (1.0 - u)
    });
    let d = fixed.geometry.dims;
    let c = fixed.geometry.to_patient([
        (d[0] - 1) as f64 / 2.0,
        (d[1] - 1) as f64 / 2.0,
        (d[2] - 1) as f64 / 2.0,
    ]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for n in 0..cases {
        let angles: [f64; 3] =
            std::array::from_fn(|_| rng.random_range(-15.0f64..15.0).to_radians());
        let t: [f64; 3] = std::array::from_fn(|_| rng.random_range(-20.0..20.0));
        let truth = AffineTransform::euler(angles, t, c);
        std::fs::write(out.join(format!("truth-{n}.txt")), itk::write(&truth))?;
        for (name, source) in [("ms", &fixed), ("mi", &other)] {
            let m = moving(source, &truth, &mut rng)?;
            nifti_io::write(&out.join(format!("{name}-{n}.nii.gz")), &m)?;
        }
        eprintln!(
            "case {n}: angles {:?} deg, translation {t:?} mm",
            angles.map(f64::to_degrees)
        );
    }
    Ok(())
}

fn moving(
    source: &Volume<f32>,
    truth: &AffineTransform,
    rng: &mut ChaCha8Rng,
) -> Result<Volume<f32>> {
    let mut grid = source.geometry.clone();
    let shift = grid.affine * Vector4::new(0.37, -0.23, 0.41, 0.0);
    for r in 0..3 {
        grid.affine[(r, 3)] += shift[r];
    }
    let inverse = truth.inverse().context("singular")?.to_matrix4();
    let mut m = resample_through(source, &grid, &inverse, Interpolation::Trilinear, 0.0)?;
    let hi = f64::from(m.data.iter().copied().fold(0.0f32, f32::max));
    for v in m.data.iter_mut() {
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        let w: f64 = rng.random_range(0.0..1.0);
        let normal = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * w).cos();
        *v += (normal * 0.02 * hi) as f32;
    }
    Ok(m)
}

/// ITK text, or an elastix TransformParameters file (Euler or affine).
fn read_transform(path: &Path) -> Result<AffineTransform> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    if text.starts_with("#Insight") {
        return itk::read(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let field = |name: &str| -> Result<Vec<f64>> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("({name} ")))
            .with_context(|| format!("{}: no ({name} …)", path.display()))?;
        line.trim_start_matches(&format!("({name} "))
            .trim_end_matches(')')
            .split_whitespace()
            .map(|w| Ok(w.trim_matches('"').parse::<f64>()?))
            .collect()
    };
    let kind = text
        .lines()
        .find(|l| l.starts_with("(Transform "))
        .unwrap_or_default()
        .to_owned();
    let p = field("TransformParameters")?;
    let c = field("CenterOfRotationPoint")?;
    if kind.contains("EulerTransform") {
        Ok(AffineTransform::euler(
            [p[0], p[1], p[2]],
            [p[3], p[4], p[5]],
            [c[0], c[1], c[2]],
        ))
    } else if kind.contains("AffineTransform") {
        Ok(AffineTransform {
            matrix: Matrix3::from_row_slice(&p[..9]),
            translation: Vector3::new(p[9], p[10], p[11]),
            center: Vector3::new(c[0], c[1], c[2]),
        })
    } else {
        bail!("{}: transform {kind} not read", path.display())
    }
}
