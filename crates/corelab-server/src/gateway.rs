//! The site gateway's forwarder. A gateway is a corelab installation at the site: its storage
//! SCP takes the site PACS's objects through the ingest pipeline (de-identified there, with the
//! trial's rules: PHI never leaves the site; stored durably; catalogued), and this forwarder
//! sends each catalogued instance to the hub by STOW-RS, one instance a request, until the hub
//! answers for it. 200 marks it sent; a refusal for the object itself (409, 415, or a 400 that
//! persists over three tries) puts it on the dead-letter list with the hub's reason; anything
//! else (the hub unreachable, 5xx, 401) leaves it pending and the forwarder backs off, doubling the wait up to a limit. The hub
//! acknowledges a repeated instance as a duplicate, so an instance sent twice (the gateway
//! stopped between the hub's answer and its own record) is stored once.

use corelab_store::Store;
use corelab_store::forwarding::Outgoing;
use std::sync::Arc;
use std::time::Duration;

/// Where and how to forward.
#[derive(Clone, Debug)]
pub struct Forwarder {
    /// The hub's base URL (`https://hub.example.org`).
    pub hub: String,
    /// The API token of the site's account at the hub.
    pub token: String,
    /// Instances taken from the outbox at a time.
    pub batch: i64,
    /// The longest wait between attempts while the hub cannot take objects.
    pub max_backoff: Duration,
    /// PEM certificates to trust for the hub instead of the system's roots (a hub with a
    /// certificate of the sponsor's own authority).
    pub hub_ca: Option<Vec<u8>>,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Acknowledged by the hub.
    pub sent: usize,
    /// Refused by the hub (dead letters).
    pub failed: usize,
}

/// Why a pass stopped early: the hub could not take objects now.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

impl Forwarder {
    /// The HTTP client: rustls with the ring provider, trusting the system's roots or only
    /// `hub_ca`.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        // rustls needs one process-wide provider; the tree also has aws-lc-rs, so choose.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        if let Some(pem) = &self.hub_ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the hub's CA certificates: {e}"))?;
            if certs.is_empty() {
                return Err("the hub's CA file holds no certificate".into());
            }
            b = b.tls_certs_only(certs);
        }
        b.build()
            .map_err(|e| format!("cannot make the HTTP client: {e}"))
    }

    /// Sends what is pending, batch by batch, until the outbox is empty or the hub is
    /// unavailable.
    pub async fn pass(
        &self,
        store: &Store,
        client: &reqwest::Client,
        actor: &str,
    ) -> Result<Pass, Unavailable> {
        let mut done = Pass::default();
        loop {
            let pending = store
                .forward_pending(self.batch)
                .await
                .map_err(|e| Unavailable(format!("the outbox cannot be read: {e}")))?;
            if pending.is_empty() {
                return Ok(done);
            }
            for o in &pending {
                match self.send_with_retry(store, client, o).await? {
                    (status, None) => {
                        record(store, actor, o, status, None).await?;
                        done.sent += 1;
                    }
                    (status, Some(why)) => {
                        record(store, actor, o, status, Some(&why)).await?;
                        done.failed += 1;
                    }
                }
            }
        }
    }

    /// Posts one instance, again up to twice more when the hub refuses the request as a whole
    /// (400: the request the gateway itself built was malformed when it arrived, which a
    /// transfer cut or damaged on the way also gives); a refusal that persists is the answer.
    async fn send_with_retry(
        &self,
        store: &Store,
        client: &reqwest::Client,
        o: &Outgoing,
    ) -> Result<(u16, Option<String>), Unavailable> {
        let mut tries = 1;
        loop {
            let answer = self.send(store, client, o).await?;
            match &answer {
                (400, Some(why)) if tries < 3 => {
                    tracing::warn!(instance = %o.sop_instance_uid, reason = %why, try_ = tries, "the hub refused the request; sending it again");
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250 * tries)).await;
                }
                _ => return Ok(answer),
            }
        }
    }

    /// Posts one instance; the hub's status and, for a refusal of the object, its reason.
    async fn send(
        &self,
        store: &Store,
        client: &reqwest::Client,
        o: &Outgoing,
    ) -> Result<(u16, Option<String>), Unavailable> {
        let bytes = store
            .blob_bytes(&o.blob_sha256)
            .await
            .map_err(|e| Unavailable(format!("instance {}: {e}", o.sop_instance_uid)))?;
        let parts = vec![("application/dicom".to_owned(), bytes)];
        let boundary = crate::http::dicomweb::boundary_for(&parts);
        let body = crate::http::dicomweb::multipart_related(&boundary, &parts);
        let url = format!(
            "{}/dicomweb/{}/studies",
            self.hub.trim_end_matches('/'),
            o.trial
        );
        let r = client
            .post(&url)
            .bearer_auth(&self.token)
            .header(
                "content-type",
                format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
            )
            .header("accept", "application/dicom+json")
            .body(body)
            .send()
            .await
            .map_err(|e| Unavailable(format!("{url}: {e}")))?;
        let status = r.status().as_u16();
        let warning = r
            .headers()
            .get("warning")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match status {
            200 => Ok((status, None)),
            400 | 409 | 415 => {
                // The reason is the Warning header of a STOW answer, or the detail of a problem
                // document (RFC 9457) for a refusal of the request as a whole.
                let detail = match warning {
                    Some(w) => w,
                    None => {
                        let text = r.text().await.unwrap_or_default();
                        serde_json::from_str::<serde_json::Value>(&text)
                            .ok()
                            .and_then(|v| v["detail"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| text.chars().take(300).collect())
                    }
                };
                Ok((status, Some(format!("the hub answered {status}: {detail}"))))
            }
            _ => {
                let text = r.text().await.unwrap_or_default();
                Err(Unavailable(format!(
                    "{url}: {status} {}",
                    text.chars().take(300).collect::<String>()
                )))
            }
        }
    }

    /// Forwards until the task is dropped: a pass, then a second's wait when the outbox is
    /// empty, or a growing wait while the hub is unavailable.
    pub async fn run(self, store: Arc<Store>, actor: String) -> Result<(), String> {
        let client = self.client()?;
        let mut wait = Duration::from_millis(250);
        loop {
            match self.pass(&store, &client, &actor).await {
                Ok(p) => {
                    if p.sent + p.failed > 0 {
                        tracing::info!(sent = p.sent, failed = p.failed, "forwarded to the hub");
                    }
                    wait = Duration::from_millis(250);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "the hub cannot take objects now");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.max_backoff);
                }
            }
        }
    }
}

async fn record(
    store: &Store,
    actor: &str,
    o: &Outgoing,
    status: u16,
    failed: Option<&str>,
) -> Result<(), Unavailable> {
    store
        .forwarded(actor, o, status, failed)
        .await
        .map_err(|e| Unavailable(format!("cannot record the hub's answer: {e}")))
}
