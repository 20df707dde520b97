//! Series → volume on generated series with exact geometry: sorting, spacing, tilt, rescale, and
//! every inconsistency refused (or split) with a reason naming the instance.

mod common;

use common::{Spec, instance, spec, stored};
use corelab_dicom::series::{Instance, volumes};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, FileMetaTableBuilder, InMemDicomObject};

fn error_of(instances: &[Instance]) -> String {
    volumes(instances).unwrap_err().to_string()
}

#[test]
fn an_axial_stack_in_any_order_becomes_one_volume_with_its_geometry_and_rescaled_values() {
    // Given out of order: the volume is sorted along the normal.
    let order = [3usize, 0, 4, 1, 2];
    let instances: Vec<Instance> = order
        .iter()
        .map(|&n| instance(&spec(10.0 + 2.5 * n as f64), n))
        .collect();
    let v = volumes(&instances).unwrap();
    assert_eq!(v.len(), 1);
    let v = &v[0];
    assert_eq!(v.geometry.dims, [5, 6, 5]);
    let sp = v.geometry.spacing();
    assert!((sp[0] - 0.5).abs() < 1e-9 && (sp[1] - 0.8).abs() < 1e-9 && (sp[2] - 2.5).abs() < 1e-9);
    assert_eq!(v.geometry.origin(), [-50.0, -40.0, 10.0]);
    for ((i, j, k), x) in v.data.indexed_iter() {
        assert_eq!(
            *x,
            2.0 * f32::from(stored(i, j, k)) - 100.0,
            "[{i},{j},{k}]"
        );
    }
    let expected: Vec<String> = (0..5).map(|n| format!("{n:064x}")).collect();
    assert_eq!(v.source.instance_sha256, expected, "in slice order");
    assert!(v.source.notes.is_empty(), "{:?}", v.source.notes);
}

#[test]
fn a_sagittal_oblique_stack_keeps_its_directions() {
    // Rows along -y, columns along -z (sagittal), slices along +x, 3 mm apart.
    let instances: Vec<Instance> = (0..4)
        .map(|n| {
            let mut s = spec(0.0);
            s.orientation = [0.0, -1.0, 0.0, 0.0, 0.0, -1.0];
            s.position = [-20.0 + 3.0 * n as f64, 100.0, 80.0];
            instance(&s, n)
        })
        .collect();
    let v = &volumes(&instances).unwrap()[0];
    let p = v.geometry.to_patient([2.0, 3.0, 1.0]);
    let expected = [-20.0 + 3.0, 100.0 - 2.0 * 0.5, 80.0 - 3.0 * 0.8];
    for a in 0..3 {
        assert!((p[a] - expected[a]).abs() < 1e-9, "{p:?} vs {expected:?}");
    }
}

#[test]
fn a_gantry_tilt_is_kept_exactly_and_noted() {
    // Each slice 2 mm further along z and 0.5 mm along y: a tilt of atan(0.5/2) = 14.04°.
    let instances: Vec<Instance> = (0..4)
        .map(|n| {
            let mut s = spec(2.0 * n as f64);
            s.position[1] += 0.5 * n as f64;
            instance(&s, n)
        })
        .collect();
    let v = &volumes(&instances).unwrap()[0];
    let p = v.geometry.to_patient([0.0, 0.0, 3.0]);
    assert!(
        (p[1] - (-40.0 + 1.5)).abs() < 1e-9 && (p[2] - 6.0).abs() < 1e-9,
        "{p:?}"
    );
    assert!(
        v.source
            .notes
            .iter()
            .any(|n| n.contains("gantry tilt 14.04°")),
        "{:?}",
        v.source.notes
    );
}

#[test]
fn several_echoes_in_one_series_become_one_volume_each_saying_why() {
    let mut instances = Vec::new();
    for echo in 1..=2 {
        for n in 0..3 {
            let mut s = spec(5.0 * n as f64);
            s.extra.push((tags::ECHO_NUMBERS, VR::IS, echo.to_string()));
            instances.push(instance(&s, n + 10 * echo));
        }
    }
    let v = volumes(&instances).unwrap();
    assert_eq!(v.len(), 2);
    for (vol, echo) in v.iter().zip(["1", "2"]) {
        assert_eq!(vol.geometry.dims, [5, 6, 3]);
        assert!(
            vol.source.notes[0].contains(&format!(
                "one of 2 stacks in the series, split by Echo Numbers {echo}"
            )),
            "{:?}",
            vol.source.notes
        );
    }
}

#[test]
fn inconsistent_series_are_refused_naming_the_instance_and_the_problem() {
    let stack = |f: &dyn Fn(usize, &mut Spec)| -> Vec<Instance> {
        (0..5)
            .map(|n| {
                let mut s = spec(3.0 * n as f64);
                f(n, &mut s);
                instance(&s, n)
            })
            .collect()
    };
    // A missing slice: positions 0, 3, 9, 12 (6 missing).
    let mut missing = stack(&|_, _| {});
    missing.remove(2);
    let e = error_of(&missing);
    assert!(
        e.contains("1 missing slice(s) between slice-1 and slice-3"),
        "{e}"
    );

    let e = error_of(&stack(&|n, s| {
        if n == 4 {
            s.position[2] = 13.0
        }
    }));
    assert!(
        e.contains("slice-4: non-uniform slice spacing: 4.000 mm"),
        "{e}"
    );

    let e = error_of(&stack(&|n, s| {
        if n == 2 {
            s.rows = 7
        }
    }));
    assert!(e.starts_with("slice-2: 5×7 pixels"), "{e}");

    let e = error_of(&stack(&|n, s| {
        if n == 3 {
            s.spacing = [0.9, 0.5]
        }
    }));
    assert!(e.starts_with("slice-3: Pixel Spacing"), "{e}");

    let e = error_of(&stack(&|n, s| {
        if n == 1 {
            s.position[2] = 0.0
        }
    }));
    assert!(e.contains("at the same position as slice-0"), "{e}");

    let e = error_of(&stack(&|n, s| {
        if n == 2 {
            s.orientation = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        }
    }));
    assert!(
        e.starts_with("slice-2: (0020,0037) Image Orientation (Patient)"),
        "{e}"
    );

    // Slices that wander off the line of the others (not a tilt: one slice only).
    let e = error_of(&stack(&|n, s| {
        if n == 2 {
            s.position[0] += 1.0
        }
    }));
    assert!(
        e.contains("slice-2: Image Position (Patient)") && e.contains("off the line"),
        "{e}"
    );

    // No position at all.
    let mut no_position = stack(&|_, _| {});
    no_position[1]
        .object
        .remove_element(tags::IMAGE_POSITION_PATIENT);
    let e = error_of(&no_position);
    assert!(
        e.starts_with("slice-1: no (0020,0032) Image Position (Patient)"),
        "{e}"
    );
}

#[test]
fn mixed_orientations_split_into_stacks() {
    // A three-plane localizer: axial, coronal and sagittal images in one series.
    let planes = [
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
        [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
    ];
    let instances: Vec<Instance> = planes
        .iter()
        .enumerate()
        .map(|(n, o)| {
            let mut s = spec(0.0);
            s.orientation = *o;
            instance(&s, n)
        })
        .collect();
    let v = volumes(&instances).unwrap();
    assert_eq!(v.len(), 3);
    assert!(v.iter().all(|x| x.geometry.dims[2] == 1));
    assert!(
        v[0].source.notes[0].contains("one of 3 stacks"),
        "{:?}",
        v[0].source.notes
    );
}

/// One frame of a generated enhanced MR object.
struct Frame {
    z: f64,
    echo_time: f64,
    slope: f64,
    intercept: f64,
}

fn sequence(tag: dicom_core::Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

fn ds(tag: dicom_core::Tag, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::DS, PrimitiveValue::from(v))
}

/// An Enhanced MR Image object of 5×6 frames, stored value `stored(i, j, f)` in frame `f`: the
/// orientation and pixel measures shared, position, rescale and echo time per frame, all in
/// Stack ID 1, with a Dimension Index Sequence (Stack ID, In-Stack Position Number, Effective
/// Echo Time) as scanners write it.
fn enhanced(frames: &[Frame]) -> Instance {
    let mut pixels = Vec::new();
    for f in 0..frames.len() {
        for j in 0..6 {
            for i in 0..5 {
                pixels.push(stored(i, j, f));
            }
        }
    }
    let shared = item(vec![
        sequence(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(vec![ds(
                tags::IMAGE_ORIENTATION_PATIENT,
                "1\\0\\0\\0\\1\\0",
            )])],
        ),
        sequence(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(vec![
                ds(tags::PIXEL_SPACING, "0.8\\0.5"),
                ds(tags::SLICE_THICKNESS, "3"),
            ])],
        ),
    ]);
    let mut echo_times: Vec<f64> = frames.iter().map(|f| f.echo_time).collect();
    echo_times.sort_by(f64::total_cmp);
    echo_times.dedup();
    let per_frame: Vec<InMemDicomObject> = frames
        .iter()
        .map(|f| {
            let in_stack = (f.z / 3.0) as u32 + 1;
            let echo_index = echo_times.iter().position(|t| *t == f.echo_time).unwrap() as u32 + 1;
            item(vec![
                sequence(
                    tags::FRAME_CONTENT_SEQUENCE,
                    vec![item(vec![
                        DataElement::new(tags::STACK_ID, VR::SH, PrimitiveValue::from("1")),
                        DataElement::new(
                            tags::IN_STACK_POSITION_NUMBER,
                            VR::UL,
                            PrimitiveValue::from(in_stack),
                        ),
                        DataElement::new(
                            tags::DIMENSION_INDEX_VALUES,
                            VR::UL,
                            PrimitiveValue::U32(vec![1, in_stack, echo_index].into()),
                        ),
                    ])],
                ),
                sequence(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item(vec![ds(
                        tags::IMAGE_POSITION_PATIENT,
                        &format!("-50\\-40\\{}", f.z),
                    )])],
                ),
                sequence(
                    tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                    vec![item(vec![
                        ds(tags::RESCALE_SLOPE, &f.slope.to_string()),
                        ds(tags::RESCALE_INTERCEPT, &f.intercept.to_string()),
                    ])],
                ),
                sequence(
                    tags::MR_ECHO_SEQUENCE,
                    vec![item(vec![DataElement::new(
                        tags::EFFECTIVE_ECHO_TIME,
                        VR::FD,
                        PrimitiveValue::from(f.echo_time),
                    )])],
                ),
            ])
        })
        .collect();
    let dimension = |pointer| {
        item(vec![
            DataElement::new(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![pointer].into()),
            ),
            DataElement::new(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![tags::FRAME_CONTENT_SEQUENCE].into()),
            ),
        ])
    };
    let t = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let uid = "1.2.826.0.1.3680043.9.7782.6.1";
    let mut obj = FileDicomObject::new_empty_with_meta(
        FileMetaTableBuilder::new()
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.4.1")
            .media_storage_sop_instance_uid(uid)
            .transfer_syntax("1.2.840.10008.1.2.1")
            .build()
            .unwrap(),
    );
    for e in [
        t(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.4.1"),
        t(tags::SOP_INSTANCE_UID, VR::UI, uid),
        t(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.9.7782.6",
        ),
        t(tags::NUMBER_OF_FRAMES, VR::IS, &frames.len().to_string()),
        us(tags::SAMPLES_PER_PIXEL, 1),
        t(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        us(tags::ROWS, 6),
        us(tags::COLUMNS, 5),
        us(tags::BITS_ALLOCATED, 16),
        us(tags::BITS_STORED, 16),
        us(tags::HIGH_BIT, 15),
        us(tags::PIXEL_REPRESENTATION, 0),
        sequence(
            tags::DIMENSION_INDEX_SEQUENCE,
            vec![
                dimension(tags::STACK_ID),
                dimension(tags::IN_STACK_POSITION_NUMBER),
                dimension(tags::EFFECTIVE_ECHO_TIME),
            ],
        ),
        sequence(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]),
        sequence(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ] {
        obj.put(e);
    }
    Instance {
        name: "enhanced.dcm".into(),
        sha256: "e".repeat(64),
        object: obj,
    }
}

/// Two echoes of four slices 3 mm apart, the frames in no order, each frame rescaled its own way.
fn two_echoes() -> Vec<Frame> {
    [
        (6.0, 5.0),
        (0.0, 20.0),
        (0.0, 5.0),
        (9.0, 20.0),
        (9.0, 5.0),
        (3.0, 20.0),
        (3.0, 5.0),
        (6.0, 20.0),
    ]
    .iter()
    .enumerate()
    .map(|(f, &(z, echo_time))| Frame {
        z,
        echo_time,
        slope: 1.0 + 0.5 * f as f64,
        intercept: -10.0 * f as f64,
    })
    .collect()
}

#[test]
fn an_enhanced_object_with_two_echoes_becomes_two_volumes_sorted_and_rescaled_per_frame() {
    let frames = two_echoes();
    let v = volumes(&[enhanced(&frames)]).unwrap();
    assert_eq!(v.len(), 2);
    for (vol, echo_time) in v.iter().zip([5.0, 20.0]) {
        assert_eq!(vol.geometry.dims, [5, 6, 4]);
        assert_eq!(vol.geometry.origin(), [-50.0, -40.0, 0.0]);
        let sp = vol.geometry.spacing();
        assert!(
            (sp[0] - 0.5).abs() < 1e-9 && (sp[1] - 0.8).abs() < 1e-9 && (sp[2] - 3.0).abs() < 1e-9
        );
        assert!(
            vol.source.notes[0]
                .contains(&format!("one of 2 stacks in the series, split by Stack ID 1, Effective Echo Time {echo_time}")),
            "{:?}",
            vol.source.notes
        );
        assert!(
            vol.source
                .notes
                .iter()
                .any(|n| n.contains("4 frames of enhanced multi-frame objects")),
            "{:?}",
            vol.source.notes
        );
        assert_eq!(vol.source.instance_sha256, vec!["e".repeat(64)]);
        // Slice k holds the frame of this echo at z = 3k, through that frame's own rescale.
        for ((i, j, k), x) in vol.data.indexed_iter() {
            let (f, frame) = frames
                .iter()
                .enumerate()
                .find(|(_, fr)| fr.echo_time == echo_time && fr.z == 3.0 * k as f64)
                .unwrap();
            let expected = (frame.slope * f64::from(stored(i, j, f)) + frame.intercept) as f32;
            assert_eq!(
                *x,
                expected,
                "echo {echo_time} [{i},{j},{k}] (frame {})",
                f + 1
            );
        }
    }
}

#[test]
fn a_bad_frame_of_an_enhanced_object_is_refused_naming_the_file_and_the_frame() {
    let frames = two_echoes();
    let per_frame = |obj: &mut Instance, f: usize, change: &dyn Fn(&mut InMemDicomObject)| {
        obj.object
            .update_value(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, |v| {
                change(&mut v.items_mut().unwrap()[f]);
            });
    };

    // Frame 4 has no Plane Position Sequence (and the shared groups have none).
    let mut no_position = enhanced(&frames);
    per_frame(&mut no_position, 3, &|i| {
        i.remove_element(tags::PLANE_POSITION_SEQUENCE);
    });
    let e = error_of(&[no_position]);
    assert_eq!(
        e,
        "enhanced.dcm frame 4: no (0020,0032) Image Position (Patient) in a (0020,9113) Plane Position Sequence, of the frame or shared"
    );

    // Frame 6 (echo 20, z = 3) turned 10° about z, inside Stack ID 1.
    let mut turned = enhanced(&frames);
    let (c, s) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
    let orientation = format!("{c}\\{s}\\0\\{}\\{c}\\0", -s);
    per_frame(&mut turned, 5, &|i| {
        i.put(sequence(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(vec![ds(
                tags::IMAGE_ORIENTATION_PATIENT,
                &orientation,
            )])],
        ));
    });
    let e = error_of(&[turned]);
    assert!(
        e.starts_with("enhanced.dcm frame 6: Image Orientation (Patient) [0.98")
            && e.contains(
                "while enhanced.dcm frame 2 in the same stack has [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]"
            ),
        "{e}"
    );

    // Frames 1 and 3 (echo 5) at one place.
    let mut twice = frames;
    twice[0].z = 0.0;
    let e = error_of(&[enhanced(&twice)]);
    assert!(
        e.starts_with("enhanced.dcm frame 1: at the same position as enhanced.dcm frame 3")
            || e.starts_with("enhanced.dcm frame 3: at the same position as enhanced.dcm frame 1"),
        "{e}"
    );

    // Fewer per-frame items than frames.
    let mut short = enhanced(&two_echoes());
    short.object.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from("9"),
    ));
    let e = error_of(&[short]);
    assert!(
        e.starts_with("enhanced.dcm: 8 items in the (5200,9230) Per-frame Functional Groups Sequence for 9 frames"),
        "{e}"
    );
}

/// emri_small and its twins in other transfer syntaxes lost their functional groups to an
/// anonymiser: ten frames and nothing that places them (dcm2niix makes a volume of them anyway,
/// warning of a "bogus spatial matrix"). They are refused saying so; so are legacy multi-frame
/// objects (ultrasound, RT Dose) and a Segmentation.
#[test]
fn multi_frame_objects_without_per_frame_geometry_are_refused_saying_why() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance");
    for file in [
        "emri_small.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_RLE.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ] {
        let path = data.join("pydicom_data").join(file);
        let e = error_of(&[Instance::from_path(&path).unwrap()]);
        assert_eq!(
            e,
            format!(
                "{}: 10 frames and no (5200,9230) Per-frame Functional Groups Sequence: nothing places each frame in the patient (only enhanced multi-frame objects and NM tomograms are assembled)",
                path.display()
            )
        );
    }
    let e = error_of(&[Instance::from_path(&data.join("pydicom_test_files/rtdose.dcm")).unwrap()]);
    assert!(e.ends_with(": 15 frames and no (5200,9230) Per-frame Functional Groups Sequence: nothing places each frame in the patient (only enhanced multi-frame objects and NM tomograms are assembled)"), "{e}");
    let e = error_of(&[Instance::from_path(&data.join("pydicom_data/liver.dcm")).unwrap()]);
    assert!(e.ends_with(": a Segmentation: its frames are segments of an image, not an image (decode it onto the image's grid with seg::masks)"), "{e}");
}

/// 32-bit RLE, which dicom-rs does not decode, is refused naming the transfer syntax and why;
/// on the way, geometry stored as UN (pydicom's RT Dose test file encodes Image Position so) is
/// read as the text it is.
#[test]
fn thirty_two_bit_rle_is_refused_naming_the_syntax_and_why() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance/pydicom_test_files/rtdose_rle_1frame.dcm");
    let i = Instance::from_path(&path).unwrap();
    let e = volumes(&[i]).expect_err("refused").to_string();
    assert!(
        e.contains("1.2.840.10008.1.2.5")
            && e.contains("RLE Lossless")
            && e.contains("BitsAllocated"),
        "{e}"
    );
}

#[test]
fn a_pet_series_carries_its_suv_header_and_other_modalities_none() {
    use corelab_image::phantom::{Kind, Options, plan};
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        subjects: 1,
        voxel_mm: Some(8.0),
        subsamples: 1,
        ..Options::default()
    };
    let out = dir.path().join("pet");
    corelab_dicom::phantom::write(Kind::Pet, &options, &out, &mut |_, _, _| {}).unwrap();
    let folder = out.join("PET-001").join("V1").join("PET");
    let instances: Vec<Instance> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| Instance::from_path(&e.unwrap().path()).unwrap())
        .collect();
    let v = &volumes(&instances).unwrap()[0];
    assert_eq!(v.source.modality.as_deref(), Some("PT"));
    assert_eq!(v.source.pet.len(), v.source.instance_sha256.len());
    let f = corelab_image::suv::factors(&v.source.pet).unwrap();
    let truth = plan(Kind::Pet, &options).unwrap().truth.subjects[0].visits[0]
        .pet
        .clone()
        .unwrap();
    assert!((f.bw - truth.suv_bw_factor).abs() < 1e-9 * f.bw, "{f:?}");
    let lbm = f.lbm_janmahasatian.unwrap();
    assert!((lbm - truth.suv_lbm_factor).abs() < 1e-9 * lbm);
    // A CT series: its modality, and no PET header.
    let mut ct: Vec<Instance> = (0..3).map(|n| instance(&spec(2.5 * n as f64), n)).collect();
    for i in &mut ct {
        i.object.put(DataElement::new(
            tags::MODALITY,
            VR::CS,
            PrimitiveValue::from("CT"),
        ));
    }
    let v = &volumes(&ct).unwrap()[0];
    assert_eq!(v.source.modality.as_deref(), Some("CT"));
    assert!(v.source.pet.is_empty());
}
