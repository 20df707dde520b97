//! The MS phantom: the brain phantom with white-matter lesions, at a baseline and a follow-up
//! visit a year later.
//!
//! Baseline: 6 to 10 ovoid lesions (semi-axes 1.8–4.5 mm in the axial plane, up to 1.6 times
//! that along z, turned at random about z), each at least 1.5 mm from the others, from the
//! ventricles, the deep nuclei and the white-matter surface. Follow-up: two of them enlarged
//! (every semi-axis × 1.25–1.5, so the volume × 1.95–3.4), the others unchanged, and 2 or 3 new
//! ones. Lesions are hypointense on T1 and bright on FLAIR; each has its own label, its own
//! mask, and its ID (L1, L2, …) at every visit. With `--atrophy` the follow-up also loses that
//! brain volume; lesions stay where they were in the head.

use super::brain::{self, FIRST_LESION, Head, LesionSpec};
use super::{Ellipsoid, Kind, Options, PhantomError, Plan, Stream};

/// Enlarging lesions at follow-up.
const ENLARGING: usize = 2;
/// Clearance between lesions and other structures (mm).
const MARGIN: f64 = 1.5;

/// The MS phantom.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    brain::plan_with(options, Kind::MsLesions, "MS", 2, &lesions)
}

/// Baseline and follow-up lesions of one subject (module documentation).
fn lesions(heads: &[Head], rng: &mut Stream) -> Result<Vec<Vec<LesionSpec>>, PhantomError> {
    // The smallest white matter and the largest obstacles of any visit.
    let last = &heads[heads.len() - 1];
    let wm = last.wm.clone();
    let mut placed: Vec<Ellipsoid> = heads
        .iter()
        .flat_map(|h| h.ventricles.iter().chain(h.deep_gm.iter()).cloned())
        .collect();
    let baseline = 6 + (rng.uniform() * 5.0) as usize;
    let new = 2 + (rng.uniform() * 2.0) as usize;
    let mut shapes = Vec::new();
    for n in 0..baseline + new {
        let growth = if n < ENLARGING {
            rng.range(1.25, 1.5)
        } else {
            1.0
        };
        let mut found = None;
        for _ in 0..2000 {
            let a = rng.range(1.8, 4.5);
            let semi = [a, a * rng.range(0.6, 0.9), a * rng.range(1.0, 1.6)];
            let angle = rng.range(0.0, std::f64::consts::PI);
            let centre = point_in(&wm.scaled(0.9), rng);
            let largest = Ellipsoid::turned_about_z(centre, semi.map(|s| s * growth), angle);
            if largest.fits(&wm, &placed, MARGIN) {
                found = Some((Ellipsoid::turned_about_z(centre, semi, angle), largest));
                break;
            }
        }
        let Some((shape, largest)) = found else {
            return Err(PhantomError::Design(format!(
                "no room for white-matter lesion {} after 2000 tries",
                n + 1
            )));
        };
        placed.push(largest.clone());
        shapes.push((shape, largest));
    }
    let spec = |n: usize, status: &str, shape: &Ellipsoid| LesionSpec {
        id: format!("L{}", n + 1),
        label: FIRST_LESION + n as u8,
        status: status.to_owned(),
        shape: shape.clone(),
    };
    let first = shapes[..baseline]
        .iter()
        .enumerate()
        .map(|(n, (s, _))| spec(n, "baseline", s))
        .collect();
    let second = shapes
        .iter()
        .enumerate()
        .map(|(n, (s, largest))| {
            if n < ENLARGING {
                spec(n, "enlarging", largest)
            } else if n < baseline {
                spec(n, "stable", s)
            } else {
                spec(n, "new", s)
            }
        })
        .collect();
    Ok(vec![first, second])
}

/// A point drawn uniformly inside `e`.
pub(super) fn point_in(e: &Ellipsoid, rng: &mut Stream) -> [f64; 3] {
    loop {
        let u = [0; 3].map(|_| rng.range(-1.0, 1.0));
        if u.iter().map(|x| x * x).sum::<f64>() < 1.0 {
            let mut p = e.centre_mm;
            for ((axis, semi), t) in e.axes.iter().zip(e.semi_axes_mm).zip(u) {
                for d in 0..3 {
                    p[d] += axis[d] * semi * t;
                }
            }
            return p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_has_the_baseline_lesions_two_enlarged_and_new_ones() {
        let heads = [
            Head::for_subject(&mut Stream::new(5, "h")),
            Head::for_subject(&mut Stream::new(5, "h")).atrophied(1.0),
        ];
        let sets = lesions(&heads, &mut Stream::new(5, "l")).unwrap();
        let (first, second) = (&sets[0], &sets[1]);
        assert!((6..=10).contains(&first.len()));
        assert!(second.len() >= first.len() + 2);
        for (a, b) in first.iter().zip(second.iter()) {
            assert_eq!(a.id, b.id);
            if b.status == "enlarging" {
                assert!(b.shape.volume_mm3() > 1.9 * a.shape.volume_mm3());
            } else {
                assert_eq!(b.status, "stable");
                assert_eq!(a.shape, b.shape);
            }
        }
        assert_eq!(
            second.iter().filter(|l| l.status == "enlarging").count(),
            ENLARGING
        );
        let posed = |set: &[LesionSpec], head: &Head| {
            let pose = brain::Pose::random(&mut Stream::new(5, "p"));
            let l: Vec<_> = set
                .iter()
                .map(|l| (l.label, pose.apply(&l.shape)))
                .collect();
            head.scene(&pose, &l)
        };
        posed(first, &heads[0]).check().unwrap();
        posed(second, &heads[1]).check().unwrap();
    }
}
