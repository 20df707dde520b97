//! A late gadolinium enhancement (LGE) short-axis stack made from the `cardiac` phantom: a
//! subject's end-diastolic ventricle on its short-axis grid, ten minutes after gadolinium with
//! normal myocardium nulled, and a scar of known volume: the myocardium inside a 20 mm ball
//! centred in the wall (transmural), or that part of it in the inner half of the wall
//! (subendocardial). The phantom's scene tree cannot hold such a scar (a child lies wholly inside
//! its parent and does not touch its siblings; a scar touches the cavity), so each voxel is
//! sampled here: 6 × 6 × 6 points, each given its tissue's LGE signal, then Rician noise of the
//! cine series' σ = 25.
//!
//! Two myocardium masks come with it: the phantom's kind (voxels at least half myocardium), and a
//! reader's (those, less the voxels a quarter or more blood pool: on an LGE image a reader keeps
//! the endocardial contour off the bright blood); and a remote region (wholly myocardial voxels
//! in a 25 mm ball on the side opposite the scar).

use super::cardiac::{CHEST, LV_BLOOD, MYOCARDIUM, RV_BLOOD};
use super::{Ellipsoid, Kind, Noise, Options, PhantomError, Stream, plan};
use crate::Volume;
use crate::geometry::Geometry;
use ndarray::{Array3, Zip};

/// Samples per voxel and axis.
const N: usize = 6;
/// Rician σ of the phantom's cine series.
pub const SIGMA: f64 = 25.0;
/// Signal of remote (nulled) myocardium.
pub const REMOTE: f64 = 40.0;
/// Signal of scar.
pub const SCAR: f64 = 600.0;
/// Signal of blood pool.
pub const BLOOD: f64 = 350.0;
/// Signal of other tissue.
pub const TISSUE: f64 = 100.0;

/// Where the scar is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scar {
    /// No scar.
    None,
    /// The whole wall inside the ball.
    Transmural,
    /// The inner half of the wall inside the ball.
    Subendocardial,
}

/// An LGE image with its masks and truth.
#[derive(Clone, Debug)]
pub struct Lge {
    /// The image (signal with Rician noise).
    pub image: Volume<f32>,
    /// A reader's myocardium: fraction ≥ ½ and blood-pool fraction < ¼.
    pub myocardium: Volume<f32>,
    /// The phantom's kind of mask: myocardial fraction ≥ ½.
    pub myocardium_half: Volume<f32>,
    /// Wholly myocardial voxels in a ball on the side opposite the scar.
    pub remote: Volume<f32>,
    /// Each voxel's scar fraction.
    pub scar: Array3<f32>,
    /// The scar's volume (mL): the fractions' sum.
    pub scar_ml: f64,
    /// The LV myocardium's exact volume (mL).
    pub myocardium_ml: f64,
}

/// The LGE stack of subject `subject` (from 0) of the cardiac phantom of `seed`.
pub fn render(seed: u64, subject: usize, scar: Scar) -> Result<Lge, PhantomError> {
    let options = Options {
        seed,
        subjects: subject + 1,
        voxel_mm: None,
        atrophy_percent: None,
        subsamples: 4,
    };
    let p = plan(Kind::Cardiac, &options)?;
    let design = |why: &str| PhantomError::Design(format!("LGE from the cardiac phantom: {why}"));
    let truth = p.truth.subjects[subject].visits[0]
        .cardiac
        .clone()
        .ok_or_else(|| design("no cardiac truth"))?;
    let series = p
        .series
        .into_iter()
        .find(|s| s.subject_index == subject)
        .ok_or_else(|| design("no series for the subject"))?;
    let shapes = series.scenes[truth.ed_position - 1].shapes();
    let shape = |label: u8| -> Result<Ellipsoid, PhantomError> {
        shapes
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, e)| (*e).clone())
            .ok_or_else(|| design("a shape is missing"))
    };
    let (epi, cavity, rv) = (shape(MYOCARDIUM)?, shape(LV_BLOOD)?, shape(RV_BLOOD)?);
    shape(CHEST)?;
    let wall = epi.semi_axes_mm[0] - cavity.semi_axes_mm[0];
    // The scar on the side of the second short axis, the remote region opposite.
    let side = cavity.axes[1];
    let at = |sign: f64| {
        let d = sign * (cavity.semi_axes_mm[0] + wall / 2.0);
        [0, 1, 2].map(|i| cavity.centre_mm[i] + d * side[i])
    };
    let ball = Ellipsoid::sphere(at(1.0), 20.0);
    let remote_ball = Ellipsoid::sphere(at(-1.0), 25.0);
    let mut inner = cavity.clone();
    inner.semi_axes_mm = cavity.semi_axes_mm.map(|a| a + wall / 2.0);
    // (signal, myocardium, scar, blood pool)
    let tissue = |p: [f64; 3]| -> (f64, bool, bool, bool) {
        if !epi.contains(p) {
            let blood = rv.contains(p);
            (if blood { BLOOD } else { TISSUE }, false, false, blood)
        } else if cavity.contains(p) {
            (BLOOD, false, false, true)
        } else {
            let scarred = match scar {
                Scar::None => false,
                Scar::Transmural => ball.contains(p),
                Scar::Subendocardial => ball.contains(p) && inner.contains(p),
            };
            (if scarred { SCAR } else { REMOTE }, true, scarred, false)
        }
    };
    let g = &series.grid;
    let dims = g.dims;
    let shape3 = (dims[0], dims[1], dims[2]);
    let mut signal = Array3::<f64>::zeros(shape3);
    let (mut myo, mut scarred) = (Array3::<f32>::zeros(shape3), Array3::<f32>::zeros(shape3));
    let mut blood = Array3::<f32>::zeros(shape3);
    let offset = |s: usize| (s as f64 + 0.5) / N as f64 - 0.5;
    let per = (N * N * N) as f64;
    for ((i, j, k), v) in signal.indexed_iter_mut() {
        let centre = g.to_patient([i as f64, j as f64, k as f64]);
        if epi.radius_at(centre) > 1.5 && rv.radius_at(centre) > 1.5 {
            *v = TISSUE;
            continue;
        }
        let (mut sum, mut m, mut s, mut pool) = (0.0, 0.0, 0.0, 0.0);
        for a in 0..N {
            for b in 0..N {
                for d in 0..N {
                    let p = g.to_patient([
                        i as f64 + offset(a),
                        j as f64 + offset(b),
                        k as f64 + offset(d),
                    ]);
                    let (value, in_myo, in_scar, in_blood) = tissue(p);
                    sum += value;
                    m += f64::from(u8::from(in_myo));
                    s += f64::from(u8::from(in_scar));
                    pool += f64::from(u8::from(in_blood));
                }
            }
        }
        *v = sum / per;
        myo[[i, j, k]] = (m / per) as f32;
        scarred[[i, j, k]] = (s / per) as f32;
        blood[[i, j, k]] = (pool / per) as f32;
    }
    // The stream's name is the one the LGE tests first drew from, so that the figures in
    // docs/algorithms/cardiac.lge.md stay those of these images.
    let mut rng = Stream::new(seed, &format!("lge-test/{subject}/{scar:?}/noise"));
    let noise = Noise::Rician { sigma: SIGMA };
    let mut image = Array3::<f32>::zeros(shape3);
    // Drawn in one fixed order so that the image does not depend on the array's layout.
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                image[[i, j, k]] = noise.apply(signal[[i, j, k]], &mut rng) as f32;
            }
        }
    }
    let mut remote = Array3::<f32>::zeros(shape3);
    for ((i, j, k), r) in remote.indexed_iter_mut() {
        let p = g.to_patient([i as f64, j as f64, k as f64]);
        *r = f32::from(u8::from(myo[[i, j, k]] >= 1.0 && remote_ball.contains(p)));
    }
    let voxel_ml = g.voxel_volume() / 1000.0;
    let volume = |data: Array3<f32>, g: &Geometry| {
        Volume::new(data, g.clone()).map_err(|e| design(&e.to_string()))
    };
    Ok(Lge {
        image: volume(image, g)?,
        myocardium: volume(
            Zip::from(&myo)
                .and(&blood)
                .map_collect(|m, b| f32::from(u8::from(*m >= 0.5 && *b < 0.25))),
            g,
        )?,
        myocardium_half: volume(myo.mapv(|f| f32::from(u8::from(f >= 0.5))), g)?,
        remote: volume(remote, g)?,
        scar_ml: scarred.iter().map(|f| f64::from(*f)).sum::<f64>() * voxel_ml,
        myocardium_ml: truth.lv_myocardium_mm3 / 1000.0,
        scar: scarred,
    })
}
