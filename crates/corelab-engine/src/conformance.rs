//! A series against its role's acquisition requirements (`[roles.NAME.require]`): each
//! requirement given becomes a [`Check`] with the value found, the range required and the
//! verdict. A value the header lacks, or one that is absurd (negative thickness, a repetition
//! time that reads as seconds, a field strength in gauss), is never passed or failed silently:
//! it is a `review` naming what is wrong. Plausibility is checked for every series, whether its
//! role asks about the value or not.

use crate::report::{Check, Status};
use corelab_core::protocol::{Orientation, Range, Requirements, glob_match};
use corelab_dicom::acquisition::Acquisition;
use corelab_image::Volume;
use serde::Serialize;

/// What a series' volume says about its geometry (from the image positions and orientation,
/// which the header's Slice Thickness and Spacing Between Slices may contradict).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesGeometry {
    /// `axial`, `sagittal` or `coronal`: the patient axis nearest the slice normal.
    pub orientation: Orientation,
    /// Angle between the slice normal and that axis, degrees.
    pub tilt_deg: f64,
    /// Voxels along i, j, k.
    pub dims: [usize; 3],
    /// Spacing along i, j, k (mm).
    pub spacing_mm: [f64; 3],
    /// Extent along the slice normal: slice centres' span plus one slice (mm).
    pub coverage_mm: f64,
    /// Volumes the series forms (time points, echoes, …).
    pub volumes: usize,
}

impl SeriesGeometry {
    /// The geometry of a series' first volume; `thickness_mm` (from the header) completes the
    /// coverage, the slice spacing standing in when it is absent.
    pub fn of(v: &Volume<f32>, thickness_mm: Option<f64>, volumes: usize) -> Self {
        let g = &v.geometry;
        let [i, j, _] = g.directions();
        let n = [
            i[1] * j[2] - i[2] * j[1],
            i[2] * j[0] - i[0] * j[2],
            i[0] * j[1] - i[1] * j[0],
        ];
        let norm = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
            .sqrt()
            .max(f64::MIN_POSITIVE);
        let (axis, cos) = (0..3)
            .map(|a| (a, n[a].abs() / norm))
            .fold((2, 0.0), |best, c| if c.1 > best.1 { c } else { best });
        let orientation = match axis {
            0 => Orientation::Sagittal,
            1 => Orientation::Coronal,
            _ => Orientation::Axial,
        };
        let spacing_mm = g.spacing();
        let dims = g.dims;
        // The spacing of slice centres along the normal (not along k, which a tilt shears).
        let k = g.to_patient([0.0, 0.0, 1.0]);
        let o = g.to_patient([0.0, 0.0, 0.0]);
        let along = ((k[0] - o[0]) * n[0] + (k[1] - o[1]) * n[1] + (k[2] - o[2]) * n[2]) / norm;
        let slice = thickness_mm.filter(|t| *t > 0.0).unwrap_or(along.abs());
        Self {
            orientation,
            tilt_deg: cos.clamp(-1.0, 1.0).acos().to_degrees(),
            dims,
            spacing_mm,
            coverage_mm: along.abs() * (dims[2].saturating_sub(1)) as f64 + slice,
            volumes,
        }
    }
}

/// Checks that no value in the header is absurd or unreadable. Empty when all is plausible.
pub fn plausibility(a: &Acquisition) -> Vec<Check> {
    let mut out: Vec<Check> = a
        .problems
        .iter()
        .map(|p| {
            Check::new("header", None, "readable values".into(), Status::Review).note(p.clone())
        })
        .collect();
    let mut check = |item: &str, v: Option<f64>, unit: &str, ok: (f64, f64), why: &str| {
        if let Some(v) = v
            && !(ok.0..=ok.1).contains(&v)
        {
            out.push(
                Check::new(
                    item,
                    Some(format!("{v} {unit}")),
                    format!("{}–{} {unit}", ok.0, ok.1),
                    Status::Review,
                )
                .note(why),
            );
        }
    };
    let mr = a.modality.as_deref() == Some("MR");
    check(
        "slice_thickness_mm",
        a.slice_thickness_mm,
        "mm",
        (1e-3, 100.0),
        "absurd Slice Thickness (0018,0050)",
    );
    check(
        "slice_spacing_mm",
        a.spacing_between_slices_mm,
        "mm",
        (1e-3, 100.0),
        "absurd Spacing Between Slices (0018,0088)",
    );
    for (n, v) in a.pixel_spacing_mm.iter().flatten().enumerate() {
        check(
            &format!("pixel_spacing_mm[{n}]"),
            Some(*v),
            "mm",
            (1e-3, 50.0),
            "absurd Pixel Spacing (0028,0030)",
        );
    }
    if mr {
        let tr = a.repetition_time_ms;
        let why_tr = if tr.is_some_and(|t| t > 0.0 && t < 1.0) {
            "Repetition Time (0018,0080) below 1 ms: written in seconds, not milliseconds?"
        } else {
            "absurd Repetition Time (0018,0080)"
        };
        check("tr_ms", tr, "ms", (1.0, 60_000.0), why_tr);
        check(
            "te_ms",
            a.echo_time_ms,
            "ms",
            (0.0, 5_000.0),
            "absurd Echo Time (0018,0081)",
        );
        check(
            "ti_ms",
            a.inversion_time_ms,
            "ms",
            (0.0, 20_000.0),
            "absurd Inversion Time (0018,0082)",
        );
        check(
            "flip_angle_deg",
            a.flip_angle_deg,
            "deg",
            (0.0, 180.0),
            "absurd Flip Angle (0018,1314)",
        );
        let why_b0 = if a.field_strength_t.is_some_and(|b| b >= 100.0) {
            "Magnetic Field Strength (0018,0087) reads as gauss, not tesla"
        } else {
            "absurd Magnetic Field Strength (0018,0087)"
        };
        check(
            "field_strength_t",
            a.field_strength_t,
            "T",
            (0.01, 15.0),
            why_b0,
        );
    }
    if a.series_description.is_none() {
        out.push(
            Check::new(
                "series_description",
                None,
                "a Series Description".into(),
                Status::Review,
            )
            .note("empty Series Description (0008,103E): the series cannot be told by its name"),
        );
    }
    out
}

/// Checks a series against its role's requirements. `geometry` is `None` when the series
/// formed no volume; `uptake_min` is the PET uptake time (injection to scan start) when known.
pub fn conformance(
    req: &Requirements,
    a: &Acquisition,
    geometry: Option<&SeriesGeometry>,
    uptake_min: Option<f64>,
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut range = |item: &str, r: &Option<Range>, v: Option<f64>, unit: &str, source: &str| {
        let Some(r) = r else { return };
        out.push(range_check(item, r, v, unit, source));
    };
    range(
        "field_strength_t",
        &req.field_strength_t,
        a.field_strength_t,
        "T",
        "Magnetic Field Strength (0018,0087)",
    );
    range(
        "slice_thickness_mm",
        &req.slice_thickness_mm,
        a.slice_thickness_mm,
        "mm",
        "Slice Thickness (0018,0050)",
    );
    range(
        "slice_spacing_mm",
        &req.slice_spacing_mm,
        geometry
            .map(|g| g.spacing_mm[2])
            .or(a.spacing_between_slices_mm),
        "mm",
        "the image positions",
    );
    range(
        "tr_ms",
        &req.tr_ms,
        a.repetition_time_ms,
        "ms",
        "Repetition Time (0018,0080)",
    );
    range(
        "te_ms",
        &req.te_ms,
        a.echo_time_ms,
        "ms",
        "Echo Time (0018,0081)",
    );
    range(
        "ti_ms",
        &req.ti_ms,
        a.inversion_time_ms,
        "ms",
        "Inversion Time (0018,0082)",
    );
    range(
        "flip_angle_deg",
        &req.flip_angle_deg,
        a.flip_angle_deg,
        "deg",
        "Flip Angle (0018,1314)",
    );
    range(
        "coverage_mm",
        &req.coverage_mm,
        geometry.map(|g| g.coverage_mm),
        "mm",
        "the image positions",
    );
    range(
        "uptake_min",
        &req.uptake_min,
        uptake_min,
        "min",
        "the injection and scan times",
    );
    range(
        "dose_mbq",
        &req.dose_mbq,
        a.dose_mbq,
        "MBq",
        "Radionuclide Total Dose (0018,1074)",
    );
    if let Some(r) = &req.pixel_spacing_mm {
        // Both in-plane spacings must lie in the range: the coarser decides.
        let v = a
            .pixel_spacing_mm
            .map(|[x, y]| if r.contains(x) { y } else { x });
        out.push(range_check(
            "pixel_spacing_mm",
            r,
            v,
            "mm",
            "Pixel Spacing (0028,0030)",
        ));
    }
    if let Some(r) = &req.matrix {
        let v = a
            .rows
            .zip(a.columns)
            .map(|(rows, cols)| {
                if r.contains(f64::from(rows)) {
                    cols
                } else {
                    rows
                }
            })
            .map(f64::from);
        out.push(range_check(
            "matrix",
            r,
            v,
            "",
            "Rows and Columns (0028,0010/0011)",
        ));
    }
    if let Some(wanted) = req.contrast {
        let have = a.contrast_agent.is_some();
        let required = if wanted {
            "a contrast agent"
        } else {
            "no contrast agent"
        };
        let check = Check::new(
            "contrast",
            Some(a.contrast_agent.clone().unwrap_or_else(|| "none".into())),
            required.into(),
            if have == wanted {
                Status::Pass
            } else {
                Status::Fail
            },
        );
        out.push(if have == wanted {
            check
        } else {
            check.note("Contrast/Bolus Agent (0018,0010) does not match the protocol")
        });
    }
    if let Some(wanted) = req.orientation {
        let check = match geometry {
            None => Check::new("orientation", None, wanted.to_string(), Status::Review)
                .note("the series forms no volume to take its orientation from"),
            Some(g) if g.orientation == wanted => Check::new(
                "orientation",
                Some(format!("{} ({:.1}° tilt)", g.orientation, g.tilt_deg)),
                wanted.to_string(),
                Status::Pass,
            ),
            Some(g) => Check::new(
                "orientation",
                Some(format!("{} ({:.1}° tilt)", g.orientation, g.tilt_deg)),
                wanted.to_string(),
                Status::Fail,
            )
            .note("slices in another plane"),
        };
        out.push(check);
    }
    if !req.kernel.is_empty() {
        out.push(any_pattern(
            "kernel",
            &req.kernel,
            &a.convolution_kernel,
            "Convolution Kernel (0018,1210)",
            glob_match,
        ));
    }
    if !req.radiopharmaceutical.is_empty() {
        let have: Vec<String> = a.radiopharmaceutical.iter().cloned().collect();
        out.push(any_pattern(
            "radiopharmaceutical",
            &req.radiopharmaceutical,
            &have,
            "Radiopharmaceutical (0018,0031)",
            |p, v| v.to_ascii_lowercase().contains(&p.to_ascii_lowercase()),
        ));
    }
    out
}

fn any_pattern(
    item: &str,
    patterns: &[String],
    values: &[String],
    source: &str,
    matches: impl Fn(&str, &str) -> bool,
) -> Check {
    let required = patterns.join(" | ");
    if values.is_empty() {
        return Check::new(item, None, required, Status::Review)
            .note(format!("no {source} in the header"));
    }
    let ok = values
        .iter()
        .any(|v| patterns.iter().any(|p| matches(p, v)));
    let check = Check::new(
        item,
        Some(values.join("\\")),
        required,
        if ok { Status::Pass } else { Status::Fail },
    );
    if ok {
        check
    } else {
        check.note(format!("{source} is not one the protocol accepts"))
    }
}

fn range_check(item: &str, r: &Range, v: Option<f64>, unit: &str, source: &str) -> Check {
    let with_unit = |x: String| {
        if unit.is_empty() {
            x
        } else {
            format!("{x} {unit}")
        }
    };
    let required = with_unit(r.to_string());
    match v {
        None => Check::new(item, None, required, Status::Review)
            .note(format!("no value: {source} is missing or unreadable")),
        Some(v) if r.contains(v) => Check::new(
            item,
            Some(with_unit(format_number(v))),
            required,
            Status::Pass,
        ),
        Some(v) => Check::new(
            item,
            Some(with_unit(format_number(v))),
            required,
            Status::Fail,
        )
        .note("outside the protocol's range"),
    }
}

/// A number as people write it: no trailing zeros, at most 3 decimals.
pub fn format_number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(toml_text: &str) -> Requirements {
        toml::from_str(toml_text).unwrap()
    }

    fn flair() -> Acquisition {
        Acquisition {
            modality: Some("MR".into()),
            series_description: Some("AX FLAIR".into()),
            slice_thickness_mm: Some(3.0),
            pixel_spacing_mm: Some([0.9, 0.9]),
            repetition_time_ms: Some(9000.0),
            echo_time_ms: Some(90.0),
            inversion_time_ms: Some(2500.0),
            field_strength_t: Some(3.0),
            rows: Some(256),
            columns: Some(256),
            ..Default::default()
        }
    }

    #[test]
    fn each_requirement_gives_the_value_the_range_and_the_verdict() {
        let r = req(
            "slice_thickness_mm = { max = 3.0 }\nfield_strength_t = [1.5, 3.0]\n\
                     pixel_spacing_mm = { max = 1.0 }\nmatrix = { min = 256 }\ntr_ms = [6000, 11000]\n",
        );
        let checks = conformance(&r, &flair(), None, None);
        assert_eq!(checks.len(), 5);
        assert!(
            checks.iter().all(|c| c.status == Status::Pass),
            "{checks:#?}"
        );
        let thick = Acquisition {
            slice_thickness_mm: Some(5.0),
            ..flair()
        };
        let c = &conformance(&r, &thick, None, None)[1];
        assert_eq!(
            (
                c.item.as_str(),
                c.measured.as_deref(),
                c.required.as_str(),
                c.status
            ),
            ("slice_thickness_mm", Some("5 mm"), "≤ 3 mm", Status::Fail)
        );
    }

    #[test]
    fn a_missing_value_is_a_review_naming_the_attribute() {
        let r = req("flip_angle_deg = [80, 180]\n");
        let c = &conformance(&r, &flair(), None, None)[0];
        assert_eq!(c.status, Status::Review);
        assert!(
            c.note
                .as_deref()
                .unwrap()
                .contains("Flip Angle (0018,1314)"),
            "{c:?}"
        );
    }

    #[test]
    fn absurd_header_values_are_reviews_with_their_reason() {
        let bad = Acquisition {
            slice_thickness_mm: Some(-3.0),
            repetition_time_ms: Some(2.3),
            series_description: None,
            field_strength_t: Some(15000.0),
            problems: vec!["(0018,0081) Echo Time: \"x\" is not a number".into()],
            ..flair()
        };
        let checks = plausibility(&bad);
        let notes: Vec<&str> = checks.iter().filter_map(|c| c.note.as_deref()).collect();
        assert!(checks.iter().all(|c| c.status == Status::Review));
        assert_eq!(checks.len(), 4, "{notes:?}");
        assert!(
            notes.iter().any(|n| n.contains("Slice Thickness")),
            "{notes:?}"
        );
        assert!(notes.iter().any(|n| n.contains("Echo Time")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("gauss")), "{notes:?}");
        assert!(
            notes.iter().any(|n| n.contains("empty Series Description")),
            "{notes:?}"
        );
        let seconds = Acquisition {
            repetition_time_ms: Some(2.3),
            ..flair()
        };
        let n = plausibility(&seconds);
        assert!(
            n.is_empty(),
            "2.3 ms is a plausible gradient-echo TR: {n:?}"
        );
        let seconds = Acquisition {
            repetition_time_ms: Some(0.5),
            ..flair()
        };
        assert!(
            plausibility(&seconds)[0]
                .note
                .as_deref()
                .unwrap()
                .contains("seconds")
        );
        assert!(plausibility(&flair()).is_empty());
    }

    #[test]
    fn contrast_kernel_and_radiopharmaceutical_are_checked() {
        let r = req("contrast = true\nkernel = [\"B*\", \"STANDARD\"]\n");
        let ct = Acquisition {
            modality: Some("CT".into()),
            series_description: Some("CHEST".into()),
            convolution_kernel: vec!["Br40d".into()],
            ..Default::default()
        };
        let c = conformance(&r, &ct, None, None);
        assert_eq!(c[0].status, Status::Fail, "no agent: {c:?}");
        assert_eq!(c[1].status, Status::Pass, "{c:?}");
        let lung = Acquisition {
            contrast_agent: Some("IOPAMIDOL".into()),
            convolution_kernel: vec!["LUNG".into()],
            ..ct
        };
        let c = conformance(&r, &lung, None, None);
        assert_eq!((c[0].status, c[1].status), (Status::Pass, Status::Fail));
        let pet = Acquisition {
            radiopharmaceutical: Some("Florbetapir F^18^".into()),
            dose_mbq: Some(370.0),
            ..Default::default()
        };
        let r = req(
            "radiopharmaceutical = [\"florbetapir\"]\ndose_mbq = [333, 407]\nuptake_min = [50, 60]\n",
        );
        let c = conformance(&r, &pet, None, Some(61.0));
        let s: Vec<Status> = c.iter().map(|c| c.status).collect();
        assert_eq!(s, vec![Status::Fail, Status::Pass, Status::Pass], "{c:#?}");
    }
}
