//! The numerical core of `neuro.tissue-seg`: a three-class Gaussian mixture fitted by EM on the
//! intracranial voxels, refined by a mean-field Potts prior over the 26-neighbourhood (Zhang et
//! al. 2001 as FAST runs it; Avants et al. 2011 as Atropos runs it), class parameters re-estimated
//! on pure (interior) voxels, and partial-volume fractions at class boundaries.
//!
//! Every sum runs sequentially over the domain voxels in grid order with f64 accumulators, so
//! the same input gives bit-identical output; what is computed per voxel on its own (the
//! mean-field update, the mixing-line likelihoods) runs in parallel, which changes no bit.

use rayon::prelude::*;

/// The classes, darkest first on T1w: CSF, GM, WM.
pub(super) const K: usize = 3;

/// The intracranial voxels of a grid: their linear indices (C order) and, for every grid voxel,
/// its index among them (`u32::MAX` outside).
pub(super) struct Domain {
    /// Grid dimensions.
    pub dims: [usize; 3],
    /// Linear grid index of each domain voxel, ascending.
    pub voxels: Vec<usize>,
    /// Grid voxel → domain index.
    index: Vec<u32>,
    /// The 26 neighbour offsets with their weights (nearest distance over distance, in mm).
    offsets: Vec<([isize; 3], f64)>,
}

impl Domain {
    /// The domain of `mask` on a grid of `spacing` (mm).
    pub fn new(mask: &ndarray::Array3<bool>, spacing: [f64; 3]) -> Domain {
        let s = mask.shape();
        let dims = [s[0], s[1], s[2]];
        let mut voxels = Vec::new();
        let mut index = vec![u32::MAX; mask.len()];
        // `iter()` of a standard-layout array walks C order: the linear index is the count.
        for (l, &inside) in mask.iter().enumerate() {
            if inside {
                index[l] = voxels.len() as u32;
                voxels.push(l);
            }
        }
        let nearest = spacing.iter().cloned().fold(f64::INFINITY, f64::min);
        let mut offsets = Vec::with_capacity(26);
        for di in -1isize..=1 {
            for dj in -1isize..=1 {
                for dk in -1isize..=1 {
                    if (di, dj, dk) == (0, 0, 0) {
                        continue;
                    }
                    let d = ((di as f64 * spacing[0]).powi(2)
                        + (dj as f64 * spacing[1]).powi(2)
                        + (dk as f64 * spacing[2]).powi(2))
                    .sqrt();
                    offsets.push(([di, dj, dk], nearest / d));
                }
            }
        }
        Domain {
            dims,
            voxels,
            index,
            offsets,
        }
    }

    /// Calls `f(domain index, weight)` for each in-domain neighbour of domain voxel `n`.
    #[inline]
    pub fn neighbours(&self, n: usize, mut f: impl FnMut(usize, f64)) {
        let [_, ny, nz] = self.dims;
        let l = self.voxels[n];
        let c = [l / (ny * nz), (l / nz) % ny, l % nz];
        for &(o, w) in &self.offsets {
            let (i, j, k) = (
                c[0] as isize + o[0],
                c[1] as isize + o[1],
                c[2] as isize + o[2],
            );
            if i < 0
                || j < 0
                || k < 0
                || i as usize >= self.dims[0]
                || j as usize >= ny
                || k as usize >= nz
            {
                continue;
            }
            let m = self.index[(i as usize * ny + j as usize) * nz + k as usize];
            if m != u32::MAX {
                f(m as usize, w);
            }
        }
    }
}

/// A class's Gaussian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Class {
    /// Mean intensity.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// Mixing weight.
    pub weight: f64,
}

/// The log of the Gaussian density of `y` under `c`, less the constant.
#[inline]
fn log_density(y: f64, c: &Class) -> f64 {
    let z = (y - c.mean) / c.sd;
    -0.5 * z * z - c.sd.ln()
}

/// A floor on a class's SD: a hundredth of the intensity range, so that a class of identical
/// voxels (a clipped image) does not become a spike that swallows nothing else.
fn sd_floor(y: &[f32]) -> f64 {
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(f64::from(v)), b.max(f64::from(v)))
        });
    ((hi - lo) / 100.0).max(1e-6)
}

/// Initial classes: 1-D k-means (Lloyd) started at the 1/6, 1/2 and 5/6 quantiles.
pub(super) fn kmeans(y: &[f32]) -> [Class; K] {
    let mut sorted = y.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let q = |p: f64| f64::from(sorted[((sorted.len() - 1) as f64 * p) as usize]);
    let mut means = [q(1.0 / 6.0), q(0.5), q(5.0 / 6.0)];
    let mut stats = [(0.0f64, 0.0f64, 0usize); K];
    for _ in 0..50 {
        let cut = [(means[0] + means[1]) / 2.0, (means[1] + means[2]) / 2.0];
        stats = [(0.0, 0.0, 0); K];
        for &v in &sorted {
            let v = f64::from(v);
            let k = usize::from(v >= cut[0]) + usize::from(v >= cut[1]);
            stats[k].0 += v;
            stats[k].1 += v * v;
            stats[k].2 += 1;
        }
        let next = [0, 1, 2].map(|k| {
            if stats[k].2 > 0 {
                stats[k].0 / stats[k].2 as f64
            } else {
                means[k]
            }
        });
        if next == means {
            break;
        }
        means = next;
    }
    let floor = sd_floor(y);
    let n = y.len() as f64;
    [0, 1, 2].map(|k| {
        let (s, s2, c) = stats[k];
        let c = c.max(1) as f64;
        let var = (s2 / c - (s / c).powi(2)).max(0.0);
        Class {
            mean: means[k],
            sd: var.sqrt().max(floor),
            weight: (c / n).max(1e-3),
        }
    })
}

/// Updates classes from responsibilities (the M step).
fn m_step(y: &[f32], q: &[[f32; K]], floor: f64, with_weights: bool, classes: &mut [Class; K]) {
    let mut acc = [(0.0f64, 0.0f64, 0.0f64); K];
    for (v, r) in y.iter().zip(q) {
        let v = f64::from(*v);
        for k in 0..K {
            let w = f64::from(r[k]);
            acc[k].0 += w;
            acc[k].1 += w * v;
            acc[k].2 += w * v * v;
        }
    }
    let n = y.len() as f64;
    for k in 0..K {
        let (w, s, s2) = acc[k];
        if w < 1e-9 {
            continue;
        }
        let mean = s / w;
        classes[k].mean = mean;
        classes[k].sd = (s2 / w - mean * mean).max(0.0).sqrt().max(floor);
        if with_weights {
            classes[k].weight = (w / n).max(1e-6);
        }
    }
}

/// Normalised responsibilities from per-class log scores.
#[inline]
fn normalise(scores: [f64; K]) -> [f32; K] {
    let top = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e = scores.map(|s| (s - top).exp());
    let sum: f64 = e.iter().sum();
    e.map(|x| (x / sum) as f32)
}

/// EM of the plain mixture (no spatial prior) from `classes`; returns the responsibilities.
pub(super) fn em(y: &[f32], classes: &mut [Class; K], iterations: usize) -> Vec<[f32; K]> {
    let floor = sd_floor(y);
    let mut q = vec![[0.0f32; K]; y.len()];
    for _ in 0..iterations.max(1) {
        let before = *classes;
        for (v, r) in y.iter().zip(q.iter_mut()) {
            let v = f64::from(*v);
            *r = normalise([0, 1, 2].map(|k| classes[k].weight.ln() + log_density(v, &classes[k])));
        }
        m_step(y, &q, floor, true, classes);
        let moved = (0..K)
            .map(|k| (classes[k].mean - before[k].mean).abs() / before[k].sd)
            .fold(0.0, f64::max);
        if moved < 1e-4 {
            break;
        }
    }
    q
}

/// EM with a mean-field Potts prior: each voxel's prior for class k is proportional to
/// `exp(β Σ_j w_j q_jk)` over its in-domain neighbours j (weights by inverse distance), updated
/// synchronously from the previous sweep's responsibilities; the classes' weights are dropped
/// (the spatial prior replaces them, as in FAST).
pub(super) fn mean_field(
    domain: &Domain,
    y: &[f32],
    classes: &mut [Class; K],
    q: &mut Vec<[f32; K]>,
    beta: f64,
    iterations: usize,
) {
    let floor = sd_floor(y);
    // Each sweep reads the last one's responsibilities only (a Jacobi update), so voxels are
    // computed in parallel and still bit for bit as in sequence; the two buffers are reused
    // (a fresh buffer per sweep costs its page faults: a quarter of a 1 mm 256³ run was the
    // kernel zeroing new pages, measured with perf).
    let mut next = vec![[0.0f32; K]; y.len()];
    for _ in 0..iterations {
        {
            let (q, classes) = (&*q, &*classes);
            next.par_iter_mut().enumerate().for_each(|(n, r)| {
                let mut field = [0.0f64; K];
                domain.neighbours(n, |m, w| {
                    for k in 0..K {
                        field[k] += w * f64::from(q[m][k]);
                    }
                });
                let v = f64::from(y[n]);
                *r = normalise([0, 1, 2].map(|k| beta * field[k] + log_density(v, &classes[k])));
            });
        }
        std::mem::swap(q, &mut next);
        m_step(y, q, floor, false, classes);
    }
}

/// The hard labels (0 CSF, 1 GM, 2 WM) of responsibilities.
pub(super) fn hard(q: &[[f32; K]]) -> Vec<u8> {
    q.iter()
        .map(|r| {
            let mut best = 0;
            for k in 1..K {
                if r[k] > r[best] {
                    best = k;
                }
            }
            best as u8
        })
        .collect()
}

/// Class means and SDs re-estimated on pure voxels (all 26 neighbours in the domain and of the
/// same label): partial-volume voxels at boundaries pull a mixture's means toward each other (the
/// CSF class most, being thin), and the domain's edge voxels hold some skull, which would bias
/// the fractions computed from them (measured: the CSF mean 214 instead of 250 on the phantom,
/// +2.5 % GM, −3.4 % CSF, until the edge was excluded). A class with fewer than
/// `min_pure` pure voxels keeps its mixture estimate.
pub(super) fn pure_classes(
    domain: &Domain,
    y: &[f32],
    labels: &[u8],
    classes: &[Class; K],
    min_pure: usize,
) -> [Class; K] {
    let mut acc = [(0.0f64, 0.0f64, 0usize); K];
    for (n, &l) in labels.iter().enumerate() {
        let (mut pure, mut seen) = (true, 0);
        domain.neighbours(n, |m, _| {
            pure &= labels[m] == l;
            seen += 1;
        });
        if pure && seen == 26 {
            let v = f64::from(y[n]);
            let a = &mut acc[usize::from(l)];
            a.0 += v;
            a.1 += v * v;
            a.2 += 1;
        }
    }
    let mut out = *classes;
    for k in 0..K {
        let (s, s2, c) = acc[k];
        if c >= min_pure {
            let mean = s / c as f64;
            out[k].mean = mean;
            out[k].sd = (s2 / c as f64 - mean * mean).max(0.0).sqrt().max(1e-6);
        }
    }
    out
}

/// How far (a share of the distance between the pure classes' means) the ends of a pair's
/// mixing line may move from the pure means when the pair's fractions are resolved (see
/// [`end_reach`]). At the phantoms' own noise the CSF/GM ends want to move 0–14 units; 0.03 (11
/// units between CSF and GM) costs them at most 0.4 points of CSF. Measured on the brain phantom
/// at twice its noise (σ 36) with this reach and no scaling by the resolution: 0.25 put the CSF
/// end at 286 (the pure cortical CSF reads about 255) and CSF at +8.1 %, 0.05 at +4.9 %, 0.03 at
/// +2.6 % (0, the pure means: −1.7 %).
const END_REACH: f64 = 0.03;

/// The most an end of the mixing line between classes `lo` and `hi` may move: [`END_REACH`] of
/// their distance Δ, times the share of it the pair resolves, `min(1, Δ / ((STEPS − 1) σ̄))` with
/// σ̄ the two classes' mean SD — the contrast-to-noise ratio over the fraction grid's
/// `STEPS − 1` steps.
///
/// Why: an end is identified only by the voxels near it, against the prior over the mix. When
/// one noise SD spans less than a step of the grid (Δ/20), a voxel's intensity says which grid
/// point it is at, and the boundary's own pure voxels pin the end. When it spans several steps,
/// a voxel at the end cannot be told from one a few steps inside, the prior's mass near the end
/// and the end itself trade off, and the fit follows whatever the model gets wrong (residual
/// bias, the labels' selection of the voxels): the CSF end's unbounded fit lands at 249–261 on
/// the six phantoms at their own noise, at 263 and 284 on the brain phantom (seed 3, site 2) at
/// twice and three times it, while the pure cortical CSF reads about 255 — a bias of the model
/// that grows with the noise, not the data's. The admissible move therefore shrinks with the
/// resolution: the grid step against the uncertainty of a voxel's mix (σ̄/Δ). On the phantoms
/// at their own noise the CSF/GM pair resolves 0.92–0.96 (reach 10 units of 11), at twice 0.49
/// and at three times 0.32; the GM/WM pair 0.67–0.71, 0.36 and 0.25. A James-Stein factor on
/// the move with the standard errors of the ends' weighted least-squares fit does not do this:
/// those errors (0.4–2.5 units, with or without the information the unknown mix takes away,
/// Louis 1982) are far smaller than the biased moves (30 units at three times the noise) and
/// leave them whole; with the prior over the mix profiled out the information is not positive
/// (the ends are not identified apart from the prior), at every noise level.
fn end_reach(lo: &Class, hi: &Class) -> f64 {
    let contrast = (hi.mean - lo.mean).abs();
    let noise = 0.5 * (lo.sd + hi.sd);
    let resolved = (contrast / ((STEPS - 1) as f64 * noise)).min(1.0);
    END_REACH * contrast * resolved
}

/// Points of the fraction grid the partial-volume posterior is taken over.
const STEPS: usize = 21;

/// Partial-volume fractions (FAST's mixel model, simplified to two classes per voxel): a voxel of
/// label `a` whose neighbourhood holds another class `b` (the nearer one on the side of `a`'s
/// mean its intensity lies on, when both sides are present) is a mix `t` of `b` in `a`, and its
/// intensity `I ~ N((1 − t)μa + tμb, ((1 − t)σa + tσb)²)`. The fraction is the posterior mean of
/// `t` over a grid of 21 values under a prior learnt by EM over all such voxels of the same
/// (label, partner) pair. A clamped
/// estimate `(I − μa)/(μb − μa)` gives a pure voxel half its noise as a share of `b`, a bias
/// that grows with noise and with unequal class SDs (measured: MNI152 at 2 mm, WM +35 % clamped);
/// the posterior mean with a learnt prior keeps pure voxels pure. Any other voxel is pure.
///
/// Two refinements, measured on the 4-subsample phantoms against their exact PV fractions:
/// - a GM-labelled voxel next to enclosed CSF (a CSF component not reaching the domain's edge:
///   a ventricle) and to WM is a CSF/WM mix (the ventricle's rim, whose mixes have GM-like
///   intensities; FAST's known artefact): GM error there from +3.4–4.1 mL to +1.2–1.5 mL;
/// - the two ends of each pair's mixing line are re-estimated, within [`end_reach`] (less at
///   high noise), by EM from the pair's own boundary voxels away from the domain's edge,
///   instead of the pure classes' means: the cortical CSF reads brighter than the ventricles
///   after N4, and the CSF/GM mixels and the thin CSF layer's pure voxels had been read as part
///   GM (CSF −3.6 % → 0.0 %, site 1).
pub(super) fn fractions(
    domain: &Domain,
    y: &[f32],
    labels: &[u8],
    classes: &[Class; K],
) -> Vec<[f32; K]> {
    // Each boundary voxel: (index, a, b).
    let mut mixed: Vec<(usize, usize, usize)> = Vec::new();
    let mut out = vec![[0.0f32; K]; y.len()];
    let enclosed = enclosed_csf(domain, labels);
    for (n, f) in out.iter_mut().enumerate() {
        let a = usize::from(labels[n]);
        let mut present = [false; K];
        let mut by_enclosed_csf = false;
        domain.neighbours(n, |m, _| {
            present[usize::from(labels[m])] = true;
            by_enclosed_csf |= enclosed[m];
        });
        if a == 1 && by_enclosed_csf && present[2] {
            // The rim of a ventricle: CSF against WM, whose mixes have GM-like intensities.
            mixed.push((n, 0, 2));
            continue;
        }
        f[a] = 1.0;
        let below = (0..a).rev().find(|&b| present[b]);
        let above = (a + 1..K).find(|&b| present[b]);
        let b = match (below, above) {
            (Some(lo), Some(hi)) => Some(if f64::from(y[n]) < classes[a].mean {
                lo
            } else {
                hi
            }),
            (lo, hi) => lo.or(hi),
        };
        if let Some(b) = b {
            mixed.push((n, a, b));
        }
    }
    if mixed.is_empty() {
        return out;
    }
    let t = |m: usize| m as f64 / (STEPS - 1) as f64;
    // The two ends of each unordered pair {lo, hi} (lo < hi): its pure classes' means to start,
    // then re-estimated from the pair's own boundary voxels (below).
    let mut ends = [[0.0f64; 2]; K * K];
    for lo in 0..K {
        for hi in lo + 1..K {
            ends[lo * K + hi] = [classes[lo].mean, classes[hi].mean];
        }
    }
    let pair = |a: usize, b: usize| a.min(b) * K + a.max(b);
    // Log-likelihood of each grid point (share t of b) for each boundary voxel.
    let likelihoods = |ends: &[[f64; 2]; K * K]| -> Vec<[f64; STEPS]> {
        // Each voxel on its own: in parallel, in order (collect keeps it).
        mixed
            .par_iter()
            .map(|&(n, a, b)| {
                let e = ends[pair(a, b)];
                let (ma, mb) = if a < b { (e[0], e[1]) } else { (e[1], e[0]) };
                let v = f64::from(y[n]);
                let mut l = [0.0; STEPS];
                for (m, x) in l.iter_mut().enumerate() {
                    let c = Class {
                        mean: (1.0 - t(m)) * ma + t(m) * mb,
                        sd: (1.0 - t(m)) * classes[a].sd + t(m) * classes[b].sd,
                        weight: 1.0,
                    };
                    *x = log_density(v, &c);
                }
                l
            })
            .collect()
    };
    let mut like = likelihoods(&ends);
    // One prior per ordered pair (label, partner): CSF in GM is not distributed as WM in GM.
    let mut prior = [[1.0 / STEPS as f64; STEPS]; K * K];
    let posterior = |l: &[f64; STEPS], prior: &[f64; STEPS]| {
        let top = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut p = [0.0; STEPS];
        let mut sum = 0.0;
        for m in 0..STEPS {
            p[m] = prior[m] * (l[m] - top).exp();
            sum += p[m];
        }
        p.map(|x| x / sum)
    };
    for iteration in 0..20 {
        let mut next = [[0.0; STEPS]; K * K];
        // Normal equations of I ≈ (1 − u)μlo + uμhi (u the share of hi), weighted by the
        // posterior over u and the inverse variance: [A B; B C][μlo μhi]ᵀ = [r1 r2]ᵀ.
        let mut normal = [[0.0f64; 5]; K * K];
        for (&(n, a, b), l) in mixed.iter().zip(&like) {
            let p = posterior(l, &prior[a * K + b]);
            let v = f64::from(y[n]);
            for m in 0..STEPS {
                next[a * K + b][m] += p[m];
            }
            // The domain's edge voxels hold skull: they do not say where the ends are.
            let mut seen = 0;
            domain.neighbours(n, |_, _| seen += 1);
            if seen < 26 {
                continue;
            }
            let eq = &mut normal[pair(a, b)];
            for (m, pm) in p.iter().enumerate() {
                let u = if a < b { t(m) } else { 1.0 - t(m) };
                let sd = (1.0 - t(m)) * classes[a].sd + t(m) * classes[b].sd;
                let w = pm / (sd * sd);
                eq[0] += w * (1.0 - u) * (1.0 - u);
                eq[1] += w * (1.0 - u) * u;
                eq[2] += w * u * u;
                eq[3] += w * (1.0 - u) * v;
                eq[4] += w * u * v;
            }
        }
        for (pr, nx) in prior.iter_mut().zip(&next) {
            let total: f64 = nx.iter().sum();
            if total > 0.0 {
                *pr = nx.map(|x| (x / total).max(1e-6));
            }
        }
        // The ends move once the prior has settled a little, to the boundary's own tissue,
        // which a residual bias field makes differ from the pure voxels deep inside a class
        // (measured on the phantoms after N4: pure cortical CSF 254–264, the ventricles'
        // 241–250, which alone gave the CSF mean), at most [`end_reach`] of the way: less as
        // the noise hides where the ends are.
        if iteration >= 2 {
            for lo in 0..K {
                for hi in lo + 1..K {
                    let [a, b, c, r1, r2] = normal[lo * K + hi];
                    let det = a * c - b * b;
                    if det.is_nan() || det <= 1e-9 * a * c {
                        continue;
                    }
                    let fit = [(c * r1 - b * r2) / det, (a * r2 - b * r1) / det];
                    let reach = end_reach(&classes[lo], &classes[hi]);
                    let pure = [classes[lo].mean, classes[hi].mean];
                    ends[lo * K + hi] =
                        [0, 1].map(|i| fit[i].clamp(pure[i] - reach, pure[i] + reach));
                }
            }
            like = likelihoods(&ends);
        }
    }
    for (&(n, a, b), l) in mixed.iter().zip(&like) {
        let p = posterior(l, &prior[a * K + b]);
        let fb: f64 = (0..STEPS).map(|m| p[m] * t(m)).sum();
        out[n][a] = (1.0 - fb) as f32;
        out[n][b] = fb as f32;
    }
    out
}

/// CSF-labelled voxels of a CSF component (26-connected) that does not reach the domain's edge:
/// the ventricles, enclosed by brain, as opposed to the CSF under the skull.
fn enclosed_csf(domain: &Domain, labels: &[u8]) -> Vec<bool> {
    let mut seen = vec![false; labels.len()];
    let mut out = vec![false; labels.len()];
    let mut stack = Vec::new();
    let mut component = Vec::new();
    for start in 0..labels.len() {
        if labels[start] != 0 || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        component.clear();
        let mut edge = false;
        while let Some(n) = stack.pop() {
            component.push(n);
            let mut count = 0;
            domain.neighbours(n, |m, _| {
                count += 1;
                if labels[m] == 0 && !seen[m] {
                    seen[m] = true;
                    stack.push(m);
                }
            });
            edge |= count < 26;
        }
        if !edge {
            for &n in &component {
                out[n] = true;
            }
        }
    }
    out
}

/// Ashman's D between two classes: `|μ1 − μ2| / sqrt((σ1² + σ2²)/2)`; below 2 the two are not
/// separated (their mixture is not even bimodal).
pub(super) fn separation(a: &Class, b: &Class) -> f64 {
    (a.mean - b.mean).abs() / ((a.sd * a.sd + b.sd * b.sd) / 2.0).sqrt()
}

/// The mean log-likelihood per voxel (nats) of the mixture over that of one Gaussian fitted to
/// the same voxels: near 0 when three classes explain the intensities no better than one (an
/// image of one tissue and noise: 0.004 measured), well above on tissue (MNI152 T1: see
/// `MIN_GAIN`).
pub(super) fn likelihood_gain(y: &[f32], classes: &[Class; K]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = y
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let one = Class {
        mean,
        sd: var.sqrt().max(1e-12),
        weight: 1.0,
    };
    let mut gain = 0.0;
    for &v in y {
        let v = f64::from(v);
        let mix: f64 = classes
            .iter()
            .map(|c| c.weight * log_density(v, c).exp())
            .sum();
        gain += mix.max(f64::MIN_POSITIVE).ln() - log_density(v, &one);
    }
    gain / n
}
