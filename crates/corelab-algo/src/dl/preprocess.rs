//! The input on the network's grid, and the network's output back on the input's.
//!
//! nnU-Net's order: reorient (voxel axes permuted and flipped, never interpolated), resample to
//! the target spacing (linear, centre-aligned: the field of view is kept and the voxel count
//! along an axis is `round(n · spacing / target)`), normalise. The way back resamples each output
//! channel (logits) linearly to the oriented input's shape and undoes the reorientation, so
//! argmax is taken on the input's own grid, as nnU-Net does with its probabilities.

use crate::dl::DlError;
use crate::dl::spec::{ModelSpec, Normalisation, Orientation};
use corelab_image::Volume;
use ndarray::{Array3, Array4, ArrayView3, Axis, Zip};

/// How the input's voxel axes were reordered: oriented axis `a` is input axis `perm[a]`, run
/// backwards when `flip[a]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reorientation {
    /// Input axis of each oriented axis.
    pub perm: [usize; 3],
    /// Whether each oriented axis runs against its input axis.
    pub flip: [bool; 3],
}

impl Reorientation {
    /// No change.
    pub const IDENTITY: Self = Self {
        perm: [0, 1, 2],
        flip: [false; 3],
    };

    /// The reorientation that makes a grid with these LPS direction vectors (of i, j, k) run
    /// along `orientation`'s axes as nearly as it can without interpolating.
    pub fn towards(directions: [[f64; 3]; 3], orientation: Orientation) -> Self {
        let wanted: [[f64; 3]; 3] = match orientation {
            Orientation::Native => return Self::IDENTITY,
            Orientation::Ras => [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
            Orientation::Lps => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        };
        let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let perms = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        // The permutation whose input axes are closest to the wanted ones (the largest sum of
        // |cosines|); ties go to the first, so an exactly oblique grid still gets one answer.
        let mut best = (f64::MIN, Self::IDENTITY);
        for perm in perms {
            let score: f64 = (0..3)
                .map(|a| dot(directions[perm[a]], wanted[a]).abs())
                .sum();
            if score > best.0 + 1e-9 {
                let flip = [0, 1, 2].map(|a| dot(directions[perm[a]], wanted[a]) < 0.0);
                best = (score, Self { perm, flip });
            }
        }
        best.1
    }

    /// `a` reoriented.
    pub fn apply<T: Clone>(&self, a: ArrayView3<T>) -> Array3<T> {
        let mut v = a.permuted_axes(self.perm);
        for (axis, flip) in self.flip.iter().enumerate() {
            if *flip {
                v.invert_axis(Axis(axis));
            }
        }
        v.as_standard_layout().into_owned()
    }

    /// Oriented `a` back in the input's axes.
    pub fn undo<T: Clone>(&self, a: ArrayView3<T>) -> Array3<T> {
        let mut v = a;
        for (axis, flip) in self.flip.iter().enumerate() {
            if *flip {
                v.invert_axis(Axis(axis));
            }
        }
        let mut inverse = [0; 3];
        for (a, p) in self.perm.iter().enumerate() {
            inverse[*p] = a;
        }
        v.permuted_axes(inverse).as_standard_layout().into_owned()
    }

    /// A shape or spacing of the input, in oriented order.
    pub fn order<T: Copy>(&self, v: [T; 3]) -> [T; 3] {
        self.perm.map(|p| v[p])
    }
}

/// The input, ready for the network.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Normalised voxels on the network's grid (standard layout).
    pub data: Array3<f32>,
    /// How the input's axes were reordered.
    pub reorientation: Reorientation,
    /// The reoriented input's shape (the shape outputs are resampled back to).
    pub oriented_shape: [usize; 3],
    /// The input's spacing in oriented order (mm).
    pub oriented_spacing_mm: [f64; 3],
    /// The network grid's spacing (mm).
    pub spacing_mm: [f64; 3],
}

/// `volume` prepared as `spec` says.
pub fn prepare(volume: &Volume<f32>, spec: &ModelSpec) -> Result<Prepared, DlError> {
    if let Some(v) = volume.data.iter().find(|v| !v.is_finite()) {
        return Err(DlError::Input(format!(
            "the image holds a non-finite value ({v}); the network needs finite intensities"
        )));
    }
    let reorientation = Reorientation::towards(volume.geometry.directions(), spec.orientation);
    let oriented = reorientation.apply(volume.data.view());
    let oriented_shape = reorientation.order(volume.geometry.dims);
    let oriented_spacing_mm = reorientation.order(volume.geometry.spacing());
    let (mut data, spacing_mm) = match spec.target_spacing_mm {
        None => (oriented, oriented_spacing_mm),
        Some(target) => {
            let shape = [0, 1, 2].map(|a| {
                ((oriented_shape[a] as f64 * oriented_spacing_mm[a] / target[a]).round() as usize)
                    .max(1)
            });
            if shape.iter().product::<usize>() > 1 << 30 {
                return Err(DlError::Input(format!(
                    "at {target:?} mm the image would be {shape:?} voxels, more than 2³⁰"
                )));
            }
            let spacing = [0, 1, 2]
                .map(|a| oriented_spacing_mm[a] * oriented_shape[a] as f64 / shape[a] as f64);
            (resize_linear(oriented.view(), shape), spacing)
        }
    };
    normalise(&mut data, &spec.normalisation)?;
    Ok(Prepared {
        data,
        reorientation,
        oriented_shape,
        oriented_spacing_mm,
        spacing_mm,
    })
}

impl Prepared {
    /// Per-channel maps on the network grid (`[channel, x, y, z]`) back on the input's grid
    /// (`[channel, i, j, k]`): each resampled linearly, then un-reoriented.
    pub fn back(&self, channels: &Array4<f32>) -> Array4<f32> {
        let [ni, nj, nk] = self.reorientation_inverse_shape();
        let mut out = Array4::<f32>::zeros((channels.shape()[0], ni, nj, nk));
        for (c, map) in channels.axis_iter(Axis(0)).enumerate() {
            let resized = if map.shape() == self.oriented_shape {
                map.to_owned()
            } else {
                resize_linear(map, self.oriented_shape)
            };
            out.index_axis_mut(Axis(0), c)
                .assign(&self.reorientation.undo(resized.view()));
        }
        out
    }

    /// The input's shape.
    fn reorientation_inverse_shape(&self) -> [usize; 3] {
        let mut shape = [0; 3];
        for (a, p) in self.reorientation.perm.iter().enumerate() {
            shape[*p] = self.oriented_shape[a];
        }
        shape
    }
}

/// `a` resized to `shape` by linear interpolation along each axis in turn, centre-aligned
/// (voxel `n` of the new axis sits at `(n + ½)·N/N′ − ½` of the old one), edges clamped.
pub fn resize_linear(a: ArrayView3<f32>, shape: [usize; 3]) -> Array3<f32> {
    let mut current = a.to_owned();
    for (axis, &new_len) in shape.iter().enumerate() {
        let old_len = current.len_of(Axis(axis));
        if old_len == new_len {
            continue;
        }
        let mut dims = [0; 3];
        dims.copy_from_slice(current.shape());
        dims[axis] = new_len;
        let mut next = Array3::<f32>::zeros(dims);
        let scale = old_len as f64 / new_len as f64;
        let taps: Vec<(usize, usize, f32)> = (0..new_len)
            .map(|n| {
                let x = ((n as f64 + 0.5) * scale - 0.5).clamp(0.0, (old_len - 1) as f64);
                let lo = x.floor() as usize;
                let hi = (lo + 1).min(old_len - 1);
                (lo, hi, (x - lo as f64) as f32)
            })
            .collect();
        Zip::from(next.lanes_mut(Axis(axis)))
            .and(current.lanes(Axis(axis)))
            .par_for_each(|mut out, lane| {
                for (o, (lo, hi, w)) in out.iter_mut().zip(&taps) {
                    *o = lane[*lo] * (1.0 - w) + lane[*hi] * w;
                }
            });
        current = next;
    }
    current
}

/// Normalises `a` in place.
pub fn normalise(a: &mut Array3<f32>, how: &Normalisation) -> Result<(), DlError> {
    let mean_sd = |values: &mut dyn Iterator<Item = f32>| {
        let (mut n, mut sum, mut sq) = (0usize, 0.0f64, 0.0f64);
        for v in values {
            n += 1;
            sum += f64::from(v);
            sq += f64::from(v) * f64::from(v);
        }
        let mean = sum / n.max(1) as f64;
        let sd = (sq / n.max(1) as f64 - mean * mean).max(0.0).sqrt();
        (n, mean, sd)
    };
    let flat = |why: &str| {
        Err(DlError::Input(format!(
            "the image is constant {why}: it cannot be normalised"
        )))
    };
    match *how {
        Normalisation::None => {}
        Normalisation::ZScore => {
            let (_, mean, sd) = mean_sd(&mut a.iter().copied());
            if sd <= 0.0 {
                return flat("");
            }
            a.par_mapv_inplace(|v| ((f64::from(v) - mean) / sd) as f32);
        }
        Normalisation::ZScoreNonzero => {
            let (n, mean, sd) = mean_sd(&mut a.iter().copied().filter(|v| *v != 0.0));
            if n == 0 || sd <= 0.0 {
                return flat("over its nonzero voxels");
            }
            a.par_mapv_inplace(|v| {
                if v == 0.0 {
                    0.0
                } else {
                    ((f64::from(v) - mean) / sd) as f32
                }
            });
        }
        Normalisation::Ct {
            low,
            high,
            mean,
            sd,
        } => {
            a.par_mapv_inplace(|v| ((f64::from(v).clamp(low, high) - mean) / sd) as f32);
        }
        Normalisation::Percentile { low, high } => {
            let mut values: Vec<f32> = a.iter().copied().collect();
            let lo = percentile(&mut values, low);
            let hi = percentile(&mut values, high);
            if hi <= lo {
                return flat(&format!("between its {low}th and {high}th percentiles"));
            }
            a.par_mapv_inplace(|v| (v.clamp(lo, hi) - lo) / (hi - lo));
        }
    }
    Ok(())
}

/// The `p`th percentile (nearest rank on the sorted values; `values` is reordered).
pub fn percentile(values: &mut [f32], p: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    let rank = rank.min(values.len() - 1);
    *values.select_nth_unstable_by(rank, |a, b| a.total_cmp(b)).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_image::geometry::Geometry;
    use ndarray::Array3;

    fn spec(spacing: Option<[f64; 3]>, orientation: Orientation) -> ModelSpec {
        ModelSpec {
            target_spacing_mm: spacing,
            orientation,
            normalisation: Normalisation::ZScore,
            patch: [8, 8, 8],
            overlap: 0.5,
            mirror: false,
            batch: 1,
            classes: vec![(1, "x".into())],
            largest_component: vec![],
            min_component_mm3: vec![],
        }
    }

    #[test]
    fn reorientation_finds_ras_from_a_sagittal_lps_grid_and_undoes_itself() {
        // i runs posterior (+y LPS), j inferior (−z), k left (+x).
        let directions = [[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]];
        let r = Reorientation::towards(directions, Orientation::Ras);
        // RAS: axis 0 = right = −x → input k flipped; axis 1 = anterior = −y → input i
        // flipped; axis 2 = superior = +z → input j flipped.
        assert_eq!(r.perm, [2, 0, 1]);
        assert_eq!(r.flip, [true, true, true]);
        let a = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 100 + j * 10 + k) as f32);
        let o = r.apply(a.view());
        assert_eq!(o.shape(), &[4, 2, 3]);
        assert_eq!(o[[0, 0, 0]], a[[1, 2, 3]]);
        assert_eq!(r.undo(o.view()), a);
        assert_eq!(
            Reorientation::towards(directions, Orientation::Native),
            Reorientation::IDENTITY
        );
    }

    #[test]
    fn resizing_keeps_the_field_of_view_and_linear_ramps() {
        // A ramp along i at 2 mm, to 1 mm: the centre-aligned samples stay on the ramp inside.
        let a = Array3::from_shape_fn((4, 1, 1), |(i, _, _)| i as f32 * 2.0);
        let b = resize_linear(a.view(), [8, 1, 1]);
        for (n, v) in b.iter().enumerate() {
            // (n + ½)/2 − ½ clamped: −0.25→0, 0.25, 0.75, …, 3.25→3.
            let x = ((n as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, 3.0);
            assert!((v - 2.0 * x).abs() < 1e-6, "{n}: {v}");
        }
        assert_eq!(resize_linear(b.view(), [4, 1, 1]).shape(), &[4, 1, 1]);
    }

    #[test]
    fn prepared_input_is_normalised_and_goes_back_on_the_input_grid() {
        let g = Geometry::axis_aligned([10, 12, 5], [0.0; 3], [1.0, 1.0, 2.0]);
        let data = Array3::from_shape_fn((10, 12, 5), |(i, j, k)| (i + j + k) as f32);
        let v = Volume::new(data, g).expect("fits");
        let p = prepare(&v, &spec(Some([1.0, 1.0, 1.0]), Orientation::Ras)).expect("prepared");
        // RAS from LPS axes: i and j flipped, k kept; 5 slices of 2 mm → 10 of 1 mm.
        assert_eq!(p.data.shape(), &[10, 12, 10]);
        assert_eq!(p.reorientation.flip, [true, true, false]);
        let mean = p.data.mean().expect("voxels");
        let sd = p.data.std(0.0);
        assert!(mean.abs() < 1e-4 && (sd - 1.0).abs() < 1e-4, "{mean} {sd}");
        let channels = p.data.clone().insert_axis(Axis(0));
        let back = p.back(&channels);
        assert_eq!(back.shape(), &[1, 10, 12, 5]);
        // Voxel (9, 0, 2) is the largest i and smallest j: still so after the round trip.
        assert!(back[[0, 9, 0, 2]] > back[[0, 0, 0, 2]]);
        assert!(back[[0, 9, 0, 2]] < back[[0, 9, 11, 2]]);
    }

    #[test]
    fn bad_images_are_refused_with_the_reason() {
        let g = Geometry::axis_aligned([4, 4, 4], [0.0; 3], [1.0; 3]);
        let mut v = Volume::new(Array3::<f32>::from_elem((4, 4, 4), 3.0), g).expect("fits");
        let e = prepare(&v, &spec(None, Orientation::Native)).expect_err("constant");
        assert!(e.to_string().contains("constant"), "{e}");
        v.data[[1, 1, 1]] = f32::NAN;
        let e = prepare(&v, &spec(None, Orientation::Native)).expect_err("NaN");
        assert!(e.to_string().contains("non-finite"), "{e}");
    }

    #[test]
    fn the_other_normalisations() {
        let mut a = Array3::from_shape_fn((10, 10, 1), |(i, j, _)| (i * 10 + j) as f32);
        normalise(
            &mut a,
            &Normalisation::Percentile {
                low: 0.0,
                high: 50.0,
            },
        )
        .expect("ok");
        assert_eq!(a[[0, 0, 0]], 0.0);
        assert_eq!(a[[9, 9, 0]], 1.0);
        let mut ct = Array3::from_shape_vec((3, 1, 1), vec![-2000.0, 40.0, 3000.0]).expect("3");
        let window = Normalisation::Ct {
            low: -1000.0,
            high: 1000.0,
            mean: 0.0,
            sd: 500.0,
        };
        normalise(&mut ct, &window).expect("ok");
        assert_eq!(ct.as_slice().expect("contiguous"), &[-2.0, 0.08, 2.0]);
        let mut skull_stripped =
            Array3::from_shape_vec((4, 1, 1), vec![0.0, 1.0, 2.0, 3.0]).expect("4");
        normalise(&mut skull_stripped, &Normalisation::ZScoreNonzero).expect("ok");
        assert_eq!(skull_stripped[[0, 0, 0]], 0.0);
        assert!((skull_stripped[[2, 0, 0]]).abs() < 1e-6);
    }
}
