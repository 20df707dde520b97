//! NV (Nervous System Findings, SDTMIG 3.3 and later) from corelab's neurology imaging
//! measurements: brain and tissue volumes, lesion counts and volumes, brain volume change, amyloid
//! SUVR and Centiloid, DaT specific binding ratios.
//!
//! Where the algorithm id and version go: NVGRPID. NVMETHOD is controlled terminology (C85492,
//! "Method": `MRI`, `PET/CT SCAN`) naming how the nervous system was examined, so it holds the
//! imaging method, not software; NVREFID is the identifier of the procedure (the scan), which the
//! algorithm is not. NVGRPID "ties together a block of related records" of a subject: the
//! measurements one algorithm version produced. (The SDTMIG-MD way, software as a device in DI
//! with SPDEVID on each record, is not done.)
//!
//! Test codes: only SUVR is confirmed, by the SDTMIG NV example 1 (`SUVR`, "Standard Uptake
//! Value Ratio") and pharmaversesdtm's `nv_neuro`. CENTLOID appears in sponsor NV data (the
//! Bio-Hermes-001 NV export) but was not found in CDISC CT. Every other code, and the NVLOC and
//! NVMETHOD words, are corelab's choices in the CDISC style (at most 8 characters, letters and
//! digits), unconfirmed against CT C116104 / C116103 / C74456 / C85492; `NvTest::confirmed` says
//! which is which, and `docs/sdtm.md` lists them.

use super::Seq;
use crate::dataset::{Cell, Column, Dataset, ExportError, Origin, format_number};

/// One neurology imaging measurement of one subject at one visit, as corelab's algorithms
/// report it.
#[derive(Clone, Debug, PartialEq)]
pub struct NvMeasure {
    /// USUBJID.
    pub usubjid: String,
    /// VISIT.
    pub visit: String,
    /// VISITNUM.
    pub visitnum: f64,
    /// NVDTC: the scan's date, ISO 8601 (`YYYY-MM-DD`, or partial), or empty.
    pub date: String,
    /// The measurement's name as the algorithm declares it (`gm-volume`, `suvr`).
    pub measure: String,
    /// The algorithm that measured, `id@version` (`neuro.tissue-seg@1.2.0`).
    pub algorithm: String,
    /// The value; `None` when the measurement could not be made (NVSTAT `NOT DONE`).
    pub value: Option<f64>,
    /// Its UCUM unit as the algorithm declares it (`mL`, `%`, `1`).
    pub unit: String,
}

/// How one corelab measurement is written in NV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NvTest {
    /// corelab's measurement name.
    pub measure: &'static str,
    /// NVTESTCD.
    pub testcd: &'static str,
    /// NVTEST.
    pub test: &'static str,
    /// NVCAT: the kind of imaging measurement.
    pub category: &'static str,
    /// NVLOC.
    pub location: &'static str,
    /// NVLAT (empty when not lateral).
    pub laterality: &'static str,
    /// NVMETHOD.
    pub method: &'static str,
    /// The UCUM unit the algorithm reports it in (a record in another unit is refused).
    pub ucum: &'static str,
    /// NVORRESU / NVSTRESU (empty for counts and dimensionless scores).
    pub unit: &'static str,
    /// Whether the value is a 0/1 classification written as NEGATIVE / POSITIVE.
    pub classification: bool,
    /// Whether NVTESTCD was confirmed in CDISC material (see the module documentation).
    pub confirmed: bool,
}

// A row of the table below: positional, so that the table reads as one line per measurement.
#[allow(clippy::too_many_arguments)]
const fn t(
    measure: &'static str,
    testcd: &'static str,
    test: &'static str,
    category: &'static str,
    location: &'static str,
    laterality: &'static str,
    method: &'static str,
    ucum: &'static str,
    unit: &'static str,
) -> NvTest {
    NvTest {
        measure,
        testcd,
        test,
        category,
        location,
        laterality,
        method,
        ucum,
        unit,
        classification: false,
        confirmed: false,
    }
}

const VOL: &str = "MRI VOLUMETRY";
const LES: &str = "MRI LESIONS";
const AMY: &str = "AMYLOID PET";
const DAT: &str = "DAT SPECT";
/// The cortical target of the Centiloid method (the GAAIN standard VOI), as pharmaversesdtm's
/// `nv_neuro` names it.
const CTX: &str = "NEOCORTICAL COMPOSITE";

/// corelab's neurology measurements (the `measurements()` of `corelab_algo::neuro::*`) and how
/// each is written. `target-mean` and `reference-mean` (raw PET means in scanner units) are left
/// out on purpose: they are inputs of SUVR, not findings.
#[rustfmt::skip]
pub const NV_TESTS: &[NvTest] = &[
    // neuro.brain-extraction, neuro.tissue-seg
    t("brain-volume", "VOLUME", "Volume", VOL, "BRAIN", "", "MRI", "mL", "mL"),
    t("icv", "VOLUME", "Volume", VOL, "INTRACRANIAL CAVITY", "", "MRI", "mL", "mL"),
    t("gm-volume", "VOLUME", "Volume", VOL, "GRAY MATTER", "", "MRI", "mL", "mL"),
    t("wm-volume", "VOLUME", "Volume", VOL, "WHITE MATTER", "", "MRI", "mL", "mL"),
    t("csf-volume", "VOLUME", "Volume", VOL, "CEREBROSPINAL FLUID", "", "MRI", "mL", "mL"),
    t("brain-parenchymal-fraction", "BPF", "Brain Parenchymal Fraction", VOL, "BRAIN", "", "MRI", "1", ""),
    t("gm-fraction-of-icv", "GMICVFR", "Gray Matter Fraction of ICV", VOL, "GRAY MATTER", "", "MRI", "1", ""),
    t("wm-fraction-of-icv", "WMICVFR", "White Matter Fraction of ICV", VOL, "WHITE MATTER", "", "MRI", "1", ""),
    t("csf-fraction-of-icv", "CSFICVFR", "CSF Fraction of ICV", VOL, "CEREBROSPINAL FLUID", "", "MRI", "1", ""),
    // neuro.pbvc
    t("pbvc", "PBVC", "Percent Brain Volume Change", VOL, "BRAIN", "", "MRI", "%", "%"),
    t("brain-volume-change", "BVCHG", "Brain Volume Change", VOL, "BRAIN", "", "MRI", "mL", "mL"),
    t("baseline-brain-volume", "BLBRVOL", "Brain Volume at Baseline", VOL, "BRAIN", "", "MRI", "mL", "mL"),
    // neuro.ms-lesions, neuro.lesion-change (the follow-up's own count and volume are the
    // visit's lesion count and volume)
    t("lesion-count", "LESNUM", "Number of Lesions", LES, "BRAIN", "", "MRI", "1", ""),
    t("lesion-volume", "LESVOL", "Total Lesion Volume", LES, "BRAIN", "", "MRI", "mL", "mL"),
    t("followup-lesion-count", "LESNUM", "Number of Lesions", LES, "BRAIN", "", "MRI", "1", ""),
    t("followup-lesion-volume", "LESVOL", "Total Lesion Volume", LES, "BRAIN", "", "MRI", "mL", "mL"),
    t("baseline-lesion-count", "BLLESNUM", "Number of Lesions at Baseline", LES, "BRAIN", "", "MRI", "1", ""),
    t("baseline-lesion-volume", "BLLESVOL", "Total Lesion Volume at Baseline", LES, "BRAIN", "", "MRI", "mL", "mL"),
    t("new-lesions", "NEWLESN", "Number of New Lesions", LES, "BRAIN", "", "MRI", "1", ""),
    t("enlarging-lesions", "ENLLESN", "Number of Enlarging Lesions", LES, "BRAIN", "", "MRI", "1", ""),
    // neuro.amyloid-centiloid
    NvTest {
        confirmed: true,
        ..t("suvr", "SUVR", "Standardized Uptake Value Ratio", AMY, CTX, "", "PET SCAN", "1", "RATIO")
    },
    t("centiloid", "CENTLOID", "Centiloid", AMY, CTX, "", "PET SCAN", "1", ""),
    NvTest {
        classification: true,
        ..t("positive", "AMYCLAS", "Amyloid Classification", AMY, CTX, "", "PET SCAN", "1", "")
    },
    // neuro.dat-sbr
    t("sbr-left-caudate", "SBR", "Specific Binding Ratio", DAT, "CAUDATE NUCLEUS", "LEFT", "SPECT", "1", "RATIO"),
    t("sbr-right-caudate", "SBR", "Specific Binding Ratio", DAT, "CAUDATE NUCLEUS", "RIGHT", "SPECT", "1", "RATIO"),
    t("sbr-left-putamen", "SBR", "Specific Binding Ratio", DAT, "PUTAMEN", "LEFT", "SPECT", "1", "RATIO"),
    t("sbr-right-putamen", "SBR", "Specific Binding Ratio", DAT, "PUTAMEN", "RIGHT", "SPECT", "1", "RATIO"),
    t("sbr-left-striatum", "SBR", "Specific Binding Ratio", DAT, "STRIATUM", "LEFT", "SPECT", "1", "RATIO"),
    t("sbr-right-striatum", "SBR", "Specific Binding Ratio", DAT, "STRIATUM", "RIGHT", "SPECT", "1", "RATIO"),
    t("asymmetry-putamen", "ASYMIDX", "Asymmetry Index", DAT, "PUTAMEN", "", "SPECT", "%", "%"),
    t("asymmetry-caudate", "ASYMIDX", "Asymmetry Index", DAT, "CAUDATE NUCLEUS", "", "SPECT", "%", "%"),
    t("putamen-caudate-ratio-left", "PCRATIO", "Putamen to Caudate Ratio", DAT, "STRIATUM", "LEFT", "SPECT", "1", "RATIO"),
    t("putamen-caudate-ratio-right", "PCRATIO", "Putamen to Caudate Ratio", DAT, "STRIATUM", "RIGHT", "SPECT", "1", "RATIO"),
];

/// How a corelab measurement is written in NV; `None` for one NV does not hold.
pub fn nv_test(measure: &str) -> Option<&'static NvTest> {
    NV_TESTS.iter().find(|t| t.measure == measure)
}

/// NV of the records, one row each in their order, NVSEQ numbered per subject. Refuses a record
/// of an unknown measurement, of another unit than the algorithm's, with a date that is not
/// ISO 8601, or with a value that does not fit (a classification other than 0 or 1).
pub fn nv(study: &str, records: &[NvMeasure]) -> Result<Dataset, ExportError> {
    let columns = vec![
        Column::text("STUDYID", "Study Identifier")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("DOMAIN", "Domain Abbreviation")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("USUBJID", "Unique Subject Identifier")
            .mandatory()
            .origin(Origin::Assigned),
        Column::integer("NVSEQ", "Sequence Number").mandatory(),
        Column::text("NVGRPID", "Group ID"),
        Column::text("NVTESTCD", "Short Name of Nervous System Test")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("NVTEST", "Name of Nervous System Test")
            .mandatory()
            .origin(Origin::Assigned),
        Column::text("NVCAT", "Category for Nervous System Test").origin(Origin::Assigned),
        Column::text("NVORRES", "Result or Finding in Original Units"),
        Column::text("NVORRESU", "Original Units"),
        Column::text("NVSTRESC", "Character Result/Finding in Std Format"),
        Column::float("NVSTRESN", "Numeric Result/Finding in Standard Units"),
        Column::text("NVSTRESU", "Standard Units"),
        Column::text("NVSTAT", "Completion Status"),
        Column::text("NVLOC", "Location Used for the Measurement").origin(Origin::Assigned),
        Column::text("NVLAT", "Laterality").origin(Origin::Assigned),
        Column::text("NVMETHOD", "Method of Test or Examination").origin(Origin::Assigned),
        Column::integer("VISITNUM", "Visit Number").origin(Origin::Assigned),
        Column::text("VISIT", "Visit Name").origin(Origin::Assigned),
        Column::datetime("NVDTC", "Date/Time of Collection").origin(Origin::Collected),
    ];
    let mut ds = Dataset::new(
        "NV",
        "Nervous System Findings",
        "FINDINGS",
        "One record per finding per location per visit per subject",
        columns,
    );
    let mut seq = Seq::default();
    for (i, m) in records.iter().enumerate() {
        let err = |why: String| ExportError::Input {
            what: format!("NV record {i} ({} {} {})", m.usubjid, m.visit, m.measure),
            why,
        };
        let Some(t) = nv_test(&m.measure) else {
            let known: Vec<&str> = NV_TESTS.iter().map(|t| t.measure).collect();
            return Err(err(format!(
                "no NV test for this measurement (known: {})",
                known.join(", ")
            )));
        };
        if m.unit != t.ucum {
            return Err(err(format!(
                "unit {:?}: {} is reported in {:?}",
                m.unit, m.measure, t.ucum
            )));
        }
        if !m.date.is_empty() && corelab_algo::onco::lesions::Date::parse(&m.date).is_none() {
            return Err(err(format!("date {:?}: ISO 8601 (YYYY-MM-DD)", m.date)));
        }
        if !m.visitnum.is_finite() {
            return Err(err(format!("VISITNUM {}: a number", m.visitnum)));
        }
        let (text, number, unit, stat) = match m.value {
            None => (String::new(), None, "", "NOT DONE"),
            Some(x) if !x.is_finite() => {
                return Err(err(format!("value {x}: a finite number, or none")));
            }
            Some(x) if t.classification => {
                let word = match x {
                    0.0 => "NEGATIVE",
                    1.0 => "POSITIVE",
                    _ => return Err(err(format!("value {x}: 0 (negative) or 1 (positive)"))),
                };
                (word.to_owned(), None, "", "")
            }
            Some(x) => (format_number(x), Some(x), t.unit, ""),
        };
        ds.rows.push(vec![
            Cell::text(study),
            Cell::text("NV"),
            Cell::text(&m.usubjid),
            Cell::num(seq.next(&m.usubjid)),
            Cell::text(&m.algorithm),
            Cell::text(t.testcd),
            Cell::text(t.test),
            Cell::text(t.category),
            Cell::text(&text),
            Cell::text(unit),
            Cell::text(&text),
            Cell::Num(number),
            Cell::text(unit),
            Cell::text(stat),
            Cell::text(t.location),
            Cell::text(t.laterality),
            Cell::text(t.method),
            Cell::num(m.visitnum),
            Cell::text(&m.visit),
            Cell::text(&m.date),
        ]);
    }
    ds.validate()?;
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(measure: &str, value: Option<f64>, unit: &str) -> NvMeasure {
        NvMeasure {
            usubjid: "S-001".into(),
            visit: "BASELINE".into(),
            visitnum: 1.0,
            date: "2024-01-02".into(),
            measure: measure.into(),
            algorithm: "neuro.amyloid-centiloid@1.0.0".into(),
            value,
            unit: unit.into(),
        }
    }

    #[test]
    fn every_test_code_is_a_valid_sdtm_code_and_labels_fit() {
        for t in NV_TESTS {
            let b = t.testcd.as_bytes();
            assert!(b.len() <= 8 && b[0].is_ascii_uppercase(), "{}", t.testcd);
            assert!(
                b.iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
                "{}",
                t.testcd
            );
            assert!(t.test.len() <= 40, "{}", t.test);
            assert_eq!(
                NV_TESTS.iter().filter(|o| o.measure == t.measure).count(),
                1,
                "{} mapped once",
                t.measure
            );
        }
    }

    #[test]
    fn every_neuro_measurement_corelab_declares_is_mapped_or_left_out_on_purpose() {
        use corelab_algo::Algorithm;
        let algorithms: Vec<Box<dyn Algorithm>> = vec![
            Box::new(corelab_algo::neuro::amyloid::AmyloidCentiloid),
            Box::new(corelab_algo::neuro::brain_extraction::BrainExtraction),
            Box::new(corelab_algo::neuro::dat_sbr::DatSbr),
            Box::new(corelab_algo::neuro::lesion_change::LesionChange),
            Box::new(corelab_algo::neuro::ms_lesions::MsLesions),
            Box::new(corelab_algo::neuro::pbvc::Pbvc),
            Box::new(corelab_algo::neuro::tissue_seg::TissueSeg),
        ];
        for a in algorithms {
            for spec in a.measurements() {
                if matches!(spec.name, "target-mean" | "reference-mean") {
                    continue;
                }
                let t = nv_test(spec.name)
                    .unwrap_or_else(|| panic!("{} of {} has no NV test", spec.name, a.id()));
                assert_eq!(t.ucum, spec.unit, "{}", spec.name);
            }
        }
    }

    #[test]
    fn writes_values_classifications_and_measurements_not_done() {
        let d = nv(
            "CORELAB-N1",
            &[
                m("suvr", Some(1.4321), "1"),
                m("centiloid", Some(62.5), "1"),
                m("positive", Some(1.0), "1"),
                m("suvr", None, "1"),
            ],
        )
        .expect("NV");
        assert_eq!(d.text(0, "NVTESTCD"), "SUVR");
        assert_eq!(d.text(0, "NVORRES"), "1.4321");
        assert_eq!(d.text(0, "NVSTRESU"), "RATIO");
        assert_eq!(d.text(0, "NVMETHOD"), "PET SCAN");
        assert_eq!(d.text(0, "NVGRPID"), "neuro.amyloid-centiloid@1.0.0");
        assert_eq!(d.text(2, "NVSTRESC"), "POSITIVE");
        assert_eq!(d.rows[2][11], Cell::missing());
        assert_eq!(d.text(3, "NVSTAT"), "NOT DONE");
        assert_eq!(d.rows[3][3], Cell::num(4.0), "NVSEQ");
    }

    #[test]
    fn refuses_unknown_measurements_wrong_units_and_bad_values() {
        let e = nv("S", &[m("hippocampus-volume", Some(3.0), "mL")]).expect_err("unknown");
        assert!(e.to_string().contains("no NV test"), "{e}");
        let e = nv("S", &[m("gm-volume", Some(600.0), "L")]).expect_err("unit");
        assert!(e.to_string().contains("\"mL\""), "{e}");
        assert!(nv("S", &[m("positive", Some(0.5), "1")]).is_err());
        assert!(nv("S", &[m("suvr", Some(f64::NAN), "1")]).is_err());
        let mut bad = m("suvr", Some(1.0), "1");
        bad.date = "02/01/2024".into();
        assert!(nv("S", &[bad]).is_err());
    }
}
