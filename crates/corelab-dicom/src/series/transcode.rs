//! Pixel data that dicom-rs cannot decode, transcoded by a peer before it is decoded.
//!
//! 12-bit JPEG Extended (1.2.840.10008.1.2.4.51, process 4) is the one case today: dicom-pixeldata
//! hands JPEG to jpeg-decoder, which has no 12-bit path ("unsupported JPEG feature:
//! SamplePrecision(12)"; DEPS.md's decode matrix). GDCM's `gdcmconv --raw` (Debian
//! `libgdcm-tools`; its 12-bit IJG build) writes the object uncompressed, in explicit VR little
//! endian, which dicom-pixeldata decodes like any native object. Its output is the voxels dcmtk's
//! `dcmdjpeg` (another 12-bit IJG build) decodes, which `tests/decode.rs` holds it to.

use super::Instance;
use dicom_dictionary_std::tags;
use dicom_pixeldata::{DecodedPixelData, PixelDecoder};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The transfer syntax transcoded: JPEG Extended (Process 2 & 4), when 12 bits are stored.
pub(crate) const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// How pixel data dicom-rs cannot decode (12-bit JPEG Extended) is decoded: by transcoding it
/// with GDCM's `gdcmconv`, found on `PATH` (the default), given by path, or not at all.
///
/// Passed to [`super::volumes_with`]; tests choose one here rather than change the process's
/// `PATH`, which other threads read.
#[derive(Debug, Default)]
pub struct Transcoder {
    gdcmconv: Gdcmconv,
    /// `gdcmconv --version`, asked once, for the volume's notes.
    version: OnceLock<String>,
}

#[derive(Debug, Default)]
enum Gdcmconv {
    /// Looked for on `PATH` when first needed.
    #[default]
    OnPath,
    At(PathBuf),
    Absent,
}

impl Transcoder {
    /// `gdcmconv` from `PATH`, looked for when an object needs it (the default).
    pub fn from_path() -> Self {
        Self::default()
    }

    /// The `gdcmconv` program at `path`.
    pub fn gdcmconv(path: impl Into<PathBuf>) -> Self {
        Self {
            gdcmconv: Gdcmconv::At(path.into()),
            version: OnceLock::new(),
        }
    }

    /// No transcoding: what dicom-rs cannot decode is refused, saying what would decode it.
    pub fn none() -> Self {
        Self {
            gdcmconv: Gdcmconv::Absent,
            version: OnceLock::new(),
        }
    }

    /// The program to run, if any.
    fn program(&self) -> Option<PathBuf> {
        match &self.gdcmconv {
            Gdcmconv::OnPath => on_path("gdcmconv"),
            Gdcmconv::At(path) => Some(path.clone()),
            Gdcmconv::Absent => None,
        }
    }

    /// Whether an object whose decoding failed is one this transcodes: 12-bit JPEG Extended.
    pub(crate) fn applies(ts: &str, instance: &Instance) -> bool {
        let bits_stored = instance
            .object
            .get(tags::BITS_STORED)
            .and_then(|e| e.to_int::<u16>().ok())
            .unwrap_or(8);
        ts == JPEG_EXTENDED && bits_stored > 8
    }

    /// The instance's pixel data, transcoded by gdcmconv and decoded, and a note saying so; or
    /// why not (the sentence that follows "cannot decode pixel data (…): ").
    pub(crate) fn decode(
        &self,
        instance: &Instance,
        dicom_rs_error: &str,
    ) -> Result<(DecodedPixelData<'static>, String), String> {
        let Some(gdcmconv) = self.program() else {
            return Err(format!(
                "12-bit JPEG ({JPEG_EXTENDED}) is not decoded by dicom-rs ({dicom_rs_error}); \
                 install GDCM's gdcmconv (Debian libgdcm-tools) to transcode it"
            ));
        };
        let run = |why: String| {
            format!(
                "12-bit JPEG ({JPEG_EXTENDED}) transcoded by {}: {why}",
                gdcmconv.display()
            )
        };
        let dir = TempDir::new().map_err(|e| run(format!("no temporary folder: {e}")))?;
        let (input, output) = (dir.0.join("in.dcm"), dir.0.join("out.dcm"));
        instance
            .object
            .write_to_file(&input)
            .map_err(|e| run(format!("cannot write the object for it: {e}")))?;
        let out = Command::new(&gdcmconv)
            .arg("--raw")
            .arg(&input)
            .arg(&output)
            .output()
            .map_err(|e| run(format!("cannot run it: {e}")))?;
        if !out.status.success() {
            return Err(run(format!(
                "it failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let raw =
            Instance::from_path(&output).map_err(|e| run(format!("its output: {}", e.why)))?;
        let ts = raw.object.meta().transfer_syntax().trim_end_matches('\0');
        if ts == JPEG_EXTENDED {
            return Err(run("its output is still JPEG".into()));
        }
        let decoded = raw
            .object
            .decode_pixel_data()
            .map_err(|e| {
                run(format!(
                    "its output (transfer syntax {ts}) does not decode: {e}"
                ))
            })?
            .to_owned();
        let version = self.version.get_or_init(|| version(&gdcmconv));
        let note = format!(
            "pixel data in 12-bit JPEG Extended ({JPEG_EXTENDED}), which dicom-rs does not decode, \
             transcoded to transfer syntax {ts} by gdcmconv --raw ({version})"
        );
        Ok((decoded, note))
    }
}

/// `gdcmconv --version`'s "gdcm 3.0.21", or what it printed.
fn version(gdcmconv: &Path) -> String {
    let Ok(out) = Command::new(gdcmconv).arg("--version").output() else {
        return "version unknown".into();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let text = text.trim();
    match text.find("gdcm ") {
        Some(at) => text[at..]
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        None if !text.is_empty() => text.to_owned(),
        None => "version unknown".into(),
    }
}

/// The first file named `program` in a folder of `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A fresh folder under the system's temporary folder, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "corelab-gdcmconv-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        // create_dir (not create_dir_all) fails on an existing folder: the name is ours alone.
        std::fs::create_dir(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
