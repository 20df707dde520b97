//! NM Image objects (PS3.3 A.5: SPECT and planar scintigraphy, one multi-frame object) as
//! slices for [`crate::series`]: a reconstructed tomogram (Image Type value 3 RECON TOMO, or
//! RECON GATED TOMO of a single time slot) gives one slice per frame; every other kind is refused
//! with a reason that names it.
//!
//! Placement (NM Detector Module C.8.4.11, NM Multi-frame C.8.4.8, NM Reconstruction C.8.4.15):
//! the first item of the Detector Information Sequence (0054,0022) holds Image Orientation
//! (Patient) and the Image Position (Patient) of slice 1; frame `f` is slice `s` of the Slice
//! Vector (0054,0080) (frame order when there is none), at position + (s − 1) × spacing ×
//! (row × column). The spacing is Spacing Between Slices (0018,0088), signed as the standard
//! says: positive stacks slices behind the first (along row × column), negative in front (GE
//! Xeleris writes −8.836 for slices from the head down). Where it is absent or zero, Slice
//! Thickness (0018,0050), which has no sign, stands for it.
//!
//! dcm2niix (Debian's v1.0.20220720) reads position and orientation from the same detector item
//! but not the sign: it finds no slice direction in the object ("Unable to determine slice
//! direction") and guesses one, along row × column when that vector's components sum to zero or
//! more, against it otherwise, whatever Spacing Between Slices says. So it turns GE's
//! negative-spacing tomograms upside down (rordenlab/dcm2niix issue 885, open); on the rotated
//! grid of `nm/tests.rs` written with negative spacing, its slices come out reversed and its
//! affine 17.4 mm from ours. corelab follows the standard; where spacing and guess agree,
//! dcm2niix makes our volume (`tests/dcm2niix.rs`).

use crate::series::{
    Instance, SeriesError, Slice, StackKey, cross, fail, numbers, plane, rescale_of, rounded, size,
};
use crate::values::text;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

#[cfg(test)]
mod tests;

/// Why each kind of NM image other than a reconstruction is not a volume.
fn not_a_volume(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "STATIC" => "a planar image (one view per detector), not slices",
        "DYNAMIC" => "planar frames over time, not slices",
        "GATED" => "planar frames over the cardiac cycle, not slices",
        "WHOLE BODY" => "planar whole-body views, not slices",
        "TOMO" => "SPECT projections (one frame per angle): reconstruct them first",
        "GATED TOMO" => {
            "gated SPECT projections (one frame per angle and time slot): reconstruct them first"
        }
        _ => return None,
    })
}

/// The frames of an NM object, as slices.
pub(crate) fn frames(instance: &Instance, index: usize) -> Result<Vec<Slice<'_>>, SeriesError> {
    let obj: &InMemDicomObject = &instance.object;
    let name = instance.name.as_str();
    let image_type = text(obj, tags::IMAGE_TYPE).unwrap_or_default();
    let kind = image_type
        .split('\\')
        .nth(2)
        .map(|v| v.trim().to_ascii_uppercase())
        .unwrap_or_default();
    match kind.as_str() {
        "RECON TOMO" => {}
        "RECON GATED TOMO" => single_time_slot(obj).or_else(|why| fail(name, why))?,
        "" => {
            return fail(
                name,
                format!(
                    "an NM image whose (0008,0008) Image Type {image_type:?} has no value 3: nothing says it is a reconstructed tomogram (RECON TOMO)"
                ),
            );
        }
        other => {
            let why = not_a_volume(other).unwrap_or("not a kind of NM image PS3.3 C.8.4.9 defines");
            return fail(
                name,
                format!(
                    "an NM image of type {other} ((0008,0008) Image Type value 3): {why}; only RECON TOMO forms a volume"
                ),
            );
        }
    }
    let count = text(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    let read = || -> Result<Vec<Slice<'_>>, String> {
        let detector = obj
            .get(tags::DETECTOR_INFORMATION_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .ok_or(
                "no item in the (0054,0022) Detector Information Sequence: nothing places the frames of this RECON TOMO image",
            )?;
        let in_detector =
            |why: String| format!("{why} in the (0054,0022) Detector Information Sequence");
        let position = numbers(
            detector,
            tags::IMAGE_POSITION_PATIENT,
            3,
            "Image Position (Patient)",
        )
        .map_err(in_detector)?;
        let orientation = numbers(
            detector,
            tags::IMAGE_ORIENTATION_PATIENT,
            6,
            "Image Orientation (Patient)",
        )
        .map_err(in_detector)?;
        let spacing = numbers(obj, tags::PIXEL_SPACING, 2, "Pixel Spacing")?;
        let first = plane(&position, &orientation, &spacing)?;
        let step = slice_step(obj, count)?;
        let slices = slice_numbers(obj, count)?;
        let (rows, columns) = size(obj)?;
        let rescale = rescale_of(obj)?;
        let normal = cross(first.row_dir, first.col_dir);
        let stack = StackKey {
            parts: Vec::new(),
            orientation: Some(rounded(&first)),
        };
        slices
            .iter()
            .enumerate()
            .map(|(f, s)| {
                let offset = f64::from(s - 1) * step;
                let p = [0, 1, 2].map(|a| position[a] + offset * normal[a]);
                Ok(Slice {
                    instance,
                    index,
                    frame: Some(u32::try_from(f).unwrap_or(u32::MAX)),
                    plane: plane(&p, &orientation, &spacing)?,
                    rows,
                    columns,
                    thickness: Some(step.abs()).filter(|t| *t > 0.0),
                    rescale,
                    stack: stack.clone(),
                })
            })
            .collect()
    };
    read().or_else(|why| fail(name, why))
}

/// RECON GATED TOMO holds one tomogram per time slot; a single slot is one volume.
fn single_time_slot(obj: &InMemDicomObject) -> Result<(), String> {
    for (tag, what) in [
        (tags::NUMBER_OF_TIME_SLOTS, "Number of Time Slots"),
        (tags::NUMBER_OF_RR_INTERVALS, "Number of R-R Intervals"),
    ] {
        let n = obj
            .get(tag)
            .and_then(|e| e.to_int::<u32>().ok())
            .unwrap_or(1);
        if n > 1 {
            return Err(format!(
                "an NM image of type RECON GATED TOMO with {n} in {tag} {what}: one tomogram per time slot (gated SPECT); only a single slot forms a volume"
            ));
        }
    }
    Ok(())
}

/// The signed distance from one slice to the next along row × column.
fn slice_step(obj: &InMemDicomObject, frames: usize) -> Result<f64, String> {
    let one = |tag, name| -> Result<Option<f64>, String> {
        match obj.get(tag) {
            Some(_) if text(obj, tag).is_some() => Ok(Some(numbers(obj, tag, 1, name)?[0])),
            _ => Ok(None),
        }
    };
    let between =
        one(tags::SPACING_BETWEEN_SLICES, "Spacing Between Slices")?.filter(|s| *s != 0.0);
    let thickness = one(tags::SLICE_THICKNESS, "Slice Thickness")?.filter(|s| *s > 0.0);
    match between.or(thickness) {
        Some(step) => Ok(step),
        // One frame needs no spacing (the series reader then takes 1 mm).
        None if frames <= 1 => Ok(0.0),
        None => Err(format!(
            "neither (0018,0088) Spacing Between Slices nor (0018,0050) Slice Thickness: nothing says how far apart the {frames} frames of this RECON TOMO image are"
        )),
    }
}

/// The slice (from 1) each frame shows: the Slice Vector, else the frame order.
fn slice_numbers(obj: &InMemDicomObject, frames: usize) -> Result<Vec<u16>, String> {
    let Some(element) = obj.get(tags::SLICE_VECTOR) else {
        return (1..=frames)
            .map(|f| u16::try_from(f).map_err(|_| format!("{frames} frames: at most 65535")))
            .collect();
    };
    let slices = element
        .to_multi_int::<u16>()
        .map_err(|_| "(0054,0080) Slice Vector is not a list of numbers".to_owned())?;
    if slices.len() != frames {
        return Err(format!(
            "(0054,0080) Slice Vector has {} values for {frames} frames ((0028,0008) Number of Frames)",
            slices.len()
        ));
    }
    if let Some(bad) = slices
        .iter()
        .find(|s| **s == 0 || usize::from(**s) > frames)
    {
        return Err(format!(
            "(0054,0080) Slice Vector holds {bad}: slices are numbered 1 to {frames}"
        ));
    }
    Ok(slices)
}
