//! `corelab serve [--http ADDR] [--dicom ADDR --aet TITLE] [--workers N]`: the HTTP API and
//! DICOMweb, the DICOM storage SCP and in-process workers until Ctrl-C or SIGTERM.

use super::{actor, open};
use crate::cli::{Global, ServeArgs};
use anyhow::{Context, Result, bail};
use corelab_engine::runner::plan_changed;
use corelab_engine::worker::{WorkerOptions, run_one};
use corelab_ingest::Ingestor;
use corelab_server::dimse::{self, DimseConfig};
use corelab_store::Store;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(g: &Global, a: &ServeArgs) -> Result<u8> {
    run_with(g, a, None).await
}

/// [`run`], and with a forwarder, a site gateway's forwarding to its hub.
pub async fn run_with(
    g: &Global,
    a: &ServeArgs,
    forward: Option<corelab_server::gateway::Forwarder>,
) -> Result<u8> {
    if a.http.is_none() && a.dicom.is_none() && a.workers == 0 {
        bail!("serve needs --http ADDR, --dicom ADDR, --workers N, or several of them");
    }
    let store = Arc::new(open(g).await?);
    // Before anything is written: what a crash left in the blob folder (blobs of transactions
    // that never committed, staging files of cut writes) goes, when this process has it alone.
    match store.sweep_blobs(&format!("{}+sweep", actor(g))).await {
        Ok(s) if !s.blobs.is_empty() || s.staging > 0 => tracing::info!(
            blobs = s.blobs.len(),
            staging = s.staging,
            bytes = s.bytes,
            "swept what a crash left in the blob folder"
        ),
        Ok(s) => tracing::debug!(skipped = ?s.skipped, "blob folder sweep"),
        Err(e) => tracing::warn!(error = %e, "the blob folder was not swept"),
    }
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = a.http.as_deref() {
        let mut state =
            corelab_server::http::AppState::new(store.clone(), &format!("{}+http", actor(g)))
                .map_err(anyhow::Error::msg)?;
        state.ui_dir = corelab_server::http::ui::locate(a.ui.as_deref());
        match &state.ui_dir {
            Some(d) if d.join("index.html").is_file() => {
                eprintln!("web UI: {}", d.display())
            }
            Some(d) => bail!(
                "--ui {}: no index.html there (build it: npm ci && npm run build in ui/)",
                d.display()
            ),
            None => eprintln!("web UI: not built (npm ci && npm run build in ui/); / says so"),
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let tls = match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some(
                corelab_server::http::tls::server_config(cert, key).map_err(anyhow::Error::msg)?,
            ),
            _ => None,
        };
        // One line on stdout, flushed, so scripts and tests can learn the port.
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("{scheme}: listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        tasks.spawn(async move {
            match tls {
                Some(config) => corelab_server::http::tls::serve_tls(listener, state, config).await,
                None => corelab_server::http::serve(listener, state).await,
            }
            .map_err(anyhow::Error::from)
        });
    }
    if let Some(addr) = a.dicom.as_deref() {
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
        tasks.spawn(async move {
            dimse::serve(listener, ingestor, config)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    if let Some(f) = forward {
        let (store, who) = (store.clone(), format!("{}+gateway", actor(g)));
        println!("forwarding to {}", f.hub);
        std::io::stdout().flush()?;
        tasks.spawn(async move { f.run(store, who).await.map_err(anyhow::Error::msg) });
    }
    if a.workers > 0 {
        let who = format!("{}+planner", actor(g));
        let (planner_store, every) = (store.clone(), Duration::from_secs(a.plan_every));
        tasks.spawn(async move { plan_forever(planner_store, who, every).await });
        for n in 0..a.workers {
            let mut o = WorkerOptions::new(&format!("serve-{}-{n}", std::process::id()), None);
            o.lease = Duration::from_secs(a.lease_secs);
            tasks.spawn(work_forever(store.clone(), o));
        }
        println!("workers: {}, planning every {} s", a.workers, a.plan_every);
        std::io::stdout().flush()?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        ended = tasks.join_next() => {
            if let Some(ended) = ended {
                ended??;
            }
        }
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tasks.abort_all();
    // Sign the events written while serving.
    store.checkpoint().await?;
    Ok(0)
}

/// Plans the locked trials that received new instances, every `every`. A trial that cannot be
/// planned is logged and tried again next time.
async fn plan_forever(store: Arc<Store>, actor: String, every: Duration) -> Result<()> {
    let mut seen = BTreeMap::new();
    loop {
        match plan_changed(&store, &actor, &mut seen).await {
            Ok(planned) => {
                for p in planned {
                    match p {
                        Ok(p) => {
                            if p.enqueued > 0 {
                                tracing::info!(trial = %p.trial, enqueued = p.enqueued, "jobs enqueued")
                            }
                            if p.read_tasks > 0 {
                                tracing::info!(trial = %p.trial, tasks = p.read_tasks, "read tasks made")
                            }
                            if let Some(why) = &p.reads_problem {
                                tracing::warn!(trial = %p.trial, %why, "reads not planned")
                            }
                        }
                        Err(why) => tracing::warn!(%why, "planning failed"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "planning failed"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Runs jobs as they come; waits a second when none is claimable, a few on a store error.
async fn work_forever(store: Arc<Store>, o: WorkerOptions) -> Result<()> {
    loop {
        match run_one(&store, &o).await {
            Ok(Some(outcome)) => tracing::info!(?outcome, worker = %o.name, "job"),
            Ok(None) => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(e) => {
                tracing::warn!(error = %e, worker = %o.name, "the queue could not be reached");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}
