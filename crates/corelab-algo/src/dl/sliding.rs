//! Sliding-window inference as nnU-Net does it (Isensee et al. 2021, `predict_sliding_window`):
//! patches placed evenly with at least the asked overlap, each patch's output weighted by a
//! Gaussian centred on the patch (σ = patch / 8, so voxels near a patch's edge, which the
//! network sees with little context, count less), summed and divided by the summed weights.
//! A volume smaller than a patch is padded with [`PAD`](crate::dl::spec::PAD), centred. With
//! mirroring, each patch's output is the mean over its 8 flips (flipped back).

use crate::dl::DlError;
use crate::dl::spec::{ModelSpec, PAD};
use ndarray::{Array3, Array4, Array5, ArrayView5, Axis, s};

/// Patch origins along one axis: nnU-Net's `compute_steps_for_sliding_window`. The fewest
/// patches whose step is at most `patch · (1 − overlap)`, spread evenly from 0 to
/// `size − patch`.
pub fn steps(size: usize, patch: usize, overlap: f64) -> Vec<usize> {
    if size <= patch {
        return vec![0];
    }
    let target = (patch as f64 * (1.0 - overlap)).max(1.0);
    let n = ((size - patch) as f64 / target).ceil() as usize + 1;
    let actual = (size - patch) as f64 / (n - 1) as f64;
    (0..n)
        .map(|i| (actual * i as f64).round() as usize)
        .collect()
}

/// The importance map: a Gaussian with σ = side / 8 centred on the patch (at `side / 2`),
/// scaled to a maximum of 1, with no weight below the smallest positive one.
pub fn gaussian(patch: [usize; 3]) -> Array3<f32> {
    let axis = |n: usize| -> Vec<f64> {
        let sigma = n as f64 / 8.0;
        let c = (n / 2) as f64;
        (0..n)
            .map(|x| (-((x as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp())
            .collect()
    };
    let (a, b, c) = (axis(patch[0]), axis(patch[1]), axis(patch[2]));
    let mut g = Array3::from_shape_fn((patch[0], patch[1], patch[2]), |(i, j, k)| {
        (a[i] * b[j] * c[k]) as f32
    });
    let max = g.iter().copied().fold(0.0f32, f32::max);
    g.mapv_inplace(|v| v / max);
    let floor = g
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f32::MAX, f32::min);
    g.mapv_inplace(|v| v.max(floor));
    g
}

/// Where the patches of a volume go.
#[derive(Clone, Debug, PartialEq)]
pub struct Tiling {
    /// The volume's shape.
    pub shape: [usize; 3],
    /// The shape after padding (each side at least the patch's).
    pub padded: [usize; 3],
    /// Padding before the volume along each axis.
    pub before: [usize; 3],
    /// Patch origins in the padded volume, i slowest.
    pub origins: Vec<[usize; 3]>,
    /// The patch.
    pub patch: [usize; 3],
}

impl Tiling {
    /// The tiling of a volume of `shape` with `spec`'s patch and overlap.
    pub fn new(shape: [usize; 3], spec: &ModelSpec) -> Self {
        let patch = spec.patch;
        let padded = [0, 1, 2].map(|a| shape[a].max(patch[a]));
        let before = [0, 1, 2].map(|a| (padded[a] - shape[a]) / 2);
        let [si, sj, sk] = [0, 1, 2].map(|a| steps(padded[a], patch[a], spec.overlap));
        let mut origins = Vec::with_capacity(si.len() * sj.len() * sk.len());
        for i in &si {
            for j in &sj {
                for k in &sk {
                    origins.push([*i, *j, *k]);
                }
            }
        }
        Self {
            shape,
            padded,
            before,
            origins,
            patch,
        }
    }

    /// The volume padded with [`PAD`].
    pub fn pad(&self, data: &Array3<f32>) -> Array3<f32> {
        if self.padded == self.shape {
            return data.clone();
        }
        let mut out = Array3::from_elem(self.padded, PAD);
        let [a, b, c] = self.before;
        let [x, y, z] = self.shape;
        out.slice_mut(s![a..a + x, b..b + y, c..c + z]).assign(data);
        out
    }
}

/// A network as the sliding window calls it: a batch `[batch, 1, x, y, z]` in, its output
/// `[batch, channels, x, y, z]` out.
pub type Net<'a> = dyn FnMut(ArrayView5<f32>) -> Result<Array5<f32>, DlError> + 'a;

/// The network's averaged output (`[channel, x, y, z]`, logits as the network gives them) over
/// `data`, running `network` on batches of `spec.batch` patches (`[batch, 1, x, y, z]`; the
/// last batch is filled up with padding patches whose outputs are dropped).
pub fn infer(
    data: &Array3<f32>,
    spec: &ModelSpec,
    network: &mut Net,
) -> Result<Array4<f32>, DlError> {
    let shape = [data.shape()[0], data.shape()[1], data.shape()[2]];
    let tiling = Tiling::new(shape, spec);
    let padded = tiling.pad(data);
    let [px, py, pz] = spec.patch;
    let channels = spec.channels();
    let weight = gaussian(spec.patch);
    let mut sum = Array4::<f32>::zeros((
        channels,
        tiling.padded[0],
        tiling.padded[1],
        tiling.padded[2],
    ));
    let mut weights = Array3::<f32>::zeros(tiling.padded);
    let flips: Vec<Vec<usize>> = if spec.mirror {
        (0..8usize)
            .map(|m| {
                (0..3)
                    .filter(|a| m & (1 << a) != 0)
                    .map(|a| a + 2)
                    .collect()
            })
            .collect()
    } else {
        vec![Vec::new()]
    };
    for chunk in tiling.origins.chunks(spec.batch) {
        let mut batch = Array5::<f32>::from_elem((spec.batch, 1, px, py, pz), PAD);
        for (b, o) in chunk.iter().enumerate() {
            batch
                .slice_mut(s![b, 0, .., .., ..])
                .assign(&padded.slice(s![o[0]..o[0] + px, o[1]..o[1] + py, o[2]..o[2] + pz]));
        }
        let mut out = Array5::<f32>::zeros((spec.batch, channels, px, py, pz));
        for axes in &flips {
            let mut input = batch.view();
            for a in axes {
                input.invert_axis(Axis(*a));
            }
            let input = input.as_standard_layout();
            let got = network(input.view())?;
            if got.shape() != [spec.batch, channels, px, py, pz] {
                return Err(DlError::Spec(format!(
                    "the network gave {:?} for a batch of {:?}; the specification expects {} channels ({} classes and the background) of the patch's size",
                    got.shape(),
                    [spec.batch, 1, px, py, pz],
                    channels,
                    spec.classes.len()
                )));
            }
            let mut back = got.view();
            for a in axes {
                back.invert_axis(Axis(*a));
            }
            out += &back;
        }
        if flips.len() > 1 {
            out.mapv_inplace(|v| v / flips.len() as f32);
        }
        for (b, o) in chunk.iter().enumerate() {
            let region = s![o[0]..o[0] + px, o[1]..o[1] + py, o[2]..o[2] + pz];
            for c in 0..channels {
                let mut target = sum.index_axis_mut(Axis(0), c);
                let mut target = target.slice_mut(region);
                ndarray::Zip::from(&mut target)
                    .and(out.slice(s![b, c, .., .., ..]))
                    .and(&weight)
                    .for_each(|t, v, w| *t += v * w);
            }
            let mut w = weights.slice_mut(region);
            w += &weight;
        }
    }
    for mut channel in sum.axis_iter_mut(Axis(0)) {
        channel.zip_mut_with(&weights, |v, w| *v /= *w);
    }
    let [a, b, c] = tiling.before;
    let [x, y, z] = shape;
    Ok(sum
        .slice(s![.., a..a + x, b..b + y, c..c + z])
        .as_standard_layout()
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dl::spec::{Normalisation, Orientation};

    fn spec(patch: [usize; 3], mirror: bool, batch: usize) -> ModelSpec {
        ModelSpec {
            target_spacing_mm: None,
            orientation: Orientation::Native,
            normalisation: Normalisation::ZScore,
            patch,
            overlap: 0.5,
            mirror,
            batch,
            classes: vec![(1, "x".into())],
            largest_component: vec![],
            min_component_mm3: vec![],
        }
    }

    #[test]
    fn steps_are_nnunets() {
        // nnU-Net: image 256, patch 128, step 0.5 → 0, 64, 128.
        assert_eq!(steps(256, 128, 0.5), vec![0, 64, 128]);
        // 180 with 64: ceil(116 / 32) + 1 = 5 patches, 29 apart.
        assert_eq!(steps(180, 64, 0.5), vec![0, 29, 58, 87, 116]);
        assert_eq!(steps(64, 64, 0.5), vec![0]);
        assert_eq!(steps(30, 64, 0.5), vec![0]);
        assert_eq!(steps(100, 64, 0.0), vec![0, 36]);
    }

    #[test]
    fn the_importance_map_peaks_at_the_centre() {
        let g = gaussian([8, 8, 8]);
        assert_eq!(g[[4, 4, 4]], 1.0);
        assert!(g[[0, 0, 0]] > 0.0 && g[[0, 0, 0]] < g[[1, 1, 1]]);
        // σ = 1 voxel: one step off centre weighs e^(−1/2).
        assert!((g[[5, 4, 4]] - (-0.5f32).exp()).abs() < 1e-6);
    }

    /// A "network" whose channel 1 is the input and channel 0 its negative: every patch
    /// position gives the same value at a voxel, so the weighted mean must be the input.
    fn echo(input: ArrayView5<f32>) -> Result<Array5<f32>, DlError> {
        let mut out = Array5::<f32>::zeros((
            input.shape()[0],
            2,
            input.shape()[2],
            input.shape()[3],
            input.shape()[4],
        ));
        out.slice_mut(s![.., 1..2, .., .., ..]).assign(&input);
        out.slice_mut(s![.., 0..1, .., .., ..])
            .assign(&input.mapv(|v| -v));
        Ok(out)
    }

    #[test]
    fn a_position_independent_network_is_reproduced_exactly() {
        let data = Array3::from_shape_fn((20, 13, 9), |(i, j, k)| (i * 7 + j * 3 + k) as f32);
        for (patch, mirror, batch) in [([8, 8, 8], false, 1), ([8, 6, 4], true, 3)] {
            let out = infer(&data, &spec(patch, mirror, batch), &mut echo).expect("runs");
            assert_eq!(out.shape(), &[2, 20, 13, 9]);
            let worst = out
                .index_axis(Axis(0), 1)
                .iter()
                .zip(data.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "{patch:?}: {worst}");
        }
        // Smaller than a patch: padded, then cropped back.
        let small = Array3::from_shape_fn((5, 5, 5), |(i, _, _)| i as f32);
        let out = infer(&small, &spec([8, 8, 8], false, 2), &mut echo).expect("runs");
        assert_eq!(out.shape(), &[2, 5, 5, 5]);
        assert!((out[[1, 4, 0, 0]] - 4.0).abs() < 1e-5);
    }

    #[test]
    fn a_network_with_the_wrong_output_is_named() {
        let data = Array3::<f32>::zeros((8, 8, 8));
        let mut one_channel = |input: ArrayView5<f32>| Ok(input.to_owned());
        let e = infer(&data, &spec([8, 8, 8], false, 1), &mut one_channel).expect_err("1 channel");
        assert!(e.to_string().contains("expects 2 channels"), "{e}");
    }
}
