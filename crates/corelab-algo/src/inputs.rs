//! The loaded inputs of a run: image volumes by role (as before), and documents (CSV or JSON
//! text, e.g. lesion measurements) by role. It reads like the role → volume map it replaced
//! (`new`, `insert`, `get`, `get_mut`, `remove`, `keys`, `contains_key`, `iter`, `values`,
//! `inputs["role"]`, `for (role, volume) in &inputs`, `From` an array or a map, `collect()`), so
//! image-only algorithms and their callers need no change.

use corelab_image::Volume;
use std::collections::BTreeMap;

/// How a document's text is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentFormat {
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// A JSON document.
    Json,
}

/// A document input: its text, its format, and where it came from (for messages).
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// How `text` is written.
    pub format: DocumentFormat,
    /// The whole text.
    pub text: String,
    /// Where it came from (a file name), for error messages.
    pub source: String,
}

impl Document {
    /// A document named `source` (its extension, `.csv` or `.json`, says the format; without
    /// one, text starting with `{` or `[` is JSON and anything else CSV).
    pub fn new(source: &str, text: String) -> Self {
        let lower = source.to_ascii_lowercase();
        let format = if lower.ends_with(".json") {
            DocumentFormat::Json
        } else if lower.ends_with(".csv") {
            DocumentFormat::Csv
        } else if text.trim_start().starts_with(['{', '[']) {
            DocumentFormat::Json
        } else {
            DocumentFormat::Csv
        };
        Self {
            format,
            text,
            source: source.to_owned(),
        }
    }
}

/// A model file input (an ONNX network): its bytes, their SHA-256 and where they came from.
#[derive(Clone, PartialEq)]
pub struct ModelFile {
    /// The file's bytes.
    pub bytes: std::sync::Arc<[u8]>,
    /// SHA-256 of the bytes (hex).
    pub sha256: String,
    /// Where it came from (a path), for messages and provenance.
    pub source: String,
}

impl ModelFile {
    /// A model file read from `source`.
    pub fn new(source: &str, bytes: Vec<u8>) -> Self {
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        Self {
            bytes: bytes.into(),
            sha256,
            source: source.to_owned(),
        }
    }
}

impl std::fmt::Debug for ModelFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ModelFile({}, {} bytes, sha256 {})",
            self.source,
            self.bytes.len(),
            self.sha256
        )
    }
}

/// The inputs of a run, loaded: role → volume, role → document, and role → model file.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    volumes: BTreeMap<String, Volume<f32>>,
    documents: BTreeMap<String, Document>,
    models: BTreeMap<String, ModelFile>,
}

impl Inputs {
    /// No inputs.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the volume of a role (replacing a volume or a document given before), returning the
    /// volume it replaced.
    pub fn insert(&mut self, role: String, volume: Volume<f32>) -> Option<Volume<f32>> {
        self.documents.remove(&role);
        self.models.remove(&role);
        self.volumes.insert(role, volume)
    }
    /// Sets the document of a role (replacing a volume or a document given before).
    pub fn insert_document(&mut self, role: String, document: Document) -> Option<Document> {
        self.volumes.remove(&role);
        self.models.remove(&role);
        self.documents.insert(role, document)
    }
    /// The volume of a role.
    pub fn get(&self, role: &str) -> Option<&Volume<f32>> {
        self.volumes.get(role)
    }
    /// The volume of a role, to change.
    pub fn get_mut(&mut self, role: &str) -> Option<&mut Volume<f32>> {
        self.volumes.get_mut(role)
    }
    /// Sets the model file of a role (replacing anything given before).
    pub fn insert_model(&mut self, role: String, model: ModelFile) -> Option<ModelFile> {
        self.volumes.remove(&role);
        self.documents.remove(&role);
        self.models.insert(role, model)
    }
    /// The model file of a role.
    pub fn model(&self, role: &str) -> Option<&ModelFile> {
        self.models.get(role)
    }
    /// The model files by role.
    pub fn models(&self) -> &BTreeMap<String, ModelFile> {
        &self.models
    }
    /// The document of a role.
    pub fn document(&self, role: &str) -> Option<&Document> {
        self.documents.get(role)
    }
    /// Whether a role has a volume or a document.
    pub fn contains_key(&self, role: &str) -> bool {
        self.volumes.contains_key(role)
            || self.documents.contains_key(role)
            || self.models.contains_key(role)
    }
    /// Every role given (volumes and documents), in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        let mut all: Vec<&String> = self
            .volumes
            .keys()
            .chain(self.documents.keys())
            .chain(self.models.keys())
            .collect();
        all.sort();
        all.into_iter()
    }
    /// The volumes by role.
    pub fn volumes(&self) -> &BTreeMap<String, Volume<f32>> {
        &self.volumes
    }
    /// The documents by role.
    pub fn documents(&self) -> &BTreeMap<String, Document> {
        &self.documents
    }
    /// Whether nothing is given.
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty() && self.documents.is_empty() && self.models.is_empty()
    }
    /// How many roles are given (volumes and documents).
    pub fn len(&self) -> usize {
        self.volumes.len() + self.documents.len() + self.models.len()
    }
    /// The volumes with their roles, in role order (as the map's `iter`).
    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, String, Volume<f32>> {
        self.volumes.iter()
    }
    /// The volumes, in role order (as the map's `values`).
    pub fn values(&self) -> std::collections::btree_map::Values<'_, String, Volume<f32>> {
        self.volumes.values()
    }
    /// Removes a role's volume or document, returning the volume if it was one.
    pub fn remove(&mut self, role: &str) -> Option<Volume<f32>> {
        self.documents.remove(role);
        self.models.remove(role);
        self.volumes.remove(role)
    }
}

impl<'a> IntoIterator for &'a Inputs {
    type Item = (&'a String, &'a Volume<f32>);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Volume<f32>>;
    /// The volumes with their roles (as iterating the map did).
    fn into_iter(self) -> Self::IntoIter {
        self.volumes.iter()
    }
}

impl std::ops::Index<&str> for Inputs {
    type Output = Volume<f32>;
    /// The volume of a role; panics when there is none, like the map it replaced (tests only).
    fn index(&self, role: &str) -> &Volume<f32> {
        &self.volumes[role]
    }
}

impl From<BTreeMap<String, Volume<f32>>> for Inputs {
    fn from(volumes: BTreeMap<String, Volume<f32>>) -> Self {
        Self {
            volumes,
            documents: BTreeMap::new(),
            models: BTreeMap::new(),
        }
    }
}

impl<const N: usize> From<[(String, Volume<f32>); N]> for Inputs {
    fn from(items: [(String, Volume<f32>); N]) -> Self {
        items.into_iter().collect()
    }
}

impl FromIterator<(String, Volume<f32>)> for Inputs {
    fn from_iter<I: IntoIterator<Item = (String, Volume<f32>)>>(items: I) -> Self {
        Self::from(items.into_iter().collect::<BTreeMap<_, _>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_format_follows_the_extension_then_the_text() {
        assert_eq!(
            Document::new("a.JSON", "x".into()).format,
            DocumentFormat::Json
        );
        assert_eq!(
            Document::new("tr.csv", "{".into()).format,
            DocumentFormat::Csv
        );
        assert_eq!(
            Document::new("stdin", " {\"visits\":[]}".into()).format,
            DocumentFormat::Json
        );
        assert_eq!(
            Document::new("stdin", "A,B\n1,2".into()).format,
            DocumentFormat::Csv
        );
    }

    #[test]
    fn a_role_holds_a_volume_or_a_document_never_both() {
        let mut i = Inputs::new();
        i.insert_document("lesions".into(), Document::new("l.json", "{}".into()));
        assert!(i.contains_key("lesions") && i.get("lesions").is_none());
        assert_eq!(i.keys().collect::<Vec<_>>(), ["lesions"]);
        let grid =
            corelab_image::geometry::Geometry::from_ras([1, 1, 1], &nalgebra::Matrix4::identity());
        let v = Volume::new(ndarray::Array3::<f32>::zeros((1, 1, 1)), grid).expect("1 voxel");
        i.insert("lesions".into(), v);
        assert!(i.document("lesions").is_none() && i.get("lesions").is_some());
        assert_eq!(
            (i.len(), i.iter().count(), (&i).into_iter().count()),
            (1, 1, 1)
        );
        assert!(i.remove("lesions").is_some() && i.is_empty());
    }
}
