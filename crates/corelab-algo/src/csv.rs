//! CSV text as the algorithms and commands read it: RFC 4180 records, and a table of a header
//! and rows of its length; and a field as they write it. Hand-written: a few lines, and every
//! message names the source and the line.

/// A field as RFC 4180 writes it: quoted, its quotes doubled, when it holds a comma, a quote or
/// a line break.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The records of RFC 4180 CSV text (quoted fields, doubled quotes, CRLF or LF), blank lines
/// dropped.
pub fn records(text: &str, source: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut field = String::new();
    let mut record = Vec::new();
    let mut quoted = false;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("{source}: a quoted field is not closed"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    Ok(records)
}

/// A header and rows of the header's length; the first line that is not says which and why.
pub fn table(text: &str, source: &str) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut it = records(text, source)?.into_iter();
    let header = it
        .next()
        .ok_or_else(|| format!("{source}: empty, a header row was expected"))?;
    let rows: Vec<Vec<String>> = it.collect();
    if let Some((i, r)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != header.len())
    {
        return Err(format!(
            "{source}, line {}: {} fields, the header has {}",
            i + 2,
            r.len(),
            header.len()
        ));
    }
    Ok((header, rows))
}
