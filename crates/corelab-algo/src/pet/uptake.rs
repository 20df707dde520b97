//! How a PET image's voxel values become standardised uptake values.
//!
//! A volume formed from a DICOM PET series carries each instance's SUV header values
//! (`Source::pet`, filled by `corelab_dicom::series`); with `units=header` (the default) the
//! factor comes from them through `corelab_image::suv::factors` (QIBA), and a series whose
//! header does not allow an SUV (no decay information, no weight, no ATTN/DECY corrections, …)
//! is refused with that function's reason. A file that carries no PET header (NIfTI) says what
//! its values are by parameter: already normalised (`units=suv` or `units=sul`), or Bq/mL with
//! the factor given (`units=bqml`, factor in g/Bq: body size over the decayed dose).

use crate::AlgoError;
use corelab_image::Volume;
use corelab_image::suv::{self, PetHeader};
use ndarray::Array3;

/// What the uptake is normalised to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Normalisation {
    /// SUVbw: body weight.
    BodyWeight,
    /// SUL: lean body mass by Janmahasatian et al. (2005), as PERCIST asks.
    LeanBodyMass,
}

impl Normalisation {
    fn name(self) -> &'static str {
        match self {
            Self::BodyWeight => "SUVbw",
            Self::LeanBodyMass => "SUL (SUVlbm, Janmahasatian)",
        }
    }
}

/// How the image's values are to be read: `header`, `bqml` with `factor` (g/Bq; `None` or 0
/// when not given, named `factor_param` in errors), or already normalised (any other word).
pub(crate) struct Units<'a> {
    /// The `units` parameter's value.
    pub units: &'a str,
    /// The factor parameter's name.
    pub factor_param: &'a str,
    /// Its value.
    pub factor: Option<f64>,
}

/// The factor that makes a voxel value of `image` (input `role`) an uptake normalised by `to`
/// (g/Bq for Bq/mL values, 1 for values already normalised), or the reason there is none.
pub(crate) fn factor(
    role: &str,
    image: &Volume<f32>,
    units: &Units,
    to: Normalisation,
) -> Result<f64, AlgoError> {
    let input = |why: String| AlgoError::Input {
        role: role.to_owned(),
        why,
    };
    if let Some(m) = image.source.modality.as_deref()
        && m != "PT"
    {
        return Err(input(format!(
            "(0008,0060) Modality {m}: a PET image (PT) is expected"
        )));
    }
    match units.units {
        "header" => {
            if image.source.pet.is_empty() {
                return Err(input(format!(
                    "no PET header reached this input (a NIfTI file carries none): give units={} if its values are already {}, or units=bqml with {} (g/Bq)",
                    if to == Normalisation::BodyWeight {
                        "suv"
                    } else {
                        "sul"
                    },
                    to.name(),
                    units.factor_param
                )));
            }
            let f = suv::factors(&image.source.pet).map_err(|e| input(e.to_string()))?;
            match to {
                Normalisation::BodyWeight => Ok(f.bw),
                Normalisation::LeanBodyMass => match f.lbm_janmahasatian {
                    Some(lbm) => Ok(lbm),
                    // Units GML, or Philips' own SUV factor: SUVbw scaled by LBM / weight.
                    None => lbm_over_weight(&image.source.pet[0])
                        .map(|r| f.bw * r)
                        .ok_or_else(|| {
                            input(
                                "SUL needs the lean body mass: (0010,1020) Patient's Size (m) and (0010,0040) Patient's Sex (M or F) are missing or invalid".to_owned(),
                            )
                        }),
                },
            }
        }
        "bqml" => match units.factor {
            Some(f) if f > 0.0 && f.is_finite() => Ok(f),
            _ => Err(AlgoError::Param {
                name: units.factor_param.to_owned(),
                why: format!(
                    "units=bqml needs the factor that makes Bq/mL a {} (g/Bq: body size in g over the dose decayed to the scan start in Bq)",
                    to.name()
                ),
            }),
        },
        _ => Ok(1.0),
    }
}

/// Janmahasatian lean body mass over weight, from a header's weight, height and sex.
fn lbm_over_weight(h: &PetHeader) -> Option<f64> {
    let w = h.weight_kg.filter(|w| w.is_finite() && *w > 0.0)?;
    let m = h.height_m.filter(|m| (0.3..=2.8).contains(m))?;
    let male = match h.sex.as_deref().map(str::trim) {
        Some("M") => true,
        Some("F") => false,
        _ => return None,
    };
    Some(suv::lbm_janmahasatian_kg(w, m, male) / w)
}

/// The image × `factor` in f64, refusing a non-finite voxel.
pub(crate) fn scaled(
    role: &str,
    image: &Volume<f32>,
    factor: f64,
) -> Result<Array3<f64>, AlgoError> {
    if let Some(((i, j, k), v)) = image.data.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(AlgoError::Input {
            role: role.to_owned(),
            why: format!("voxel [{i}, {j}, {k}] is {v}"),
        });
    }
    Ok(image.data.mapv(|v| f64::from(v) * factor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corelab_image::geometry::Geometry;

    fn header() -> PetHeader {
        PetHeader {
            units: "BQML".into(),
            decay_correction: "START".into(),
            corrected_image: vec!["ATTN".into(), "DECY".into()],
            series_date: "20260302".into(),
            series_time: "100000".into(),
            acquisition_date: "20260302".into(),
            acquisition_time: "100000".into(),
            injection_datetime: Some("20260302090000".into()),
            dose_bq: Some(3.7e8),
            half_life_s: Some(6586.2),
            weight_kg: Some(80.0),
            height_m: Some(1.8),
            sex: Some("M".into()),
            ..Default::default()
        }
    }

    fn image(modality: Option<&str>, pet: Vec<PetHeader>) -> Volume<f32> {
        let mut v = Volume::new(
            Array3::from_elem((2, 2, 2), 1000.0f32),
            Geometry::axis_aligned([2; 3], [0.0; 3], [4.0; 3]),
        )
        .unwrap();
        v.source.modality = modality.map(str::to_owned);
        v.source.pet = pet;
        v
    }

    const HEADER: Units = Units {
        units: "header",
        factor_param: "suv-factor",
        factor: None,
    };

    #[test]
    fn a_dicom_pet_gives_the_qiba_factors_for_suvbw_and_sul() {
        let v = image(Some("PT"), vec![header()]);
        let decayed = 3.7e8 * 2f64.powf(-3600.0 / 6586.2);
        let bw = factor("pet", &v, &HEADER, Normalisation::BodyWeight).unwrap();
        assert!((bw - 80_000.0 / decayed).abs() < 1e-12 * bw);
        let sul = factor("pet", &v, &HEADER, Normalisation::LeanBodyMass).unwrap();
        let lbm = suv::lbm_janmahasatian_kg(80.0, 1.8, true) * 1000.0;
        assert!((sul - lbm / decayed).abs() < 1e-12 * sul);
    }

    #[test]
    fn sul_of_an_image_already_in_suv_uses_the_lean_body_mass_ratio() {
        let mut h = header();
        h.units = "GML".into();
        let v = image(Some("PT"), vec![h]);
        let sul = factor("pet", &v, &HEADER, Normalisation::LeanBodyMass).unwrap();
        let ratio = suv::lbm_janmahasatian_kg(80.0, 1.8, true) / 80.0;
        assert!((sul - ratio).abs() < 1e-12);
    }

    #[test]
    fn no_decay_information_no_suv_with_the_reason() {
        let mut h = header();
        h.injection_datetime = None;
        let v = image(Some("PT"), vec![h]);
        let e = factor("pet", &v, &HEADER, Normalisation::BodyWeight).unwrap_err();
        assert!(
            e.to_string()
                .contains("pet: SUV: neither (0018,1078) Radiopharmaceutical Start DateTime"),
            "{e}"
        );
        let mut h = header();
        h.half_life_s = None;
        let e = factor(
            "pet",
            &image(Some("PT"), vec![h]),
            &HEADER,
            Normalisation::BodyWeight,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("Radionuclide Half Life is missing"),
            "{e}"
        );
    }

    #[test]
    fn the_wrong_modality_and_a_headerless_file_are_refused_saying_what_to_do() {
        let e = factor(
            "pet",
            &image(Some("CT"), vec![]),
            &HEADER,
            Normalisation::BodyWeight,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("Modality CT: a PET image (PT)"),
            "{e}"
        );
        let e = factor(
            "pet",
            &image(None, vec![]),
            &HEADER,
            Normalisation::BodyWeight,
        )
        .unwrap_err();
        assert!(e.to_string().contains("give units=suv"), "{e}");
        let bqml = Units {
            units: "bqml",
            factor_param: "suv-factor",
            factor: Some(0.0),
        };
        let e = factor(
            "pet",
            &image(None, vec![]),
            &bqml,
            Normalisation::BodyWeight,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("parameter suv-factor"), "{e}");
        let given = Units {
            factor: Some(2e-4),
            ..bqml
        };
        let f = factor(
            "pet",
            &image(None, vec![]),
            &given,
            Normalisation::BodyWeight,
        );
        assert_eq!(f, Ok(2e-4));
        let suv = Units {
            units: "suv",
            ..HEADER
        };
        assert_eq!(
            factor("pet", &image(None, vec![]), &suv, Normalisation::BodyWeight),
            Ok(1.0)
        );
    }
}
