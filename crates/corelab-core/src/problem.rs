//! Problems found in a well-formed trial file, each placed at the line and column of the value at
//! fault. The checks name a field by its path (`visits[2].window_days`); the path is looked up in
//! the document's spans (`toml::de::DeTable`), falling back to the nearest enclosing table or value
//! that is written in the file (a key left out is reported at its table's header).

use crate::toml_error::Position;
use std::fmt;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem in a trial file: the field at fault, where it is written, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The path of the field, e.g. `visits[2].window_days` or `roles.T1w.require.slice_thickness_mm`.
    pub field: String,
    /// The line of its value (or of the enclosing table's header, when the key is missing), from 1.
    pub line: usize,
    /// The column, in characters, from 1.
    pub column: usize,
    /// The text of that line, trimmed.
    pub text: String,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (`{}`): {}: {}",
            self.line, self.column, self.text, self.field, self.why
        )
    }
}

/// The problems of a file, one a line (a count first when there are several).
pub(crate) struct ProblemList<'a>(pub &'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() != 1 {
            write!(f, "{} problems", self.0.len())?;
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 || self.0.len() != 1 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path of a field: keys and array indices from the document's root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Step>);

impl FieldPath {
    /// A path of plain keys, e.g. `FieldPath::keys("trial.sponsor")`.
    pub fn keys(dotted: &str) -> Self {
        Self(dotted.split('.').map(|k| Step::Key(k.to_owned())).collect())
    }

    /// This path and then a key (any text).
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Step::Key(key.to_owned()));
        p
    }

    /// This path and then an array index.
    pub fn at(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Step::Index(index));
        p
    }

    /// The byte span of the deepest part of this path written in the document.
    fn span_in(&self, doc: &Spanned<DeTable<'_>>) -> std::ops::Range<usize> {
        let mut span = doc.span();
        let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
        let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
        for step in &self.0 {
            let next = match (step, table, array) {
                (Step::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
                    .map(|(_, v)| v),
                (Step::Index(i), _, Some(a)) => a.get(*i),
                _ => None,
            };
            let Some(value) = next else { break };
            span = value.span();
            table = value.get_ref().as_table();
            array = value.get_ref().as_array().map(|a| a.as_ref());
        }
        span
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Index(n) => write!(f, "[{n}]")?,
                Step::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The problems a check finds, by field path, before they are placed in the text.
#[derive(Default)]
pub(crate) struct Findings(Vec<(FieldPath, String)>);

impl Findings {
    /// Records a problem with a field.
    pub fn add(&mut self, field: FieldPath, why: impl Into<String>) {
        self.0.push((field, why.into()));
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems placed in `text` (the document the checked file was parsed from), in the
    /// order they appear there.
    pub fn place(self, text: &str) -> Vec<Problem> {
        let doc = DeTable::parse(text).ok();
        let mut problems: Vec<Problem> = self
            .0
            .into_iter()
            .map(|(field, why)| {
                let offset = doc.as_ref().map_or(0, |d| field.span_in(d).start);
                let at = Position::of(text, offset);
                Problem {
                    field: field.to_string(),
                    line: at.line,
                    column: at.column,
                    text: at.text,
                    why,
                }
            })
            .collect();
        problems.sort_by_key(|p| (p.line, p.column));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_as_written_and_quote_odd_keys() {
        let p = FieldPath::keys("roles").key("T1 w").key("require").at(2);
        assert_eq!(p.to_string(), "roles.\"T1 w\".require[2]");
        assert_eq!(
            FieldPath::keys("sites")
                .at(1)
                .key("ae_titles")
                .at(0)
                .to_string(),
            "sites[1].ae_titles[0]"
        );
    }

    #[test]
    fn a_missing_key_is_placed_at_its_table_header() {
        let text = "[trial]\nid = \"T\"\n\n[[visits]]\nname = \"a\"\n\n[[visits]]\nname = \"b\"\nday = 3\n";
        let mut f = Findings::default();
        f.add(FieldPath::keys("visits").at(1).key("window_days"), "x");
        f.add(FieldPath::keys("visits").at(1).key("day"), "y");
        let p = f.place(text);
        assert_eq!(
            (p[0].line, p[0].column, p[0].text.as_str()),
            (7, 1, "[[visits]]")
        );
        assert_eq!(
            (p[1].line, p[1].column, p[1].text.as_str()),
            (9, 7, "day = 3")
        );
    }
}
