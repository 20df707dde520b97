//! External algorithms: how academic tools are onboarded (issue 7). A trial declares the
//! program (`[algorithms.program]`: path, SHA-256 of the executable, argument template, timeout,
//! the measurements and images it must produce); the lock holds that declaration in the
//! algorithm's fingerprint. Each run checks the executable's hash first (refused on mismatch),
//! runs it in a scratch folder holding only its inputs (`in/ROLE.nii.gz`) with an empty
//! environment but `PATH`, kills it at its timeout, and accepts its output only when
//! `out/result.json` reports exactly the declared measurements, finite and in their units, and
//! every declared image is a readable NIfTI volume without NaN.

use crate::jobs::{Executed, JobError, nifti_bytes};
use corelab_algo::lock::Locked;
use corelab_algo::provenance::{FileEntity, Run};
use corelab_algo::{Measurement, ParamValue, Params};
use corelab_core::{ProgramSpec, Sha256Digest};
use corelab_image::Volume;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fail<T>(why: impl Into<String>) -> Result<T, JobError> {
    Err(JobError::Final(why.into()))
}

/// Runs a locked external program on its input volumes (role, volume, input hash).
pub fn run_program(
    locked: &Locked,
    inputs: Vec<(String, Volume<f32>, String)>,
    run_id: &str,
    agent: &str,
) -> Result<Executed, JobError> {
    let Some(declared) = &locked.program else {
        return fail(format!("{} is not an external program", locked.id));
    };
    let program: ProgramSpec = serde_json::from_value(declared.clone()).or_else(|e| {
        fail(format!(
            "{}: the locked program declaration: {e}",
            locked.id
        ))
    })?;
    let exe = Path::new(&program.path);
    let bytes =
        std::fs::read(exe).or_else(|e| fail(format!("executable {}: {e}", program.path)))?;
    let found = Sha256Digest::of(&bytes).to_hex();
    if !found.eq_ignore_ascii_case(&program.sha256) {
        return fail(format!(
            "executable {} has SHA-256 {found}, the lock says {}: refused (a changed program needs an amendment)",
            program.path, program.sha256
        ));
    }
    let scratch =
        tempfile::tempdir().map_err(|e| JobError::Transient(format!("a scratch folder: {e}")))?;
    let (in_dir, out_dir) = (scratch.path().join("in"), scratch.path().join("out"));
    for d in [&in_dir, &out_dir] {
        std::fs::create_dir_all(d)
            .map_err(|e| JobError::Transient(format!("{}: {e}", d.display())))?;
    }
    let mut used = vec![FileEntity {
        role: "program".into(),
        sha256: found.clone(),
        path: program.path.clone(),
    }];
    for (role, volume, sha256) in &inputs {
        let path = in_dir.join(format!("{role}.nii.gz"));
        let data = nifti_bytes(volume).map_err(JobError::Transient)?;
        std::fs::write(&path, data)
            .map_err(|e| JobError::Transient(format!("{}: {e}", path.display())))?;
        used.push(FileEntity {
            role: role.clone(),
            sha256: sha256.clone(),
            path: format!("in/{role}.nii.gz"),
        });
    }
    let param = |name: &str| {
        locked.parameters[name]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let args: Vec<String> = program
        .args
        .iter()
        .map(|a| {
            let mut out = a.replace("{output}", &out_dir.display().to_string());
            for (role, _, _) in &inputs {
                out = out.replace(
                    &format!("{{input:{role}}}"),
                    &in_dir.join(format!("{role}.nii.gz")).display().to_string(),
                );
            }
            for name in locked
                .parameters
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                out = out.replace(&format!("{{param:{name}}}"), &param(name));
            }
            out
        })
        .collect();
    let log = |name: &str| {
        std::fs::File::create(scratch.path().join(name))
            .map(Stdio::from)
            .map_err(|e| JobError::Transient(format!("{name}: {e}")))
    };
    let started = chrono::Utc::now();
    let mut child = Command::new(exe)
        .args(&args)
        .current_dir(scratch.path())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(log("stdout.txt")?)
        .stderr(log("stderr.txt")?)
        .spawn()
        .or_else(|e| fail(format!("executable {}: cannot start: {e}", program.path)))?;
    let deadline = Instant::now() + Duration::from_secs(program.timeout_s);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return fail(format!(
                    "{}@{} ran past its timeout of {} s and was killed",
                    locked.id, locked.version, program.timeout_s
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(JobError::Transient(format!("waiting for the program: {e}"))),
        }
    };
    let ended = chrono::Utc::now();
    if !status.success() {
        let stderr = std::fs::read_to_string(scratch.path().join("stderr.txt")).unwrap_or_default();
        let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return fail(format!(
            "{}@{} exited with {status}: {tail}",
            locked.id, locked.version
        ));
    }
    let measurements =
        read_measurements(&out_dir.join("result.json"), &program).or_else(|why| {
            fail(format!(
                "{}@{}: malformed output: {why}",
                locked.id, locked.version
            ))
        })?;
    let mut images = Vec::new();
    let mut generated = Vec::new();
    for role in &program.images {
        let path = out_dir.join(format!("{role}.nii.gz"));
        let volume = corelab_image::nifti_io::read(&path).or_else(|e| {
            fail(format!(
                "{}@{}: malformed output: image {role} (out/{role}.nii.gz): {}",
                locked.id, locked.version, e.why
            ))
        })?;
        if volume.data.iter().any(|v| v.is_nan()) {
            return fail(format!(
                "{}@{}: malformed output: image {role} holds NaN",
                locked.id, locked.version
            ));
        }
        let data = std::fs::read(&path).map_err(|e| JobError::Transient(e.to_string()))?;
        let sha256 = Sha256Digest::of(&data).to_hex();
        generated.push(FileEntity {
            role: role.clone(),
            sha256: sha256.clone(),
            path: format!("blob:{sha256}"),
        });
        images.push((role.clone(), data));
    }
    let parameters = Params(
        locked
            .parameters
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    ParamValue::Choice(v.as_str().unwrap_or_default().to_owned()),
                )
            })
            .collect(),
    );
    let record = Run {
        id: run_id.to_owned(),
        algorithm: format!("{}@{}", locked.id, locked.version),
        fingerprint: locked.fingerprint.clone(),
        parameters,
        started: started.to_rfc3339(),
        ended: ended.to_rfc3339(),
        host: std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
        agent: agent.to_owned(),
        used,
        generated,
        measurements: measurements.clone(),
    };
    Ok(Executed {
        measurements,
        images,
        tables: Vec::new(),
        documents: Vec::new(),
        provenance: record.prov_json(),
        algorithm: record.algorithm,
    })
}

/// `out/result.json`'s measurements, exactly the declared ones, finite, in their units.
fn read_measurements(path: &Path, program: &ProgramSpec) -> Result<Vec<Measurement>, String> {
    if program.measurements.is_empty() && !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("out/result.json: {e}"))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("out/result.json is not JSON: {e}"))?;
    let Some(list) = doc["measurements"].as_array() else {
        return Err("out/result.json has no \"measurements\" list".into());
    };
    let mut out = Vec::new();
    for (n, m) in list.iter().enumerate() {
        let (Some(name), Some(value), Some(unit)) =
            (m["name"].as_str(), m["value"].as_f64(), m["unit"].as_str())
        else {
            return Err(format!(
                "measurements[{n}] needs a name, a numeric value and a unit"
            ));
        };
        let Some(d) = program.measurements.iter().find(|d| d.name == name) else {
            return Err(format!("measurements[{n}]: {name:?} is not declared"));
        };
        if d.unit != unit {
            return Err(format!(
                "measurements[{n}]: {name} in {unit:?}, declared in {:?}",
                d.unit
            ));
        }
        if !value.is_finite() {
            return Err(format!("measurements[{n}]: {name} is not finite"));
        }
        if out.iter().any(|m: &Measurement| m.name == name) {
            return Err(format!("measurements[{n}]: {name} reported twice"));
        }
        out.push(Measurement {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
        });
    }
    for d in &program.measurements {
        if !out.iter().any(|m| m.name == d.name) {
            return Err(format!("the declared measurement {:?} is missing", d.name));
        }
    }
    Ok(out)
}
