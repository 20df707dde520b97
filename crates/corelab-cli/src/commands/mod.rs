//! One function per command; each opens what it needs, calls the library, and prints.

mod algo;
mod audit;
mod convert;
mod deid;
mod demo;
mod demo_exports;
mod demo_onco;
mod demo_rano;
mod demo_truth;
mod gateway;
mod import;
mod model;
mod phantom;
mod qc;
mod quarantine;
mod reads;
mod register;
mod results;
mod run;
mod serve;
mod stats;
mod subject;
mod trial;
mod user;
mod volumes;

use crate::cli::{Cli, Command, Global};
use crate::output::emit;
use anyhow::Result;
use corelab_store::{Overrides, Store};
use serde_json::json;

/// Runs a parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    match &cli.command {
        Command::Init => init(g).await,
        Command::Status => status(g).await,
        Command::Trial(c) => trial::run(g, c).await,
        Command::Audit(c) => audit::run(g, c).await,
        Command::Deid(a) => deid::run(g, a).await,
        Command::Subject(c) => subject::run(g, c).await,
        Command::User(c) => user::run(g, c).await,
        Command::Gateway(a) => gateway::run(g, a).await,
        Command::Import(a) => import::run(g, a).await,
        Command::Serve(a) => serve::run(g, a).await,
        Command::Qc(a) => qc::run(g, a).await,
        Command::Run(a) => run::run(g, a).await,
        Command::Reads(c) => reads::run(g, c).await,
        Command::Worker {
            trial,
            name,
            once,
            lease_secs,
        } => run::worker(g, trial.as_deref(), name.as_deref(), *once, *lease_secs).await,
        Command::Jobs { trial } => run::jobs(g, trial).await,
        Command::Results(a) => results::run(g, a).await,
        Command::Provenance { trial, job } => run::provenance(g, trial, *job).await,
        Command::Query(c) => qc::query(g, c).await,
        Command::Quarantine(c) => quarantine::run(g, c).await,
        Command::Convert(a) => convert::run(g, a).await,
        Command::Register(a) => register::run(g, a).await,
        Command::Algorithms => algo::list(g).await,
        Command::Validate(a) => stats::validate(g, a).await,
        Command::Harmonise(a) => stats::harmonise(g, a).await,
        Command::Model(c) => model::run(g, c).await,
        Command::Algo(c) => algo::run(g, c).await,
        Command::Phantom(a) => phantom::run(g, a).await,
        Command::Demo {
            out,
            serve,
            http,
            ui,
        } => {
            let serving = serve.as_deref().map(|dicom| demo::Serving {
                dicom,
                http,
                ui: ui.as_deref(),
            });
            demo::run(g, out.as_deref(), serving).await
        }
    }
}

/// Refuses an output folder that exists and is not empty (or cannot be listed).
pub(crate) fn require_empty_folder(out: &std::path::Path) -> Result<()> {
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        anyhow::bail!(
            "{}: the output folder must be absent or empty",
            out.display()
        );
    }
    Ok(())
}

/// Who is acting: `--actor`, else `cli:` and the operating-system user's name.
pub fn actor(g: &Global) -> String {
    g.actor
        .clone()
        .unwrap_or_else(|| format!("cli:{}", os_user()))
}

/// The login name: `$USER`, `$LOGNAME`, else the name of this process's uid in /etc/passwd,
/// else `uid-N`.
fn os_user() -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    {
        return name;
    }
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut f = line.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid.to_string()).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid-{uid}"))
}

fn overrides(g: &Global) -> Overrides {
    Overrides {
        database: g.database.clone(),
        store: g.store.clone(),
        ..Default::default()
    }
}

/// Opens the installation named by the global options.
pub async fn open(g: &Global) -> Result<Store> {
    Ok(Store::open(&g.data, &overrides(g)).await?)
}

async fn init(g: &Global) -> Result<u8> {
    let store = Store::init(&g.data, &overrides(g), &actor(g)).await?;
    store.checkpoint().await?;
    let summary = json!({
        "installation": store.installation.id(),
        "data": store.installation.dir,
        "database": store.db.url(),
        "store": store.blobs.url(),
        "audit_public_key": store.audit_public_key(),
    });
    emit(g.json, &summary, |s| {
        format!(
            "initialised corelab installation {}\n  data      {}\n  database  {}\n  store     {}\n  audit key {} (ed25519)",
            s["installation"].as_str().unwrap_or_default(),
            store.installation.dir.display(),
            s["database"].as_str().unwrap_or_default(),
            s["store"].as_str().unwrap_or_default(),
            s["audit_public_key"].as_str().unwrap_or_default(),
        )
    })?;
    Ok(0)
}

async fn status(g: &Global) -> Result<u8> {
    let store = open(g).await?;
    let status = store.status().await?;
    emit(g.json, &status, status_text)?;
    Ok(0)
}

/// The text form of `corelab status`.
pub fn status_text(s: &corelab_store::Status) -> String {
    let mut out = format!(
        "installation {}\n  database      {} (schema {})\n  store         {}\n  trials        {}\n  studies       {}\n  series        {}\n  instances     {}\n  quarantined   {}\n  blobs         {}\n  audit events  {}\n",
        s.installation,
        s.database,
        s.schema_version,
        s.store,
        s.trials.len(),
        s.studies,
        s.series,
        s.instances,
        s.quarantined,
        s.blobs,
        s.audit_events
    );
    for t in &s.trials {
        out.push_str(&format!(
            "  trial {}  {} / {}  phase {}  {} sites  {} subjects\n",
            t.id, t.sponsor, t.protocol, t.phase, t.sites, t.subjects
        ));
    }
    out
}
