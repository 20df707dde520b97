//! Neighbourhood grey tone difference matrix features (IBSI 1 ch. 3.10).

/// The features: (tag stem, name, IBSI id).
pub const NAMES: [(&str, &str, &str); 5] = [
    ("coarseness", "Coarseness", "QCDE"),
    ("contrast", "Contrast", "65HE"),
    ("busyness", "Busyness", "NQ30"),
    ("complexity", "Complexity", "HDEZ"),
    ("strength", "Strength", "1X9X"),
];

/// Per grey level: the voxels with a neighbour in the ROI (`n`) and the sum of their absolute
/// differences from their neighbours' mean (`s`).
#[derive(Debug, Clone)]
pub struct Ngtdm {
    n: Vec<f64>,
    s: Vec<f64>,
}

impl Ngtdm {
    /// An empty matrix of `ng` levels.
    pub fn new(ng: usize) -> Self {
        Self {
            n: vec![0.0; ng],
            s: vec![0.0; ng],
        }
    }
    /// Counts a voxel of `level` (from 1) with difference `diff`.
    pub fn add(&mut self, level: u32, diff: f64) {
        self.n[level as usize - 1] += 1.0;
        self.s[level as usize - 1] += diff;
    }
    /// Adds another matrix.
    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.n.iter_mut().zip(&other.n) {
            *a += b;
        }
        for (a, b) in self.s.iter_mut().zip(&other.s) {
            *a += b;
        }
    }

    /// The five features, `None` when no voxel had a neighbour.
    pub fn features(&self) -> Option<Vec<f64>> {
        let nvc: f64 = self.n.iter().sum();
        if nvc == 0.0 {
            return None;
        }
        // Present grey levels: (level, p, s).
        let g: Vec<(f64, f64, f64)> = (0..self.n.len())
            .filter(|i| self.n[*i] > 0.0)
            .map(|i| ((i + 1) as f64, self.n[i] / nvc, self.s[i]))
            .collect();
        let ngp = g.len() as f64;
        let ps: f64 = g.iter().map(|(_, p, s)| p * s).sum();
        let s_sum: f64 = g.iter().map(|(_, _, s)| s).sum();
        let (mut contrast, mut busy_den, mut complexity, mut strength) = (0.0, 0.0, 0.0, 0.0);
        for (i, pi, si) in &g {
            for (j, pj, sj) in &g {
                contrast += pi * pj * (i - j).powi(2);
                busy_den += (i * pi - j * pj).abs();
                complexity += (i - j).abs() * (pi * si + pj * sj) / (pi + pj);
                strength += (pi + pj) * (i - j).powi(2);
            }
        }
        Some(vec![
            if ps > 0.0 { 1.0 / ps } else { 1e6 },
            if ngp > 1.0 {
                contrast / (ngp * (ngp - 1.0)) * s_sum / nvc
            } else {
                0.0
            },
            if busy_den > 0.0 { ps / busy_den } else { 0.0 },
            complexity / nvc,
            if s_sum > 0.0 { strength / s_sum } else { 0.0 },
        ])
    }
}
