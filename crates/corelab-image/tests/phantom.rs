//! Digital phantoms: the truth they state holds on the images they render.

use corelab_image::phantom::{Kind, Options, Rendered, plan};

fn render_all(kind: Kind, options: &Options) -> Vec<Rendered> {
    let p = plan(kind, options).unwrap();
    p.series
        .iter()
        .map(|s| s.render(options.subsamples).unwrap())
        .collect()
}

fn one_subject(seed: u64) -> Options {
    Options {
        seed,
        subjects: 1,
        ..Options::default()
    }
}

/// The partial-volume sum of each structure is its analytic volume to within the error of 4³
/// samples per voxel: 0.5 % and a quarter of a voxel (the quarter voxel matters only for lesions
/// a few voxels across).
#[test]
fn partial_volume_sums_match_the_analytic_volumes_of_every_kind() {
    for kind in Kind::ALL {
        let mut options = one_subject(11);
        if kind == Kind::Brain {
            options.atrophy_percent = Some(1.5);
        }
        for r in render_all(kind, &options) {
            for s in &r.truth.structures {
                // Structures cut by the field of view (the torso's lungs and fat, the QC
                // sphere in its few slices) and the background have none.
                let Some(exact) = s.analytic_volume_mm3 else {
                    assert!(
                        matches!(kind, Kind::Pet | Kind::Qc),
                        "{} {}",
                        r.truth.path,
                        s.name
                    );
                    continue;
                };
                let pv = s.pv_volume_mm3;
                let voxel = r.images[0].geometry.voxel_volume();
                assert!(
                    (pv - exact).abs() < 0.005 * exact + 0.25 * voxel,
                    "{kind:?} {} {}: pv {pv:.1} mm³ vs analytic {exact:.1} mm³",
                    r.truth.path,
                    s.name
                );
            }
            // Masks come in the order of the structures (per temporal position for cine).
            assert_eq!(r.masks.len(), r.truth.structures.len());
            for (s, (name, mask)) in r.truth.structures.iter().zip(&r.masks) {
                assert!(s.mask_file.ends_with(&format!("_{name}.nii.gz")));
                let voxels: u64 = mask.data.iter().map(|&m| u64::from(m)).sum();
                assert_eq!(voxels, s.mask_voxels, "{} {}", r.truth.path, s.name);
            }
        }
    }
}

#[test]
fn the_same_seed_gives_identical_images_and_another_seed_other_noise() {
    let a = render_all(Kind::Pet, &one_subject(5));
    let b = render_all(Kind::Pet, &one_subject(5));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        let bits = |r: &Rendered| {
            r.images[0]
                .data
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(x), bits(y), "{}", x.truth.path);
        assert_eq!(x.truth, y.truth);
    }
    let c = render_all(Kind::Pet, &one_subject(6));
    assert_ne!(a[0].images[0].data, c[0].images[0].data);
    // Noise only: the same anatomy and seed-independent design with another noise stream differs
    // voxel by voxel while the noise-free means agree.
    let p = plan(Kind::Pet, &one_subject(5)).unwrap();
    let mut other = p.series[0].clone();
    other.seed = 99;
    let d = other.render(4).unwrap();
    assert_ne!(a[0].images[0].data, d.images[0].data);
    for (s, t) in a[0].truth.structures.iter().zip(&d.truth.structures) {
        assert_eq!(s.mask_mean_noise_free, t.mask_mean_noise_free);
        assert_eq!(s.pv_volume_mm3, t.pv_volume_mm3);
    }
}

/// Inside each mask the image's mean is the noise-free mean within the noise (4 standard errors,
/// plus the Rician bias σ²/2s for MR), so intensities, bias and noise are as truth.json says.
#[test]
fn tissue_means_in_the_masks_are_the_stated_noise_free_means_within_the_noise() {
    for kind in [Kind::Brain, Kind::CtTumor, Kind::Pet] {
        for r in render_all(kind, &one_subject(3)) {
            for s in &r.truth.structures {
                let Some(expected) = s.mask_mean_noise_free else {
                    continue;
                };
                let mask = &r.masks.iter().find(|(n, _)| *n == s.name).unwrap().1;
                let values: Vec<f64> = mask
                    .data
                    .iter()
                    .zip(r.images[0].data.iter())
                    .filter(|(m, _)| **m == 1)
                    .map(|(_, v)| f64::from(*v))
                    .collect();
                let n = values.len() as f64;
                let mean = values.iter().sum::<f64>() / n;
                let sigma = r.truth.noise.sigma_at(expected);
                let rician = match r.truth.noise {
                    corelab_image::phantom::Noise::Rician { sigma } => sigma * sigma / expected,
                    _ => 0.0,
                };
                // CT air and lungs are floored at -1024 HU; only structures above it are tested.
                assert!(
                    (mean - expected).abs() <= 4.0 * sigma / n.sqrt() + rician + 1e-6,
                    "{kind:?} {} {}: mean {mean:.3} vs {expected:.3} (σ {sigma:.2}, n {n})",
                    r.truth.path,
                    s.name
                );
            }
        }
    }
}

#[test]
fn a_second_brain_visit_loses_the_atrophy_asked_for() {
    let mut options = one_subject(2);
    options.atrophy_percent = Some(1.5);
    let p = plan(Kind::Brain, &options).unwrap();
    let visits = &p.truth.subjects[0].visits;
    assert_eq!(visits.len(), 2);
    let pbvc = visits[1]
        .brain
        .as_ref()
        .unwrap()
        .percent_brain_volume_change
        .unwrap();
    assert!((pbvc + 1.5).abs() < 1e-9, "{pbvc}");
    let brain = |v: usize| {
        visits[v]
            .structures
            .iter()
            .find(|s| s.name == "brain")
            .unwrap()
            .analytic_volume_mm3
    };
    assert!((100.0 * (brain(1) - brain(0)) / brain(0) + 1.5).abs() < 1e-9);
    assert_eq!(p.series.len(), 4, "T1w and FLAIR at two visits");
}
