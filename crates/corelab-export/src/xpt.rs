//! SAS transport files, version 5 (the format the FDA requires for SDTM submissions), as SAS
//! Technical Support document TS-140 ("The record layout of a data set in SAS transport (XPORT)
//! format") describes it: 80-byte records; a library header; per member (dataset) a member
//! header, a descriptor, one 140-byte NAMESTR per variable, then the observations, numbers as
//! 8-byte IBM System/370 doubles and text blank-padded to the variable's length.
//!
//! Hand-written: no maintained Rust crate writes XPT v5 (crates.io search for "xpt" and "sas"
//! transport found none that write it; the formats the readers handle are sas7bdat), and the
//! format is a few fixed records. The oracle is pyreadstat and pandas reading the files back
//! (`tests/read_xpt.py`).

use crate::dataset::{Cell, Dataset, ExportError, Kind, first_non_ascii};

/// The length of a record.
pub const RECORD: usize = 80;
/// The length of a NAMESTR (variable descriptor) in a v5 file.
pub const NAMESTR_LEN: usize = 140;

/// SAS missing (`.`): 0x2E followed by zeros.
pub const MISSING: [u8; 8] = [0x2E, 0, 0, 0, 0, 0, 0, 0];

/// Why a double has no IBM 370 form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IbmError {
    /// NaN or infinite.
    NotFinite,
    /// Magnitude of 16^63 (about 7.2e75) or more.
    Overflow,
    /// Non-zero magnitude below 16^-65 (about 5.4e-79).
    Underflow,
}

impl IbmError {
    fn why(self) -> &'static str {
        match self {
            Self::NotFinite => "a finite number (NaN and infinity have no SAS transport form)",
            Self::Overflow => "a magnitude below 16^63 (about 7.2e75), the largest IBM 370 double",
            Self::Underflow => {
                "zero or a magnitude of at least 16^-65 (about 5.4e-79), the smallest IBM 370 double"
            }
        }
    }
}

/// A double as an IBM System/370 double: sign bit, 7-bit base-16 exponent biased by 64, 56-bit
/// fraction in [1/16, 1). Every finite double in range converts exactly (53 significant bits fit
/// in 56 with the at most 3-bit shift that base 16 needs); 0 and -0 are all zero bytes.
pub fn to_ibm(x: f64) -> Result<[u8; 8], IbmError> {
    if !x.is_finite() {
        return Err(IbmError::NotFinite);
    }
    if x == 0.0 {
        return Ok([0; 8]);
    }
    let bits = x.to_bits();
    let sign = (bits >> 63) as u8;
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: ~1e-308, far below the IBM range.
        return Err(IbmError::Underflow);
    }
    let m = (bits & ((1u64 << 52) - 1)) | (1u64 << 52); // 53 bits: x = m / 2^53 * 2^p
    let p = biased - 1022;
    let q = (p + 3).div_euclid(4); // x = F * 16^q, F in [1/16, 1)
    let shift = 4 * q - p; // 0..=3
    let exponent = q + 64;
    if exponent > 127 {
        return Err(IbmError::Overflow);
    }
    if exponent < 0 {
        return Err(IbmError::Underflow);
    }
    let fraction = m << (3 - shift); // F * 2^56, exact
    let mut out = [0u8; 8];
    out[0] = (sign << 7) | exponent as u8;
    out[1..].copy_from_slice(&fraction.to_be_bytes()[1..]);
    Ok(out)
}

/// An IBM System/370 double back to a double (`None` for a SAS missing value), rounding the
/// 56-bit fraction to 53 bits; the inverse of [`to_ibm`] for the values it writes.
pub fn from_ibm(b: [u8; 8]) -> Option<f64> {
    // `.`, and the special missing values `._`, `.A`–`.Z`: the code, then zeros.
    let code = b[0];
    if b[1..].iter().all(|&x| x == 0) && (code == 0x2E || code == b'_' || code.is_ascii_uppercase())
    {
        return None;
    }
    let sign = if b[0] & 0x80 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from(b[0] & 0x7f) - 64;
    let mut f = [0u8; 8];
    f[1..].copy_from_slice(&b[1..]);
    let fraction = u64::from_be_bytes(f) as f64 / 2f64.powi(56);
    Some(sign * fraction * 16f64.powi(exponent))
}

/// A text field of `len` bytes, blank-padded (the caller has checked it fits).
fn padded(s: &str, len: usize) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(len, b' ');
    v
}

/// Pads a buffer with blanks to a whole number of records.
fn pad_record(out: &mut Vec<u8>) {
    let rem = out.len() % RECORD;
    if rem != 0 {
        out.resize(out.len() + RECORD - rem, b' ');
    }
}

/// A header record: `HEADER RECORD*******<name> HEADER RECORD!!!!!!!` and 30 digits, 2 blanks.
fn header(name: &str, digits: &str) -> Vec<u8> {
    let mut v =
        format!("HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!{digits:0>30}").into_bytes();
    v.resize(RECORD, b' ');
    v
}

/// The date-time of the headers: `ddMMMyy:hh:mm:ss`.
fn sas_datetime(t: chrono::NaiveDateTime) -> String {
    t.format("%d%b%y:%H:%M:%S").to_string().to_ascii_uppercase()
}

/// The library header (3 records) of a file written at `created`.
fn library_header(created: chrono::NaiveDateTime) -> Vec<u8> {
    let when = sas_datetime(created);
    let mut out = header("LIBRARY", "");
    // sas_symbol ×2, saslib, sasver, sas_os, 24 blanks, created.
    let mut real = format!(
        "{:<8}{:<8}{:<8}{:<8}{:<8}{:<24}{:<16}",
        "SAS", "SAS", "SASLIB", "9.4", "corelab", "", when
    )
    .into_bytes();
    real.resize(RECORD, b' ');
    out.extend(real);
    let mut modified = format!("{when:<16}").into_bytes();
    modified.resize(RECORD, b' ');
    out.extend(modified);
    out
}

/// The member of one dataset: member and descriptor headers, NAMESTRs, observations.
fn member(ds: &Dataset, created: chrono::NaiveDateTime) -> Result<Vec<u8>, ExportError> {
    let when = sas_datetime(created);
    // 0160: the descriptor header length; 0140: the NAMESTR length (TS-140).
    let mut out = header("MEMBER", "000000000000000001600000000140");
    out.extend(header("DSCRPTR", ""));
    let mut d1 = format!(
        "{:<8}{:<8}{:<8}{:<8}{:<8}{:<24}{:<16}",
        "SAS", ds.name, "SASDATA", "9.4", "corelab", "", when
    )
    .into_bytes();
    d1.resize(RECORD, b' ');
    out.extend(d1);
    // modified, 16 blanks, label (40), type (8).
    let mut d2 = format!("{when:<16}{:<16}{:<40}{:<8}", "", ds.label, "").into_bytes();
    d2.resize(RECORD, b' ');
    out.extend(d2);
    let n = ds.columns.len();
    if n > 9999 {
        return Err(ExportError::Input {
            what: format!("dataset {}", ds.name),
            why: format!("{n} variables: SAS transport v5 holds at most 9999"),
        });
    }
    out.extend(header(
        "NAMESTR",
        &format!("000000{n:04}00000000000000000000"),
    ));
    let lengths: Vec<usize> = (0..n).map(|i| ds.length(i)).collect();
    let mut names = Vec::with_capacity(n * NAMESTR_LEN);
    let mut position = 0usize;
    for (i, c) in ds.columns.iter().enumerate() {
        let mut s = Vec::with_capacity(NAMESTR_LEN);
        let ntype: u16 = if c.kind == Kind::Num { 1 } else { 2 };
        s.extend(ntype.to_be_bytes());
        s.extend(0u16.to_be_bytes()); // nhfun
        s.extend((lengths[i] as u16).to_be_bytes()); // nlng
        s.extend((i as u16 + 1).to_be_bytes()); // nvar0
        s.extend(padded(&c.name, 8));
        s.extend(padded(&c.label, 40));
        s.extend(padded("", 8)); // nform: no format
        s.extend([0u8; 6]); // nfl, nfd, nfj
        s.extend([0u8; 2]); // nfill
        s.extend(padded("", 8)); // niform
        s.extend([0u8; 4]); // nifl, nifd
        s.extend((position as u32).to_be_bytes()); // npos
        s.extend([0u8; 52]); // rest
        debug_assert_eq!(s.len(), NAMESTR_LEN);
        names.extend(s);
        position += lengths[i];
    }
    pad_record(&mut names);
    out.extend(names);
    out.extend(header("OBS", ""));
    let mut obs = Vec::with_capacity(ds.rows.len() * position);
    for (r, row) in ds.rows.iter().enumerate() {
        for ((c, cell), &len) in ds.columns.iter().zip(row).zip(&lengths) {
            match cell {
                Cell::Text(s) => {
                    if let Some((at, ch)) = first_non_ascii(s) {
                        return Err(ExportError::Cell {
                            dataset: ds.name.clone(),
                            column: c.name.clone(),
                            row: r,
                            found: format!("{s:?} ({ch:?} at character {at})"),
                            expected: "printable ASCII (SAS transport v5 has no character set): transliterate the value".into(),
                        });
                    }
                    obs.extend(padded(s, len));
                }
                Cell::Num(None) => obs.extend(MISSING),
                Cell::Num(Some(x)) => {
                    obs.extend(to_ibm(*x).map_err(|e| ExportError::Cell {
                        dataset: ds.name.clone(),
                        column: c.name.clone(),
                        row: r,
                        found: format!("{x:e}"),
                        expected: e.why().into(),
                    })?);
                }
            }
        }
    }
    pad_record(&mut obs);
    out.extend(obs);
    Ok(out)
}

/// The XPT v5 file of one dataset, its headers dated `created`. Validates the dataset first and
/// refuses non-ASCII text and numbers outside the IBM 370 range, naming the cell.
///
/// A known limit of the format: a last row whose bytes are all blanks cannot be told from the
/// record padding, so readers drop it. SDTM rows always hold DOMAIN, so they never are.
pub fn to_bytes(ds: &Dataset, created: chrono::NaiveDateTime) -> Result<Vec<u8>, ExportError> {
    ds.validate()?;
    let mut out = library_header(created);
    out.extend(member(ds, created)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Column;

    fn hex(b: [u8; 8]) -> String {
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn converts_known_values_to_ibm_370() {
        assert_eq!(hex(to_ibm(1.0).expect("ok")), "41 10 00 00 00 00 00 00");
        assert_eq!(
            hex(to_ibm(-118.625).expect("ok")),
            "C2 76 A0 00 00 00 00 00"
        );
        // 0.1 is 0x3FB999999999999A: its IBM form keeps all 53 bits, shifted.
        assert_eq!(hex(to_ibm(0.1).expect("ok")), "40 19 99 99 99 99 99 9A");
        assert_eq!(hex(to_ibm(0.0).expect("ok")), "00 00 00 00 00 00 00 00");
        assert_eq!(hex(to_ibm(-0.0).expect("ok")), "00 00 00 00 00 00 00 00");
        assert_eq!(hex(to_ibm(16.0).expect("ok")), "42 10 00 00 00 00 00 00");
        assert_eq!(hex(to_ibm(0.5).expect("ok")), "40 80 00 00 00 00 00 00");
        assert_eq!(hex(MISSING), "2E 00 00 00 00 00 00 00");
    }

    #[test]
    fn refuses_values_out_of_the_ibm_range() {
        assert_eq!(to_ibm(f64::NAN), Err(IbmError::NotFinite));
        assert_eq!(to_ibm(f64::INFINITY), Err(IbmError::NotFinite));
        assert_eq!(to_ibm(1e76), Err(IbmError::Overflow));
        assert_eq!(to_ibm(-1e76), Err(IbmError::Overflow));
        assert_eq!(to_ibm(1e-80), Err(IbmError::Underflow));
        assert_eq!(to_ibm(f64::MIN_POSITIVE / 2.0), Err(IbmError::Underflow));
        assert!(to_ibm(7e75).is_ok());
        assert!(to_ibm(6e-79).is_ok());
    }

    #[test]
    fn round_trips_every_kind_of_double_exactly() {
        for x in [
            1.0,
            -118.625,
            0.1,
            1.0 / 3.0,
            21.0,
            32.32,
            -2.5e-7,
            123_456_789.123_456_78,
            std::f64::consts::PI,
            7e75,
            6e-79,
        ] {
            let back = from_ibm(to_ibm(x).expect("in range")).expect("not missing");
            assert_eq!(back, x, "{x}");
        }
        assert_eq!(from_ibm(MISSING), None);
    }

    fn sample() -> Dataset {
        let mut d = Dataset::new(
            "TR",
            "Tumor/Lesion Results",
            "FINDINGS",
            "One record per test",
            vec![
                Column::text("DOMAIN", "Domain Abbreviation"),
                Column::float("TRSTRESN", "Numeric Result/Finding in Standard Units"),
                Column::text("TRLNKID", "Link ID"),
            ],
        );
        d.rows
            .push(vec![Cell::text("TR"), Cell::num(21.0), Cell::text("T01")]);
        d.rows
            .push(vec![Cell::text("TR"), Cell::missing(), Cell::text("NT1")]);
        d
    }

    fn when() -> chrono::NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_opt(3, 4, 5))
            .unwrap_or_default()
    }

    #[test]
    fn lays_out_records_of_80_bytes() {
        let b = to_bytes(&sample(), when()).expect("valid");
        assert_eq!(b.len() % RECORD, 0);
        let rec = |i: usize| String::from_utf8_lossy(&b[i * RECORD..(i + 1) * RECORD]).into_owned();
        assert_eq!(
            rec(0),
            "HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  "
        );
        assert!(
            rec(1).starts_with("SAS     SAS     SASLIB  9.4     "),
            "{}",
            rec(1)
        );
        assert!(rec(1).ends_with("02JAN26:03:04:05"), "{}", rec(1));
        assert_eq!(
            rec(3),
            "HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140  "
        );
        assert!(rec(4).starts_with("HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!"));
        assert!(rec(5).starts_with("SAS     TR      SASDATA 9.4     "));
        assert_eq!(&rec(6)[32..52], "Tumor/Lesion Results");
        assert_eq!(
            rec(7),
            "HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!000000000300000000000000000000  "
        );
        // 3 NAMESTRs of 140 bytes = 420 bytes: 6 records (480 bytes).
        let ns = &b[8 * RECORD..8 * RECORD + 420];
        assert_eq!(&ns[0..2], &[0, 2], "char");
        assert_eq!(&ns[4..6], &[0, 2], "length of DOMAIN: 2");
        assert_eq!(&ns[8..16], b"DOMAIN  ");
        assert_eq!(&ns[140..142], &[0, 1], "numeric");
        assert_eq!(&ns[144..146], &[0, 8]);
        assert_eq!(&ns[140 + 84..140 + 88], &[0, 0, 0, 2], "npos after DOMAIN");
        assert_eq!(
            &ns[280 + 84..280 + 88],
            &[0, 0, 0, 10],
            "npos after TRSTRESN"
        );
        assert!(b[8 * RECORD + 420..14 * RECORD].iter().all(|&x| x == b' '));
        assert!(rec(14).starts_with("HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"));
        // Observations: 2 + 8 + 3 = 13 bytes each, 26 bytes, padded to one record.
        assert_eq!(b.len(), 16 * RECORD);
        let obs = &b[15 * RECORD..];
        assert_eq!(&obs[0..2], b"TR");
        assert_eq!(&obs[2..10], &[0x42, 0x15, 0, 0, 0, 0, 0, 0], "21.0");
        assert_eq!(&obs[10..13], b"T01");
        assert_eq!(&obs[15..23], &MISSING);
        assert!(obs[26..].iter().all(|&x| x == b' '));
    }

    #[test]
    fn refuses_non_ascii_text_and_out_of_range_numbers_naming_the_cell() {
        let mut d = sample();
        d.rows[1][2] = Cell::text("Läsion");
        let e = to_bytes(&d, when()).expect_err("non-ASCII");
        let msg = e.to_string();
        assert!(msg.contains("dataset TR, column TRLNKID, row 1"), "{msg}");
        assert!(msg.contains("transliterate"), "{msg}");
        let mut d = sample();
        d.rows[0][1] = Cell::num(1e300);
        let e = to_bytes(&d, when()).expect_err("overflow");
        assert!(e.to_string().contains("column TRSTRESN, row 0"), "{e}");
    }
}
