//! define.xml (Define-XML 2.0 on CDISC ODM 1.3.2) describing a set of SDTM datasets: per dataset
//! an ItemGroupDef (name, domain, SAS name, class, structure, the .xpt file it is archived in)
//! with an ItemRef per variable (order, mandatory), an ItemDef per variable (data type, length,
//! SAS name, label, origin), and a CodeList per test-code variable (`--TESTCD`) holding the codes
//! used, each decoded by the `--TEST` of its rows.
//!
//! Written by plain string building: the document is a fixed shape, and every value goes
//! through [`escape`]. Not written: value-level metadata (def:ValueListDef), methods and
//! comments, the stylesheet, and links to the CDISC Controlled Terminology codes (C-codes).

use crate::dataset::{Cell, DataType, Dataset, ExportError, format_number};
use std::fmt::Write as _;

/// The Define-XML version written.
pub const DEFINE_VERSION: &str = "2.0.0";
/// The SDTMIG version the datasets follow (NV is in SDTMIG 3.3 and later).
pub const SDTMIG_VERSION: &str = "3.4";

/// Text as XML writes it in content and in double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no form for the other control characters: written as a space.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The file name a dataset is archived in: `<name lower>.xpt`.
pub fn xpt_name(ds: &Dataset) -> String {
    format!("{}.xpt", ds.name.to_ascii_lowercase())
}

/// The codes of a `--TESTCD` column with the `--TEST` of their first row, in order of first use;
/// `None` when the column is not a test code or its dataset has no matching `--TEST`.
fn codelist(ds: &Dataset, column: usize) -> Option<Vec<(String, String)>> {
    let name = &ds.columns.get(column)?.name;
    let prefix = name.strip_suffix("TESTCD")?;
    let test = ds.column(&format!("{prefix}TEST"))?;
    let mut items: Vec<(String, String)> = Vec::new();
    for row in &ds.rows {
        if let (Some(Cell::Text(code)), Some(Cell::Text(decode))) = (row.get(column), row.get(test))
            && !code.is_empty()
            && !items.iter().any(|(c, _)| c == code)
        {
            items.push((code.clone(), decode.clone()));
        }
    }
    Some(items)
}

/// Length and significant digits of a numeric column, as Define-XML wants them for integer and
/// float items: the most characters of a value written shortest, and the most decimals.
fn numeric_length(ds: &Dataset, column: usize) -> (usize, usize) {
    let mut len = 1;
    let mut decimals = 0;
    for row in &ds.rows {
        if let Some(Cell::Num(Some(x))) = row.get(column) {
            let s = format_number(*x);
            let digits = s.chars().filter(char::is_ascii_digit).count();
            len = len.max(digits);
            decimals = decimals.max(s.split_once('.').map_or(0, |(_, d)| d.len()));
        }
    }
    (len, decimals)
}

/// The define.xml of `datasets` of study `study_id`, dated `created` (UTC). Validates each
/// dataset and refuses two datasets of one name.
pub fn to_xml(
    study_id: &str,
    datasets: &[Dataset],
    created: chrono::NaiveDateTime,
) -> Result<String, ExportError> {
    for (i, ds) in datasets.iter().enumerate() {
        ds.validate()?;
        if datasets[..i].iter().any(|o| o.name == ds.name) {
            return Err(ExportError::Input {
                what: format!("dataset {}", ds.name),
                why: "two datasets of this name in one define.xml".into(),
            });
        }
    }
    let e = escape;
    let study = e(study_id);
    let mut x = String::new();
    // `write!` into a String cannot fail; the results are ignored through `let _`.
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:def="http://www.cdisc.org/ns/def/v2.0" ODMVersion="1.3.2" FileType="Snapshot" FileOID="DEFINE.{study}" CreationDateTime="{}" Originator="corelab" SourceSystem="corelab" SourceSystemVersion="{}">"#,
        created.format("%Y-%m-%dT%H:%M:%S"),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(x, r#"  <Study OID="STUDY.{study}">"#);
    let _ = writeln!(x, "    <GlobalVariables>");
    let _ = writeln!(x, "      <StudyName>{study}</StudyName>");
    let _ = writeln!(
        x,
        "      <StudyDescription>{study}: SDTM tabulation datasets written by corelab</StudyDescription>"
    );
    let _ = writeln!(x, "      <ProtocolName>{study}</ProtocolName>");
    let _ = writeln!(x, "    </GlobalVariables>");
    let _ = writeln!(
        x,
        r#"    <MetaDataVersion OID="MDV.{study}" Name="{study} SDTM" Description="SDTM datasets of {study}" def:DefineVersion="{DEFINE_VERSION}" def:StandardName="SDTM-IG" def:StandardVersion="{SDTMIG_VERSION}">"#
    );
    for ds in datasets {
        let name = e(&ds.name);
        let _ = writeln!(
            x,
            r#"      <ItemGroupDef OID="IG.{name}" Name="{name}" Domain="{name}" SASDatasetName="{name}" Repeating="Yes" IsReferenceData="No" Purpose="Tabulation" def:Structure="{}" def:Class="{}" def:ArchiveLocationID="LF.{name}">"#,
            e(&ds.structure),
            e(&ds.class)
        );
        let _ = writeln!(
            x,
            r#"        <Description><TranslatedText xml:lang="en">{}</TranslatedText></Description>"#,
            e(&ds.label)
        );
        for (i, c) in ds.columns.iter().enumerate() {
            let _ = writeln!(
                x,
                r#"        <ItemRef ItemOID="IT.{name}.{}" OrderNumber="{}" Mandatory="{}"/>"#,
                e(&c.name),
                i + 1,
                if c.mandatory { "Yes" } else { "No" }
            );
        }
        let file = e(&xpt_name(ds));
        let _ = writeln!(
            x,
            r#"        <def:leaf ID="LF.{name}" xlink:href="{file}"><def:title>{file}</def:title></def:leaf>"#
        );
        let _ = writeln!(x, "      </ItemGroupDef>");
    }
    for ds in datasets {
        let name = e(&ds.name);
        for (i, c) in ds.columns.iter().enumerate() {
            let var = e(&c.name);
            let size = match c.data_type {
                DataType::Text => format!(r#" Length="{}""#, ds.length(i)),
                DataType::Integer => format!(r#" Length="{}""#, numeric_length(ds, i).0),
                DataType::Float => {
                    let (len, digits) = numeric_length(ds, i);
                    format!(r#" Length="{len}" SignificantDigits="{digits}""#)
                }
                DataType::Datetime => String::new(),
            };
            let _ = writeln!(
                x,
                r#"      <ItemDef OID="IT.{name}.{var}" Name="{var}" SASFieldName="{var}" DataType="{}"{size}>"#,
                c.data_type.word()
            );
            let _ = writeln!(
                x,
                r#"        <Description><TranslatedText xml:lang="en">{}</TranslatedText></Description>"#,
                e(&c.label)
            );
            if codelist(ds, i).is_some() {
                let _ = writeln!(x, r#"        <CodeListRef CodeListOID="CL.{name}.{var}"/>"#);
            }
            let _ = writeln!(x, r#"        <def:Origin Type="{}"/>"#, c.origin.word());
            let _ = writeln!(x, "      </ItemDef>");
        }
    }
    for ds in datasets {
        let name = e(&ds.name);
        for (i, c) in ds.columns.iter().enumerate() {
            let Some(items) = codelist(ds, i) else {
                continue;
            };
            let var = e(&c.name);
            let _ = writeln!(
                x,
                r#"      <CodeList OID="CL.{name}.{var}" Name="{name} {var}" DataType="text">"#
            );
            for (n, (code, decode)) in items.iter().enumerate() {
                let _ = writeln!(
                    x,
                    r#"        <CodeListItem CodedValue="{}" OrderNumber="{}"><Decode><TranslatedText xml:lang="en">{}</TranslatedText></Decode></CodeListItem>"#,
                    e(code),
                    n + 1,
                    e(decode)
                );
            }
            let _ = writeln!(x, "      </CodeList>");
        }
    }
    let _ = writeln!(x, "    </MetaDataVersion>");
    let _ = writeln!(x, "  </Study>");
    let _ = writeln!(x, "</ODM>");
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Column;

    fn tr() -> Dataset {
        let mut d = Dataset::new(
            "TR",
            "Tumor/Lesion Results",
            "FINDINGS",
            "One record per tumor measurement per visit per subject",
            vec![
                Column::text("STUDYID", "Study Identifier").mandatory(),
                Column::integer("TRSEQ", "Sequence Number").mandatory(),
                Column::text("TRTESTCD", "Tumor/Lesion Assessment Short Name"),
                Column::text("TRTEST", "Tumor/Lesion Assessment Test Name"),
                Column::float("TRSTRESN", "Numeric Result/Finding in Std Units"),
                Column::datetime("TRDTC", "Date/Time of Tumor/Lesion Measurement"),
            ],
        );
        for (seq, (cd, t, v)) in [
            ("LDIAM", "Longest Diameter", Some(21.5)),
            ("SUMDIAM", "Sum of Diameter", Some(120.25)),
            ("LDIAM", "Longest Diameter", None),
        ]
        .into_iter()
        .enumerate()
        {
            d.rows.push(vec![
                Cell::text("S<&>\"1"),
                Cell::num(seq as f64 + 1.0),
                Cell::text(cd),
                Cell::text(t),
                Cell::Num(v),
                Cell::text("2024-01-02"),
            ]);
        }
        d
    }

    fn when() -> chrono::NaiveDateTime {
        chrono::DateTime::from_timestamp(0, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    #[test]
    fn describes_datasets_variables_and_the_test_codes_used() {
        let x = to_xml("ST<1>", &[tr()], when()).expect("valid");
        assert!(x.contains(r#"xmlns:def="http://www.cdisc.org/ns/def/v2.0""#));
        assert!(x.contains(r#"ODMVersion="1.3.2""#));
        assert!(
            x.contains(r#"<StudyName>ST&lt;1&gt;</StudyName>"#),
            "escaped"
        );
        assert!(x.contains(r#"SASDatasetName="TR" Repeating="Yes""#));
        assert!(x.contains(r#"Purpose="Tabulation""#));
        assert!(x.contains(r#"def:ArchiveLocationID="LF.TR""#));
        assert!(x.contains(r#"<def:leaf ID="LF.TR" xlink:href="tr.xpt">"#));
        assert!(x.contains(r#"<ItemRef ItemOID="IT.TR.TRSEQ" OrderNumber="2" Mandatory="Yes"/>"#));
        assert!(x.contains(r#"Name="STUDYID" SASFieldName="STUDYID" DataType="text" Length="6""#));
        assert!(x.contains(r#"Name="TRSTRESN" SASFieldName="TRSTRESN" DataType="float" Length="5" SignificantDigits="2""#));
        assert!(x.contains(r#"Name="TRDTC" SASFieldName="TRDTC" DataType="datetime">"#));
        assert!(x.contains(r#"<CodeListRef CodeListOID="CL.TR.TRTESTCD"/>"#));
        assert_eq!(x.matches("<CodeListItem ").count(), 2, "LDIAM once: {x}");
        assert!(x.contains(r#"CodedValue="SUMDIAM" OrderNumber="2"><Decode><TranslatedText xml:lang="en">Sum of Diameter<"#));
    }

    #[test]
    fn refuses_two_datasets_of_one_name() {
        assert!(to_xml("S", &[tr(), tr()], when()).is_err());
    }

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos; ");
    }
}
