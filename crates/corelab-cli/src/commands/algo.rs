//! `corelab algorithms` (the catalogue) and `corelab algo run ID --input ROLE=PATH… --out DIR`:
//! one algorithm on files outside any trial (images: NIfTI or a DICOM series folder; a table
//! role: a CSV or JSON document), with its outputs, its result and its W3C
//! PROV-JSON provenance in DIR. DIR is written whole or not at all: into a temporary folder beside
//! it, renamed into place at the end.

use crate::cli::{AlgoCommand, Global};
use crate::output::emit;
use anyhow::{Context, Result, anyhow, bail};
use corelab_algo::provenance::{self, FileEntity, Run};
use corelab_algo::{Document, InputKind, Inputs, ModelFile, Registry, params};
use corelab_core::Sha256Digest;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `corelab algorithms`.
pub async fn list(g: &Global) -> Result<u8> {
    let registry = Registry::builtin();
    let doc: Vec<serde_json::Value> = registry
        .all()
        .map(|a| {
            json!({
                "id": a.id(),
                "version": a.version(),
                "description": a.description(),
                "references": a.references(),
                "inputs": a.inputs(),
                "parameters": a.parameters(),
                "parameters_schema": params::json_schema(&a.parameters()),
                "measurements": a.measurements(),
                "images": a.images(),
            })
        })
        .collect();
    emit(g.json, &doc, |_| {
        registry
            .all()
            .map(|a| format!("{}@{}  {}", a.id(), a.version(), a.description()))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    Ok(0)
}

pub async fn run(g: &Global, c: &AlgoCommand) -> Result<u8> {
    let AlgoCommand::Run {
        id,
        input,
        param,
        out,
    } = c;
    let (json_out, agent) = (g.json, super::actor(g));
    let (id, input, param, out) = (id.clone(), input.clone(), param.clone(), out.clone());
    tokio::task::spawn_blocking(move || run_one(json_out, &agent, &id, &input, &param, &out))
        .await?
}

fn pairs(items: &[String], what: &str) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| anyhow!("{what} {s:?}: write it as NAME=VALUE"))
        })
        .collect()
}

fn run_one(
    json_out: bool,
    agent: &str,
    id: &str,
    input: &[String],
    param: &[String],
    out: &Path,
) -> Result<u8> {
    let registry = Registry::builtin();
    let algorithm = registry.get(id).ok_or_else(|| {
        anyhow!(
            "no algorithm {id:?} (the catalogue: {}; `corelab algorithms` describes them)",
            registry.ids().join(", ")
        )
    })?;
    super::require_empty_folder(out)?;
    let given: BTreeMap<String, String> = pairs(param, "--param")?.into_iter().collect();
    let mut inputs = Inputs::new();
    let mut used = Vec::new();
    for (role, path) in pairs(input, "--input")? {
        if inputs.contains_key(&role) {
            bail!("--input {role} is given twice");
        }
        let path = PathBuf::from(path);
        let kind = algorithm
            .inputs()
            .iter()
            .find(|r| r.role == role)
            .map(|r| r.kind);
        if kind == Some(InputKind::Model) {
            // A model file (ONNX): its bytes, hashed as the file.
            let bytes = std::fs::read(&path)
                .with_context(|| format!("input {role}: cannot read {}", path.display()))?;
            let model = ModelFile::new(&path.display().to_string(), bytes);
            used.push(FileEntity {
                role: role.clone(),
                sha256: model.sha256.clone(),
                path: path.display().to_string(),
            });
            inputs.insert_model(role, model);
            continue;
        }
        if kind == Some(InputKind::Table) {
            // A document role (lesion tables): the file's text, hashed as the file.
            let bytes = std::fs::read(&path)
                .with_context(|| format!("input {role}: cannot read {}", path.display()))?;
            let text = String::from_utf8(bytes.clone()).map_err(|_| {
                anyhow!(
                    "input {role}: {} is not UTF-8 text (a CSV or JSON document)",
                    path.display()
                )
            })?;
            used.push(FileEntity {
                role: role.clone(),
                sha256: Sha256Digest::of(&bytes).to_hex(),
                path: path.display().to_string(),
            });
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let source = name.unwrap_or_else(|| path.display().to_string());
            inputs.insert_document(role, Document::new(&source, text));
            continue;
        }
        let volume = super::volumes::load(&path).with_context(|| format!("input {role}"))?;
        used.push(FileEntity {
            role: role.clone(),
            sha256: input_hash(&path, &volume)?,
            path: path.display().to_string(),
        });
        inputs.insert(role, volume);
    }
    let started = chrono::Utc::now();
    let (params, outputs) = corelab_algo::run(algorithm, &inputs, &given)
        .map_err(|e| anyhow!("{}@{}: {e}", algorithm.id(), algorithm.version()))?;
    let ended = chrono::Utc::now();
    // A network's input monitoring: its warnings on stderr as well as in the document.
    for d in outputs
        .documents
        .iter()
        .filter(|d| d.name == corelab_algo::dl::segment::MONITOR)
    {
        let report: serde_json::Value = serde_json::from_str(&d.text).unwrap_or_default();
        for w in report["drift"]["warnings"].as_array().into_iter().flatten() {
            eprintln!(
                "warning: {}: input outside the model's training distribution: {}",
                algorithm.id(),
                w.as_str().unwrap_or_default()
            );
        }
    }

    // Everything into a temporary folder beside OUT, renamed into place at the end.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".corelab-algo-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    let mut generated = Vec::new();
    let mut files = Vec::new();
    for (role, volume) in &outputs.images {
        let name = format!("{role}.nii.gz");
        let path = staging.path().join(&name);
        corelab_image::nifti_io::write(&path, volume)?;
        let bytes = std::fs::read(&path)?;
        let final_path = out.join(&name);
        generated.push(FileEntity {
            role: role.clone(),
            sha256: Sha256Digest::of(&bytes).to_hex(),
            path: final_path.display().to_string(),
        });
        files.push(json!({"role": role, "path": final_path}));
    }
    let table_specs = algorithm.tables();
    for table in &outputs.tables {
        let Some(spec) = table_specs.iter().find(|s| s.name == table.name) else {
            continue; // corelab_algo::run refuses undeclared tables
        };
        let name = format!("{}.csv", table.name);
        let bytes = table.to_csv(spec).into_bytes();
        std::fs::write(staging.path().join(&name), &bytes)?;
        let final_path = out.join(&name);
        generated.push(FileEntity {
            role: table.name.clone(),
            sha256: Sha256Digest::of(&bytes).to_hex(),
            path: final_path.display().to_string(),
        });
        files.push(json!({"role": table.name, "path": final_path}));
    }
    for document in &outputs.documents {
        // corelab_algo::run refuses undeclared documents, so the name is one the algorithm
        // declares (a plain file name).
        let bytes = document.text.as_bytes();
        std::fs::write(staging.path().join(&document.name), bytes)?;
        let final_path = out.join(&document.name);
        generated.push(FileEntity {
            role: document.name.clone(),
            sha256: Sha256Digest::of(bytes).to_hex(),
            path: final_path.display().to_string(),
        });
        files.push(json!({"role": document.name, "path": final_path}));
    }
    let record = Run {
        id: uuid::Uuid::new_v4().to_string(),
        algorithm: format!("{}@{}", algorithm.id(), algorithm.version()),
        fingerprint: provenance::fingerprint(algorithm, &params),
        parameters: params,
        started: started.to_rfc3339(),
        ended: ended.to_rfc3339(),
        host: host(),
        agent: agent.to_owned(),
        used,
        generated,
        measurements: outputs.measurements.clone(),
    };
    let prov = record.prov_json();
    let doc = json!({
        "algorithm": record.algorithm,
        "fingerprint": record.fingerprint,
        "parameters": record.parameters,
        "measurements": outputs.measurements,
        "tables": outputs.tables,
        "outputs": files,
        "provenance": prov,
    });
    std::fs::write(
        staging.path().join("provenance.json"),
        serde_json::to_vec_pretty(&prov)?,
    )?;
    std::fs::write(
        staging.path().join("result.json"),
        serde_json::to_vec_pretty(&doc)?,
    )?;
    if out.exists() {
        std::fs::remove_dir(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, out).with_context(|| format!("cannot write {}", out.display()))?;
    emit(json_out, &doc, |d| {
        let mut text = format!(
            "{} → {}",
            d["algorithm"].as_str().unwrap_or_default(),
            out.display()
        );
        for m in &outputs.measurements {
            text += &format!("\n  {} = {} {}", m.name, m.value, m.unit);
        }
        for f in &record.generated {
            text += &format!("\n  {}: {}", f.role, f.path);
        }
        text
    })?;
    Ok(0)
}

/// SHA-256 of an input: of the file for a NIfTI file; for a DICOM series folder, of its
/// instances' SHA-256 values in slice order (one per line), so the same series is the same
/// entity however its files are named.
fn input_hash(path: &Path, volume: &corelab_image::Volume<f32>) -> Result<String> {
    if path.is_dir() {
        Ok(Sha256Digest::of(volume.source.instance_sha256.join("\n").as_bytes()).to_hex())
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Sha256Digest::of(&bytes).to_hex())
    }
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
