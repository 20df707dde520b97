//! The neurology algorithms as a trial runs them: on the images alone, with no mask given, so
//! each finds its own brain by `neuro.brain-extraction` (carried to the FLAIR by registration).

use super::testing::series;
use crate::{Inputs, Measurement, Registry};
use corelab_image::phantom::{Kind, Rendered};
use std::collections::BTreeSet;

fn run(id: &str, inputs: &[(&str, &Rendered)]) -> Vec<Measurement> {
    let registry = Registry::builtin();
    let algorithm = registry.get(id).expect("registered");
    let inputs: Inputs = inputs
        .iter()
        .map(|(role, r)| (role.to_string(), r.images[0].clone()))
        .collect();
    crate::run(algorithm, &inputs, &Default::default())
        .unwrap_or_else(|e| panic!("{id}: {e}"))
        .1
        .measurements
}

fn value(ms: &[Measurement], name: &str) -> f64 {
    ms.iter().find(|m| m.name == name).expect(name).value
}

/// The lesion ids (`L1`, …) with a truth mask in a rendered series: the lesions present.
fn lesions(r: &Rendered) -> BTreeSet<String> {
    r.masks
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| n.starts_with('L') && n[1..].chars().all(|c| c.is_ascii_digit()))
        .collect()
}

#[test]
fn ms_lesions_and_their_change_need_no_mask() {
    let subject = 1;
    let t1 = series(Kind::MsLesions, 1, 2.0, subject, 1, "T1w", None);
    let flair = series(Kind::MsLesions, 1, 2.0, subject, 1, "FLAIR", None);
    let base = series(Kind::MsLesions, 1, 2.0, subject, 0, "FLAIR", None);
    let found = run("neuro.ms-lesions", &[("flair", &flair), ("t1", &t1)]);
    let present = lesions(&flair);
    assert_eq!(
        value(&found, "lesion-count") as usize,
        present.len(),
        "{found:?}"
    );
    let change = run(
        "neuro.lesion-change",
        &[("baseline", &base), ("followup", &flair)],
    );
    let new = present.difference(&lesions(&base)).count();
    assert_eq!(value(&change, "new-lesions") as usize, new, "{change:?}");
}

#[test]
fn pbvc_needs_no_mask() {
    let base = series(Kind::Brain, 7, 2.0, 1, 0, "T1w", Some(1.0));
    let follow = series(Kind::Brain, 7, 2.0, 1, 1, "T1w", Some(1.0));
    let m = run("neuro.pbvc", &[("baseline", &base), ("followup", &follow)]);
    let pbvc = value(&m, "pbvc");
    assert!((pbvc + 1.0).abs() <= 0.3, "PBVC {pbvc} for a 1 % loss");
}

#[test]
fn tissue_segmentation_needs_no_mask() {
    let t1 = series(Kind::Brain, 3, 2.0, 2, 0, "T1w", None);
    let registry = Registry::builtin();
    let inputs: Inputs = [("t1".to_owned(), t1.images[0].clone())].into();
    let (_, out) = crate::run(
        registry.get("neuro.tissue-seg").expect("registered"),
        &inputs,
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let labels = &out
        .images
        .iter()
        .find(|(r, _)| r == "labels")
        .expect("labels")
        .1;
    for (class, name) in [(1.0, "csf"), (2.0, "gm"), (3.0, "wm")] {
        let found = labels.data.mapv(|l| l == class);
        let d = super::testing::dice(&found, &super::testing::truth(&t1, name));
        assert!(d >= 0.85, "{name}: Dice {d}");
    }
}
