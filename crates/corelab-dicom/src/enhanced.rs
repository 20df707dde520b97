//! Enhanced multi-frame images (Enhanced CT, MR, PET…; PS3.3 C.7.6.16 Multi-frame Functional
//! Groups) as slices for [`crate::series`]: each frame placed, sized and rescaled by its own
//! functional groups, and given the keys that split a series into stacks.
//!
//! Every attribute is taken from the frame's item of the Per-frame Functional Groups Sequence
//! (5200,9230), else from the Shared Functional Groups Sequence (5200,9229), else (Rescale only)
//! from the data set itself. Frames are then sorted and checked exactly as single-frame images
//! are: their order comes from Image Position (Patient), never from In-Stack Position Number.

use crate::series::{
    Instance, SeriesError, Slice, StackKey, fail, numbers, plane, rescale_of, rounded, size,
};
use crate::values::text;
use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;

/// Dimensions that place a frame within a stack (In-Stack Position Number, Image Position): they
/// order slices and never split stacks.
const SPATIAL: [Tag; 2] = [tags::IN_STACK_POSITION_NUMBER, tags::IMAGE_POSITION_PATIENT];

/// Split keys read on their own, so a dimension pointing at one of them adds nothing.
const KEYS: [(Tag, Tag, &str); 4] = [
    (tags::FRAME_CONTENT_SEQUENCE, tags::STACK_ID, "Stack ID"),
    (
        tags::FRAME_CONTENT_SEQUENCE,
        tags::TEMPORAL_POSITION_INDEX,
        "Temporal Position Index",
    ),
    (
        tags::MR_ECHO_SEQUENCE,
        tags::EFFECTIVE_ECHO_TIME,
        "Effective Echo Time",
    ),
    (
        tags::MR_DIFFUSION_SEQUENCE,
        tags::DIFFUSION_B_VALUE,
        "Diffusion b-value",
    ),
];

/// One frame's functional groups: its own item and the shared one.
struct Groups<'o> {
    frame: &'o InMemDicomObject,
    shared: Option<&'o InMemDicomObject>,
}

fn first_item(obj: &InMemDicomObject, seq: Tag) -> Option<&InMemDicomObject> {
    obj.get(seq)?.items()?.first()
}

impl<'o> Groups<'o> {
    /// The item of functional group `seq` that holds `tag`: the frame's, else the shared one.
    fn item(&self, seq: Tag, tag: Tag) -> Option<&'o InMemDicomObject> {
        [Some(self.frame), self.shared]
            .into_iter()
            .flatten()
            .filter_map(|g| first_item(g, seq))
            .find(|i| i.get(tag).is_some())
    }

    fn numbers(
        &self,
        (seq, seq_name): (Tag, &str),
        tag: Tag,
        n: usize,
        name: &str,
    ) -> Result<Vec<f64>, String> {
        let item = self.item(seq, tag).ok_or_else(|| {
            format!("no {tag} {name} in a {seq} {seq_name}, of the frame or shared")
        })?;
        numbers(item, tag, n, name)
    }

    fn text(&self, seq: Tag, tag: Tag) -> Option<String> {
        text(self.item(seq, tag)?, tag)
    }
}

/// The frames of an enhanced multi-frame object, as slices.
pub(crate) fn frames<'a>(
    instance: &'a Instance,
    index: usize,
    per_frame: &'a [InMemDicomObject],
) -> Result<Vec<Slice<'a>>, SeriesError> {
    let obj: &InMemDicomObject = &instance.object;
    let name = instance.name.as_str();
    let count = text(obj, tags::NUMBER_OF_FRAMES)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    if per_frame.len() != count {
        return fail(
            name,
            format!(
                "{} items in the (5200,9230) Per-frame Functional Groups Sequence for {count} frames ((0028,0008) Number of Frames)",
                per_frame.len()
            ),
        );
    }
    let (rows, columns) = size(obj).or_else(|why| fail(name, why))?;
    let dimensions = dimension_pointers(obj).or_else(|why| fail(name, why))?;
    let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let whole = rescale_of(obj).or_else(|why| fail(name, why))?;
    per_frame
        .iter()
        .enumerate()
        .map(|(f, item)| {
            let groups = Groups {
                frame: item,
                shared,
            };
            let frame = u32::try_from(f).unwrap_or(u32::MAX);
            let read = || -> Result<Slice<'a>, String> {
                let position = groups.numbers(
                    (tags::PLANE_POSITION_SEQUENCE, "Plane Position Sequence"),
                    tags::IMAGE_POSITION_PATIENT,
                    3,
                    "Image Position (Patient)",
                )?;
                let orientation = groups.numbers(
                    (
                        tags::PLANE_ORIENTATION_SEQUENCE,
                        "Plane Orientation Sequence",
                    ),
                    tags::IMAGE_ORIENTATION_PATIENT,
                    6,
                    "Image Orientation (Patient)",
                )?;
                let measures = (tags::PIXEL_MEASURES_SEQUENCE, "Pixel Measures Sequence");
                let spacing = groups.numbers(measures, tags::PIXEL_SPACING, 2, "Pixel Spacing")?;
                let plane = plane(&position, &orientation, &spacing)?;
                let thickness = groups
                    .item(measures.0, tags::SLICE_THICKNESS)
                    .map(|i| numbers(i, tags::SLICE_THICKNESS, 1, "Slice Thickness"))
                    .transpose()?
                    .map(|t| t[0])
                    .filter(|t| *t > 0.0);
                let transformation = tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE;
                let rescale = match groups
                    .item(transformation, tags::RESCALE_SLOPE)
                    .or_else(|| groups.item(transformation, tags::RESCALE_INTERCEPT))
                {
                    Some(item) => rescale_of(item)?,
                    None => whole,
                };
                let stack = stack_key(&groups, dimensions.as_deref(), &plane)?;
                Ok(Slice {
                    instance,
                    index,
                    frame: Some(frame),
                    plane,
                    rows,
                    columns,
                    thickness,
                    rescale,
                    stack,
                })
            };
            read().or_else(|why| fail(&format!("{name} frame {}", f + 1), why))
        })
        .collect()
}

/// What sets a frame's stack apart: Stack ID, Temporal Position Index, Effective Echo Time,
/// b-value, and the index of every other non-spatial dimension (Dimension Index Values read with
/// the Dimension Index Sequence, which says what each index counts). The orientation joins them
/// only where no Stack ID says which frames form a stack.
fn stack_key(
    groups: &Groups,
    dimensions: Option<&[Tag]>,
    plane: &crate::series::Plane,
) -> Result<StackKey, String> {
    let mut parts = Vec::new();
    for (seq, tag, what) in KEYS {
        if let Some(v) = groups.text(seq, tag) {
            parts.push((what.to_owned(), v));
        }
    }
    let content = tags::FRAME_CONTENT_SEQUENCE;
    if let (Some(pointers), Some(item)) = (
        dimensions,
        groups.item(content, tags::DIMENSION_INDEX_VALUES),
    ) {
        let values = item
            .get(tags::DIMENSION_INDEX_VALUES)
            .and_then(|e| e.to_multi_int::<u32>().ok())
            .ok_or("(0020,9157) Dimension Index Values is not a list of numbers")?;
        if values.len() != pointers.len() {
            return Err(format!(
                "(0020,9157) Dimension Index Values {values:?} has {} values; the (0020,9222) Dimension Index Sequence declares {} dimensions",
                values.len(),
                pointers.len()
            ));
        }
        for (pointer, value) in pointers.iter().zip(values) {
            let known = KEYS.iter().any(|k| k.1 == *pointer);
            if SPATIAL.contains(pointer) || known {
                continue;
            }
            let alias = StandardDataDictionary
                .by_tag(*pointer)
                .map_or("private", |e| e.alias());
            parts.push((format!("dimension {pointer} {alias}"), value.to_string()));
        }
    }
    let has_stack_id = parts.iter().any(|(k, _)| k == "Stack ID");
    Ok(StackKey {
        parts,
        orientation: (!has_stack_id).then(|| rounded(plane)),
    })
}

/// The Dimension Index Pointer of each item of the Dimension Index Sequence, if there is one.
fn dimension_pointers(obj: &InMemDicomObject) -> Result<Option<Vec<Tag>>, String> {
    let Some(items) = obj
        .get(tags::DIMENSION_INDEX_SEQUENCE)
        .and_then(|e| e.items())
    else {
        return Ok(None);
    };
    items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            item.get(tags::DIMENSION_INDEX_POINTER)
                .and_then(|e| e.value().to_tag().ok())
                .ok_or_else(|| {
                    format!(
                        "item {} of the (0020,9222) Dimension Index Sequence has no (0020,9165) Dimension Index Pointer",
                        n + 1
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
