//! The demo's endpoints and their truth: which measurements the demo reports, and the phantom's
//! exact value of each (from `truth.json` and the truth bias fields `corelab phantom` writes):
//! the MS phantom's volumes and counts, the neuro PET/SPECT phantom's ratios.

use serde_json::Value;
use std::path::Path;

/// The endpoints the demo reports, `(algorithm id, measurement)`, in order.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("image.bias-n4", "field-cv"),
    ("neuro.brain-extraction", "brain-volume"),
    ("neuro.brain-extraction", "icv"),
    ("neuro.tissue-seg", "gm-volume"),
    ("neuro.tissue-seg", "wm-volume"),
    ("neuro.tissue-seg", "csf-volume"),
    ("neuro.tissue-seg", "brain-parenchymal-fraction"),
    ("neuro.ms-lesions", "lesion-count"),
    ("neuro.ms-lesions", "lesion-volume"),
    ("dl.flair-lesions", "lesion-count"),
    ("dl.flair-lesions", "lesion-volume"),
    ("neuro.lesion-change", "new-lesions"),
    ("neuro.lesion-change", "enlarging-lesions"),
    ("neuro.pbvc", "pbvc"),
    ("neuro.amyloid-centiloid", "suvr"),
    ("neuro.amyloid-centiloid", "centiloid"),
    ("neuro.amyloid-centiloid", "positive"),
    ("neuro.dat-sbr", "sbr-left-caudate"),
    ("neuro.dat-sbr", "sbr-right-caudate"),
    ("neuro.dat-sbr", "sbr-left-putamen"),
    ("neuro.dat-sbr", "sbr-right-putamen"),
    ("neuro.dat-sbr", "asymmetry-putamen"),
];

/// The Centiloid at or above which the DLB demo trial calls a scan positive (its `threshold`).
pub const CENTILOID_THRESHOLD: f64 = 24.1;

/// The phantoms' truth, read once.
pub struct Truth<'a> {
    phantoms: &'a Path,
    doc: Value,
}

impl<'a> Truth<'a> {
    /// Reads `PHANTOMS/truth.json`.
    pub fn read(phantoms: &'a Path) -> anyhow::Result<Self> {
        let path = phantoms.join("truth.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Self {
            phantoms,
            doc: serde_json::from_str(&text)?,
        })
    }

    /// The true value of `measure` of `algorithm` for phantom subject `n` (1-based) at visit
    /// `visit` (0 baseline, 1 follow-up), in the measurement's unit; `None` when the phantom has
    /// no truth for it.
    pub fn of(&self, n: usize, visit: usize, algorithm: &str, measure: &str) -> Option<f64> {
        let v = &self.doc["subjects"][n - 1]["visits"][visit];
        let brain = &v["brain"];
        let structure = |name: &str| {
            v["structures"]
                .as_array()?
                .iter()
                .find(|s| s["name"] == name)?["analytic_volume_mm3"]
                .as_f64()
        };
        let ml = |mm3: Option<f64>| mm3.map(|x| x / 1000.0);
        // Neuro PET/SPECT: the ratios a region-mean method can give (the phantom's noise-free
        // blurred images over the template regions), and Centiloid from that SUVR.
        let np = &v["neuro_pet"];
        let centiloid = || {
            let tracer = np["tracer"].as_str()?;
            Some(
                corelab_algo::neuro::amyloid::Conversion::of(tracer)?
                    .centiloid(np["suvr"].as_f64()?),
            )
        };
        match (algorithm, measure) {
            ("image.bias-n4", "field-cv") => self.field_cv(n, visit),
            // The extracted brain holds the ventricles (as BET's mask does).
            ("neuro.brain-extraction", "brain-volume") => ml(Some(
                brain["brain_volume_mm3"].as_f64()? + structure("ventricles")?,
            )),
            ("neuro.brain-extraction" | "neuro.tissue-seg", "icv") => ml(brain["icv_mm3"].as_f64()),
            ("neuro.tissue-seg", "gm-volume") => ml(structure("gm")),
            ("neuro.tissue-seg", "wm-volume") => ml(structure("wm")),
            ("neuro.tissue-seg", "csf-volume") => ml(structure("csf")),
            ("neuro.tissue-seg", "brain-parenchymal-fraction") => {
                brain["brain_parenchymal_fraction"].as_f64()
            }
            ("neuro.ms-lesions" | "dl.flair-lesions", "lesion-count") => {
                brain["lesion_count"].as_f64()
            }
            ("neuro.ms-lesions" | "dl.flair-lesions", "lesion-volume") => {
                ml(brain["lesion_volume_mm3"].as_f64())
            }
            ("neuro.lesion-change", "new-lesions") => brain["new_lesions"].as_f64(),
            ("neuro.lesion-change", "enlarging-lesions") => brain["enlarging_lesions"].as_f64(),
            ("neuro.pbvc", "pbvc") => brain["percent_brain_volume_change"].as_f64(),
            ("neuro.amyloid-centiloid", "suvr") => np["suvr"].as_f64(),
            ("neuro.amyloid-centiloid", "centiloid") => centiloid(),
            ("neuro.amyloid-centiloid", "positive") => {
                centiloid().map(|c| f64::from(u8::from(c >= CENTILOID_THRESHOLD)))
            }
            ("neuro.dat-sbr", "asymmetry-putamen") => np["asymmetry_putamen_percent"].as_f64(),
            ("neuro.dat-sbr", m) => np["sbr"][m.strip_prefix("sbr-")?].as_f64(),
            _ => None,
        }
    }

    /// The coefficient of variation of the phantom's true bias field on the T1w grid.
    fn field_cv(&self, n: usize, visit: usize) -> Option<f64> {
        let path = self
            .phantoms
            .join(format!("truth/MS-{n:03}_V{}_T1w_bias.nii.gz", visit + 1));
        let field = corelab_image::nifti_io::read(&path).ok()?;
        let values: Vec<f64> = field.data.iter().map(|f| f64::from(*f)).collect();
        let (mean, sd) = corelab_algo::image::mean_sd(&values)?;
        (mean > 0.0).then(|| sd / mean)
    }
}
