//! Analytic shapes (ellipsoids, nested into a scene) and their rasterisation onto a grid with
//! partial-volume fractions.
//!
//! A [`Scene`] is a tree of ellipsoids, each painted with a label: a child lies wholly inside
//! its parent and siblings do not touch ([`Scene::check`] enforces it), so the label at a point
//! is the label of the deepest ellipsoid holding it, and the exact volume of a label is the sum,
//! over its ellipsoids, of the ellipsoid's volume less its children's ([`Scene::volumes`]).
//! Shells are a parent with one child (the skull around the intracranial space).
//!
//! [`rasterise`] samples each voxel at `n × n × n` sub-voxel centres (midpoint rule) and counts the
//! label of each sample, so a voxel's fraction of a label is `count / n³`, exactly. Voxels whose
//! circumscribed ball lies inside one label are not sampled: for an ellipsoid `E` and a point at
//! normalised radius `r`, the ball of radius `|r − 1| · a_min` around the point lies wholly on
//! one side of `E`'s surface (`rE = E + (r − 1)E ⊇ E + (r − 1)·a_min·B` for a convex `E`), so such
//! a voxel would count the same label at every sample; skipping it changes no count.

use crate::geometry::Geometry;
use nalgebra::{Matrix3, Vector3};
use ndarray::{Array3, ShapeBuilder};
use serde::Serialize;
use std::collections::BTreeMap;

/// An ellipsoid in patient space (LPS, mm).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ellipsoid {
    /// Centre (LPS mm).
    pub centre_mm: [f64; 3],
    /// Semi-axes along its own axes (mm).
    pub semi_axes_mm: [f64; 3],
    /// Its own axes: three orthonormal unit vectors in LPS, one per semi-axis.
    pub axes: [[f64; 3]; 3],
}

impl Ellipsoid {
    /// An ellipsoid with its axes along x, y and z.
    pub fn aligned(centre: [f64; 3], semi_axes: [f64; 3]) -> Self {
        Self {
            centre_mm: centre,
            semi_axes_mm: semi_axes,
            axes: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        }
    }

    /// A sphere.
    pub fn sphere(centre: [f64; 3], radius: f64) -> Self {
        Self::aligned(centre, [radius; 3])
    }

    /// An ellipsoid whose first two axes are turned by `angle` radians about z (its third axis
    /// along z): a lesion as an axial image shows it.
    pub fn turned_about_z(centre: [f64; 3], semi_axes: [f64; 3], angle: f64) -> Self {
        let (s, c) = angle.sin_cos();
        Self {
            centre_mm: centre,
            semi_axes_mm: semi_axes,
            axes: [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
        }
    }

    /// Exact volume (mm³): 4/3 π a b c.
    pub fn volume_mm3(&self) -> f64 {
        let [a, b, c] = self.semi_axes_mm;
        4.0 / 3.0 * std::f64::consts::PI * a * b * c
    }

    /// The normalised radius of `p`: 1 on the surface, below 1 inside.
    pub fn radius_at(&self, p: [f64; 3]) -> f64 {
        let q = [
            p[0] - self.centre_mm[0],
            p[1] - self.centre_mm[1],
            p[2] - self.centre_mm[2],
        ];
        let mut sum = 0.0;
        for (axis, semi) in self.axes.iter().zip(self.semi_axes_mm) {
            let t = (axis[0] * q[0] + axis[1] * q[1] + axis[2] * q[2]) / semi;
            sum += t * t;
        }
        sum.sqrt()
    }

    /// Whether `p` is inside (or on the surface).
    pub fn contains(&self, p: [f64; 3]) -> bool {
        self.radius_at(p) <= 1.0
    }

    /// The smallest semi-axis.
    pub fn min_semi_axis(&self) -> f64 {
        self.semi_axes_mm
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }

    /// The largest semi-axis (the radius of a ball around the centre holding it).
    pub fn max_semi_axis(&self) -> f64 {
        self.semi_axes_mm.iter().copied().fold(0.0, f64::max)
    }

    /// Half its extent along the unit vector `d` (for bounding boxes).
    pub fn half_width_along(&self, d: [f64; 3]) -> f64 {
        self.axes
            .iter()
            .zip(self.semi_axes_mm)
            .map(|(e, a)| (a * (e[0] * d[0] + e[1] * d[1] + e[2] * d[2])).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    /// The long and short axes (mm) of its largest section by an axial plane (constant z), as
    /// RECIST measures on axial images. Parallel sections of an ellipsoid are similar ellipses,
    /// the largest through the centre; with `M = Σ eᵢeᵢᵀ/aᵢ²` its quadratic form, that section's
    /// semi-axes are `1/√λ` of the eigenvalues `λ` of M's x-y block.
    pub fn axial_diameters_mm(&self) -> (f64, f64) {
        let mut m = [[0.0; 2]; 2];
        for (e, a) in self.axes.iter().zip(self.semi_axes_mm) {
            for r in 0..2 {
                for c in 0..2 {
                    m[r][c] += e[r] * e[c] / (a * a);
                }
            }
        }
        let mean = (m[0][0] + m[1][1]) / 2.0;
        let spread = (((m[0][0] - m[1][1]) / 2.0).powi(2) + m[0][1] * m[0][1]).sqrt();
        let (small, large) = (mean - spread, mean + spread);
        (2.0 / small.sqrt(), 2.0 / large.sqrt())
    }

    /// Whether the ellipsoid grown by `margin` (mm) on every semi-axis lies inside `outer` and
    /// clear of each of `others` grown likewise (surfaces sampled at 600 points; with margins of
    /// a millimetre the sampling cannot miss a contact). For placing lesions.
    pub fn fits(&self, outer: &Ellipsoid, others: &[Ellipsoid], margin: f64) -> bool {
        let mut grown = self.clone();
        grown.semi_axes_mm = self.semi_axes_mm.map(|a| a + margin);
        if grown.surface_points(600).any(|p| !outer.contains(p)) {
            return false;
        }
        others.iter().all(|o| {
            let mut og = o.clone();
            og.semi_axes_mm = o.semi_axes_mm.map(|a| a + margin);
            let d: f64 = (0..3)
                .map(|i| (og.centre_mm[i] - grown.centre_mm[i]).powi(2))
                .sum::<f64>()
                .sqrt();
            d > og.max_semi_axis() + grown.max_semi_axis()
                || !(og.contains(grown.centre_mm)
                    || grown.contains(og.centre_mm)
                    || grown.surface_points(600).any(|p| og.contains(p))
                    || og.surface_points(600).any(|p| grown.contains(p)))
        })
    }

    /// Whether it lies inside `grid`'s field of view (the box of its voxels' outer faces;
    /// surface sampled at 2,000 points).
    pub fn within(&self, grid: &Geometry) -> bool {
        let dims = grid.dims.map(|d| d as f64 - 0.5);
        self.surface_points(2000).all(|p| {
            grid.to_voxel(p)
                .is_some_and(|v| (0..3).all(|a| v[a] >= -0.5 && v[a] <= dims[a]))
        })
    }

    /// Whether the ball of `radius` around `centre` lies wholly inside (a sufficient test).
    pub fn contains_ball(&self, centre: [f64; 3], radius: f64) -> bool {
        let r = self.radius_at(centre);
        r < 1.0 && (1.0 - r) * self.min_semi_axis() >= radius
    }

    /// The same ellipsoid with its semi-axes multiplied by `factor` (centre fixed).
    pub fn scaled(&self, factor: f64) -> Self {
        let mut e = self.clone();
        e.semi_axes_mm = self.semi_axes_mm.map(|a| a * factor);
        e
    }

    /// The ellipsoid moved by `x ↦ R·(x − about) + about + shift`.
    pub fn moved(&self, rotation: &Matrix3<f64>, about: [f64; 3], shift: [f64; 3]) -> Self {
        let v = |a: [f64; 3]| Vector3::new(a[0], a[1], a[2]);
        let c = rotation * (v(self.centre_mm) - v(about)) + v(about) + v(shift);
        let axes = self.axes.map(|a| {
            let r = rotation * v(a);
            [r[0], r[1], r[2]]
        });
        Self {
            centre_mm: [c[0], c[1], c[2]],
            semi_axes_mm: self.semi_axes_mm,
            axes,
        }
    }

    /// `count` points spread evenly over the surface (a Fibonacci lattice).
    fn surface_points(&self, count: usize) -> impl Iterator<Item = [f64; 3]> + '_ {
        let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
        (0..count).map(move |n| {
            let z = 1.0 - 2.0 * (n as f64 + 0.5) / count as f64;
            let rho = (1.0 - z * z).sqrt();
            let (s, c) = (golden * n as f64).sin_cos();
            let u = [rho * c, rho * s, z];
            let mut p = self.centre_mm;
            for (axis, (semi, t)) in self.axes.iter().zip(self.semi_axes_mm.iter().zip(u)) {
                for d in 0..3 {
                    p[d] += axis[d] * semi * t;
                }
            }
            p
        })
    }
}

/// An ellipsoid painted with a label, holding its children.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The shape.
    pub shape: Ellipsoid,
    /// The label it paints (below [`MIXED`]).
    pub label: u8,
    /// Ellipsoids inside it, disjoint from each other.
    pub children: Vec<Node>,
}

impl Node {
    /// A node without children.
    pub fn leaf(shape: Ellipsoid, label: u8) -> Self {
        Self {
            shape,
            label,
            children: Vec::new(),
        }
    }

    /// A node with children.
    pub fn with(shape: Ellipsoid, label: u8, children: Vec<Node>) -> Self {
        Self {
            shape,
            label,
            children,
        }
    }
}

/// Labels painted by nested ellipsoids on a background (label 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scene {
    /// The outermost ellipsoids, disjoint from each other.
    pub roots: Vec<Node>,
}

/// The marker of a voxel shared by several labels in [`Rasterised::uniform`].
pub const MIXED: u8 = u8::MAX;

impl Scene {
    /// The label at a point.
    pub fn label_at(&self, p: [f64; 3]) -> u8 {
        let mut label = 0;
        let mut level = &self.roots;
        while let Some(node) = level.iter().find(|n| n.shape.contains(p)) {
            label = node.label;
            level = &node.children;
        }
        label
    }

    /// The label of every point within `radius` of `p`, if they all have one.
    fn uniform_label(&self, p: [f64; 3], radius: f64) -> Option<u8> {
        let mut label = 0;
        let mut level = &self.roots;
        loop {
            let mut inside = None;
            for node in level {
                let r = node.shape.radius_at(p);
                if (r - 1.0).abs() * node.shape.min_semi_axis() <= radius {
                    return None;
                }
                if r < 1.0 {
                    inside = Some(node);
                }
            }
            match inside {
                Some(node) => {
                    label = node.label;
                    level = &node.children;
                }
                None => return Some(label),
            }
        }
    }

    /// The exact volume (mm³) of every label the scene paints: each ellipsoid's volume less its
    /// children's.
    pub fn volumes(&self) -> BTreeMap<u8, f64> {
        fn add(nodes: &[Node], out: &mut BTreeMap<u8, f64>) {
            for n in nodes {
                let inner: f64 = n.children.iter().map(|c| c.shape.volume_mm3()).sum();
                *out.entry(n.label).or_insert(0.0) += n.shape.volume_mm3() - inner;
                add(&n.children, out);
            }
        }
        let mut out = BTreeMap::new();
        add(&self.roots, &mut out);
        out
    }

    /// Every ellipsoid with its label, parents before children.
    pub fn shapes(&self) -> Vec<(u8, &Ellipsoid)> {
        fn walk<'a>(nodes: &'a [Node], out: &mut Vec<(u8, &'a Ellipsoid)>) {
            for n in nodes {
                out.push((n.label, &n.shape));
                walk(&n.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.roots, &mut out);
        out
    }

    /// Checks what [`Scene::volumes`] relies on: every child inside its parent, siblings
    /// disjoint, labels below [`MIXED`]. Surfaces are sampled at 4,000 points each, so an
    /// overlap of less than a few hundredths of a millimetre could pass; designs keep margins
    /// of a millimetre or more.
    pub fn check(&self) -> Result<(), String> {
        fn level(nodes: &[Node], parent: Option<&Node>) -> Result<(), String> {
            const POINTS: usize = 4000;
            for (n, node) in nodes.iter().enumerate() {
                if node.label == MIXED {
                    return Err(format!("label {MIXED} is reserved"));
                }
                if let Some(p) = parent
                    && node
                        .shape
                        .surface_points(POINTS)
                        .any(|x| !p.shape.contains(x))
                {
                    return Err(format!(
                        "an ellipsoid of label {} at {:?} reaches outside its parent (label {})",
                        node.label, node.shape.centre_mm, p.label
                    ));
                }
                for other in &nodes[n + 1..] {
                    let (a, b) = (&node.shape, &other.shape);
                    let d: f64 = (0..3)
                        .map(|i| (a.centre_mm[i] - b.centre_mm[i]).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    if d > a.max_semi_axis() + b.max_semi_axis() {
                        continue;
                    }
                    let overlap = b.contains(a.centre_mm)
                        || a.contains(b.centre_mm)
                        || a.surface_points(POINTS).any(|x| b.contains(x))
                        || b.surface_points(POINTS).any(|x| a.contains(x));
                    if overlap {
                        return Err(format!(
                            "ellipsoids of labels {} at {:?} and {} at {:?} overlap",
                            node.label, a.centre_mm, other.label, b.centre_mm
                        ));
                    }
                }
                level(&node.children, Some(node))?;
            }
            Ok(())
        }
        level(&self.roots, None)
    }
}

/// A scene on a grid: for each voxel, how many of its `n³` samples fall in each label.
#[derive(Clone, Debug, PartialEq)]
pub struct Rasterised {
    /// The grid.
    pub geometry: Geometry,
    /// Samples per voxel (`n³`).
    pub per_voxel: u16,
    /// The label of voxels wholly in one label, [`MIXED`] for the others.
    pub uniform: Array3<u8>,
    /// The mixed voxels in storage order (`i` fastest, then `j`, then `k`) with their label
    /// counts (summing to `per_voxel`).
    pub mixed: Vec<MixedVoxel>,
}

/// A voxel shared by several labels: its index and `(label, samples)` counts.
pub type MixedVoxel = ([usize; 3], Vec<(u8, u16)>);

/// Rasterises `scene` on `grid` with `n × n × n` samples per voxel (`1 ≤ n ≤ 16`).
pub fn rasterise(scene: &Scene, grid: &Geometry, n: usize) -> Rasterised {
    let n = n.clamp(1, 16);
    let a = grid.affine;
    let col = |c: usize| [a[(0, c)], a[(1, c)], a[(2, c)]];
    let (ci, cj, ck) = (col(0), col(1), col(2));
    // The farthest corner from the centre bounds every sample.
    let mut radius: f64 = 0.0;
    for si in [-0.5, 0.5] {
        for sj in [-0.5, 0.5] {
            for sk in [-0.5, 0.5] {
                let d: f64 = (0..3)
                    .map(|r| (si * ci[r] + sj * cj[r] + sk * ck[r]).powi(2))
                    .sum();
                radius = radius.max(d.sqrt());
            }
        }
    }
    let offset = |s: usize| (s as f64 + 0.5) / n as f64 - 0.5;
    let at = |u: f64, v: f64, w: f64| [0, 1, 2].map(|r| u * ci[r] + v * cj[r] + w * ck[r]);
    // The samples grouped by octant (for even n), so that an octant wholly in one label, tested
    // like a voxel with half the radius, counts its samples without sampling them.
    let halves: Vec<std::ops::Range<usize>> = if n.is_multiple_of(2) {
        vec![0..n / 2, n / 2..n]
    } else {
        std::iter::once(0..n).collect()
    };
    let mut octants: Vec<([f64; 3], Vec<[f64; 3]>)> = Vec::new();
    for hk in &halves {
        for hj in &halves {
            for hi in &halves {
                let mid = |h: &std::ops::Range<usize>| (offset(h.start) + offset(h.end - 1)) / 2.0;
                let mut samples = Vec::new();
                for sk in hk.clone() {
                    for sj in hj.clone() {
                        for si in hi.clone() {
                            samples.push(at(offset(si), offset(sj), offset(sk)));
                        }
                    }
                }
                octants.push((at(mid(hi), mid(hj), mid(hk)), samples));
            }
        }
    }
    let octant_radius = if n.is_multiple_of(2) {
        radius / 2.0
    } else {
        radius
    };
    let [di, dj, dk] = grid.dims;
    // Slabs of slices on every core; each slab's voxels in storage order, so the result does not
    // depend on how many there are.
    let slab = |ks: std::ops::Range<usize>| {
        let mut labels = Vec::with_capacity(di * dj * ks.len());
        let mut mixed = Vec::new();
        let mut counts: Vec<(u8, u16)> = Vec::new();
        for k in ks {
            for j in 0..dj {
                for i in 0..di {
                    let c = grid.to_patient([i as f64, j as f64, k as f64]);
                    if let Some(label) = scene.uniform_label(c, radius) {
                        labels.push(label);
                        continue;
                    }
                    counts.clear();
                    let mut add =
                        |label: u8, n: u16| match counts.iter_mut().find(|(l, _)| *l == label) {
                            Some((_, count)) => *count += n,
                            None => counts.push((label, n)),
                        };
                    for (mid, samples) in &octants {
                        let m = [c[0] + mid[0], c[1] + mid[1], c[2] + mid[2]];
                        if let Some(label) = scene.uniform_label(m, octant_radius) {
                            add(label, samples.len() as u16);
                            continue;
                        }
                        for s in samples {
                            add(scene.label_at([c[0] + s[0], c[1] + s[1], c[2] + s[2]]), 1);
                        }
                    }
                    if counts.len() == 1 {
                        labels.push(counts[0].0);
                    } else {
                        counts.sort_unstable();
                        labels.push(MIXED);
                        mixed.push(([i, j, k], counts.clone()));
                    }
                }
            }
        }
        (labels, mixed)
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, dk);
    let per = dk.div_ceil(threads);
    let slabs: Vec<(Vec<u8>, Vec<MixedVoxel>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ks = (t * per).min(dk)..((t + 1) * per).min(dk);
                scope.spawn(move || slab(ks))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all = Vec::with_capacity(di * dj * dk);
    let mut mixed = Vec::new();
    for (labels, m) in slabs {
        all.extend(labels);
        mixed.extend(m);
    }
    let uniform = Array3::from_shape_vec((di, dj, dk).f(), all)
        .unwrap_or_else(|_| Array3::from_elem((di, dj, dk).f(), MIXED));
    Rasterised {
        geometry: grid.clone(),
        per_voxel: (n * n * n) as u16,
        uniform,
        mixed,
    }
}

impl Rasterised {
    /// Calls `f(index, counts)` for every voxel, counts as `(label, samples)`.
    fn each(&self, mut f: impl FnMut([usize; 3], &[(u8, u16)])) {
        let mut next = self.mixed.iter().peekable();
        let mut one = [(0u8, self.per_voxel)];
        let [di, dj, dk] = self.geometry.dims;
        for k in 0..dk {
            for j in 0..dj {
                for i in 0..di {
                    let label = self.uniform[[i, j, k]];
                    if label == MIXED {
                        if let Some((_, counts)) = next.next() {
                            f([i, j, k], counts);
                        }
                    } else {
                        one[0].0 = label;
                        f([i, j, k], &one);
                    }
                }
            }
        }
    }

    /// How many samples of each voxel fall in any of `labels`.
    pub fn counts(&self, labels: &[u8]) -> Array3<u16> {
        let [di, dj, dk] = self.geometry.dims;
        let mut out = Array3::<u16>::zeros((di, dj, dk).f());
        self.each(|ijk, counts| {
            out[ijk] = counts
                .iter()
                .filter(|(l, _)| labels.contains(l))
                .map(|(_, c)| c)
                .sum();
        });
        out
    }

    /// The fraction of each voxel in any of `labels`.
    pub fn fraction(&self, labels: &[u8]) -> Array3<f32> {
        let n = f32::from(self.per_voxel);
        self.counts(labels).mapv(|c| f32::from(c) / n)
    }

    /// The binary mask of `labels`: 1 where their fraction is at least one half.
    pub fn mask(&self, labels: &[u8]) -> Array3<u8> {
        let n = u32::from(self.per_voxel);
        self.counts(labels)
            .mapv(|c| u8::from(2 * u32::from(c) >= n))
    }

    /// The partial-volume volume of `labels` (mm³): the sum of their fractions times the voxel
    /// volume.
    pub fn pv_volume_mm3(&self, labels: &[u8]) -> f64 {
        let total: u64 = self.counts(labels).iter().map(|c| u64::from(*c)).sum();
        total as f64 / f64::from(self.per_voxel) * self.geometry.voxel_volume()
    }

    /// For each group of labels: its binary mask (fraction ≥ ½) and the total of its samples
    /// (the partial-volume sum × `per_voxel`), in one pass (at most 64 groups).
    pub fn masks(&self, groups: &[&[u8]]) -> Vec<(Array3<u8>, u64)> {
        let [di, dj, dk] = self.geometry.dims;
        let groups = &groups[..groups.len().min(64)];
        let mut member = [0u64; 256];
        for (g, labels) in groups.iter().enumerate() {
            for l in *labels {
                member[usize::from(*l)] |= 1 << g;
            }
        }
        let mut out: Vec<(Array3<u8>, u64)> = groups
            .iter()
            .map(|_| (Array3::<u8>::zeros((di, dj, dk).f()), 0))
            .collect();
        let n = u32::from(self.per_voxel);
        let mut sums = vec![0u32; groups.len()];
        self.each(|ijk, counts| {
            sums.iter_mut().for_each(|s| *s = 0);
            for (l, c) in counts {
                let mut bits = member[usize::from(*l)];
                while bits != 0 {
                    let g = bits.trailing_zeros() as usize;
                    sums[g] += u32::from(*c);
                    bits &= bits - 1;
                }
            }
            for (g, s) in sums.iter().enumerate() {
                if *s > 0 {
                    out[g].1 += u64::from(*s);
                    if 2 * s >= n {
                        out[g].0[ijk] = 1;
                    }
                }
            }
        });
        out
    }

    /// The noise-free image: each voxel the fraction-weighted mean of its labels' values.
    pub fn image(&self, value: impl Fn(u8) -> f64) -> Array3<f64> {
        let [di, dj, dk] = self.geometry.dims;
        let mut out = Array3::<f64>::zeros((di, dj, dk).f());
        let n = f64::from(self.per_voxel);
        self.each(|ijk, counts| {
            out[ijk] = counts
                .iter()
                .map(|(l, c)| value(*l) * f64::from(*c))
                .sum::<f64>()
                / n;
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(spacing: f64, n: usize) -> Geometry {
        let half = (n as f64 - 1.0) / 2.0 * spacing;
        Geometry::axis_aligned([n; 3], [-half; 3], [spacing; 3])
    }

    #[test]
    fn a_sphere_partial_volume_sum_is_its_volume_within_half_a_percent() {
        // Off the voxel lattice on purpose, radius 5.3 voxels.
        let s = Ellipsoid::sphere([0.37, -0.21, 0.55], 10.6);
        let scene = Scene {
            roots: vec![Node::leaf(s.clone(), 1)],
        };
        let r = rasterise(&scene, &grid(2.0, 16), 4);
        let pv = r.pv_volume_mm3(&[1]);
        let exact = s.volume_mm3();
        assert!(
            ((pv - exact) / exact).abs() < 0.005,
            "pv {pv} vs analytic {exact}"
        );
        // The binary mask is coarser, but within a few percent.
        let mask: u64 = r.mask(&[1]).iter().map(|&v| u64::from(v)).sum();
        let mask_mm3 = mask as f64 * 8.0;
        assert!(((mask_mm3 - exact) / exact).abs() < 0.05, "{mask_mm3}");
    }

    #[test]
    fn a_rotated_ellipsoid_on_an_oblique_anisotropic_grid_keeps_its_volume() {
        let e = Ellipsoid::turned_about_z([1.3, -2.2, 0.7], [14.0, 7.5, 5.0], 0.6).moved(
            &nalgebra::Rotation3::from_euler_angles(0.3, -0.2, 0.1).into_inner(),
            [0.0; 3],
            [0.0; 3],
        );
        let (c, s) = (0.4f64.cos(), 0.4f64.sin());
        let g = Geometry::new(
            [30, 30, 14],
            [-20.0, -20.0, -16.0],
            [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
            [1.4, 1.4, 2.5],
        )
        .unwrap();
        let g = Geometry {
            affine: {
                // Centre the grid on the origin.
                let mut a = g.affine;
                let mid = g.to_patient([14.5, 14.5, 6.5]);
                for r in 0..3 {
                    a[(r, 3)] -= mid[r];
                }
                a
            },
            ..g
        };
        let scene = Scene {
            roots: vec![Node::leaf(e.clone(), 7)],
        };
        let pv = rasterise(&scene, &g, 4).pv_volume_mm3(&[7]);
        assert!(
            ((pv - e.volume_mm3()) / e.volume_mm3()).abs() < 0.005,
            "{pv} vs {}",
            e.volume_mm3()
        );
    }

    #[test]
    fn skipping_voxels_wholly_in_one_label_changes_no_count() {
        // A shell with an off-centre child: compare with sampling every voxel.
        let outer = Ellipsoid::aligned([0.5, 0.0, -0.3], [13.0, 11.0, 9.0]);
        let inner = Ellipsoid::aligned([1.0, 0.5, 0.0], [8.0, 6.0, 5.0]);
        let scene = Scene {
            roots: vec![Node::with(outer, 1, vec![Node::leaf(inner, 2)])],
        };
        scene.check().unwrap();
        let g = grid(1.5, 22);
        // 4³ samples: whole voxels and whole octants skipped; 3³: whole voxels only.
        for n in [4usize, 3] {
            let r = rasterise(&scene, &g, n);
            assert_eq!(r.counts(&[2]), brute(&scene, &g, n), "{n}³ samples");
            assert!(!r.mixed.is_empty());
        }
        let v = scene.volumes();
        assert!(
            (v[&1] + v[&2] - 4.0 / 3.0 * std::f64::consts::PI * 13.0 * 11.0 * 9.0).abs() < 1e-6
        );
    }

    /// Samples of label 2 per voxel, every sample of every voxel looked at.
    fn brute(scene: &Scene, g: &Geometry, n: usize) -> Array3<u16> {
        let [a, b, c] = g.dims;
        let mut out = Array3::<u16>::zeros((a, b, c).f());
        for ((i, j, k), v) in out.indexed_iter_mut() {
            for s in 0..n * n * n {
                let o = |t: usize| (t as f64 + 0.5) / n as f64 - 0.5;
                let p = g.to_patient([
                    i as f64 + o(s % n),
                    j as f64 + o(s / n % n),
                    k as f64 + o(s / (n * n)),
                ]);
                *v += u16::from(scene.label_at(p) == 2);
            }
        }
        out
    }

    #[test]
    fn axial_diameters_of_a_turned_lesion_are_its_in_plane_axes() {
        let e = Ellipsoid::turned_about_z([3.0, 4.0, 5.0], [12.0, 7.0, 9.0], 0.7);
        let (long, short) = e.axial_diameters_mm();
        assert!(
            (long - 24.0).abs() < 1e-9 && (short - 14.0).abs() < 1e-9,
            "{long} {short}"
        );
        // Tilted out of the plane: the axial section of a sphere-like spheroid is a circle of
        // its equatorial diameter when its long axis is along z.
        let tall = Ellipsoid::aligned([0.0; 3], [5.0, 5.0, 20.0]);
        assert_eq!(tall.axial_diameters_mm(), (10.0, 10.0));
    }

    #[test]
    fn overlapping_siblings_and_escaping_children_are_refused() {
        let a = Ellipsoid::sphere([0.0; 3], 5.0);
        let b = Ellipsoid::sphere([8.0, 0.0, 0.0], 5.0);
        let scene = Scene {
            roots: vec![Node::leaf(a.clone(), 1), Node::leaf(b.clone(), 2)],
        };
        assert!(scene.check().unwrap_err().contains("overlap"));
        let scene = Scene {
            roots: vec![Node::with(a, 1, vec![Node::leaf(b, 2)])],
        };
        assert!(scene.check().unwrap_err().contains("outside its parent"));
    }
}
