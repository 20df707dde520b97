//! Seeded randomness, image noise and the smooth bias field of the phantoms.
//!
//! Every random draw comes from ChaCha8 (`rand_chacha`), keyed by the phantom's seed and a named
//! stream ("BRAIN-001/anatomy", "BRAIN-001/V1/T1w/noise"), so a stream gives the same numbers on
//! every platform and in any order of generation, and no two streams share numbers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// A named random stream of a phantom.
pub struct Stream {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Stream {
    /// The stream `name` of `seed`.
    pub fn new(seed: u64, name: &str) -> Self {
        // FNV-1a of the name, beside the seed, makes the 256-bit key.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&h.to_le_bytes());
        key[16..24].copy_from_slice(&(name.len() as u64).to_le_bytes());
        key[24..].copy_from_slice(b"corelab\x01");
        Self {
            rng: ChaCha8Rng::from_seed(key),
            spare: None,
        }
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller, both values used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: the logarithm is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// How noise is added to the noise-free image.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Noise {
    /// MR magnitude: `|s + n₁ + i n₂|` with `n₁, n₂ ~ N(0, σ²)` (Rician); the mean of a voxel of
    /// true value `s` exceeds `s` by about `σ²/2s`.
    Rician {
        /// σ of each channel, in image units.
        sigma: f64,
    },
    /// `s + n`, `n ~ N(0, σ²)`, then values below `floor` set to it (CT: −1024 HU, what the
    /// stored integers can hold).
    Gaussian {
        /// σ, in image units.
        sigma: f64,
        /// The lowest value kept.
        floor: f64,
    },
    /// `s · (1 + cov · n)`, `n ~ N(0, 1)`, then values below 0 set to 0 (PET: noise grows with
    /// activity; zero activity stays zero).
    Proportional {
        /// The coefficient of variation.
        cov: f64,
    },
}

impl Noise {
    /// A noisy value of `s`.
    pub fn apply(&self, s: f64, rng: &mut Stream) -> f64 {
        match *self {
            Noise::Rician { sigma } => {
                let (a, b) = (s + sigma * rng.normal(), sigma * rng.normal());
                (a * a + b * b).sqrt()
            }
            Noise::Gaussian { sigma, floor } => (s + sigma * rng.normal()).max(floor),
            Noise::Proportional { cov } => (s * (1.0 + cov * rng.normal())).max(0.0),
        }
    }

    /// The standard deviation of the noise at a true value `s` (before any floor).
    pub fn sigma_at(&self, s: f64) -> f64 {
        match *self {
            Noise::Rician { sigma } | Noise::Gaussian { sigma, .. } => sigma,
            Noise::Proportional { cov } => cov * s.abs(),
        }
    }
}

/// A smooth multiplicative field (MR receive-coil inhomogeneity): with `(u, v, w)` the position
/// relative to `centre_mm` divided by `half_extent_mm` (LPS axes), the field is
/// `1 + c₀u + c₁v + c₂w + c₃uv + c₄vw + c₅uw + c₆(u² − ⅓) + c₇(v² − ⅓) + c₈(w² − ⅓)`,
/// never below 0.5.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BiasField {
    /// Where `(u, v, w) = 0` (LPS mm).
    pub centre_mm: [f64; 3],
    /// Where `|u|, |v|, |w|` reach 1.
    pub half_extent_mm: [f64; 3],
    /// `c₀ … c₈`.
    pub coefficients: [f64; 9],
}

impl BiasField {
    /// A field of linear terms up to ±`strength`, cross and quadratic terms up to ±`strength/2`.
    pub fn random(
        centre_mm: [f64; 3],
        half_extent_mm: [f64; 3],
        strength: f64,
        rng: &mut Stream,
    ) -> Self {
        let mut coefficients = [0.0; 9];
        for (n, c) in coefficients.iter_mut().enumerate() {
            let bound = if n < 3 { strength } else { strength / 2.0 };
            *c = rng.range(-bound, bound);
        }
        Self {
            centre_mm,
            half_extent_mm,
            coefficients,
        }
    }

    /// The field at an LPS point.
    pub fn at(&self, p: [f64; 3]) -> f64 {
        let [u, v, w] = [0, 1, 2].map(|a| (p[a] - self.centre_mm[a]) / self.half_extent_mm[a]);
        let c = &self.coefficients;
        let third = 1.0 / 3.0;
        let f = 1.0
            + c[0] * u
            + c[1] * v
            + c[2] * w
            + c[3] * u * v
            + c[4] * v * w
            + c[5] * u * w
            + c[6] * (u * u - third)
            + c[7] * (v * v - third)
            + c[8] * (w * w - third);
        f.max(0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_repeats_for_its_seed_and_name_and_differs_otherwise() {
        let draw = |seed, name| {
            let mut s = Stream::new(seed, name);
            (0..8).map(|_| s.normal()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, "a/noise"), draw(7, "a/noise"));
        assert_ne!(draw(7, "a/noise"), draw(8, "a/noise"));
        assert_ne!(draw(7, "a/noise"), draw(7, "b/noise"));
    }

    #[test]
    fn normal_draws_have_zero_mean_and_unit_variance() {
        let mut s = Stream::new(1, "test");
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
    }
}
