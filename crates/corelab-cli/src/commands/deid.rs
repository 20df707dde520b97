//! `corelab deid IN OUT`: de-identify files and folders, several at a time, each written whole or
//! not at all; a file that fails is reported and the others go on.

use crate::cli::{DeidArgs, Global};
use crate::exit::ERROR;
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_dicom::deid::profile::ProfileOption;
use corelab_dicom::deid::{
    ClinicalTrial, Deidentifier, OriginalPhi, OriginalSubject, Subject, SubjectResolver,
    TrialSecret, deidentify_file, read_dicom, verify_dataset,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corelab_ingest::trial::DATE_SHIFT_DAYS;

#[derive(Serialize)]
struct Failed {
    path: String,
    reason: String,
}

#[derive(Serialize)]
struct Summary {
    processed: usize,
    flagged: usize,
    failed: Vec<Failed>,
    /// Files flagged for pixel review, with why.
    flags: Vec<Failed>,
}

pub async fn run(g: &Global, a: &DeidArgs) -> Result<u8> {
    if a.profile != "basic" {
        bail!(
            "unknown profile {:?}; the only profile is basic (DICOM PS3.15 Table E.1-1)",
            a.profile
        );
    }
    let parse = |names: &[String]| {
        names
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| o.trim().parse::<ProfileOption>())
            .collect::<Result<Vec<_>, _>>()
    };
    let options = parse(&a.options)?;
    let (d, trial) = match &a.trial {
        Some(trial) => {
            if !a.options.is_empty() {
                bail!(
                    "with --trial the options are the trial's own ([deid] options in its trial.toml), so that every site applies the same; drop --option"
                );
            }
            let ctx = TrialContext::load(g, trial).await?;
            (ctx.rules.deid.clone(), Some(ctx))
        }
        None if a.verify => {
            // Verification needs no secret: it looks for what should not be there.
            let d = Deidentifier::new(options, TrialSecret::from_bytes([0; 32]), DATE_SHIFT_DAYS)?;
            (d, None)
        }
        None => {
            let secret = read_secret(a.secret_file.as_deref())?;
            (Deidentifier::new(options, secret, DATE_SHIFT_DAYS)?, None)
        }
    };
    if a.verify {
        return verify(g, &d, &a.input, a.against.as_deref());
    }
    let Some(output) = a.output.as_deref() else {
        bail!("deid needs OUT, or --verify");
    };
    let d = match &trial {
        Some(ctx) => {
            let Some(site) = a.site.as_deref() else {
                bail!(
                    "deid --trial {} needs --site SITE: the site the objects come from",
                    ctx.id
                );
            };
            d.with_subjects(Arc::new(ctx.subjects(site, a.time_point.as_deref())?))
        }
        None => d,
    };
    let jobs = plan(&a.input, output)?;
    let code = tokio::task::block_in_place(|| process(g, &d, &jobs))?;
    if let Some(ctx) = &trial {
        // Sign the new subjects' events at once.
        ctx.ingestor.store().checkpoint().await?;
    }
    Ok(code)
}

fn process(g: &Global, d: &Deidentifier, jobs: &[(PathBuf, PathBuf)]) -> Result<u8> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(jobs.len()));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(jobs.len().max(1));
    let bar = progress_bar(g, jobs.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((input, output)) = jobs.get(i) else {
                        break;
                    };
                    let r = output
                        .parent()
                        .map(std::fs::create_dir_all)
                        .transpose()
                        .map_err(|e| format!("{}: cannot create folder: {e}", output.display()))
                        .and_then(|_| deidentify_file(d, input, output).map_err(|e| e.to_string()));
                    if let Ok(mut v) = results.lock() {
                        v.push((input.clone(), r));
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = Summary {
        processed: 0,
        flagged: 0,
        failed: Vec::new(),
        flags: Vec::new(),
    };
    for (path, r) in results {
        match r {
            Ok(outcome) => {
                summary.processed += 1;
                if let Some(why) = outcome.burned_in_risk {
                    summary.flagged += 1;
                    let reason = match &outcome.blacked_out {
                        Some(done) => format!("{why}; blacked out by {done}"),
                        None => why,
                    };
                    summary.flags.push(Failed {
                        path: path.display().to_string(),
                        reason,
                    });
                }
            }
            Err(reason) => summary.failed.push(Failed {
                path: path.display().to_string(),
                reason,
            }),
        }
    }
    emit(g.json, &summary, |s| {
        let mut out = format!(
            "de-identified {} file{}; {} flagged for burned-in text review; {} failed",
            s.processed,
            if s.processed == 1 { "" } else { "s" },
            s.flagged,
            s.failed.len()
        );
        for f in &s.failed {
            out.push_str(&format!("\n  failed: {}", f.reason));
        }
        out
    })?;
    Ok(if summary.failed.is_empty() { 0 } else { ERROR })
}

/// `corelab deid --verify DIR [--against ORIG]`.
fn verify(g: &Global, d: &Deidentifier, dir: &Path, against: Option<&Path>) -> Result<u8> {
    // Each output is checked against its own original where the trees mirror each other (as
    // `corelab deid` writes them), else against the values of every original: a shifted date of one
    // subject can equal a real date of another, so the per-file check is the precise one.
    let collect = |files: &[PathBuf]| {
        let mut phi = OriginalPhi::default();
        for file in files {
            // Originals that cannot be read add nothing; they were refused at de-identification too.
            if let Ok((obj, _)) = read_dicom(file) {
                phi.collect(&obj, d);
            }
        }
        phi
    };
    let union = match against {
        Some(orig) => Some(collect(&list(orig)?)),
        None => None,
    };
    let dir_is_file = std::fs::metadata(dir).map(|m| m.is_file()).unwrap_or(false);
    let mut findings = Vec::new();
    for file in list(dir)? {
        let shown = file.display().to_string();
        let own = against.and_then(|orig| {
            let twin = if dir_is_file {
                orig.to_owned()
            } else {
                orig.join(file.strip_prefix(dir).ok()?)
            };
            twin.is_file().then(|| collect(&[twin]))
        });
        let phi = own.as_ref().or(union.as_ref());
        match read_dicom(&file) {
            Ok((obj, _)) => findings.extend(
                verify_dataset(&obj, d, phi)
                    .iter()
                    .map(|f| f.to_json(&shown)),
            ),
            Err(e) => findings.push(
                serde_json::json!({"path": shown, "tag": "", "value": "", "why": e.to_string()}),
            ),
        }
    }
    let doc = serde_json::json!({"ok": findings.is_empty(), "findings": findings});
    emit(g.json, &doc, |_| {
        if findings.is_empty() {
            "no residual identifying information found".to_owned()
        } else {
            findings
                .iter()
                .map(|f| {
                    format!(
                        "{}  {}  {:?}  {}",
                        f["path"].as_str().unwrap_or(""),
                        f["tag"].as_str().unwrap_or(""),
                        f["value"].as_str().unwrap_or(""),
                        f["why"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    })?;
    Ok(if findings.is_empty() {
        0
    } else {
        crate::exit::CHECK_FAILED
    })
}

/// Every file under `path` (or `path` itself), sorted.
fn list(path: &Path) -> Result<Vec<PathBuf>> {
    if std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .is_file()
    {
        return Ok(vec![path.to_owned()]);
    }
    corelab_ingest::files::files_under(path)
        .with_context(|| format!("cannot list {}", path.display()))
}

/// The trial secret from its file: 64 hexadecimal characters.
fn read_secret(path: Option<&Path>) -> Result<TrialSecret> {
    let Some(path) = path else {
        bail!(
            "deid needs --secret-file FILE holding the trial's secret (64 hexadecimal characters, e.g. from `openssl rand -hex 32`); the same secret gives the same UIDs and date shifts at every site"
        );
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: expected 64 hexadecimal characters: {e}",
            path.display()
        )
    })?;
    Ok(TrialSecret::from_bytes(bytes))
}

/// Pairs of (input file, output file): one for a file, the mirrored tree for a folder.
fn plan(input: &Path, output: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let meta =
        std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
    if meta.is_file() {
        return Ok(vec![(input.to_owned(), output.to_owned())]);
    }
    let (inp, out) = (absolute(input), absolute(output));
    if out.starts_with(&inp) || inp.starts_with(&out) {
        bail!(
            "output {} must not be inside input {} or contain it",
            output.display(),
            input.display()
        );
    }
    Ok(list(input)?
        .into_iter()
        .filter_map(|f| {
            f.strip_prefix(input)
                .ok()
                .map(|rel| (f.clone(), output.join(rel)))
        })
        .collect())
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_owned())
    })
}

/// A trial of this installation, as de-identification needs it.
struct TrialContext {
    id: String,
    ingestor: Arc<corelab_ingest::Ingestor>,
    rules: Arc<corelab_ingest::TrialRules>,
}

impl TrialContext {
    async fn load(g: &Global, trial: &str) -> Result<Self> {
        let store = Arc::new(super::open(g).await?);
        let ingestor = Arc::new(corelab_ingest::Ingestor::new(store, &super::actor(g)));
        let rules = ingestor.rules(trial).await?;
        Ok(Self {
            id: trial.to_owned(),
            ingestor,
            rules,
        })
    }

    fn subjects(&self, site: &str, time_point: Option<&str>) -> Result<TrialSubjects> {
        let Some(module) = self.rules.clinical_trial(site, time_point) else {
            bail!(
                "trial {} has no site {site:?} (sites: {})",
                self.id,
                self.rules.site_ids().join(", ")
            );
        };
        Ok(TrialSubjects {
            ingestor: self.ingestor.clone(),
            rules: self.rules.clone(),
            runtime: tokio::runtime::Handle::current(),
            site: site.to_owned(),
            module,
        })
    }
}

/// Subjects from the catalogue, through the ingest pipeline's linking (found or created, sealed,
/// then remembered), called from the de-identification threads.
#[derive(Debug)]
struct TrialSubjects {
    ingestor: Arc<corelab_ingest::Ingestor>,
    rules: Arc<corelab_ingest::TrialRules>,
    runtime: tokio::runtime::Handle,
    site: String,
    module: ClinicalTrial,
}

impl SubjectResolver for TrialSubjects {
    fn resolve(&self, original: &OriginalSubject) -> std::result::Result<Subject, String> {
        if original.patient_id.trim().is_empty() {
            return Err(
                "the object has no PatientID (0010,0020), so it cannot be linked to a trial subject"
                    .into(),
            );
        }
        let id = self
            .runtime
            .block_on(self.ingestor.subject_of(&self.rules, &self.site, original))
            .map_err(|e| e.to_string())?;
        Ok(Subject {
            id,
            trial: Some(self.module.clone()),
        })
    }
}

/// A progress bar on the terminal only: never with --json, nor when stderr is a log file.
pub fn progress_bar(g: &Global, len: usize) -> indicatif::ProgressBar {
    if !g.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(len as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} files  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    } else {
        indicatif::ProgressBar::hidden()
    }
}
