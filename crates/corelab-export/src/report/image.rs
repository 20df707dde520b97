//! Key images: window a grey slice to 8 bits and blend the label overlay on top.

use super::{KeyImage, ReportError};

/// Colours of labels 1, 2, 3, …, repeating: saturated primaries first so that the first labels
/// (usually lesion / organ) stand out on grey and are easy to tell apart.
pub const LABEL_PALETTE: [[u8; 3]; 8] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 128, 255],
    [255, 255, 0],
    [255, 0, 255],
    [0, 255, 255],
    [255, 128, 0],
    [128, 0, 255],
];

/// Opacity of the label colour over the grey image.
pub const OVERLAY_ALPHA: f32 = 0.4;

/// Longest side, in pixels, of an embedded key image. Half a page width at ~300 dpi is about
/// 1000 pixels, so larger images only make the file bigger; they are subsampled (nearest
/// neighbour, which keeps labels crisp).
const MAX_SIDE: usize = 1024;

/// An 8-bit RGB rendering of a key image, top row first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// Renders key image number `index` (for errors) to RGB; `Ok(None)` for an empty image.
pub(crate) fn render(image: &KeyImage, index: usize) -> Result<Option<Rendered>, ReportError> {
    let slice = &image.slice;
    let (width, height) = (slice.width, slice.height);
    let expected = width.checked_mul(height);
    if expected != Some(slice.pixels.len()) {
        return Err(ReportError::SliceSize {
            index,
            caption: image.caption.clone(),
            expected: expected.unwrap_or(usize::MAX),
            found: slice.pixels.len(),
            width,
            height,
        });
    }
    if let Some(labels) = &image.overlay
        && labels.len() != slice.pixels.len()
    {
        return Err(ReportError::OverlaySize {
            index,
            caption: image.caption.clone(),
            expected: slice.pixels.len(),
            found: labels.len(),
            width,
            height,
        });
    }
    if width == 0 || height == 0 {
        return Ok(None);
    }
    let (lo, span) = window(&slice.pixels, slice.window);
    let step = width.max(height).div_ceil(MAX_SIDE);
    let (out_w, out_h) = (width.div_ceil(step), height.div_ceil(step));
    let mut rgb = Vec::with_capacity(out_w * out_h * 3);
    for row in (0..height).step_by(step) {
        for col in (0..width).step_by(step) {
            let i = row * width + col;
            let v = slice.pixels[i];
            let grey = if v.is_finite() {
                ((f64::from(v) - lo) / span).clamp(0.0, 1.0) * 255.0
            } else {
                0.0
            };
            let label = image.overlay.as_ref().map_or(0, |l| l[i]);
            rgb.extend(blend(grey as f32, label));
        }
    }
    Ok(Some(Rendered {
        width: out_w,
        height: out_h,
        rgb,
    }))
}

/// Lower bound and width of the display window; falls back to the pixel range when the given
/// window is unusable, and to a unit width when the image is flat.
fn window(pixels: &[f32], (centre, width): (f64, f64)) -> (f64, f64) {
    if centre.is_finite() && width.is_finite() && width > 0.0 {
        return (centre - width / 2.0, width);
    }
    let (min, max) = pixels
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(f64::from(v)), hi.max(f64::from(v)))
        });
    if !(min.is_finite() && max.is_finite()) || max <= min {
        let base = if min.is_finite() { min - 0.5 } else { 0.0 };
        return (base, 1.0);
    }
    (min, max - min)
}

fn blend(grey: f32, label: u8) -> [u8; 3] {
    if label == 0 {
        let g = grey.round() as u8;
        return [g, g, g];
    }
    let colour = LABEL_PALETTE[usize::from(label - 1) % LABEL_PALETTE.len()];
    colour.map(|c| ((1.0 - OVERLAY_ALPHA) * grey + OVERLAY_ALPHA * f32::from(c)).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::super::GreySlice;
    use super::*;

    fn key(width: usize, height: usize, overlay: Option<Vec<u8>>) -> KeyImage {
        KeyImage {
            caption: "axial 12".into(),
            slice: GreySlice {
                width,
                height,
                pixels: (0..width * height).map(|v| v as f32).collect(),
                window: (f64::NAN, 0.0),
            },
            overlay,
            pixel_aspect: 1.0,
        }
    }

    #[test]
    fn report_image_blends_label_colour_at_forty_percent() {
        let out = render(&key(2, 1, Some(vec![0, 1])), 0).unwrap().unwrap();
        // Pixel range 0..1 windows pixel 0 to black and pixel 1 to white.
        assert_eq!(&out.rgb[0..3], &[0, 0, 0]);
        // White under red at 40 %: 0.6 * 255 + 0.4 * (255, 0, 0).
        assert_eq!(&out.rgb[3..6], &[255, 153, 153]);
    }

    #[test]
    fn report_image_refuses_mismatched_overlay_naming_the_image() {
        let err = render(&key(2, 2, Some(vec![0; 3])), 5).unwrap_err();
        assert!(matches!(
            err,
            ReportError::OverlaySize {
                index: 5,
                found: 3,
                expected: 4,
                ..
            }
        ));
        assert!(err.to_string().contains("axial 12"), "{err}");
    }

    #[test]
    fn report_image_refuses_wrong_pixel_count_and_overflow() {
        let mut k = key(2, 2, None);
        k.slice.width = usize::MAX;
        let err = render(&k, 0).unwrap_err();
        assert!(matches!(
            err,
            ReportError::SliceSize {
                expected: usize::MAX,
                ..
            }
        ));
    }

    #[test]
    fn report_image_empty_and_flat_and_nan_do_not_panic() {
        assert_eq!(render(&key(0, 0, None), 0).unwrap(), None);
        assert_eq!(render(&key(0, 5, Some(vec![])), 0).unwrap(), None);
        let mut k = key(2, 2, Some(vec![0, 0, 0, 255]));
        k.slice.pixels = vec![f32::NAN, 3.0, f32::INFINITY, 3.0];
        let out = render(&k, 0).unwrap().unwrap();
        assert_eq!(out.rgb.len(), 12);
        k.slice.pixels = vec![f32::NAN; 4];
        assert!(render(&k, 0).unwrap().is_some());
    }

    #[test]
    fn report_image_subsamples_large_slices() {
        let out = render(&key(3000, 10, None), 0).unwrap().unwrap();
        assert_eq!((out.width, out.height), (1000, 4));
        assert_eq!(out.rgb.len(), 1000 * 4 * 3);
    }

    #[test]
    fn report_image_uses_given_window() {
        let mut k = key(3, 1, None);
        k.slice.pixels = vec![0.0, 50.0, 100.0];
        k.slice.window = (50.0, 100.0);
        let out = render(&k, 0).unwrap().unwrap();
        assert_eq!(out.rgb, vec![0, 0, 0, 128, 128, 128, 255, 255, 255]);
    }
}
