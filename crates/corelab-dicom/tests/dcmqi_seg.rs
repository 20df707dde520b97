//! dcmqi's DICOM SEG objects (`../shared/data/dicom_seg_sr_dcmqi`) decoded onto their CT's grid
//! give exactly dcmqi's NRRD label maps: the liver segment, three partially overlapping ones, the
//! odd-sized bit-packed examples and the label-map (LABELMAP) ones; FRACTIONAL is checked on a
//! re-encoded copy of the liver.

mod common;

use common::series_in;
use corelab_dicom::series::{Instance, volumes};
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_seg_sr_dcmqi/segmentations")
}

/// Voxels where our mask and the label map (value `label`) agree and differ, matched in patient
/// space.
fn compare(
    ours: &ndarray::Array3<bool>,
    grid: &corelab_image::Geometry,
    nrrd: &Path,
    label: f32,
) -> (usize, usize) {
    let theirs =
        corelab_image::nrrd::read(nrrd).unwrap_or_else(|e| panic!("{}: {e}", nrrd.display()));
    let to_theirs = theirs.geometry.affine.try_inverse().unwrap() * grid.affine;
    let (mut same, mut differ) = (0, 0);
    for ((i, j, k), v) in ours.indexed_iter() {
        let h = to_theirs * nalgebra::Vector4::new(i as f64, j as f64, k as f64, 1.0);
        let at = [h[0], h[1], h[2]].map(|x| x.round());
        let d = theirs.geometry.dims;
        let inside = (0..3).all(|a| at[a] >= 0.0 && at[a] < d[a] as f64);
        let t = inside && theirs.data[at.map(|x| x as usize)] == label;
        if *v || t {
            if *v == t {
                same += 1;
            } else {
                differ += 1;
            }
        }
    }
    (same, differ)
}

#[test]
fn dcmqi_segmentations_decode_to_their_label_maps() {
    let ct = series_in(&data().join("ct-3slice"));
    let grid = volumes(&ct).unwrap().remove(0).geometry;

    let liver = Instance::from_path(&data().join("liver.dcm")).unwrap();
    let masks = corelab_dicom::seg::masks(&liver.object, &grid).unwrap();
    let (same, differ) = compare(&masks[&1], &grid, &data().join("liver_seg.nrrd"), 1.0);
    eprintln!("liver: {same} voxels agree, {differ} differ");
    assert!(
        same > 1000 && differ == 0,
        "liver: {same} agree, {differ} differ"
    );
    // On another grid (shifted by 0.4 mm), the frames fall between voxels: refused, not guessed.
    let mut shifted = grid.clone();
    shifted.affine[(0, 3)] += 0.4;
    let e = corelab_dicom::seg::masks(&liver.object, &shifted).unwrap_err();
    assert!(
        e.to_string().contains("falls between voxels of the grid"),
        "{e}"
    );

    // Made by dcmqi from three label maps (seg-example_partial_overlaps.json): which segment is
    // which label of which file, by its Segment Label.
    let from = [
        ("GREEN", 1, 1.0),
        ("LIGHT_BLUE", 1, 4.0),
        ("DARK_BLUE", 1, 5.0),
        ("ORANGE", 2, 2.0),
        ("PURPLE", 3, 3.0),
    ];
    let overlaps = Instance::from_path(&data().join("partial_overlaps.dcm")).unwrap();
    let masks = corelab_dicom::seg::masks(&overlaps.object, &grid).unwrap();
    assert_eq!(masks.len(), 5);
    let segments = overlaps
        .object
        .get(dicom_dictionary_std::tags::SEGMENT_SEQUENCE)
        .and_then(|e| e.items())
        .unwrap();
    for item in segments {
        let text = |tag| corelab_dicom::values::text(item, tag).unwrap();
        let n: u16 = text(dicom_dictionary_std::tags::SEGMENT_NUMBER)
            .parse()
            .unwrap();
        let name = text(dicom_dictionary_std::tags::SEGMENT_LABEL);
        let (_, file, label) = from.iter().find(|(l, _, _)| *l == name).unwrap();
        let (same, differ) = compare(
            &masks[&n],
            &grid,
            &data().join(format!("partial_overlaps-{file}.nrrd")),
            *label,
        );
        eprintln!("segment {n} {name}: {same} voxels agree, {differ} differ");
        assert!(
            same > 0 && differ == 0,
            "segment {n} {name}: {same} agree, {differ} differ"
        );
    }
}

/// dcmqi's odd-sized examples (bit-packed frames that do not end on a byte) and its label-map
/// SEGs (Label Map Segmentation Storage, one byte per pixel, a sparse set of frames).
#[test]
fn odd_sized_and_label_map_segmentations_decode_to_their_label_maps() {
    for size in ["23x38x3", "24x38x3"] {
        let dir = data().join(size);
        let single = volumes(&series_in(&dir.join("image"))).unwrap().remove(0);
        // The legacy-converted multi-frame copy forms the same volume.
        let mf = Instance::from_path(&dir.join("multiframe/mf.dcm")).unwrap();
        let multi = volumes(&[mf]).unwrap().remove(0);
        assert_eq!(multi.geometry.dims, single.geometry.dims, "{size}");
        let worst = (multi.geometry.affine - single.geometry.affine).abs().max();
        assert!(worst < 1e-4, "{size}: affines differ by {worst}");
        assert_eq!(multi.data, single.data, "{size}");
        let seg = Instance::from_path(&dir.join("seg/label.seg")).unwrap();
        let masks = corelab_dicom::seg::masks(&seg.object, &single.geometry).unwrap();
        assert!(!masks.is_empty(), "{size}: no segment");
        for (n, mask) in &masks {
            let (same, differ) = compare(
                mask,
                &single.geometry,
                &dir.join("nrrd/label.nrrd"),
                f32::from(*n),
            );
            eprintln!("{size} segment {n}: {same} voxels agree, {differ} differ");
            assert!(
                same > 0 && differ == 0,
                "{size} segment {n}: {same} agree, {differ} differ"
            );
        }
    }
    let grid = volumes(&series_in(&data().join("24x38x3/image")))
        .unwrap()
        .remove(0)
        .geometry;
    for (file, nrrd) in [
        (
            "sparse-labelmap-noppv.dcm",
            "sparse_labelmap_noppv_seg.nrrd",
        ),
        ("sparse-labelmap-ppv5.dcm", "sparse_labelmap_ppv5_seg.nrrd"),
    ] {
        let seg = Instance::from_path(&data().join(file)).unwrap();
        let masks = corelab_dicom::seg::masks(&seg.object, &grid).unwrap();
        assert_eq!(masks.keys().copied().collect::<Vec<_>>(), vec![1], "{file}");
        let (same, differ) = compare(&masks[&1], &grid, &data().join(nrrd), 1.0);
        eprintln!("{file}: {same} voxels agree, {differ} differ");
        assert!(
            same > 0 && differ == 0,
            "{file}: {same} agree, {differ} differ"
        );
    }
}

/// A FRACTIONAL segmentation: dcmqi's liver SEG re-encoded with one byte per pixel (255 where
/// the liver is, 128 — just over one half — in every other row of it, 127 — just under — in a
/// band beside it) gives the liver back, and nothing of the band.
#[test]
fn a_fractional_segmentation_is_a_mask_where_the_fraction_is_at_least_one_half() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let ct = series_in(&data().join("ct-3slice"));
    let grid = volumes(&ct).unwrap().remove(0).geometry;
    let liver = Instance::from_path(&data().join("liver.dcm")).unwrap();
    let binary = corelab_dicom::seg::masks(&liver.object, &grid).unwrap();
    let mut obj = liver.object.clone();
    let bits = obj
        .element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec();
    let (rows, cols, frames) = (512usize, 512usize, 3usize);
    let mut bytes = vec![0u8; rows * cols * frames];
    for (n, b) in bytes.iter_mut().enumerate() {
        let set = bits[n / 8] & (1 << (n % 8)) != 0;
        let row = (n / cols) % rows;
        *b = match (set, row % 2) {
            (true, 0) => 255,
            (true, _) => 128,
            // A band of 127 where the liver is not, on rows 10–19.
            (false, _) if (10..20).contains(&row) => 127,
            _ => 0,
        };
    }
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    obj.put(us(tags::BITS_ALLOCATED, 8));
    obj.put(us(tags::BITS_STORED, 8));
    obj.put(us(tags::HIGH_BIT, 7));
    obj.put(DataElement::new(
        tags::SEGMENTATION_TYPE,
        VR::CS,
        PrimitiveValue::from("FRACTIONAL"),
    ));
    obj.put(us(tags::MAXIMUM_FRACTIONAL_VALUE, 255));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(bytes),
    ));
    let fractional = corelab_dicom::seg::masks(&obj, &grid).unwrap();
    assert_eq!(fractional.keys().collect::<Vec<_>>(), vec![&1]);
    assert_eq!(fractional[&1], binary[&1]);
    // Without its Maximum Fractional Value: refused, saying so.
    obj.remove_element(tags::MAXIMUM_FRACTIONAL_VALUE);
    let e = corelab_dicom::seg::masks(&obj, &grid).unwrap_err();
    assert!(e.to_string().contains("Maximum Fractional Value"), "{e}");
}
