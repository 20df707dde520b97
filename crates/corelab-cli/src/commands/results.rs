//! `corelab results`: a trial's endpoint dataset, written and audited.

use super::open;
use super::register::write_atomically;
use crate::cli::{Global, ResultsArgs, ResultsFormat};
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_core::Sha256Digest;
use corelab_export::endpoints::{self, Format};
use corelab_store::NewEvent;
use serde_json::json;
use std::path::{Path, PathBuf};

fn format_of(f: ResultsFormat) -> Option<Format> {
    match f {
        ResultsFormat::Csv => Some(Format::Csv),
        ResultsFormat::Json => Some(Format::Json),
        ResultsFormat::Parquet => Some(Format::Parquet),
        ResultsFormat::Sdtm | ResultsFormat::Dicom | ResultsFormat::Pdf => None,
    }
}

/// What a DICOM export wrote, and the jobs it could not export with the reasons.
pub(super) struct DicomWritten {
    /// The files.
    pub paths: Vec<PathBuf>,
    /// The subject of each file.
    pub subjects: Vec<String>,
    /// `{"job", "algorithm", "why"}` of each job left out.
    pub skipped: Vec<serde_json::Value>,
}

/// Writes `trial`'s DICOM objects (SEG, SR) under `dir` and records it (`results.export`: each
/// object's path, SOP Instance UID and SHA-256, and the jobs left out with the reasons).
pub(super) async fn export_dicom(
    store: &corelab_store::Store,
    actor: &str,
    trial: &str,
    dir: &Path,
) -> Result<DicomWritten> {
    let export = corelab_engine::results::dicom::objects(store, trial).await?;
    let skipped: Vec<serde_json::Value> = export
        .skipped
        .iter()
        .map(|(job, algorithm, why)| json!({"job": job, "algorithm": algorithm, "why": why}))
        .collect();
    let objects = export.objects;
    if objects.is_empty() {
        bail!(
            "trial {trial} has no derived segmentations or measurements to export as DICOM{}",
            export
                .skipped
                .first()
                .map(|(job, a, why)| format!(" (job {job}, {a}: {why})"))
                .unwrap_or_default()
        );
    }
    let mut paths = Vec::with_capacity(objects.len());
    let mut listed = Vec::with_capacity(objects.len());
    for o in &objects {
        let path = dir.join(&o.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_atomically(&path, &o.bytes)?;
        listed.push(json!({"path": o.path, "modality": o.modality, "sop_instance_uid": o.sop_instance_uid, "sha256": Sha256Digest::of(&o.bytes).to_hex()}));
        paths.push(path);
    }
    let subjects = objects.iter().map(|o| o.subject.clone()).collect();
    corelab_engine::results::record_export(
        store,
        actor,
        trial,
        json!({"format": "dicom", "objects": listed, "skipped": skipped}),
    )
    .await?;
    Ok(DicomWritten {
        paths,
        subjects,
        skipped,
    })
}

/// Writes `trial`'s PDF reports into `dir` (`qc.pdf` once QC has run, `SUBJECT.pdf` for each
/// subject with results) and records it (`results.export`: each file's SHA-256).
pub(super) async fn export_pdf(
    store: &corelab_store::Store,
    actor: &str,
    trial: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    use corelab_engine::results::report;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if let Some(qc) = report::qc(store, trial).await? {
        written.push((dir.join("qc.pdf"), corelab_export::report::qc_pdf(&qc)?));
    }
    for s in report::subjects(store, trial).await? {
        let bytes = corelab_export::report::subject_pdf(&s)
            .with_context(|| format!("the report of subject {}", s.subject))?;
        written.push((dir.join(format!("{}.pdf", s.subject)), bytes));
    }
    if written.is_empty() {
        bail!("trial {trial} has no QC evaluation and no results to report yet");
    }
    let mut files = serde_json::Map::new();
    for (path, bytes) in &written {
        write_atomically(path, bytes)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        files.insert(
            name.unwrap_or_default(),
            json!(Sha256Digest::of(bytes).to_hex()),
        );
    }
    corelab_engine::results::record_export(
        store,
        actor,
        trial,
        json!({"format": "pdf", "files": files}),
    )
    .await?;
    Ok(written.into_iter().map(|(p, _)| p).collect())
}

/// Where `--send` sends each file: to `to` (`AE@host:port`), or, when empty, each subject's
/// files to its site's `pacs` (trial.toml); a site without one is an error naming it.
async fn destinations(
    store: &corelab_store::Store,
    trial: &str,
    to: &str,
    paths: &[PathBuf],
    subjects: &[String],
) -> Result<Vec<(String, Vec<PathBuf>)>> {
    if !to.is_empty() {
        let node = corelab_core::DicomNode::new(to)?;
        return Ok(vec![(node.to_string(), paths.to_vec())]);
    }
    let (_, text) = store.trial_file_text(trial).await?;
    let file = corelab_core::TrialFile::parse(&text)?;
    let site_of: std::collections::BTreeMap<String, String> = store
        .trial_series(trial)
        .await?
        .into_iter()
        .map(|s| (s.subject, s.site))
        .collect();
    let mut by_node: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for (path, subject) in paths.iter().zip(subjects) {
        let site = site_of
            .get(subject)
            .with_context(|| format!("subject {subject} has no site in trial {trial}"))?;
        let node = file
            .sites
            .iter()
            .find(|s| s.id.as_str() == site)
            .and_then(|s| s.pacs.as_ref())
            .with_context(|| {
                format!(
                    "site {site} of trial {trial} has no pacs: add pacs = \"AE@host:port\" to its [[sites]] entry, or name a node with --send AE@HOST:PORT"
                )
            })?;
        by_node
            .entry(node.to_string())
            .or_default()
            .push(path.clone());
    }
    Ok(by_node.into_iter().collect())
}

/// Sends `files` to the DICOM node `address` by C-STORE and records it (`results.send`: the
/// node, what it stored and what it refused); fails when the node refused any.
pub(super) async fn send(
    store: &corelab_store::Store,
    actor: &str,
    trial: &str,
    address: &str,
    calling: &str,
    files: &[PathBuf],
) -> Result<usize> {
    let (address_owned, calling_owned, list) =
        (address.to_owned(), calling.to_owned(), files.to_vec());
    let sent = tokio::task::spawn_blocking(move || {
        corelab_server::scu::store_files(&address_owned, &calling_owned, &list)
    })
    .await?
    .map_err(|why| anyhow::anyhow!("sending to {address}: {why}"))?;
    let mut tx = store.begin(actor).await?;
    let mut ev = NewEvent::new("results.send", "trial", trial);
    ev.details = json!({"to": address, "calling": calling, "stored": sent.stored, "failed": sent.failed.iter().map(|(f, status, why)| json!({"file": f, "status": status, "comment": why})).collect::<Vec<_>>()});
    tx.record(ev).await?;
    tx.commit().await?;
    if let Some((file, status, why)) = sent.failed.first() {
        bail!(
            "{address} refused {} of {} objects; the first, {file}, with status {status:#06x}: {why}",
            sent.failed.len(),
            files.len()
        );
    }
    Ok(sent.stored)
}

/// Writes `trial`'s SDTM package into `dir` and records it (`results.export`, the files and
/// their SHA-256); the files written.
pub(super) async fn export_sdtm(
    store: &corelab_store::Store,
    actor: &str,
    trial: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let datasets = corelab_engine::results::sdtm::datasets(store, trial).await?;
    if datasets.is_empty() {
        bail!(
            "trial {trial} has nothing SDTM holds yet: neither neurology measurements (NV) nor signed RECIST 1.1 or RANO reads (TU, TR, RS)"
        );
    }
    let paths = corelab_export::sdtm::write_package(dir, trial, &datasets)?;
    let mut files = serde_json::Map::new();
    for p in &paths {
        let bytes = std::fs::read(p).with_context(|| format!("reading back {}", p.display()))?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        files.insert(
            name.unwrap_or_default(),
            json!(Sha256Digest::of(&bytes).to_hex()),
        );
    }
    corelab_engine::results::record_export(store, actor, trial, json!({"format": "sdtm", "datasets": datasets.iter().map(|d| &d.name).collect::<Vec<_>>(), "files": files})).await?;
    Ok(paths)
}

/// `NAME.EXT` → `NAME.dictionary.csv` beside it.
pub(super) fn dictionary_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "endpoints".into());
    out.with_file_name(format!("{stem}.dictionary.csv"))
}

/// What one export wrote.
pub(super) struct Written {
    /// Rows.
    pub rows: usize,
    /// SHA-256 of the dataset file.
    pub sha256: String,
}

/// Writes `trial`'s endpoint dataset in `format` to `out` and its dictionary beside it, and
/// records the export in the audit trail (`results.export`: format, rows, the file's SHA-256).
pub(super) async fn export(
    store: &corelab_store::Store,
    actor: &str,
    trial: &str,
    format: Format,
    out: &Path,
) -> Result<Written> {
    let rows = corelab_engine::results::endpoints(store, trial).await?;
    let bytes = endpoints::encode(format, trial, &rows)?;
    write_atomically(out, &bytes)?;
    write_atomically(
        &dictionary_path(out),
        endpoints::dictionary_csv().as_bytes(),
    )?;
    let sha256 = Sha256Digest::of(&bytes).to_hex();
    corelab_engine::results::record_export(store, actor, trial, json!({"format": format!("{format:?}").to_lowercase(), "rows": rows.len(), "sha256": sha256})).await?;
    Ok(Written {
        rows: rows.len(),
        sha256,
    })
}

/// `corelab results TRIAL [--format F] [--out PATH]`.
pub async fn run(g: &Global, a: &ResultsArgs) -> Result<u8> {
    let store = open(g).await?;
    if a.send.is_some() && a.format != ResultsFormat::Dicom {
        bail!("--send sends DICOM objects: use it with --format dicom");
    }
    if a.format == ResultsFormat::Dicom {
        let Some(dir) = &a.out else {
            bail!("--format dicom writes a folder of objects: name it with --out DIR");
        };
        let actor = super::actor(g);
        let DicomWritten {
            paths,
            subjects,
            skipped,
        } = export_dicom(&store, &actor, &a.trial, dir).await?;
        for s in &skipped {
            eprintln!(
                "not exported: job {} ({}): {}",
                s["job"],
                s["algorithm"].as_str().unwrap_or_default(),
                s["why"].as_str().unwrap_or_default()
            );
        }
        let mut stored = None;
        if let Some(to) = &a.send {
            let mut n = 0;
            for (node, files) in destinations(&store, &a.trial, to, &paths, &subjects).await? {
                n += send(&store, &actor, &a.trial, &node, &a.calling, &files).await?;
            }
            stored = Some(n);
        }
        let doc = json!({"trial": a.trial, "format": "dicom", "files": paths, "sent": stored, "skipped": skipped});
        emit(g.json, &doc, |_| {
            let mut t = format!(
                "{} DICOM objects of trial {} in {}",
                paths.len(),
                a.trial,
                dir.display()
            );
            if let Some(n) = stored {
                t.push_str(&format!("; {n} stored by the receiving PACS"));
            }
            t
        })?;
        return Ok(0);
    }
    if a.format == ResultsFormat::Pdf {
        let Some(dir) = &a.out else {
            bail!("--format pdf writes a folder of reports: name it with --out DIR");
        };
        let paths = export_pdf(&store, &super::actor(g), &a.trial, dir).await?;
        let doc = json!({"trial": a.trial, "format": "pdf", "files": paths});
        emit(g.json, &doc, |_| {
            format!(
                "{} PDF reports of trial {} in {}",
                paths.len(),
                a.trial,
                dir.display()
            )
        })?;
        return Ok(0);
    }
    let Some(format) = format_of(a.format) else {
        let Some(dir) = &a.out else {
            bail!("--format sdtm writes a folder of datasets: name it with --out DIR");
        };
        let paths = export_sdtm(&store, &super::actor(g), &a.trial, dir).await?;
        let doc = json!({"trial": a.trial, "format": "sdtm", "files": paths});
        emit(g.json, &doc, |_| {
            let names: Vec<String> = paths
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            format!(
                "SDTM of trial {} in {}: {}",
                a.trial,
                dir.display(),
                names.join(", ")
            )
        })?;
        return Ok(0);
    };
    let Some(out) = &a.out else {
        if format == Format::Parquet {
            bail!("--format parquet writes a file: name it with --out PATH");
        }
        let rows = corelab_engine::results::endpoints(&store, &a.trial).await?;
        let bytes = endpoints::encode(format, &a.trial, &rows)?;
        use std::io::Write;
        std::io::stdout()
            .write_all(&bytes)
            .context("writing to standard output")?;
        return Ok(0);
    };
    let written = export(&store, &super::actor(g), &a.trial, format, out).await?;
    let doc = json!({
        "trial": a.trial, "format": format!("{format:?}").to_lowercase(), "rows": written.rows,
        "path": out, "dictionary": dictionary_path(out), "sha256": written.sha256,
    });
    emit(g.json, &doc, |d| {
        format!(
            "{} rows of trial {} written to {} (dictionary: {})",
            d["rows"],
            a.trial,
            out.display(),
            dictionary_path(out).display()
        )
    })?;
    Ok(0)
}
