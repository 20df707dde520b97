//! The servers under load: `corelab serve` on a fresh installation and Orthanc on a generated
//! configuration, each held by a guard that kills it when dropped (on success, error or panic),
//! and what `/proc` says about them (RSS, peak RSS, CPU time, liveness).

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The trial under load: one site whose PACS calls as `LOADSCU`.
pub const TRIAL_ID: &str = "LOAD";
pub const CALLING_AET: &str = "LOADSCU";
const TRIAL: &str = r#"
[trial]
id = "LOAD"
sponsor = "Load bench"
protocol = "LOAD-1"
phase = "III"

[[sites]]
id = "S01"
name = "Load site"
ae_titles = ["LOADSCU"]

[deid]
options = ["retain-long-modified-dates"]
"#;

/// A child process killed (SIGKILL) and reaped when dropped, unless [`Guard::stop`] ended it.
pub struct Guard {
    pub name: String,
    child: Child,
    stopped: bool,
}

impl Guard {
    fn new(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            child,
            stopped: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// A clean stop: SIGTERM, then up to `grace` for it to exit; SIGKILL after that. Returns
    /// its exit status, or why there is none.
    pub fn stop(&mut self, grace: Duration) -> Result<ExitStatus, String> {
        if let Some(s) = self.exited() {
            self.stopped = true;
            return Err(format!("{} had already exited: {s}", self.name));
        }
        let pid = self.pid().to_string();
        // std has no kill(2) with a signal of our choice; kill(1) is in procps on every Linux.
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !sent.map(|s| s.success()).unwrap_or(false) {
            return Err(format!("cannot send SIGTERM to {} (pid {pid})", self.name));
        }
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Some(s) = self.exited() {
                self.stopped = true;
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stopped = true;
        Err(format!(
            "{} (pid {pid}) did not stop within {} s of SIGTERM; killed",
            self.name,
            grace.as_secs()
        ))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`), as MiB.
pub fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Whether the process runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold spaces.
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// User + system CPU seconds of a process (`self` for the driver) from `/proc/PID/stat`.
pub fn cpu_seconds(pid: &str, ticks_per_s: f64) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    // After the command: state is field 3, utime 14 and stime 15 (proc(5)).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_s)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when getconf is missing).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Where the corelab binary is: `--corelab PATH`, or beside this program (the same cargo
/// profile), built first with the cargo that runs us so that it is never stale.
pub fn corelab_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--corelab {}: no such file", p.display());
        }
        return Ok(p.to_owned());
    }
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let dir = exe
        .parent()
        .context("this program's path has no folder")?
        .to_owned();
    let release = dir.file_name().is_some_and(|n| n == "release");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(cargo);
        // --workspace: the features the workspace builds with (one package alone resolves
        // others, and rebuilds much of the dependency tree beside them).
        cmd.args([
            "build",
            "--workspace",
            "--bin",
            "corelab",
            "--manifest-path",
        ])
        .arg(&manifest);
        if release {
            cmd.arg("--release");
        }
        eprintln!(
            "building corelab ({}) with cargo, if it is not up to date …",
            if release { "release" } else { "debug" }
        );
        let status = cmd
            .status()
            .context("cannot run cargo to build the corelab binary")?;
        if !status.success() {
            bail!("cargo build --bin corelab failed ({status})");
        }
    }
    let bin = dir.join("corelab");
    if !bin.is_file() {
        bail!(
            "no corelab binary at {} (build it: cargo build --workspace --bin corelab{}, or pass --corelab PATH)",
            bin.display(),
            if release { " --release" } else { "" }
        );
    }
    Ok(bin)
}

/// The environment a server runs with: no developer settings that change its speed (a
/// backtrace captured at every end of a parsed data set with `RUST_BACKTRACE`, see
/// docs/benchmarks.md) and warnings only in its log.
fn quiet(cmd: &mut Command) {
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        .env("CORELAB_LOG", "warn");
}

fn run_corelab(bin: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(bin);
    cmd.arg("--data").arg(data).args(args);
    quiet(&mut cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "corelab {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A running `corelab serve` with its addresses and the API token of a QC user of the trial.
pub struct Corelab {
    pub guard: Guard,
    pub data: PathBuf,
    pub bin: PathBuf,
    pub http: String,
    pub dicom: SocketAddr,
    pub token: String,
    pub log: PathBuf,
}

/// A fresh installation in `dir` (init, the trial, a `qc@LOAD` user with an API token), then
/// `corelab serve --http 127.0.0.1:0 --dicom 127.0.0.1:0`, waiting for both addresses.
pub fn start_corelab(bin: &Path, dir: &Path, args: &[String]) -> Result<Corelab> {
    let data = dir.join("corelab-data");
    run_corelab(bin, &data, &["init"])?;
    let trial = dir.join("trial.toml");
    std::fs::write(&trial, TRIAL).with_context(|| format!("writing {}", trial.display()))?;
    run_corelab(bin, &data, &["trial", "create", &trial.to_string_lossy()])?;
    let pw = dir.join("password");
    std::fs::write(&pw, "load bench password\n")
        .with_context(|| format!("writing {}", pw.display()))?;
    run_corelab(
        bin,
        &data,
        &[
            "user",
            "add",
            "loader",
            "--name",
            "Load bench",
            "--grant",
            &format!("qc@{TRIAL_ID}"),
            "--password-file",
            &pw.to_string_lossy(),
        ],
    )?;
    let token_file = dir.join("token");
    run_corelab(
        bin,
        &data,
        &[
            "user",
            "token",
            "loader",
            "--name",
            "load",
            "--out",
            &token_file.to_string_lossy(),
        ],
    )?;
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {}", token_file.display()))?
        .trim()
        .to_owned();
    if token.is_empty() {
        bail!("corelab user token wrote an empty {}", token_file.display());
    }

    let log = dir.join("corelab-serve.log");
    let mut cmd = Command::new(bin);
    cmd.arg("--data")
        .arg(&data)
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--dicom",
            "127.0.0.1:0",
            "--aet",
            "CORELAB",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?,
        ));
    quiet(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {} serve", bin.display()))?;
    let stdout = child.stdout.take().context("serve's stdout")?;
    let guard = Guard::new("corelab serve", child);
    // Its first lines name the addresses; what it prints later is read and dropped so that it
    // never blocks on a full pipe.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut http, mut dicom) = (None, None);
    let until = Instant::now() + Duration::from_secs(120);
    while http.is_none() || dicom.is_none() {
        let left = until.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).map_err(|_| {
            anyhow::anyhow!(
                "corelab serve printed no addresses within 120 s; its log: {}",
                log.display()
            )
        })?;
        if let Some(a) = line.strip_prefix("http: listening on ") {
            http = Some(format!("http://{}", a.trim()));
        } else if let Some(rest) = line.strip_prefix("DICOM storage SCP listening on ") {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            dicom = Some(
                addr.parse::<SocketAddr>()
                    .with_context(|| format!("serve's DICOM address {addr:?} in {line:?}"))?,
            );
        }
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Ok(Corelab {
        guard,
        data,
        bin: bin.to_owned(),
        http: http.unwrap_or_default(),
        dicom: dicom.context("no DICOM address")?,
        token,
        log,
    })
}

impl Corelab {
    /// Instances the catalogue holds (`corelab status --json`), read once the server stopped.
    pub fn catalogued(&self) -> Result<u64> {
        let out = run_corelab(&self.bin, &self.data, &["--json", "status"])?;
        let v: serde_json::Value =
            serde_json::from_str(&out).context("corelab status --json printed no JSON")?;
        v["instances"]
            .as_u64()
            .with_context(|| format!("corelab status --json has no instances count: {out}"))
    }
}

/// A running Orthanc with its DICOMweb plugin when installed.
pub struct Orthanc {
    pub guard: Guard,
    pub http: String,
    pub dicom: SocketAddr,
    pub dicomweb: bool,
    pub version: String,
    pub log: PathBuf,
}

/// Debian's `orthanc-dicomweb` plugin.
const DICOMWEB_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

/// Orthanc's binary on PATH (Debian installs it as /usr/sbin/Orthanc).
pub fn orthanc_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("Orthanc"))
        .find(|p| p.is_file())
}

/// Orthanc with empty storage in `dir`, the configuration of `../shared/bench/ingest_peer.sh`
/// (storing as received, no compression, DICOMweb when the plugin is there), on free ports.
pub async fn start_orthanc(
    bin: &Path,
    dir: &Path,
    http_client: &reqwest::Client,
) -> Result<Orthanc> {
    let (dicom_port, http_port) = (free_port()?, free_port()?);
    let dicomweb = Path::new(DICOMWEB_PLUGIN).is_file();
    let storage = dir.join("orthanc-storage");
    let config = serde_json::json!({
        "Name": "corelab-load",
        "StorageDirectory": storage.join("storage"),
        "IndexDirectory": storage.join("index"),
        "StorageCompression": false,
        "Plugins": if dicomweb { vec![DICOMWEB_PLUGIN] } else { vec![] },
        "HttpServerEnabled": true,
        "HttpPort": http_port,
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "SslEnabled": false,
        "DicomServerEnabled": true,
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": false,
        "DicomAlwaysAllowStore": true,
        "DicomAlwaysAllowEcho": true,
        "DicomModalities": {},
        "OrthancPeers": {},
        "SaveJobs": false,
        "KeepAlive": true,
        "TcpNoDelay": true,
        "DicomWeb": { "Enable": true, "Root": "/dicom-web/", "EnableWado": true },
    });
    let path = dir.join("orthanc.json");
    std::fs::write(&path, config.to_string())
        .with_context(|| format!("writing {}", path.display()))?;
    let log = dir.join("orthanc.log");
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.rsplit(' ').next().unwrap_or(l).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let child = Command::new(bin)
        .arg(&path)
        .arg(format!("--logfile={}", log.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let mut guard = Guard::new("Orthanc", child);
    let url = format!("http://127.0.0.1:{http_port}");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = guard.exited() {
            bail!("Orthanc exited at start ({s}); its log: {}", log.display());
        }
        let up = http_client
            .get(format!("{url}/system"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if up {
            break;
        }
        if Instant::now() > until {
            bail!(
                "Orthanc did not answer on {url} within 60 s; its log: {}",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Orthanc {
        guard,
        http: url,
        dicom: SocketAddr::from(([127, 0, 0, 1], dicom_port)),
        dicomweb,
        version,
        log,
    })
}

impl Orthanc {
    /// Instances Orthanc holds (`GET /statistics`).
    pub async fn stored(&self, client: &reqwest::Client) -> Result<u64> {
        let v: serde_json::Value = client
            .get(format!("{}/statistics", self.http))
            .send()
            .await
            .context("Orthanc GET /statistics")?
            .json()
            .await
            .context("Orthanc GET /statistics: not JSON")?;
        v["CountInstances"]
            .as_u64()
            .with_context(|| format!("Orthanc /statistics has no CountInstances: {v}"))
    }
}
