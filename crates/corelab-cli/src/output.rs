//! Printing: text for people, or exactly one JSON document for scripts.

use serde::Serialize;

/// Prints `value` as one JSON document when `json`, else the text `human` builds.
pub fn emit<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        let text = human(value);
        if !text.is_empty() {
            println!("{}", text.trim_end());
        }
    }
    Ok(())
}
