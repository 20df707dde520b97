//! RT Structure Set contours rasterised to a mask on a volume's grid: each closed planar contour
//! is placed on its slice (it must lie in one, within a tenth of the spacing) and filled by the
//! even-odd rule on voxel centres; contours on one slice combine by exclusive or, so a contour
//! inside another is a hole.

use crate::values::text;
use corelab_image::Geometry;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use ndarray::Array3;

/// Why a structure cannot be rasterised.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("RTSTRUCT: {0}")]
pub struct RtStructError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, RtStructError> {
    Err(RtStructError(why.into()))
}

/// The structures' numbers and names.
pub fn roi_names(obj: &InMemDicomObject) -> Vec<(i64, String)> {
    obj.get(tags::STRUCTURE_SET_ROI_SEQUENCE)
        .and_then(|e| e.items())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let n = text(i, tags::ROI_NUMBER)?.parse().ok()?;
                    Some((n, text(i, tags::ROI_NAME).unwrap_or_default()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The mask of the structure named `roi` on `grid`.
pub fn rasterise(
    obj: &InMemDicomObject,
    roi: &str,
    grid: &Geometry,
) -> Result<Array3<bool>, RtStructError> {
    let names = roi_names(obj);
    let Some((number, _)) = names.iter().find(|(_, n)| n == roi) else {
        let known: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
        return refuse(format!(
            "no structure {roi:?} (structures: {})",
            known.join(", ")
        ));
    };
    let contours = obj
        .get(tags::ROI_CONTOUR_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| {
            items.iter().find(|i| {
                text(i, tags::REFERENCED_ROI_NUMBER).and_then(|t| t.parse::<i64>().ok())
                    == Some(*number)
            })
        })
        .and_then(|i| i.get(tags::CONTOUR_SEQUENCE))
        .and_then(|e| e.items())
        .ok_or_else(|| RtStructError(format!("structure {roi:?} has no contours")))?;
    let inverse = grid
        .affine
        .try_inverse()
        .ok_or_else(|| RtStructError("the grid's affine cannot be inverted".into()))?;
    let [ni, nj, nk] = grid.dims;
    let mut mask = Array3::from_elem((ni, nj, nk), false);
    for (n, contour) in contours.iter().enumerate() {
        let kind = text(contour, tags::CONTOUR_GEOMETRIC_TYPE).unwrap_or_default();
        if kind != "CLOSED_PLANAR" {
            continue; // points and open contours enclose nothing
        }
        let data = text(contour, tags::CONTOUR_DATA).unwrap_or_default();
        let values = data
            .split('\\')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                RtStructError(format!("contour {} has non-numeric Contour Data", n + 1))
            })?;
        if values.len() < 9 || values.len() % 3 != 0 {
            return refuse(format!(
                "contour {} has {} Contour Data values: at least three points (x, y, z) expected",
                n + 1,
                values.len()
            ));
        }
        let points: Vec<[f64; 3]> = values
            .chunks(3)
            .map(|p| {
                let v = inverse * nalgebra::Vector4::new(p[0], p[1], p[2], 1.0);
                [v[0], v[1], v[2]]
            })
            .collect();
        let k = points[0][2].round();
        if points.iter().any(|p| (p[2] - k).abs() > 0.1) {
            return refuse(format!(
                "contour {} of {roi:?} does not lie in one slice of the grid",
                n + 1
            ));
        }
        if k < 0.0 || k >= nk as f64 {
            continue; // outside the volume
        }
        let k = k as usize;
        for j in 0..nj {
            for i in 0..ni {
                if inside(&points, i as f64, j as f64) {
                    mask[[i, j, k]] ^= true;
                }
            }
        }
    }
    Ok(mask)
}

/// Whether (x, y) is inside the polygon (even-odd rule).
fn inside(points: &[[f64; 3]], x: f64, y: f64) -> bool {
    let mut c = false;
    let mut prev = points[points.len() - 1];
    for p in points {
        if (p[1] > y) != (prev[1] > y) {
            let at = prev[0] + (y - prev[1]) * (p[0] - prev[0]) / (p[1] - prev[1]);
            if x < at {
                c = !c;
            }
        }
        prev = *p;
    }
    c
}
