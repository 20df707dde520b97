//! `corelab serve --dicom ADDR --aet TITLE`: the DICOM storage SCP until Ctrl-C or SIGTERM.

use super::{actor, open};
use crate::cli::{Global, ServeArgs};
use anyhow::{Context, Result, bail};
use corelab_ingest::Ingestor;
use corelab_server::dimse::{self, DimseConfig};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(g: &Global, a: &ServeArgs) -> Result<u8> {
    let Some(addr) = a.dicom.as_deref() else {
        bail!("serve needs --dicom ADDR (the HTTP API is not built yet)");
    };
    let store = Arc::new(open(g).await?);
    let ingestor = Arc::new(Ingestor::new(store.clone(), &format!("{}+dimse", actor(g))));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    // Objects being received spill here past 8 MiB, as unnamed files (nothing stays behind).
    let spool_dir = store.installation.dir.join("spool");
    std::fs::create_dir_all(&spool_dir)
        .with_context(|| format!("cannot create {}", spool_dir.display()))?;
    let config = DimseConfig {
        ae_title: a.aet.clone(),
        max_associations: a.max_associations,
        idle_timeout: Duration::from_secs(a.idle_timeout.max(1)),
        max_object_bytes: a.max_mib.saturating_mul(1 << 20),
        memory_budget_bytes: a.memory_mib.saturating_mul(1 << 20),
        spool_dir,
        ..DimseConfig::default()
    };
    let bound = listener.local_addr()?;
    // One line on stdout, flushed, so scripts and tests can learn the port.
    println!("{}", dimse::describe(bound, &config));
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        served = dimse::serve(listener, ingestor, config) => served?,
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    // Sign the events written while serving.
    store.checkpoint().await?;
    Ok(0)
}
