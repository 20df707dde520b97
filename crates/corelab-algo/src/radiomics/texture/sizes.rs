//! The matrices of grey level × a count (run length, zone size, zone distance, dependence) and
//! the features they share (IBSI 1 ch. 3.7–3.9, 3.11).

/// Counts by grey level (rows, from 1) and size (columns, from 1), with the number of voxels
/// they were counted over. Sizes up to `DENSE` are kept densely; larger ones (a zone of 10⁵
/// voxels) sparsely, in order (sums come out the same on every run), so that one big zone does
/// not make a matrix of 10⁵ columns per level.
#[derive(Debug, Clone)]
pub struct SizeMatrix {
    ng: usize,
    dense: Vec<f64>,
    sparse: std::collections::BTreeMap<(usize, usize), f64>,
    /// Voxels counted over (summed when matrices merge).
    pub voxels: f64,
}

const DENSE: usize = 64;

impl SizeMatrix {
    /// An empty matrix over `voxels` voxels.
    pub fn new(ng: usize, voxels: f64) -> Self {
        Self {
            ng,
            dense: vec![0.0; ng * DENSE],
            sparse: Default::default(),
            voxels,
        }
    }

    /// Counts one element of level `level` and size `size` (both from 1).
    pub fn add(&mut self, level: u32, size: usize) {
        self.add_n(level as usize - 1, size - 1, 1.0);
    }

    fn add_n(&mut self, i: usize, j: usize, n: f64) {
        if j < DENSE {
            self.dense[i * DENSE + j] += n;
        } else {
            *self.sparse.entry((i, j)).or_default() += n;
        }
    }

    /// Every non-zero count as (level index, size index, count), both from 0.
    fn entries(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        self.dense
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0.0)
            .map(|(n, c)| (n / DENSE, n % DENSE, *c))
            .chain(self.sparse.iter().map(|((i, j), c)| (*i, *j, *c)))
    }

    /// Adds another matrix (and its voxels).
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.dense.iter_mut().zip(&other.dense) {
            *a += b;
        }
        for ((i, j), c) in &other.sparse {
            *self.sparse.entry((*i, *j)).or_default() += c;
        }
        self.voxels += other.voxels;
    }

    /// The 17 shared features, `None` when empty: short/small emphasis, long/large emphasis,
    /// low and high grey level emphasis, the four joint emphases (short-low, short-high,
    /// long-low, long-high), grey level non-uniformity and its normalised form, size
    /// non-uniformity and its normalised form, percentage (elements per voxel), grey level
    /// variance, size variance, entropy, energy.
    pub fn features(&self) -> Option<[f64; 17]> {
        let ns: f64 = self.entries().map(|e| e.2).sum();
        if ns == 0.0 {
            return None;
        }
        let mut f = [0.0; 17];
        let mut rows = vec![0.0; self.ng];
        let mut cols: std::collections::BTreeMap<usize, f64> = Default::default();
        let (mut mu_i, mut mu_j) = (0.0, 0.0);
        for (i, j, r) in self.entries() {
            let (a, b) = ((i + 1) as f64, (j + 1) as f64);
            let (a2, b2) = (a * a, b * b);
            f[0] += r / b2;
            f[1] += r * b2;
            f[2] += r / a2;
            f[3] += r * a2;
            f[4] += r / (a2 * b2);
            f[5] += r * a2 / b2;
            f[6] += r * b2 / a2;
            f[7] += r * a2 * b2;
            rows[i] += r;
            *cols.entry(j).or_default() += r;
            let p = r / ns;
            mu_i += a * p;
            mu_j += b * p;
            f[15] -= p * p.log2();
            f[16] += p * p;
        }
        for v in f.iter_mut().take(8) {
            *v /= ns;
        }
        let glnu: f64 = rows.iter().map(|x| x * x).sum();
        let snu: f64 = cols.values().map(|x| x * x).sum();
        f[8] = glnu / ns;
        f[9] = glnu / (ns * ns);
        f[10] = snu / ns;
        f[11] = snu / (ns * ns);
        f[12] = if self.voxels > 0.0 {
            ns / self.voxels
        } else {
            0.0
        };
        for (i, j, r) in self.entries() {
            let p = r / ns;
            f[13] += ((i + 1) as f64 - mu_i).powi(2) * p;
            f[14] += ((j + 1) as f64 - mu_j).powi(2) * p;
        }
        Some(f)
    }
}
