//! The LGE scene is made here from the cardiac phantom's shapes (its end-diastolic ventricle on
//! its short-axis grid) and a scar of known volume: the myocardium inside a ball centred in the
//! wall (transmural), or that part of it in the inner half of the wall (subendocardial). The
//! phantom's scene tree cannot hold such a scar (a child lies wholly inside its parent and does
//! not touch its siblings; a scar touches the cavity), so each voxel is sampled here: 6 × 6 × 6
//! points, each given its tissue's LGE signal, then Rician noise of the phantom's σ = 25.
//!
//! Two myocardium masks: the phantom's kind (voxels at least half myocardium), and a reader's
//! (those, less the voxels a quarter or more blood pool: on an LGE image a reader keeps the
//! endocardial contour off the bright blood). With the first, voxels up to half blood pool lie
//! in the mask and read brighter than a 5-SD threshold over nulled myocardium: the n-SD method
//! counts that rim as enhancement (docs/algorithms/cardiac.lge.md gives how much).

use super::*;
use crate::cardiac::testing::{cine, value, volume};
use crate::{AlgoError, Outputs};
use corelab_image::phantom::cardiac::{CHEST, LV_BLOOD, MYOCARDIUM, RV_BLOOD};
use corelab_image::phantom::{Ellipsoid, Noise, Stream};
use std::collections::BTreeMap;

/// Samples per voxel and axis.
const N: usize = 6;
/// Rician σ of the phantom's cine series.
const SIGMA: f64 = 25.0;
/// Signals ten minutes after gadolinium with normal myocardium nulled.
const REMOTE: f64 = 40.0;
const SCAR: f64 = 600.0;
const BLOOD: f64 = 350.0;
const TISSUE: f64 = 100.0;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Scar {
    None,
    Transmural,
    Subendocardial,
}

/// An LGE image with its masks and truth.
struct Scene {
    image: Volume<f32>,
    /// A reader's myocardium: fraction ≥ ½ and blood-pool fraction < ¼.
    myocardium: Volume<f32>,
    /// The phantom's kind of mask: myocardial fraction ≥ ½.
    myocardium_half: Volume<f32>,
    /// Wholly myocardial voxels in a ball on the side opposite the scar.
    remote: Volume<f32>,
    /// Each voxel's scar fraction.
    scar: Array3<f32>,
    scar_ml: f64,
    myocardium_ml: f64,
}

fn scene(seed: u64, subject: usize, scar: Scar) -> Scene {
    let c = cine(seed, subject);
    let shapes = c.scenes[c.truth.ed_position - 1].shapes();
    let shape = |label: u8| -> Ellipsoid {
        shapes
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, e)| (*e).clone())
            .expect("shape")
    };
    let (epi, cavity, rv) = (shape(MYOCARDIUM), shape(LV_BLOOD), shape(RV_BLOOD));
    assert!(shapes.iter().any(|(l, _)| *l == CHEST));
    let wall = epi.semi_axes_mm[0] - cavity.semi_axes_mm[0];
    // The scar on the side of the second short axis, the remote region opposite.
    let side = cavity.axes[1];
    let at = |sign: f64| {
        let d = sign * (cavity.semi_axes_mm[0] + wall / 2.0);
        [0, 1, 2].map(|i| cavity.centre_mm[i] + d * side[i])
    };
    let ball = Ellipsoid::sphere(at(1.0), 20.0);
    let remote_ball = Ellipsoid::sphere(at(-1.0), 25.0);
    let mut inner = cavity.clone();
    inner.semi_axes_mm = cavity.semi_axes_mm.map(|a| a + wall / 2.0);
    // (signal, myocardium, scar, blood pool)
    let tissue = |p: [f64; 3]| -> (f64, bool, bool, bool) {
        if !epi.contains(p) {
            let blood = rv.contains(p);
            (if blood { BLOOD } else { TISSUE }, false, false, blood)
        } else if cavity.contains(p) {
            (BLOOD, false, false, true)
        } else {
            let scarred = match scar {
                Scar::None => false,
                Scar::Transmural => ball.contains(p),
                Scar::Subendocardial => ball.contains(p) && inner.contains(p),
            };
            (if scarred { SCAR } else { REMOTE }, true, scarred, false)
        }
    };
    let g = &c.grid;
    let dims = g.dims;
    let shape3 = (dims[0], dims[1], dims[2]);
    let mut signal = Array3::<f64>::zeros(shape3);
    let (mut myo, mut scarred) = (Array3::<f32>::zeros(shape3), Array3::<f32>::zeros(shape3));
    let mut blood = Array3::<f32>::zeros(shape3);
    let offset = |s: usize| (s as f64 + 0.5) / N as f64 - 0.5;
    let per = (N * N * N) as f64;
    for ((i, j, k), v) in signal.indexed_iter_mut() {
        let centre = g.to_patient([i as f64, j as f64, k as f64]);
        if epi.radius_at(centre) > 1.5 && rv.radius_at(centre) > 1.5 {
            *v = TISSUE;
            continue;
        }
        let (mut sum, mut m, mut s, mut pool) = (0.0, 0.0, 0.0, 0.0);
        for a in 0..N {
            for b in 0..N {
                for d in 0..N {
                    let p = g.to_patient([
                        i as f64 + offset(a),
                        j as f64 + offset(b),
                        k as f64 + offset(d),
                    ]);
                    let (value, in_myo, in_scar, in_blood) = tissue(p);
                    sum += value;
                    m += f64::from(u8::from(in_myo));
                    s += f64::from(u8::from(in_scar));
                    pool += f64::from(u8::from(in_blood));
                }
            }
        }
        *v = sum / per;
        myo[[i, j, k]] = (m / per) as f32;
        scarred[[i, j, k]] = (s / per) as f32;
        blood[[i, j, k]] = (pool / per) as f32;
    }
    let mut rng = Stream::new(seed, &format!("lge-test/{subject}/{scar:?}/noise"));
    let noise = Noise::Rician { sigma: SIGMA };
    let mut image = Array3::<f32>::zeros(shape3);
    // Drawn in one fixed order so that the image does not depend on the array's layout.
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                image[[i, j, k]] = noise.apply(signal[[i, j, k]], &mut rng) as f32;
            }
        }
    }
    let mut remote = Array3::<f32>::zeros(shape3);
    for ((i, j, k), r) in remote.indexed_iter_mut() {
        let p = g.to_patient([i as f64, j as f64, k as f64]);
        *r = f32::from(u8::from(myo[[i, j, k]] >= 1.0 && remote_ball.contains(p)));
    }
    let voxel_ml = g.voxel_volume() / 1000.0;
    Scene {
        image: volume(image, g),
        myocardium: volume(
            Zip::from(&myo)
                .and(&blood)
                .map_collect(|m, b| f32::from(u8::from(*m >= 0.5 && *b < 0.25))),
            g,
        ),
        myocardium_half: volume(myo.mapv(|f| f32::from(u8::from(f >= 0.5))), g),
        remote: volume(remote, g),
        scar_ml: scarred.iter().map(|f| f64::from(*f)).sum::<f64>() * voxel_ml,
        myocardium_ml: c.truth.lv_myocardium_mm3 / 1000.0,
        scar: scarred,
    }
}

fn run(inputs: Vec<(&str, Volume<f32>)>, params: &[(&str, &str)]) -> Result<Outputs, AlgoError> {
    let inputs: Inputs = inputs.into_iter().map(|(r, v)| (r.to_owned(), v)).collect();
    let given: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    crate::run(&Lge, &inputs, &given).map(|(_, o)| o)
}

fn with_remote(s: &Scene) -> Vec<(&'static str, Volume<f32>)> {
    vec![
        ("lge", s.image.clone()),
        ("myocardium", s.myocardium.clone()),
        ("remote", s.remote.clone()),
    ]
}

fn input_error(r: Result<Outputs, AlgoError>) -> (String, String) {
    match r {
        Err(AlgoError::Input { role, why }) => (role, why),
        other => panic!("expected an input error, got {other:?}"),
    }
}

/// LGE % of the myocardium against truth, by method and n, with a reader's myocardium mask and
/// with the phantom's (the errors printed are those of docs/algorithms/cardiac.lge.md).
#[test]
fn measures_a_known_scar_as_a_percentage_of_the_myocardium() {
    let mut worst = [0.0f64; 4];
    for (seed, subject) in [(1, 0), (1, 1), (2, 0)] {
        for kind in [Scar::Transmural, Scar::Subendocardial] {
            let s = scene(seed, subject, kind);
            let truth = 100.0 * s.scar_ml / s.myocardium_ml;
            for (mask, m) in [("reader", &s.myocardium), ("half", &s.myocardium_half)] {
                let mut line = format!(
                    "seed {seed} subject {subject} {kind:?} {mask} mask: scar {:.2} mL = {truth:.2} % of {:.1} mL; errors in points:",
                    s.scar_ml, s.myocardium_ml
                );
                let mut errors = Vec::new();
                for n in ["2", "3", "4", "5", "6"] {
                    let inputs = vec![
                        ("lge", s.image.clone()),
                        ("myocardium", m.clone()),
                        ("remote", s.remote.clone()),
                    ];
                    let o = run(inputs, &[("n-sd", n)]).unwrap();
                    let e = value(&o, "lge-percent-nsd") - truth;
                    line.push_str(&format!(" {n}SD {e:+.2}"));
                    if n == "5" {
                        let fwhm = value(&o, "lge-percent-fwhm") - truth;
                        line.push_str(&format!(" FWHM {fwhm:+.2}"));
                        errors = vec![e, fwhm];
                        let mass = value(&o, "lge-mass-fwhm");
                        assert!((mass - 1.05 * value(&o, "lge-volume-fwhm")).abs() < 1e-9);
                    }
                }
                eprintln!("{line}");
                let at = if mask == "reader" { 0 } else { 2 };
                for (w, e) in worst[at..at + 2].iter_mut().zip(errors) {
                    *w = w.max(e.abs());
                }
            }
        }
    }
    eprintln!(
        "largest |error| (points): reader mask 5 SD {:.2}, FWHM {:.2}; half mask 5 SD {:.2}, FWHM {:.2}",
        worst[0], worst[1], worst[2], worst[3]
    );
    assert!(worst[0] < 2.0 && worst[1] < 2.0, "{worst:?}");
    // The blood-pool rim of the half mask: the n-SD overstates by up to 6.5 points (measured).
    assert!(worst[2] < 8.0 && worst[3] < 2.0, "{worst:?}");
}

#[test]
fn more_standard_deviations_find_no_more_enhancement() {
    let s = scene(1, 0, Scar::Transmural);
    let mut last = f64::INFINITY;
    for n in ["2", "2.5", "3", "4", "5", "6"] {
        let v = value(
            &run(with_remote(&s), &[("n-sd", n)]).unwrap(),
            "lge-volume-nsd",
        );
        assert!(v <= last, "{n} SD: {v} mL after {last}");
        last = v;
    }
    assert!(last > 0.0);
}

#[test]
fn the_automatic_remote_region_avoids_the_scar_and_agrees_with_a_drawn_one() {
    let s = scene(1, 0, Scar::Transmural);
    let drawn = run(with_remote(&s), &[]).unwrap();
    let auto = run(
        vec![
            ("lge", s.image.clone()),
            ("myocardium", s.myocardium.clone()),
        ],
        &[("auto-remote", "true")],
    )
    .unwrap();
    let remote = &auto.images.iter().find(|(r, _)| r == "remote").unwrap().1;
    let on_scar = Zip::from(&remote.data)
        .and(&s.scar)
        .fold(0, |n, r, f| n + usize::from(*r > 0.5 && *f > 0.0));
    assert_eq!(on_scar, 0, "the automatic remote region holds scar");
    assert!(value(&auto, "remote-voxels") >= MIN_REMOTE_VOXELS as f64);
    for name in ["lge-percent-nsd", "lge-percent-fwhm"] {
        let (a, d) = (value(&auto, name), value(&drawn, name));
        eprintln!("{name}: automatic remote {a:.2} %, drawn {d:.2} %");
        assert!((a - d).abs() < 1.0, "{name}: {a} automatic, {d} drawn");
    }
}

#[test]
fn a_myocardium_without_scar_shows_little_enhancement_at_five_sd() {
    let s = scene(1, 1, Scar::None);
    let o = run(with_remote(&s), &[]).unwrap();
    let nsd = value(&o, "lge-percent-nsd");
    let half = run(
        vec![
            ("lge", s.image.clone()),
            ("myocardium", s.myocardium_half.clone()),
            ("remote", s.remote.clone()),
        ],
        &[],
    )
    .unwrap();
    let rim = value(&half, "lge-percent-nsd");
    eprintln!("no scar: reader mask 5 SD {nsd:.2} %; half mask 5 SD {rim:.2} %");
    assert!(nsd < 0.5, "{nsd} %");
    assert!(
        rim > nsd,
        "the blood-pool rim of a half mask reads as enhancement"
    );
    // A few noise voxels over 5 SD are no hyperenhanced region: no FWHM.
    for o in [&o, &half] {
        assert!(o.measurements.iter().all(|m| !m.name.ends_with("fwhm")));
    }
}

#[test]
fn refuses_no_remote_without_the_automatic_one() {
    let s = scene(1, 0, Scar::None);
    let (role, why) = input_error(run(
        vec![
            ("lge", s.image.clone()),
            ("myocardium", s.myocardium.clone()),
        ],
        &[],
    ));
    assert_eq!(role, "remote");
    assert!(why.contains("auto-remote=true"), "{why}");
}

#[test]
fn refuses_masks_off_the_image_grid_empty_or_outside_the_myocardium() {
    let s = scene(1, 0, Scar::None);
    let mut shifted = s.myocardium.clone();
    shifted.geometry.affine[(2, 3)] += 4.0;
    let (role, why) = input_error(run(
        vec![
            ("lge", s.image.clone()),
            ("myocardium", shifted),
            ("remote", s.remote.clone()),
        ],
        &[],
    ));
    assert_eq!(role, "myocardium");
    assert!(why.contains("one grid"), "{why}");

    let mut empty = s.myocardium.clone();
    empty.data.fill(0.0);
    let (role, why) = input_error(run(
        vec![
            ("lge", s.image.clone()),
            ("myocardium", empty),
            ("remote", s.remote.clone()),
        ],
        &[],
    ));
    assert_eq!(role, "myocardium");
    assert!(why.contains("empty"), "{why}");

    // A remote region drawn in the blood pool: none of it in the myocardium.
    let outside = volume(
        Zip::from(&s.myocardium.data)
            .and(&s.image.data)
            .map_collect(|m, v| f32::from(u8::from(*m == 0.0 && *v > 300.0))),
        &s.image.geometry,
    );
    let (role, why) = input_error(run(
        vec![
            ("lge", s.image.clone()),
            ("myocardium", s.myocardium.clone()),
            ("remote", outside),
        ],
        &[],
    ));
    assert_eq!(role, "remote");
    assert!(why.contains("inside the myocardium"), "{why}");

    let mut flat = s.image.clone();
    flat.data.fill(7.0);
    let (role, why) = input_error(run(
        vec![
            ("lge", flat),
            ("myocardium", s.myocardium.clone()),
            ("remote", s.remote.clone()),
        ],
        &[],
    ));
    assert_eq!(role, "lge");
    assert!(why.contains("constant"), "{why}");

    let too_many = run(with_remote(&s), &[("n-sd", "7")]);
    assert!(
        matches!(too_many, Err(AlgoError::Param { .. })),
        "{too_many:?}"
    );
}
