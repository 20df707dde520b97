//! PET standardised uptake values: the factors that turn a PET series' voxel values into SUV
//! (body weight, lean body mass, body surface area), following the QIBA vendor-neutral pseudo-code
//! (qibawiki.rsna.org, "Standardized Uptake Value (SUV)"), or a refusal naming what is missing or
//! implausible.
//!
//! `SUV = voxel × factor`. For Units BQML: factor = body size / decayed dose, where the dose is
//! decayed from the radiopharmaceutical start to the scan start (the Series date and time, when
//! not after the earliest acquisition) for Decay Correction START, and not decayed for ADMIN.
//! Units GML is SUV already (factor 1). Units CNTS (Philips) uses the vendor's SUV scale factor
//! when it is present and non-zero, else its activity concentration scale factor × the BQML
//! factor. The header values come from DICOM (`corelab_dicom::pet`) or any other source.

use serde::{Deserialize, Serialize};

/// What the SUV needs from one PET image header.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PetHeader {
    /// (0054,1001) Units: BQML, CNTS or GML.
    pub units: String,
    /// (0054,1102) Decay Correction: START, ADMIN or NONE.
    pub decay_correction: String,
    /// (0028,0051) Corrected Image values.
    pub corrected_image: Vec<String>,
    /// (0008,0021)/(0008,0031) Series Date and Time (DA, TM).
    pub series_date: String,
    /// Series Time.
    pub series_time: String,
    /// (0008,0022)/(0008,0032) Acquisition Date and Time.
    pub acquisition_date: String,
    /// Acquisition Time.
    pub acquisition_time: String,
    /// (0018,1078) Radiopharmaceutical Start DateTime (DT), if given.
    pub injection_datetime: Option<String>,
    /// (0018,1072) Radiopharmaceutical Start Time (TM), used with the series date otherwise.
    pub injection_time: Option<String>,
    /// (0018,1074) Radionuclide Total Dose, Bq.
    pub dose_bq: Option<f64>,
    /// (0018,1075) Radionuclide Half Life, s.
    pub half_life_s: Option<f64>,
    /// (0010,1030) Patient's Weight, kg.
    pub weight_kg: Option<f64>,
    /// (0010,1020) Patient's Size, m.
    pub height_m: Option<f64>,
    /// (0010,0040) Patient's Sex.
    pub sex: Option<String>,
    /// Philips (7053,1000) SUV Scale Factor.
    pub philips_suv_scale: Option<f64>,
    /// Philips (7053,1009) Activity Concentration Scale Factor.
    pub philips_activity_scale: Option<f64>,
}

/// SUV scale factors for a series (multiply a voxel value by one to get that SUV).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuvFactors {
    /// Body weight (g/mL).
    pub bw: f64,
    /// Lean body mass, Janmahasatian (g/mL), if height and sex are known.
    pub lbm_janmahasatian: Option<f64>,
    /// Lean body mass, James as QIBA gives it (g/mL), if height and sex are known.
    pub lbm_james: Option<f64>,
    /// Body surface area, Du Bois (cm²/mL), if height is known.
    pub bsa: Option<f64>,
    /// Seconds from injection to the scan start the dose was decayed over (0 for ADMIN, GML).
    pub decay_seconds: f64,
}

/// Why no SUV can be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("SUV: {0}")]
pub struct SuvError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, SuvError> {
    Err(SuvError(why.into()))
}

/// The SUV factors of a series from its images' headers (all must agree on the series-level
/// values).
pub fn factors(headers: &[PetHeader]) -> Result<SuvFactors, SuvError> {
    let Some(h) = headers.first() else {
        return refuse("no images");
    };
    for (n, other) in headers.iter().enumerate().skip(1) {
        let same = other.units == h.units
            && other.decay_correction == h.decay_correction
            && other.series_date == h.series_date
            && other.series_time == h.series_time
            && other.injection_datetime == h.injection_datetime
            && other.injection_time == h.injection_time
            && other.dose_bq == h.dose_bq
            && other.half_life_s == h.half_life_s
            && other.weight_kg == h.weight_kg;
        if !same {
            return refuse(format!(
                "image {} differs from image 1 in a series-level value (units, decay correction, series time, injection, dose, half-life or weight)",
                n + 1
            ));
        }
    }
    let units = h.units.trim().to_ascii_uppercase();
    if !matches!(units.as_str(), "BQML" | "CNTS" | "GML") {
        return refuse(format!(
            "(0054,1001) Units {:?}: BQML, CNTS or GML expected",
            h.units
        ));
    }
    let corrected = |what: &str| h.corrected_image.iter().any(|c| c.trim() == what);
    if !(corrected("ATTN") && corrected("DECY")) {
        return refuse(format!(
            "(0028,0051) Corrected Image {:?} lacks ATTN and DECY: not attenuation- and decay-corrected",
            h.corrected_image
        ));
    }
    let size = body_size(h)?;
    if units == "GML" {
        return Ok(SuvFactors {
            bw: 1.0,
            lbm_janmahasatian: None,
            lbm_james: None,
            bsa: None,
            decay_seconds: 0.0,
        });
    }
    let dose = positive(h.dose_bq, "(0018,1074) Radionuclide Total Dose")?;
    let half_life = positive(h.half_life_s, "(0018,1075) Radionuclide Half Life")?;
    let decay_seconds = match h.decay_correction.trim().to_ascii_uppercase().as_str() {
        "START" => decay_time(headers)?,
        "ADMIN" => 0.0,
        "NONE" => {
            return refuse(
                "(0054,1102) Decay Correction NONE: per-frame decay correction is not built yet",
            );
        }
        other => {
            return refuse(format!(
                "(0054,1102) Decay Correction {other:?}: START, ADMIN or NONE expected"
            ));
        }
    };
    let decayed = dose * 2f64.powf(-decay_seconds / half_life);
    // Counts (Philips): the vendor's own SUV factor, or its counts → Bq/mL scale.
    let scale = if units == "CNTS" {
        match (h.philips_suv_scale, h.philips_activity_scale) {
            (Some(s), _) if s != 0.0 && s.is_finite() => {
                return Ok(SuvFactors {
                    bw: s,
                    lbm_janmahasatian: None,
                    lbm_james: None,
                    bsa: None,
                    decay_seconds,
                });
            }
            (_, Some(a)) if a > 0.0 && a.is_finite() => a,
            _ => {
                return refuse(
                    "Units CNTS without a Philips SUV Scale Factor (7053,1000) or Activity Concentration Scale Factor (7053,1009)",
                );
            }
        }
    } else {
        1.0
    };
    Ok(SuvFactors {
        bw: scale * size.weight_g / decayed,
        lbm_janmahasatian: size.lbm_janmahasatian_g.map(|g| scale * g / decayed),
        lbm_james: size.lbm_james_g.map(|g| scale * g / decayed),
        bsa: size.bsa_cm2.map(|a| scale * a / decayed),
        decay_seconds,
    })
}

fn positive(v: Option<f64>, what: &str) -> Result<f64, SuvError> {
    match v {
        Some(x) if x.is_finite() && x > 0.0 => Ok(x),
        Some(x) => refuse(format!("{what} is {x}: a positive number is needed")),
        None => refuse(format!("{what} is missing")),
    }
}

/// Body size measures in grams and cm².
struct BodySize {
    weight_g: f64,
    lbm_janmahasatian_g: Option<f64>,
    lbm_james_g: Option<f64>,
    bsa_cm2: Option<f64>,
}

fn body_size(h: &PetHeader) -> Result<BodySize, SuvError> {
    let w = positive(h.weight_kg, "(0010,1030) Patient's Weight")?;
    if w > 500.0 {
        return refuse(format!(
            "(0010,1030) Patient's Weight {w} kg is implausible"
        ));
    }
    let height = h.height_m.filter(|m| m.is_finite() && *m > 0.0);
    if let Some(m) = height
        && !(0.3..=2.8).contains(&m)
    {
        return refuse(format!(
            "(0010,1020) Patient's Size {m} m is implausible (metres expected)"
        ));
    }
    let sex = h.sex.as_deref().map(|s| s.trim().to_ascii_uppercase());
    let male = match sex.as_deref() {
        Some("M") => Some(true),
        Some("F") => Some(false),
        _ => None,
    };
    Ok(BodySize {
        weight_g: w * 1000.0,
        lbm_janmahasatian_g: height
            .zip(male)
            .map(|(m, male)| lbm_janmahasatian_kg(w, m, male) * 1000.0),
        lbm_james_g: height
            .zip(male)
            .map(|(m, male)| lbm_james_kg(w, m, male) * 1000.0),
        bsa_cm2: height.map(|m| bsa_dubois_m2(w, m) * 10_000.0),
    })
}

/// Lean body mass (kg), Janmahasatian et al., Clin Pharmacokinet 2005;44:1051.
pub fn lbm_janmahasatian_kg(weight_kg: f64, height_m: f64, male: bool) -> f64 {
    let bmi = weight_kg / (height_m * height_m);
    if male {
        9270.0 * weight_kg / (6680.0 + 216.0 * bmi)
    } else {
        9270.0 * weight_kg / (8780.0 + 244.0 * bmi)
    }
}

/// Lean body mass (kg), James (1976), with the coefficients of the QIBA SUV pseudo-code
/// (1.10 W − 120 (W/H)² for men, 1.07 W − 148 (W/H)² for women; H in cm).
pub fn lbm_james_kg(weight_kg: f64, height_m: f64, male: bool) -> f64 {
    let r = weight_kg / (height_m * 100.0);
    if male {
        1.10 * weight_kg - 120.0 * r * r
    } else {
        1.07 * weight_kg - 148.0 * r * r
    }
}

/// Body surface area (m²), Du Bois & Du Bois (1916).
pub fn bsa_dubois_m2(weight_kg: f64, height_m: f64) -> f64 {
    0.007184 * weight_kg.powf(0.425) * (height_m * 100.0).powf(0.725)
}

/// The uptake time: seconds from injection to the scan start (as [`factors`] decays the dose
/// over with START), whatever the decay correction, units or body size.
pub fn uptake_seconds(headers: &[PetHeader]) -> Result<f64, SuvError> {
    if headers.is_empty() {
        return refuse("no images");
    }
    decay_time(headers)
}

/// Seconds from injection to the scan start (QIBA): the series date and time when it is not
/// after the earliest acquisition, with the injection's date and time (or its time on the
/// series date).
fn decay_time(headers: &[PetHeader]) -> Result<f64, SuvError> {
    let h = &headers[0];
    let series = datetime(&h.series_date, &h.series_time).ok_or_else(|| {
        SuvError(format!(
            "(0008,0021)/(0008,0031) Series Date/Time {:?} {:?} is missing or invalid",
            h.series_date, h.series_time
        ))
    })?;
    let earliest = headers
        .iter()
        .filter_map(|x| datetime(&x.acquisition_date, &x.acquisition_time))
        .min();
    if let Some(a) = earliest
        && series > a
    {
        return refuse(format!(
            "the Series Date/Time ({series}) is after the earliest Acquisition Date/Time ({a}): the series was probably re-saved, and the scan start is uncertain"
        ));
    }
    let injection = match &h.injection_datetime {
        Some(dt) if !dt.trim().is_empty() => {
            let dt = dt.trim();
            let (date, time) = dt.split_at(dt.len().min(8));
            datetime(date, time).ok_or_else(|| {
                SuvError(format!(
                    "(0018,1078) Radiopharmaceutical Start DateTime {dt:?} is invalid"
                ))
            })?
        }
        _ => {
            let t = h.injection_time.as_deref().unwrap_or("");
            datetime(&h.series_date, t).ok_or_else(|| {
                SuvError(format!(
                    "neither (0018,1078) Radiopharmaceutical Start DateTime nor a valid (0018,1072) Start Time ({t:?})"
                ))
            })?
        }
    };
    let seconds = (series - injection).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    if seconds < 0.0 {
        return refuse(format!(
            "the injection ({injection}) is after the scan start ({series})"
        ));
    }
    if seconds > 7.0 * 86_400.0 {
        return refuse(format!(
            "{seconds:.0} s from injection to scan: implausible"
        ));
    }
    Ok(seconds)
}

/// A DICOM DA and TM (HH, HHMM, HHMMSS or HHMMSS.FFFFFF) as a date and time.
fn datetime(date: &str, time: &str) -> Option<chrono::NaiveDateTime> {
    let date = date.trim();
    if date.len() != 8 || !date.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
    let t = time.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let part = |from: usize| -> Option<u32> {
        match whole.get(from..from + 2) {
            Some(p) => p.parse().ok(),
            None => Some(0),
        }
    };
    if !matches!(whole.len(), 2 | 4 | 6) {
        return None;
    }
    let micros = if frac.is_empty() {
        0
    } else {
        let f: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        f.parse().ok()?
    };
    let t = chrono::NaiveTime::from_hms_micro_opt(part(0)?, part(2)?, part(4)?, micros)?;
    Some(d.and_time(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dicom_times_in_every_form_parse() {
        let dt = |d, t| datetime(d, t).map(|x| x.to_string());
        assert_eq!(
            dt("20201217", "084500.00").as_deref(),
            Some("2020-12-17 08:45:00")
        );
        assert_eq!(
            dt("20201217", "1048").as_deref(),
            Some("2020-12-17 10:48:00")
        );
        assert_eq!(
            dt("20201217", "104830.351370").as_deref(),
            Some("2020-12-17 10:48:30.351370")
        );
        assert_eq!(dt("20201217", "25"), None);
        assert_eq!(dt("2020121", "10"), None);
        assert_eq!(dt("20201217", "10:48"), None);
    }
}
