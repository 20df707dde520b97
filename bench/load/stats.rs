//! Latency samples, percentiles and the least-squares line of the soak's RSS samples.

use serde_json::{Value, json};

/// One operation's outcome over a phase: latencies of the successful calls, bytes moved, and the
/// failures (counted, the first few kept whole to print).
#[derive(Debug, Default)]
pub struct OpStats {
    /// Microseconds, one per successful call.
    pub latencies_us: Vec<u64>,
    pub bytes: u64,
    pub failures: u64,
    pub first_failures: Vec<String>,
}

/// Failures kept word for word per operation and phase; the rest are counted.
const KEEP: usize = 10;

impl OpStats {
    pub fn ok(&mut self, micros: u64, bytes: u64) {
        self.latencies_us.push(micros);
        self.bytes += bytes;
    }

    pub fn fail(&mut self, why: String) {
        self.failures += 1;
        if self.first_failures.len() < KEEP {
            self.first_failures.push(why);
        }
    }

    pub fn merge(&mut self, other: OpStats) {
        self.latencies_us.extend(other.latencies_us);
        self.bytes += other.bytes;
        self.failures += other.failures;
        for f in other.first_failures {
            if self.first_failures.len() < KEEP {
                self.first_failures.push(f);
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    /// p50 and p99 in milliseconds (nearest rank), `None` without samples.
    pub fn p50_p99_ms(&self) -> (Option<f64>, Option<f64>) {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        (percentile_ms(&v, 50.0), percentile_ms(&v, 99.0))
    }

    pub fn to_json(&self) -> Value {
        let (p50, p99) = self.p50_p99_ms();
        json!({
            "ok": self.count(),
            "failures": self.failures,
            "bytes": self.bytes,
            "p50_ms": p50,
            "p99_ms": p99,
            "first_failures": self.first_failures,
        })
    }
}

/// The nearest-rank percentile `p` of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_us.len()) - 1;
    Some(sorted_us[i] as f64 / 1000.0)
}

/// The least-squares line y = a + b·x through the points: (slope b, intercept a, R²). `None`
/// with fewer than two distinct x. R² is 0 when y does not vary (a flat line explains nothing,
/// and there is nothing to explain).
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let r2 = if syy == 0.0 {
        0.0
    } else {
        (sxy * sxy) / (sxx * syy)
    };
    Some((slope, intercept, r2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&v, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&[7000], 99.0), Some(7.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }

    #[test]
    fn a_line_is_fitted_exactly() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 + 0.5 * i as f64)).collect();
        let (b, a, r2) = least_squares(&pts).unwrap();
        assert!((b - 0.5).abs() < 1e-12 && (a - 3.0).abs() < 1e-12);
        assert!((r2 - 1.0).abs() < 1e-12);
        assert_eq!(least_squares(&[(1.0, 2.0)]), None);
        let flat: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 4.0)).collect();
        assert_eq!(least_squares(&flat), Some((0.0, 4.0, 0.0)));
    }
}
