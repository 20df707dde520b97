//! Canonical JSON text: object keys sorted by their UTF-8 bytes at every depth, no insignificant
//! white space. Written by hand (a dozen lines) because the ordering of `serde_json::Map` depends
//! on a cargo feature that any crate in the tree may switch on, and the audit hash must not.

use serde_json::Value;

/// The canonical text of `v`.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(val, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_depth_and_drops_white_space() {
        let v = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 3}], "m": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"m":null,"z":[1,{"x":3,"y":2}]},"b":1}"#
        );
    }
}
