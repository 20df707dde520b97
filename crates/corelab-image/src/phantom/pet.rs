//! The PET phantom: an FDG scan of the torso of the CT phantom ([`Torso`]) with known activity
//! concentrations, so known SUVs.
//!
//! Each region is given an SUV (body-weight): fat 0.4, body wall 0.9, lungs 0.35, liver 2.2,
//! mediastinal blood pool 1.7, spine 1.6, and three lesions (a lung nodule, a liver metastasis
//! and a mediastinal node, spheres of 8–15 mm radius) of SUV 4–15. The image holds activity
//! concentrations in Bq/mL decay-corrected to the scan start, as a scanner writes Units BQML
//! with Decay Correction START: `A = SUVbw × D · 2^(−Δt/T½) / W`, with D the injected dose
//! (3.7 MBq/kg, to 0.1 MBq), Δt the whole seconds from injection to the series time (55–70
//! minutes), T½ the site's F-18 half-life (6586.2 s or 6588 s) and W the weight in grams. The
//! lean-body-mass SUV (Janmahasatian, `suv::lbm_janmahasatian_kg`) of each region follows from
//! the same A. Noise is proportional (10 % coefficient of variation); there is no bias field
//! and no resolution blur, so region means over their masks are the activities with partial
//! volume at the edges.

use super::ct_tumor::{BONE, FAT, LIVER, LUNG, MEDIASTINUM, Organ, SOFT_TISSUE, Torso};
use super::{
    Acquisition, Ellipsoid, Kind, Noise, Options, PetAcquisition, PhantomError, Plan, SeriesInfo,
    SeriesPlan, Stream, StructureDef, add_days, brain::clock, cover, grid_around, patient, site,
    subject_truth, truth_head, visit_truth,
};
use crate::suv::lbm_janmahasatian_kg;
use serde::Serialize;
use std::collections::BTreeMap;

/// The first lesion label.
pub const FIRST_LESION: u8 = 20;

/// Doses, times and the SUV of every region at a visit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PetTruth {
    /// (0018,0031).
    pub radiopharmaceutical: String,
    /// Injection (YYYYMMDDHHMMSS).
    pub injection_datetime: String,
    /// Scan start: the series date and time (YYYYMMDDHHMMSS).
    pub scan_start_datetime: String,
    /// Seconds from injection to scan start.
    pub uptake_s: f64,
    /// Injected dose (Bq).
    pub dose_bq: f64,
    /// Half-life (s).
    pub half_life_s: f64,
    /// The dose decayed to the scan start (Bq).
    pub decayed_dose_bq: f64,
    /// Weight (kg).
    pub weight_kg: f64,
    /// Height (m).
    pub height_m: f64,
    /// M or F.
    pub sex: String,
    /// Lean body mass, Janmahasatian (kg).
    pub lbm_kg: f64,
    /// SUVbw per Bq/mL: weight (g) / decayed dose (Bq).
    pub suv_bw_factor: f64,
    /// SUVlbm per Bq/mL: lean body mass (g) / decayed dose (Bq).
    pub suv_lbm_factor: f64,
    /// Each region.
    pub regions: Vec<PetRegion>,
}

/// A region's activity and SUVs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PetRegion {
    /// Its name (the structure of that name in the series).
    pub name: String,
    /// Its labels.
    pub labels: Vec<u8>,
    /// Activity concentration at scan start (Bq/mL): the voxel value.
    pub activity_bqml: f64,
    /// SUV, body weight (g/mL).
    pub suv_bw: f64,
    /// SUV, lean body mass (g/mL).
    pub suv_lbm: f64,
}

/// The PET phantom: one visit per subject.
pub(crate) fn plan(options: &Options) -> Result<Plan, PhantomError> {
    let voxel = options.voxel_mm.unwrap_or(Kind::Pet.default_voxel_mm());
    let seed = options.seed;
    let mut truth = truth_head(Kind::Pet, options, voxel);
    let mut series = Vec::new();
    for s in 0..options.subjects {
        let subject = format!("PET-{:03}", s + 1);
        let mut rng = Stream::new(seed, &format!("{subject}/anatomy"));
        let site = site(s, "PT");
        let patient = patient(&subject, &mut rng);
        let torso = Torso::for_subject(&mut rng);
        let mut lrng = Stream::new(seed, &format!("{subject}/lesions"));
        let mut lesions: Vec<(u8, Organ, Ellipsoid, f64, &str)> = Vec::new();
        for (n, (organ, name, lo, hi)) in [
            (Organ::RightLung, "lung nodule", 4.0, 8.0),
            (Organ::Liver, "liver metastasis", 8.0, 15.0),
            (Organ::Mediastinum, "lymph node", 4.0, 7.0),
        ]
        .into_iter()
        .enumerate()
        {
            let r = lrng.range(8.0, 15.0).min(if organ == Organ::Mediastinum {
                11.0
            } else {
                15.0
            });
            let others: Vec<Ellipsoid> = lesions.iter().map(|l| l.2.clone()).collect();
            let shape = torso.place(organ, [r; 3], 1.0, &others, &mut lrng)?;
            lesions.push((
                FIRST_LESION + n as u8,
                organ,
                shape,
                lrng.range(lo, hi),
                name,
            ));
        }
        let scene = torso.scene(
            &lesions
                .iter()
                .map(|(l, o, e, _, _)| (*l, *o, e.clone()))
                .collect::<Vec<_>>(),
        );
        // Times: injection in the morning, scan start 55–70 minutes later, whole seconds.
        let date = add_days("20260302", s as i64);
        let injection_s = 8 * 3600 + 37 * 60 * s as u32 + (rng.uniform() * 600.0) as u32;
        let uptake_s = 55 * 60 + (rng.uniform() * 900.0) as u32;
        let start_s = injection_s + uptake_s;
        let half_life_s = if s % 3 == 1 { 6588.0 } else { 6586.2 };
        let dose_bq = (3.7 * patient.weight_kg * 10.0).round() * 1e5;
        let decayed = dose_bq * 2f64.powf(-f64::from(uptake_s) / half_life_s);
        let male = patient.sex == "M";
        let lbm_kg = lbm_janmahasatian_kg(patient.weight_kg, patient.height_m, male);
        let bw_factor = patient.weight_kg * 1000.0 / decayed;
        let lbm_factor = lbm_kg * 1000.0 / decayed;
        let mut names = BTreeMap::from(
            [
                (FAT, "subcutaneous fat"),
                (SOFT_TISSUE, "body wall"),
                (LUNG, "lungs"),
                (LIVER, "liver"),
                (MEDIASTINUM, "mediastinal blood pool"),
                (BONE, "spine"),
            ]
            .map(|(l, n)| (l, n.to_owned())),
        );
        let mut suv: Vec<(String, u8, f64)> = [
            ("fat", FAT, 0.4),
            ("body_wall", SOFT_TISSUE, 0.9),
            ("lungs", LUNG, 0.35),
            ("liver", LIVER, 2.2),
            ("blood_pool", MEDIASTINUM, 1.7),
            ("spine", BONE, 1.6),
        ]
        .map(|(n, l, v)| (n.to_owned(), l, v))
        .to_vec();
        for (n, (label, _, _, value, name)) in lesions.iter().enumerate() {
            names.insert(*label, format!("{name} L{}", n + 1));
            suv.push((format!("L{}", n + 1), *label, *value));
        }
        let structures: Vec<StructureDef> = suv
            .iter()
            .map(|(n, l, _)| StructureDef::new(n, &[*l]))
            .collect();
        let values: BTreeMap<u8, f64> = suv.iter().map(|(_, l, v)| (*l, v / bw_factor)).collect();
        let mut visit_t = visit_truth("V1", &date, 0, &scene, &names, &structures);
        let datetime = |t: u32| format!("{date}{}", clock(t));
        visit_t.pet = Some(PetTruth {
            radiopharmaceutical: "Fludeoxyglucose F^18^".into(),
            injection_datetime: datetime(injection_s),
            scan_start_datetime: datetime(start_s),
            uptake_s: f64::from(uptake_s),
            dose_bq,
            half_life_s,
            decayed_dose_bq: decayed,
            weight_kg: patient.weight_kg,
            height_m: patient.height_m,
            sex: patient.sex.clone(),
            lbm_kg,
            suv_bw_factor: bw_factor,
            suv_lbm_factor: lbm_factor,
            regions: suv
                .iter()
                .map(|(n, l, v)| {
                    let activity = values[l];
                    PetRegion {
                        name: n.clone(),
                        labels: vec![*l],
                        activity_bqml: activity,
                        suv_bw: *v,
                        suv_lbm: activity * lbm_factor,
                    }
                })
                .collect(),
        });
        let mut subject_t = subject_truth(&subject, &site, &patient);
        subject_t.visits.push(visit_t);
        truth.subjects.push(subject_t);
        let spacing = [voxel, voxel, voxel];
        let extent = [
            2.0 * torso.body.semi_axes_mm[0] + 40.0,
            2.0 * torso.body.semi_axes_mm[1] + 40.0,
            320.0,
        ];
        let dims = [0, 1, 2].map(|a| cover(extent[a], spacing[a]));
        let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let grid = grid_around([0.0, 0.0, 12.0], dims, eye, spacing)?;
        series.push(SeriesPlan {
            subject_index: s,
            visit_index: 0,
            subject: subject.clone(),
            visit: "V1".into(),
            patient: patient.clone(),
            site: site.clone(),
            study_description: "PET-CT WHOLE BODY FDG".into(),
            study_date: date.clone(),
            study_time: clock(start_s),
            info: pet_series(s, &date, start_s, injection_s, dose_bq, half_life_s),
            grid,
            scenes: vec![scene],
            times_ms: Vec::new(),
            rr_interval_ms: None,
            ghost: None,
            label_names: names,
            values,
            structures,
            noise: Noise::Proportional { cov: 0.1 },
            bias: None,
            blur_fwhm_mm: None,
            seed,
        });
    }
    Ok(Plan { truth, series })
}

/// The site's PET series as its scanner names it.
fn pet_series(
    site: usize,
    date: &str,
    start_s: u32,
    injection_s: u32,
    dose_bq: f64,
    half_life_s: f64,
) -> SeriesInfo {
    let (description, protocol) = [
        ("PET WB AC", "PET-CT Whole Body"),
        ("WB 3D MAC", "PET CT WB FDG"),
        ("WB_CTAC Body", "WB FDG"),
    ][site % 3];
    SeriesInfo {
        name: "PET".into(),
        number: 4,
        description: description.into(),
        protocol: protocol.into(),
        body_part: "WHOLEBODY".into(),
        date: date.to_owned(),
        time: clock(start_s),
        acquisition: Acquisition::Pt(PetAcquisition::f18_static(
            "Fludeoxyglucose F^18^",
            format!("{date}{}", clock(injection_s)),
            dose_bq,
            half_life_s,
            120_000,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_give_back_the_designed_suvs_through_the_header_values() {
        let p = super::super::plan(Kind::Pet, &Options::default()).unwrap();
        for (subject, series) in p.truth.subjects.iter().zip(&p.series) {
            let t = subject.visits[0].pet.as_ref().unwrap();
            let Acquisition::Pt(a) = &series.info.acquisition else {
                panic!("not PET")
            };
            let header = crate::suv::PetHeader {
                units: a.units.clone(),
                decay_correction: a.decay_correction.clone(),
                corrected_image: a.corrected_image.clone(),
                series_date: series.info.date.clone(),
                series_time: series.info.time.clone(),
                acquisition_date: series.info.date.clone(),
                acquisition_time: series.info.time.clone(),
                injection_datetime: Some(a.injection_datetime.clone()),
                injection_time: None,
                dose_bq: Some(a.dose_bq),
                half_life_s: Some(a.half_life_s),
                weight_kg: Some(subject.patient.weight_kg),
                height_m: Some(subject.patient.height_m),
                sex: Some(subject.patient.sex.clone()),
                ..Default::default()
            };
            let f = crate::suv::factors(&[header]).unwrap();
            assert_eq!(f.decay_seconds, t.uptake_s);
            let liver = t.regions.iter().find(|r| r.name == "liver").unwrap();
            assert!((liver.activity_bqml * f.bw - 2.2).abs() < 1e-9);
            let lbm = f.lbm_janmahasatian.unwrap();
            assert!((liver.activity_bqml * lbm - liver.suv_lbm).abs() < 1e-9);
            assert!(liver.suv_lbm < liver.suv_bw);
        }
    }
}
