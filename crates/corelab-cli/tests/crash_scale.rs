//! Crash consistency at scale (issue 16, part 2; DESIGN.md invariant 1: nothing acknowledged is
//! lost). Each test kills a corelab process with SIGKILL at seeded random moments, over and over
//! on one data directory, restarts it there, and checks after every kill:
//! - every instance a sender saw acknowledged is catalogued, reads back through the store, and
//!   its blob file hashes to its name;
//! - no catalogue row names a blob that is missing, and once the process is back (its start
//!   sweeps what a kill leaves: blobs written for a transaction that never committed, staging
//!   files of writes cut short) no file in the blob folder is left that nothing references;
//! - every job is completed at most once — one completion, one set of measurements, one
//!   `job.succeed` — and in the end all of them are;
//! - the audit trail verifies.
//!
//! The three loads: four storescu associations into the storage SCP; a locked external program
//! run as jobs by `serve --workers`; the site gateway receiving and forwarding to a hub.
//! `CORELAB_CRASH_ITERATIONS` (default 50) sets the kills per test and `CORELAB_CRASH_SEED` the
//! seed, which every test prints: the seed replays the loads and the kill moments (what the
//! processes had done by a moment depends on the machine). Each test ends with one summary line.

mod common;

use common::{corelab, json, lab_with_trial, make_phantom, ok, start};
use corelab_core::Sha256Digest;
use corelab_dicom::deid::UidMapper;
use corelab_store::{Db, Installation, Store};
use dicom_dictionary_std::tags;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Settings, the seeded generator, processes

struct Settings {
    iterations: usize,
    seed: u64,
}

fn settings(test: &str) -> Settings {
    let iterations = match std::env::var("CORELAB_CRASH_ITERATIONS") {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            panic!("CORELAB_CRASH_ITERATIONS={v:?}: expected a number of kills")
        }),
        Err(_) => 50,
    };
    let seed = match std::env::var("CORELAB_CRASH_SEED") {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            panic!("CORELAB_CRASH_SEED={v:?}: expected an unsigned 64-bit integer")
        }),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!(
        "{test}: {iterations} kills, seed {seed} \
         (replay: CORELAB_CRASH_SEED={seed} CORELAB_CRASH_ITERATIONS={iterations})"
    );
    Settings { iterations, seed }
}

/// SplitMix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// A moment in `0..max`.
    fn moment(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.below(max.as_micros() as u64))
    }
}

/// A `corelab` process (started by [`start`]), killed with SIGKILL when dropped.
struct Proc {
    child: Child,
    line: String,
    /// Taken before the process was spawned: a file older than this was not written by it.
    started: SystemTime,
}

impl Proc {
    fn start(data: &Path, env: &[(String, String)], args: &[&str]) -> Proc {
        let started = SystemTime::now();
        let (child, line) = start(data, env, args);
        Proc {
            child,
            line,
            started,
        }
    }

    /// The port of the first line's `127.0.0.1:PORT`.
    fn port(&self) -> String {
        self.line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split([' ', '\n']).next())
            .unwrap_or_else(|| panic!("no 127.0.0.1:PORT in {:?}", self.line))
            .to_owned()
    }

    fn sigkill(self) {
        drop(self)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The installation's database, without opening the installation (so without its lock).
async fn database(data: &Path) -> Db {
    let url = Installation::open(data).unwrap().database_url(None);
    Db::connect(&url, false).await.unwrap()
}

async fn strings(db: &Db, sql: &'static str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(sql)
        .fetch_all(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn number(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The blob folder

/// What the blob folder's content-addressed part holds.
#[derive(Default)]
struct BlobFiles {
    /// Files named by a SHA-256, with their modification time.
    blobs: BTreeMap<String, (PathBuf, SystemTime)>,
    /// Anything else there: staging files of writes cut short (`<digest>#<n>`), strays.
    others: Vec<(PathBuf, SystemTime)>,
}

fn is_digest(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn blob_files(data: &Path) -> BlobFiles {
    fn walk(dir: &Path, out: &mut BlobFiles) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            // A file the running process renames away between the listing and here is skipped.
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                walk(&path, out);
                continue;
            }
            let modified = meta.modified().unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if is_digest(&name) {
                out.blobs.insert(name, (path, modified));
            } else {
                out.others.push((path, modified));
            }
        }
    }
    let mut out = BlobFiles::default();
    walk(&data.join("blobs").join("sha256"), &mut out);
    out
}

/// Every digest something in the catalogue names as a blob: the blob rows (instances, their
/// metadata, quarantined originals, job outputs, trial files) and the trial locks' file inputs.
async fn references(db: &Db) -> HashSet<String> {
    let mut names: HashSet<String> = strings(db, "SELECT sha256 FROM blobs")
        .await
        .into_iter()
        .collect();
    for lock in strings(db, "SELECT lock_json FROM trial_locks").await {
        let b = lock.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let run = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if run == 64 {
                names.insert(lock[i..i + 64].to_ascii_lowercase());
            }
            i += run.max(1);
        }
    }
    names
}

/// Files in the blob folder older than `before` that nothing references, and staging files
/// older than it.
async fn orphans(data: &Path, db: &Db, before: SystemTime) -> Vec<String> {
    // Listed first: a reference committed after the listing only makes the check stricter.
    let files = blob_files(data);
    let known = references(db).await;
    let mut out: Vec<String> = files
        .blobs
        .iter()
        .filter(|(sha, (_, at))| *at < before && !known.contains(*sha))
        .map(|(sha, (path, _))| format!("unreferenced blob {sha} ({})", path.display()))
        .collect();
    out.extend(
        files
            .others
            .iter()
            .filter(|(_, at)| *at < before)
            .map(|(path, _)| format!("left-over file {}", path.display())),
    );
    out
}

/// Catalogue rows that name a blob the folder does not hold.
async fn dangling(db: &Db, files: &BlobFiles) -> Vec<String> {
    let mut out = Vec::new();
    for (what, sql) in [
        ("blobs", "SELECT sha256 FROM blobs"),
        ("instances", "SELECT blob_sha256 FROM instances"),
        (
            "instances (metadata)",
            "SELECT metadata_sha256 FROM instances WHERE metadata_sha256 IS NOT NULL",
        ),
        ("quarantine", "SELECT blob_sha256 FROM quarantine"),
        ("trials", "SELECT config_sha256 FROM trials"),
    ] {
        for sha in strings(db, sql).await {
            if !files.blobs.contains_key(&sha) {
                out.push(format!(
                    "a row of {what} names blob {sha}, which is missing"
                ));
            }
        }
    }
    out
}

/// Hashes every blob file not hashed before: its bytes must hash to its name.
fn verify_blob_bytes(files: &BlobFiles, verified: &mut HashSet<String>, when: &str) {
    for (sha, (path, _)) in &files.blobs {
        if verified.contains(sha) {
            continue;
        }
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("{when}: {}: {e}", path.display()));
        let actual = Sha256Digest::of(&bytes).to_hex();
        assert_eq!(
            &actual,
            sha,
            "{when}: blob file {} holds bytes whose SHA-256 is {actual}",
            path.display()
        );
        verified.insert(sha.clone());
    }
}

/// With the process down: no row without its blob, every blob file hashing to its name, the
/// audit trail whole. Returns the unreferenced files the kill left (for the restart to sweep).
async fn check_store(data: &Path, verified: &mut HashSet<String>, when: &str) -> usize {
    let db = database(data).await;
    let files = blob_files(data);
    let missing = dangling(&db, &files).await;
    assert!(
        missing.is_empty(),
        "{when}: catalogue rows without their blob in {}: {missing:#?}",
        data.display()
    );
    verify_blob_bytes(&files, verified, when);
    let left = orphans(data, &db, SystemTime::now()).await.len();
    db.close().await;
    let store = Store::open(data, &Default::default()).await.unwrap();
    let report = store.verify_audit().await.unwrap();
    assert!(
        report.ok,
        "{when}: the audit trail of {}: {report:?}",
        data.display()
    );
    store.db.close().await;
    left
}

/// After a restart: nothing older than the process is left unreferenced in the blob folder.
async fn check_swept(data: &Path, p: &Proc, when: &str) {
    let db = database(data).await;
    let left = orphans(data, &db, p.started).await;
    db.close().await;
    assert!(
        left.is_empty(),
        "{when}: after the restart, files in {}/blobs that nothing references \
         (the start should have swept them): {left:#?}",
        data.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Senders

/// An instance to send: its file and its SOP Instance UID.
#[derive(Clone)]
struct Item {
    path: PathBuf,
    uid: String,
}

/// `count` new CT instances of one study, written under `dir`.
fn study(dir: &Path, patient: &str, study: u32, count: u32) -> Vec<Item> {
    std::fs::create_dir_all(dir).unwrap();
    corelab_dicom::synthetic::ct_series(patient, "Doe^Jane", study, count)
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let parsed = corelab_dicom::read::read_bytes(&bytes).unwrap();
            let uid = parsed
                .dataset
                .element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0')
                .to_owned();
            let path = dir.join(format!("{study}-{i:03}.dcm"));
            std::fs::write(&path, bytes).unwrap();
            Item { path, uid }
        })
        .collect()
}

/// One storescu association, its log in a file.
struct Sender {
    child: Child,
    items: Vec<Item>,
    log: PathBuf,
}

/// What a sender saw.
#[derive(Default)]
struct Sent {
    acknowledged: Vec<Item>,
    /// Sent (in part or whole) without a success answer: in flight at the kill, or refused.
    unanswered: Vec<Item>,
}

fn send(port: &str, called: &str, items: Vec<Item>, log: PathBuf) -> Sender {
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new("/usr/bin/storescu")
        .args(["-v", "-aet", "S01PACS", "-aec", called, "127.0.0.1", port])
        .args(items.iter().map(|i| &i.path))
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("/usr/bin/storescu (Debian package dcmtk; .ci/run installs it)");
    Sender { child, items, log }
}

impl Sender {
    /// Waits for storescu (it ends once its peer is gone) and reads its log: `Sending file: F`,
    /// then `Received Store Response (Success)` for each acknowledged file.
    fn finish(mut self) -> Sent {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("storescu did not end; its log: {}", self.log.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = std::fs::read_to_string(&self.log).unwrap();
        let by_path: BTreeMap<String, &Item> = self
            .items
            .iter()
            .map(|i| (i.path.display().to_string(), i))
            .collect();
        let mut out = Sent::default();
        let mut current: Option<&Item> = None;
        for line in log.lines() {
            if let Some(f) = line.split("Sending file: ").nth(1) {
                if let Some(i) = current.take() {
                    out.unanswered.push(i.clone());
                }
                current = by_path.get(f.trim()).copied();
            } else if line.contains("Received Store Response")
                && let Some(i) = current.take()
            {
                if line.contains("(Success)") {
                    out.acknowledged.push(i.clone());
                } else {
                    out.unanswered.push(i.clone());
                }
            }
        }
        if let Some(i) = current.take() {
            out.unanswered.push(i.clone());
        }
        out
    }
}

/// The acknowledged instances of a test: UID → where it was acknowledged.
#[derive(Default)]
struct Acknowledged {
    at: BTreeMap<String, String>,
    /// Not yet read back through the store.
    unread: Vec<String>,
}

impl Acknowledged {
    fn add(&mut self, items: &[Item], when: &str) {
        for i in items {
            if self.at.insert(i.uid.clone(), when.to_owned()).is_none() {
                self.unread.push(i.uid.clone());
            }
        }
    }
}

/// With the process down: every acknowledged instance is catalogued once, as version 1, and
/// those not read before read back through the store with the bytes their blob is named for.
async fn check_acknowledged(data: &Path, trial: &str, acked: &mut Acknowledged, when: &str) {
    let store = Store::open(data, &Default::default()).await.unwrap();
    let mapper = UidMapper::new(store.trial_secret(trial).unwrap());
    let rows = sqlx::query(
        "SELECT i.sop_instance_uid, i.blob_sha256, i.version FROM instances i \
         JOIN trials t ON t.id = i.trial_id WHERE t.trial_key = $1",
    )
    .bind(trial)
    .fetch_all(store.db.pool())
    .await
    .unwrap();
    let mut catalogued: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for r in &rows {
        let (uid, sha, version): (String, String, i64) = (
            r.get("sop_instance_uid"),
            r.get("blob_sha256"),
            r.get("version"),
        );
        assert_eq!(
            version, 1,
            "{when}: instance {uid} was catalogued a second time as a new version \
             (a resend after a kill must be a duplicate)"
        );
        catalogued.insert(uid, (sha, version));
    }
    for (uid, acked_at) in &acked.at {
        assert!(
            catalogued.contains_key(&mapper.map(uid)),
            "{when}: instance {uid}, acknowledged {acked_at}, is not in the catalogue of {}: lost",
            data.display()
        );
    }
    for uid in std::mem::take(&mut acked.unread) {
        let mapped = mapper.map(&uid);
        let bytes = store
            .instance_bytes(trial, &mapped)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{when}: instance {uid}, acknowledged {}, does not read back: {e}",
                    acked.at[&uid]
                )
            });
        assert_eq!(
            Sha256Digest::of(&bytes).to_hex(),
            catalogued[&mapped].0,
            "{when}: instance {uid} read back with bytes that do not hash to its blob's name"
        );
    }
    store.db.close().await;
}

// ---------------------------------------------------------------------------------------------
// (a) The storage SCP under four associations

const STORE_TRIAL: &str = r#"
[trial]
id = "CRASH-STORE"
sponsor = "Example Pharma"
protocol = "EXP-CRASH-1"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

const ASSOCIATIONS: u32 = 4;
const PER_ASSOCIATION: u32 = 10;

fn serve_dicom(data: &Path) -> Proc {
    let p = Proc::start(
        data,
        &[],
        &["serve", "--dicom", "127.0.0.1:0", "--aet", "CORELAB"],
    );
    assert!(p.line.contains("listening"), "{:?}", p.line);
    p
}

#[test]
fn acknowledged_c_stores_of_four_associations_survive_repeated_sigkill_of_the_scp() {
    let s = settings("crash_scale c-store");
    let clock = Instant::now();
    let mut rng = Rng::new(s.seed, 1);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = lab_with_trial(dir.path(), STORE_TRIAL);
    let mut acked = Acknowledged::default();
    let mut verified = HashSet::new();
    let mut next_study = 1u32;
    let mut load = |tag: &str, resend: Vec<Item>| -> Vec<Vec<Item>> {
        (0..ASSOCIATIONS)
            .map(|a| {
                let mut items = if a == 0 { resend.clone() } else { Vec::new() };
                items.extend(study(
                    &dir.path().join("send").join(tag),
                    "MRN-CRASH",
                    next_study,
                    PER_ASSOCIATION,
                ));
                next_study += 1;
                items
            })
            .collect()
    };
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();

    // A load that is not interrupted: how long one takes here.
    let mut server = serve_dicom(&data);
    let began = Instant::now();
    let senders: Vec<Sender> = load("whole", Vec::new())
        .into_iter()
        .enumerate()
        .map(|(a, items)| {
            send(
                &server.port(),
                "CORELAB",
                items,
                logs.join(format!("whole-{a}")),
            )
        })
        .collect();
    for sender in senders {
        let sent = sender.finish();
        assert!(
            sent.unanswered.is_empty(),
            "an uninterrupted load lost nothing"
        );
        acked.add(&sent.acknowledged, "in the uninterrupted load");
    }
    let whole = began.elapsed();
    eprintln!(
        "an uninterrupted load of {} instances: {whole:?}",
        acked.at.len()
    );

    let (mut in_flight, mut left_by_kills, mut resent) = (0usize, 0usize, 0usize);
    let mut unanswered: Vec<Item> = Vec::new();
    for it in 0..s.iterations {
        let when = format!("kill {it} (seed {})", s.seed);
        // A PACS sends again what got no answer, some of the time.
        let resend = if rng.below(2) == 0 {
            resent += unanswered.len();
            std::mem::take(&mut unanswered)
        } else {
            unanswered.clear();
            Vec::new()
        };
        let port = server.port();
        let senders: Vec<Sender> = load(&format!("{it}"), resend)
            .into_iter()
            .enumerate()
            .map(|(a, items)| send(&port, "CORELAB", items, logs.join(format!("{it}-{a}"))))
            .collect();
        std::thread::sleep(rng.moment(whole));
        server.sigkill();
        for (a, sender) in senders.into_iter().enumerate() {
            let sent = sender.finish();
            acked.add(
                &sent.acknowledged,
                &format!("by association {a} before kill {it}"),
            );
            in_flight += sent.unanswered.len();
            unanswered.extend(sent.unanswered);
        }
        rt.block_on(async {
            check_acknowledged(&data, "CRASH-STORE", &mut acked, &when).await;
            left_by_kills += check_store(&data, &mut verified, &when).await;
        });
        server = serve_dicom(&data);
        rt.block_on(check_swept(&data, &server, &when));
    }
    server.sigkill();
    // Every blob hashed again, every acknowledged instance there.
    rt.block_on(async {
        acked.unread = acked.at.keys().cloned().collect();
        check_acknowledged(&data, "CRASH-STORE", &mut acked, "the end").await;
        check_store(&data, &mut HashSet::new(), "the end").await;
    });
    let audit = json(&corelab(&data, &["--json", "audit", "verify"]));
    assert_eq!(audit["ok"], true, "{audit:#}");
    let status = json(&corelab(&data, &["--json", "status"]));
    let duplicates = common::count(&common::audit_actions(&data), "instance.duplicate");
    eprintln!(
        "crash_scale c-store: {} of {} kills survived; {ASSOCIATIONS} associations x \
         {PER_ASSOCIATION} instances a load; {} instances acknowledged, all catalogued and \
         hash-correct ({} catalogued); {in_flight} unanswered at a kill ({resent} sent again, \
         {duplicates} of them already stored); {left_by_kills} unreferenced files left by the \
         kills, all swept at the restart; {} audit events verified; seed {}; {:.0} s",
        s.iterations,
        s.iterations,
        acked.at.len(),
        status["instances"],
        audit["events"],
        s.seed,
        clock.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// (b) Jobs under serve --workers

/// A program that takes a moment: sleeps, copies its input as its image, reports two numbers.
const PROGRAM: &str = r#"#!/bin/sh
sleep 0.15
cp "$1" "$2/copy.nii.gz"
printf '{"measurements":[{"name":"input-bytes","value":%s,"unit":"By"},{"name":"one","value":1,"unit":"1"}]}' "$(wc -c < "$1")" > "$2/result.json"
"#;
const MEASUREMENTS: i64 = 2;

fn jobs_trial(algorithms: usize, program: &Path) -> String {
    let sha = Sha256Digest::of(PROGRAM.as_bytes()).to_hex();
    let mut t = String::from(
        r#"
[trial]
id = "CRASH-JOBS"
sponsor = "Example Pharma"
protocol = "EXP-CRASH-2"
phase = "II"

[[sites]]
id = "S01"
name = "University Hospital A"

[[sites]]
id = "S02"
name = "Clinique du Parc B"

[deid]
options = ["retain-long-modified-dates", "clean-descriptors"]

[[visits]]
name = "baseline"
day = 0
window_days = 3
required = ["T1w"]

[[visits]]
name = "M12"
day = 365
window_days = 14
required = ["T1w"]

[qc]
unmatched = "ignore"

[roles.T1w.match]
modality = ["MR"]
mr_acquisition_type = "3D"
"#,
    );
    for k in 0..algorithms {
        t.push_str(&format!(
            r#"
[[algorithms]]
id = "ext.crash-{k:03}"
version = "1.0.0"
inputs = {{ image = "T1w" }}

[algorithms.program]
path = "{}"
sha256 = "{sha}"
args = ["{{input:image}}", "{{output}}"]
timeout_s = 60
measurements = [{{ name = "input-bytes", unit = "By" }}, {{ name = "one", unit = "1" }}]
images = ["copy"]
"#,
            program.display()
        ));
    }
    t
}

/// The queue as the database holds it.
#[derive(Default)]
struct Queue {
    /// id → (state, attempts, error).
    jobs: BTreeMap<i64, (String, i64, Option<String>)>,
}

impl Queue {
    async fn read(db: &Db) -> Queue {
        let rows = sqlx::query("SELECT id, state, attempts, error FROM jobs")
            .fetch_all(db.pool())
            .await
            .unwrap();
        Queue {
            jobs: rows
                .iter()
                .map(|r| {
                    (
                        r.get::<i64, _>("id"),
                        (
                            r.get::<String, _>("state"),
                            r.get::<i64, _>("attempts"),
                            r.get::<Option<String>, _>("error"),
                        ),
                    )
                })
                .collect(),
        }
    }

    fn in_state(&self, state: &str) -> Vec<i64> {
        self.jobs
            .iter()
            .filter(|(_, (s, _, _))| s == state)
            .map(|(id, _)| *id)
            .collect()
    }

    /// No job failed (a job killed mid-run is taken over, not failed).
    fn none_failed(&self, when: &str) {
        for (id, (state, attempts, error)) in &self.jobs {
            assert!(
                state != "failed" && state != "cancelled",
                "{when}: job {id} is {state} after {attempts} attempts: {error:?}"
            );
        }
    }
}

/// With the server down: each succeeded job has exactly one `job.succeed`, its measurements once
/// and its image blob; a job not succeeded has neither.
async fn check_jobs(data: &Path, when: &str) -> Queue {
    let db = database(data).await;
    let queue = Queue::read(&db).await;
    queue.none_failed(when);
    let counts = |sql: &'static str| {
        let db = &db;
        async move {
            sqlx::query(sql)
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
                .collect::<BTreeMap<String, i64>>()
        }
    };
    let succeeded = counts(
        "SELECT object_id, COUNT(*) FROM audit_events WHERE action = 'job.succeed' GROUP BY object_id",
    )
    .await;
    let measured = counts(
        "SELECT CAST(job_id AS TEXT), COUNT(*) FROM measurements WHERE job_id IS NOT NULL GROUP BY job_id",
    )
    .await;
    let results = sqlx::query("SELECT id, result FROM jobs WHERE result IS NOT NULL")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let blobs: HashSet<String> = strings(&db, "SELECT sha256 FROM blobs")
        .await
        .into_iter()
        .collect();
    for (id, (state, attempts, _)) in &queue.jobs {
        let events = succeeded
            .get(&format!("CRASH-JOBS/{id}"))
            .copied()
            .unwrap_or(0);
        let rows = measured.get(&id.to_string()).copied().unwrap_or(0);
        let expected = if state == "succeeded" {
            (1, MEASUREMENTS)
        } else {
            (0, 0)
        };
        assert_eq!(
            (events, rows),
            expected,
            "{when}: job {id} ({state}, {attempts} attempts) has {events} job.succeed events and \
             {rows} measurement rows"
        );
    }
    for r in &results {
        let id: i64 = r.get("id");
        let result: serde_json::Value =
            serde_json::from_str(&r.get::<String, _>("result")).unwrap();
        let image = result["images"][0]["sha256"].as_str().unwrap_or_default();
        assert!(
            blobs.contains(image),
            "{when}: job {id}'s image {image:?} is not a catalogued blob: {result}"
        );
    }
    db.close().await;
    queue
}

fn serve_workers(data: &Path, tmp: &Path) -> Proc {
    let p = Proc::start(
        data,
        &[("TMPDIR".to_owned(), tmp.display().to_string())],
        &[
            "serve",
            "--workers",
            "2",
            "--lease-secs",
            "1",
            "--plan-every",
            "3600",
        ],
    );
    assert!(p.line.starts_with("workers: 2"), "{:?}", p.line);
    p
}

/// Polls the queue until `done` says so (with the server running).
fn wait_for(
    rt: &tokio::runtime::Runtime,
    db: &Db,
    limit: Duration,
    when: &str,
    mut done: impl FnMut(&Queue) -> bool,
) -> Queue {
    let deadline = Instant::now() + limit;
    loop {
        let q = rt.block_on(Queue::read(db));
        q.none_failed(when);
        if done(&q) {
            return q;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: the queue did not get there in {limit:?}: {:?}",
            q.jobs
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_job_killed_mid_run_with_its_server_is_completed_exactly_once_after_restart() {
    let s = settings("crash_scale jobs");
    let clock = Instant::now();
    let mut rng = Rng::new(s.seed, 2);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let phantom = dir.path().join("phantom");
    make_phantom(
        dir.path(),
        "ms-lesions",
        &phantom,
        &["--subjects", "2", "--voxel-mm", "8"],
    );
    let program = dir.path().join("program.sh");
    std::fs::write(&program, PROGRAM).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A kill cuts short the jobs of both workers, which run again first after the restart: a
    // few jobs a kill, so enough algorithms (× 4 visits) that the queue outlasts the kills.
    let algorithms = s.iterations + 2;
    let data = lab_with_trial(dir.path(), &jobs_trial(algorithms, &program));
    // The T1-weighted series only: the planner of each restarted server judges fewer series.
    for (site, subject) in [("S01", "MS-001"), ("S02", "MS-002")] {
        let series = ["V1", "V2"].map(|v| phantom.join(subject).join(v).join("T1w"));
        ok(&corelab(
            &data,
            &[
                "import",
                "CRASH-JOBS",
                "--site",
                site,
                series[0].to_str().unwrap(),
                series[1].to_str().unwrap(),
            ],
        ));
    }
    ok(&corelab(&data, &["trial", "lock", "CRASH-JOBS"]));
    let planned = json(&corelab(&data, &["--json", "run", "CRASH-JOBS"]));
    let total = planned["enqueued"].as_u64().unwrap() as usize;
    assert_eq!(total, algorithms * 4, "{planned:#}");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let db = rt.block_on(database(&data));
    let mut verified = HashSet::new();

    let mut server = serve_workers(&data, &tmp);
    // How long a job takes here, from the first one's claim to its completion.
    let began = Instant::now();
    wait_for(&rt, &db, Duration::from_secs(120), "the first job", |q| {
        !q.in_state("succeeded").is_empty()
    });
    let job_time = began.elapsed();
    eprintln!("the first job: {job_time:?}");

    let mut killed: BTreeSet<i64> = BTreeSet::new();
    let (mut kills_mid_job, mut left_by_kills) = (0usize, 0usize);
    let mut waiting: Vec<i64> = Vec::new();
    for it in 0..s.iterations {
        let when = format!("kill {it} (seed {})", s.seed);
        // The jobs the last kill cut short are completed (by the restarted server, once their
        // lease has run out) before the next kill.
        wait_for(&rt, &db, Duration::from_secs(120), &when, |q| {
            waiting.iter().all(|id| q.jobs[id].0 == "succeeded")
        });
        std::thread::sleep(rng.moment(job_time));
        wait_for(&rt, &db, Duration::from_secs(60), &when, |q| {
            assert!(
                !q.in_state("queued").is_empty() || !q.in_state("running").is_empty(),
                "{when}: the queue ran dry; more algorithms are needed"
            );
            !q.in_state("running").is_empty()
        });
        server.sigkill();
        let queue = rt.block_on(async {
            let q = check_jobs(&data, &when).await;
            left_by_kills += check_store(&data, &mut verified, &when).await;
            q
        });
        waiting = queue.in_state("running");
        if !waiting.is_empty() {
            kills_mid_job += 1;
        }
        killed.extend(&waiting);
        // The restarted server takes the cut jobs over first, once their leases have run out.
        let expiry = rt.block_on(strings(
            &db,
            "SELECT lease_until FROM jobs WHERE state = 'running' AND lease_until IS NOT NULL",
        ));
        if let Some(last) = expiry.iter().max() {
            let until = chrono::DateTime::parse_from_rfc3339(last).unwrap();
            let left = (until.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default();
            std::thread::sleep(left + Duration::from_millis(20));
        }
        server = serve_workers(&data, &tmp);
        rt.block_on(check_swept(&data, &server, &when));
    }
    // The rest of the queue, then every job once.
    wait_for(&rt, &db, Duration::from_secs(300), "the end", |q| {
        q.in_state("succeeded").len() == total
    });
    server.sigkill();
    rt.block_on(async {
        check_jobs(&data, "the end").await;
        check_store(&data, &mut HashSet::new(), "the end").await;
        db.close().await;
    });
    let audit = json(&corelab(&data, &["--json", "audit", "verify"]));
    assert_eq!(audit["ok"], true, "{audit:#}");
    let actions = common::audit_actions(&data);
    assert_eq!(common::count(&actions, "job.succeed"), total);
    let takeovers = common::count(&actions, "job.start").saturating_sub(total);
    let scratch_left = std::fs::read_dir(&tmp).unwrap().count();
    eprintln!(
        "crash_scale jobs: {} of {} kills survived, {kills_mid_job} of them with jobs running; \
         {total} jobs ({algorithms} locked external algorithms x 4 visits, 2 workers, 1 s lease) \
         each completed exactly once, one set of {MEASUREMENTS} measurements and one job.succeed \
         each; {} jobs killed mid-run, {takeovers} claims taken over after a kill; \
         {left_by_kills} unreferenced files left by the kills, all swept at the restart; \
         {scratch_left} scratch folders of killed programs left in TMPDIR; {} audit events \
         verified; seed {}; {:.0} s",
        s.iterations,
        s.iterations,
        killed.len(),
        audit["events"],
        s.seed,
        clock.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// (c) The site gateway's outbox

const GATEWAY_TRIAL: &str = r#"
[trial]
id = "CRASH-GW"
sponsor = "Example Pharma"
protocol = "EXP-CRASH-3"
phase = "II"

[[sites]]
id = "S01"
name = "Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

const GATEWAY_BATCH: u32 = 12;

fn gateway(data: &Path, hub: &str, token: &Path) -> Proc {
    let p = Proc::start(
        data,
        &[],
        &[
            "gateway",
            "--hub",
            hub,
            "--token-file",
            token.to_str().unwrap(),
            "--dicom",
            "127.0.0.1:0",
            "--aet",
            "GW",
            "--max-backoff",
            "1",
        ],
    );
    assert!(p.line.contains("listening"), "{:?}", p.line);
    p
}

async fn pending(db: &Db) -> i64 {
    number(
        db,
        "SELECT COUNT(*) FROM instances i WHERE NOT EXISTS \
         (SELECT 1 FROM forwarding f WHERE f.instance_id = i.id)",
    )
    .await
}

#[test]
fn every_instance_leaves_the_gateway_outbox_once_though_the_gateway_is_killed_repeatedly() {
    let s = settings("crash_scale gateway");
    let clock = Instant::now();
    let mut rng = Rng::new(s.seed, 3);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    for d in ["hub", "gw"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let hub_data = lab_with_trial(&dir.path().join("hub"), GATEWAY_TRIAL);
    let gw_data = lab_with_trial(&dir.path().join("gw"), GATEWAY_TRIAL);
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "gateway password\n").unwrap();
    let token = dir.path().join("gw.token");
    ok(&corelab(
        &hub_data,
        &[
            "user",
            "add",
            "gw",
            "--name",
            "Site gateway",
            "--grant",
            "site@CRASH-GW/S01",
            "--password-file",
            pw.to_str().unwrap(),
        ],
    ));
    ok(&corelab(
        &hub_data,
        &[
            "user",
            "token",
            "gw",
            "--name",
            "gateway",
            "--out",
            token.to_str().unwrap(),
        ],
    ));
    let hub = Proc::start(&hub_data, &[], &["serve", "--http", "127.0.0.1:0"]);
    let hub_url = format!("http://127.0.0.1:{}", hub.port());
    let gw_db = rt.block_on(database(&gw_data));
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut acked = Acknowledged::default();
    let mut verified = HashSet::new();
    let mut next_study = 1u32;
    let mut batch = |tag: &str| {
        next_study += 1;
        study(
            &dir.path().join("send").join(tag),
            "MRN-GW",
            next_study,
            GATEWAY_BATCH,
        )
    };

    // One batch received and forwarded without a kill: how long that takes here.
    let mut gw = gateway(&gw_data, &hub_url, &token);
    let began = Instant::now();
    let sent = send(&gw.port(), "GW", batch("whole"), logs.join("whole")).finish();
    assert!(sent.unanswered.is_empty());
    acked.add(&sent.acknowledged, "in the uninterrupted batch");
    while rt.block_on(pending(&gw_db)) > 0 {
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "the outbox did not empty"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let whole = began.elapsed();
    eprintln!("one batch of {GATEWAY_BATCH} received and forwarded: {whole:?}");

    let (mut with_backlog, mut left_by_kills, mut in_flight) = (0usize, 0usize, 0usize);
    for it in 0..s.iterations {
        let when = format!("gateway kill {it} (seed {})", s.seed);
        // Mostly a new batch arrives while the backlog leaves; sometimes only the backlog.
        let sender = (rng.below(4) != 0).then(|| {
            send(
                &gw.port(),
                "GW",
                batch(&it.to_string()),
                logs.join(it.to_string()),
            )
        });
        std::thread::sleep(rng.moment(whole));
        gw.sigkill();
        if let Some(sender) = sender {
            let sent = sender.finish();
            acked.add(
                &sent.acknowledged,
                &format!("by the gateway before kill {it}"),
            );
            in_flight += sent.unanswered.len();
        }
        rt.block_on(async {
            if pending(&gw_db).await > 0 {
                with_backlog += 1;
            }
            check_acknowledged(&gw_data, "CRASH-GW", &mut acked, &when).await;
            left_by_kills += check_store(&gw_data, &mut verified, &when).await;
        });
        gw = gateway(&gw_data, &hub_url, &token);
        rt.block_on(check_swept(&gw_data, &gw, &when));
    }
    // The gateway empties its outbox.
    let deadline = Instant::now() + Duration::from_secs(180);
    while rt.block_on(pending(&gw_db)) > 0 {
        assert!(
            Instant::now() < deadline,
            "the outbox did not empty after the last kill"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.sigkill();
    hub.sigkill();
    rt.block_on(gw_db.close());

    let status = json(&corelab(&gw_data, &["--json", "gateway", "status"]));
    let at_gateway = json(&corelab(&gw_data, &["--json", "status"]))["instances"]
        .as_i64()
        .unwrap();
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(
        status["failed"],
        serde_json::json!([]),
        "dead letters: {status}"
    );
    assert_eq!(status["sent"], at_gateway, "{status}");
    // At the hub: each instance the gateway holds, once.
    let hub_actions = common::audit_actions(&hub_data);
    let at_hub = json(&corelab(&hub_data, &["--json", "status"]))["instances"]
        .as_i64()
        .unwrap();
    assert_eq!(
        at_hub, at_gateway,
        "instances at the hub and at the gateway"
    );
    assert_eq!(
        common::count(&hub_actions, "instance.store") as i64,
        at_gateway
    );
    assert_eq!(common::count(&hub_actions, "instance.conflict"), 0);
    let duplicates = common::count(&hub_actions, "instance.duplicate");
    rt.block_on(async {
        acked.unread = acked.at.keys().cloned().collect();
        check_acknowledged(&gw_data, "CRASH-GW", &mut acked, "the end").await;
        check_store(&gw_data, &mut HashSet::new(), "the gateway at the end").await;
        let gw_store = Store::open(&gw_data, &Default::default()).await.unwrap();
        let gw_map = UidMapper::new(gw_store.trial_secret("CRASH-GW").unwrap());
        gw_store.db.close().await;
        drop(gw_store);
        let hub_store = Store::open(&hub_data, &Default::default()).await.unwrap();
        let hub_map = UidMapper::new(hub_store.trial_secret("CRASH-GW").unwrap());
        let at_hub: HashSet<String> =
            strings(&hub_store.db, "SELECT sop_instance_uid FROM instances")
                .await
                .into_iter()
                .collect();
        hub_store.db.close().await;
        for (uid, when) in &acked.at {
            let forwarded = gw_map.map(uid);
            assert!(
                at_hub.contains(&hub_map.map(&forwarded)) || at_hub.contains(&forwarded),
                "instance {uid}, acknowledged {when}, never reached the hub"
            );
        }
        check_store(&hub_data, &mut HashSet::new(), "the hub at the end").await;
        let db = database(&hub_data).await;
        let left = orphans(&hub_data, &db, SystemTime::now()).await;
        assert!(left.is_empty(), "the hub's blob folder: {left:#?}");
        db.close().await;
    });
    for d in [&hub_data, &gw_data] {
        let v = json(&corelab(d, &["--json", "audit", "verify"]));
        assert_eq!(v["ok"], true, "{v}");
    }
    eprintln!(
        "crash_scale gateway: {} of {} kills survived, {with_backlog} of them with the outbox \
         not empty; {} instances acknowledged by the gateway ({at_gateway} catalogued there), \
         {in_flight} unanswered at a kill; every one at the hub once ({at_hub} stored, \
         {duplicates} sent again after a kill and acknowledged as duplicates, no conflict), \
         outbox empty, no dead letter; {left_by_kills} unreferenced files left by the kills, \
         all swept at the restart; seed {}; {:.0} s",
        s.iterations,
        s.iterations,
        acked.at.len(),
        s.seed,
        clock.elapsed().as_secs_f64()
    );
}
