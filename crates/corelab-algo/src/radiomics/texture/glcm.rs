//! Grey level co-occurrence matrix features (IBSI 1 ch. 3.6).

/// The features in IBSI's order: (tag stem, name, IBSI id).
pub const NAMES: [(&str, &str, &str); 25] = [
    ("joint_max", "Joint maximum", "GYBY"),
    ("joint_avg", "Joint average", "60VM"),
    ("joint_var", "Joint variance", "UR99"),
    ("joint_entr", "Joint entropy", "TU9B"),
    ("diff_avg", "Difference average", "TF7R"),
    ("diff_var", "Difference variance", "D3YU"),
    ("diff_entr", "Difference entropy", "NTRS"),
    ("sum_avg", "Sum average", "ZGXS"),
    ("sum_var", "Sum variance", "OEEB"),
    ("sum_entr", "Sum entropy", "P6QZ"),
    ("energy", "Angular second moment", "8ZQL"),
    ("contrast", "Contrast", "ACUI"),
    ("dissimilarity", "Dissimilarity", "8S9J"),
    ("inv_diff", "Inverse difference", "IB1Z"),
    ("inv_diff_norm", "Normalised inverse difference", "NDRX"),
    ("inv_diff_mom", "Inverse difference moment", "WF0Z"),
    (
        "inv_diff_mom_norm",
        "Normalised inverse difference moment",
        "1QCO",
    ),
    ("inv_var", "Inverse variance", "E8JP"),
    ("corr", "Correlation", "NI2N"),
    ("auto_corr", "Autocorrelation", "QWB0"),
    ("clust_tend", "Cluster tendency", "DG8W"),
    ("clust_shade", "Cluster shade", "7NFM"),
    ("clust_prom", "Cluster prominence", "AE86"),
    ("info_corr1", "Information correlation 1", "R8DG"),
    ("info_corr2", "Information correlation 2", "JN9H"),
];

/// A symmetric co-occurrence matrix of counts, `ng × ng`, grey levels from 1.
#[derive(Debug, Clone)]
pub struct Glcm {
    ng: usize,
    m: Vec<f64>,
}

impl Glcm {
    /// An empty matrix.
    pub fn new(ng: usize) -> Self {
        Self {
            ng,
            m: vec![0.0; ng * ng],
        }
    }
    /// Counts the pair of levels `a`, `b` (both from 1) both ways.
    pub fn add(&mut self, a: u32, b: u32) {
        let (a, b) = (a as usize - 1, b as usize - 1);
        self.m[a * self.ng + b] += 1.0;
        self.m[b * self.ng + a] += 1.0;
    }
    /// Adds another matrix of the same size.
    pub fn merge(&mut self, other: &Self) {
        for (x, y) in self.m.iter_mut().zip(&other.m) {
            *x += y;
        }
    }

    /// The 25 features, `None` when the matrix is empty.
    pub fn features(&self) -> Option<Vec<f64>> {
        let ng = self.ng;
        let total: f64 = self.m.iter().sum();
        if total == 0.0 {
            return None;
        }
        let p: Vec<f64> = self.m.iter().map(|x| x / total).collect();
        let at = |i: usize, j: usize| p[i * ng + j];
        let lv = |i: usize| (i + 1) as f64;
        let ngf = ng as f64;
        let log2 = |x: f64| if x > 0.0 { x * x.log2() } else { 0.0 };
        let mut pi = vec![0.0; ng];
        let mut diff = vec![0.0; ng];
        let mut sum = vec![0.0; 2 * ng + 1];
        for i in 0..ng {
            for j in 0..ng {
                let v = at(i, j);
                pi[i] += v;
                diff[i.abs_diff(j)] += v;
                sum[i + j + 2] += v;
            }
        }
        let mu: f64 = (0..ng).map(|i| lv(i) * pi[i]).sum();
        let var_i: f64 = (0..ng).map(|i| (lv(i) - mu).powi(2) * pi[i]).sum();
        let mut f = vec![0.0; 25];
        let (mut jmax, mut jent, mut energy, mut contrast, mut dissim) =
            (0.0f64, 0.0, 0.0, 0.0, 0.0);
        let (mut idiff, mut idn, mut idm, mut idmn, mut corr, mut auto) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut ct, mut cs, mut cp, mut hxy1, mut hxy2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..ng {
            for j in 0..ng {
                let v = at(i, j);
                let (a, b) = (lv(i), lv(j));
                let d = (a - b).abs();
                jmax = jmax.max(v);
                jent -= log2(v);
                energy += v * v;
                contrast += d * d * v;
                dissim += d * v;
                idiff += v / (1.0 + d);
                idn += v / (1.0 + d / ngf);
                idm += v / (1.0 + d * d);
                idmn += v / (1.0 + d * d / (ngf * ngf));
                corr += (a - mu) * (b - mu) * v;
                auto += a * b * v;
                let c = a + b - 2.0 * mu;
                ct += c * c * v;
                cs += c.powi(3) * v;
                cp += c.powi(4) * v;
                let pp = pi[i] * pi[j];
                if pp > 0.0 {
                    hxy1 -= v * pp.log2();
                    hxy2 -= pp * pp.log2();
                }
            }
        }
        let diff_avg: f64 = (0..ng).map(|k| k as f64 * diff[k]).sum();
        let sum_avg: f64 = (2..=2 * ng).map(|k| k as f64 * sum[k]).sum();
        let hx = -(0..ng).map(|i| log2(pi[i])).sum::<f64>();
        f[0] = jmax;
        f[1] = mu;
        f[2] = var_i;
        f[3] = jent;
        f[4] = diff_avg;
        f[5] = (0..ng)
            .map(|k| (k as f64 - diff_avg).powi(2) * diff[k])
            .sum();
        f[6] = -(0..ng).map(|k| log2(diff[k])).sum::<f64>();
        f[7] = sum_avg;
        f[8] = (2..=2 * ng)
            .map(|k| (k as f64 - sum_avg).powi(2) * sum[k])
            .sum();
        f[9] = -(2..=2 * ng).map(|k| log2(sum[k])).sum::<f64>();
        f[10] = energy;
        f[11] = contrast;
        f[12] = dissim;
        f[13] = idiff;
        f[14] = idn;
        f[15] = idm;
        f[16] = idmn;
        f[17] = (1..ng).map(|k| diff[k] / (k * k) as f64).sum();
        f[18] = if var_i > 0.0 { corr / var_i } else { 0.0 };
        f[19] = auto;
        f[20] = ct;
        f[21] = cs;
        f[22] = cp;
        f[23] = if hx > 0.0 { (jent - hxy1) / hx } else { 0.0 };
        f[24] = (1.0 - (-2.0 * (hxy2 - jent)).exp()).max(0.0).sqrt();
        Some(f)
    }
}
