//! From the network's per-channel output on the input grid to a label map: argmax (ties go to
//! the lower channel, so to the background), then per class the largest connected component
//! only, or components below a size removed (26-connected), as nnU-Net's post-processing does.

use crate::dl::spec::ModelSpec;
use corelab_image::components::{Connectivity, label};
use ndarray::{Array3, Array4, Axis, Zip};

/// The label map (class values, 0 background) of `channels` (`[channel, i, j, k]`), cleaned as
/// `spec` says; `voxel_mm3` is the input grid's voxel volume.
pub fn labels(channels: &Array4<f32>, spec: &ModelSpec, voxel_mm3: f64) -> Array3<u16> {
    let shape = &channels.shape()[1..];
    let mut best = channels.index_axis(Axis(0), 0).to_owned();
    let mut out = Array3::<u16>::zeros((shape[0], shape[1], shape[2]));
    for (c, (value, _)) in spec.classes.iter().enumerate() {
        Zip::from(&mut out)
            .and(&mut best)
            .and(channels.index_axis(Axis(0), c + 1))
            .for_each(|o, b, v| {
                if *v > *b {
                    *b = *v;
                    *o = *value;
                }
            });
    }
    for (value, _) in &spec.classes {
        let largest = spec.largest_component.contains(value);
        let min_mm3 = spec
            .min_component_mm3
            .iter()
            .find(|(v, _)| v == value)
            .map(|(_, mm3)| *mm3);
        if !largest && min_mm3.is_none() {
            continue;
        }
        let mask = out.mapv(|v| v == *value);
        let (components, sizes) = label(&mask, Connectivity::TwentySix);
        let biggest = sizes
            .iter()
            .enumerate()
            .skip(1)
            .max_by_key(|(_, n)| **n)
            .map(|(i, _)| i as u32);
        Zip::from(&mut out).and(&components).for_each(|o, c| {
            if *c == 0 {
                return;
            }
            let too_small =
                min_mm3.is_some_and(|min| (sizes[*c as usize] as f64) * voxel_mm3 < min);
            if too_small || (largest && Some(*c) != biggest) {
                *o = 0;
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dl::spec::{Normalisation, Orientation};

    #[test]
    fn argmax_then_components() {
        let mut spec = ModelSpec {
            target_spacing_mm: None,
            orientation: Orientation::Native,
            normalisation: Normalisation::ZScore,
            patch: [8, 8, 8],
            overlap: 0.5,
            mirror: false,
            batch: 1,
            classes: vec![(1, "organ".into()), (7, "lesion".into())],
            largest_component: vec![],
            min_component_mm3: vec![],
        };
        let mut c = Array4::<f32>::zeros((3, 10, 1, 1));
        c.index_axis_mut(Axis(0), 0).fill(0.5);
        // Organ at 0..3 (3 voxels) and 5 (1 voxel); lesion at 8 and 9; a tie at 7 stays background.
        for i in [0, 1, 2, 5] {
            c[[1, i, 0, 0]] = 1.0;
        }
        for i in [8, 9] {
            c[[2, i, 0, 0]] = 2.0;
        }
        c[[1, 7, 0, 0]] = 0.5;
        let raw = labels(&c, &spec, 1.0);
        assert_eq!(
            raw.iter().copied().collect::<Vec<_>>(),
            [1, 1, 1, 0, 0, 1, 0, 0, 7, 7]
        );
        spec.largest_component = vec![1];
        spec.min_component_mm3 = vec![(7, 2.5)];
        let clean = labels(&c, &spec, 1.0);
        assert_eq!(
            clean.iter().copied().collect::<Vec<_>>(),
            [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        // At 2 mm³ a voxel, the lesion's 2 voxels are 4 mm³: kept.
        assert_eq!(labels(&c, &spec, 2.0)[[9, 0, 0]], 7);
    }
}
