//! Who is scanned, where, and how: the sites and their scanners, the patients, and each
//! series' acquisition attributes (what its DICOM header says beyond the geometry).

use super::Stream;
use serde::Serialize;

/// A site and the scanner it uses for a modality.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Site {
    /// The site's ID in the trial.
    pub id: String,
    /// (0008,0080) Institution Name.
    pub institution: String,
    /// (0008,0070) Manufacturer.
    pub manufacturer: String,
    /// (0008,1090) Manufacturer's Model Name.
    pub model: String,
    /// (0008,1010) Station Name.
    pub station: String,
    /// (0018,1020) Software Versions.
    pub software: String,
}

/// The three sites of every phantom, with the scanner each uses for `modality` (MR, CT, PT, NM).
pub fn site(index: usize, modality: &str) -> Site {
    let (id, institution) = [
        ("S01", "University Hospital A"),
        ("S02", "Clinique du Parc B"),
        ("S03", "Regional Medical Center C"),
    ][index % 3];
    let (manufacturer, model, software) = match (index % 3, modality) {
        (0, "MR") => ("SIEMENS", "MAGNETOM Prisma", "syngo MR XA30"),
        (1, "MR") => ("GE MEDICAL SYSTEMS", "DISCOVERY MR750", "DV26.0_R03"),
        (_, "MR") => ("Philips Medical Systems", "Ingenia", "5.7.1"),
        (0, "CT") => ("SIEMENS", "SOMATOM Force", "syngo CT VB20A"),
        (1, "CT") => ("GE MEDICAL SYSTEMS", "Revolution CT", "revo_ct_22bc.50"),
        (_, "CT") => ("Philips", "IQon - Spectral CT", "4.7.6"),
        (0, "NM") => ("SIEMENS NM", "Symbia Intevo Bold", "VB22A"),
        (1, "NM") => ("GE MEDICAL SYSTEMS", "Discovery NM/CT 670", "1.0.11"),
        (_, "NM") => ("Philips Medical Systems", "BrightView XCT", "2.5.3"),
        (0, _) => ("SIEMENS", "Biograph Vision 600", "VG80B"),
        (1, _) => ("GE MEDICAL SYSTEMS", "Discovery MI", "pet_coreload.46"),
        (_, _) => ("Philips Medical Systems", "Vereos PET/CT", "2.0.1"),
    };
    Site {
        id: id.into(),
        institution: institution.into(),
        manufacturer: manufacturer.into(),
        model: model.into(),
        station: format!("{id}{modality}1"),
        software: software.into(),
    }
}

/// Who was scanned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Patient {
    /// (0010,0020) Patient ID: the subject's ID.
    pub id: String,
    /// (0010,0010) Patient's Name.
    pub name: String,
    /// (0010,0040) Patient's Sex (M or F).
    pub sex: String,
    /// (0010,0030) Patient's Birth Date (YYYYMMDD).
    pub birth_date: String,
    /// (0010,1030) Patient's Weight (kg), as written.
    pub weight_kg: f64,
    /// (0010,1020) Patient's Size (m), as written.
    pub height_m: f64,
}

/// How a series was acquired: what its DICOM header says beyond the geometry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesInfo {
    /// The folder name (T1w, FLAIR, CT, PET).
    pub name: String,
    /// (0020,0011) Series Number.
    pub number: u32,
    /// (0008,103E) Series Description, as the site's scanner names it.
    pub description: String,
    /// (0018,1030) Protocol Name.
    pub protocol: String,
    /// (0018,0015) Body Part Examined.
    pub body_part: String,
    /// Series and acquisition date (YYYYMMDD).
    pub date: String,
    /// Series and acquisition time (HHMMSS).
    pub time: String,
    /// The modality's own attributes.
    pub acquisition: Acquisition,
}

/// Modality-specific acquisition attributes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "modality")]
pub enum Acquisition {
    /// MR.
    #[serde(rename = "MR")]
    Mr(MrAcquisition),
    /// CT.
    #[serde(rename = "CT")]
    Ct(CtAcquisition),
    /// PET.
    #[serde(rename = "PT")]
    Pt(PetAcquisition),
    /// Nuclear medicine: a reconstructed SPECT (NM Image IOD, Image Type RECON TOMO), written as
    /// one multi-frame object whose frames are the slices.
    #[serde(rename = "NM")]
    Nm(NmAcquisition),
}

impl Acquisition {
    /// The DICOM Modality.
    pub fn modality(&self) -> &'static str {
        match self {
            Acquisition::Mr(_) => "MR",
            Acquisition::Ct(_) => "CT",
            Acquisition::Pt(_) => "PT",
            Acquisition::Nm(_) => "NM",
        }
    }
}

/// MR acquisition attributes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MrAcquisition {
    /// (0018,0087) Magnetic Field Strength, T.
    pub field_strength_t: f64,
    /// (0018,0080) Repetition Time, ms.
    pub repetition_time_ms: f64,
    /// (0018,0081) Echo Time, ms.
    pub echo_time_ms: f64,
    /// (0018,0082) Inversion Time, ms.
    pub inversion_time_ms: Option<f64>,
    /// (0018,1314) Flip Angle, degrees.
    pub flip_angle_deg: f64,
    /// (0018,0020) Scanning Sequence.
    pub scanning_sequence: String,
    /// (0018,0021) Sequence Variant.
    pub sequence_variant: String,
    /// (0018,0024) Sequence Name.
    pub sequence_name: String,
    /// (0018,0023) MR Acquisition Type: 2D or 3D.
    pub acquisition_type: String,
    /// (0018,1312) In-plane Phase Encoding Direction: ROW or COL.
    pub phase_encoding_direction: String,
}

/// CT acquisition attributes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CtAcquisition {
    /// (0018,0060) KVP.
    pub kvp: f64,
    /// (0018,1151) X-Ray Tube Current, mA.
    pub tube_current_ma: f64,
    /// (0018,1210) Convolution Kernel.
    pub kernel: String,
}

/// PET acquisition attributes (what SUV needs, `corelab_image::suv`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PetAcquisition {
    /// (0018,0031) Radiopharmaceutical.
    pub radiopharmaceutical: String,
    /// (0018,1078) Radiopharmaceutical Start DateTime (YYYYMMDDHHMMSS).
    pub injection_datetime: String,
    /// (0018,1074) Radionuclide Total Dose, Bq.
    pub dose_bq: f64,
    /// (0018,1075) Radionuclide Half Life, s.
    pub half_life_s: f64,
    /// (0018,1076) Radionuclide Positron Fraction.
    pub positron_fraction: f64,
    /// (0054,1001) Units.
    pub units: String,
    /// (0054,1102) Decay Correction.
    pub decay_correction: String,
    /// (0028,0051) Corrected Image.
    pub corrected_image: Vec<String>,
    /// (0018,1242) Actual Frame Duration, ms.
    pub frame_duration_ms: u32,
}

/// Reconstructed SPECT acquisition attributes (NM Image IOD).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NmAcquisition {
    /// (0018,0031) Radiopharmaceutical.
    pub radiopharmaceutical: String,
    /// (0008,0104) Code Meaning of the Radionuclide Code Sequence (0054,0300), e.g. `^123^Iodine`.
    pub radionuclide: String,
    /// (0018,1078) Radiopharmaceutical Start DateTime (YYYYMMDDHHMMSS).
    pub injection_datetime: String,
    /// (0018,1074) Radionuclide Total Dose, Bq.
    pub dose_bq: f64,
    /// (0018,1075) Radionuclide Half Life, s.
    pub half_life_s: f64,
    /// (0054,0018) Energy Window Name.
    pub energy_window: String,
}

impl PetAcquisition {
    /// A static F-18 acquisition as the phantoms' scanners write it: Bq/mL decay-corrected to the
    /// scan start, with every correction applied.
    pub fn f18_static(
        radiopharmaceutical: &str,
        injection_datetime: String,
        dose_bq: f64,
        half_life_s: f64,
        frame_duration_ms: u32,
    ) -> Self {
        Self {
            radiopharmaceutical: radiopharmaceutical.to_owned(),
            injection_datetime,
            dose_bq,
            half_life_s,
            positron_fraction: 0.9673,
            units: "BQML".into(),
            decay_correction: "START".into(),
            corrected_image: ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"]
                .map(String::from)
                .to_vec(),
            frame_duration_ms,
        }
    }
}

/// A subject's patient attributes, drawn from its anatomy stream.
pub(crate) fn patient(subject: &str, rng: &mut Stream) -> Patient {
    let male = rng.uniform() < 0.5;
    let year = 1950 + (rng.uniform() * 40.0) as u32;
    let height = if male {
        rng.range(1.65, 1.92)
    } else {
        rng.range(1.52, 1.78)
    };
    let height_m = (height * 100.0).round() / 100.0;
    let weight_kg = (rng.range(20.0, 31.0) * height_m * height_m * 10.0).round() / 10.0;
    Patient {
        id: subject.to_owned(),
        name: format!("PHANTOM^{}", subject.replace('-', "")),
        sex: if male { "M" } else { "F" }.to_owned(),
        birth_date: format!("{year}0615"),
        weight_kg,
        height_m,
    }
}
