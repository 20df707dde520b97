//! DICOM SEG (binary and fractional) and SR TID 1500 written by corelab, on an oblique CT series
//! written by `write::encode_series`: decoded back onto the source grid by `seg::masks` voxel by
//! voxel, verified by dciodvfy (dicom3tools; no line with "Error"), and read back with highdicom
//! (`tests/highdicom_read.py`; needs `python3 -m pip install highdicom==0.28.2 pydicom==3.0.2`).

use corelab_dicom::series::{Instance, volumes};
use corelab_dicom::write::seg::{self, FractionalType, SegKind, Segment, SegmentData, codes};
use corelab_dicom::write::source::{Code, DerivedMeta, Source, to_bytes};
use corelab_dicom::write::sr::{self, Group, Report, SegmentRef, imaging_measurement_report};
use corelab_dicom::write::{SeriesHeader, encode_series};
use corelab_image::phantom::Acquisition;
use corelab_image::phantom::acquisition::CtAcquisition;
use corelab_image::{Geometry, Volume};
use ndarray::Array3;
use serde_json::json;
use std::path::Path;
use std::process::Command;

const DIMS: [usize; 3] = [32, 24, 10];

fn header() -> SeriesHeader {
    let t = |s: &str| s.to_owned();
    SeriesHeader {
        patient_name: t("PHANTOM^SEG"),
        patient_id: t("SUBJ-007"),
        patient_birth_date: t("19600101"),
        patient_sex: t("M"),
        patient_weight_kg: None,
        patient_size_m: None,
        study_instance_uid: t("1.2.826.0.1.3680043.9.7782.14.1"),
        study_id: t("V2"),
        study_date: t("20260301"),
        study_time: t("101500"),
        study_description: t("CT CHEST"),
        accession_number: t("ACC14"),
        series_instance_uid: t("1.2.826.0.1.3680043.9.7782.14.2"),
        series_number: 3,
        series_description: t("CT oblique"),
        protocol_name: t("chest"),
        series_date: t("20260301"),
        series_time: t("101500"),
        body_part_examined: t("CHEST"),
        frame_of_reference_uid: t("1.2.826.0.1.3680043.9.7782.14.3"),
        manufacturer: t("ACME"),
        manufacturer_model_name: t("CT-1"),
        institution_name: t("Site 1"),
        station_name: t("CT1"),
        software_versions: t("1"),
        acquisition: Acquisition::Ct(CtAcquisition {
            kvp: 120.0,
            tube_current_ma: 200.0,
            kernel: t("B30f"),
        }),
        times_ms: Vec::new(),
        nominal_interval_ms: None,
    }
}

/// An oblique grid (rotated 20° about z and 10° about x), anisotropic.
fn grid() -> Geometry {
    let (a, b) = (20f64.to_radians(), 10f64.to_radians());
    let i = [a.cos(), a.sin(), 0.0];
    let j = [-a.sin() * b.cos(), a.cos() * b.cos(), b.sin()];
    let k = [
        i[1] * j[2] - i[2] * j[1],
        i[2] * j[0] - i[0] * j[2],
        i[0] * j[1] - i[1] * j[0],
    ];
    Geometry::new(DIMS, [-120.5, -80.25, 33.0], [i, j, k], [0.8, 0.9, 2.5]).unwrap()
}

/// The source series as instances, and its volume read back by `series::volumes`.
fn source_series() -> (Vec<Instance>, Volume<f32>) {
    let data = Array3::from_shape_fn(DIMS, |(i, j, k)| (i + 3 * j + 7 * k) as f32 - 200.0);
    let volume = Volume::new(data, grid()).unwrap();
    let files = encode_series(std::slice::from_ref(&volume), &header()).unwrap();
    // Given in reverse: the source sorts along the normal as the series reader does.
    let instances: Vec<Instance> = files
        .iter()
        .enumerate()
        .rev()
        .map(|(n, b)| Instance::from_bytes(format!("slice {}", n + 1), b).unwrap())
        .collect();
    let back = volumes(&instances).unwrap().remove(0);
    (instances, back)
}

fn meta(n: u64, label: &str) -> DerivedMeta {
    DerivedMeta {
        series_instance_uid: format!("1.2.826.0.1.3680043.9.7782.14.10.{n}"),
        sop_instance_uid: format!("1.2.826.0.1.3680043.9.7782.14.10.{n}.1"),
        series_number: 100 + n as u32,
        instance_number: 1,
        series_description: format!("corelab {label}"),
        content_label: label.to_owned(),
        content_description: "corelab test".into(),
        manufacturer: "corelab".into(),
        manufacturer_model_name: "corelab".into(),
        device_serial_number: "test-1".into(),
        software_versions: "0.1.0".into(),
        content_date: "20260302".into(),
        content_time: "120000".into(),
    }
}

fn masks(g: &Geometry) -> (Volume<u8>, Volume<u8>, Volume<f32>) {
    let box_ = Array3::from_shape_fn(DIMS, |(i, j, k)| {
        u8::from((4..12).contains(&i) && (5..15).contains(&j) && (2..6).contains(&k))
    });
    let ball = Array3::from_shape_fn(DIMS, |(i, j, k)| {
        let d = (i as f64 - 22.0).powi(2)
            + (j as f64 - 12.0).powi(2)
            + (2.0 * (k as f64 - 6.0)).powi(2);
        u8::from(d <= 25.0) * 7 // nonzero, not 1: "nonzero = in"
    });
    let fraction = Array3::from_shape_fn(DIMS, |(i, j, k)| {
        let d = ((i as f64 - 16.0).powi(2) + (j as f64 - 10.0).powi(2) + (k as f64 - 4.0).powi(2))
            .sqrt();
        (1.0 - d / 6.0).clamp(0.0, 1.0) as f32
    });
    (
        Volume::new(box_, g.clone()).unwrap(),
        Volume::new(ball, g.clone()).unwrap(),
        Volume::new(fraction, g.clone()).unwrap(),
    )
}

fn segment(label: &str, data: SegmentData) -> Segment {
    Segment {
        label: label.into(),
        description: format!("{label} by the test"),
        category: codes::morphologically_abnormal_structure(),
        property_type: codes::lesion(),
        algorithm: ("corelab-lesion-seg".into(), "1.2.0".into()),
        algorithm_family: codes::histogram_analysis(),
        data,
    }
}

/// dciodvfy's report; fails on any line containing "Error", returns the warnings.
fn dciodvfy(path: &Path) -> Vec<String> {
    let out = Command::new("dciodvfy")
        .arg(path)
        .output()
        .expect("dciodvfy (Debian package dicom3tools; .ci/run installs it)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("dciodvfy {}:\n{report}", path.display());
    let errors: Vec<&str> = report.lines().filter(|l| l.contains("Error")).collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    report
        .lines()
        .filter(|l| l.contains("Warning"))
        .map(str::to_owned)
        .collect()
}

fn highdicom(kind: &str, expected: &serde_json::Value, path: &Path) {
    let dir = path.parent().unwrap();
    let json_path = dir.join(format!("{kind}-expected.json"));
    std::fs::write(&json_path, serde_json::to_vec(expected).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/highdicom_read.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(kind)
        .arg(&json_path)
        .arg(path)
        .output()
        .expect("python3 with highdicom: python3 -m pip install highdicom==0.28.2 pydicom==3.0.2");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("highdicom {kind}:\n{text}");
    assert!(
        out.status.success(),
        "highdicom read-back of {} failed (needs python3 -m pip install highdicom==0.28.2 pydicom==3.0.2):\n{text}",
        path.display()
    );
}

/// What highdicom should find for a segment: per source slice index, the flat (row-major)
/// indices of its nonzero pixels and their stored values.
fn expected_pixels(values: impl Fn(usize, usize, usize) -> u8) -> Vec<serde_json::Value> {
    let [ni, nj, nk] = DIMS;
    let mut out = Vec::new();
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let v = values(i, j, k);
                if v != 0 {
                    out.push(json!([k, j * ni + i, v]));
                }
            }
        }
    }
    out
}

fn code_json(c: &Code) -> serde_json::Value {
    json!([c.value, c.scheme, c.meaning])
}

#[test]
fn seg_and_sr_round_trip_through_our_decoder_dciodvfy_and_highdicom() {
    let (instances, volume) = source_series();
    let source = Source::from_instances(&instances).unwrap();
    assert_eq!(source.grid.dims, volume.geometry.dims);
    source.check_grid("volume", &volume.geometry).unwrap();
    let g = volume.geometry.clone();
    let (box_, ball, fraction) = masks(&g);
    let empty = Volume::new(Array3::<u8>::zeros(DIMS), g.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source_uids: Vec<String> = source
        .slices
        .iter()
        .map(|s| s.sop_instance_uid.clone())
        .collect();
    let mut warnings = Vec::new();

    // BINARY, three segments (the third empty).
    let segments = vec![
        segment("lesion 1", SegmentData::Binary(box_.clone())),
        segment("lesion 2", SegmentData::Binary(ball.clone())),
        segment("lesion 3 (gone)", SegmentData::Binary(empty)),
    ];
    let binary_meta = meta(1, "LESIONS");
    let file = seg::write(&source, &segments, SegKind::Binary, &binary_meta).unwrap();
    let bytes = to_bytes(&file).unwrap();
    assert_eq!(
        bytes,
        to_bytes(&seg::write(&source, &segments, SegKind::Binary, &binary_meta).unwrap()).unwrap(),
        "the same inputs give the same bytes"
    );
    let path = dir.path().join("binary.dcm");
    std::fs::write(&path, &bytes).unwrap();
    let back = Instance::from_path(&path).unwrap();
    let decoded = corelab_dicom::seg::masks(&back.object, &g).unwrap();
    assert_eq!(
        decoded.keys().copied().collect::<Vec<_>>(),
        vec![1, 2],
        "the empty segment decodes to nothing"
    );
    for (n, m) in [(1u16, &box_), (2, &ball)] {
        let ours = &decoded[&n];
        let differ = ours
            .iter()
            .zip(m.data.iter())
            .filter(|(a, b)| **a != (**b != 0))
            .count();
        let inside = m.data.iter().filter(|v| **v != 0).count();
        assert!(inside > 50, "segment {n} has {inside} voxels");
        assert_eq!(differ, 0, "segment {n}: {differ} voxels differ");
    }
    warnings.extend(dciodvfy(&path));
    let seg_json = |n: usize, label: &str, pixels: Vec<serde_json::Value>| {
        json!({"number": n, "label": label, "algorithm": "corelab-lesion-seg", "version": "1.2.0",
               "type_code": code_json(&codes::lesion()),
               "category": code_json(&codes::morphologically_abnormal_structure()),
               "pixels": pixels})
    };
    highdicom(
        "seg",
        &json!({
            "type": "BINARY", "rows": DIMS[1], "columns": DIMS[0], "source_uids": source_uids,
            "segments": [
                seg_json(1, "lesion 1", expected_pixels(|i, j, k| u8::from(box_.data[[i, j, k]] != 0))),
                seg_json(2, "lesion 2", expected_pixels(|i, j, k| u8::from(ball.data[[i, j, k]] != 0))),
                seg_json(3, "lesion 3 (gone)", vec![]),
            ],
        }),
        &path,
    );

    // FRACTIONAL (probability), one segment.
    let fractional = vec![segment(
        "lesion 1 probability",
        SegmentData::Fractional(fraction.clone()),
    )];
    let file = seg::write(
        &source,
        &fractional,
        SegKind::Fractional(FractionalType::Probability),
        &meta(2, "LESION_PROB"),
    )
    .unwrap();
    let path = dir.path().join("fractional.dcm");
    std::fs::write(&path, to_bytes(&file).unwrap()).unwrap();
    let back = Instance::from_path(&path).unwrap();
    let decoded = corelab_dicom::seg::masks(&back.object, &g).unwrap();
    let stored = |i: usize, j: usize, k: usize| (fraction.data[[i, j, k]] * 255.0).round() as u8;
    let differ = decoded[&1]
        .indexed_iter()
        .filter(|((i, j, k), v)| **v != (u32::from(stored(*i, *j, *k)) * 2 >= 255))
        .count();
    assert_eq!(
        differ, 0,
        "fractional: {differ} voxels differ from fraction ≥ ½"
    );
    warnings.extend(dciodvfy(&path));
    highdicom(
        "seg",
        &json!({
            "type": "FRACTIONAL", "rows": DIMS[1], "columns": DIMS[0], "source_uids": source_uids,
            "segments": [seg_json(1, "lesion 1 probability", expected_pixels(stored))],
        }),
        &path,
    );

    // SR TID 1500: two volumetric groups on the binary SEG's segments, one image-level group.
    let seg_ref = |n: u16| SegmentRef {
        series_instance_uid: binary_meta.series_instance_uid.clone(),
        sop_instance_uid: binary_meta.sop_instance_uid.clone(),
        segment_number: n,
    };
    let liver = Some(codes::liver());
    let report = Report {
        title: imaging_measurement_report(),
        observer_device: (
            "corelab-lesion-seg@1.2.0".into(),
            "1.2.826.0.1.3680043.9.7782.14.20".into(),
        ),
        procedure: Code::new("77477000", "SCT", "Computed Tomography"),
        groups: vec![
            Group {
                tracking_id: "lesion 1".into(),
                tracking_uid: "1.2.826.0.1.3680043.9.7782.14.30.1".into(),
                finding: codes::lesion(),
                finding_site: liver.clone(),
                segment: Some(seg_ref(1)),
                measurements: vec![
                    sr::measure("volume", 0.5759999999999998, "mL"),
                    sr::measure("long-axis", 14.2, "mm"),
                    sr::measure("suvmax", 7.25, "g/mL"),
                ],
            },
            Group {
                tracking_id: "lesion 2".into(),
                tracking_uid: "1.2.826.0.1.3680043.9.7782.14.30.2".into(),
                finding: codes::lesion(),
                finding_site: None,
                segment: Some(seg_ref(2)),
                measurements: vec![sr::measure("image-mean", -(1234.0_f64 / 7.0), "[hnsf'U]")],
            },
            Group {
                tracking_id: "subject".into(),
                tracking_uid: "1.2.826.0.1.3680043.9.7782.14.30.3".into(),
                finding: Code::new("118598001", "SCT", "Property of measurement"),
                finding_site: None,
                segment: None,
                measurements: vec![sr::measure("lesion-count", 2.0, "1")],
            },
        ],
    };
    let sr_meta = meta(3, "REPORT");
    let file = sr::measurement_report(&source, &report, &sr_meta).unwrap();
    let bytes = to_bytes(&file).unwrap();
    assert_eq!(
        bytes,
        to_bytes(&sr::measurement_report(&source, &report, &sr_meta).unwrap()).unwrap()
    );
    let path = dir.path().join("sr.dcm");
    std::fs::write(&path, &bytes).unwrap();
    warnings.extend(dciodvfy(&path));
    let groups: Vec<serde_json::Value> = report
        .groups
        .iter()
        .map(|g| {
            json!({
                "tracking_id": g.tracking_id, "tracking_uid": g.tracking_uid,
                "finding": code_json(&g.finding),
                "finding_site": g.finding_site.as_ref().map(code_json),
                "segment": g.segment.as_ref().map(|s| json!([s.sop_instance_uid, s.segment_number])),
                "measurements": g.measurements.iter().map(|m| json!({
                    "concept": code_json(&m.concept), "value": m.value, "unit": code_json(&m.unit),
                    "derivation": m.derivation.as_ref().map(code_json),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    highdicom(
        "sr",
        &json!({"groups": groups, "source_uids": source_uids, "source_series": source.series_instance_uid}),
        &path,
    );
    eprintln!("dciodvfy warnings: {warnings:#?}");
}

#[test]
fn seg_refuses_masks_off_the_grid_and_bad_fractions() {
    let (instances, volume) = source_series();
    let source = Source::from_instances(&instances).unwrap();
    let g = volume.geometry.clone();
    let (box_, _, fraction) = masks(&g);

    // Shifted by 0.5 mm: another grid.
    let mut shifted = g.clone();
    shifted.affine[(0, 3)] += 0.5;
    let moved = Volume::new(box_.data.clone(), shifted).unwrap();
    let err = seg::write(
        &source,
        &[segment("x", SegmentData::Binary(moved))],
        SegKind::Binary,
        &meta(4, "X"),
    )
    .unwrap_err();
    assert!(err.why.contains("affine differs"), "{err}");

    // Another shape.
    let small = Geometry::new([16, 24, 10], g.origin(), g.directions(), g.spacing()).unwrap();
    let other = Volume::new(Array3::<u8>::zeros([16, 24, 10]), small).unwrap();
    let err = seg::write(
        &source,
        &[segment("x", SegmentData::Binary(other))],
        SegKind::Binary,
        &meta(4, "X"),
    )
    .unwrap_err();
    assert!(err.why.contains("[16, 24, 10]"), "{err}");

    // NaN, and out of [0, 1].
    for bad in [f32::NAN, 1.5, -0.1] {
        let mut f = fraction.clone();
        f.data[[3, 4, 5]] = bad;
        let err = seg::write(
            &source,
            &[segment("x", SegmentData::Fractional(f))],
            SegKind::Fractional(FractionalType::Occupancy),
            &meta(4, "X"),
        )
        .unwrap_err();
        assert!(err.why.contains("(3, 4, 5)"), "{bad}: {err}");
    }

    // Fractions in a BINARY segmentation; no segment; a bad label.
    assert!(
        seg::write(
            &source,
            &[segment("x", SegmentData::Fractional(fraction))],
            SegKind::Binary,
            &meta(4, "X")
        )
        .is_err()
    );
    assert!(seg::write(&source, &[], SegKind::Binary, &meta(4, "X")).is_err());
    assert!(
        seg::write(
            &source,
            &[segment("x", SegmentData::Binary(box_))],
            SegKind::Binary,
            &meta(4, "lower")
        )
        .is_err()
    );
}

#[test]
fn sources_without_a_study_uid_and_bad_measurements_are_refused() {
    let (instances, _) = source_series();
    let mut objects: Vec<_> = instances.iter().map(|i| (*i.object).clone()).collect();
    objects[3].remove_element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID);
    let err = Source::from_objects(&objects).unwrap_err();
    assert!(
        err.what.contains("instance") && err.why.contains("Study Instance UID"),
        "{err}"
    );
    // Two slices at one place: not one volume.
    let mut twice: Vec<_> = instances.iter().map(|i| (*i.object).clone()).collect();
    twice.push(twice[0].clone());
    assert!(Source::from_objects(&twice).is_err());

    let source = Source::from_instances(&instances).unwrap();
    let group = |m: sr::NumMeasure| Group {
        tracking_id: "a".into(),
        tracking_uid: "1.2.3.4".into(),
        finding: codes::lesion(),
        finding_site: None,
        segment: None,
        measurements: vec![m],
    };
    let report = |m| Report {
        title: imaging_measurement_report(),
        observer_device: ("x@1".into(), "1.2.3".into()),
        procedure: Code::new("77477000", "SCT", "Computed Tomography"),
        groups: vec![group(m)],
    };
    let err = sr::measurement_report(
        &source,
        &report(sr::measure("volume", f64::NAN, "mL")),
        &meta(5, "R"),
    )
    .unwrap_err();
    assert!(err.why.contains("not a finite number"), "{err}");
    let mut m = sr::measure("volume", 1.0, "mL");
    m.unit.scheme = "99X".into();
    assert!(sr::measurement_report(&source, &report(m), &meta(5, "R")).is_err());
}

#[test]
fn a_key_image_is_a_valid_secondary_capture_of_its_source_slice() {
    use corelab_dicom::write::sc::{RgbImage, secondary_capture};
    let (instances, _) = source_series();
    let source = Source::from_instances(&instances).unwrap();
    let (width, height) = (DIMS[0], DIMS[1]);
    let rgb: Vec<u8> = (0..width * height * 3).map(|n| (n % 251) as u8).collect();
    let image = RgbImage {
        width,
        height,
        rgb: rgb.clone(),
    };
    let file = secondary_capture(&source, &image, 4, "key image: a test", &meta(9, "KEY")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key-image-sc.dcm");
    std::fs::write(&path, to_bytes(&file).unwrap()).unwrap();
    dciodvfy(&path);
    // pydicom reads the pixels back as written, and the slice it names is the source's fifth.
    let script = "import sys, json, pydicom\n\
        ds = pydicom.dcmread(sys.argv[1])\n\
        a = ds.pixel_array\n\
        print(json.dumps({'shape': list(a.shape), 'sum': int(a.astype('int64').sum()), \
        'source': ds.SourceImageSequence[0].ReferencedSOPInstanceUID, 'study': ds.StudyInstanceUID}))\n";
    let out = Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pydicom: {} (pip install pydicom==3.0.2)",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["shape"], json!([height, width, 3]));
    assert_eq!(read["sum"], rgb.iter().map(|v| *v as u64).sum::<u64>());
    assert_eq!(read["source"], source.slices[4].sop_instance_uid.as_str());
    assert_eq!(read["study"], source.study_instance_uid.as_str());
    // Refusals name what is wrong.
    let short = RgbImage {
        width,
        height,
        rgb: vec![0; 5],
    };
    let e = secondary_capture(&source, &short, 0, "", &meta(9, "KEY")).unwrap_err();
    assert!(e.to_string().contains("5 bytes"), "{e}");
    let e = secondary_capture(&source, &image, 99, "", &meta(9, "KEY")).unwrap_err();
    assert!(e.to_string().contains("slice 99"), "{e}");
}
