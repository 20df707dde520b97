//! A generated MR series with exact geometry, shared by the series tests.
#![allow(dead_code)]

use corelab_dicom::series::Instance;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, FileMetaTableBuilder, InMemDicomObject};

pub struct Spec {
    pub position: [f64; 3],
    pub orientation: [f64; 6],
    pub spacing: [f64; 2], // row spacing, column spacing (DICOM order)
    pub rows: u16,
    pub columns: u16,
    pub slope: f64,
    pub intercept: f64,
    pub extra: Vec<(Tag, VR, String)>,
}

pub fn spec(z: f64) -> Spec {
    Spec {
        position: [-50.0, -40.0, z],
        orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        spacing: [0.8, 0.5],
        rows: 6,
        columns: 5,
        slope: 2.0,
        intercept: -100.0,
        extra: Vec::new(),
    }
}

/// Stored value at (i = column, j = row) of a slice with Instance Number n.
pub fn stored(i: usize, j: usize, n: usize) -> u16 {
    (i + 10 * j + 100 * n) as u16
}

pub fn instance(s: &Spec, n: usize) -> Instance {
    let ds = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x}"))
            .collect::<Vec<_>>()
            .join("\\")
    };
    let uid = format!("1.2.826.0.1.3680043.9.7782.5.{n}");
    let mut pixels = Vec::new();
    for j in 0..usize::from(s.rows) {
        for i in 0..usize::from(s.columns) {
            pixels.push(stored(i, j, n));
        }
    }
    let t = |tag, vr, v: String| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let mut obj = InMemDicomObject::from_element_iter([
        t(
            tags::SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.4".into(),
        ),
        t(tags::SOP_INSTANCE_UID, VR::UI, uid.clone()),
        t(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.9.7782.5".into(),
        ),
        t(tags::INSTANCE_NUMBER, VR::IS, n.to_string()),
        t(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&s.position)),
        t(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&s.orientation)),
        t(tags::PIXEL_SPACING, VR::DS, ds(&s.spacing)),
        us(tags::SAMPLES_PER_PIXEL, 1),
        t(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        ),
        us(tags::ROWS, s.rows),
        us(tags::COLUMNS, s.columns),
        us(tags::BITS_ALLOCATED, 16),
        us(tags::BITS_STORED, 16),
        us(tags::HIGH_BIT, 15),
        us(tags::PIXEL_REPRESENTATION, 0),
        t(tags::RESCALE_SLOPE, VR::DS, format!("{}", s.slope)),
        t(tags::RESCALE_INTERCEPT, VR::DS, format!("{}", s.intercept)),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ]);
    for (tag, vr, v) in &s.extra {
        obj.put(DataElement::new(
            *tag,
            *vr,
            PrimitiveValue::from(v.as_str()),
        ));
    }
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.4")
        .media_storage_sop_instance_uid(uid.as_str())
        .transfer_syntax("1.2.840.10008.1.2.1")
        .build()
        .unwrap();
    Instance {
        name: format!("slice-{n}"),
        sha256: format!("{n:064x}"),
        object: FileDicomObject::new_empty_with_meta(meta).tap(obj),
    }
}

trait Tap {
    fn tap(self, obj: InMemDicomObject) -> FileDicomObject<InMemDicomObject>;
}

impl Tap for FileDicomObject<InMemDicomObject> {
    fn tap(mut self, obj: InMemDicomObject) -> FileDicomObject<InMemDicomObject> {
        for e in obj {
            self.put(e);
        }
        self
    }
}

/// The instances of the files directly in `dir`, in name order.
pub fn series_in(dir: &std::path::Path) -> Vec<Instance> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| Instance::from_path(f).unwrap())
        .collect()
}

/// The row, column and normal directions of an oblique plane: rotated 20° about z, then 10°
/// about x.
pub fn oblique() -> [[f64; 3]; 3] {
    let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
    let (cx, sx) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
    let row = [c, s, 0.0];
    let col = [-s * cx, c * cx, sx];
    let normal = [
        row[1] * col[2] - row[2] * col[1],
        row[2] * col[0] - row[0] * col[2],
        row[0] * col[1] - row[1] * col[0],
    ];
    [row, col, normal]
}

/// A reconstructed SPECT as corelab writes it: one NM RECON TOMO object (Part 10 bytes) of an
/// oblique grid (20° about z, 10° about x; 16×12×10 voxels of 3.9×4.1×4.42 mm) of whole counts,
/// stacked along row × column.
pub fn nm_tomogram() -> Vec<u8> {
    use corelab_dicom::write::{SeriesHeader, encode_series};
    use corelab_image::phantom::Acquisition;
    use corelab_image::phantom::acquisition::NmAcquisition;
    let [row, col, normal] = oblique();
    let grid = corelab_image::Geometry::new(
        [16, 12, 10],
        [-60.5, -80.25, 12.0],
        [row, col, normal],
        [3.9, 4.1, 4.42],
    )
    .unwrap();
    let data = ndarray::Array3::from_shape_fn((16, 12, 10), |(i, j, k)| {
        (37 * i + 101 * j + 997 * k) as f32
    });
    let volume = corelab_image::Volume::new(data, grid).unwrap();
    let text = |s: &str| s.to_owned();
    let header = SeriesHeader {
        patient_name: text("PHANTOM^NM"),
        patient_id: text("NM-001"),
        patient_birth_date: text("19600101"),
        patient_sex: text("M"),
        patient_weight_kg: Some(80.0),
        patient_size_m: Some(1.8),
        study_instance_uid: text("1.2.826.0.1.3680043.9.7782.9.5.1"),
        study_id: text("V1"),
        study_date: text("20260112"),
        study_time: text("090000"),
        study_description: text("DAT SPECT"),
        accession_number: text("A1"),
        series_instance_uid: text("1.2.826.0.1.3680043.9.7782.9.5.2"),
        series_number: 3,
        series_description: text("DaTscan SPECT OSEM"),
        protocol_name: text("datscan"),
        series_date: text("20260112"),
        series_time: text("100000"),
        body_part_examined: text("BRAIN"),
        frame_of_reference_uid: text("1.2.826.0.1.3680043.9.7782.9.5.3"),
        manufacturer: text("SIEMENS NM"),
        manufacturer_model_name: text("Symbia Intevo Bold"),
        institution_name: text("University Hospital A"),
        station_name: text("S01NM1"),
        software_versions: text("VB22A"),
        acquisition: Acquisition::Nm(NmAcquisition {
            radiopharmaceutical: text("Ioflupane"),
            radionuclide: text("^123^Iodine"),
            injection_datetime: text("20260112063000"),
            dose_bq: 185e6,
            half_life_s: 47_592.0,
            energy_window: text("I123 159keV 20%"),
        }),
        times_ms: Vec::new(),
        nominal_interval_ms: None,
    };
    let mut files = encode_series(std::slice::from_ref(&volume), &header).unwrap();
    assert_eq!(files.len(), 1, "one NM object");
    files.remove(0)
}
