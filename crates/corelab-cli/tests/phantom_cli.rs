//! `corelab phantom KIND --out DIR`: DICOM series that read back with the geometry, volumes,
//! intensities and SUVs truth.json states, the same bytes for the same seed, and clear errors.

mod common;

use common::corelab;
use corelab_dicom::series::{Instance, volumes};
use corelab_image::Volume;
use dicom_dictionary_std::tags;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Runs `corelab phantom` into `out` and returns truth.json.
fn phantom(out: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "phantom"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let r = corelab(out.parent().unwrap(), &all);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary = common::json(&r);
    let truth: Value =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(summary["kind"], truth["kind"]);
    truth
}

/// The instances of a series folder, in file order.
fn instances(dir: &Path) -> Vec<Instance> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| Instance::from_path(f).unwrap())
        .collect()
}

fn text(i: &Instance, tag: dicom_core::Tag) -> String {
    corelab_dicom::values::text(&i.object, tag).unwrap_or_default()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Every series of the phantom read back and held to its truth: geometry, instance count,
/// mask sums and volumes, partial-volume sums near the analytic volumes, and the image's mean
/// in each mask equal to the noise-free mean within the noise. Returns the series' volumes by
/// path.
fn check_all(out: &Path, truth: &Value) -> Vec<(String, Instance, Volume<f32>)> {
    let mut read = Vec::new();
    for subject in truth["subjects"].as_array().unwrap() {
        for visit in subject["visits"].as_array().unwrap() {
            for s in visit["series"].as_array().unwrap() {
                let path = s["path"].as_str().unwrap();
                let inst = instances(&out.join(path));
                assert_eq!(
                    inst.len() as u64,
                    s["instances"].as_u64().unwrap(),
                    "{path}"
                );
                let uid = text(&inst[0], tags::SERIES_INSTANCE_UID);
                assert_eq!(uid, s["series_instance_uid"].as_str().unwrap());
                assert_eq!(
                    text(&inst[0], tags::MODALITY),
                    s["modality"].as_str().unwrap()
                );
                // A cine series is one volume per temporal position.
                let mut v = volumes(&inst).unwrap();
                let positions = s["times_ms"].as_array().map_or(1, Vec::len);
                assert_eq!(v.len(), positions, "{path}");
                check_series(out, s, &v);
                let first = inst.into_iter().next().unwrap();
                read.push((path.to_owned(), first, v.remove(0)));
            }
        }
    }
    read
}

fn check_series(out: &Path, s: &Value, positions: &[Volume<f32>]) {
    let path = s["path"].as_str().unwrap();
    let v = &positions[0];
    let dims: Vec<usize> = s["dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(v.geometry.dims.to_vec(), dims, "{path}");
    for r in 0..4 {
        for c in 0..4 {
            let expected = num(&s["affine_lps"][r][c]);
            assert!(
                (v.geometry.affine[(r, c)] - expected).abs() < 1e-4,
                "{path}: affine {} vs truth {}",
                v.geometry.affine,
                s["affine_lps"]
            );
        }
    }
    let voxel = v.geometry.voxel_volume();
    for st in s["structures"].as_array().unwrap() {
        let name = st["name"].as_str().unwrap();
        let v = &positions[st["phase"].as_u64().map_or(0, |p| p as usize - 1)];
        let mask =
            corelab_image::nifti_io::read(&out.join(st["mask_file"].as_str().unwrap())).unwrap();
        assert_eq!(mask.geometry.dims, v.geometry.dims, "{path} {name}");
        for r in 0..4 {
            for c in 0..4 {
                assert!((mask.geometry.affine[(r, c)] - v.geometry.affine[(r, c)]).abs() < 1e-4);
            }
        }
        // Truth volumes are the mask sums.
        let values: Vec<f64> = mask
            .data
            .iter()
            .zip(v.data.iter())
            .filter(|(m, _)| **m > 0.5)
            .map(|(_, x)| f64::from(*x))
            .collect();
        let n = values.len() as f64;
        assert_eq!(
            n as u64,
            st["mask_voxels"].as_u64().unwrap(),
            "{path} {name}"
        );
        assert!(
            (num(&st["mask_volume_mm3"]) - n * voxel).abs() < 1e-6 * n * voxel + 1e-9,
            "{path} {name}"
        );
        let pv = num(&st["pv_volume_mm3"]);
        // 4³ samples per voxel: within 0.5 % and a quarter of a voxel (docs/phantoms.md).
        if let Some(exact) = st["analytic_volume_mm3"].as_f64() {
            assert!(
                (pv - exact).abs() < 0.005 * exact + 0.25 * voxel,
                "{path} {name}: pv {pv} vs analytic {exact}"
            );
        }
        // Intensities: the mean in the mask is the noise-free mean within the noise.
        let Some(expected) = st["mask_mean_noise_free"].as_f64() else {
            assert_eq!(n, 0.0);
            continue;
        };
        let mean = values.iter().sum::<f64>() / n;
        let noise = &s["noise"];
        // Rician noise on little or no signal (the QC background) is Rayleigh-like: its mean is
        // not the signal's; the QC test checks it against the stated Rayleigh values instead.
        if noise["model"] == "rician" && expected < 3.0 * num(&noise["sigma"]) {
            continue;
        }
        let (sigma, extra) = match noise["model"].as_str().unwrap() {
            "rician" => {
                let sigma = num(&noise["sigma"]);
                (sigma, sigma * sigma / expected)
            }
            "gaussian" => (num(&noise["sigma"]), 0.0),
            "proportional" => (num(&noise["cov"]) * expected, 0.0),
            other => panic!("noise model {other}"),
        };
        // Values are stored as int16 steps of the rescale slope: half a step at most.
        let step = text_slope(out, path);
        assert!(
            (mean - expected).abs() <= 4.0 * sigma / n.sqrt() + extra + step / 2.0,
            "{path} {name}: mean {mean} vs noise-free {expected} (σ {sigma}, n {n})"
        );
    }
}

fn text_slope(out: &Path, path: &str) -> f64 {
    let first = Instance::from_path(&out.join(path).join("0001.dcm")).unwrap();
    text(&first, tags::RESCALE_SLOPE).parse().unwrap()
}

fn structure<'a>(series: &'a Value, name: &str) -> &'a Value {
    series["structures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no structure {name}"))
}

#[test]
fn brain_phantom_reads_back_with_its_geometry_volumes_intensities_and_atrophy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("brain");
    let truth = phantom(
        &out,
        &[
            "brain",
            "--subjects",
            "1",
            "--atrophy",
            "1.5",
            "--seed",
            "3",
        ],
    );
    let read = check_all(&out, &truth);
    assert_eq!(read.len(), 4, "T1w and FLAIR at two visits");
    let visits = truth["subjects"][0]["visits"].as_array().unwrap();
    let pbvc = num(&visits[1]["brain"]["percent_brain_volume_change"]);
    assert!((pbvc + 1.5).abs() < 1e-9, "{pbvc}");
    // Site S01's scanner: a sagittal MPRAGE at 3 T and an axial FLAIR.
    let (path, t1, vol) = &read[0];
    assert!(path.ends_with("V1/T1w"));
    assert_eq!(text(t1, tags::SERIES_DESCRIPTION), "T1 MPRAGE SAG");
    assert_eq!(text(t1, tags::MANUFACTURER), "SIEMENS");
    assert_eq!(text(t1, tags::MAGNETIC_FIELD_STRENGTH), "3");
    assert_eq!(text(t1, tags::INVERSION_TIME), "900");
    assert_eq!(
        text(t1, tags::IMAGE_ORIENTATION_PATIENT),
        "0\\1\\0\\0\\0\\-1"
    );
    assert_eq!(vol.geometry.spacing(), [2.0, 2.0, 2.0]);
    let (_, flair, vol) = &read[1];
    assert_eq!(
        text(flair, tags::IMAGE_ORIENTATION_PATIENT),
        "1\\0\\0\\0\\1\\0"
    );
    assert_eq!(text(flair, tags::REPETITION_TIME), "9000");
    assert_eq!(vol.geometry.spacing(), [2.0, 2.0, 4.0]);
    // Tissue contrast as documented: T1 white matter brighter than grey, CSF darkest.
    let s = &visits[0]["series"][0];
    let mean = |n| num(&structure(s, n)["mask_mean_noise_free"]);
    assert!(mean("wm") > mean("gm") && mean("gm") > mean("csf"));
    // The same subject's brain shrank between the visits by the pv and mask measures too.
    let brain = |v: usize| num(&structure(&visits[v]["series"][0], "brain")["pv_volume_mm3"]);
    let change = 100.0 * (brain(1) - brain(0)) / brain(0);
    assert!((change + 1.5).abs() < 0.15, "{change}");
}

#[test]
fn ct_tumor_phantom_gives_lesion_diameters_volumes_and_recist_over_three_visits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ct");
    let truth = phantom(&out, &["ct-tumor", "--subjects", "1"]);
    let read = check_all(&out, &truth);
    assert_eq!(read.len(), 3);
    let (_, ct, vol) = &read[0];
    assert_eq!(text(ct, tags::RESCALE_INTERCEPT), "-1024");
    assert_eq!(text(ct, tags::RESCALE_SLOPE), "1");
    assert_eq!(text(ct, tags::CONVOLUTION_KERNEL), "Br40d");
    assert_eq!(text(ct, tags::KVP), "120");
    assert_eq!(vol.geometry.spacing(), [2.0, 2.0, 2.5]);
    let visits = truth["subjects"][0]["visits"].as_array().unwrap();
    let responses: Vec<&str> = visits
        .iter()
        .map(|v| v["recist"]["response"].as_str().unwrap())
        .collect();
    assert_eq!(responses[0], "baseline");
    assert_eq!(responses[2], "PD", "a new lesion at week 16");
    for visit in visits {
        let series = &visit["series"][0];
        let mut sum = 0.0;
        for lesion in visit["lesions"].as_array().unwrap() {
            let id = lesion["id"].as_str().unwrap();
            let st = structure(series, id);
            // The mask's diameters are those of the mask file, and near the exact ones.
            let mask = corelab_image::nifti_io::read(&out.join(st["mask_file"].as_str().unwrap()))
                .unwrap();
            let d = corelab_image::diameters::largest_in_plane(
                &mask.data.mapv(|m| m > 0.5),
                &mask.geometry,
            )
            .unwrap();
            let stated = num(&st["mask_long_axis_mm"]);
            assert!(
                (d.long_mm - stated).abs() < 1e-6 * stated,
                "{id}: {} vs {stated}",
                d.long_mm
            );
            let long = num(&lesion["long_axis_mm"]);
            assert!(
                (d.long_mm - long).abs() <= 2.0,
                "{id}: mask long axis {} vs exact {long}",
                d.long_mm
            );
            let short = num(&lesion["short_axis_mm"]);
            assert!(
                (d.short_mm - short).abs() <= 2.0,
                "{id}: mask short axis {} vs exact {short}",
                d.short_mm
            );
            assert_eq!(
                num(&lesion["analytic_volume_mm3"]),
                num(&st["analytic_volume_mm3"])
            );
            if lesion["target"] == true {
                sum += if lesion["kind"] == "lymph node" {
                    num(&lesion["short_axis_mm"])
                } else {
                    long
                };
            }
        }
        assert!((sum - num(&visit["recist"]["sum_of_diameters_mm"])).abs() < 1e-9);
    }
}

#[test]
fn pet_phantom_headers_give_back_the_truth_suvs_through_pet_header_and_suv_factors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pet");
    let truth = phantom(&out, &["pet", "--subjects", "2", "--seed", "4"]);
    let read = check_all(&out, &truth);
    assert_eq!(read.len(), 2);
    let mut manufacturers = Vec::new();
    for ((_, first, vol), subject) in read.iter().zip(truth["subjects"].as_array().unwrap()) {
        manufacturers.push(text(first, tags::MANUFACTURER));
        assert_eq!(text(first, tags::UNITS), "BQML");
        assert_eq!(text(first, tags::DECAY_CORRECTION), "START");
        let t = &subject["visits"][0]["pet"];
        let header = corelab_dicom::pet::pet_header(&first.object);
        assert_eq!(header.dose_bq, Some(num(&t["dose_bq"])));
        assert_eq!(header.half_life_s, Some(num(&t["half_life_s"])));
        assert_eq!(header.weight_kg, Some(num(&t["weight_kg"])));
        let f = corelab_image::suv::factors(&[header]).unwrap();
        assert_eq!(f.decay_seconds, num(&t["uptake_s"]));
        let lbm = f.lbm_janmahasatian.unwrap();
        let series = &subject["visits"][0]["series"][0];
        for region in t["regions"].as_array().unwrap() {
            let a = num(&region["activity_bqml"]);
            let (bw, lean) = (num(&region["suv_bw"]), num(&region["suv_lbm"]));
            assert!(((a * f.bw - bw) / bw).abs() < 1e-3, "{region}");
            assert!(((a * lbm - lean) / lean).abs() < 1e-3, "{region}");
            // And the image: the liver's mean in its mask, as SUV, is 2.2 within the noise
            // (its mask reaches the partial-volume edge only where a voxel is half liver).
            if region["name"] == "liver" {
                let st = structure(series, "liver");
                let mask =
                    corelab_image::nifti_io::read(&out.join(st["mask_file"].as_str().unwrap()))
                        .unwrap();
                let (mut n, mut sum) = (0.0, 0.0);
                for (m, x) in mask.data.iter().zip(vol.data.iter()) {
                    if *m > 0.5 {
                        n += 1.0;
                        sum += f64::from(*x);
                    }
                }
                let suv = sum / n * f.bw;
                assert!((suv - 2.2).abs() < 0.05, "liver SUVbw {suv}");
            }
        }
    }
    assert_eq!(manufacturers, ["SIEMENS", "GE MEDICAL SYSTEMS"]);
}

#[test]
fn ms_lesions_phantom_has_new_and_enlarging_lesions_at_follow_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ms");
    let truth = phantom(&out, &["ms-lesions", "--subjects", "1", "--seed", "9"]);
    check_all(&out, &truth);
    let visits = truth["subjects"][0]["visits"].as_array().unwrap();
    let (b0, b1) = (&visits[0]["brain"], &visits[1]["brain"]);
    let count = |v: &Value| v["lesions"].as_array().unwrap().len() as u64;
    assert_eq!(b0["lesion_count"].as_u64(), Some(count(&visits[0])));
    assert_eq!(b1["lesion_count"].as_u64(), Some(count(&visits[1])));
    let new = b1["new_lesions"].as_u64().unwrap();
    assert!((2..=3).contains(&new));
    assert_eq!(count(&visits[1]), count(&visits[0]) + new);
    assert_eq!(b1["enlarging_lesions"].as_u64(), Some(2));
    // On FLAIR the lesions are brighter than white matter.
    let flair = &visits[1]["series"][1];
    assert_eq!(flair["series"], "FLAIR");
    let mean = |n| num(&structure(flair, n)["mask_mean_noise_free"]);
    assert!(mean("lesions") > mean("wm"));
    let total: f64 = visits[1]["lesions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| num(&l["analytic_volume_mm3"]))
        .sum();
    assert!((total - num(&b1["lesion_volume_mm3"])).abs() < 1e-6);
}

#[test]
fn cardiac_phantom_is_a_cine_stack_whose_phases_give_the_stated_volumes_and_ejection_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cardiac");
    let truth = phantom(&out, &["cardiac", "--subjects", "1", "--seed", "2"]);
    check_all(&out, &truth);
    let visit = &truth["subjects"][0]["visits"][0];
    let c = &visit["cardiac"];
    let positions = c["temporal_positions"].as_u64().unwrap() as usize;
    let series = &visit["series"][0];
    let inst = instances(&out.join(series["path"].as_str().unwrap()));
    assert_eq!(
        inst.len(),
        positions * series["dims"][2].as_u64().unwrap() as usize
    );
    // Position 2's first slice: its trigger time, the R–R interval, the count of positions.
    let slices = series["dims"][2].as_u64().unwrap() as usize;
    let second = &inst[slices];
    assert_eq!(text(second, tags::TEMPORAL_POSITION_IDENTIFIER), "2");
    assert_eq!(
        text(second, tags::TRIGGER_TIME).parse::<f64>().unwrap(),
        num(&series["times_ms"][1])
    );
    assert_eq!(
        text(second, tags::NOMINAL_INTERVAL).parse::<f64>().unwrap(),
        num(&c["rr_interval_ms"])
    );
    let v = volumes(&inst).unwrap();
    assert_eq!(v.len(), positions);
    assert!(
        v[1].source.notes[0].contains("Temporal Position Identifier 2"),
        "{:?}",
        v[1].source.notes
    );
    // The ejection fraction from the partial-volume and mask volumes at ED and ES.
    let volume_at = |position: u64, what: &str| {
        let st = series["structures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "lv_blood" && s["phase"].as_u64() == Some(position))
            .unwrap();
        num(&st[what])
    };
    let (ed, es) = (
        c["ed_position"].as_u64().unwrap(),
        c["es_position"].as_u64().unwrap(),
    );
    let ef = num(&c["lv_ef_percent"]);
    assert!((45.0..=68.0).contains(&ef));
    let exact = |v: f64, e: f64| 100.0 * (v - e) / v;
    assert!((exact(num(&c["lv_edv_mm3"]), num(&c["lv_esv_mm3"])) - ef).abs() < 1e-9);
    let pv = exact(
        volume_at(ed, "pv_volume_mm3"),
        volume_at(es, "pv_volume_mm3"),
    );
    assert!((pv - ef).abs() < 0.5, "EF {pv} from pv volumes vs {ef}");
    let mask = exact(
        volume_at(ed, "mask_volume_mm3"),
        volume_at(es, "mask_volume_mm3"),
    );
    assert!((mask - ef).abs() < 3.0, "EF {mask} from masks vs {ef}");
    // The myocardium keeps its volume through the cycle.
    let myo: Vec<f64> = c["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| num(&p["lv_myocardium_mm3"]))
        .collect();
    assert!(myo.iter().all(|m| (m - myo[0]).abs() < 1e-3));
}

#[test]
fn qc_phantom_gives_the_stated_snr_ghost_and_head_motion() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("qc");
    let truth = phantom(&out, &["qc", "--subjects", "1", "--seed", "6"]);
    let read = check_all(&out, &truth);
    assert_eq!(read.len(), 3);
    let visit = &truth["subjects"][0]["visits"][0];
    let qc = &visit["qc"];
    let series = |name: &str| {
        let i = visit["series"]
            .as_array()
            .unwrap()
            .iter()
            .position(|s| s["series"] == name)
            .unwrap();
        (&visit["series"][i], &read[i].2)
    };
    let mask = |s: &Value, name: &str| {
        corelab_image::nifti_io::read(&out.join(structure(s, name)["mask_file"].as_str().unwrap()))
            .unwrap()
            .data
    };
    // Mean, SD and count of the voxels of `v` where `inside(i, j, k)`.
    let stats = |v: &Volume<f32>, inside: &dyn Fn(usize, usize, usize) -> bool| {
        let x: Vec<f64> = v
            .data
            .indexed_iter()
            .filter(|((i, j, k), _)| inside(*i, *j, *k))
            .map(|(_, x)| f64::from(*x))
            .collect();
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        (mean, sd, n)
    };
    // Away from the sphere's edge (4 mm), where no voxel is partly fluid.
    let sphere = &visit["shapes"][0]["ellipsoid"];
    let radius = num(&sphere["semi_axes_mm"][0]);
    let from_centre = |v: &Volume<f32>, i: usize, j: usize, k: usize| {
        let p = v.geometry.to_patient([i as f64, j as f64, k as f64]);
        (0..3)
            .map(|a| (p[a] - num(&sphere["centre_mm"][a])).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    // SNR: signal over the background's Rayleigh spread gives back the stated SNR.
    let (s, v) = series("SNR");
    let (fluid, background) = (mask(s, "fluid"), mask(s, "background"));
    let (signal, _, _) = stats(v, &|i, j, k| {
        fluid[[i, j, k]] > 0.5 && from_centre(v, i, j, k) < radius - 4.0
    });
    let (bg_mean, bg_sd, _) = stats(v, &|i, j, k| {
        background[[i, j, k]] > 0.5 && from_centre(v, i, j, k) > radius + 4.0
    });
    let sigma = num(&qc["noise_sigma"]);
    assert!(
        (bg_mean - num(&qc["background_mean"])).abs() < 0.03 * bg_mean,
        "{bg_mean}"
    );
    assert!(
        (bg_sd - num(&qc["background_sd"])).abs() < 0.03 * bg_sd,
        "{bg_sd}"
    );
    let snr = signal / (bg_sd / (2.0 - std::f64::consts::PI / 2.0).sqrt());
    assert!(
        (snr - num(&qc["snr"])).abs() < 0.03 * num(&qc["snr"]),
        "SNR {snr} vs {}",
        qc["snr"]
    );
    assert!((num(&qc["snr"]) - 1000.0 / sigma).abs() < 1e-9);
    // Ghost: the fluid shifted by half the rows holds the ghost's signal.
    let (s, v) = series("GHOST");
    let fluid = mask(s, "fluid");
    let nj = fluid.dim().1;
    let (ghost, _, n) = stats(v, &|i, j, k| {
        let source = (j + nj / 2) % nj;
        fluid[[i, source, k]] > 0.5 && from_centre(v, i, source, k) < radius - 4.0
    });
    let expected = num(&qc["ghost_signal"]);
    assert!(
        (ghost - expected).abs() < 4.0 * sigma / n.sqrt() + sigma * sigma / expected,
        "ghost {ghost} vs {expected}"
    );
    assert_eq!(
        text(&read[1].1, tags::IN_PLANE_PHASE_ENCODING_DIRECTION),
        "COL"
    );
    // Motion: twelve volumes two seconds apart, whose brain masks move as stated.
    let (s, _) = series("MOTION");
    let inst = instances(&out.join(s["path"].as_str().unwrap()));
    let volumes = volumes(&inst).unwrap();
    assert_eq!(volumes.len(), 12);
    let slices = s["dims"][2].as_u64().unwrap() as usize;
    assert_eq!(text(&inst[slices], tags::TEMPORAL_POSITION_IDENTIFIER), "2");
    assert!(text(&inst[slices], tags::ACQUISITION_TIME).ends_with("02.000000"));
    let centroid = |position: u64| {
        let st = s["structures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "brain" && x["phase"].as_u64() == Some(position))
            .unwrap();
        let m =
            corelab_image::nifti_io::read(&out.join(st["mask_file"].as_str().unwrap())).unwrap();
        let (mut c, mut n) = ([0.0; 3], 0.0);
        for ((i, j, k), x) in m.data.indexed_iter() {
            if *x > 0.5 {
                let p = m.geometry.to_patient([i as f64, j as f64, k as f64]);
                (0..3).for_each(|a| c[a] += p[a]);
                n += 1.0;
            }
        }
        c.map(|x| x / n)
    };
    let first = centroid(1);
    let centre: Vec<f64> = (0..3)
        .map(|a| num(&qc["head_pose"]["translation_mm"][a]))
        .collect();
    for m in qc["motion"].as_array().unwrap() {
        let r: Vec<f64> = (0..3)
            .map(|a| num(&m["rotation_deg"][a]).to_radians())
            .collect();
        // About x, then y, then z.
        let rel: Vec<f64> = (0..3).map(|a| first[a] - centre[a]).collect();
        let turn = |p: [f64; 3], axis: usize, angle: f64| {
            let (s, c) = angle.sin_cos();
            let (u, w) = ((axis + 1) % 3, (axis + 2) % 3);
            let mut q = p;
            q[u] = c * p[u] - s * p[w];
            q[w] = s * p[u] + c * p[w];
            q
        };
        let moved = turn(
            turn(turn([rel[0], rel[1], rel[2]], 0, r[0]), 1, r[1]),
            2,
            r[2],
        );
        let got = centroid(m["volume"].as_u64().unwrap());
        for a in 0..3 {
            let expected = centre[a] + moved[a] + num(&m["translation_mm"][a]);
            assert!(
                (got[a] - expected).abs() < 0.3,
                "volume {}: centroid {got:?}, expected axis {a} at {expected}",
                m["volume"]
            );
        }
    }
    assert!(num(&qc["max_framewise_displacement_mm"]) > 2.0);
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_writes_the_same_bytes_and_another_seed_other_noise() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["pet", "--subjects", "1", "--seed"];
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let mut a = args.to_vec();
        a.push(seed);
        phantom(&out, &a);
        tree(&out)
    };
    let a = run("a", "7");
    let b = run("b", "7");
    assert!(a.len() > 10);
    assert_eq!(a, b, "same seed, same files");
    let c = run("c", "8");
    let pixels = |t: &[(PathBuf, Vec<u8>)]| {
        t.iter()
            .find(|(p, _)| p.ends_with("0040.dcm"))
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(pixels(&a), pixels(&c));
}

#[test]
fn bad_input_is_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let err = |args: &[&str]| {
        let r = corelab(dir.path(), args);
        (
            r.status.code(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        )
    };
    let (code, e) = err(&["phantom", "liver", "--out", o]);
    assert_eq!(code, Some(2));
    assert!(
        e.contains("liver") && e.contains("brain, ms-lesions, ct-tumor, pet, cardiac, qc"),
        "{e}"
    );
    let (code, e) = err(&["phantom", "pet", "--out", o, "--seed", "x1"]);
    assert_eq!(code, Some(2));
    assert!(e.contains("--seed") && e.contains("x1"), "{e}");
    let (code, e) = err(&["phantom", "pet", "--out", o, "--voxel-mm", "0"]);
    assert_eq!(code, Some(1));
    assert!(e.contains("--voxel-mm") && e.contains("0.5 to 8"), "{e}");
    // An output under a file cannot be created.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under = file.join("phantom");
    let (code, e) = err(&["phantom", "pet", "--out", under.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        e.contains(under.to_str().unwrap()) && e.contains("cannot"),
        "{e}"
    );
    // A folder already holding something is not written into.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let (code, e) = err(&["phantom", "pet", "--out", o]);
    assert_eq!(code, Some(1));
    assert!(e.contains(o) && e.contains("not empty"), "{e}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "nothing written"
    );
}
