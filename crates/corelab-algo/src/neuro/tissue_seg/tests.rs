//! Validation on the brain and MS phantoms (exact truth), and refusals.

use super::*;
use crate::neuro::testing::{dice, series, series_with, truth};
use corelab_image::phantom::{Kind, Rendered, Stream};
use std::collections::BTreeMap;

/// The exact volume (mL) of a truth structure: the analytic volume of its shapes (the phantom's
/// truth.json `analytic_volume_mm3`, the same number as the plan's visit truth), not a count of
/// mask voxels.
fn exact_ml(r: &Rendered, name: &str) -> f64 {
    let s = r
        .truth
        .structures
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no structure {name}"));
    s.analytic_volume_mm3
        .unwrap_or_else(|| panic!("{name} is not wholly on the grid: no exact volume"))
        / 1000.0
}

/// Subsamples per voxel and axis of the validation phantoms: with 2, the truth ICV mask
/// (fraction ≥ ½ of 8 samples) is 0.6 % larger than the exact ICV and the excess lands in CSF,
/// hiding a CSF shortfall; with 4 it is within 0.1 % (1916.7 against 1915.1 mL, site 1).
const SUBSAMPLES: usize = 4;

/// Dice per class (CSF, GM, WM) and volume error (%) per class against exact truth.
fn score(r: &Rendered, image: &Volume<f32>, options: &Options) -> ([f64; 3], [f64; 3]) {
    let seg = segment(image, &truth(r, "icv"), options).expect("segments");
    let vols = seg.volumes_ml();
    let mut d = [0.0; 3];
    let mut e = [0.0; 3];
    for (k, name) in ["csf", "gm", "wm"].into_iter().enumerate() {
        let found = seg.labels.mapv(|l| l == k as u8 + 1);
        d[k] = dice(&found, &truth(r, name));
        let exact = exact_ml(r, name);
        e[k] = 100.0 * (vols[k] - exact) / exact;
    }
    (d, e)
}

fn assert_targets(what: &str, d: [f64; 3], e: [f64; 3]) {
    eprintln!(
        "{what}: Dice CSF {:.3} GM {:.3} WM {:.3}; volume error CSF {:+.2} % GM {:+.2} % WM {:+.2} %",
        d[0], d[1], d[2], e[0], e[1], e[2]
    );
    for k in 0..3 {
        assert!(d[k] >= 0.85, "{what}: Dice of class {k} is {:.3}", d[k]);
        assert!(
            e[k].abs() <= 3.0,
            "{what}: volume error of class {k} is {:.2} %",
            e[k]
        );
    }
}

// The domain is the truth ICV mask of a 4-subsample rendering; volumes against the exact
// (analytic) volumes of the shapes.
#[test]
fn tissue_dice_is_at_least_0_85_and_volume_error_at_most_3_percent_on_every_site() {
    for subject in 0..3 {
        let r = series_with(Kind::Brain, 7, 2.0, subject, 0, "T1w", None, SUBSAMPLES);
        let (d, e) = score(&r, &r.images[0], &Options::default());
        assert_targets(&format!("brain phantom, site {}", subject + 1), d, e);
    }
}

#[test]
fn tissue_targets_hold_on_the_ms_phantom_with_lesions_on_every_site() {
    for subject in 0..3 {
        let r = series_with(
            Kind::MsLesions,
            11,
            2.0,
            subject,
            0,
            "T1w",
            None,
            SUBSAMPLES,
        );
        let (d, e) = score(&r, &r.images[0], &Options::default());
        assert_targets(&format!("MS phantom, site {}", subject + 1), d, e);
    }
}

#[test]
fn tissue_targets_hold_at_twice_and_three_times_the_phantom_noise() {
    let r = series_with(Kind::Brain, 3, 2.0, 1, 0, "T1w", None, SUBSAMPLES);
    // The phantom's Rician σ is 18; Gaussian noise of σ·√(m² − 1) added on top makes m × σ.
    // (At three times, two of five other draws put CSF at −11 %: N4 shrinks their GM/WM
    // contrast; docs/algorithms/neuro.tissue-seg.md, Accuracy.)
    for m in [2.0f64, 3.0] {
        let extra = 18.0 * (m * m - 1.0).sqrt();
        let mut rng = Stream::new(3, &format!("tissue-seg/extra-noise/{m}"));
        let mut noisy = r.images[0].clone();
        noisy
            .data
            .mapv_inplace(|v| (f64::from(v) + extra * rng.normal()) as f32);
        let (d, e) = score(&r, &noisy, &Options::default());
        assert_targets(&format!("brain phantom, noise σ {:.0}", 18.0 * m), d, e);
    }
}

#[test]
fn the_same_input_gives_bit_identical_output() {
    let r = series(Kind::Brain, 5, 2.0, 0, 0, "T1w", None);
    let icv = truth(&r, "icv");
    let a = segment(&r.images[0], &icv, &Options::default()).unwrap();
    let b = segment(&r.images[0], &icv, &Options::default()).unwrap();
    assert_eq!(a.labels, b.labels);
    for k in 0..3 {
        assert_eq!(a.fractions[k], b.fractions[k]);
    }
    assert_eq!(a.means, b.means);
    assert_eq!(a.sds, b.sds);
    // The fractions sum to 1 in the domain, 0 outside.
    for (idx, inside) in icv.indexed_iter() {
        let sum: f32 = (0..3).map(|k| a.fractions[k][idx]).sum();
        let want = if *inside { 1.0 } else { 0.0 };
        assert!((sum - want).abs() < 1e-5, "{idx:?}: {sum}");
    }
}

#[test]
fn the_algorithm_with_a_mask_input_reports_volumes_and_fractions_of_icv() {
    let r = series(Kind::Brain, 7, 2.0, 2, 0, "T1w", None);
    let icv = truth(&r, "icv");
    let inputs = Inputs::from([
        ("t1".to_owned(), r.images[0].clone()),
        (
            "mask".to_owned(),
            super::super::mask_volume(&icv, &r.images[0].geometry),
        ),
    ]);
    let (_, out) = crate::run(&TissueSeg, &inputs, &BTreeMap::new()).expect("runs");
    let m = |name: &str| {
        out.measurements
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .value
    };
    let icv_ml =
        icv.iter().filter(|&&b| b).count() as f64 * r.images[0].geometry.voxel_volume() / 1000.0;
    assert!((m("icv") - icv_ml).abs() < 1e-9);
    let sum = m("gm-volume") + m("wm-volume") + m("csf-volume");
    assert!((sum - icv_ml).abs() < 1e-3 * icv_ml, "{sum} vs {icv_ml}");
    let bpf = m("brain-parenchymal-fraction");
    assert!((bpf - (m("gm-volume") + m("wm-volume")) / icv_ml).abs() < 1e-12);
    let exact_bpf = (exact_ml(&r, "gm") + exact_ml(&r, "wm")) / exact_ml(&r, "icv");
    eprintln!("BPF {bpf:.4}, exact {exact_bpf:.4}");
    assert!((bpf - exact_bpf).abs() < 0.01, "BPF {bpf} vs {exact_bpf}");
    for f in ["gm", "wm", "csf"] {
        let want = m(&format!("{f}-volume")) / icv_ml;
        assert!((m(&format!("{f}-fraction-of-icv")) - want).abs() < 1e-12);
    }
    let roles: Vec<&str> = out.images.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(roles, ["labels", "gm-pv", "wm-pv", "csf-pv", "corrected"]);
}

#[test]
fn refuses_coarse_images_tiny_masks_non_finite_values_and_images_without_tissue_contrast() {
    let r = series(Kind::Brain, 7, 2.0, 0, 0, "T1w", None);
    let icv = truth(&r, "icv");
    let image = &r.images[0];
    let input_role = |e: AlgoError| match e {
        AlgoError::Input { role, why } => {
            eprintln!("refused {role}: {why}");
            role
        }
        other => panic!("not an input error: {other:?}"),
    };

    let mut coarse = image.clone();
    let scale = nalgebra::Matrix4::from_diagonal(&nalgebra::Vector4::new(2.0, 2.0, 2.0, 1.0));
    coarse.geometry.affine *= scale;
    let e = segment(&coarse, &icv, &Options::default()).unwrap_err();
    assert_eq!(input_role(e), "t1");

    let mut tiny = Array3::from_elem(icv.raw_dim(), false);
    let c = icv.shape().iter().map(|n| n / 2).collect::<Vec<_>>();
    tiny.slice_mut(ndarray::s![
        c[0] - 4..c[0] + 4,
        c[1] - 4..c[1] + 4,
        c[2] - 4..c[2] + 4
    ])
    .fill(true);
    let e = segment(image, &tiny, &Options::default()).unwrap_err();
    assert_eq!(input_role(e), "mask");

    let mut nan = image.clone();
    nan.data[[c[0], c[1], c[2]]] = f32::NAN;
    let e = segment(&nan, &icv, &Options::default()).unwrap_err();
    assert_eq!(input_role(e), "t1");

    // One tissue and noise: no three classes to find.
    let mut rng = Stream::new(1, "tissue-seg/flat");
    let flat = Volume::new(
        image.data.mapv(|_| (600.0 + 20.0 * rng.normal()) as f32),
        image.geometry.clone(),
    )
    .unwrap();
    let e = segment(&flat, &icv, &Options::default()).unwrap_err();
    assert_eq!(input_role(e), "t1");

    let wrong = Array3::from_elem((4, 4, 4), true);
    let e = segment(image, &wrong, &Options::default()).unwrap_err();
    assert_eq!(input_role(e), "mask");
}

/// A volume averaged over 2 × 2 × 2 blocks (1 mm → 2 mm), on the grid of the blocks' centres.
fn halve(v: &Volume<f32>) -> Volume<f32> {
    let d = v.geometry.dims.map(|n| n / 2);
    let data = Array3::from_shape_fn((d[0], d[1], d[2]), |(i, j, k)| {
        let mut s = 0.0;
        for (a, b, c) in (0..8).map(|n| (n >> 2, (n >> 1) & 1, n & 1)) {
            s += v.data[[2 * i + a, 2 * j + b, 2 * k + c]];
        }
        s / 8.0
    });
    let mut geometry = v.geometry.clone();
    geometry.dims = d;
    let mut m = nalgebra::Matrix4::from_diagonal(&nalgebra::Vector4::new(2.0, 2.0, 2.0, 1.0));
    for r in 0..3 {
        m[(r, 3)] = 0.5;
    }
    geometry.affine = v.geometry.affine * m;
    Volume::new(data, geometry).unwrap()
}

#[test]
fn on_the_mni152_t1_template_at_2_mm_gm_and_wm_overlap_its_tissue_maps_with_dice_0_78() {
    // The 2009a template and its GM/WM probability maps (value/255), averaged to 2 mm to keep the
    // test fast; the template is skull-stripped, so the domain is where it is above zero.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/brain_mri/mni152_nilearn/mni_icbm152_"
    );
    let read = |name: &str| {
        let path = format!("{dir}{name}_tal_nlin_sym_09a_converted.nii.gz");
        halve(&corelab_image::nifti_io::read(std::path::Path::new(&path)).unwrap())
    };
    let (t1, gm, wm) = (read("t1"), read("gm"), read("wm"));
    let domain = t1.data.mapv(|v| v > 0.0);
    let seg = segment(&t1, &domain, &Options::default()).unwrap();
    let v = seg.volumes_ml();
    let voxel = t1.geometry.voxel_volume() / 1000.0;
    let mut found = [0.0; 2];
    for (n, (k, p)) in [(2u8, &gm), (3u8, &wm)].into_iter().enumerate() {
        let d = dice(
            &seg.labels.mapv(|l| l == k),
            &p.data.mapv(|x| x / 255.0 > 0.5),
        );
        let sum_p: f64 = p.data.iter().map(|&x| f64::from(x) / 255.0).sum::<f64>() * voxel;
        let err = 100.0 * (v[usize::from(k) - 1] - sum_p) / sum_p;
        eprintln!(
            "MNI152 at 2 mm, {}: Dice {d:.3} vs p > 0.5; volume {:.1} mL vs Σp {sum_p:.1} mL ({err:+.1} %)",
            ["GM", "WM"][n],
            v[usize::from(k) - 1]
        );
        found[n] = d;
        // A guard against regressions, not the targets: the template is an average of brains,
        // its sulcal CSF blurred into GM, and its maps are priors, not a segmentation (measured
        // and discussed in docs/algorithms/neuro.tissue-seg.md).
        assert!(err.abs() < 40.0, "volume error {err:.1} %");
    }
    assert!(found[0] >= 0.78 && found[1] >= 0.78, "{found:?}");
}

/// A noise draw on which N4's finest level fitted anatomy (brain phantom, seed 7, site 1, three
/// times the noise: CSF −10.7 % with it) meets the targets because that level is undone (method
/// step 1).
#[test]
fn a_finer_n4_level_that_shrinks_the_tissue_contrast_is_undone() {
    let r = series_with(Kind::Brain, 7, 2.0, 0, 0, "T1w", None, SUBSAMPLES);
    let extra = 18.0 * 8f64.sqrt();
    let mut rng = Stream::new(7, "tissue-seg/extra-noise/3");
    let mut noisy = r.images[0].clone();
    noisy
        .data
        .mapv_inplace(|v| (f64::from(v) + extra * rng.normal()) as f32);
    let (d, e) = score(&r, &noisy, &Options::default());
    assert_targets("brain phantom seed 7 site 1, noise σ 54", d, e);
}
