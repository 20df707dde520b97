//! The W3C PROV-JSON record of one run (https://www.w3.org/submissions/prov-json/): the input
//! entities by SHA-256, the activity (algorithm@version, fingerprint, parameters, start, end,
//! host), the agents (who ran it, and corelab as the software), the output entities by SHA-256,
//! and the relations between them. Also the fingerprint that a trial's version lock compares.

use crate::{Algorithm, Measurement, Params};
use corelab_core::Sha256Digest;
use serde::Serialize;
use serde_json::{Value, json};

/// The corelab build an algorithm runs in: its version (and the source revision, when known).
pub fn build() -> String {
    format!("corelab {}", env!("CARGO_PKG_VERSION"))
}

/// SHA-256 (hex) of the canonical JSON of id, version, build and parameters: two runs with the
/// same fingerprint ran the same method the same way.
pub fn fingerprint(algorithm: &dyn Algorithm, params: &Params) -> String {
    // serde_json writes maps in key order (BTreeMap), so this text is canonical.
    let canonical = json!({
        "id": algorithm.id(),
        "version": algorithm.version(),
        "build": build(),
        "parameters": params,
    })
    .to_string();
    Sha256Digest::of(canonical.as_bytes()).to_hex()
}

/// A file a run used or made.
#[derive(Clone, Debug, Serialize)]
pub struct FileEntity {
    /// The role (`image`, `mask`, `corrected`).
    pub role: String,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// Where it was.
    pub path: String,
}

/// Everything a provenance record says about one run.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// A unique id of the run.
    pub id: String,
    /// `id@version`.
    pub algorithm: String,
    /// [`fingerprint`].
    pub fingerprint: String,
    /// The parameters, every one.
    pub parameters: Params,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339.
    pub ended: String,
    /// The machine.
    pub host: String,
    /// Who ran it.
    pub agent: String,
    /// Inputs.
    pub used: Vec<FileEntity>,
    /// Files made.
    pub generated: Vec<FileEntity>,
    /// Measurements made.
    pub measurements: Vec<Measurement>,
}

impl Run {
    /// The PROV-JSON document.
    pub fn prov_json(&self) -> Value {
        let activity = format!("corelab:run/{}", self.id);
        let person = format!("corelab:agent/{}", self.agent);
        let software = format!("corelab:software/{}", build().replace(' ', "-"));
        let mut entity = serde_json::Map::new();
        let mut used = serde_json::Map::new();
        let mut generated = serde_json::Map::new();
        for (n, f) in self.used.iter().enumerate() {
            let id = format!("sha256:{}", f.sha256);
            entity.insert(
                id.clone(),
                json!({"prov:type": "corelab:input", "corelab:role": f.role, "corelab:path": f.path}),
            );
            used.insert(
                format!("_:u{n}"),
                json!({"prov:activity": activity, "prov:entity": id, "prov:role": f.role}),
            );
        }
        for (n, f) in self.generated.iter().enumerate() {
            let id = format!("sha256:{}", f.sha256);
            entity.insert(
                id.clone(),
                json!({"prov:type": "corelab:output", "corelab:role": f.role, "corelab:path": f.path}),
            );
            generated.insert(
                format!("_:g{n}"),
                json!({"prov:activity": activity, "prov:entity": id}),
            );
        }
        for (n, m) in self.measurements.iter().enumerate() {
            let id = format!("corelab:run/{}/measurement/{}", self.id, m.name);
            entity.insert(
                id.clone(),
                json!({"prov:type": "corelab:measurement", "prov:value": m.value, "corelab:unit": m.unit, "prov:label": m.name}),
            );
            generated.insert(
                format!("_:m{n}"),
                json!({"prov:activity": activity, "prov:entity": id}),
            );
        }
        json!({
            "prefix": {
                "corelab": "urn:corelab:",
                "sha256": "urn:sha256:",
            },
            "entity": entity,
            "activity": {
                activity.clone(): {
                    "prov:startTime": self.started,
                    "prov:endTime": self.ended,
                    "prov:type": "corelab:algorithm-run",
                    "corelab:algorithm": self.algorithm,
                    "corelab:fingerprint": self.fingerprint,
                    "corelab:parameters": self.parameters,
                    "corelab:host": self.host,
                }
            },
            "agent": {
                person.clone(): {"prov:type": "prov:Person"},
                software.clone(): {"prov:type": "prov:SoftwareAgent", "prov:label": build()},
            },
            "used": used,
            "wasGeneratedBy": generated,
            "wasAssociatedWith": {
                "_:a0": {"prov:activity": activity, "prov:agent": person},
                "_:a1": {"prov:activity": activity, "prov:agent": software},
            },
        })
    }
}
