//! truth.json: what is known of a phantom, subject by subject, visit by visit (grid-free:
//! analytic volumes, shapes, lesions, brain and PET measures), and series by series (on the
//! series' grid: partial-volume and mask volumes, noise-free means, the files of the masks).

use super::{BiasField, Ellipsoid, Kind, Noise, Patient, brain, cardiac, ct_tumor, pet, qc};
use serde::Serialize;

/// Everything known about a phantom: truth.json.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Truth {
    /// The kind.
    pub kind: Kind,
    /// The seed.
    pub seed: u64,
    /// What made it.
    pub generator: String,
    /// Samples per voxel along each axis behind the partial-volume values.
    pub subsamples_per_axis: usize,
    /// The in-plane voxel size asked for (mm).
    pub voxel_mm: f64,
    /// Conventions, in words.
    pub notes: Vec<String>,
    /// The subjects.
    pub subjects: Vec<SubjectTruth>,
}

/// One subject.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubjectTruth {
    /// The subject's ID (the folder name, the Patient ID).
    pub subject: String,
    /// Where the subject is scanned.
    pub site: String,
    /// Who the subject is.
    pub patient: Patient,
    /// The visits.
    pub visits: Vec<VisitTruth>,
}

/// One visit: what is true of the anatomy (whatever the grid), and per series what is true on
/// its grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VisitTruth {
    /// The visit (the folder name).
    pub visit: String,
    /// Its date (YYYYMMDD).
    pub date: String,
    /// Days since the first visit.
    pub day: i64,
    /// Exact volumes of the structures.
    pub structures: Vec<StructureTruth>,
    /// Every ellipsoid of the scene, parents before children.
    pub shapes: Vec<ShapeTruth>,
    /// Brain measures (brain, MS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brain: Option<brain::BrainTruth>,
    /// Lesions and lymph nodes (MS, CT).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lesions: Vec<LesionTruth>,
    /// RECIST 1.1 sums (CT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recist: Option<ct_tumor::RecistTruth>,
    /// Doses, times and SUVs (PET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pet: Option<pet::PetTruth>,
    /// Ventricular volumes over the cycle (cardiac).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cardiac: Option<cardiac::CardiacTruth>,
    /// SNR, ghosting and motion (qc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qc: Option<qc::QcTruth>,
    /// Neuro PET/SPECT: motion, uptake and the ratios to find.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neuro_pet: Option<super::neuro_pet::NeuroPetTruth>,
    /// RANO's enhancing-disease arithmetic and response (glioma).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rano: Option<super::glioma::RanoTruth>,
    /// The clinical items RANO reads beside the images (glioma).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clinical: Option<super::glioma::ClinicalTruth>,
    /// The series, as rendered.
    pub series: Vec<SeriesTruth>,
}

/// The exact volume of a structure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StructureTruth {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: Vec<u8>,
    /// Its analytic volume (mm³).
    pub analytic_volume_mm3: f64,
}

/// One ellipsoid of a scene.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShapeTruth {
    /// The label it paints.
    pub label: u8,
    /// The label's name.
    pub name: String,
    /// The shape.
    pub ellipsoid: Ellipsoid,
}

/// A lesion or lymph node at one visit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LesionTruth {
    /// Its ID, the same at every visit (L1, N1, …).
    pub id: String,
    /// Its label in the scene (and the structure of that name in each series).
    pub label: u8,
    /// What it is (lung nodule, liver metastasis, lymph node, white-matter lesion).
    pub kind: String,
    /// baseline, new, enlarging, shrinking, stable.
    pub status: String,
    /// A RECIST target (lesions ≥ 10 mm long, nodes ≥ 15 mm short axis at baseline).
    pub target: bool,
    /// The shape.
    pub ellipsoid: Ellipsoid,
    /// Exact volume (mm³).
    pub analytic_volume_mm3: f64,
    /// The longest diameter in the axial plane (mm): through the centre slice.
    pub long_axis_mm: f64,
    /// The longest diameter perpendicular to it in that plane (mm).
    pub short_axis_mm: f64,
}

impl LesionTruth {
    /// A lesion of `shape` at a visit: its exact volume and the axes of its largest axial
    /// section come from the shape.
    pub fn of(
        id: &str,
        label: u8,
        kind: &str,
        status: &str,
        target: bool,
        shape: &Ellipsoid,
    ) -> Self {
        let (long, short) = shape.axial_diameters_mm();
        Self {
            id: id.to_owned(),
            label,
            kind: kind.to_owned(),
            status: status.to_owned(),
            target,
            ellipsoid: shape.clone(),
            analytic_volume_mm3: shape.volume_mm3(),
            long_axis_mm: long,
            short_axis_mm: short,
        }
    }
}

/// A label's value in a series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelTruth {
    /// The label.
    pub label: u8,
    /// Its name.
    pub name: String,
    /// Its intensity in the image's units, before bias and noise.
    pub value: f64,
}

/// One series on its grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesTruth {
    /// The folder name.
    pub series: String,
    /// `subject/visit/series`, relative to the phantom's folder.
    pub path: String,
    /// MR, CT or PT.
    pub modality: String,
    /// (0008,103E) as written.
    pub series_description: String,
    /// (0020,000E) as written.
    pub series_instance_uid: Option<String>,
    /// Files (slices).
    pub instances: usize,
    /// Voxels along i, j, k.
    pub dims: [usize; 3],
    /// Spacing along i, j, k (mm).
    pub spacing_mm: [f64; 3],
    /// Voxel (i, j, k) → LPS (mm), rows of the 4×4 affine.
    pub affine_lps: [[f64; 4]; 4],
    /// A series of several temporal positions: each one's time (ms): a cine series' trigger
    /// time after the R wave, a dynamic series' time after its start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub times_ms: Vec<f64>,
    /// The N/2 ghost added, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ghost: Option<super::Ghost>,
    /// The noise added.
    pub noise: Noise,
    /// The bias field applied (MR).
    pub bias_field: Option<BiasField>,
    /// The bias field on the grid, as NIfTI.
    pub bias_file: Option<String>,
    /// Each label's value.
    pub labels: Vec<LabelTruth>,
    /// Each structure on this grid.
    pub structures: Vec<SeriesStructureTruth>,
}

/// A structure on a series' grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesStructureTruth {
    /// Its name.
    pub name: String,
    /// A cine series: the temporal position (from 1) this entry is of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<usize>,
    /// Its labels.
    pub labels: Vec<u8>,
    /// The analytic volume (mm³), whatever the grid; `None` when the field of view cuts the
    /// structure (the body wall, the lungs of the torso), so that only the partial-volume and
    /// mask volumes describe what is imaged.
    pub analytic_volume_mm3: Option<f64>,
    /// The sum of its voxels' fractions × the voxel volume (mm³).
    pub pv_volume_mm3: f64,
    /// Voxels of fraction ≥ ½ × the voxel volume (mm³): the mask's volume.
    pub mask_volume_mm3: f64,
    /// Voxels in the mask.
    pub mask_voxels: u64,
    /// The mask (NIfTI, relative to the phantom's folder).
    pub mask_file: String,
    /// The mean of the image before noise (with partial volume and bias) over the mask.
    pub mask_mean_noise_free: Option<f64>,
    /// The mask's largest in-plane diameter (mm), measured as `diameters::largest_in_plane`
    /// does (lesions and nodes).
    pub mask_long_axis_mm: Option<f64>,
    /// Its perpendicular (mm).
    pub mask_short_axis_mm: Option<f64>,
}
