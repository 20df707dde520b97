//! Registration recovers known rigid transforms of real brain MRI (the MNI152 template and a
//! patient's T1 and FLAIR from `../shared/data/brain_mri`) to within 0.5 mm and 0.5°.
//!
//! Each case draws a random rigid transform (each angle in ±15°, each translation in ±20 mm),
//! makes the moving image by resampling the source through its inverse onto a grid offset by a
//! fraction of a voxel (so no voxel of the moving image is a voxel of the fixed one), adds noise,
//! registers, and measures the error: the angle of the residual rotation, and the largest
//! distance between where the found and the true transforms take the corners of a 140 mm box
//! around the brain.

use corelab_image::Volume;
use corelab_image::nifti_io;
use corelab_image::registration::{self, AffineTransform, Kind, Metric, Options};
use corelab_image::resample::{Interpolation, resample_through};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/brain_mri")
        .join(path)
}

fn read(path: &str) -> Volume<f32> {
    nifti_io::read(&data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A random rigid transform about the fixed image's centre.
fn random_rigid(rng: &mut ChaCha8Rng, center: [f64; 3]) -> AffineTransform {
    let angles: [f64; 3] = std::array::from_fn(|_| rng.random_range(-15.0f64..15.0).to_radians());
    let t: [f64; 3] = std::array::from_fn(|_| rng.random_range(-20.0..20.0));
    AffineTransform::euler(angles, t, center)
}

/// The moving image: `source` seen through `truth` (fixed → moving) on a grid offset by a
/// fraction of a voxel, with Gaussian noise of `noise` × the image's range.
fn moving_image(
    source: &Volume<f32>,
    truth: &AffineTransform,
    rng: &mut ChaCha8Rng,
    noise: f64,
) -> Volume<f32> {
    let mut grid = source.geometry.clone();
    let shift = grid.affine * nalgebra::Vector4::new(0.37, -0.23, 0.41, 0.0);
    for r in 0..3 {
        grid.affine[(r, 3)] += shift[r];
    }
    let inverse = truth.inverse().unwrap().to_matrix4();
    let mut m = resample_through(source, &grid, &inverse, Interpolation::Trilinear, 0.0).unwrap();
    let hi = m.data.iter().copied().fold(0.0f32, f32::max) as f64;
    let normal = rand_distr_normal(rng, m.data.len());
    for (v, n) in m.data.iter_mut().zip(normal) {
        *v += (n * noise * hi) as f32;
    }
    m
}

/// Standard normal numbers (Box–Muller on the seeded stream).
fn rand_distr_normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            let v: f64 = rng.random_range(0.0..1.0);
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

fn centre(v: &Volume<f32>) -> [f64; 3] {
    let d = v.geometry.dims;
    v.geometry.to_patient([
        (d[0] - 1) as f64 / 2.0,
        (d[1] - 1) as f64 / 2.0,
        (d[2] - 1) as f64 / 2.0,
    ])
}

fn box_corners(c: [f64; 3]) -> Vec<[f64; 3]> {
    let mut out = Vec::new();
    for dx in [-70.0, 70.0] {
        for dy in [-70.0, 70.0] {
            for dz in [-70.0, 70.0] {
                out.push([c[0] + dx, c[1] + dy, c[2] + dz]);
            }
        }
    }
    out
}

/// Registers `cases` moving images made from `source` by random rigid transforms; `aligned` is
/// the transform that already takes `fixed` to `source` (the identity when `source` was made
/// from `fixed`). Returns each case's (degrees, mm) error.
fn run_cases(
    fixed: &Volume<f32>,
    source: &Volume<f32>,
    aligned: &AffineTransform,
    metric: Metric,
    seed: u64,
    cases: usize,
) -> Vec<(f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c = centre(fixed);
    (0..cases)
        .map(|n| {
            let moved = random_rigid(&mut rng, c);
            let moving = moving_image(source, &moved, &mut rng, 0.02);
            let truth =
                AffineTransform::from_matrix4(&(moved.to_matrix4() * aligned.to_matrix4()), c);
            let started = std::time::Instant::now();
            let options = Options {
                kind: Kind::Rigid,
                metric,
                ..Options::default()
            };
            let found = registration::register(fixed, &moving, &options).unwrap();
            let (deg, mm) = found.transform.difference(&truth, &box_corners(c));
            eprintln!(
                "case {n}: truth angles {:?} t {:?}; error {deg:.3}° {mm:.3} mm in {:.1} s; {:?}",
                moved.euler_angles().unwrap().map(f64::to_degrees),
                moved.translation.as_slice(),
                started.elapsed().as_secs_f64(),
                found
                    .levels
                    .iter()
                    .map(|l| (l.iterations, l.stopped))
                    .collect::<Vec<_>>()
            );
            (deg, mm)
        })
        .collect()
}

fn identity() -> AffineTransform {
    AffineTransform::identity([0.0; 3])
}

fn assert_within_half(errors: &[(f64, f64)]) {
    for (deg, mm) in errors {
        assert!(
            *deg < 0.5 && *mm < 0.5,
            "error {deg}° {mm} mm: over 0.5° or 0.5 mm"
        );
    }
}

#[test]
fn mean_squares_recovers_random_rigid_transforms_of_the_mni_template() {
    let t1 = read("mni152_nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz");
    let errors = run_cases(&t1, &t1, &identity(), Metric::MeanSquares, 7, 3);
    assert_within_half(&errors);
}

/// A second contrast with exact truth: the template's intensities through a non-monotonic map
/// (`4u(1 − u)²` of the normalised intensity `u`), so CSF turns bright and white matter dark, as in
/// T2 weighting; only mutual information can align it.
#[test]
fn mutual_information_recovers_random_rigid_transforms_across_contrasts() {
    let t1 = read("mni152_nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz");
    let max = t1.data.iter().copied().fold(0.0f32, f32::max);
    let mut other = t1.clone();
    other.data.mapv_inplace(|v| {
        let u = (v / max).clamp(0.0, 1.0);
        max * 4.0 * u * (1.0 - u) * (1.0 - u)
    });
    let errors = run_cases(
        &t1,
        &other,
        &identity(),
        Metric::MattesMutualInformation { bins: 32 },
        11,
        3,
    );
    assert_within_half(&errors);
}

/// A real pair: one patient's T1 and FLAIR. Their own alignment (both were registered to MNI
/// space by the data's authors) is not exact, so the truth of each case is the applied transform
/// composed with the transform found for the pair as given: registration must find the same
/// anatomy whatever transform the moving image arrives in.
#[test]
fn mutual_information_aligns_a_patients_flair_to_its_t1_whatever_its_start() {
    let t1 = read("ms_lesions_lesjak2017/patient07/T1_mni.nii.gz");
    let flair = read("ms_lesions_lesjak2017/patient07/FLAIR_mni.nii.gz");
    let metric = Metric::MattesMutualInformation { bins: 32 };
    let options = Options {
        metric,
        ..Options::default()
    };
    let as_given = registration::register(&t1, &flair, &options).unwrap();
    let (deg, mm) = as_given
        .transform
        .difference(&identity(), &box_corners(centre(&t1)));
    eprintln!("T1 -> FLAIR as given: {deg:.3} deg, {mm:.3} mm from the identity");
    assert!(
        deg < 1.0 && mm < 1.0,
        "the pair as given is within a voxel of aligned"
    );
    let errors = run_cases(&t1, &flair, &as_given.transform, metric, 13, 2);
    assert_within_half(&errors);
}

#[test]
fn affine_registration_recovers_scaling_and_shear() {
    let t1 = read("mni152_nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz");
    let c = centre(&t1);
    let rigid = AffineTransform::euler([0.1, -0.05, 0.08], [6.0, -4.0, 3.0], c);
    let mut truth = rigid.clone();
    truth.matrix =
        rigid.matrix * nalgebra::Matrix3::new(1.06, 0.03, 0.0, 0.0, 0.95, 0.02, 0.01, 0.0, 1.03);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let moving = moving_image(&t1, &truth, &mut rng, 0.02);
    let options = Options {
        kind: Kind::Affine,
        metric: Metric::MeanSquares,
        ..Options::default()
    };
    let found = registration::register(&t1, &moving, &options).unwrap();
    let (deg, mm) = found.transform.difference(&truth, &box_corners(c));
    eprintln!(
        "affine: {deg:.3} deg {mm:.3} mm; matrix {}",
        found.transform.matrix
    );
    assert!(deg < 0.5 && mm < 0.5, "{deg}° {mm} mm");
    assert!((found.transform.matrix - truth.matrix).abs().max() < 0.005);
}

/// The same inputs and seed give the same transform, bit for bit (the sums are added in a fixed
/// order whatever the thread count); another seed samples other voxels.
#[test]
fn registration_is_deterministic() {
    let t1 = read("mni152_nilearn/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz");
    let coarse = corelab_image::resample::resample(
        &t1,
        &corelab_image::Geometry::new(
            [49, 58, 47],
            t1.geometry.to_patient([1.5, 1.5, 1.5]),
            t1.geometry.directions(),
            [4.0; 3],
        )
        .unwrap(),
        Interpolation::Trilinear,
        0.0,
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let truth = random_rigid(&mut rng, centre(&coarse));
    let moving = moving_image(&coarse, &truth, &mut rng, 0.02);
    let options = Options {
        shrink: vec![2.0, 1.0],
        smoothing: vec![1.0, 0.0],
        samples: 5_000,
        ..Options::default()
    };
    let a = registration::register(&coarse, &moving, &options).unwrap();
    let b = registration::register(&coarse, &moving, &options).unwrap();
    assert_eq!(a.transform, b.transform);
    let other = Options { seed: 2, ..options };
    let c = registration::register(&coarse, &moving, &other).unwrap();
    assert_ne!(a.transform, c.transform);
}

#[test]
fn images_that_cannot_be_registered_are_refused_saying_why() {
    let g = corelab_image::Geometry::axis_aligned([20, 20, 20], [0.0; 3], [2.0; 3]);
    let flat = Volume::new(ndarray::Array3::from_elem((20, 20, 20), 5.0f32), g.clone()).unwrap();
    let blob = Volume::new(
        ndarray::Array3::from_shape_fn((20, 20, 20), |(i, j, k)| {
            let d =
                (i as f32 - 10.0).powi(2) + (j as f32 - 9.0).powi(2) + (k as f32 - 11.0).powi(2);
            (-d / 20.0).exp() * 100.0
        }),
        g.clone(),
    )
    .unwrap();
    let e = registration::register(&blob, &flat, &Options::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the moving image has the same value everywhere: there is nothing to align"
    );
    // Far apart and told to start from the identity: no overlap, said so.
    let mut far = blob.clone();
    far.geometry.affine[(0, 3)] += 500.0;
    let options = Options {
        initial: Some(identity()),
        ..Options::default()
    };
    let e = registration::register(&blob, &far, &options).unwrap_err();
    assert!(e.to_string().contains("do not overlap enough"), "{e}");
    let mut nan = blob.clone();
    nan.data[[1, 2, 3]] = f32::NAN;
    let e = registration::register(&nan, &blob, &Options::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("fixed image holds values that are not finite"),
        "{e}"
    );
    let bad = Options {
        shrink: vec![4.0, 1.0],
        ..Options::default()
    };
    let e = registration::register(&blob, &blob, &bad).unwrap_err();
    assert!(e.to_string().contains("one smoothing"), "{e}");
}
