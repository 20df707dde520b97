//! TOML errors as one line: corelab prints one error line per failure, and the toml crate's own
//! message spans several (a source excerpt with a caret).

/// A TOML error on one line: where (line, column and the line's text, which names the key) and why.
pub fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else { return message };
    let at = Position::of(text, span.start);
    format!("{at}: {message}")
}

/// A place in a text: 1-based line and column (in characters), with the line's text, trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column in characters, from 1.
    pub column: usize,
    /// The line's text, trimmed (it names the key).
    pub text: String,
}

impl Position {
    /// The position of a byte offset in `text` (clamped to the text, and to a character boundary).
    pub fn of(text: &str, offset: usize) -> Self {
        let mut start = offset.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1; // never slice inside a character, whatever the span says
        }
        let line = text[..start].matches('\n').count() + 1;
        let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_text = text[line_start..].lines().next().unwrap_or("").trim();
        let column = text[line_start..start].chars().count() + 1;
        Self {
            line,
            column,
            text: line_text.to_owned(),
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {} (`{}`)",
            self.line, self.column, self.text
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_line_column_and_text_on_one_line_even_after_multibyte_characters() {
        let text = "name = \"Zürich\"\nphase = 3\n";
        let e = toml::from_str::<std::collections::BTreeMap<String, String>>(text).unwrap_err();
        let line = toml_error_line(text, &e);
        assert!(
            line.starts_with("line 2, column 9 (`phase = 3`): "),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
