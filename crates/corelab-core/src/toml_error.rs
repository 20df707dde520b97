//! TOML errors as one line: corelab prints one error line per failure, and the toml crate's own
//! message spans several (a source excerpt with a caret).

/// A TOML error on one line: where (line, column and the line's text, which names the key) and why.
pub fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else { return message };
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1; // never slice inside a character, whatever the span says
    }
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let column = text[line_start..start].chars().count() + 1;
    format!("line {line_no}, column {column} (`{line}`): {message}")
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
