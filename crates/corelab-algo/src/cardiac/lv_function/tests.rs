use super::*;
use crate::cardiac::testing::{Cine, SUBSAMPLES, binary, cine, fraction, value, volume};
use crate::{AlgoError, Outputs};
use corelab_image::geometry::Geometry;
use corelab_image::phantom::cardiac::{LV_BLOOD, MYOCARDIUM};
use corelab_image::phantom::rasterise;
use std::collections::BTreeMap;

fn run(inputs: Vec<(&str, Volume<f32>)>, params: &[(&str, &str)]) -> Result<Outputs, AlgoError> {
    let inputs: Inputs = inputs.into_iter().map(|(r, v)| (r.to_owned(), v)).collect();
    let given: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    crate::run(&LvFunction, &inputs, &given).map(|(_, o)| o)
}

fn input_error(r: Result<Outputs, AlgoError>) -> (String, String) {
    match r {
        Err(AlgoError::Input { role, why }) => (role, why),
        other => panic!("expected an input error, got {other:?}"),
    }
}

/// ED and ES masks of a subject, binary (the phantom's truth masks) or as fractions.
fn ed_es(c: &Cine, partial_volume: bool) -> Vec<(&'static str, Volume<f32>)> {
    let (ed, es) = (
        c.at(c.truth.ed_position, &c.grid),
        c.at(c.truth.es_position, &c.grid),
    );
    let mask = if partial_volume { fraction } else { binary };
    vec![
        ("blood-pool-ed", mask(&ed, &[LV_BLOOD])),
        ("blood-pool-es", mask(&es, &[LV_BLOOD])),
        ("myocardium-ed", mask(&ed, &[MYOCARDIUM])),
        ("myocardium-es", mask(&es, &[MYOCARDIUM])),
    ]
}

/// The relative errors (%) of EDV, ESV and mass and the EF error (points) against truth.
fn errors(o: &Outputs, c: &Cine) -> [f64; 4] {
    let t = &c.truth;
    let rel = |measured: f64, truth: f64| 100.0 * (measured - truth) / truth;
    [
        rel(value(o, "edv"), t.lv_edv_mm3 / 1000.0),
        rel(value(o, "esv"), t.lv_esv_mm3 / 1000.0),
        value(o, "ef") - t.lv_ef_percent,
        rel(value(o, "lv-mass"), t.lv_mass_g),
    ]
}

/// Five subjects (seeds 1 and 2), their ED/ES truth masks and their partial-volume fractions:
/// EF within 2 points, volumes and mass within 5 % (docs/algorithms/cardiac.lv-function.md
/// lists the errors printed here).
#[test]
fn measures_the_phantoms_volumes_ejection_fraction_and_mass_within_tolerance() {
    for (seed, subject) in [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1)] {
        let c = cine(seed, subject);
        for partial_volume in [false, true] {
            let params: &[(&str, &str)] = if partial_volume {
                &[("mask-values", "fraction")]
            } else {
                &[]
            };
            let o = run(ed_es(&c, partial_volume), params).unwrap();
            let [edv, esv, ef, mass] = errors(&o, &c);
            eprintln!(
                "seed {seed} subject {subject} {}: EDV {:.1} mL ({edv:+.2} %), ESV {:.1} mL ({esv:+.2} %), EF {:.2} % ({ef:+.2} points), mass {:.1} g ({mass:+.2} %), ES mass {:.1} g, angle {:.1}°",
                if partial_volume {
                    "fractions"
                } else {
                    "binary"
                },
                value(&o, "edv"),
                value(&o, "esv"),
                value(&o, "ef"),
                value(&o, "lv-mass"),
                value(&o, "lv-mass-es"),
                value(&o, "long-axis-angle"),
            );
            assert!(ef.abs() < 2.0, "EF off by {ef} points");
            for (what, e) in [("EDV", edv), ("ESV", esv), ("mass", mass)] {
                assert!(e.abs() < 5.0, "{what} off by {e} %");
            }
            assert!(value(&o, "long-axis-angle") < 5.0);
            assert_eq!(value(&o, "slice-distance"), 8.0);
            let sv = value(&o, "sv");
            assert!((sv - (value(&o, "edv") - value(&o, "esv"))).abs() < 1e-9);
        }
    }
}

#[test]
fn finds_end_diastole_and_end_systole_among_every_temporal_position() {
    let c = cine(1, 0);
    let mut inputs = Vec::new();
    let names: Vec<(String, String)> = POSITION_ROLES[..c.scenes.len()].to_vec();
    let mut leaked: Vec<(&'static str, &'static str)> = Vec::new();
    for (b, m) in &names {
        // Roles as `&'static str` for the helper: a handful of bytes for the test's life.
        leaked.push((
            Box::leak(b.clone().into_boxed_str()),
            Box::leak(m.clone().into_boxed_str()),
        ));
    }
    for (t, (b, m)) in leaked.iter().enumerate() {
        let r = c.at(t + 1, &c.grid);
        inputs.push((*b, binary(&r, &[LV_BLOOD])));
        inputs.push((*m, binary(&r, &[MYOCARDIUM])));
    }
    let o = run(inputs, &[]).unwrap();
    assert_eq!(value(&o, "ed-position"), c.truth.ed_position as f64);
    assert_eq!(value(&o, "es-position"), c.truth.es_position as f64);
    let labelled = run(ed_es(&c, false), &[]).unwrap();
    for name in ["edv", "esv", "ef", "lv-mass", "lv-mass-es"] {
        assert_eq!(value(&o, name), value(&labelled, name), "{name}");
    }
    let curve = o.tables.iter().find(|t| t.name == "volume-curve").unwrap();
    assert_eq!(curve.rows.len(), c.truth.temporal_positions);
    for (row, truth) in curve.rows.iter().zip(&c.truth.positions) {
        let e = 100.0 * (row[1] - truth.lv_blood_mm3 / 1000.0) / (truth.lv_blood_mm3 / 1000.0);
        assert!(e.abs() < 5.0, "position {}: {e} %", row[0]);
    }

    // Without the myocardium at the ED found, the error names the role to give.
    let without: Vec<(&str, Volume<f32>)> = leaked
        .iter()
        .enumerate()
        .map(|(t, (b, _))| (*b, binary(&c.at(t + 1, &c.grid), &[LV_BLOOD])))
        .collect();
    let (role, why) = input_error(run(without, &[]));
    assert_eq!(role, "myocardium-t01");
    assert!(why.contains("temporal position 1"), "{why}");
}

#[test]
fn label_maps_measure_what_the_masks_measure() {
    let c = cine(1, 1);
    let label_map = |t: usize| {
        let r = c.at(t, &c.grid);
        let (b, m) = (r.mask(&[LV_BLOOD]), r.mask(&[MYOCARDIUM]));
        // ACDC's labels: 1 right ventricle, 2 myocardium, 3 left-ventricular cavity.
        let map = ndarray::Zip::from(&b)
            .and(&m)
            .map_collect(|b, m| match (*b, *m) {
                (1, _) => 3.0,
                (_, 1) => 2.0,
                _ => 0.0,
            });
        volume(map, &c.grid)
    };
    let (ed, es) = (
        label_map(c.truth.ed_position),
        label_map(c.truth.es_position),
    );
    let o = run(
        vec![("labels-ed", ed.clone()), ("labels-es", es.clone())],
        &[],
    )
    .unwrap();
    let masks = run(ed_es(&c, false), &[]).unwrap();
    for name in ["edv", "esv", "ef"] {
        assert_eq!(value(&o, name), value(&masks, name), "{name}");
    }
    // A voxel exactly half blood pool and half myocardium is in both truth masks, in one label.
    for name in ["lv-mass", "lv-mass-es"] {
        let (l, m) = (value(&o, name), value(&masks, name));
        assert!(
            l < m && l > 0.98 * m,
            "{name}: {l} from labels, {m} from masks"
        );
    }
    // Other labels by parameter: the phantom's own (4 blood pool, 3 myocardium).
    let relabel = |v: &Volume<f32>| {
        volume(
            v.data.mapv(|x| {
                if x == 3.0 {
                    4.0
                } else if x == 2.0 {
                    3.0
                } else {
                    x
                }
            }),
            &c.grid,
        )
    };
    let own = run(
        vec![("labels-ed", relabel(&ed)), ("labels-es", relabel(&es))],
        &[("blood-pool-label", "4"), ("myocardium-label", "3")],
    )
    .unwrap();
    assert_eq!(value(&own, "ef"), value(&o, "ef"));
    assert_eq!(value(&own, "lv-mass"), value(&o, "lv-mass"));
    let same = run(
        vec![("labels-ed", ed.clone()), ("labels-es", es)],
        &[("blood-pool-label", "2"), ("myocardium-label", "2")],
    );
    assert!(matches!(same, Err(AlgoError::Param { .. })), "{same:?}");
    let mut soft = ed.clone();
    soft.data[[0, 0, 0]] = 0.4;
    let (role, why) = input_error(run(vec![("labels-ed", soft), ("labels-es", ed)], &[]));
    assert_eq!(role, "labels-ed");
    assert!(why.contains("whole numbers"), "{why}");
}

/// A box-shaped ventricle on 1.5 mm × 1.5 mm × 10 mm voxels: the summation of discs exactly.
#[test]
fn sums_slice_areas_times_the_distance_between_slices() {
    let grid = Geometry::axis_aligned([20, 20, 9], [0.0; 3], [1.5, 1.5, 10.0]);
    // Slices 1 to 6 hold a square of side 2 × `half` pixels centred on (10, 10); a ring is the
    // square of `outer` less the one of `half`.
    let square = |half: usize, i: usize, j: usize, k: usize| {
        (1..7).contains(&k) && i + half >= 10 && i < 10 + half && j + half >= 10 && j < 10 + half
    };
    let boxed = |half: usize, ring: Option<usize>| {
        let mut a = Array3::<f32>::zeros((20, 20, 9));
        for ((i, j, k), v) in a.indexed_iter_mut() {
            let inside = match ring {
                None => square(half, i, j, k),
                Some(outer) => square(outer, i, j, k) && !square(half, i, j, k),
            };
            *v = f32::from(u8::from(inside));
        }
        volume(a, &grid)
    };
    let o = run(
        vec![
            ("blood-pool-ed", boxed(5, None)),
            ("blood-pool-es", boxed(3, None)),
            ("myocardium-ed", boxed(5, Some(7))),
        ],
        &[],
    )
    .unwrap();
    // 100, 36 and 196 − 100 pixels of 2.25 mm² on 6 slices 10 mm apart.
    let close = |name: &str, want: f64| {
        let got = value(&o, name);
        assert!((got - want).abs() < 1e-9, "{name}: {got}, want {want}");
    };
    close("edv", 13.5);
    close("esv", 4.86);
    close("sv", 8.64);
    close("ef", 64.0);
    close("myocardium-volume-ed", 12.96);
    close("lv-mass", 12.96 * 1.05);
    close("slices-ed", 6.0);
    close("slice-distance", 10.0);
    let slices = &o.tables[0];
    assert_eq!(slices.rows[3], vec![3.0, 225.0, 81.0, 216.0]);
    assert_eq!(slices.rows[0], vec![0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn refuses_masks_on_different_grids() {
    let c = cine(1, 0);
    let mut inputs = ed_es(&c, false);
    let shifted = &mut inputs[1].1.geometry.affine;
    shifted[(0, 3)] += 2.0;
    let (role, why) = input_error(run(inputs, &[]));
    assert_eq!(role, "blood-pool-es");
    assert!(
        why.contains("one grid") && why.contains("2.000 mm"),
        "{why}"
    );

    let mut inputs = ed_es(&c, false);
    let coarse = Geometry::axis_aligned([10, 10, 4], [0.0; 3], [2.0, 2.0, 8.0]);
    inputs[2].1 = volume(Array3::ones((10, 10, 4)), &coarse);
    let (role, why) = input_error(run(inputs, &[]));
    assert_eq!(role, "myocardium-ed");
    assert!(why.contains("[10, 10, 4] voxels"), "{why}");
}

#[test]
fn refuses_an_empty_mask() {
    let c = cine(1, 0);
    let mut inputs = ed_es(&c, false);
    inputs[1].1.data.fill(0.0);
    let (role, why) = input_error(run(inputs, &[]));
    assert_eq!(role, "blood-pool-es");
    assert!(why.contains("empty"), "{why}");
}

#[test]
fn refuses_end_systole_larger_than_end_diastole() {
    let c = cine(1, 0);
    let mut inputs = ed_es(&c, false);
    inputs.truncate(3);
    let (ed, es) = (inputs[0].1.clone(), inputs[1].1.clone());
    inputs[0].1 = es;
    inputs[1].1 = ed;
    // The ED myocardium then surrounds the swapped ED pool with a gap, so only the volumes
    // tell; the error says which role holds the larger.
    inputs[2].1 = binary(&c.at(c.truth.es_position, &c.grid), &[MYOCARDIUM]);
    let (role, why) = input_error(run(inputs, &[]));
    assert_eq!(role, "blood-pool-es");
    assert!(why.contains("swapped"), "{why}");
}

#[test]
fn refuses_a_myocardium_drawn_at_another_phase() {
    let c = cine(1, 0);
    let mut inputs = ed_es(&c, false);
    inputs.truncate(3);
    inputs[2].1 = binary(&c.at(c.truth.es_position, &c.grid), &[MYOCARDIUM]);
    let (role, why) = input_error(run(inputs, &[]));
    assert_eq!(role, "myocardium-ed");
    assert!(why.contains("different phases"), "{why}");
}

#[test]
fn refuses_a_single_slice() {
    let c = cine(1, 0);
    let k = c.grid.dims[2] / 2;
    let one: Vec<(&str, Volume<f32>)> = ed_es(&c, false)
        .into_iter()
        .map(|(role, v)| {
            let mut g = v.geometry.clone();
            g.dims[2] = 1;
            let origin = v.geometry.to_patient([0.0, 0.0, k as f64]);
            for (r, o) in origin.iter().enumerate() {
                g.affine[(r, 3)] = *o;
            }
            let slice = v.data.slice(ndarray::s![.., .., k..k + 1]).to_owned();
            (role, volume(slice, &g))
        })
        .collect();
    let (role, why) = input_error(run(one, &[]));
    assert_eq!(role, "blood-pool-ed");
    assert!(why.contains("single slice"), "{why}");
}

/// The phantom's stack covers the ventricle from base to apex; the same masks without the last
/// slice holding ED blood pool and those after it (the apex cut off) say so, and measure less.
#[test]
fn says_when_the_stack_cuts_off_the_ventricle() {
    let c = cine(1, 0);
    let whole = run(ed_es(&c, false), &[]).unwrap();
    assert_eq!(value(&whole, "coverage"), 1.0);
    // The slices holding ED blood pool, and a stack ending before the last of them.
    let masks = ed_es(&c, false);
    let blood = &masks[0].1.data;
    let ventricle_slices: Vec<usize> = (0..c.grid.dims[2])
        .filter(|k| {
            blood
                .index_axis(ndarray::Axis(2), *k)
                .iter()
                .any(|x| *x > 0.0)
        })
        .collect();
    let (first, last) = (ventricle_slices[0], *ventricle_slices.last().unwrap());
    assert!(
        first > 0 && last + 1 < c.grid.dims[2],
        "{ventricle_slices:?}"
    );
    let cut: Vec<(&str, Volume<f32>)> = masks
        .into_iter()
        .map(|(role, v)| {
            let mut g = v.geometry.clone();
            g.dims[2] = last;
            let slice = v.data.slice(ndarray::s![.., .., 0..last]).to_owned();
            (role, volume(slice, &g))
        })
        .collect();
    let o = run(cut, &[]).unwrap();
    assert_eq!(value(&o, "coverage"), 0.0);
    assert!(value(&o, "edv") < value(&whole, "edv"));
}

/// A grid centred on the phantom's, with `directions`, `dims` and 2 mm × 2 mm × 8 mm voxels.
fn grid_through(c: &Cine, directions: [[f64; 3]; 3], dims: [usize; 3]) -> Geometry {
    let centre = c
        .grid
        .to_patient([0, 1, 2].map(|a| (c.grid.dims[a] as f64 - 1.0) / 2.0));
    let spacing = [2.0, 2.0, 8.0];
    let mut origin = centre;
    for a in 0..3 {
        for (o, d) in origin.iter_mut().zip(directions[a]) {
            *o -= (dims[a] as f64 - 1.0) / 2.0 * spacing[a] * d;
        }
    }
    Geometry::new(dims, origin, directions, spacing).unwrap()
}

/// A short-axis stack planned 20° off the long axis still measures within tolerance, and says
/// by how much it is tilted.
#[test]
fn measures_a_tilted_short_axis_stack_and_its_tilt() {
    let c = cine(1, 0);
    let [first, second, long] = c.grid.directions();
    let (s, co) = 20f64.to_radians().sin_cos();
    let turn =
        |a: [f64; 3], b: [f64; 3], sa: f64, sb: f64| [0, 1, 2].map(|i| sa * a[i] + sb * b[i]);
    let directions = [first, turn(second, long, co, s), turn(second, long, -s, co)];
    let dims = [c.grid.dims[0], c.grid.dims[1], c.grid.dims[2] + 4];
    let grid = grid_through(&c, directions, dims);
    let (ed, es) = (
        rasterise(&c.scenes[0], &grid, SUBSAMPLES),
        rasterise(&c.scenes[c.truth.es_position - 1], &grid, SUBSAMPLES),
    );
    let inputs = vec![
        ("blood-pool-ed", binary(&ed, &[LV_BLOOD])),
        ("blood-pool-es", binary(&es, &[LV_BLOOD])),
        ("myocardium-ed", binary(&ed, &[MYOCARDIUM])),
    ];
    let o = run(inputs, &[]).unwrap();
    let [edv, esv, ef, mass] = errors(&o, &c);
    let angle = value(&o, "long-axis-angle");
    eprintln!(
        "tilted 20°: angle {angle:.1}°, EDV {edv:+.2} %, ESV {esv:+.2} %, EF {ef:+.2} points, mass {mass:+.2} %"
    );
    assert!((angle - 20.0).abs() < 2.0, "{angle}°");
    assert!(ef.abs() < 2.0, "EF off by {ef} points");
    for (what, e) in [("EDV", edv), ("ESV", esv), ("mass", mass)] {
        assert!(e.abs() < 5.0, "{what} off by {e} %");
    }
}

/// The same heart imaged by a stack whose slices contain its long axis (a long-axis stack).
#[test]
fn refuses_a_stack_that_is_not_short_axis() {
    let c = cine(1, 0);
    let [first, second, long] = c.grid.directions();
    let grid = grid_through(&c, [long, second, first], [60, 100, 14]);
    let (ed, es) = (
        rasterise(&c.scenes[0], &grid, SUBSAMPLES),
        rasterise(&c.scenes[c.truth.es_position - 1], &grid, SUBSAMPLES),
    );
    let inputs = vec![
        ("blood-pool-ed", binary(&ed, &[LV_BLOOD])),
        ("blood-pool-es", binary(&es, &[LV_BLOOD])),
        ("myocardium-ed", binary(&ed, &[MYOCARDIUM])),
    ];
    let (role, why) = input_error(run(inputs, &[]));
    assert!(why.contains("not a short-axis stack"), "{why}");
    assert_eq!(role, "blood-pool-ed");
}

#[test]
fn says_what_is_missing_or_mixed() {
    let c = cine(1, 0);
    let inputs = ed_es(&c, false);
    let (role, why) = input_error(run(inputs[..2].to_vec(), &[]));
    assert_eq!(role, "myocardium-ed");
    assert!(why.contains("mass"), "{why}");

    let (role, _) = input_error(run(vec![inputs[0].clone(), inputs[2].clone()], &[]));
    assert_eq!(role, "blood-pool-es");

    let mixed = vec![inputs[0].clone(), ("blood-pool-t02", inputs[1].1.clone())];
    let (role, why) = input_error(run(mixed, &[]));
    assert_eq!(role, "blood-pool-t02");
    assert!(why.contains("cannot be mixed"), "{why}");

    let gap = vec![
        ("blood-pool-t01", inputs[0].1.clone()),
        ("blood-pool-t03", inputs[1].1.clone()),
    ];
    let (role, why) = input_error(run(gap, &[]));
    assert_eq!(role, "blood-pool-t02");
    assert!(why.contains("every position from 1 to 3"), "{why}");

    let both = vec![
        inputs[0].clone(),
        ("labels-ed", inputs[0].1.clone()),
        inputs[1].clone(),
        inputs[2].clone(),
    ];
    let (role, why) = input_error(run(both, &[]));
    assert_eq!(role, "blood-pool-ed");
    assert!(why.contains("one or the other"), "{why}");

    let mut hot = inputs[0].1.clone();
    hot.data[[0, 0, 0]] = 2.0;
    let (role, why) = input_error(run(
        vec![("blood-pool-ed", hot), inputs[1].clone(), inputs[2].clone()],
        &[("mask-values", "fraction")],
    ));
    assert_eq!(role, "blood-pool-ed");
    assert!(why.contains("not a fraction"), "{why}");

    let (role, _) = input_error(run(Vec::new(), &[]));
    assert_eq!(role, "blood-pool-ed");

    let flat = vec![
        ("blood-pool-t01", inputs[0].1.clone()),
        ("blood-pool-t02", inputs[0].1.clone()),
        ("myocardium-t01", inputs[2].1.clone()),
    ];
    let (role, why) = input_error(run(flat, &[]));
    assert_eq!(role, "blood-pool-t01");
    assert!(why.contains("no contraction"), "{why}");
}

/// A slice left without a contour inside the stack (the reader skipped it) would count as an
/// empty disc: refused, naming the mask and the slice.
#[test]
fn refuses_a_mask_with_a_slice_missing_inside_it() {
    let c = cine(1, 0);
    for (n, role) in [
        (0, "blood-pool-ed"),
        (1, "blood-pool-es"),
        (2, "myocardium-ed"),
    ] {
        let mut inputs = ed_es(&c, false);
        let drawn: Vec<usize> = (0..c.grid.dims[2])
            .filter(|k| {
                inputs[n]
                    .1
                    .data
                    .index_axis(ndarray::Axis(2), *k)
                    .iter()
                    .any(|x| *x > 0.0)
            })
            .collect();
        let k = drawn[drawn.len() / 2];
        inputs[n]
            .1
            .data
            .index_axis_mut(ndarray::Axis(2), k)
            .fill(0.0);
        let (got, why) = input_error(run(inputs, &[]));
        assert_eq!(got, role);
        assert!(
            why.contains(&format!("slice {k} (from 0) is empty")),
            "{why}"
        );
    }
}
