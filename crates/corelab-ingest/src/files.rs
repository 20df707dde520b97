//! What `corelab import` reads: files, folders (recursively), zip archives and DICOMDIR file sets,
//! each object read into memory under a size limit. Zip entries are read, never extracted, so a path that escapes
//! the archive (`../`, absolute) cannot write anywhere; such entries are refused by name anyway,
//! as are entries larger than the limit, declared or actual (a zip bomb stops at the limit).

use std::io::Read;
use std::path::{Path, PathBuf};

/// One object to import.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// A file.
    File(PathBuf),
    /// An entry of a zip archive.
    ZipEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's index.
        index: usize,
        /// The entry's name.
        name: String,
    },
}

impl Item {
    /// How the item is named in reports and the audit trail.
    pub fn display(&self) -> String {
        match self {
            Item::File(p) => p.display().to_string(),
            Item::ZipEntry { archive, name, .. } => format!("{}!{name}", archive.display()),
        }
    }
}

/// Every object under `paths`, in order (folders sorted), or the first path that cannot be read.
/// A DICOMDIR named on its own brings the files it references (a folder's files are all taken
/// anyway). Items that can be listed but not read (a bad zip entry, a file a DICOMDIR names that
/// is missing) are listed and fail at [`read_item`]; each file is listed once.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            for f in files_under(path).map_err(|e| format!("{}: {e}", path.display()))? {
                push_file(f, &mut items)?;
            }
        } else {
            push_file(path.clone(), &mut items)?;
            for f in dicomdir_files(path)? {
                push_file(f, &mut items)?;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.clone()));
    Ok(items)
}

/// The files a DICOMDIR (the index of a DICOM file set, PS3.10 and PS3.3 F.3) references, in
/// record order; none if `path` is not a readable DICOMDIR (a file set's index is always named
/// DICOMDIR; one that cannot be read is imported, and quarantined, like any other file). A
/// Referenced File ID that would leave the file set's folder is refused by name.
fn dicomdir_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_uppercase().starts_with("DICOMDIR"));
    if !named {
        return Ok(Vec::new());
    }
    let Ok(parsed) = corelab_dicom::read::read_path(path) else {
        return Ok(Vec::new());
    };
    let Some(records) = parsed
        .dataset
        .get(dicom_dictionary_std::tags::DIRECTORY_RECORD_SEQUENCE)
        .and_then(|e| e.items())
    else {
        return Ok(Vec::new());
    };
    let root = path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let Some(id) = record
            .get(dicom_dictionary_std::tags::REFERENCED_FILE_ID)
            .and_then(|e| e.value().to_multi_str().ok())
        else {
            continue; // a patient, study or series record
        };
        let parts: Vec<&str> = id.iter().map(|p| p.trim_matches(['\0', ' '])).collect();
        let bad = parts.is_empty()
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains(['/', '\\', ':']));
        if bad {
            return Err(format!(
                "{}: record {} references {:?}, a path outside the file set's folder; refused",
                path.display(),
                i + 1,
                parts.join("\\")
            ));
        }
        files.push(
            parts
                .iter()
                .fold(root.to_path_buf(), |p, part| p.join(part)),
        );
    }
    Ok(files)
}

fn push_file(path: PathBuf, items: &mut Vec<Item>) -> Result<(), String> {
    if !is_zip(&path) {
        items.push(Item::File(path));
        return Ok(());
    }
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let archive = zip::ZipArchive::new(file)
        .map_err(|e| format!("{}: not a readable zip archive: {e}", path.display()))?;
    for index in 0..archive.len() {
        let name = archive
            .name_for_index(index)
            .and_then(|n| n.ok())
            .map(|n| n.into_owned())
            .unwrap_or_default();
        if name.ends_with('/') {
            continue; // a folder entry
        }
        items.push(Item::ZipEntry {
            archive: path.clone(),
            index,
            name,
        });
    }
    Ok(())
}

fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// Every regular file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let t = entry.file_type()?;
        if t.is_dir() {
            walk(&entry.path(), files)?;
        } else if t.is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

/// The bytes of one item, at most `max` of them; the error says why it cannot be read.
pub fn read_item(item: &Item, max: u64) -> Result<Vec<u8>, String> {
    match item {
        Item::File(path) => {
            let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
            if len > max {
                return Err(format!(
                    "{len} bytes, more than the limit of {max} bytes for one object"
                ));
            }
            std::fs::read(path).map_err(|e| e.to_string())
        }
        Item::ZipEntry {
            archive,
            index,
            name,
        } => {
            if name.starts_with('/')
                || name.starts_with('\\')
                || name.split(['/', '\\']).any(|part| part == "..")
                || name.contains(':')
            {
                return Err(format!(
                    "zip entry {name:?} has a path that escapes the archive; refused"
                ));
            }
            let file = std::fs::File::open(archive).map_err(|e| e.to_string())?;
            let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
            let entry = zip
                .by_index(*index)
                .map_err(|e| format!("zip entry {name:?}: {e}"))?;
            if entry.size() > max {
                return Err(format!(
                    "zip entry {name:?} declares {} bytes, more than the limit of {max}",
                    entry.size()
                ));
            }
            let mut bytes = Vec::new();
            entry
                .take(max + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("zip entry {name:?}: {e}"))?;
            if bytes.len() as u64 > max {
                return Err(format!(
                    "zip entry {name:?} expands beyond the limit of {max} bytes (a zip bomb?); refused"
                ));
            }
            Ok(bytes)
        }
    }
}
