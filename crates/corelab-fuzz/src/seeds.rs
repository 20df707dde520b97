//! Seed corpora: valid inputs for the fuzzer to start from, so that it mutates objects that
//! reach deep into each path instead of rediscovering the formats. Three sources:
//! - [`generated`]: made here by corelab's own writers (synthetic CT objects, small volumes as
//!   NIfTI-1 and NIfTI-2, PDUs written by dicom-ul's `write_pdu`); cheap, used by the tests too;
//! - [`phantoms`]: the digital phantoms of every kind at a coarse voxel size, as DICOM slices
//!   and NIfTI volumes; a few seconds;
//! - [`from_files`]: the shared DICOM conformance corpus (`../shared/data/dicom_conformance`,
//!   files up to [`MAX_SEED_BYTES`]) and the `trial.toml` examples in `docs/`.
//!
//! Hand-written seeds (queries, trial files, small PDUs) are committed under `fuzz/seeds/` and
//! given to libFuzzer as a second corpus folder. `examples/seeds.rs` writes all of it to
//! `fuzz/corpus/<target>/`.

use corelab_dicom::deid::profile::ProfileOption;
use corelab_image::phantom::{Kind, Options};
use corelab_image::{Geometry, Volume};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_ul::Pdu;
use dicom_ul::pdu::{
    AbortRQSource, AssociationRQ, PDataValue, PDataValueType, PresentationContextProposed,
    UserVariableItem, write_pdu,
};
use ndarray::{Array3, ShapeBuilder};
use std::path::{Path, PathBuf};

/// Larger files slow every execution down and seldom reach code smaller ones do not.
pub const MAX_SEED_BYTES: usize = 128 * 1024;

/// One seed.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Its file name in the corpus folder.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

fn seed(name: impl Into<String>, bytes: Vec<u8>) -> Seed {
    Seed {
        name: name.into(),
        bytes,
    }
}

/// The option bytes (see [`crate::phi::Choice`]) put in front of the `deid` target's DICOM
/// seeds, in turn: none, the trial default, the other options, and everything with blackout,
/// private rules and a trial subject.
fn deid_prefixes() -> [u16; 4] {
    let bit = |o: ProfileOption| {
        1u16 << ProfileOption::ALL
            .iter()
            .position(|x| *x == o)
            .unwrap_or_default()
    };
    let trial = bit(ProfileOption::RetainLongModifiedDates)
        | bit(ProfileOption::RetainSafePrivate)
        | bit(ProfileOption::CleanDescriptors);
    let others = bit(ProfileOption::RetainUids)
        | bit(ProfileOption::RetainDeviceIdentity)
        | bit(ProfileOption::RetainPatientCharacteristics)
        | bit(ProfileOption::RetainLongFullDates)
        | bit(ProfileOption::CleanStructuredContent)
        | bit(ProfileOption::CleanGraphics);
    [0, trial, others, trial | (0b111 << 10)]
}

/// DICOM objects as seeds of the `dicom_ingest` and `deid` targets (`deid` gets the option
/// prefix, see [`deid_prefixes`]).
fn dicom_seeds(target: &str, objects: Vec<Seed>) -> Vec<Seed> {
    match target {
        "dicom_ingest" => objects,
        "deid" => {
            let prefixes = deid_prefixes();
            objects
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut bytes = prefixes[i % prefixes.len()].to_le_bytes().to_vec();
                    bytes.extend_from_slice(&s.bytes);
                    seed(s.name, bytes)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Seeds made by corelab's own writers, without files: quick enough for tests.
pub fn generated(target: &str) -> Vec<Seed> {
    match target {
        "dicom_ingest" | "deid" => {
            let mut objects: Vec<Seed> =
                corelab_dicom::synthetic::ct_series("SEED-PAT-1", "SEED^JANE", 3, 2)
                    .into_iter()
                    .enumerate()
                    .map(|(i, b)| seed(format!("synthetic-ct-{i}.dcm"), b))
                    .collect();
            if target == "dicom_ingest"
                && let Some(routed) = routed_object()
            {
                objects.push(seed("synthetic-ct-routed.dcm", routed));
            }
            dicom_seeds(target, objects)
        }
        "nifti" => small_volumes(),
        "dimse_pdu" => pdus(),
        _ => Vec::new(),
    }
}

/// A synthetic CT object carrying the fuzz trial's Clinical Trial Protocol and Site IDs, with
/// [`crate::ROUTED`] as the first preamble byte: `dicom_ingest` routes it by those attributes.
fn routed_object() -> Option<Vec<u8>> {
    let bytes = corelab_dicom::synthetic::ct_series("SEED-PAT-3", "SEED^ROUTED", 5, 1)
        .into_iter()
        .next()?;
    let parsed = corelab_dicom::read::read_bytes(&bytes).ok()?;
    let mut obj = parsed.dataset;
    let lo = |tag, v: &str| DataElement::new(tag, VR::LO, PrimitiveValue::from(v));
    obj.put(lo(tags::CLINICAL_TRIAL_PROTOCOL_ID, "FUZZ-PROTOCOL"));
    obj.put(lo(tags::CLINICAL_TRIAL_SITE_ID, crate::lab::SITE));
    let mut out = corelab_dicom::deid::encode_part10(obj, &parsed.transfer_syntax).ok()?;
    *out.first_mut()? = crate::ROUTED;
    Some(out)
}

/// A small oblique volume of each voxel type corelab writes, as NIfTI-1 and NIfTI-2, plain and
/// gzip-compressed.
fn small_volumes() -> Vec<Seed> {
    let (c, s) = (25f64.to_radians().cos(), 25f64.to_radians().sin());
    let geometry = Geometry::new(
        [5, 4, 3],
        [-90.5, 120.25, -33.0],
        [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
        [0.9, 1.1, 3.0],
    );
    let Ok(geometry) = geometry else {
        return Vec::new();
    };
    let ramp = |i: usize, j: usize, k: usize| (i + 5 * j + 20 * k) as f32;
    let f32s = Array3::from_shape_fn((5, 4, 3).f(), |(i, j, k)| ramp(i, j, k) - 10.5);
    let mut out = Vec::new();
    if let Ok(v) = Volume::new(f32s.mapv(|x| x as i16), geometry.clone()) {
        out.extend(nifti_files("i16", &v));
    }
    if let Ok(v) = Volume::new(f32s.mapv(|x| u8::from(x > 10.0)), geometry.clone()) {
        out.extend(nifti_files("u8", &v));
    }
    if let Ok(v) = Volume::new(f32s, geometry) {
        out.extend(nifti_files("f32", &v));
    }
    out
}

/// `volume` as `.nii`, `.nii.gz` (NIfTI-1) and NIfTI-2 `.nii`, each read back as bytes.
fn nifti_files<T: corelab_image::nifti_io::Voxel>(stem: &str, volume: &Volume<T>) -> Vec<Seed> {
    let Ok(dir) = tempfile::tempdir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, v2) in [
        (format!("{stem}.nii"), false),
        (format!("{stem}.nii.gz"), false),
        (format!("{stem}-nifti2.nii"), true),
        (format!("{stem}-nifti2.nii.gz"), true),
    ] {
        let path = dir.path().join(&name);
        let written = if v2 {
            corelab_image::nifti2::write(&path, volume)
        } else {
            corelab_image::nifti_io::write(&path, volume)
        };
        if written.is_ok()
            && let Ok(bytes) = std::fs::read(&path)
        {
            out.push(seed(name, bytes));
        }
    }
    out
}

/// A command set (PS3.7 9.3), implicit VR little endian.
fn command(field: u16, message_id: u16, sop_class: &str, instance: Option<&str>) -> Vec<u8> {
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(field)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(if instance.is_some() { 0u16 } else { 0x0101 }),
        ),
    ];
    if let Some(uid) = instance {
        elements.push(DataElement::new(
            tags::PRIORITY,
            VR::US,
            PrimitiveValue::from(0u16),
        ));
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(uid),
        ));
    }
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut out = Vec::new();
    match obj.write_dataset_with_ts(&mut out, &ts) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

fn pdv(context: u8, value_type: PDataValueType, is_last: bool, data: Vec<u8>) -> PDataValue {
    PDataValue {
        presentation_context_id: context,
        value_type,
        is_last,
        data,
    }
}

/// A session as the SCP receives it, PDU by PDU: A-ASSOCIATE-RQ from the fuzz site's AE title,
/// a C-ECHO, a C-STORE of a synthetic CT slice in two data PDVs, A-RELEASE-RQ; and an A-ABORT.
/// Each alone and all in one stream.
fn pdus() -> Vec<Seed> {
    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    let rq = Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: crate::lab::SITE_AE.into(),
        called_ae_title: "CORELAB".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![
            PresentationContextProposed {
                id: 1,
                abstract_syntax: "1.2.840.10008.1.1".into(),
                transfer_syntaxes: vec!["1.2.840.10008.1.2".into()],
            },
            PresentationContextProposed {
                id: 3,
                abstract_syntax: CT.into(),
                transfer_syntaxes: vec![EXPLICIT_LE.into(), "1.2.840.10008.1.2".into()],
            },
        ],
        user_variables: vec![
            UserVariableItem::MaxLength(16_384),
            UserVariableItem::ImplementationClassUID("1.2.826.0.1.3680043.9.7782.1".into()),
            UserVariableItem::ImplementationVersionName("CORELAB-FUZZ".into()),
        ],
    });
    let echo = Pdu::PData {
        data: vec![pdv(
            1,
            PDataValueType::Command,
            true,
            command(0x0030, 1, "1.2.840.10008.1.1", None),
        )],
    };
    // The data set of a synthetic CT slice, without its file meta group, in explicit VR LE.
    let slice = corelab_dicom::synthetic::ct_series("SEED-PAT-2", "SEED^JOHN", 4, 1)
        .into_iter()
        .next()
        .and_then(|b| corelab_dicom::read::read_bytes(&b).ok());
    let (instance, dataset) = match slice {
        Some(p) => {
            let uid = p
                .dataset
                .get(tags::SOP_INSTANCE_UID)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_end_matches('\0').to_owned())
                .unwrap_or_default();
            let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
            let mut bytes = Vec::new();
            let _ = p.dataset.write_dataset_with_ts(&mut bytes, &ts);
            (uid, bytes)
        }
        None => (String::new(), Vec::new()),
    };
    let half = dataset.len() / 2;
    let store = Pdu::PData {
        data: vec![pdv(
            3,
            PDataValueType::Command,
            true,
            command(0x0001, 2, CT, Some(&instance)),
        )],
    };
    let data_first = Pdu::PData {
        data: vec![pdv(
            3,
            PDataValueType::Data,
            false,
            dataset[..half].to_vec(),
        )],
    };
    let data_last = Pdu::PData {
        data: vec![pdv(3, PDataValueType::Data, true, dataset[half..].to_vec())],
    };
    let abort = Pdu::AbortRQ {
        source: AbortRQSource::ServiceUser,
    };
    // The data PDVs are seeds only behind their C-STORE request: alone, the SCP aborts.
    let named = [
        ("a-associate-rq", vec![rq]),
        ("p-data-c-echo-rq", vec![echo]),
        ("p-data-c-store-rq", vec![store.clone()]),
        ("p-data-c-store", vec![store, data_first, data_last]),
        ("a-release-rq", vec![Pdu::ReleaseRQ]),
        ("a-abort-rq", vec![abort]),
    ];
    let mut out = Vec::new();
    let mut session = Vec::new();
    for (name, pdus) in &named {
        let mut bytes = Vec::new();
        if pdus.iter().all(|pdu| write_pdu(&mut bytes, pdu).is_ok()) {
            if *name != "a-abort-rq" && *name != "p-data-c-store-rq" {
                session.extend_from_slice(&bytes);
            }
            out.push(seed(format!("{name}.pdu"), bytes));
        }
    }
    out.push(seed("session.pdu", session));
    out
}

/// Seeds from the digital phantoms: for every kind, its first series at 8 mm voxels, as one
/// DICOM slice (or the NM object) and as NIfTI-1 and NIfTI-2 (the image gzip-compressed, a truth
/// mask plain).
pub fn phantoms(target: &str) -> Vec<Seed> {
    if !matches!(target, "dicom_ingest" | "deid" | "nifti") {
        return Vec::new();
    }
    let options = Options {
        subjects: 1,
        voxel_mm: Some(8.0),
        subsamples: 1,
        ..Options::default()
    };
    let mut objects = Vec::new();
    let mut volumes = Vec::new();
    for kind in Kind::ALL {
        let Ok(plan) = corelab_image::phantom::plan(kind, &options) else {
            continue;
        };
        let Some(series) = plan.series.first() else {
            continue;
        };
        let Ok(rendered) = series.render(options.subsamples) else {
            continue;
        };
        let stem = format!("phantom-{kind:?}").to_lowercase();
        if let Ok(header) = corelab_dicom::phantom::header(kind, options.seed, series)
            && let Ok(files) = corelab_dicom::write::encode_series(&rendered.images, &header)
            && let Some(middle) = files.get(files.len() / 2)
        {
            objects.push(seed(format!("{stem}.dcm"), middle.clone()));
        }
        // Images compressed, masks plain: both readers, both container forms, smaller seeds.
        if let Some(image) = rendered.images.first() {
            let files = nifti_files(&stem, image);
            volumes.extend(files.into_iter().filter(|s| s.name.ends_with(".nii.gz")));
        }
        if let Some((name, mask)) = rendered.masks.first() {
            let files = nifti_files(&format!("{stem}-{name}"), mask);
            volumes.extend(files.into_iter().filter(|s| s.name.ends_with(".nii")));
        }
    }
    if target == "nifti" {
        return volumes;
    }
    dicom_seeds(target, objects)
}

/// Seeds from files: the conformance corpus (DICOM targets) under `shared_data`, and the
/// `trial.toml` examples of `docs/` under `repo`.
pub fn from_files(target: &str, repo: &Path, shared_data: Option<&Path>) -> Vec<Seed> {
    match target {
        "dicom_ingest" | "deid" => {
            let Some(shared) = shared_data else {
                return Vec::new();
            };
            dicom_seeds(target, conformance(&shared.join("dicom_conformance")))
        }
        "trial_toml" => toml_examples(&repo.join("docs")),
        _ => Vec::new(),
    }
}

/// The corpus files its `inventory.csv` lists, up to [`MAX_SEED_BYTES`].
fn conformance(dir: &Path) -> Vec<Seed> {
    let Ok(inventory) = std::fs::read_to_string(dir.join("inventory.csv")) else {
        return Vec::new();
    };
    inventory
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .filter_map(|rel| {
            let bytes = std::fs::read(dir.join(rel)).ok()?;
            (bytes.len() <= MAX_SEED_BYTES).then(|| seed(rel.replace('/', "__"), bytes))
        })
        .collect()
}

/// Every ```` ```toml ```` block of the Markdown files in `docs`.
fn toml_examples(docs: &Path) -> Vec<Seed> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(docs)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut block: Option<String> = None;
        for line in text.lines() {
            match &mut block {
                None if line.trim_start().starts_with("```toml") => block = Some(String::new()),
                Some(b) if line.trim_start().starts_with("```") => {
                    out.push(seed(
                        format!("{stem}-{}.toml", out.len()),
                        b.clone().into_bytes(),
                    ));
                    block = None;
                }
                Some(b) => {
                    b.push_str(line);
                    b.push('\n');
                }
                None => {}
            }
        }
    }
    out
}

/// Writes every seed of every target to `out/<target>/` (made if absent); returns the number of
/// seeds written per target.
pub fn write_corpora(
    out: &Path,
    repo: &Path,
    shared_data: Option<&Path>,
) -> std::io::Result<Vec<(&'static str, usize)>> {
    let mut counts = Vec::new();
    for target in crate::TARGETS {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).map_err(|e| with_path(&dir, e))?;
        let mut seeds = generated(target);
        seeds.extend(phantoms(target));
        seeds.extend(from_files(target, repo, shared_data));
        let mut n = 0;
        for s in seeds.iter().filter(|s| s.bytes.len() <= MAX_SEED_BYTES) {
            let path = dir.join(format!("seed-{}", s.name));
            std::fs::write(&path, &s.bytes).map_err(|e| with_path(&path, e))?;
            n += 1;
        }
        counts.push((target, n));
    }
    Ok(counts)
}

fn with_path(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
