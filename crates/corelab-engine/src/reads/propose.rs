//! The engine's measurement of a lesion a RECIST reader clicks: `onco.lesion-seg` grows the
//! lesion from the click on the time point's CT and measures its long and short axes on the mask
//! (`corelab_image::diameters`); the reader accepts the two lines as they are or draws their own.
//! What the reader accepts is what the read records, marked as the engine's.

use corelab_algo::Algorithm;
use corelab_algo::onco::lesion_seg::{self, LesionSeg, Settings};
use corelab_image::Volume;
use serde_json::{Value, json};

/// The lesion at `point` (LPS mm) on `image`: its axes as lines (LPS mm) and lengths, volume and
/// centroid, and the algorithm that found it; or why it cannot be segmented from there.
pub fn measure_at(image: &Volume<f32>, point: [f64; 3]) -> Result<Value, String> {
    lesion_seg::require_ct(image)?;
    if point.iter().any(|x| !x.is_finite()) {
        return Err("the point is not three numbers (LPS mm)".to_owned());
    }
    let lesion =
        lesion_seg::segment(image, point, &Settings::default()).map_err(|e| e.to_string())?;
    let d = &lesion.diameters;
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let line = |ends: &[[f64; 3]; 2]| ends.map(|p| p.map(round));
    Ok(json!({
        "algorithm": format!("{}@{}", LesionSeg.id(), LesionSeg.version()),
        "long_line": line(&d.long_ends), "short_line": line(&d.short_ends),
        "long_axis_mm": round(d.long_mm), "short_axis_mm": round(d.short_mm),
        "volume_mm3": round(lesion.volume_mm3), "centroid": lesion.centroid_mm.map(round),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_image::Geometry;
    use ndarray::Array3;

    /// Liver (60 HU) with an ellipsoidal lesion (semi-axes 10 × 6 × 6 mm, 120 HU) at the centre
    /// of a 1 mm in-plane, 2 mm slice grid.
    fn liver_with_lesion() -> Volume<f32> {
        let g = Geometry::new(
            [64, 64, 24],
            [-32.0, -32.0, -24.0],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [1.0, 1.0, 2.0],
        )
        .unwrap();
        let data = Array3::from_shape_fn([64, 64, 24], |(i, j, k)| {
            let p = g.to_patient([i as f64, j as f64, k as f64]);
            let r = (p[0] / 10.0).powi(2) + (p[1] / 6.0).powi(2) + (p[2] / 6.0).powi(2);
            if r <= 1.0 { 120.0 } else { 60.0 }
        });
        let mut v = Volume::new(data, g).unwrap();
        v.source.modality = Some("CT".into());
        v
    }

    #[test]
    fn a_click_in_a_lesion_gives_its_axes_and_a_click_outside_says_why_not() {
        let v = liver_with_lesion();
        let m = measure_at(&v, [1.0, 0.0, 0.0]).unwrap();
        let long = m["long_axis_mm"].as_f64().unwrap();
        let short = m["short_axis_mm"].as_f64().unwrap();
        // The truth: 20 mm along x, 12 mm along y (within a voxel).
        assert!((long - 20.0).abs() <= 1.5, "{m}");
        assert!((short - 12.0).abs() <= 1.5, "{m}");
        let ends = &m["long_line"];
        let dx = ends[1][0].as_f64().unwrap() - ends[0][0].as_f64().unwrap();
        assert!(dx.abs() > 15.0, "the long axis runs along x: {m}");
        assert!(
            m["algorithm"]
                .as_str()
                .unwrap()
                .starts_with("onco.lesion-seg@")
        );
        let outside = measure_at(&v, [0.0, 0.0, 100.0]).unwrap_err();
        assert!(outside.contains("outside the image"), "{outside}");
        let mut mr = v.clone();
        mr.source.modality = Some("MR".into());
        assert!(
            measure_at(&mr, [1.0, 0.0, 0.0])
                .unwrap_err()
                .contains("CT only")
        );
    }
}
