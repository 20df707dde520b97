//! File inputs of a trial's algorithms (`[[algorithms]] files`: a template, atlas regions): read,
//! checked and kept in the blob store when the trial is locked, and read back by their locked
//! hash when a job runs, so a worker on any node runs on exactly the locked bytes.

use crate::jobs::JobError;
use corelab_algo::lock::{FileHashes, LockedFile};
use corelab_core::{Sha256Digest, TrialFile};
use corelab_image::Volume;
use corelab_store::Store;
use std::path::Path;

/// Reads every file input of `file`'s algorithms (relative paths from `base`), refuses one that is
/// not a readable NIfTI image, and keeps its bytes in the blob store: the hashes
/// [`corelab_algo::lock::resolve`] locks.
pub async fn lock_files(
    store: &Store,
    file: &TrialFile,
    base: &Path,
) -> Result<FileHashes, String> {
    let mut out = FileHashes::new();
    for (i, spec) in file.algorithms.iter().enumerate() {
        for (role, written) in &spec.files {
            if out.contains_key(written) {
                continue;
            }
            let at = format!("algorithms[{i}].files.{role} ({})", spec.id);
            let path = base.join(written);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("{at}: cannot read {}: {e}", path.display()))?;
            if is_model(&spec.id, role) {
                corelab_algo::dl::check_model(&bytes)
                    .map_err(|e| format!("{at}: {}: {e}", path.display()))?;
            } else {
                volume_of(&bytes).map_err(|e| format!("{at}: {}: {e}", path.display()))?;
            }
            let blob = store
                .blobs
                .put(bytes::Bytes::from(bytes))
                .await
                .map_err(|e| format!("{at}: keeping {}: {e}", path.display()))?;
            let absolute = std::path::absolute(&path).unwrap_or(path);
            out.insert(
                written.clone(),
                LockedFile {
                    path: absolute.display().to_string(),
                    sha256: blob.sha256.to_hex(),
                },
            );
        }
    }
    Ok(out)
}

/// A locked file's volume, from the blob store by its hash.
pub async fn load(store: &Store, role: &str, file: &LockedFile) -> Result<Volume<f32>, JobError> {
    let bytes = locked_bytes(store, role, file).await?;
    let mut volume = volume_of(&bytes)
        .map_err(|e| JobError::Final(format!("file input {role} ({}): {e}", file.path)))?;
    // The provenance names it by its locked path (jobs::execute reads this note).
    volume.source.notes = vec![format!("file:{}", file.path)];
    Ok(volume)
}

/// Whether `role` of algorithm `id` takes a model file (an ONNX network) rather than an image.
pub fn is_model(id: &str, role: &str) -> bool {
    corelab_algo::Registry::builtin().get(id).is_some_and(|a| {
        a.inputs()
            .iter()
            .any(|r| r.role == role && r.kind == corelab_algo::InputKind::Model)
    })
}

/// A locked model file, from the blob store by its hash.
pub async fn load_model(
    store: &Store,
    role: &str,
    file: &LockedFile,
) -> Result<corelab_algo::ModelFile, JobError> {
    let bytes = locked_bytes(store, role, file).await?;
    Ok(corelab_algo::ModelFile::new(&file.path, bytes.to_vec()))
}

/// A locked file's bytes, from the blob store by its hash (which the store verifies).
async fn locked_bytes(
    store: &Store,
    role: &str,
    file: &LockedFile,
) -> Result<bytes::Bytes, JobError> {
    let digest: Sha256Digest = file.sha256.parse().map_err(|_| {
        JobError::Final(format!(
            "file input {role}: the lock's hash {:?} is not a SHA-256",
            file.sha256
        ))
    })?;
    store
        .blobs
        .get(&digest)
        .await
        .map_err(|e| JobError::Transient(format!("file input {role} ({}): {e}", file.path)))
}

/// A NIfTI file's volume from its bytes (the reader takes paths, so through a temporary file).
fn volume_of(bytes: &[u8]) -> Result<Volume<f32>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
    let gz = bytes.starts_with(&[0x1f, 0x8b]);
    let path = dir.path().join(if gz { "in.nii.gz" } else { "in.nii" });
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    corelab_image::nifti_io::read(&path)
        .map_err(|e| format!("not a NIfTI image corelab can read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_image::Geometry;
    use corelab_store::Overrides;
    use ndarray::Array3;

    const TRIAL: &str = r#"
[trial]
id = "T"
sponsor = "S"
protocol = "P"
phase = "II"

[[algorithms]]
id = "neuro.amyloid-centiloid"
version = "^1.0"
files = { template = "t.nii.gz", target = "t.nii.gz" }
"#;

    #[tokio::test]
    async fn a_locked_file_is_kept_and_read_back_by_its_hash_whatever_happens_to_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(&dir.path().join("lab"), &Overrides::default(), "test")
            .await
            .unwrap();
        let mut voxels = Array3::<f32>::zeros((6, 5, 4));
        voxels[[1, 2, 3]] = 7.0;
        let volume = Volume::new(
            voxels,
            Geometry::axis_aligned([6, 5, 4], [1.0; 3], [2.0; 3]),
        )
        .unwrap();
        corelab_image::nifti_io::write(&dir.path().join("t.nii.gz"), &volume).unwrap();
        let file = TrialFile::parse(TRIAL).unwrap();
        let hashes = lock_files(&store, &file, dir.path()).await.unwrap();
        // One file named twice is read once.
        assert_eq!(hashes.len(), 1);
        let locked = &hashes["t.nii.gz"];
        // The path changes after the lock: the run still gets the locked bytes.
        std::fs::write(dir.path().join("t.nii.gz"), b"changed").unwrap();
        let back = load(&store, "template", locked).await.unwrap();
        assert_eq!(back.data, volume.data);
        assert_eq!(back.source.notes, [format!("file:{}", locked.path)]);
        // Now unreadable at the path: a new lock refuses it by name.
        let e = lock_files(&store, &file, dir.path()).await.unwrap_err();
        assert!(
            e.contains("algorithms[0].files.target") && e.contains("not a NIfTI"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_model_file_is_checked_locked_by_hash_and_read_back_as_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(&dir.path().join("lab"), &Overrides::default(), "test")
            .await
            .unwrap();
        let shared = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/models/unet3d_tiny.onnx"
        );
        let bytes = std::fs::read(shared).unwrap();
        std::fs::write(dir.path().join("net.onnx"), &bytes).unwrap();
        let trial = r#"
[trial]
id = "T"
sponsor = "S"
protocol = "P"
phase = "II"

[[algorithms]]
id = "dl.segment"
version = "^1.0"
files = { model = "net.onnx" }
"#;
        let file = TrialFile::parse(trial).unwrap();
        let hashes = lock_files(&store, &file, dir.path()).await.unwrap();
        let locked = &hashes["net.onnx"];
        assert_eq!(locked.sha256, Sha256Digest::of(&bytes).to_hex());
        assert!(is_model("dl.segment", "model") && !is_model("dl.segment", "image"));
        let model = load_model(&store, "model", locked).await.unwrap();
        assert_eq!((&*model.bytes, &model.sha256), (&bytes[..], &locked.sha256));
        // Not a network: refused when the trial is locked, by field and file.
        std::fs::write(dir.path().join("net.onnx"), b"not a network").unwrap();
        let e = lock_files(&store, &file, dir.path()).await.unwrap_err();
        assert!(
            e.contains("algorithms[0].files.model") && e.contains("not an ONNX network"),
            "{e}"
        );
    }
}
