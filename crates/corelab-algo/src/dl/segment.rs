//! The whole chain (prepare, monitor, infer, back, clean) and the two algorithms on it:
//! `dl.segment`, a trial's own ONNX network with its specification as parameters and the model
//! file locked by hash, and `dl.flair-lesions`, the reference network the project trained on
//! its MS phantoms (`training/flair_lesions/`, `docs/algorithms/dl.flair-lesions.md`).

use crate::dl::backend::{BackendKind, Network};
use crate::dl::monitor::{self, DriftReport, TrainingDistribution};
use crate::dl::spec::{ModelSpec, Normalisation, Orientation};
use crate::dl::{DlError, postprocess, preprocess, sliding};
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use crate::{
    AlgoError, Algorithm, DocumentSpec, ImageKind, ImageSpec, InputKind, InputRole, Inputs,
    Measurement, MeasurementSpec, OutputDocument, Outputs, Table, TableSpec,
};
use corelab_image::Volume;
use corelab_image::components::{Connectivity, label};
use ndarray::{Array3, Array4, Axis};

/// What a segmentation run gives.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// Class values on the input grid (0 background).
    pub labels: Array3<u16>,
    /// The network's averaged output (logits) on the input grid, `[channel, i, j, k]`.
    pub channels: Array4<f32>,
    /// What ran the network.
    pub backend: String,
    /// Patches run (before mirroring).
    pub patches: usize,
    /// The input against the model's training distribution, when it has one.
    pub drift: Option<DriftReport>,
}

/// `volume` segmented by `model` (ONNX bytes) as `spec` says, on `backend`; its input checked
/// against `training` when given.
pub fn segment(
    volume: &Volume<f32>,
    model: &[u8],
    spec: &ModelSpec,
    backend: BackendKind,
    training: Option<&TrainingDistribution>,
) -> Result<Segmentation, DlError> {
    spec.check()?;
    let prepared = preprocess::prepare(volume, spec)?;
    let drift = training.map(|t| monitor::check(monitor::stats(volume, &prepared), t));
    let [px, py, pz] = spec.patch;
    let mut network = Network::load(model, backend, [spec.batch, 1, px, py, pz])?;
    let patches = sliding::Tiling::new(
        [
            prepared.data.shape()[0],
            prepared.data.shape()[1],
            prepared.data.shape()[2],
        ],
        spec,
    )
    .origins
    .len();
    let mut run = |input: ndarray::ArrayView5<f32>| network.run(input).map_err(DlError::from);
    let on_grid = sliding::infer(&prepared.data, spec, &mut run)?;
    let channels = prepared.back(&on_grid);
    let labels = postprocess::labels(&channels, spec, volume.geometry.voxel_volume());
    Ok(Segmentation {
        labels,
        channels,
        backend: network.describe(),
        patches,
        drift,
    })
}

/// The `backend` parameter every deep-learning algorithm takes.
fn backend_param() -> ParamSpec {
    ParamSpec {
        name: "backend",
        kind: ParamKind::Choice {
            values: &["tract", "onnxruntime", "onnxruntime-cuda"],
        },
        default: ParamValue::Choice("tract".into()),
        unit: None,
        description: "what runs the network: tract (pure Rust, every machine), ONNX Runtime on the CPU or on a CUDA GPU (when installed). Locked with the rest: results agree across them to floating-point rounding, not bit for bit",
    }
}

fn backend_of(params: &Params) -> BackendKind {
    params
        .choice("backend")
        .and_then(BackendKind::parse)
        .unwrap_or(BackendKind::Tract)
}

fn failed(e: DlError) -> AlgoError {
    match e {
        DlError::Input(why) => AlgoError::Input {
            role: "image".into(),
            why,
        },
        other => AlgoError::Failed(other.to_string()),
    }
}

/// The monitoring document: the drift report, what ran, and the model's hash.
fn monitor_document(s: &Segmentation, model_sha256: &str) -> OutputDocument {
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "model_sha256": model_sha256,
        "backend": s.backend,
        "patches": s.patches,
        "drift": s.drift,
    }))
    .unwrap_or_default();
    OutputDocument {
        name: MONITOR.into(),
        text,
    }
}

/// The monitoring document's name.
pub const MONITOR: &str = "input-monitor.json";

fn monitor_spec() -> DocumentSpec {
    DocumentSpec {
        name: MONITOR,
        media_type: "application/json",
        description: "the input's statistics against the model's training distribution, with a warning for each way it falls outside (spacing, scanner, intensities); what ran the network",
    }
}

/// A trial's own ONNX segmentation network.
pub struct Segment;

impl Algorithm for Segment {
    fn id(&self) -> &'static str {
        "dl.segment"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "Segments an image with a trial's own ONNX network (an nnU-Net-style 3-D U-Net exported to ONNX, say): reorientation, resampling to the target spacing and intensity normalisation as its parameters say, sliding-window inference with Gaussian weighting and optional mirroring, argmax on the input grid, largest-component and minimum-size clean-up. The model file is a locked file input: its SHA-256 is in the trial's lock."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Isensee F, Jaeger PF, Kohl SAA, Petersen J, Maier-Hein KH. nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation. Nat Methods 2021;18:203-211",
            "ONNX: Open Neural Network Exchange, https://onnx.ai",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![
            InputRole {
                role: "image",
                kind: InputKind::Image,
                required: true,
                description: "the image to segment (one channel)",
            },
            InputRole {
                role: "model",
                kind: InputKind::Model,
                required: true,
                description: "the ONNX network: input [batch, 1, X, Y, Z] float32, output [batch, classes + 1, X, Y, Z]",
            },
            InputRole {
                role: "training",
                kind: InputKind::Table,
                required: false,
                description: "the model's training distribution (JSON, as `dl::monitor::fit` writes it), for drift warnings",
            },
        ]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let mut p = ModelSpec::parameters();
        p.push(backend_param());
        p
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![MeasurementSpec {
            name: "segmented-volume",
            unit: "mL",
            description: "the volume of every class together (voxel count × voxel volume)",
        }]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "labels",
            description: "each voxel's class value on the image's grid (0 background)",
            kind: ImageKind::Findings,
            grid: "image",
        }]
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "classes",
            columns: &[
                ("class", "1"),
                ("volume", "mm3"),
                ("voxels", "1"),
                ("components", "1"),
            ],
            description: "one row per class: its label value, volume, voxels and connected components (26-connected)",
        }]
    }
    fn documents(&self) -> Vec<DocumentSpec> {
        vec![monitor_spec()]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let image = inputs.get("image").ok_or_else(|| AlgoError::Input {
            role: "image".into(),
            why: "missing".into(),
        })?;
        let model = inputs.model("model").ok_or_else(|| AlgoError::Input {
            role: "model".into(),
            why: "missing".into(),
        })?;
        let spec = ModelSpec::from_params(params).map_err(|e| AlgoError::Param {
            name: "model specification".into(),
            why: e.to_string(),
        })?;
        let training = match inputs.document("training") {
            None => None,
            Some(d) => Some(
                serde_json::from_str::<TrainingDistribution>(&d.text).map_err(|e| {
                    AlgoError::Input {
                        role: "training".into(),
                        why: format!("{}: not a training distribution: {e}", d.source),
                    }
                })?,
            ),
        };
        let s = segment(
            image,
            &model.bytes,
            &spec,
            backend_of(params),
            training.as_ref(),
        )
        .map_err(failed)?;
        let voxel = image.geometry.voxel_volume();
        let mut rows = Vec::new();
        for (value, _) in &spec.classes {
            let mask = s.labels.mapv(|v| v == *value);
            let voxels = mask.iter().filter(|m| **m).count();
            let components = label(&mask, Connectivity::TwentySix).1.len() - 1;
            rows.push(vec![
                f64::from(*value),
                voxels as f64 * voxel,
                voxels as f64,
                components as f64,
            ]);
        }
        let total: f64 = rows.iter().map(|r| r[1]).sum();
        let labels = Volume::new(s.labels.mapv(f32::from), image.geometry.clone())
            .map_err(|e| AlgoError::Failed(e.to_string()))?;
        Ok(Outputs {
            measurements: vec![Measurement {
                name: "segmented-volume".into(),
                value: total / 1000.0,
                unit: "mL".into(),
            }],
            images: vec![("labels".into(), labels)],
            tables: vec![Table {
                name: "classes".into(),
                columns: ["class", "volume", "voxels", "components"]
                    .map(String::from)
                    .to_vec(),
                rows,
            }],
            documents: vec![monitor_document(&s, &model.sha256)],
        })
    }
}

/// The reference network's ONNX file (`training/flair_lesions/`).
pub const FLAIR_LESIONS_ONNX: &[u8] =
    include_bytes!("../../models/flair_lesions/flair_lesions.onnx");
/// Its training distribution (`dl::monitor::fit` over its training volumes).
pub const FLAIR_LESIONS_TRAINING: &str =
    include_str!("../../models/flair_lesions/training_distribution.json");

/// The reference network's specification: FLAIR at 2 mm isotropic, z-scored over the volume,
/// 64³ patches with half overlap, one class; lesions below 10 mm³ dropped (the classical
/// detector's bound).
pub fn flair_lesions_spec() -> ModelSpec {
    ModelSpec {
        target_spacing_mm: Some([2.0, 2.0, 2.0]),
        orientation: Orientation::Ras,
        normalisation: Normalisation::ZScore,
        patch: [64, 64, 64],
        overlap: 0.5,
        mirror: false,
        batch: 2,
        classes: vec![(1, "lesion".into())],
        largest_component: vec![],
        min_component_mm3: vec![(1, 10.0)],
    }
}

/// One lesion the reference network found.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundLesion {
    /// 1-based, its value in the mask.
    pub id: usize,
    /// Centroid of its voxels (LPS, mm).
    pub centroid_mm: [f64; 3],
    /// Its volume: the lesion probability summed over its voxels and the ring one voxel out
    /// (mm³), so a lesion partly filling its voxels counts partly.
    pub volume_mm3: f64,
    /// Its voxels.
    pub voxels: usize,
}

/// Lesions (26-connected components of the label map) with probability-weighted volumes.
pub fn lesions(
    s: &Segmentation,
    geometry: &corelab_image::Geometry,
) -> (Array3<u32>, Vec<FoundLesion>) {
    let mask = s.labels.mapv(|v| v == 1);
    let (ids, sizes) = label(&mask, Connectivity::TwentySix);
    // Softmax probability of the lesion channel.
    let bg = s.channels.index_axis(Axis(0), 0);
    let fg = s.channels.index_axis(Axis(0), 1);
    let mut p = Array3::<f32>::zeros(fg.raw_dim());
    ndarray::Zip::from(&mut p)
        .and(&bg)
        .and(&fg)
        .for_each(|p, b, f| *p = 1.0 / (1.0 + (b - f).exp()));
    let n = sizes.len() - 1;
    let mut volume = vec![0.0f64; n + 1];
    let mut centroid = vec![[0.0f64; 3]; n + 1];
    let dims = ids.shape().to_vec();
    let voxel = geometry.voxel_volume();
    // Each voxel counts once: for the lesion it belongs to, or, in the ring, for the first
    // lesion next to it.
    for ((i, j, k), id) in ids.indexed_iter() {
        let owner = if *id > 0 {
            *id as usize
        } else {
            let mut found = 0;
            'search: for di in -1i64..=1 {
                for dj in -1i64..=1 {
                    for dk in -1i64..=1 {
                        let (a, b, c) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
                        if a < 0 || b < 0 || c < 0 {
                            continue;
                        }
                        let (a, b, c) = (a as usize, b as usize, c as usize);
                        if a >= dims[0] || b >= dims[1] || c >= dims[2] {
                            continue;
                        }
                        if ids[[a, b, c]] > 0 {
                            found = ids[[a, b, c]] as usize;
                            break 'search;
                        }
                    }
                }
            }
            found
        };
        if owner == 0 {
            continue;
        }
        volume[owner] += f64::from(p[[i, j, k]]) * voxel;
        if *id > 0 {
            let at = geometry.to_patient([i as f64, j as f64, k as f64]);
            for a in 0..3 {
                centroid[owner][a] += at[a];
            }
        }
    }
    let found = (1..=n)
        .map(|id| FoundLesion {
            id,
            centroid_mm: centroid[id].map(|c| c / sizes[id] as f64),
            volume_mm3: volume[id],
            voxels: sizes[id],
        })
        .collect();
    (ids, found)
}

/// The reference network: white-matter lesions on FLAIR.
pub struct FlairLesions;

impl Algorithm for FlairLesions {
    fn id(&self) -> &'static str {
        "dl.flair-lesions"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn description(&self) -> &'static str {
        "White-matter lesions on FLAIR by the project's reference 3-D U-Net (trained on the MS phantoms, training/flair_lesions/; its ONNX file is built in and its SHA-256 is in every run's monitoring document): FLAIR resampled to 2 mm isotropic and z-scored, 64³ patches with half overlap and Gaussian weighting, lesions of 10 mm³ or more, each lesion's volume the network's probability summed over it. Each run's input is checked against the training distribution."
    }
    fn references(&self) -> &'static [&'static str] {
        &[
            "Isensee F, Jaeger PF, Kohl SAA, Petersen J, Maier-Hein KH. nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation. Nat Methods 2021;18:203-211",
            "Çiçek Ö, Abdulkadir A, Lienkamp SS, Brox T, Ronneberger O. 3D U-Net: learning dense volumetric segmentation from sparse annotation. MICCAI 2016",
        ]
    }
    fn inputs(&self) -> Vec<InputRole> {
        vec![InputRole {
            role: "flair",
            kind: InputKind::Image,
            required: true,
            description: "the FLAIR image",
        }]
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![backend_param()]
    }
    fn measurements(&self) -> Vec<MeasurementSpec> {
        vec![
            MeasurementSpec {
                name: "lesion-count",
                unit: "1",
                description: "lesions found (26-connected components of 10 mm³ or more)",
            },
            MeasurementSpec {
                name: "lesion-volume",
                unit: "mL",
                description: "their total volume (the network's lesion probability summed over each lesion and the ring one voxel out)",
            },
        ]
    }
    fn images(&self) -> Vec<ImageSpec> {
        vec![ImageSpec {
            role: "mask",
            description: "the lesions on the FLAIR grid, each voxel its lesion's id (0 outside)",
            kind: ImageKind::Findings,
            grid: "flair",
        }]
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "lesions",
            columns: crate::neuro::ms_lesions::LESION_COLUMNS,
            description: "one row per lesion: its id in the mask, centroid (LPS), probability-weighted volume, voxels",
        }]
    }
    fn documents(&self) -> Vec<DocumentSpec> {
        vec![monitor_spec()]
    }
    fn run(&self, inputs: &Inputs, params: &Params) -> Result<Outputs, AlgoError> {
        let flair = inputs.get("flair").ok_or_else(|| AlgoError::Input {
            role: "flair".into(),
            why: "missing".into(),
        })?;
        let training: TrainingDistribution = serde_json::from_str(FLAIR_LESIONS_TRAINING)
            .map_err(|e| AlgoError::Failed(format!("the built-in training distribution: {e}")))?;
        let s = segment(
            flair,
            FLAIR_LESIONS_ONNX,
            &flair_lesions_spec(),
            backend_of(params),
            Some(&training),
        )
        .map_err(|e| match failed(e) {
            AlgoError::Input { why, .. } => AlgoError::Input {
                role: "flair".into(),
                why,
            },
            other => other,
        })?;
        let (ids, found) = lesions(&s, &flair.geometry);
        let total: f64 = found.iter().map(|l| l.volume_mm3).sum();
        let mask = Volume::new(ids.mapv(|v| v as f32), flair.geometry.clone())
            .map_err(|e| AlgoError::Failed(e.to_string()))?;
        let rows = found
            .iter()
            .map(|l| {
                vec![
                    l.id as f64,
                    l.centroid_mm[0],
                    l.centroid_mm[1],
                    l.centroid_mm[2],
                    l.volume_mm3,
                    l.voxels as f64,
                ]
            })
            .collect();
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(FLAIR_LESIONS_ONNX));
        Ok(Outputs {
            measurements: vec![
                Measurement {
                    name: "lesion-count".into(),
                    value: found.len() as f64,
                    unit: "1".into(),
                },
                Measurement {
                    name: "lesion-volume".into(),
                    value: total / 1000.0,
                    unit: "mL".into(),
                },
            ],
            images: vec![("mask".into(), mask)],
            tables: vec![Table {
                name: "lesions".into(),
                columns: crate::neuro::ms_lesions::LESION_COLUMNS
                    .iter()
                    .map(|(name, _)| name.to_string())
                    .collect(),
                rows,
            }],
            documents: vec![monitor_document(&s, &sha)],
        })
    }
}
