//! `trial.toml`: the minimal form every trial file has (DESIGN.md: the trial, its sites with their
//! calling AE titles, the de-identification options), the algorithms it runs, and the protocol
//! (visits, series roles, QC, endpoints; `crate::protocol`). Tables this module does not know are
//! kept for later parts, so a fuller file still parses here. `docs/trial-toml.md` is the reference.

use crate::ids::{AeTitle, DicomNode, SiteId, TrialId};
use crate::problem::{FieldPath, Findings, Problem, ProblemList};
use crate::protocol::{EndpointSpec, QcSection, RoleSpec, VisitSpec};
use crate::subject::SubjectIdRule;
use crate::toml_error_line;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A trial file that could not be read, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// Not valid TOML, or a field of the wrong type or form; the message names the key and line.
    #[error("trial file: {0}")]
    Syntax(String),
    /// Well-formed but inconsistent (duplicate ids, an AE title used by two sites, a visit that
    /// names an undefined role, …): every problem found, in the order of the file, each with the
    /// field's path, line and column. Displayed one problem a line.
    #[error("trial file: {}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

impl TrialError {
    /// The problems of an `Invalid` file (none for a syntax error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(p) => p,
            Self::Syntax(_) => &[],
        }
    }
}

/// Clinical trial phase, as written in the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Phase 0 (exploratory).
    #[serde(rename = "0")]
    Zero,
    /// Phase I.
    I,
    /// Phase Ia.
    Ia,
    /// Phase Ib.
    Ib,
    /// Phase I/II.
    #[serde(rename = "I/II")]
    IToII,
    /// Phase II.
    II,
    /// Phase IIa.
    IIa,
    /// Phase IIb.
    IIb,
    /// Phase II/III.
    #[serde(rename = "II/III")]
    IIToIII,
    /// Phase III.
    III,
    /// Phase IV.
    IV,
}

/// The `[trial]` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialSection {
    /// Unique id, used in commands.
    pub id: TrialId,
    /// The sponsor's name.
    pub sponsor: String,
    /// The sponsor's protocol identifier.
    pub protocol: String,
    /// The trial phase.
    pub phase: Phase,
    /// The disease or condition studied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indication: Option<String>,
    /// A test trial (installation checks, conformance runs): never for patient data. Only a test
    /// trial may turn de-identification off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// Which confidentiality profile a trial applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeidProfile {
    /// The Basic Application Level Confidentiality Profile (PS3.15 Table E.1-1) and options.
    #[default]
    Basic,
    /// No de-identification: objects are stored exactly as received. Test trials only.
    None,
}

/// One `[[sites]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// The site id within the trial.
    pub id: SiteId,
    /// The site's name.
    pub name: String,
    /// ISO 3166 country code or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Calling AE titles the site sends from.
    #[serde(default)]
    pub ae_titles: Vec<AeTitle>,
    /// The AE title the site calls corelab by, when it has one of its own; the node's own AE
    /// title (`serve --aet`) otherwise. Two sites behind one gateway (one calling AE title) are
    /// told apart by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub called_ae_title: Option<AeTitle>,
    /// The site's PACS, `AE@host:port`: where `corelab results TRIAL --format dicom --send`
    /// sends its subjects' derived objects back (SEG, SR, key images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacs: Option<DicomNode>,
}

/// The `[ingest]` table: how objects reach the trial.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSection {
    /// Objects from a calling AE title registered for several sites (of this or other trials
    /// that allow it) are routed by their Clinical Trial Protocol ID (0012,0020) and Clinical
    /// Trial Site ID (0012,0030). Off by default: then a calling AE title names one site.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clinical_trial_routing: bool,
}

/// The `[deid]` table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeidSection {
    /// `basic` (the default) or `none` (test trials only).
    #[serde(default)]
    pub profile: DeidProfile,
    /// PS3.15 option names in kebab case; checked by the de-identification module.
    #[serde(default)]
    pub options: Vec<String>,
    /// How subjects are named (see [`SubjectIdRule`]); `SUBJ-{hash:12}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<SubjectIdRule>,
    /// Private creators whose blocks the trial needs kept. With `retain-safe-private`, an object
    /// holding such a block with an element that is not on the safe list is refused: its
    /// de-identification cannot be guaranteed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_private: Vec<String>,
    /// Private attributes this trial has reviewed as safe, added to PS3.15 Table E.3.10-1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub safe_private: Vec<SafePrivateSpec>,
    /// Rectangles of pixel data to black out, by device (burned-in text at known places).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blackout: Vec<BlackoutRule>,
}

/// One `[[deid.safe_private]]` entry: a private attribute reviewed as never identifying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafePrivateSpec {
    /// The private creator, exactly as the device writes it.
    pub creator: String,
    /// The tag within the creator's block, written `(gggg,xxee)`: an odd group above 0008 and the
    /// element's low byte.
    pub tag: PrivateTag,
}

/// A private tag relative to its creator's block: `(gggg,xxee)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrivateTag {
    /// The (odd) group.
    pub group: u16,
    /// The element's low byte.
    pub element: u8,
}

impl std::str::FromStr for PrivateTag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?} is not a private tag of the form (gggg,xxee), e.g. (0019,xx0C)");
        let inner = s
            .trim()
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        let (g, e) = inner.split_once(',').ok_or_else(bad)?;
        let e = e
            .strip_prefix("xx")
            .or_else(|| e.strip_prefix("XX"))
            .ok_or_else(bad)?;
        if g.len() != 4 || e.len() != 2 {
            return Err(bad());
        }
        let group = u16::from_str_radix(g, 16).map_err(|_| bad())?;
        let element = u8::from_str_radix(e, 16).map_err(|_| bad())?;
        if group % 2 == 0 || group <= 0x0008 {
            return Err(format!(
                "{s:?}: group {g} is not a private group (odd, above 0008)"
            ));
        }
        Ok(Self { group, element })
    }
}

impl TryFrom<String> for PrivateTag {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<PrivateTag> for String {
    fn from(t: PrivateTag) -> String {
        format!("({:04X},xx{:02X})", t.group, t.element)
    }
}

/// One `[[deid.blackout]]` rule: on objects from a matching device, the rectangles are set to
/// zero in every frame. Every condition given must match (text conditions: case-insensitive
/// substring); a rule with no condition is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackoutRule {
    /// Part of Modality (0008,0060).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// Part of Manufacturer (0008,0070).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Part of Manufacturer's Model Name (0008,1090).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Rows (0028,0010), exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
    /// Columns (0028,0011), exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<u16>,
    /// Rectangles `[x, y, width, height]` in pixels, from the top-left corner.
    pub rectangles: Vec<[u32; 4]>,
}

/// One `[[algorithms]]` entry: an algorithm the protocol runs (`area.name`), the versions it
/// accepts (a semantic-version requirement such as `"^1.0"` or `"=1.0.0"`), and its parameters.
/// `corelab trial lock` resolves it to one exact version and fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmSpec {
    /// The algorithm's id.
    pub id: String,
    /// The versions accepted.
    pub version: String,
    /// Parameters by name (text, numbers or true/false); the rest take their defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, toml::Value>,
    /// The series role (a `[roles]` name) each of the algorithm's input roles takes, e.g.
    /// `{ image = "FLAIR" }`; `ROLE@VISIT` takes that role's series at another visit of the same
    /// subject (a longitudinal algorithm: `{ baseline = "T1w@baseline", followup = "T1w" }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Files the algorithm takes as inputs, the same for every subject (a template, atlas
    /// regions), by input role: NIfTI paths, absolute or relative to the folder `corelab trial
    /// lock` runs in. The lock records each file's SHA-256 and keeps its bytes, so every run uses
    /// exactly the locked file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// An external program (an academic tool onboarded as an algorithm, id `ext.NAME`, an exact
    /// `version`) instead of a built-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramSpec>,
}

/// The series role and, for `ROLE@VISIT`, the visit an algorithm input is mapped to.
pub fn input_source(mapped: &str) -> (&str, Option<&str>) {
    match mapped.split_once('@') {
        Some((role, visit)) => (role, Some(visit)),
        None => (mapped, None),
    }
}

/// `[algorithms.program]`: an executable corelab runs in a scratch folder holding only its
/// inputs (as `in/ROLE.nii.gz`), after checking its SHA-256, under a timeout; it must write
/// `out/result.json` (`{"measurements": [{"name", "value", "unit"}]}`) matching the declared
/// measurements, and `out/ROLE.nii.gz` for each declared image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// The executable's absolute path.
    pub path: String,
    /// SHA-256 of the executable (hex): checked before every run.
    pub sha256: String,
    /// The arguments; `{input:ROLE}` becomes the input's path, `{output}` the output folder,
    /// `{param:NAME}` a parameter's value.
    #[serde(default)]
    pub args: Vec<String>,
    /// Seconds it may run before it is killed.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// The measurements it reports, each with its UCUM unit.
    #[serde(default)]
    pub measurements: Vec<ProgramMeasurement>,
    /// The images it writes (`out/ROLE.nii.gz`), by role.
    #[serde(default)]
    pub images: Vec<String>,
}

fn default_timeout_s() -> u64 {
    600
}

/// A measurement an external program reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramMeasurement {
    /// Its name.
    pub name: String,
    /// Its UCUM unit.
    pub unit: String,
}

impl AlgorithmSpec {
    /// The parameters as the text `NAME=VALUE` gives them.
    pub fn param_text(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

/// A parsed and checked trial file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrialFile {
    /// The `[trial]` table.
    pub trial: TrialSection,
    /// The `[[sites]]` entries.
    #[serde(default)]
    pub sites: Vec<SiteSpec>,
    /// The `[deid]` table.
    #[serde(default)]
    pub deid: DeidSection,
    /// The `[ingest]` table.
    #[serde(default)]
    pub ingest: IngestSection,
    /// The `[[algorithms]]` the protocol runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<AlgorithmSpec>,
    /// The visit schedule (`[[visits]]`), in order; the first is the baseline (day 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visits: Vec<VisitSpec>,
    /// The series roles by name (`[roles.T1w]`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, RoleSpec>,
    /// The `[qc]` table.
    #[serde(default, skip_serializing_if = "QcSection::is_default")]
    pub qc: QcSection,
    /// The endpoints the trial reports (`[[endpoints]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointSpec>,
    /// The central-read design (`[reads]`), if the trial has central reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<crate::reads::ReadDesign>,
    /// Tables owned by later parts of the protocol, kept as they were written.
    #[serde(flatten)]
    pub rest: BTreeMap<String, toml::Value>,
}

impl TrialFile {
    /// Parses and checks a trial file's text. A syntax error, or a key of the wrong type or form,
    /// stops at the first; the checks after it report every problem they find.
    pub fn parse(text: &str) -> Result<Self, TrialError> {
        let file: TrialFile =
            toml::from_str(text).map_err(|e| TrialError::Syntax(toml_error_line(text, &e)))?;
        let found = file.check();
        if found.is_empty() {
            Ok(file)
        } else {
            Err(TrialError::Invalid(found.place(text)))
        }
    }

    /// The series role names, in order.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// The role of a name.
    pub fn role(&self, name: &str) -> Option<&RoleSpec> {
        self.roles.get(name)
    }

    /// The visit of a name.
    pub fn visit(&self, name: &str) -> Option<&VisitSpec> {
        self.visits.iter().find(|v| v.name == name)
    }

    /// The baseline visit: the first (day 0).
    pub fn baseline(&self) -> Option<&VisitSpec> {
        self.visits.first()
    }

    /// The `[[algorithms]]` entry of an id.
    pub fn algorithm(&self, id: &str) -> Option<&AlgorithmSpec> {
        self.algorithms.iter().find(|a| a.id == id)
    }

    fn check(&self) -> Findings {
        let mut found = Findings::default();
        for (field, value) in [
            ("trial.sponsor", &self.trial.sponsor),
            ("trial.protocol", &self.trial.protocol),
        ] {
            if value.trim().is_empty() {
                found.add(FieldPath::keys(field), "must not be empty");
            }
        }
        self.check_algorithms(&mut found);
        self.check_sites(&mut found);
        self.check_deid(&mut found);
        crate::protocol::check(self, &mut found);
        if let Some(r) = &self.reads {
            let roles: Vec<&str> = self.role_names().collect();
            r.check(&roles, &mut found);
        }
        found
    }

    fn check_algorithms(&self, found: &mut Findings) {
        let mut algorithm_ids = BTreeMap::new();
        for (i, a) in self.algorithms.iter().enumerate() {
            let at = FieldPath::keys("algorithms").at(i);
            let well_formed =
                a.id.split_once('.')
                    .is_some_and(|(area, name)| !area.is_empty() && !name.is_empty());
            if !well_formed {
                found.add(
                    at.key("id"),
                    format!("{:?} is not an algorithm id (area.name)", a.id),
                );
            } else if let Some(j) = algorithm_ids.insert(a.id.as_str(), i) {
                found.add(
                    at.key("id"),
                    format!("{} is already listed as algorithms[{j}]", a.id),
                );
            }
            if let Err(e) = semver::VersionReq::parse(&a.version) {
                found.add(
                    at.key("version"),
                    format!(
                        "{:?} is not a version requirement ({e}); write e.g. \"^1.0\" or \"=1.0.0\"",
                        a.version
                    ),
                );
            }
            for (k, v) in &a.params {
                if !matches!(
                    v,
                    toml::Value::String(_)
                        | toml::Value::Integer(_)
                        | toml::Value::Float(_)
                        | toml::Value::Boolean(_)
                ) {
                    found.add(
                        at.key("params").key(k),
                        "must be text, a number or true/false",
                    );
                }
            }
            if let Some(p) = &a.program {
                check_program(a, p, &at.key("program"), found);
            } else if a.id.starts_with("ext.") {
                found.add(
                    at.key("id"),
                    "an ext. algorithm needs its [algorithms.program]",
                );
            }
        }
    }

    fn check_sites(&self, found: &mut Findings) {
        let mut site_ids = BTreeMap::new();
        let mut ae_titles = BTreeMap::new();
        for (i, site) in self.sites.iter().enumerate() {
            let at = FieldPath::keys("sites").at(i);
            if let Some(j) = site_ids.insert(site.id.as_str(), i) {
                found.add(
                    at.key("id"),
                    format!(
                        "site id {:?} is already used by sites[{j}]",
                        site.id.as_str()
                    ),
                );
            }
            if site.name.trim().is_empty() {
                found.add(at.key("name"), "must not be empty");
            }
            let called = site.called_ae_title.as_ref().map(AeTitle::as_str);
            for (k, ae) in site.ae_titles.iter().enumerate() {
                match ae_titles.insert((ae.as_str(), called), i) {
                    Some(j) if j != i && !self.ingest.clinical_trial_routing => {
                        found.add(
                            at.key("ae_titles").at(k),
                            format!(
                                "AE title {:?} is already used by sites[{j}] with the same called AE title; \
                                 calls could not be routed (give the sites different called_ae_title, \
                                 or set [ingest] clinical_trial_routing = true)",
                                ae.as_str()
                            ),
                        );
                    }
                    Some(j) if j == i => {
                        found.add(
                            at.key("ae_titles").at(k),
                            format!("AE title {:?} is listed twice", ae.as_str()),
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    fn check_deid(&self, found: &mut Findings) {
        if self.deid.profile == DeidProfile::None && !self.trial.test {
            found.add(
                FieldPath::keys("deid.profile"),
                "\"none\" stores objects with their identities: only a test trial ([trial] test = true) may use it",
            );
        }
        for (i, rule) in self.deid.blackout.iter().enumerate() {
            let at = FieldPath::keys("deid.blackout").at(i);
            if rule.modality.is_none()
                && rule.manufacturer.is_none()
                && rule.model.is_none()
                && rule.rows.is_none()
                && rule.columns.is_none()
            {
                found.add(
                    at.clone(),
                    "needs at least one of modality, manufacturer, model, rows, columns",
                );
            }
            if rule.rectangles.is_empty() {
                found.add(
                    at.key("rectangles"),
                    "must list at least one [x, y, width, height]",
                );
            }
            for (k, r) in rule.rectangles.iter().enumerate() {
                if r[2] == 0 || r[3] == 0 {
                    found.add(
                        at.key("rectangles").at(k),
                        "width and height must be at least 1",
                    );
                }
            }
        }
    }
}

/// An external program's entry: an `ext.` id, an exact version, an absolute path, a SHA-256,
/// placeholders that name its inputs and parameters, a timeout, and at least one output.
fn check_program(a: &AlgorithmSpec, p: &ProgramSpec, at: &FieldPath, found: &mut Findings) {
    if !a.id.starts_with("ext.") {
        found.add(
            FieldPath::keys("algorithms").key("id"),
            format!("{:?}: an external program's id is ext.NAME", a.id),
        );
    }
    if semver::Version::parse(&a.version).is_err() {
        found.add(
            at.clone(),
            format!(
                "an external program has one exact version (e.g. \"1.0.0\"), not {:?}",
                a.version
            ),
        );
    }
    if !p.path.starts_with('/') {
        found.add(at.key("path"), "must be an absolute path");
    }
    if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        found.add(
            at.key("sha256"),
            "must be the executable's SHA-256 in 64 hex digits",
        );
    }
    if p.timeout_s == 0 || p.timeout_s > 86_400 {
        found.add(at.key("timeout_s"), "must be 1 to 86400 seconds");
    }
    if p.measurements.is_empty() && p.images.is_empty() {
        found.add(at.clone(), "declares no output (measurements or images)");
    }
    for (n, m) in p.measurements.iter().enumerate() {
        if m.name.trim().is_empty() || m.unit.trim().is_empty() {
            found.add(at.key("measurements").at(n), "needs a name and a UCUM unit");
        }
    }
    for (n, arg) in p.args.iter().enumerate() {
        let mut rest = arg.as_str();
        while let Some(start) = rest.find('{') {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let placeholder = &rest[start + 1..start + end];
            let ok = match placeholder.split_once(':') {
                Some(("input", role)) => a.inputs.contains_key(role),
                Some(("param", name)) => a.params.contains_key(name),
                None => placeholder == "output",
                _ => false,
            };
            if !ok {
                found.add(
                    at.key("args").at(n),
                    format!(
                        "{{{placeholder}}} is not {{output}}, {{input:ROLE}} of its inputs or {{param:NAME}} of its params"
                    ),
                );
            }
            rest = &rest[start + end + 1..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[trial]
id = "MS-PHASE2-001"
sponsor = "Example Pharma"
protocol = "EXP-2026-01"
phase = "IIb"

[[sites]]
id = "S01"
name = "University Hospital A"
ae_titles = ["S01PACS"]

[deid]
options = ["retain-long-modified-dates"]
"#;

    #[test]
    fn parses_the_minimal_form_from_design_md() {
        let t = TrialFile::parse(MINIMAL).unwrap();
        assert_eq!(t.trial.id.as_str(), "MS-PHASE2-001");
        assert_eq!(t.trial.phase, Phase::IIb);
        assert_eq!(t.sites[0].ae_titles[0].as_str(), "S01PACS");
        assert_eq!(t.deid.options, vec!["retain-long-modified-dates"]);
    }

    #[test]
    fn keeps_tables_that_later_parts_of_the_protocol_own() {
        let t = TrialFile::parse(&format!("{MINIMAL}\n[[exports]]\nname = \"sdtm\"\n")).unwrap();
        assert!(t.rest.contains_key("exports"));
    }

    #[test]
    fn rejects_an_unknown_phase_naming_the_field() {
        let e = TrialFile::parse(&MINIMAL.replace("\"IIb\"", "\"IIc\"")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("line 6") && msg.contains("phase = \"IIc\"") && !msg.contains('\n'),
            "{msg}"
        );
    }

    #[test]
    fn rejects_an_ae_title_shared_by_two_sites() {
        let text = format!(
            "{MINIMAL}\n[[sites]]\nid = \"S02\"\nname = \"B\"\nae_titles = [\"S01PACS\"]\n"
        );
        let e = TrialFile::parse(&text).unwrap_err();
        assert!(e.to_string().contains("sites[1].ae_titles[0]"), "{e}");
    }

    #[test]
    fn a_sites_pacs_is_a_dicom_node_or_an_error_naming_it() {
        let with = MINIMAL.replace(
            "ae_titles = [\"S01PACS\"]",
            "ae_titles = [\"S01PACS\"]\npacs = \"PACS@pacs.hospital-a.org:104\"",
        );
        let t = TrialFile::parse(&with).unwrap();
        assert_eq!(
            t.sites[0].pacs.as_ref().map(ToString::to_string).as_deref(),
            Some("PACS@pacs.hospital-a.org:104")
        );
        assert!(TrialFile::parse(MINIMAL).unwrap().sites[0].pacs.is_none());
        let bad = MINIMAL.replace(
            "ae_titles = [\"S01PACS\"]",
            "ae_titles = [\"S01PACS\"]\npacs = \"pacs.hospital-a.org\"",
        );
        let e = TrialFile::parse(&bad).unwrap_err().to_string();
        assert!(
            e.contains("DICOM node") && e.contains("AE@host:port"),
            "{e}"
        );
    }

    #[test]
    fn sites_behind_one_gateway_are_told_apart_by_called_ae_title_or_clinical_trial_routing() {
        let second = "\n[[sites]]\nid = \"S02\"\nname = \"B\"\nae_titles = [\"S01PACS\"]\n";
        let by_called = format!("{MINIMAL}{second}called_ae_title = \"CORELAB-S02\"\n");
        let t = TrialFile::parse(&by_called).unwrap();
        assert_eq!(
            t.sites[1].called_ae_title.as_ref().map(AeTitle::as_str),
            Some("CORELAB-S02")
        );
        let routed = format!("{MINIMAL}{second}\n[ingest]\nclinical_trial_routing = true\n");
        assert!(
            TrialFile::parse(&routed)
                .unwrap()
                .ingest
                .clinical_trial_routing
        );
        let twice = MINIMAL.replace("[\"S01PACS\"]", "[\"S01PACS\", \"S01PACS\"]");
        let e = TrialFile::parse(&twice).unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
    }

    #[test]
    fn reads_the_deid_rules() {
        let text = format!(
            "{MINIMAL}subject_id = \"{{site}}-{{seq:3}}\"\nkeep_private = [\"GEMS_PARM_01\"]\n\
             [[deid.safe_private]]\ncreator = \"ACME 1\"\ntag = \"(0051,xx10)\"\n\
             [[deid.blackout]]\nmanufacturer = \"GE\"\nrectangles = [[0, 0, 100, 20]]\n"
        );
        let t = TrialFile::parse(&text).unwrap();
        assert!(t.deid.subject_id.unwrap().uses_sequence());
        assert_eq!(t.deid.safe_private[0].tag.group, 0x0051);
        assert_eq!(t.deid.safe_private[0].tag.element, 0x10);
        assert_eq!(t.deid.blackout[0].rectangles[0], [0, 0, 100, 20]);
    }

    #[test]
    fn only_a_test_trial_may_turn_de_identification_off() {
        let off = format!("{MINIMAL}profile = \"none\"\n");
        let e = TrialFile::parse(&off).unwrap_err().to_string();
        assert!(
            e.contains("deid.profile") && e.contains("test trial"),
            "{e}"
        );
        let test = off.replace("phase = \"IIb\"", "phase = \"IIb\"\ntest = true");
        let t = TrialFile::parse(&test).unwrap();
        assert_eq!(t.deid.profile, DeidProfile::None);
        assert!(t.trial.test);
    }

    #[test]
    fn rejects_bad_deid_rules_naming_them() {
        for (extra, expect) in [
            ("subject_id = \"SUBJ\"\n", "must contain"),
            (
                "[[deid.safe_private]]\ncreator = \"A\"\ntag = \"(0010,xx10)\"\n",
                "not a private group",
            ),
            (
                "[[deid.blackout]]\nrectangles = [[0, 0, 1, 1]]\n",
                "deid.blackout[0]",
            ),
            (
                "[[deid.blackout]]\nmodel = \"X\"\nrectangles = [[0, 0, 0, 1]]\n",
                "rectangles[0]",
            ),
        ] {
            let e = TrialFile::parse(&format!("{MINIMAL}{extra}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{extra}: {e}");
        }
    }

    #[test]
    fn rejects_a_misspelt_field_in_a_site() {
        let e = TrialFile::parse(&MINIMAL.replace("ae_titles", "ae_title")).unwrap_err();
        assert!(e.to_string().contains("ae_title"), "{e}");
    }
    #[test]
    fn an_external_program_is_checked_for_hash_path_placeholders_and_outputs() {
        let program = |path: &str, sha: &str, args: &str, outputs: &str| {
            format!(
                "{MINIMAL}\n[[algorithms]]\nid = \"ext.tool\"\nversion = \"1.0.0\"\n\
                 inputs = {{ image = \"T1w\" }}\n[algorithms.program]\npath = \"{path}\"\n\
                 sha256 = \"{sha}\"\nargs = {args}\n{outputs}\n"
            )
        };
        let good_sha = "a".repeat(64);
        let outputs = "measurements = [{ name = \"v\", unit = \"mL\" }]";
        // Its input role names a series role that the file does not define: that is the only
        // problem of an otherwise good program.
        let e = TrialFile::parse(&program(
            "/opt/t",
            &good_sha,
            r#"["{input:image}", "{output}"]"#,
            outputs,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("algorithms[0].inputs.image") && !e.contains("program"),
            "{e}"
        );
        let e = TrialFile::parse(&program("t", "abc", r#"["{input:mask}", "{oops}"]"#, ""))
            .unwrap_err()
            .to_string();
        for expect in [
            "program.path",
            "program.sha256",
            "program.args[0]",
            "program.args[1]",
            "declares no output",
        ] {
            assert!(e.contains(expect), "{expect}: {e}");
        }
    }
}
