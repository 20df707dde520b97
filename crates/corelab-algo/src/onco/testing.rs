//! Builders of lesion records for the engines' tests: a subject from terse lesion and visit
//! lists, dated in days from baseline.

use super::lesions::{
    Clinical, Date, Diameters, Lesion, NewLesion, Role, State, Subject, TargetSeen, Visit,
};
use std::collections::BTreeMap;

/// 2024-01-01 as days since 1970-01-01.
const BASE: i64 = 19_723;

pub(crate) fn date(day: i64) -> Date {
    Date {
        days: BASE + day,
        text: format!("day {day}"),
        imputed: false,
    }
}

/// A non-nodal target lesion in `organ`.
pub(crate) fn target(id: &str, organ: &str) -> Lesion {
    Lesion {
        id: id.into(),
        role: Role::Target,
        organ: organ.into(),
        nodal: false,
    }
}

/// A nodal target lesion.
pub(crate) fn node(id: &str) -> Lesion {
    Lesion {
        id: id.into(),
        role: Role::Target,
        organ: "lymph node".into(),
        nodal: true,
    }
}

/// A non-target lesion.
pub(crate) fn non_target(id: &str) -> Lesion {
    Lesion {
        id: id.into(),
        role: Role::NonTarget,
        organ: "bone".into(),
        nodal: false,
    }
}

/// A longest diameter (non-nodal).
pub(crate) fn long(mm: f64) -> TargetSeen {
    TargetSeen::Measured(Diameters {
        long_mm: Some(mm),
        short_mm: None,
    })
}

/// A short axis (nodal).
pub(crate) fn short(mm: f64) -> TargetSeen {
    TargetSeen::Measured(Diameters {
        long_mm: None,
        short_mm: Some(mm),
    })
}

/// Two perpendicular diameters (RANO).
pub(crate) fn bi(a: f64, b: f64) -> TargetSeen {
    TargetSeen::Measured(Diameters {
        long_mm: Some(a),
        short_mm: Some(b),
    })
}

/// A visit on `day` with what was seen of targets and non-targets.
pub(crate) fn visit(
    day: i64,
    targets: &[(&str, TargetSeen)],
    non_targets: &[(&str, State)],
) -> Visit {
    Visit {
        label: if day == 0 {
            "BASELINE".into()
        } else {
            format!("DAY {day}")
        },
        date: date(day),
        slice_thickness_mm: None,
        targets: targets
            .iter()
            .map(|(id, s)| (id.to_string(), s.clone()))
            .collect::<BTreeMap<_, _>>(),
        non_targets: non_targets
            .iter()
            .map(|(id, s)| (id.to_string(), *s))
            .collect(),
        new_lesions: Vec::new(),
        clinical: Clinical::default(),
    }
}

/// `v` with a new lesion reported.
pub(crate) fn with_new(mut v: Visit, id: &str, equivocal: bool) -> Visit {
    v.new_lesions.push(NewLesion {
        id: id.into(),
        equivocal,
    });
    v
}

/// A checked subject (panics on a record the test meant to be valid).
pub(crate) fn subject(lesions: Vec<Lesion>, visits: Vec<Visit>) -> Subject {
    unchecked(lesions, visits).check().expect("a valid record")
}

/// A subject not yet checked.
pub(crate) fn unchecked(lesions: Vec<Lesion>, visits: Vec<Visit>) -> Subject {
    Subject {
        id: "001".into(),
        study: String::new(),
        reference: date(0),
        lesions,
        visits,
    }
}

/// A deterministic generator (SplitMix64) for the property tests.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform in 0..n.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
