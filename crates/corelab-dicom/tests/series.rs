//! Series → volume on generated series with exact geometry: sorting, spacing, tilt, rescale, and
//! every inconsistency refused (or split) with a reason naming the instance.

mod common;

use common::{Spec, instance, spec, stored};
use corelab_dicom::series::{Instance, volumes};
use dicom_core::VR;
use dicom_dictionary_std::tags;

fn error_of(instances: &[Instance]) -> String {
    volumes(instances).unwrap_err().to_string()
}

#[test]
fn an_axial_stack_in_any_order_becomes_one_volume_with_its_geometry_and_rescaled_values() {
    // Given out of order: the volume is sorted along the normal.
    let order = [3usize, 0, 4, 1, 2];
    let instances: Vec<Instance> = order
        .iter()
        .map(|&n| instance(&spec(10.0 + 2.5 * n as f64), n))
        .collect();
    let v = volumes(&instances).unwrap();
    assert_eq!(v.len(), 1);
    let v = &v[0];
    assert_eq!(v.geometry.dims, [5, 6, 5]);
    let sp = v.geometry.spacing();
    assert!((sp[0] - 0.5).abs() < 1e-9 && (sp[1] - 0.8).abs() < 1e-9 && (sp[2] - 2.5).abs() < 1e-9);
    assert_eq!(v.geometry.origin(), [-50.0, -40.0, 10.0]);
    for ((i, j, k), x) in v.data.indexed_iter() {
        assert_eq!(
            *x,
            2.0 * f32::from(stored(i, j, k)) - 100.0,
            "[{i},{j},{k}]"
        );
    }
    let expected: Vec<String> = (0..5).map(|n| format!("{n:064x}")).collect();
    assert_eq!(v.source.instance_sha256, expected, "in slice order");
    assert!(v.source.notes.is_empty(), "{:?}", v.source.notes);
}

#[test]
fn a_sagittal_oblique_stack_keeps_its_directions() {
    // Rows along -y, columns along -z (sagittal), slices along +x, 3 mm apart.
    let instances: Vec<Instance> = (0..4)
        .map(|n| {
            let mut s = spec(0.0);
            s.orientation = [0.0, -1.0, 0.0, 0.0, 0.0, -1.0];
            s.position = [-20.0 + 3.0 * n as f64, 100.0, 80.0];
            instance(&s, n)
        })
        .collect();
    let v = &volumes(&instances).unwrap()[0];
    let p = v.geometry.to_patient([2.0, 3.0, 1.0]);
    let expected = [-20.0 + 3.0, 100.0 - 2.0 * 0.5, 80.0 - 3.0 * 0.8];
    for a in 0..3 {
        assert!((p[a] - expected[a]).abs() < 1e-9, "{p:?} vs {expected:?}");
    }
}

#[test]
fn a_gantry_tilt_is_kept_exactly_and_noted() {
    // Each slice 2 mm further along z and 0.5 mm along y: a tilt of atan(0.5/2) = 14.04°.
    let instances: Vec<Instance> = (0..4)
        .map(|n| {
            let mut s = spec(2.0 * n as f64);
            s.position[1] += 0.5 * n as f64;
            instance(&s, n)
        })
        .collect();
    let v = &volumes(&instances).unwrap()[0];
    let p = v.geometry.to_patient([0.0, 0.0, 3.0]);
    assert!(
        (p[1] - (-40.0 + 1.5)).abs() < 1e-9 && (p[2] - 6.0).abs() < 1e-9,
        "{p:?}"
    );
    assert!(
        v.source
            .notes
            .iter()
            .any(|n| n.contains("gantry tilt 14.04°")),
        "{:?}",
        v.source.notes
    );
}

#[test]
fn several_echoes_in_one_series_become_one_volume_each_saying_why() {
    let mut instances = Vec::new();
    for echo in 1..=2 {
        for n in 0..3 {
            let mut s = spec(5.0 * n as f64);
            s.extra.push((tags::ECHO_NUMBERS, VR::IS, echo.to_string()));
            instances.push(instance(&s, n + 10 * echo));
        }
    }
    let v = volumes(&instances).unwrap();
    assert_eq!(v.len(), 2);
    for (vol, echo) in v.iter().zip(["1", "2"]) {
        assert_eq!(vol.geometry.dims, [5, 6, 3]);
        assert!(
            vol.source.notes[0].contains(&format!(
                "one of 2 stacks in the series, split by Echo Numbers {echo}"
            )),
            "{:?}",
            vol.source.notes
        );
    }
}

#[test]
fn inconsistent_series_are_refused_naming_the_instance_and_the_problem() {
    let stack = |f: &dyn Fn(usize, &mut Spec)| -> Vec<Instance> {
        (0..5)
            .map(|n| {
                let mut s = spec(3.0 * n as f64);
                f(n, &mut s);
                instance(&s, n)
            })
            .collect()
    };
    // A missing slice: positions 0, 3, 9, 12 (6 missing).
    let mut missing = stack(&|_, _| {});
    missing.remove(2);
    let e = error_of(&missing);
    assert!(
        e.contains("1 missing slice(s) between slice-1 and slice-3"),
        "{e}"
    );

    let e = error_of(&stack(&|n, s| {
        if n == 4 {
            s.position[2] = 13.0
        }
    }));
    assert!(
        e.contains("slice-4: non-uniform slice spacing: 4.000 mm"),
        "{e}"
    );

    let e = error_of(&stack(&|n, s| {
        if n == 2 {
            s.rows = 7
        }
    }));
    assert!(e.starts_with("slice-2: 5×7 pixels"), "{e}");

    let e = error_of(&stack(&|n, s| {
        if n == 3 {
            s.spacing = [0.9, 0.5]
        }
    }));
    assert!(e.starts_with("slice-3: Pixel Spacing"), "{e}");

    let e = error_of(&stack(&|n, s| {
        if n == 1 {
            s.position[2] = 0.0
        }
    }));
    assert!(e.contains("at the same position as slice-0"), "{e}");

    let e = error_of(&stack(&|n, s| {
        if n == 2 {
            s.orientation = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        }
    }));
    assert!(
        e.starts_with("slice-2: (0020,0037) Image Orientation (Patient)"),
        "{e}"
    );

    // Slices that wander off the line of the others (not a tilt: one slice only).
    let e = error_of(&stack(&|n, s| {
        if n == 2 {
            s.position[0] += 1.0
        }
    }));
    assert!(
        e.contains("slice-2: Image Position (Patient)") && e.contains("off the line"),
        "{e}"
    );

    // No position at all.
    let mut no_position = stack(&|_, _| {});
    no_position[1]
        .object
        .remove_element(tags::IMAGE_POSITION_PATIENT);
    let e = error_of(&no_position);
    assert!(
        e.starts_with("slice-1: no (0020,0032) Image Position (Patient)"),
        "{e}"
    );
}

#[test]
fn mixed_orientations_split_into_stacks() {
    // A three-plane localizer: axial, coronal and sagittal images in one series.
    let planes = [
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
        [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
    ];
    let instances: Vec<Instance> = planes
        .iter()
        .enumerate()
        .map(|(n, o)| {
            let mut s = spec(0.0);
            s.orientation = *o;
            instance(&s, n)
        })
        .collect();
    let v = volumes(&instances).unwrap();
    assert_eq!(v.len(), 3);
    assert!(v.iter().all(|x| x.geometry.dims[2] == 1));
    assert!(
        v[0].source.notes[0].contains("one of 3 stacks"),
        "{:?}",
        v[0].source.notes
    );
}
