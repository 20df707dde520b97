//! DICOM PS3.15 Annex E, Table E.1-1: every attribute of the Application Level Confidentiality
//! Profile, its Basic Profile action, and its action under each option. The table is data
//! (`data/ps3.15-table-e.1-1.tsv`, generated from the machine-readable standard by
//! `tools/gen_deid_profile.py`, with its edition recorded), embedded in the binary and parsed once.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

const TABLE_TSV: &str = include_str!("../../data/ps3.15-table-e.1-1.tsv");

/// One action code of PS3.15 Table E.1-1 (§E.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// D: replace with a non-zero-length dummy value consistent with the VR.
    Dummy,
    /// Z: replace with a zero-length value, or a dummy value consistent with the VR.
    Zero,
    /// X: remove.
    Remove,
    /// K: keep (unchanged for non-sequence attributes; cleaned for sequences).
    Keep,
    /// C: clean: replace with values of similar meaning known not to contain identifying information.
    Clean,
    /// U: replace with a non-zero-length UID that is internally consistent within a set of instances.
    Uid,
}

impl Action {
    fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'D' => Action::Dummy,
            'Z' => Action::Zero,
            'X' => Action::Remove,
            'K' => Action::Keep,
            'C' => Action::Clean,
            'U' => Action::Uid,
            _ => return None,
        })
    }

    fn letter(self) -> char {
        match self {
            Action::Dummy => 'D',
            Action::Zero => 'Z',
            Action::Remove => 'X',
            Action::Keep => 'K',
            Action::Clean => 'C',
            Action::Uid => 'U',
        }
    }
}

/// An entry of the table: one action, or alternatives chosen by the attribute's type in the IOD
/// (`X/Z`: X unless Z is required to keep the object valid; `X/Z/D`; `Z/D`; …). `X/Z/U*` also
/// says that UIDs inside the sequence's items are replaced (`U*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionCode {
    alternatives: Vec<Action>,
    uids_in_items: bool,
}

impl ActionCode {
    /// The alternatives, most removing first, as the standard lists them.
    pub fn alternatives(&self) -> &[Action] {
        &self.alternatives
    }

    /// Whether UIDs inside this sequence's items are to be replaced (the `*` of `U*`).
    pub fn uids_in_items(&self) -> bool {
        self.uids_in_items
    }
}

impl FromStr for ActionCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        let mut uids_in_items = false;
        for part in s.split('/') {
            let (letter, star) = match part.strip_suffix('*') {
                Some(p) => (p, true),
                None => (part, false),
            };
            let mut chars = letter.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return Err(format!("action code {s:?}: {part:?} is not one letter"));
            };
            let action = Action::from_letter(c)
                .ok_or_else(|| format!("action code {s:?}: unknown action {c:?}"))?;
            uids_in_items |= star && action == Action::Uid;
            alternatives.push(action);
        }
        Ok(ActionCode {
            alternatives,
            uids_in_items,
        })
    }
}

impl fmt::Display for ActionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{}", a.letter())?;
            if self.uids_in_items && *a == Action::Uid {
                f.write_str("*")?;
            }
        }
        Ok(())
    }
}

/// The option columns of Table E.1-1, named in kebab case as `trial.toml` and the CLI write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileOption {
    /// Retain Safe Private Option (§E.3.10).
    RetainSafePrivate,
    /// Retain UIDs Option (§E.3.9).
    RetainUids,
    /// Retain Device Identity Option (§E.3.8).
    RetainDeviceIdentity,
    /// Retain Institution Identity Option (§E.3.12).
    RetainInstitutionIdentity,
    /// Retain Patient Characteristics Option (§E.3.7).
    RetainPatientCharacteristics,
    /// Retain Longitudinal Temporal Information with Full Dates Option (§E.3.6).
    RetainLongFullDates,
    /// Retain Longitudinal Temporal Information with Modified Dates Option (§E.3.6).
    RetainLongModifiedDates,
    /// Clean Descriptors Option (§E.3.5).
    CleanDescriptors,
    /// Clean Structured Content Option (§E.3.4).
    CleanStructuredContent,
    /// Clean Graphics Option (§E.3.3).
    CleanGraphics,
}

impl ProfileOption {
    /// Every option, in the table's column order.
    pub const ALL: [ProfileOption; 10] = [
        ProfileOption::RetainSafePrivate,
        ProfileOption::RetainUids,
        ProfileOption::RetainDeviceIdentity,
        ProfileOption::RetainInstitutionIdentity,
        ProfileOption::RetainPatientCharacteristics,
        ProfileOption::RetainLongFullDates,
        ProfileOption::RetainLongModifiedDates,
        ProfileOption::CleanDescriptors,
        ProfileOption::CleanStructuredContent,
        ProfileOption::CleanGraphics,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            ProfileOption::RetainSafePrivate => "retain-safe-private",
            ProfileOption::RetainUids => "retain-uids",
            ProfileOption::RetainDeviceIdentity => "retain-device-identity",
            ProfileOption::RetainInstitutionIdentity => "retain-institution-identity",
            ProfileOption::RetainPatientCharacteristics => "retain-patient-characteristics",
            ProfileOption::RetainLongFullDates => "retain-long-full-dates",
            ProfileOption::RetainLongModifiedDates => "retain-long-modified-dates",
            ProfileOption::CleanDescriptors => "clean-descriptors",
            ProfileOption::CleanStructuredContent => "clean-structured-content",
            ProfileOption::CleanGraphics => "clean-graphics",
        }
    }
}

/// A name that is not one of the profile's options.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown de-identification option {found:?}; expected one of: {}", ProfileOption::ALL.map(|o| o.name()).join(", "))]
pub struct UnknownOption {
    /// The name offered.
    pub found: String,
}

impl FromStr for ProfileOption {
    type Err = UnknownOption;
    fn from_str(s: &str) -> Result<Self, UnknownOption> {
        ProfileOption::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| UnknownOption {
                found: s.to_owned(),
            })
    }
}

/// Which attributes a row covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagPattern {
    /// One tag.
    Exact(u16, u16),
    /// Repeating groups or elements: a tag matches when `(tag & mask) == value` for group and element
    /// (`50xx,xxxx` curves, `60xx,3000` overlay data).
    Masked {
        /// Group value after masking.
        group: u16,
        /// Which group bits are fixed.
        group_mask: u16,
        /// Element value after masking.
        element: u16,
        /// Which element bits are fixed.
        element_mask: u16,
    },
    /// Every private attribute: odd groups above 0x0008 (PS3.5 §7.8).
    PrivateOdd,
}

impl TagPattern {
    fn parse(s: &str) -> Result<Self, String> {
        if s == "gggg,eeee-odd" {
            return Ok(TagPattern::PrivateOdd);
        }
        let (g, e) = s
            .split_once(',')
            .ok_or_else(|| format!("tag {s:?}: expected gggg,eeee"))?;
        let part = |p: &str| -> Result<(u16, u16), String> {
            if p.len() != 4 {
                return Err(format!("tag {s:?}: {p:?} is not four characters"));
            }
            let value = u16::from_str_radix(&p.replace('x', "0"), 16)
                .map_err(|e| format!("tag {s:?}: {e}"))?;
            let mask = p
                .chars()
                .fold(0u16, |m, c| (m << 4) | if c == 'x' { 0 } else { 0xf });
            Ok((value, mask))
        };
        let ((group, group_mask), (element, element_mask)) = (part(g)?, part(e)?);
        if group_mask == 0xffff && element_mask == 0xffff {
            Ok(TagPattern::Exact(group, element))
        } else {
            Ok(TagPattern::Masked {
                group,
                group_mask,
                element,
                element_mask,
            })
        }
    }

    /// Whether `(group, element)` is covered.
    pub fn matches(&self, group: u16, element: u16) -> bool {
        match *self {
            TagPattern::Exact(g, e) => g == group && e == element,
            TagPattern::Masked {
                group: g,
                group_mask,
                element: e,
                element_mask,
            } => group & group_mask == g && element & element_mask == e,
            TagPattern::PrivateOdd => group % 2 == 1 && group > 0x0008,
        }
    }
}

/// One row of Table E.1-1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileRow {
    /// The attribute or attributes covered.
    pub pattern: TagPattern,
    /// The attribute's name in the standard.
    pub name: String,
    /// The Basic Profile action.
    pub basic: ActionCode,
    /// The action under each option that has one for this attribute.
    pub options: Vec<(ProfileOption, ActionCode)>,
    /// Whether the attribute is in a standard composite IOD.
    pub in_std_comp_iod: bool,
}

impl ProfileRow {
    /// The action in effect under the selected options: a selected option's, where one lists this
    /// attribute, else the Basic Profile's.
    pub fn effective<'a>(
        &'a self,
        options: &std::collections::BTreeSet<ProfileOption>,
    ) -> &'a ActionCode {
        options
            .iter()
            .find_map(|o| self.option_action(*o))
            .unwrap_or(&self.basic)
    }

    /// The action this row gives under `option`, if the option has one for it.
    pub fn option_action(&self, option: ProfileOption) -> Option<&ActionCode> {
        self.options
            .iter()
            .find(|(o, _)| *o == option)
            .map(|(_, a)| a)
    }
}

/// The whole table, with its edition.
#[derive(Debug)]
pub struct ProfileTable {
    /// The edition of the standard the table was generated from (e.g. `2024e`).
    pub edition: String,
    /// Where the machine-readable copy came from.
    pub source: String,
    rows: Vec<ProfileRow>,
    exact: HashMap<(u16, u16), usize>,
    /// Rows with repeating groups (a handful), searched after the exact map.
    masked: Vec<usize>,
    /// The private-attributes row.
    private: Option<usize>,
}

static STANDARD: LazyLock<ProfileTable> = LazyLock::new(|| {
    // The embedded table is the project's own data, checked by tests, not input.
    ProfileTable::parse(TABLE_TSV).unwrap_or_else(|e| panic!("embedded PS3.15 table: {e}"))
});

impl ProfileTable {
    /// The embedded table.
    pub fn standard() -> &'static ProfileTable {
        &STANDARD
    }

    /// Parses the TSV form written by `tools/gen_deid_profile.py`.
    pub fn parse(tsv: &str) -> Result<Self, String> {
        let mut edition = String::new();
        let mut source = String::new();
        let mut header: Option<Vec<&str>> = None;
        let mut rows = Vec::new();
        for (n, line) in tsv.lines().enumerate() {
            let at = |why: String| format!("line {}: {why}", n + 1);
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim();
                if let Some(v) = comment.strip_prefix("edition:") {
                    edition = v.trim().to_owned();
                } else if let Some(v) = comment.strip_prefix("source:") {
                    source = v.trim().to_owned();
                }
                continue;
            }
            let cells: Vec<&str> = line.split('\t').collect();
            let Some(columns) = &header else {
                header = Some(cells);
                continue;
            };
            if cells.len() != columns.len() {
                return Err(at(format!(
                    "{} cells, expected {}",
                    cells.len(),
                    columns.len()
                )));
            }
            let mut row = ProfileRow {
                pattern: TagPattern::parse(cells[0]).map_err(at)?,
                name: cells[1].to_owned(),
                basic: cells[2].parse().map_err(at)?,
                options: Vec::new(),
                in_std_comp_iod: cells[cells.len() - 1] == "Y",
            };
            for (col, cell) in columns
                .iter()
                .zip(&cells)
                .skip(3)
                .take(ProfileOption::ALL.len())
            {
                if cell.is_empty() {
                    continue;
                }
                let option: ProfileOption =
                    col.parse().map_err(|e: UnknownOption| at(e.to_string()))?;
                row.options.push((option, cell.parse().map_err(at)?));
            }
            rows.push(row);
        }
        if edition.is_empty() {
            return Err("no '# edition:' line".into());
        }
        let exact = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.pattern {
                TagPattern::Exact(g, e) => Some(((g, e), i)),
                _ => None,
            })
            .collect();
        let masked = (0..rows.len())
            .filter(|&i| matches!(rows[i].pattern, TagPattern::Masked { .. }))
            .collect();
        let private = rows
            .iter()
            .position(|r| r.pattern == TagPattern::PrivateOdd);
        Ok(ProfileTable {
            edition,
            source,
            rows,
            exact,
            masked,
            private,
        })
    }

    /// Every row, in tag order.
    pub fn rows(&self) -> &[ProfileRow] {
        &self.rows
    }

    /// The row that covers `(group, element)`: an exact tag first, then repeating groups, then the
    /// private-attribute row.
    pub fn lookup(&self, group: u16, element: u16) -> Option<&ProfileRow> {
        if let Some(&i) = self.exact.get(&(group, element)) {
            return Some(&self.rows[i]);
        }
        // Called for every element of every object: the exact map first, then the few masked
        // rows and the private row, never a scan of the whole table.
        self.masked
            .iter()
            .chain(self.private.iter())
            .map(|&i| &self.rows[i])
            .find(|r| r.pattern.matches(group, element))
    }
}
