//! Load and soak of `corelab serve` (issue 16): 64 DICOM associations sending distinct CT
//! instances by C-STORE while QIDO-RS and WADO-RS clients search and retrieve what has landed,
//! for a bounded time; then, on the same server, a soak at steady load with its RSS sampled every
//! second and the least-squares slope after a warm-up. The same C-STORE (and, with Orthanc's
//! DICOMweb plugin, QIDO/WADO) load runs against Orthanc in the same run, for ratios.
//!
//! `cargo build --release --workspace --bin corelab --bin load` then
//! `$CARGO_TARGET_DIR/release/load --seconds 60 --soak-seconds 300 --json out.json`;
//! `--quick` is CI's small scale, run by `bench/tests/load_quick.rs` (fails only on errors).
//!
//! The driver starts every server itself (a fresh installation in a scratch folder) and kills
//! them on exit, error or Ctrl-C. It reports figures; it asserts no timing. Exit status 1 means
//! corelab refused or failed an operation, lost an object, or crashed.

mod dimse;
mod procs;
mod stats;
mod web;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use dimse::{AssociationOutcome, Target, Template, Until};
use serde_json::{Value, json};
use stats::OpStats;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "load",
    about = "Load and soak of corelab serve (C-STORE + QIDO-RS + WADO-RS), beside Orthanc"
)]
struct Args {
    /// Seconds of load per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds of the soak on corelab after its load (0: no soak).
    #[arg(long, default_value_t = 0)]
    soak_seconds: u64,
    /// Small scale for CI: 10 s of load, a 20 s soak (overrides --seconds and --soak-seconds).
    #[arg(long)]
    quick: bool,
    /// Concurrent DICOM associations.
    #[arg(long, default_value_t = 64)]
    associations: usize,
    /// Concurrent QIDO-RS clients.
    #[arg(long, default_value_t = 4)]
    qido_clients: usize,
    /// Concurrent WADO-RS clients.
    #[arg(long, default_value_t = 4)]
    wado_clients: usize,
    /// Instances per series (each association sends one study, a new series every N).
    #[arg(long, default_value_t = 100)]
    series_size: u64,
    /// C-STORE rate of the soak, instances per second over all associations (0: as fast as the
    /// server answers).
    #[arg(long, default_value_t = 0.0)]
    soak_rate: f64,
    /// The soak's verdict: memory is flat when the RSS slope after warm-up stays below this
    /// (MiB per hour). The default, 1 MiB a minute, is about what a 5-minute soak resolves above
    /// the RSS's own noise of a few MiB.
    #[arg(long, default_value_t = 60.0)]
    flat_mib_per_hour: f64,
    /// The peer: orthanc (an error if it is not installed) or none. Default: Orthanc when
    /// installed.
    #[arg(long, value_parser = ["orthanc", "none"])]
    peer: Option<String>,
    /// The object every instance is made from (default: pydicom's CT_small.dcm in
    /// ../shared/data/dicom_conformance).
    #[arg(long)]
    object: Option<PathBuf>,
    /// The corelab binary (default: the one beside this program, built by cargo first).
    #[arg(long)]
    corelab: Option<PathBuf>,
    /// Folder for the servers' data (default: the system's temporary folder; /dev/shm leaves
    /// the disk out).
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Keep the scratch folder (data, logs) instead of removing it.
    #[arg(long)]
    keep: bool,
    /// Write every figure as one JSON document to this file too.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One phase against one server.
struct Phase {
    target: String,
    kind: &'static str,
    planned_s: u64,
    elapsed_s: f64,
    associations: usize,
    store: OpStats,
    association_failures: u64,
    first_association_failures: Vec<String>,
    qido: Option<OpStats>,
    wado: Option<OpStats>,
    peak_rss_mib: Option<f64>,
    server_cpu_s: Option<f64>,
    driver_cpu_s: Option<f64>,
    /// (seconds since the phase began, VmRSS MiB), one a second.
    rss: Vec<(f64, f64)>,
    /// The server was gone before the phase ended.
    crashed: bool,
}

impl Phase {
    fn errors(&self) -> u64 {
        self.store.failures
            + self.association_failures
            + self.qido.as_ref().map_or(0, |q| q.failures)
            + self.wado.as_ref().map_or(0, |w| w.failures)
            + u64::from(self.crashed)
    }

    fn per_s(&self, n: f64) -> f64 {
        if self.elapsed_s > 0.0 {
            n / self.elapsed_s
        } else {
            0.0
        }
    }

    fn instances_per_s(&self) -> f64 {
        self.per_s(self.store.count() as f64)
    }

    fn mb_per_s(&self) -> f64 {
        self.per_s(self.store.bytes as f64 / 1e6)
    }

    fn cpu_ms_per_instance(&self) -> Option<f64> {
        let n = self.store.count();
        self.server_cpu_s
            .filter(|_| n > 0)
            .map(|s| s * 1000.0 / n as f64)
    }

    fn to_json(&self) -> Value {
        let (p50, p99) = self.store.p50_p99_ms();
        json!({
            "target": self.target,
            "phase": self.kind,
            "planned_s": self.planned_s,
            "elapsed_s": self.elapsed_s,
            "associations": self.associations,
            "cstore": {
                "stored": self.store.count(),
                "failures": self.store.failures,
                "bytes": self.store.bytes,
                "instances_per_s": self.instances_per_s(),
                "mb_per_s": self.mb_per_s(),
                "p50_ms": p50,
                "p99_ms": p99,
                "first_failures": self.store.first_failures,
            },
            "association_failures": self.association_failures,
            "first_association_failures": self.first_association_failures,
            "qido": self.qido.as_ref().map(|q| with_rate(q.to_json(), self.per_s(q.count() as f64))),
            "wado": self.wado.as_ref().map(|w| with_rate(w.to_json(), self.per_s(w.count() as f64))),
            "errors": self.errors(),
            "crashed": self.crashed,
            "server_peak_rss_mib": self.peak_rss_mib,
            "server_cpu_s": self.server_cpu_s,
            "server_cpu_ms_per_instance": self.cpu_ms_per_instance(),
            "driver_cpu_s": self.driver_cpu_s,
        })
    }
}

fn with_rate(mut v: Value, per_s: f64) -> Value {
    v["per_s"] = json!(per_s);
    v
}

/// A server under load: its pid and how to reach it.
struct Server {
    name: String,
    pid: u32,
    dicom: Target,
    web: Option<web::Service>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // On Ctrl-C the run's future is dropped, and with it the guards that kill the servers.
    let outcome = rt.block_on(async {
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        }
    });
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(n) => {
            eprintln!("load: {n} error(s) on corelab (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every phase and prints the report; returns corelab's error count.
async fn run(mut args: Args) -> Result<u64> {
    if args.quick {
        args.seconds = 10;
        args.soak_seconds = 20;
    }
    if args.associations == 0 {
        return Err(anyhow!("--associations must be at least 1"));
    }
    let bin = procs::corelab_binary(args.corelab.as_deref())?;
    let profile = if bin.parent().and_then(|d| d.file_name()) == Some("release".as_ref()) {
        "release"
    } else {
        "debug"
    };
    let object = args.object.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/dicom_conformance/pydicom_test_files/CT_small.dcm")
    });
    let orthanc_bin = match args.peer.as_deref() {
        Some("none") => None,
        Some(_) => Some(procs::orthanc_binary().context(
            "--peer orthanc: no Orthanc binary on PATH (Debian: apt-get install orthanc)",
        )?),
        None => procs::orthanc_binary(),
    };
    let mut notes: Vec<String> = Vec::new();
    if orthanc_bin.is_none() && args.peer.is_none() {
        notes.push("Orthanc is not installed: no peer in this run".into());
    }
    let parent = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix("corelab-load.")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot make a scratch folder in {}", parent.display()))?;
    let dir = scratch.path().to_owned();
    let run_nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id());
    let template = Arc::new(Template::load(&object, run_nonce)?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .context("cannot build the HTTP client")?;
    let ticks = procs::clock_ticks();
    eprintln!(
        "corelab: {} ({profile}); object {} ({} bytes); scratch {}",
        bin.display(),
        object.display(),
        template.len(),
        dir.display()
    );

    // Other work on the machine takes cores from both servers alike; its load is recorded.
    let loadavg_start = loadavg();
    let mut corelab = procs::start_corelab(&bin, &dir, &[])?;
    let corelab_server = Server {
        name: "corelab".into(),
        pid: corelab.guard.pid(),
        dicom: Target {
            addr: corelab.dicom,
            called: "CORELAB".into(),
            calling: procs::CALLING_AET.into(),
        },
        web: Some(web::Service {
            client: client.clone(),
            root: format!("{}/dicomweb/{}", corelab.http, procs::TRIAL_ID),
            token: Some(corelab.token.clone()),
        }),
    };
    let mut phases = Vec::new();
    phases.push(
        run_phase(
            &args,
            &template,
            &corelab_server,
            "load",
            args.seconds,
            None,
            ticks,
        )
        .await,
    );

    let mut peer_checks = Value::Null;
    let mut orthanc_version = None;
    if let Some(ob) = &orthanc_bin {
        let odir = dir.join("orthanc");
        std::fs::create_dir_all(&odir).with_context(|| format!("creating {}", odir.display()))?;
        let mut orthanc = procs::start_orthanc(ob, &odir, &client).await?;
        orthanc_version = Some(orthanc.version.clone());
        if !orthanc.dicomweb {
            notes.push(
                "Orthanc's DICOMweb plugin is not installed (Debian: orthanc-dicomweb): C-STORE only against Orthanc, while corelab also served its QIDO/WADO clients"
                    .into(),
            );
        }
        let server = Server {
            name: format!("Orthanc {}", orthanc.version),
            pid: orthanc.guard.pid(),
            dicom: Target {
                addr: orthanc.dicom,
                called: "ORTHANC".into(),
                calling: procs::CALLING_AET.into(),
            },
            web: orthanc.dicomweb.then(|| web::Service {
                client: client.clone(),
                root: format!("{}/dicom-web", orthanc.http),
                token: None,
            }),
        };
        let phase = run_phase(&args, &template, &server, "load", args.seconds, None, ticks).await;
        let held = orthanc.stored(&client).await;
        let stop = orthanc.guard.stop(Duration::from_secs(30));
        peer_checks = json!({
            "acknowledged": phase.store.count(),
            "stored": held.as_ref().ok(),
            "stored_error": held.as_ref().err().map(|e| format!("{e:#}")),
            "clean_stop": stop.as_ref().is_ok_and(|s| s.success()),
            "log": orthanc.log,
        });
        phases.push(phase);
    }

    if args.soak_seconds > 0 {
        let interval = (args.soak_rate > 0.0)
            .then(|| Duration::from_secs_f64(args.associations as f64 / args.soak_rate));
        phases.push(
            run_phase(
                &args,
                &template,
                &corelab_server,
                "soak",
                args.soak_seconds,
                interval,
                ticks,
            )
            .await,
        );
    }

    // A clean stop, then every acknowledged object must be in the catalogue.
    let stop = corelab.guard.stop(Duration::from_secs(60));
    let clean_stop = stop.as_ref().is_ok_and(|s| s.success());
    let acknowledged: u64 = phases
        .iter()
        .filter(|p| p.target == "corelab")
        .map(|p| p.store.count())
        .sum();
    let catalogued = corelab.catalogued();
    let checks = json!({
        "acknowledged": acknowledged,
        "catalogued": catalogued.as_ref().ok(),
        "catalogued_error": catalogued.as_ref().err().map(|e| format!("{e:#}")),
        "clean_stop": clean_stop,
        "stop": match &stop { Ok(s) => s.to_string(), Err(e) => e.clone() },
        "log": corelab.log,
    });
    let mut corelab_errors: u64 = phases
        .iter()
        .filter(|p| p.target == "corelab")
        .map(Phase::errors)
        .sum();
    if !clean_stop {
        corelab_errors += 1;
    }
    if catalogued.as_ref().ok() != Some(&acknowledged) {
        corelab_errors += 1;
    }
    let peer_errors: u64 = phases
        .iter()
        .filter(|p| p.target != "corelab")
        .map(Phase::errors)
        .sum::<u64>()
        + u64::from(
            !peer_checks.is_null()
                && (peer_checks["stored"] != peer_checks["acknowledged"]
                    || peer_checks["clean_stop"] != json!(true)),
        );

    let soak = phases
        .iter()
        .find(|p| p.kind == "soak")
        .map(|p| soak_figures(p, args.flat_mib_per_hour));
    let ratios = ratios(&phases);
    let report = json!({
        "bench": "load",
        "date": date_utc(),
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).ok(),
            "loadavg_start": loadavg_start,
            "loadavg_end": loadavg(),
        },
        "profile": profile,
        "driver_profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "corelab_binary": bin,
        "orthanc": orthanc_version,
        "object": { "path": object, "bytes": template.len(), "sop_class": template.sop_class, "transfer_syntax": template.transfer_syntax },
        "settings": {
            "seconds": args.seconds, "soak_seconds": args.soak_seconds, "quick": args.quick,
            "associations": args.associations, "qido_clients": args.qido_clients,
            "wado_clients": args.wado_clients, "series_size": args.series_size,
            "soak_rate": args.soak_rate, "flat_mib_per_hour": args.flat_mib_per_hour,
            "scratch": parent,
        },
        "phases": phases.iter().map(Phase::to_json).collect::<Vec<_>>(),
        "soak": soak,
        "ratios_corelab_over_peer": ratios,
        "checks": { "corelab": checks, "peer": peer_checks },
        "errors": { "corelab": corelab_errors, "peer": peer_errors },
        "notes": notes,
    });
    print_report(&phases, &report);
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{report:#}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("figures written to {}", path.display());
    }
    if args.keep {
        let kept = scratch.keep();
        eprintln!("scratch kept: {}", kept.display());
    }
    Ok(corelab_errors)
}

/// One phase: the associations and web clients against `server` for `seconds`, with the
/// server's RSS sampled every second and its liveness watched.
async fn run_phase(
    args: &Args,
    template: &Arc<Template>,
    server: &Server,
    kind: &'static str,
    seconds: u64,
    interval: Option<Duration>,
    ticks: f64,
) -> Phase {
    eprintln!(
        "[{} {kind}] {seconds} s: {} associations{}",
        server.name,
        args.associations,
        match &server.web {
            Some(_) => format!(
                ", {} QIDO-RS and {} WADO-RS clients",
                args.qido_clients, args.wado_clients
            ),
            None => ", no DICOMweb clients".into(),
        }
    );
    let pid = server.pid;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let until = Until {
        deadline: started + Duration::from_secs(seconds),
        stop: stop.clone(),
    };
    let cpu0 = procs::cpu_seconds(&pid.to_string(), ticks);
    let own0 = procs::cpu_seconds("self", ticks);
    let (stored, queried, fetched) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );

    let mut stores = tokio::task::JoinSet::new();
    for id in 0..args.associations {
        stores.spawn(dimse::association(
            server.dicom.clone(),
            template.clone(),
            id,
            args.series_size,
            interval,
            until.clone(),
            stored.clone(),
        ));
    }
    let found = Arc::new(Mutex::new(web::Found::default()));
    let (mut qidos, mut wados) = (tokio::task::JoinSet::new(), tokio::task::JoinSet::new());
    if let Some(svc) = &server.web {
        for i in 0..args.qido_clients {
            qidos.spawn(web::qido_client(
                svc.clone(),
                found.clone(),
                i as u64,
                until.clone(),
                queried.clone(),
            ));
        }
        for i in 0..args.wado_clients {
            wados.spawn(web::wado_client(
                svc.clone(),
                found.clone(),
                1000 + i as u64,
                until.clone(),
                fetched.clone(),
            ));
        }
    }
    // The sampler: RSS every second, the server's liveness, a progress line every 10 s.
    let finished = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (finished, stop) = (finished.clone(), stop.clone());
        let (stored, queried, fetched) = (stored.clone(), queried.clone(), fetched.clone());
        let label = format!("{} {kind}", server.name);
        tokio::spawn(async move {
            let mut rss = Vec::new();
            let mut crashed = false;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n: u64 = 0;
            while !finished.load(Ordering::Relaxed) {
                tick.tick().await;
                let t = started.elapsed().as_secs_f64();
                if !procs::alive(pid) {
                    crashed = true;
                    stop.store(true, Ordering::Relaxed);
                    eprintln!("[{label}] the server (pid {pid}) is gone at {t:.0} s");
                    break;
                }
                let now = procs::status_mib(pid, "VmRSS");
                if let Some(m) = now {
                    rss.push((t, m));
                }
                n += 1;
                if n.is_multiple_of(10) && !finished.load(Ordering::Relaxed) {
                    eprintln!(
                        "[{label}] {t:>4.0} s: {} stored, {} QIDO, {} WADO, RSS {}",
                        stored.load(Ordering::Relaxed),
                        queried.load(Ordering::Relaxed),
                        fetched.load(Ordering::Relaxed),
                        now.map_or("?".into(), |m| format!("{m:.0} MiB"))
                    );
                }
            }
            (rss, crashed)
        })
    };

    let mut outcome = AssociationOutcome::default();
    while let Some(r) = stores.join_next().await {
        match r {
            Ok(o) => {
                outcome.store.merge(o.store);
                outcome.association_failures += o.association_failures;
                for f in o.first_association_failures {
                    if outcome.first_association_failures.len() < 10 {
                        outcome.first_association_failures.push(f);
                    }
                }
            }
            Err(e) => outcome
                .store
                .fail(format!("an association task failed: {e}")),
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let mut qido = OpStats::default();
    while let Some(r) = qidos.join_next().await {
        match r {
            Ok(s) => qido.merge(s),
            Err(e) => qido.fail(format!("a QIDO client task failed: {e}")),
        }
    }
    let mut wado = OpStats::default();
    while let Some(r) = wados.join_next().await {
        match r {
            Ok(s) => wado.merge(s),
            Err(e) => wado.fail(format!("a WADO client task failed: {e}")),
        }
    }
    finished.store(true, Ordering::Relaxed);
    let (rss, crashed) = sampler.await.unwrap_or_default();
    let crashed = crashed || !procs::alive(pid);
    let peak_rss_mib = procs::status_mib(pid, "VmHWM");
    let cpu1 = procs::cpu_seconds(&pid.to_string(), ticks);
    let own1 = procs::cpu_seconds("self", ticks);
    let phase = Phase {
        target: if server.name == "corelab" {
            "corelab".into()
        } else {
            server.name.clone()
        },
        kind,
        planned_s: seconds,
        elapsed_s,
        associations: args.associations,
        store: outcome.store,
        association_failures: outcome.association_failures,
        first_association_failures: outcome.first_association_failures,
        qido: server.web.as_ref().map(|_| qido),
        wado: server.web.as_ref().map(|_| wado),
        peak_rss_mib,
        server_cpu_s: cpu0.zip(cpu1).map(|(a, b)| b - a),
        driver_cpu_s: own0.zip(own1).map(|(a, b)| b - a),
        rss,
        crashed,
    };
    for why in phase
        .first_association_failures
        .iter()
        .chain(&phase.store.first_failures)
        .chain(phase.qido.iter().flat_map(|q| &q.first_failures))
        .chain(phase.wado.iter().flat_map(|w| &w.first_failures))
    {
        eprintln!("[{} {kind}] error: {why}", server.name);
    }
    phase
}

/// The soak's memory figures: the least-squares slope of VmRSS after the first 20 % (warm-up).
fn soak_figures(p: &Phase, flat_mib_per_hour: f64) -> Value {
    let warmup = 0.2 * p.planned_s as f64;
    let window: Vec<(f64, f64)> = p
        .rss
        .iter()
        .copied()
        .filter(|(t, _)| *t >= warmup)
        .collect();
    // Minutes on the x axis: the slope comes out in MiB per minute.
    let pts: Vec<(f64, f64)> = window.iter().map(|(t, m)| (t / 60.0, *m)).collect();
    let fit = stats::least_squares(&pts);
    let slope_min = fit.map(|f| f.0);
    // Over less than two minutes the slope is mostly start-up (caches, allocator arenas
    // filling): it is reported, not judged.
    let span_s = window
        .last()
        .zip(window.first())
        .map_or(0.0, |(b, a)| b.0 - a.0);
    let verdict = match slope_min {
        Some(_) if span_s < 120.0 => "not judged (under 2 minutes after warm-up)",
        Some(s) if s * 60.0 <= flat_mib_per_hour => "flat",
        Some(_) => "growing",
        None => "not enough samples",
    };
    json!({
        "seconds": p.planned_s,
        "warmup_s": warmup,
        "samples": window.len(),
        "rss_first_mib": p.rss.first().map(|x| x.1),
        "rss_start_mib": window.first().map(|x| x.1),
        "rss_end_mib": window.last().map(|x| x.1),
        "rss_max_mib": window.iter().map(|x| x.1).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))),
        "slope_mib_per_min": slope_min,
        "slope_mib_per_hour": slope_min.map(|s| s * 60.0),
        "r2": fit.map(|f| f.2),
        "threshold_mib_per_hour": flat_mib_per_hour,
        "verdict": verdict,
        "peak_rss_mib": p.peak_rss_mib,
        "rss_mib_every_second": p.rss.iter().map(|x| (x.1 * 10.0).round() / 10.0).collect::<Vec<_>>(),
    })
}

/// corelab ÷ peer, load phase against load phase: above 1 is more throughput, below 1 is lower
/// latency.
fn ratios(phases: &[Phase]) -> Value {
    let ours = phases
        .iter()
        .find(|p| p.target == "corelab" && p.kind == "load");
    let peer = phases
        .iter()
        .find(|p| p.target != "corelab" && p.kind == "load");
    let (Some(a), Some(b)) = (ours, peer) else {
        return Value::Null;
    };
    let div = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    let lat = |a: Option<&OpStats>, b: Option<&OpStats>| {
        let (a, b) = (a.map(OpStats::p50_p99_ms), b.map(OpStats::p50_p99_ms));
        json!({
            "p50": div(a.and_then(|x| x.0), b.and_then(|x| x.0)),
            "p99": div(a.and_then(|x| x.1), b.and_then(|x| x.1)),
        })
    };
    let rate = |a: Option<&OpStats>, b: Option<&OpStats>, pa: &Phase, pb: &Phase| {
        div(
            a.map(|s| pa.per_s(s.count() as f64)),
            b.map(|s| pb.per_s(s.count() as f64)),
        )
    };
    json!({
        "peer": b.target,
        "cstore_instances_per_s": div(Some(a.instances_per_s()), Some(b.instances_per_s())),
        "cstore_latency": lat(Some(&a.store), Some(&b.store)),
        "qido_per_s": rate(a.qido.as_ref(), b.qido.as_ref(), a, b),
        "qido_latency": lat(a.qido.as_ref(), b.qido.as_ref()),
        "wado_per_s": rate(a.wado.as_ref(), b.wado.as_ref(), a, b),
        "wado_latency": lat(a.wado.as_ref(), b.wado.as_ref()),
        "peak_rss": div(a.peak_rss_mib, b.peak_rss_mib),
        "server_cpu_ms_per_instance": div(a.cpu_ms_per_instance(), b.cpu_ms_per_instance()),
    })
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// The human report: one Markdown table row per phase, then the soak and the ratios.
fn print_report(phases: &[Phase], r: &Value) {
    println!();
    println!(
        "corelab {} build (driver {}), {} CPUs (load average {} at the start, {} at the end), {}; object {} bytes; {} associations",
        r["profile"].as_str().unwrap_or("?"),
        r["driver_profile"].as_str().unwrap_or("?"),
        r["machine"]["cpus"],
        r["machine"]["loadavg_start"].as_str().unwrap_or("?"),
        r["machine"]["loadavg_end"].as_str().unwrap_or("?"),
        r["date"].as_str().unwrap_or("?"),
        r["object"]["bytes"],
        r["settings"]["associations"],
    );
    println!();
    println!(
        "| target | phase | s | C-STORE stored | inst/s | MB/s | C-STORE p50 / p99 ms | QIDO n (/s) | QIDO p50 / p99 ms | WADO n (/s) | WADO p50 / p99 ms | errors | server peak RSS MiB | server CPU ms / inst | driver CPU s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in phases {
        let (s50, s99) = p.store.p50_p99_ms();
        let web = |o: &Option<OpStats>| match o {
            Some(s) => {
                let (a, b) = s.p50_p99_ms();
                (
                    format!("{} ({:.0})", s.count(), p.per_s(s.count() as f64)),
                    format!("{} / {}", fmt(a, 1), fmt(b, 1)),
                )
            }
            None => ("–".into(), "–".into()),
        };
        let (qn, ql) = web(&p.qido);
        let (wn, wl) = web(&p.wado);
        println!(
            "| {} | {} | {:.1} | {} | {:.1} | {:.2} | {} / {} | {qn} | {ql} | {wn} | {wl} | {} | {} | {} | {} |",
            p.target,
            p.kind,
            p.elapsed_s,
            p.store.count(),
            p.instances_per_s(),
            p.mb_per_s(),
            fmt(s50, 1),
            fmt(s99, 1),
            p.errors(),
            fmt(p.peak_rss_mib, 0),
            fmt(p.cpu_ms_per_instance(), 2),
            fmt(p.driver_cpu_s, 1),
        );
    }
    let s = &r["soak"];
    if !s.is_null() {
        println!();
        println!(
            "soak: {} s, RSS sampled every second ({} samples after a {} s warm-up): {} → {} MiB (max {}); slope {} MiB/min = {} MiB/h, R² {}; memory {} (threshold {} MiB/h)",
            s["seconds"],
            s["samples"],
            s["warmup_s"],
            fmt(s["rss_start_mib"].as_f64(), 1),
            fmt(s["rss_end_mib"].as_f64(), 1),
            fmt(s["rss_max_mib"].as_f64(), 1),
            fmt(s["slope_mib_per_min"].as_f64(), 3),
            fmt(s["slope_mib_per_hour"].as_f64(), 1),
            fmt(s["r2"].as_f64(), 2),
            s["verdict"].as_str().unwrap_or("?"),
            s["threshold_mib_per_hour"],
        );
    }
    let q = &r["ratios_corelab_over_peer"];
    if !q.is_null() {
        println!();
        println!(
            "corelab ÷ {} (same run): C-STORE instances/s {}×; C-STORE latency p50 {}×, p99 {}×; QIDO/s {}×, p50 {}×; WADO/s {}×, p50 {}×; peak RSS {}×; server CPU per instance {}×",
            q["peer"].as_str().unwrap_or("peer"),
            fmt(q["cstore_instances_per_s"].as_f64(), 2),
            fmt(q["cstore_latency"]["p50"].as_f64(), 2),
            fmt(q["cstore_latency"]["p99"].as_f64(), 2),
            fmt(q["qido_per_s"].as_f64(), 2),
            fmt(q["qido_latency"]["p50"].as_f64(), 2),
            fmt(q["wado_per_s"].as_f64(), 2),
            fmt(q["wado_latency"]["p50"].as_f64(), 2),
            fmt(q["peak_rss"].as_f64(), 2),
            fmt(q["server_cpu_ms_per_instance"].as_f64(), 2),
        );
    }
    let c = &r["checks"]["corelab"];
    println!();
    println!(
        "corelab: {} acknowledged, {} catalogued, clean stop: {}",
        c["acknowledged"], c["catalogued"], c["clean_stop"]
    );
    let pc = &r["checks"]["peer"];
    if !pc.is_null() {
        println!(
            "peer: {} acknowledged, {} stored, clean stop: {}",
            pc["acknowledged"], pc["stored"], pc["clean_stop"]
        );
    }
    for n in r["notes"].as_array().into_iter().flatten() {
        println!("note: {}", n.as_str().unwrap_or_default());
    }
    println!(
        "errors: corelab {}, peer {}",
        r["errors"]["corelab"], r["errors"]["peer"]
    );
    println!();
}

/// `/proc/loadavg`'s 1, 5 and 15 minute load averages.
fn loadavg() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// Now in UTC as `YYYY-MM-DDTHH:MM:SSZ` (civil calendar from days since 1970, Howard Hinnant's
/// algorithm, to need no date crate here).
fn date_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_civil() {
        let d = super::date_utc();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.starts_with("20") && d.ends_with('Z'), "{d}");
    }
}
