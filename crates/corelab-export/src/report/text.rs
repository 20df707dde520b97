//! Text for the built-in Helvetica: what it can encode, how wide it is, and fitting it to a width.

/// Advance widths of Helvetica for ASCII 32..=126 in 1/1000 em, from the Adobe core font metrics
/// (identical in URW NimbusSans-Regular.afm, which is where these were read from).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 222, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, //
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, //
    222, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, //
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// The same for Helvetica-Bold (NimbusSans-Bold.afm).
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 278, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, //
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, //
    278, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, //
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// Width used for characters outside ASCII: a little wider than most Latin-1 letters, so
/// fitted text errs on the short side rather than running over its box.
const NON_ASCII_WIDTH: u16 = 667;

/// The characters of WinAnsiEncoding outside ASCII and Latin-1 (PDF 32000-1 Annex D.2,
/// codes 0x80..=0x9F).
const WIN_ANSI_EXTRA: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";

/// Makes `s` safe for a built-in font: characters WinAnsi cannot encode become `?`, control
/// characters (tabs, newlines) become a space.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else if (' '..='~').contains(&c)
                || ('\u{A0}'..='\u{FF}').contains(&c)
                || WIN_ANSI_EXTRA.contains(c)
            {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Width of `s` (already sanitised) in points at `size` points.
pub(crate) fn width(s: &str, size: f32, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let units: u32 = s
        .chars()
        .map(|c| {
            let code = c as u32;
            if (32..=126).contains(&code) {
                u32::from(table[(code - 32) as usize])
            } else {
                u32::from(NON_ASCII_WIDTH)
            }
        })
        .sum();
    units as f32 * size / 1000.0
}

/// `s` (already sanitised) shortened with "..." so that it fits in `max` points.
pub(crate) fn fit(s: &str, size: f32, bold: bool, max: f32) -> String {
    if width(s, size, bold) <= max {
        return s.to_string();
    }
    let ellipsis = "...";
    let room = max - width(ellipsis, size, bold);
    let mut out = String::new();
    let mut used = 0.0;
    for c in s.chars() {
        let w = width(c.encode_utf8(&mut [0; 4]), size, bold);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    if room <= 0.0 {
        return String::new();
    }
    out.push_str(ellipsis);
    out
}

/// Greedy word wrap of `s` (already sanitised) into lines no wider than `max` points; a word
/// longer than a line is cut.
pub(crate) fn wrap(s: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size, false) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if width(word, size, false) <= max {
            line = word.to_string();
        } else {
            lines.extend(cut(word, size, max));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Cuts an over-long word into pieces that each fit in `max` points (at least one character
/// per piece, so a very narrow box cannot loop forever).
fn cut(word: &str, size: f32, max: f32) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for c in word.chars() {
        piece.push(c);
        if width(&piece, size, false) > max && piece.chars().count() > 1 {
            piece.pop();
            pieces.push(std::mem::take(&mut piece));
            piece.push(c);
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_text_replaces_what_winansi_cannot_encode() {
        assert_eq!(sanitize("Zürich 5 mm²"), "Zürich 5 mm²");
        assert_eq!(sanitize("東京 α\tβ\n€"), "?? ? ? €");
        assert_eq!(sanitize("emoji 🧠"), "emoji ?");
    }

    #[test]
    fn report_text_fit_shortens_with_ellipsis() {
        let long = "a very long algorithm name that cannot fit";
        let fitted = fit(long, 10.0, false, 60.0);
        assert!(fitted.ends_with("..."), "{fitted}");
        assert!(width(&fitted, 10.0, false) <= 60.0);
        assert_eq!(fit("short", 10.0, false, 100.0), "short");
        assert_eq!(fit("anything", 10.0, false, 1.0), "");
    }

    #[test]
    fn report_text_wrap_keeps_lines_within_width() {
        let s = "one two three four five six seven eight nine ten eleven twelve";
        let lines = wrap(s, 10.0, 80.0);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(width(l, 10.0, false) <= 80.0, "{l}");
        }
        assert_eq!(lines.join(" "), s);
        let cut = wrap(&"x".repeat(200), 10.0, 50.0);
        assert!(cut.len() > 1);
        assert_eq!(wrap("", 10.0, 50.0), vec![String::new()]);
        // A box narrower than one character still terminates.
        assert_eq!(wrap("abc", 10.0, 0.0).len(), 3);
    }
}
