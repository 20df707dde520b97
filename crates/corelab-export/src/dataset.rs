//! A typed SDTM-style dataset: a name and label, typed columns, and rows of cells, with the
//! limits that SAS transport v5 and the FDA's Study Data Technical Conformance Guide put on them
//! (names of at most 8 upper-case characters, labels of at most 40, character values of at most
//! 200 bytes), checked before anything is written; and its CSV form.

use std::path::PathBuf;

/// The longest character value SAS transport v5 (and the FDA) accept, in bytes.
pub const MAX_CHAR_LEN: usize = 200;
/// The longest dataset or variable name in SAS transport v5.
pub const MAX_NAME_LEN: usize = 8;
/// The longest dataset or variable label in SAS transport v5.
pub const MAX_LABEL_LEN: usize = 40;

/// Why a dataset could not be built or written; each names the dataset, and where it applies the
/// column, the row (0-based, as the rows are held) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A dataset or column name breaks the SAS v5 naming rule.
    #[error("dataset {dataset}{}: name {name:?}: {expected}", column_part(column))]
    Name {
        /// The dataset.
        dataset: String,
        /// The column, when the name is a column's.
        column: Option<String>,
        /// The name given.
        name: String,
        /// What a name must be.
        expected: String,
    },
    /// A dataset or column label breaks a rule.
    #[error(
        "dataset {dataset}{}: label {label:?}: {expected}",
        column_part(column)
    )]
    Label {
        /// The dataset.
        dataset: String,
        /// The column, when the label is a column's.
        column: Option<String>,
        /// The label given.
        label: String,
        /// What a label must be.
        expected: String,
    },
    /// A cell that does not fit its column.
    #[error("dataset {dataset}, column {column}, row {row}: {found}: {expected}")]
    Cell {
        /// The dataset.
        dataset: String,
        /// The column.
        column: String,
        /// The row (0-based).
        row: usize,
        /// What the cell holds.
        found: String,
        /// What was expected.
        expected: String,
    },
    /// A row of the wrong width.
    #[error("dataset {dataset}, row {row}: {found} cells, the dataset has {expected} columns")]
    RowWidth {
        /// The dataset.
        dataset: String,
        /// The row (0-based).
        row: usize,
        /// Cells in the row.
        found: usize,
        /// Columns in the dataset.
        expected: usize,
    },
    /// An input record that cannot be exported (an unknown measurement, a unit that does not
    /// match, an inconsistent set of datasets).
    #[error("{what}: {why}")]
    Input {
        /// The record or set concerned.
        what: String,
        /// What is wrong.
        why: String,
    },
    /// A file that could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn column_part(column: &Option<String>) -> String {
    column
        .as_ref()
        .map(|c| format!(", column {c}"))
        .unwrap_or_default()
}

/// The storage type of a column: what SAS transport holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Character (ASCII in XPT v5), blank-padded to the column's length.
    Char,
    /// Numeric: an 8-byte IBM 370 double in XPT, SAS missing when absent.
    Num,
}

/// The Define-XML data type of a column (ItemDef/@DataType): what the value means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// Free text.
    Text,
    /// An integer held in a numeric column (--SEQ, VISITNUM when whole).
    Integer,
    /// A real number.
    Float,
    /// An ISO 8601 date or date-time, possibly partial, held as text (--DTC).
    Datetime,
}

impl DataType {
    /// The Define-XML word.
    pub fn word(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Float => "float",
            Self::Datetime => "datetime",
        }
    }
}

/// Where a variable's values come from (Define-XML def:Origin/@Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Assigned by the sponsor or the core lab (STUDYID, DOMAIN, TESTCD values).
    Assigned,
    /// Computed from other data (--SEQ, sums, responses, algorithm measurements).
    Derived,
    /// Collected from a reader (diameters, lesion states).
    Collected,
}

impl Origin {
    /// The Define-XML 2.0 word (`Collected` is Define-XML 2.0's `CRF`: Define-XML 2.0 has no
    /// `Collected`, which came with 2.1).
    pub fn word(self) -> &'static str {
        match self {
            Self::Assigned => "Assigned",
            Self::Derived => "Derived",
            Self::Collected => "CRF",
        }
    }
}

/// A variable of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Its name: 1–8 characters, upper-case letters, digits or `_`, starting with a letter.
    pub name: String,
    /// Its label: at most 40 ASCII characters.
    pub label: String,
    /// How it is stored.
    pub kind: Kind,
    /// What its values mean (Define-XML).
    pub data_type: DataType,
    /// Whether every row has a value (Define-XML ItemRef/@Mandatory: SDTM "Req" variables).
    pub mandatory: bool,
    /// Where its values come from (Define-XML).
    pub origin: Origin,
}

impl Column {
    fn new(name: &str, label: &str, kind: Kind, data_type: DataType) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            kind,
            data_type,
            mandatory: false,
            origin: Origin::Derived,
        }
    }
    /// A character column of free text.
    pub fn text(name: &str, label: &str) -> Self {
        Self::new(name, label, Kind::Char, DataType::Text)
    }
    /// A character column of ISO 8601 dates (--DTC).
    pub fn datetime(name: &str, label: &str) -> Self {
        Self::new(name, label, Kind::Char, DataType::Datetime)
    }
    /// A numeric column of reals.
    pub fn float(name: &str, label: &str) -> Self {
        Self::new(name, label, Kind::Num, DataType::Float)
    }
    /// A numeric column of integers.
    pub fn integer(name: &str, label: &str) -> Self {
        Self::new(name, label, Kind::Num, DataType::Integer)
    }
    /// Marks the column mandatory (SDTM "Req").
    pub fn mandatory(mut self) -> Self {
        self.mandatory = true;
        self
    }
    /// Sets where its values come from.
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }
}

/// A value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text, for a `Char` column (empty: missing).
    Text(String),
    /// A number, for a `Num` column; `None` is SAS missing (`.`).
    Num(Option<f64>),
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }
    /// A present number.
    pub fn num(x: f64) -> Self {
        Self::Num(Some(x))
    }
    /// A missing number.
    pub fn missing() -> Self {
        Self::Num(None)
    }
}

/// An SDTM dataset (one domain): name, label, Define-XML class and structure, columns, rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Its name (the domain: `TR`), 1–8 upper-case characters.
    pub name: String,
    /// Its label (`Tumor/Lesion Results`), at most 40 ASCII characters.
    pub label: String,
    /// Its SDTM observation class as Define-XML names it (`FINDINGS`).
    pub class: String,
    /// Its structure (`One record per tumor measurement/assessment per visit per subject per
    /// assessor`), for Define-XML def:Structure.
    pub structure: String,
    /// Its variables, in order.
    pub columns: Vec<Column>,
    /// Its rows, each of `columns.len()` cells.
    pub rows: Vec<Vec<Cell>>,
}

/// Whether a name follows the SAS v5 rule.
fn name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// The first character outside printable ASCII, with its position, if any.
pub(crate) fn first_non_ascii(s: &str) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii() || c.is_ascii_control())
}

const NAME_RULE: &str =
    "1 to 8 characters, upper-case letters A-Z, digits or _, starting with a letter (SAS v5)";

impl Dataset {
    /// An empty dataset of these columns.
    pub fn new(
        name: &str,
        label: &str,
        class: &str,
        structure: &str,
        columns: Vec<Column>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            class: class.to_owned(),
            structure: structure.to_owned(),
            columns,
            rows: Vec::new(),
        }
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The text of a cell (empty for a number or an unknown column), for tests and builders.
    pub fn text(&self, row: usize, column: &str) -> &str {
        match self
            .column(column)
            .and_then(|c| self.rows.get(row).and_then(|r| r.get(c)))
        {
            Some(Cell::Text(s)) => s,
            _ => "",
        }
    }

    /// The length of a column as XPT stores it: for `Char`, the longest value in bytes (at
    /// least 1); for `Num`, 8.
    pub fn length(&self, column: usize) -> usize {
        match self.columns.get(column).map(|c| c.kind) {
            Some(Kind::Num) => 8,
            _ => self
                .rows
                .iter()
                .filter_map(|r| match r.get(column) {
                    Some(Cell::Text(s)) => Some(s.len()),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
                .max(1),
        }
    }

    /// Checks the names, labels and every cell: names by the SAS v5 rule and distinct, labels
    /// ASCII and at most 40 characters, each row as wide as the columns, text in `Char` columns
    /// of at most 200 bytes without line breaks, finite numbers in `Num` columns, mandatory
    /// columns filled. Non-ASCII *values* pass here (CSV carries UTF-8); the XPT writer refuses
    /// them.
    pub fn validate(&self) -> Result<(), ExportError> {
        let ds = || self.name.clone();
        if !name_ok(&self.name) {
            return Err(ExportError::Name {
                dataset: ds(),
                column: None,
                name: self.name.clone(),
                expected: NAME_RULE.into(),
            });
        }
        self.check_label(&self.label, None)?;
        if self.columns.is_empty() {
            return Err(ExportError::Input {
                what: format!("dataset {}", self.name),
                why: "no columns".into(),
            });
        }
        for (i, c) in self.columns.iter().enumerate() {
            if !name_ok(&c.name) {
                return Err(ExportError::Name {
                    dataset: ds(),
                    column: Some(c.name.clone()),
                    name: c.name.clone(),
                    expected: NAME_RULE.into(),
                });
            }
            if self.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(ExportError::Name {
                    dataset: ds(),
                    column: Some(c.name.clone()),
                    name: c.name.clone(),
                    expected: "a name not given to another column".into(),
                });
            }
            self.check_label(&c.label, Some(&c.name))?;
            let consistent = matches!(
                (c.kind, c.data_type),
                (Kind::Char, DataType::Text | DataType::Datetime)
                    | (Kind::Num, DataType::Integer | DataType::Float)
            );
            if !consistent {
                return Err(ExportError::Input {
                    what: format!("dataset {}, column {}", self.name, c.name),
                    why: format!(
                        "data type {} does not fit a {:?} column",
                        c.data_type.word(),
                        c.kind
                    ),
                });
            }
        }
        for (r, row) in self.rows.iter().enumerate() {
            if row.len() != self.columns.len() {
                return Err(ExportError::RowWidth {
                    dataset: ds(),
                    row: r,
                    found: row.len(),
                    expected: self.columns.len(),
                });
            }
            for (c, cell) in self.columns.iter().zip(row) {
                self.check_cell(c, cell, r)?;
            }
        }
        Ok(())
    }

    fn check_label(&self, label: &str, column: Option<&str>) -> Result<(), ExportError> {
        let err = |expected: String| ExportError::Label {
            dataset: self.name.clone(),
            column: column.map(str::to_owned),
            label: label.to_owned(),
            expected,
        };
        if let Some((at, ch)) = first_non_ascii(label) {
            return Err(err(format!(
                "printable ASCII only (SAS v5); {ch:?} at character {at}: transliterate it"
            )));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(err(format!(
                "at most {MAX_LABEL_LEN} characters (SAS v5), it has {}",
                label.len()
            )));
        }
        Ok(())
    }

    fn check_cell(&self, c: &Column, cell: &Cell, row: usize) -> Result<(), ExportError> {
        let err = |found: String, expected: &str| ExportError::Cell {
            dataset: self.name.clone(),
            column: c.name.clone(),
            row,
            found,
            expected: expected.to_owned(),
        };
        match (c.kind, cell) {
            (Kind::Char, Cell::Text(s)) => {
                if s.len() > MAX_CHAR_LEN {
                    return Err(err(
                        format!("{} bytes", s.len()),
                        "at most 200 bytes (SAS v5 and the FDA's limit for a character value)",
                    ));
                }
                if s.contains(['\n', '\r']) {
                    return Err(err(format!("{s:?}"), "text without line breaks"));
                }
                if c.mandatory && s.trim().is_empty() {
                    return Err(err("empty".into(), "a value (the variable is required)"));
                }
                Ok(())
            }
            (Kind::Num, Cell::Num(Some(x))) if !x.is_finite() => {
                Err(err(format!("{x}"), "a finite number, or missing"))
            }
            (Kind::Num, Cell::Num(None)) if c.mandatory => {
                Err(err("missing".into(), "a number (the variable is required)"))
            }
            (Kind::Num, Cell::Num(_)) => Ok(()),
            (Kind::Char, Cell::Num(x)) => Err(err(format!("the number {x:?}"), "text")),
            (Kind::Num, Cell::Text(s)) => Err(err(format!("the text {s:?}"), "a number")),
        }
    }

    /// The dataset as RFC 4180 CSV: a header of the column names, then one line per row (CRLF),
    /// text quoted where needed, numbers in their shortest form that reads back to the same
    /// double, missing numbers empty. Validates first.
    pub fn to_csv(&self) -> Result<String, ExportError> {
        self.validate()?;
        let mut out = String::new();
        let header: Vec<String> = self
            .columns
            .iter()
            .map(|c| corelab_algo::csv::field(&c.name))
            .collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
        for row in &self.rows {
            let fields: Vec<String> = row
                .iter()
                .map(|cell| match cell {
                    Cell::Text(s) => corelab_algo::csv::field(s),
                    Cell::Num(x) => x.map(format_number).unwrap_or_default(),
                })
                .collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }
}

/// A number in its shortest decimal form that parses back to the same double (Rust's `Display`
/// of `f64` is shortest round-trip and never uses an exponent); -0 is written 0.
pub fn format_number(x: f64) -> String {
    if x == 0.0 {
        "0".to_owned()
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Dataset {
        let mut d = Dataset::new(
            "XX",
            "A test",
            "FINDINGS",
            "One record per test",
            vec![
                Column::text("USUBJID", "Unique Subject Identifier").mandatory(),
                Column::float("XXSTRESN", "Numeric Result"),
            ],
        );
        d.rows.push(vec![Cell::text("001, A"), Cell::num(0.1)]);
        d.rows.push(vec![Cell::text("say \"hi\""), Cell::missing()]);
        d
    }

    #[test]
    fn writes_rfc4180_csv_with_shortest_numbers_and_empty_missing() {
        let csv = small().to_csv().expect("valid");
        assert_eq!(
            csv,
            "USUBJID,XXSTRESN\r\n\"001, A\",0.1\r\n\"say \"\"hi\"\"\",\r\n"
        );
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(1e-7).parse::<f64>().ok(), Some(1e-7));
        assert_eq!(format_number(21.0), "21");
    }

    #[test]
    fn char_length_is_the_longest_value_in_bytes_at_least_one() {
        let mut d = small();
        assert_eq!(d.length(0), 8);
        assert_eq!(d.length(1), 8, "numbers are 8 bytes");
        for r in &mut d.rows {
            r[0] = Cell::text("");
        }
        d.columns[0].mandatory = false;
        assert_eq!(d.length(0), 1);
    }

    #[test]
    fn refuses_bad_names_labels_and_cells_naming_where() {
        let mut d = small();
        d.name = "TOOLONGNAME".into();
        assert!(matches!(
            d.validate(),
            Err(ExportError::Name { column: None, .. })
        ));
        let mut d = small();
        d.columns[1].name = "xxstresn".into();
        let e = d.validate().expect_err("lower case");
        assert!(e.to_string().contains("column xxstresn"), "{e}");
        let mut d = small();
        d.columns[1].label = "L".repeat(41);
        assert!(matches!(d.validate(), Err(ExportError::Label { .. })));
        let mut d = small();
        d.label = "Tumeur évaluée".into();
        let e = d.validate().expect_err("non-ASCII label");
        assert!(e.to_string().contains("transliterate"), "{e}");
        let mut d = small();
        d.rows[1][1] = Cell::num(f64::NAN);
        let e = d.validate().expect_err("NaN");
        assert_eq!(
            e.to_string(),
            "dataset XX, column XXSTRESN, row 1: NaN: a finite number, or missing"
        );
        let mut d = small();
        d.rows[0][0] = Cell::text("x".repeat(201));
        assert!(matches!(
            d.validate(),
            Err(ExportError::Cell { row: 0, .. })
        ));
        let mut d = small();
        d.rows[0][1] = Cell::text("12");
        assert!(d.validate().is_err());
        let mut d = small();
        d.rows[0].pop();
        assert!(matches!(d.validate(), Err(ExportError::RowWidth { .. })));
        let mut d = small();
        d.rows[0][0] = Cell::text(" ");
        assert!(d.validate().is_err(), "a required variable left empty");
        let mut d = small();
        d.columns.push(Column::text("USUBJID", "Again"));
        for r in &mut d.rows {
            r.push(Cell::text(""));
        }
        assert!(d.validate().is_err(), "duplicate column");
    }
}
