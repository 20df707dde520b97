//! The matrices of grey level × a count (run length, zone size, zone distance, dependence) and
//! the features they share (IBSI 1 ch. 3.7–3.9, 3.11).

/// Counts by grey level (rows, from 1) and size (columns, from 1), with the number of voxels
/// they were counted over.
#[derive(Debug, Clone)]
pub struct SizeMatrix {
    ng: usize,
    cols: usize,
    m: Vec<f64>,
    /// Voxels counted over (summed when matrices merge).
    pub voxels: f64,
}

impl SizeMatrix {
    /// An empty matrix over `voxels` voxels.
    pub fn new(ng: usize, voxels: f64) -> Self {
        Self {
            ng,
            cols: 0,
            m: Vec::new(),
            voxels,
        }
    }

    /// Counts one element of level `level` and size `size` (both from 1).
    pub fn add(&mut self, level: u32, size: usize) {
        if size > self.cols {
            self.grow(size);
        }
        self.m[(level as usize - 1) * self.cols + size - 1] += 1.0;
    }

    fn grow(&mut self, cols: usize) {
        let mut m = vec![0.0; self.ng * cols];
        for i in 0..self.ng {
            for j in 0..self.cols {
                m[i * cols + j] = self.m[i * self.cols + j];
            }
        }
        self.m = m;
        self.cols = cols;
    }

    /// Adds another matrix (and its voxels).
    pub fn merge(&mut self, other: &Self) {
        if other.cols > self.cols {
            self.grow(other.cols);
        }
        for i in 0..self.ng {
            for j in 0..other.cols {
                self.m[i * self.cols + j] += other.m[i * other.cols + j];
            }
        }
        self.voxels += other.voxels;
    }

    /// The 17 shared features, `None` when empty: short/small emphasis, long/large emphasis,
    /// low and high grey level emphasis, the four joint emphases (short-low, short-high,
    /// long-low, long-high), grey level non-uniformity and its normalised form, size
    /// non-uniformity and its normalised form, percentage (elements per voxel), grey level
    /// variance, size variance, entropy, energy.
    pub fn features(&self) -> Option<[f64; 17]> {
        let ns: f64 = self.m.iter().sum();
        if ns == 0.0 {
            return None;
        }
        let mut f = [0.0; 17];
        let mut rows = vec![0.0; self.ng];
        let mut cols = vec![0.0; self.cols];
        let (mut mu_i, mut mu_j) = (0.0, 0.0);
        for (i, row) in rows.iter_mut().enumerate() {
            for j in 0..self.cols {
                let r = self.m[i * self.cols + j];
                if r == 0.0 {
                    continue;
                }
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
                *row += r;
                cols[j] += r;
                let p = r / ns;
                mu_i += a * p;
                mu_j += b * p;
                f[15] -= p * p.log2();
                f[16] += p * p;
            }
        }
        for v in f.iter_mut().take(8) {
            *v /= ns;
        }
        let glnu: f64 = rows.iter().map(|x| x * x).sum();
        let snu: f64 = cols.iter().map(|x| x * x).sum();
        f[8] = glnu / ns;
        f[9] = glnu / (ns * ns);
        f[10] = snu / ns;
        f[11] = snu / (ns * ns);
        f[12] = if self.voxels > 0.0 {
            ns / self.voxels
        } else {
            0.0
        };
        for i in 0..self.ng {
            for j in 0..self.cols {
                let p = self.m[i * self.cols + j] / ns;
                f[13] += ((i + 1) as f64 - mu_i).powi(2) * p;
                f[14] += ((j + 1) as f64 - mu_j).powi(2) * p;
            }
        }
        Some(f)
    }
}
