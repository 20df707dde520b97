//! Inputs `radiomics.ibsi` must refuse by name rather than measure: an empty ROI, a mask of
//! another size or another place, a re-segmentation range that leaves nothing.

use super::{Settings, extract};
use crate::AlgoError;
use corelab_image::Volume;
use corelab_image::geometry::Geometry;
use nalgebra::Matrix4;
use ndarray::Array3;

fn volume(dims: [usize; 3], origin_x: f64, f: impl Fn(usize, usize, usize) -> f32) -> Volume<f32> {
    let mut affine = Matrix4::identity();
    affine[(0, 3)] = origin_x;
    Volume::new(
        Array3::from_shape_fn((dims[0], dims[1], dims[2]), |(i, j, k)| f(i, j, k)),
        Geometry { dims, affine },
    )
    .unwrap()
}

fn why(e: AlgoError) -> String {
    match e {
        AlgoError::Input { role, why } => format!("{role}: {why}"),
        other => panic!("not an input error: {other}"),
    }
}

#[test]
fn empty_misplaced_and_resegmented_away_rois_are_refused_by_name() {
    let image = volume([12, 12, 12], 0.0, |i, j, k| (i + 2 * j + 3 * k) as f32);
    let cube = |i: usize, j: usize, k: usize| {
        f32::from(u8::from(
            (3..9).contains(&i) && (3..9).contains(&j) && (3..9).contains(&k),
        ))
    };
    let settings = Settings::default();
    // The cube measures.
    let ok = extract(&image, &volume([12, 12, 12], 0.0, cube), &settings).unwrap();
    assert!(
        ok.iter()
            .any(|f| f.tag == "morph_volume" && (f.value - 216.0).abs() < 20.0)
    );
    let e = why(extract(&image, &volume([12, 12, 12], 0.0, |_, _, _| 0.0), &settings).unwrap_err());
    assert!(e.starts_with("mask: ") && e.contains("ROI is empty"), "{e}");
    let e = why(extract(&image, &volume([12, 12, 11], 0.0, cube), &settings).unwrap_err());
    assert!(e.contains("[12, 12, 11]") && e.contains("resample"), "{e}");
    let e = why(extract(&image, &volume([12, 12, 12], 5.0, cube), &settings).unwrap_err());
    assert!(e.contains("lies elsewhere") && e.contains("origin"), "{e}");
    let away = Settings {
        resegment: Some((1000.0, 2000.0)),
        ..Settings::default()
    };
    let e = extract(&image, &volume([12, 12, 12], 0.0, cube), &away).unwrap_err();
    assert!(
        e.to_string().contains("re-segmentation range [1000, 2000]"),
        "{e}"
    );
}
