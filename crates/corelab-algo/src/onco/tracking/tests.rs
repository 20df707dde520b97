use super::*;
use crate::onco::ct_testing::{CtVisit, visit};

/// The baseline lesions of a visit as a label image (each lesion's truth mask with its phantom
/// label: 20 + n for lesions, 40 + n for nodes).
fn label_image(v: &CtVisit) -> Volume<f32> {
    let mut data = ndarray::Array3::<f32>::zeros(v.image.data.dim());
    for l in &v.lesions {
        let (_, m) = v.masks.iter().find(|(n, _)| *n == l.id).unwrap();
        for (d, t) in data.iter_mut().zip(m.data.iter()) {
            if *t > 0 {
                *d = f32::from(l.label);
            }
        }
    }
    Volume::new(data, v.image.geometry.clone()).unwrap()
}

/// The follow-up as if the patient lay `shift` mm elsewhere on the table: the same voxels,
/// the grid moved.
fn moved(v: &CtVisit, shift: [f64; 3]) -> Volume<f32> {
    let mut image = v.image.clone();
    for (a, s) in shift.iter().enumerate() {
        image.geometry.affine[(a, 3)] += s;
    }
    image
}

const SHIFT: [f64; 3] = [7.0, -5.0, 6.0];

fn run_pair(base: usize, follow: usize) -> Outputs {
    let b = visit(base);
    let inputs = Inputs::from([
        ("baseline".to_owned(), b.image.clone()),
        ("baseline-lesions".to_owned(), label_image(b)),
        ("followup".to_owned(), moved(visit(follow), SHIFT)),
    ]);
    crate::run(&LesionTrack, &inputs, &BTreeMap::new())
        .unwrap()
        .1
}

/// Checks every baseline lesion of `base` against its truth at `follow`: matched exactly when
/// present there, its follow-up volume and axes as `onco.lesion-seg` measures them.
fn check(base: usize, follow: usize) {
    let o = run_pair(base, follow);
    let b = visit(base);
    let f = visit(follow);
    let table = &o.tables[0];
    assert_eq!(table.rows.len(), b.lesions.len());
    let col = |name: &str| table.columns.iter().position(|c| c == name).unwrap();
    for row in &table.rows {
        let label = row[col("baseline-label")] as u8;
        let base_lesion = b.lesions.iter().find(|l| l.label == label).unwrap();
        let at_follow = f.lesions.iter().find(|l| l.label == label);
        let matched = row[col("matched")] == 1.0;
        eprintln!(
            "V{}->V{} {}: matched {matched} overlap {:.2} displacement {:.2} mm follow-up volume {:.3} mL (truth {:?}) long {:.1} short {:.1}",
            base + 1,
            follow + 1,
            base_lesion.id,
            row[col("overlap")],
            row[col("displacement")],
            row[col("followup-volume")],
            at_follow.map(|l| l.analytic_volume_mm3 / 1000.0),
            row[col("long-axis")],
            row[col("short-axis")],
        );
        assert_eq!(matched, at_follow.is_some(), "{}", base_lesion.id);
        if let Some(t) = at_follow {
            let volume = row[col("followup-volume")] * 1000.0;
            let tolerance = if t.analytic_volume_mm3 >= 1000.0 {
                0.05
            } else {
                0.15
            };
            assert!(
                (volume / t.analytic_volume_mm3 - 1.0).abs() <= tolerance,
                "{}: {volume} vs {}",
                t.id,
                t.analytic_volume_mm3
            );
            assert!(
                (row[col("long-axis")] - t.long_axis_mm).abs()
                    <= 2.0 * std::f64::consts::SQRT_2 + 0.05,
                "{}",
                t.id
            );
            // The shapes do not move between visits: only registration error remains.
            assert!(row[col("displacement")] < 1.5, "{}", t.id);
        }
    }
    let matched = crate::neuro::testing::value(&o, "matched");
    let expected = b
        .lesions
        .iter()
        .filter(|l| f.lesions.iter().any(|m| m.label == l.label))
        .count();
    assert_eq!(matched, expected as f64);
}

#[test]
fn every_baseline_lesion_is_matched_at_week_8_through_a_shifted_patient() {
    check(0, 1);
}

#[test]
fn every_baseline_lesion_is_matched_at_week_16_and_the_new_lesion_is_not_in_the_table() {
    check(0, 2);
}

#[test]
fn a_lesion_gone_at_the_follow_up_is_unmatched() {
    // Week 16 as "baseline" holds the new liver lesion L5, absent at the first visit.
    check(2, 0);
}

#[test]
fn labels_off_the_baseline_grid_or_empty_are_refused() {
    let b = visit(0);
    let mut labels = label_image(b);
    labels.geometry.affine[(0, 3)] += 1.0;
    let inputs = Inputs::from([
        ("baseline".to_owned(), b.image.clone()),
        ("baseline-lesions".to_owned(), labels),
        ("followup".to_owned(), b.image.clone()),
    ]);
    let e = crate::run(&LesionTrack, &inputs, &BTreeMap::new()).unwrap_err();
    assert!(
        matches!(&e, AlgoError::Input { role, .. } if role == "baseline-lesions"),
        "{e}"
    );
    let empty = Volume::new(
        ndarray::Array3::<f32>::zeros(b.image.data.dim()),
        b.image.geometry.clone(),
    )
    .unwrap();
    let e = baseline_lesions(&empty).unwrap_err();
    assert!(e.to_string().contains("no lesion"), "{e}");
    let mut half = label_image(b);
    half.data[[0, 0, 0]] = 0.5;
    let e = baseline_lesions(&half).unwrap_err();
    assert!(e.to_string().contains("whole numbers"), "{e}");
}
