//! CDISC SDTM domains built from corelab's results: TU (tumour identification), TR (tumour
//! results) and RS (response) from the lesion model and a RECIST 1.1 or RANO assessment, one
//! read (evaluator) at a time so that several reads of a subject share a dataset with the
//! accepted one flagged; NV (nervous system findings) from neurology imaging measurements; and
//! the package writer (CSV + XPT per dataset, define.xml). Documented in `docs/sdtm.md`.

mod nv;
mod rs;
mod tu_tr;

pub use nv::{NvMeasure, NvTest, nv, nv_test};
pub use rs::rs;
pub use tu_tr::{tr, tu};

use crate::dataset::{Column, Dataset, ExportError, Origin};
use corelab_algo::onco::Reported;
use corelab_algo::onco::lesions::Subject;
use corelab_algo::onco::response::Response;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Who read the images: SDTM --EVAL, --EVALID and --ACPTFL on every TU, TR and RS row of a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluator {
    /// The evaluator's role (--EVAL; CDISC CT C78735: `INDEPENDENT ASSESSOR`, `INVESTIGATOR`,
    /// `ADJUDICATION COMMITTEE`).
    pub eval: String,
    /// Which one of that role (--EVALID; C96777: `RADIOLOGIST 1`); empty for the investigator.
    pub evalid: String,
    /// Whether this read is the accepted one (--ACPTFL `Y`, else empty): after adjudication,
    /// the read the analysis uses.
    pub accepted: bool,
}

/// The response criterion of a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion {
    /// RECIST 1.1: target lesions summed as diameters (TR SUMDIAM, mm).
    Recist11,
    /// RANO: target lesions summed as products of perpendicular diameters (TR SPD, mm²).
    Rano,
}

impl Criterion {
    /// RSCAT: the criterion's name.
    pub fn category(self) -> &'static str {
        match self {
            Self::Recist11 => "RECIST 1.1",
            Self::Rano => "RANO",
        }
    }

    /// TUMETHOD of the criterion's imaging: CT for RECIST 1.1, MRI for RANO.
    pub fn method(self) -> &'static str {
        match self {
            Self::Recist11 => "CT SCAN",
            Self::Rano => "MRI",
        }
    }

    /// `subject` assessed by the criterion's engine (`onco.recist11`, `onco.rano`) with its
    /// default rules: each visit's time point as reported, and the best overall response.
    pub fn assess(
        self,
        subject: &Subject,
    ) -> Result<(Vec<Reported>, Response), corelab_algo::onco::lesions::RuleError> {
        use corelab_algo::onco::{rano, recist11};
        Ok(match self {
            Self::Recist11 => {
                let a = recist11::assess(subject, &recist11::Rules::default())?;
                (a.reported(), a.best)
            }
            Self::Rano => {
                let a = rano::assess(subject, &rano::Rules::default())?;
                (a.reported(), a.best)
            }
        })
    }
}

/// One read of one subject: the lesions as the evaluator saw them, and its assessment.
#[derive(Clone, Copy, Debug)]
pub struct OncologyRead<'a> {
    /// The subject: lesions and visits, baseline first (as the readers and `check` leave it).
    pub subject: &'a Subject,
    /// Who read.
    pub evaluator: &'a Evaluator,
    /// The criterion assessed.
    pub criterion: Criterion,
    /// The time points as the engine reports them (`Assessment::reported()`), baseline first,
    /// one per visit of `subject`.
    pub points: &'a [Reported],
    /// The best overall response.
    pub best: Response,
    /// TUMETHOD: the imaging method (CDISC CT C85492: `CT SCAN`, `MRI`).
    pub method: &'a str,
}

impl OncologyRead<'_> {
    /// Checks that the assessment belongs to the subject: one time point per visit.
    fn check(&self) -> Result<(), ExportError> {
        if self.points.len() != self.subject.visits.len() {
            return Err(ExportError::Input {
                what: format!(
                    "subject {} read by {} {}",
                    self.subject.id, self.evaluator.eval, self.evaluator.evalid
                ),
                why: format!(
                    "{} time points for {} visits: the assessment is of another subject or read",
                    self.points.len(),
                    self.subject.visits.len()
                ),
            });
        }
        Ok(())
    }
}

/// VISITNUM of a subject's visit: its index, baseline 0, as corelab's RS writer numbers visits
/// (the lesion model keeps no visit number), so that TU, TR and RS agree.
fn visitnum(index: usize) -> f64 {
    index as f64
}

/// The --SEQ numbering: per subject, over the whole dataset, in row order.
#[derive(Default)]
struct Seq(std::collections::BTreeMap<String, u32>);

impl Seq {
    fn next(&mut self, subject: &str) -> f64 {
        let n = self.0.entry(subject.to_owned()).or_insert(0);
        *n += 1;
        f64::from(*n)
    }
}

/// The identifier columns every domain starts with, as the pharmaverse examples order them
/// (DOMAIN, then STUDYID, USUBJID).
fn id_columns() -> Vec<Column> {
    vec![
        Column::text("DOMAIN", "Domain Abbreviation")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("STUDYID", "Study Identifier")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("USUBJID", "Unique Subject Identifier")
            .mandatory()
            .origin(Origin::Assigned),
    ]
}

/// The evaluator columns (--EVAL, --EVALID, --ACPTFL) of a domain prefix.
fn evaluator_columns(prefix: &str) -> Vec<Column> {
    vec![
        Column::text(&format!("{prefix}EVAL"), "Evaluator").origin(Origin::Assigned),
        Column::text(&format!("{prefix}EVALID"), "Evaluator Identifier").origin(Origin::Assigned),
        Column::text(&format!("{prefix}ACPTFL"), "Accepted Record Flag").origin(Origin::Assigned),
    ]
}

/// Writes each dataset as `<name lower>.csv` and `<name lower>.xpt`, then `define.xml`, into
/// `dir` (created if missing), and returns the paths written. Every dataset is validated and
/// turned into bytes before the first file is written, and each file goes to a temporary name in
/// `dir`, is fsynced and renamed over its final name, so that no file is ever half-written.
pub fn write_package(
    dir: &Path,
    study_id: &str,
    datasets: &[Dataset],
) -> Result<Vec<PathBuf>, ExportError> {
    let now = chrono::Utc::now().naive_utc();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for ds in datasets {
        let stem = ds.name.to_ascii_lowercase();
        files.push((format!("{stem}.csv"), ds.to_csv()?.into_bytes()));
        files.push((crate::define::xpt_name(ds), crate::xpt::to_bytes(ds, now)?));
    }
    files.push((
        "define.xml".to_owned(),
        crate::define::to_xml(study_id, datasets, now)?.into_bytes(),
    ));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            // Best effort: the temporary file is ours and useless now.
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&path)(e));
        }
        written.push(path);
    }
    // The renames are durable once the directory itself is synced (POSIX); where a directory
    // cannot be opened for syncing (some platforms), the files are still complete.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Cell;

    #[test]
    fn writes_csv_xpt_and_define_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ds = Dataset::new("XX", "Test", "FINDINGS", "One record", id_columns());
        ds.rows
            .push(vec![Cell::text("XX"), Cell::text("S"), Cell::text("001")]);
        let out = dir.path().join("package");
        let paths = write_package(&out, "S", &[ds]).expect("written");
        let names: Vec<String> = paths
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names, ["xx.csv", "xx.xpt", "define.xml"]);
        let mut listed: Vec<String> = std::fs::read_dir(&out)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        listed.sort();
        assert_eq!(listed, ["define.xml", "xx.csv", "xx.xpt"]);
    }

    #[test]
    fn writes_nothing_when_a_dataset_is_invalid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ds = Dataset::new("XX", "Test", "FINDINGS", "One record", id_columns());
        ds.rows.push(vec![
            Cell::text("XX"),
            Cell::text("S"),
            Cell::text("Ünïcode"),
        ]);
        let out = dir.path().join("package");
        let e = write_package(&out, "S", &[ds]).expect_err("non-ASCII in XPT");
        assert!(e.to_string().contains("column USUBJID, row 0"), "{e}");
        assert!(!out.exists(), "nothing written");
    }
}
