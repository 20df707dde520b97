//! NM RECON TOMO objects written by `write::encode_series` and read back by `series::volumes`,
//! de-identified, and refused where they are not a tomogram.

use crate::series::{Instance, volumes};
use crate::values::text;
use crate::write::{encode_series, tests::header};
use corelab_image::phantom::Acquisition;
use corelab_image::phantom::acquisition::NmAcquisition;
use corelab_image::{Geometry, Volume};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

fn dat() -> Acquisition {
    Acquisition::Nm(NmAcquisition {
        radiopharmaceutical: "Ioflupane".into(),
        radionuclide: "^123^Iodine".into(),
        injection_datetime: "20260112060000".into(),
        dose_bq: 185e6,
        half_life_s: 47_592.0,
        energy_window: "I123 159keV 20%".into(),
    })
}

/// A grid turned 20° about z and 10° about x, with unequal spacings; its third column along
/// row × column (`forward`) or against it.
fn rotated(forward: bool) -> Geometry {
    let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
    let (cx, sx) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
    let row = [c, s, 0.0];
    let col = [-s * cx, c * cx, sx];
    let mut normal = crate::series::cross(row, col);
    if !forward {
        normal = normal.map(|x| -x);
    }
    Geometry::new(
        [9, 7, 5],
        [-60.5, -80.25, 12.0],
        [row, col, normal],
        [3.9, 4.1, 4.42],
    )
    .unwrap()
}

fn ramp(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> f32) -> ndarray::Array3<f32> {
    ndarray::Array3::from_shape_fn((dims[0], dims[1], dims[2]), |(i, j, k)| f(i, j, k))
}

fn written(volume: &Volume<f32>) -> Instance {
    let files = encode_series(std::slice::from_ref(volume), &header(dat())).unwrap();
    assert_eq!(files.len(), 1, "one NM object");
    Instance::from_bytes("nm.dcm".into(), &files[0]).unwrap()
}

fn assert_affine_close(a: &Geometry, b: &Geometry) {
    assert_eq!(a.dims, b.dims);
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (a.affine[(r, c)] - b.affine[(r, c)]).abs() < 1e-4,
                "{} vs {}",
                a.affine,
                b.affine
            );
        }
    }
}

fn one_volume(instance: &Instance) -> Volume<f32> {
    let mut v = volumes(std::slice::from_ref(instance)).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

#[test]
fn a_rotated_tomogram_is_one_nm_object_that_reads_back_with_its_affine_and_values() {
    let grid = rotated(true);
    let data = ramp(grid.dims, |i, j, k| (100 * i + 10 * j + k) as f32 * 0.731);
    let volume = Volume::new(data.clone(), grid.clone()).unwrap();
    let instance = written(&volume);
    let obj = &instance.object;
    let get = |tag| text(obj, tag).unwrap_or_default();
    assert_eq!(
        get(tags::SOP_CLASS_UID),
        uids::NUCLEAR_MEDICINE_IMAGE_STORAGE
    );
    assert_eq!(get(tags::MODALITY), "NM");
    assert_eq!(
        get(tags::IMAGE_TYPE),
        "ORIGINAL\\PRIMARY\\RECON TOMO\\EMISSION"
    );
    assert_eq!(get(tags::NUMBER_OF_FRAMES), "5");
    assert_eq!(
        obj.get(tags::FRAME_INCREMENT_POINTER)
            .and_then(|e| e.value().to_tag().ok()),
        Some(tags::SLICE_VECTOR)
    );
    assert_eq!(
        obj.get(tags::SLICE_VECTOR)
            .and_then(|e| e.to_multi_int::<u16>().ok()),
        Some(vec![1, 2, 3, 4, 5])
    );
    assert_eq!(get(tags::SPACING_BETWEEN_SLICES), "4.42");
    assert_eq!(get(tags::PIXEL_SPACING), "4.1\\3.9");
    assert_eq!(get(tags::PIXEL_REPRESENTATION), "0");
    assert!(
        obj.get(tags::IMAGE_POSITION_PATIENT).is_none(),
        "only in the detector item"
    );
    // The values (up to 631.6) are not whole: a slope of 0.01 holds them in 65,000 steps.
    assert_eq!(get(tags::RESCALE_SLOPE), "0.01");
    let v = one_volume(&instance);
    assert_affine_close(&v.geometry, &grid);
    for (a, b) in v.data.iter().zip(data.iter()) {
        assert!((a - b).abs() <= 0.01 / 2.0 + 1e-4, "{a} vs {b}");
    }
    assert!(
        v.source
            .notes
            .iter()
            .any(|n| n.contains("5 frames of an NM RECON TOMO object")),
        "{:?}",
        v.source.notes
    );
    // The header QC reads: NM, the radiopharmaceutical, the dose in MBq as NM writes it.
    let a = crate::acquisition::Acquisition::of(obj);
    assert_eq!(a.modality.as_deref(), Some("NM"));
    assert_eq!(a.radiopharmaceutical.as_deref(), Some("Ioflupane"));
    assert_eq!(a.dose_mbq, Some(185.0));
    assert_eq!(a.spacing_between_slices_mm, Some(4.42));
    assert_eq!(a.image_type[2], "RECON TOMO");
    assert!(a.problems.is_empty(), "{:?}", a.problems);
}

#[test]
fn whole_counts_are_stored_as_they_are() {
    let grid = rotated(true);
    let data = ramp(grid.dims, |i, j, k| {
        (7919 * (i + 9 * j + 63 * k) % 65536) as f32
    });
    let v = one_volume(&written(&Volume::new(data.clone(), grid).unwrap()));
    assert_eq!(v.data, data);
}

#[test]
fn a_grid_against_row_cross_column_is_written_with_negative_spacing_and_read_back_in_place() {
    let grid = rotated(false);
    let data = ramp(grid.dims, |i, j, k| (i + 10 * j + 100 * k) as f32);
    let instance = written(&Volume::new(data.clone(), grid.clone()).unwrap());
    assert_eq!(
        text(&instance.object, tags::SPACING_BETWEEN_SLICES).as_deref(),
        Some("-4.42")
    );
    assert_eq!(
        text(&instance.object, tags::SLICE_THICKNESS).as_deref(),
        Some("4.42")
    );
    // QC reads the distance, not the direction.
    let a = crate::acquisition::Acquisition::of(&instance.object);
    assert_eq!(a.spacing_between_slices_mm, Some(4.42));
    // The reader stacks along row × column, as it does every series: the same voxels in the
    // same places, slices in reverse order.
    let v = one_volume(&instance);
    let last = grid.dims[2] - 1;
    for (ijk, value) in v.data.indexed_iter() {
        let (i, j, k) = ijk;
        assert_eq!(*value, data[[i, j, last - k]]);
        let here = v.geometry.to_patient([i as f64, j as f64, k as f64]);
        let there = grid.to_patient([i as f64, j as f64, (last - k) as f64]);
        assert!(
            (0..3).all(|a| (here[a] - there[a]).abs() < 1e-4),
            "{here:?} vs {there:?}"
        );
    }
}

#[test]
fn negative_values_are_stored_signed_not_clamped() {
    let grid = rotated(true);
    let data = ramp(grid.dims, |i, j, k| i as f32 * 10.0 - 50.0 + (j + k) as f32);
    let instance = written(&Volume::new(data.clone(), grid).unwrap());
    assert_eq!(
        text(&instance.object, tags::PIXEL_REPRESENTATION).as_deref(),
        Some("1")
    );
    let v = one_volume(&instance);
    for (a, b) in v.data.iter().zip(data.iter()) {
        assert!((a - b).abs() <= 0.0025 / 2.0 + 1e-4, "{a} vs {b}");
    }
}

#[test]
fn a_sheared_grid_or_a_gated_series_is_not_written_as_nm() {
    let mut grid = rotated(true);
    grid.affine[(0, 2)] += 1.0; // slices offset along x: a tilt
    let volume = Volume::new(ramp(grid.dims, |_, _, _| 1.0), grid).unwrap();
    let e = encode_series(std::slice::from_ref(&volume), &header(dat())).unwrap_err();
    assert!(e.why.contains("along row × column only"), "{e}");
    let straight = Volume::new(ramp([9, 7, 5], |_, _, _| 1.0), rotated(true)).unwrap();
    let e = encode_series(&[straight.clone(), straight], &header(dat())).unwrap_err();
    assert!(e.why.contains("gated or dynamic NM is not written"), "{e}");
}

/// The written NM object with `change` applied.
fn changed(change: impl Fn(&mut InMemDicomObject)) -> Instance {
    let grid = rotated(true);
    let mut instance = written(&Volume::new(ramp(grid.dims, |_, _, _| 1.0), grid).unwrap());
    change(&mut instance.object);
    instance
}

fn refusal(instance: &Instance) -> String {
    match volumes(std::slice::from_ref(instance)) {
        Ok(_) => panic!("a volume was made"),
        Err(e) => e.to_string(),
    }
}

fn put(obj: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

#[test]
fn nm_images_other_than_tomograms_are_refused_by_their_type() {
    for (kind, why) in [
        (
            "TOMO",
            "SPECT projections (one frame per angle): reconstruct them first",
        ),
        ("GATED TOMO", "gated SPECT projections"),
        ("STATIC", "a planar image"),
        ("WHOLE BODY", "planar whole-body views"),
        ("DYNAMIC", "planar frames over time"),
    ] {
        let i = changed(|o| {
            put(
                o,
                tags::IMAGE_TYPE,
                VR::CS,
                &format!("ORIGINAL\\PRIMARY\\{kind}\\EMISSION"),
            )
        });
        let e = refusal(&i);
        assert!(
            e.contains(&format!(
                "an NM image of type {kind} ((0008,0008) Image Type value 3)"
            )) && e.contains(why),
            "{e}"
        );
    }
    let i = changed(|o| put(o, tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY"));
    assert!(refusal(&i).contains("has no value 3"));
}

#[test]
fn gated_tomograms_of_several_time_slots_are_refused_and_one_slot_is_read() {
    let gated = |slots: u16| {
        changed(move |o| {
            put(
                o,
                tags::IMAGE_TYPE,
                VR::CS,
                "ORIGINAL\\PRIMARY\\RECON GATED TOMO\\EMISSION",
            );
            o.put(DataElement::new(
                tags::NUMBER_OF_TIME_SLOTS,
                VR::US,
                PrimitiveValue::from(slots),
            ));
        })
    };
    let e = refusal(&gated(8));
    assert!(
        e.contains("RECON GATED TOMO with 8 in (0054,0071) Number of Time Slots"),
        "{e}"
    );
    assert_eq!(one_volume(&gated(1)).geometry.dims, [9, 7, 5]);
}

#[test]
fn a_tomogram_without_its_placement_is_refused_by_name() {
    let i = changed(|o| {
        o.remove_element(tags::DETECTOR_INFORMATION_SEQUENCE);
    });
    assert!(
        refusal(&i).contains("no item in the (0054,0022) Detector Information Sequence"),
        "{}",
        refusal(&i)
    );
    let i = changed(|o| {
        o.put(DataElement::new(
            tags::DETECTOR_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    PrimitiveValue::from("1\\0\\0\\0\\1\\0"),
                ),
            ])]),
        ));
    });
    let e = refusal(&i);
    assert!(
        e.contains(
            "no (0020,0032) Image Position (Patient) in the (0054,0022) Detector Information Sequence"
        ),
        "{e}"
    );
    let i = changed(|o| {
        o.remove_element(tags::SPACING_BETWEEN_SLICES);
        o.remove_element(tags::SLICE_THICKNESS);
    });
    let e = refusal(&i);
    assert!(
        e.contains("neither (0018,0088) Spacing Between Slices nor (0018,0050) Slice Thickness"),
        "{e}"
    );
    // Without Spacing Between Slices, Slice Thickness places the frames.
    let i = changed(|o| {
        o.remove_element(tags::SPACING_BETWEEN_SLICES);
    });
    assert_affine_close(&one_volume(&i).geometry, &rotated(true));
    let i = changed(|o| {
        o.put(DataElement::new(
            tags::SLICE_VECTOR,
            VR::US,
            PrimitiveValue::U16(vec![1, 2, 3, 4, 9].into()),
        ));
    });
    assert!(refusal(&i).contains("(0054,0080) Slice Vector holds 9: slices are numbered 1 to 5"));
}

#[test]
fn frames_are_placed_by_the_slice_vector() {
    let grid = rotated(true);
    let data = ramp(grid.dims, |i, j, k| (i + 10 * j + 100 * k) as f32);
    let mut instance = written(&Volume::new(data.clone(), grid.clone()).unwrap());
    // Frames stored last slice first, as the Slice Vector says.
    let obj = &mut instance.object;
    obj.put(DataElement::new(
        tags::SLICE_VECTOR,
        VR::US,
        PrimitiveValue::U16(vec![5, 4, 3, 2, 1].into()),
    ));
    let frame = 9 * 7 * 2;
    let pixels = obj
        .get(tags::PIXEL_DATA)
        .and_then(|e| e.to_bytes().ok())
        .unwrap()
        .into_owned();
    let reversed: Vec<u8> = pixels.chunks(frame).rev().flatten().copied().collect();
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U8(reversed.into()),
    ));
    let v = one_volume(&instance);
    assert_affine_close(&v.geometry, &grid);
    assert_eq!(v.data, data);
}

/// What the reader needs survives PS3.15 de-identification (the Basic Profile keeps the NM
/// modules' attributes: none of them is in Table E.1-1), and the same volume comes back.
#[test]
fn a_deidentified_tomogram_is_the_same_volume() {
    use crate::deid::{Deidentifier, TrialSecret};
    let grid = rotated(true);
    let data = ramp(grid.dims, |i, j, k| (i + 10 * j + 100 * k) as f32 * 1.5);
    let instance = written(&Volume::new(data, grid).unwrap());
    let before = one_volume(&instance);
    let d = Deidentifier::new([], TrialSecret::from_bytes([5; 32]), -3650..=-365).unwrap();
    let (clean, _) = d.deidentify(&instance.object).unwrap();
    for tag in [
        tags::DETECTOR_INFORMATION_SEQUENCE,
        tags::SLICE_VECTOR,
        tags::FRAME_INCREMENT_POINTER,
        tags::ENERGY_WINDOW_INFORMATION_SEQUENCE,
        tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
        tags::SPACING_BETWEEN_SLICES,
    ] {
        assert!(clean.get(tag).is_some(), "{tag} removed");
    }
    assert_ne!(
        text(&clean, tags::PATIENT_NAME).as_deref(),
        Some("PHANTOM^TEST")
    );
    let bytes = crate::deid::encode_part10(clean, "1.2.840.10008.1.2.1").unwrap();
    // Through the reader ingest uses (the element-length skim first).
    let back = Instance::from_bytes("deidentified.dcm".into(), &bytes).unwrap();
    let after = one_volume(&back);
    assert_eq!(after.geometry, before.geometry);
    assert_eq!(after.data, before.data);
    let a = crate::acquisition::Acquisition::of(&back.object);
    assert_eq!(a.radiopharmaceutical.as_deref(), Some("Ioflupane"));
    assert_eq!(a.dose_mbq, Some(185.0));
    let item = back
        .object
        .get(tags::ENERGY_WINDOW_INFORMATION_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|i| i.first())
        .unwrap();
    assert_eq!(
        text(item, tags::ENERGY_WINDOW_NAME).as_deref(),
        Some("I123 159keV 20%")
    );
}
