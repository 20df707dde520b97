//! Typed parameters: what each algorithm declares, values given as text on the command line or
//! in a trial file (`K=V`), checked against the declaration, completed with defaults, and the
//! JSON Schema of the whole set.

use crate::AlgoError;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The type and the allowed values of a parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ParamKind {
    /// A real number in `[min, max]`.
    Number {
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
    /// A whole number in `[min, max]`.
    Integer {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// `true` or `false`.
    Boolean,
    /// One of a list of words.
    Choice {
        /// The words.
        values: &'static [&'static str],
    },
    /// Free text (an identifier such as a subject id): at most `max_chars` characters, no
    /// control characters; surrounding space trimmed.
    Text {
        /// The most characters allowed.
        max_chars: usize,
    },
}

/// A value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A real number.
    Number(f64),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Boolean(bool),
    /// A word of a choice.
    Choice(String),
    /// Free text.
    Text(String),
    /// No value: the default of an optional parameter that has none (a reader's click, given
    /// or not). Written as `null`; the typed getters read it as absent.
    Unset,
}

/// A declared parameter.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    /// Its name (kebab case).
    pub name: &'static str,
    /// Type and allowed values.
    pub kind: ParamKind,
    /// The value when none is given.
    pub default: ParamValue,
    /// UCUM unit, if it has one.
    pub unit: Option<&'static str>,
    /// What it changes.
    pub description: &'static str,
}

/// Every declared parameter's value, validated.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    /// A number parameter (integers widen).
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.0.get(name)? {
            ParamValue::Number(x) => Some(*x),
            ParamValue::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// An integer parameter.
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.0.get(name)? {
            ParamValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// A flag.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.0.get(name)? {
            ParamValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// A choice.
    pub fn choice(&self, name: &str) -> Option<&str> {
        match self.0.get(name)? {
            ParamValue::Choice(s) => Some(s),
            _ => None,
        }
    }

    /// A text.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.0.get(name)? {
            ParamValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

fn bad(name: &str, why: impl Into<String>) -> AlgoError {
    AlgoError::Param {
        name: name.to_owned(),
        why: why.into(),
    }
}

/// Parses one value as its declaration says, or says why not.
pub fn parse(spec: &ParamSpec, text: &str) -> Result<ParamValue, AlgoError> {
    let t = text.trim();
    match &spec.kind {
        ParamKind::Number { min, max } => {
            let x: f64 = t
                .parse()
                .map_err(|_| bad(spec.name, format!("{t:?} is not a number")))?;
            if !x.is_finite() || x < *min || x > *max {
                return Err(bad(spec.name, format!("{t} is outside {min}..{max}")));
            }
            Ok(ParamValue::Number(x))
        }
        ParamKind::Integer { min, max } => {
            let x: i64 = t
                .parse()
                .map_err(|_| bad(spec.name, format!("{t:?} is not a whole number")))?;
            if x < *min || x > *max {
                return Err(bad(spec.name, format!("{t} is outside {min}..{max}")));
            }
            Ok(ParamValue::Integer(x))
        }
        ParamKind::Boolean => match t {
            "true" => Ok(ParamValue::Boolean(true)),
            "false" => Ok(ParamValue::Boolean(false)),
            _ => Err(bad(spec.name, format!("{t:?} is not true or false"))),
        },
        ParamKind::Choice { values } => {
            if values.contains(&t) {
                Ok(ParamValue::Choice(t.to_owned()))
            } else {
                Err(bad(
                    spec.name,
                    format!("{t:?} is not one of {}", values.join(", ")),
                ))
            }
        }
        ParamKind::Text { max_chars } => {
            if t.chars().count() > *max_chars {
                Err(bad(
                    spec.name,
                    format!("{} characters, at most {max_chars}", t.chars().count()),
                ))
            } else if t.chars().any(char::is_control) {
                Err(bad(spec.name, format!("{t:?} holds a control character")))
            } else {
                Ok(ParamValue::Text(t.to_owned()))
            }
        }
    }
}

/// The declared parameters completed: given values parsed, the rest their defaults; an
/// undeclared name is refused, naming the declared ones.
pub fn resolve(specs: &[ParamSpec], given: &BTreeMap<String, String>) -> Result<Params, AlgoError> {
    for name in given.keys() {
        if !specs.iter().any(|s| s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
            return Err(bad(
                name,
                if known.is_empty() {
                    "this algorithm takes no parameters".to_owned()
                } else {
                    format!("no such parameter (there are {})", known.join(", "))
                },
            ));
        }
    }
    let mut out = BTreeMap::new();
    for s in specs {
        let v = match given.get(s.name) {
            Some(text) => parse(s, text)?,
            None => s.default.clone(),
        };
        out.insert(s.name.to_owned(), v);
    }
    Ok(Params(out))
}

/// The JSON Schema (2020-12) of a parameter set: an object of the declared properties, each
/// with its type, bounds, default and description; nothing else allowed.
pub fn json_schema(specs: &[ParamSpec]) -> Value {
    let mut properties = serde_json::Map::new();
    for s in specs {
        let mut p = match &s.kind {
            ParamKind::Number { min, max } => {
                json!({"type": "number", "minimum": min, "maximum": max})
            }
            ParamKind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            ParamKind::Boolean => json!({"type": "boolean"}),
            ParamKind::Choice { values } => json!({"type": "string", "enum": values}),
            ParamKind::Text { max_chars } => json!({"type": "string", "maxLength": max_chars}),
        };
        p["default"] = serde_json::to_value(&s.default).unwrap_or(Value::Null);
        if s.default == ParamValue::Unset {
            // Optional without a default: the value may be left out (or null).
            let t = p["type"].clone();
            p["type"] = json!([t, "null"]);
        }
        p["description"] = json!(s.description);
        if let Some(u) = s.unit {
            p["x-ucum-unit"] = json!(u);
        }
        properties.insert(s.name.to_owned(), p);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "threshold",
                kind: ParamKind::Number { min: 0.0, max: 1.0 },
                default: ParamValue::Number(0.5),
                unit: Some("1"),
                description: "fraction",
            },
            ParamSpec {
                name: "levels",
                kind: ParamKind::Integer { min: 1, max: 8 },
                default: ParamValue::Integer(4),
                unit: None,
                description: "levels",
            },
            ParamSpec {
                name: "mode",
                kind: ParamKind::Choice {
                    values: &["fast", "exact"],
                },
                default: ParamValue::Choice("exact".into()),
                unit: None,
                description: "mode",
            },
        ]
    }

    #[test]
    fn text_is_trimmed_and_refused_when_too_long_or_holding_control_characters() {
        let spec = ParamSpec {
            name: "subject",
            kind: ParamKind::Text { max_chars: 8 },
            default: ParamValue::Text(String::new()),
            unit: None,
            description: "subject",
        };
        assert_eq!(
            parse(&spec, " 01-701 ").unwrap(),
            ParamValue::Text("01-701".into())
        );
        let e = parse(&spec, "01-701-1015").unwrap_err().to_string();
        assert!(e.contains("subject") && e.contains("at most 8"), "{e}");
        let e = parse(&spec, "a\u{7}b").unwrap_err().to_string();
        assert!(e.contains("control character"), "{e}");
        assert_eq!(
            json_schema(&[spec])["properties"]["subject"]["maxLength"],
            8
        );
    }

    #[test]
    fn given_values_are_parsed_and_the_rest_take_their_defaults() {
        let given = BTreeMap::from([("levels".to_owned(), "2".to_owned())]);
        let p = resolve(&specs(), &given).unwrap();
        assert_eq!(p.integer("levels"), Some(2));
        assert_eq!(p.number("threshold"), Some(0.5));
        assert_eq!(p.choice("mode"), Some("exact"));
    }

    #[test]
    fn bad_values_and_unknown_names_are_refused_saying_why() {
        let cases = [
            (
                "threshold",
                "1.5",
                "parameter threshold: 1.5 is outside 0..1",
            ),
            (
                "threshold",
                "abc",
                "parameter threshold: \"abc\" is not a number",
            ),
            (
                "levels",
                "2.5",
                "parameter levels: \"2.5\" is not a whole number",
            ),
            (
                "mode",
                "slow",
                "parameter mode: \"slow\" is not one of fast, exact",
            ),
            (
                "colour",
                "red",
                "parameter colour: no such parameter (there are threshold, levels, mode)",
            ),
        ];
        for (k, v, why) in cases {
            let given = BTreeMap::from([(k.to_owned(), v.to_owned())]);
            assert_eq!(resolve(&specs(), &given).unwrap_err().to_string(), why);
        }
    }

    #[test]
    fn the_schema_describes_every_parameter() {
        let s = json_schema(&specs());
        assert_eq!(s["properties"]["threshold"]["maximum"], 1.0);
        assert_eq!(s["properties"]["levels"]["type"], "integer");
        assert_eq!(s["properties"]["mode"]["enum"], json!(["fast", "exact"]));
        assert_eq!(s["properties"]["mode"]["default"], "exact");
        assert_eq!(s["additionalProperties"], false);
    }

    #[test]
    fn an_optional_parameter_without_a_default_is_absent_until_given() {
        let specs = [ParamSpec {
            name: "seed-x",
            kind: ParamKind::Number {
                min: -1e3,
                max: 1e3,
            },
            default: ParamValue::Unset,
            unit: Some("mm"),
            description: "a click",
        }];
        let none = resolve(&specs, &BTreeMap::new()).unwrap();
        assert_eq!(none.number("seed-x"), None);
        assert_eq!(
            serde_json::to_value(&none).unwrap(),
            json!({"seed-x": null})
        );
        let given = resolve(&specs, &[("seed-x".into(), "-12.5".into())].into()).unwrap();
        assert_eq!(given.number("seed-x"), Some(-12.5));
        let schema = json_schema(&specs);
        assert_eq!(
            schema["properties"]["seed-x"]["type"],
            json!(["number", "null"])
        );
        assert_eq!(schema["properties"]["seed-x"]["default"], Value::Null);
    }
}
