//! `corelab gateway --hub URL --token-file F --dicom ADDR --aet TITLE` and `gateway status`.

use super::open;
use crate::cli::{GatewayArgs, GatewayCommand, Global, ServeArgs};
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_server::gateway::Forwarder;
use std::time::Duration;

pub async fn run(g: &Global, a: &GatewayArgs) -> Result<u8> {
    if let Some(GatewayCommand::Status) = a.command {
        let store = open(g).await?;
        let s = store.forward_status().await?;
        emit(g.json, &s, |s| {
            let mut out = format!(
                "pending {}\nsent {}\nfailed {}",
                s.pending,
                s.sent,
                s.failed.len()
            );
            for d in &s.failed {
                out.push_str(&format!(
                    "\n  {}\t{}\t{}",
                    d.sop_instance_uid,
                    d.hub_status,
                    d.reason.as_deref().unwrap_or("")
                ));
            }
            out
        })?;
        return Ok(if s.failed.is_empty() { 0 } else { 3 });
    }
    let (Some(hub), Some(token_file), Some(dicom)) = (&a.hub, &a.token_file, &a.dicom) else {
        bail!("gateway needs --hub URL, --token-file FILE and --dicom ADDR (or: gateway status)");
    };
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("cannot read the token file {}", token_file.display()))?
        .trim()
        .to_owned();
    if token.is_empty() {
        bail!("{}: the token is empty", token_file.display());
    }
    if !(hub.starts_with("http://") || hub.starts_with("https://")) {
        bail!("--hub {hub:?}: expected an http:// or https:// URL");
    }
    let hub_ca = match &a.hub_ca {
        Some(f) => Some(
            std::fs::read(f).with_context(|| format!("cannot read --hub-ca {}", f.display()))?,
        ),
        None => None,
    };
    let forward = Forwarder {
        hub: hub.clone(),
        token,
        batch: 50,
        max_backoff: Duration::from_secs(a.max_backoff.max(1)),
        hub_ca,
    };
    // Refuse a bad CA file now, not in the background.
    forward.client().map_err(anyhow::Error::msg)?;
    let serve = ServeArgs {
        http: None,
        ui: None,
        tls_cert: None,
        tls_key: None,
        dicom: Some(dicom.clone()),
        aet: a.aet.clone(),
        max_associations: 64,
        idle_timeout: 60,
        max_mib: 2048,
        memory_mib: 4096,
        workers: 0,
        plan_every: 10,
        lease_secs: 60,
    };
    super::serve::run_with(g, &serve, Some(forward)).await
}
