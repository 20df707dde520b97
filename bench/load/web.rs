//! The DICOMweb side of the load: QIDO-RS clients walking studies → series → instances of what
//! has landed, and WADO-RS clients retrieving instances the QIDO clients found. Each client is a
//! closed loop (the next request when the last one is answered).

use crate::dimse::Until;
use crate::stats::OpStats;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A DICOMweb service: its root (`…/dicomweb/TRIAL` for corelab, `…/dicom-web` for Orthanc) and
/// the bearer token, when it wants one.
#[derive(Clone)]
pub struct Service {
    pub client: reqwest::Client,
    pub root: String,
    pub token: Option<String>,
}

/// Instances found by QIDO, `(study, series, instance)`, the latest `CAP` of them.
#[derive(Default)]
pub struct Found {
    items: Vec<(String, String, String)>,
    next: usize,
}

const CAP: usize = 10_000;

impl Found {
    fn add(&mut self, item: (String, String, String)) {
        if self.items.len() < CAP {
            self.items.push(item);
        } else {
            self.items[self.next] = item;
            self.next = (self.next + 1) % CAP;
        }
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> Option<(String, String, String)> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.items[rng.random_range(0..self.items.len())].clone())
    }
}

/// A UID attribute (`GGGGEEEE`) of each object of a QIDO answer.
fn uids(answer: &Value, tag: &str) -> Vec<String> {
    answer
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o[tag]["Value"][0].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Service {
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let r = self.client.get(url).timeout(Duration::from_secs(120));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// GET `url` with `accept`: the status and body of a 2xx answer, or why not (`what` names
    /// the operation in the message).
    async fn fetch(
        &self,
        url: &str,
        accept: &str,
        what: &str,
    ) -> Result<(reqwest::StatusCode, bytes::Bytes), String> {
        let r = self
            .get(url)
            .header("accept", accept)
            .send()
            .await
            .map_err(|e| format!("{what} GET {url}: {e}"))?;
        let status = r.status();
        let body = r
            .bytes()
            .await
            .map_err(|e| format!("{what} GET {url}: reading the answer: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{what} GET {url}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        Ok((status, body))
    }

    /// One QIDO search: its answer, or why it failed; the latency and bytes go to `stats`.
    async fn qido(&self, path: &str, stats: &mut OpStats) -> Option<Value> {
        let url = format!("{}{path}", self.root);
        let t0 = Instant::now();
        let result = async {
            let (status, body) = self.fetch(&url, "application/dicom+json", "QIDO").await?;
            if status == reqwest::StatusCode::NO_CONTENT {
                return Ok((Value::Array(Vec::new()), body.len()));
            }
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| format!("QIDO GET {url}: the answer is not JSON: {e}"))?;
            Ok((v, body.len()))
        }
        .await;
        match result {
            Ok((v, n)) => {
                stats.ok(t0.elapsed().as_micros() as u64, n as u64);
                Some(v)
            }
            Err(why) => {
                stats.fail(why);
                None
            }
        }
    }
}

/// A QIDO client: a random study of the first 100, a random series of it, its instances (added
/// to `found`); three searches a round. Nothing landed yet is not a failure: it waits.
pub async fn qido_client(
    svc: Service,
    found: Arc<Mutex<Found>>,
    seed: u64,
    until: Until,
    done: Arc<AtomicU64>,
) -> OpStats {
    let mut stats = OpStats::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let idle = Duration::from_millis(100);
    while !until.done() {
        let Some(studies) = svc.qido("/studies?limit=100", &mut stats).await else {
            tokio::time::sleep(idle).await;
            continue;
        };
        done.fetch_add(1, Ordering::Relaxed);
        let studies = uids(&studies, "0020000D");
        if studies.is_empty() {
            tokio::time::sleep(idle).await;
            continue;
        }
        let study = &studies[rng.random_range(0..studies.len())];
        if until.done() {
            break;
        }
        let Some(series) = svc
            .qido(&format!("/studies/{study}/series"), &mut stats)
            .await
        else {
            continue;
        };
        done.fetch_add(1, Ordering::Relaxed);
        let series = uids(&series, "0020000E");
        if series.is_empty() || until.done() {
            continue;
        }
        let one = &series[rng.random_range(0..series.len())];
        let Some(instances) = svc
            .qido(
                &format!("/studies/{study}/series/{one}/instances?limit=100"),
                &mut stats,
            )
            .await
        else {
            continue;
        };
        done.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = found.lock() {
            for sop in uids(&instances, "00080018") {
                f.add((study.clone(), one.clone(), sop));
            }
        }
    }
    stats
}

/// A WADO-RS client: retrieves a random instance the QIDO clients found, as
/// `multipart/related; type="application/dicom"`, and checks that something came.
pub async fn wado_client(
    svc: Service,
    found: Arc<Mutex<Found>>,
    seed: u64,
    until: Until,
    done: Arc<AtomicU64>,
) -> OpStats {
    let mut stats = OpStats::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    while !until.done() {
        let pick = found.lock().ok().and_then(|f| f.pick(&mut rng));
        let Some((study, series, sop)) = pick else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let url = format!(
            "{}/studies/{study}/series/{series}/instances/{sop}",
            svc.root
        );
        let t0 = Instant::now();
        let result = async {
            let (_, body) = svc
                .fetch(
                    &url,
                    "multipart/related; type=\"application/dicom\"",
                    "WADO",
                )
                .await?;
            // A Part 10 object holds its preamble and "DICM"; a part without them is not one.
            if !body.windows(4).any(|w| w == b"DICM") {
                return Err(format!(
                    "WADO GET {url}: {} bytes without a DICOM object",
                    body.len()
                ));
            }
            Ok(body.len())
        }
        .await;
        match result {
            Ok(n) => {
                stats.ok(t0.elapsed().as_micros() as u64, n as u64);
                done.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => stats.fail(why),
        }
    }
    stats
}
