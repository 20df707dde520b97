//! dcmqi's DICOM SEG objects (`../shared/data/dicom_seg_sr_dcmqi`) decoded onto their CT's grid
//! give exactly dcmqi's NRRD label maps: the liver segment, and three partially overlapping ones.

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
        let at = [h[0], h[1], h[2]].map(|x| x.round() as usize);
        let t = theirs.data[at] == label;
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
