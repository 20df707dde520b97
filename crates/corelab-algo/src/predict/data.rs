//! A training or scoring table: one row per subject, an identifier, numeric feature columns and,
//! for training, the outcome (a binary response, or a time to event with its event indicator).

use crate::csv;

/// Which columns hold the outcome.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OutcomeSpec {
    /// A binary response: 1/0, true/false, yes/no.
    Binary {
        /// The column.
        column: String,
    },
    /// A time to event and whether the event happened (1) or the subject was censored (0).
    Survival {
        /// The time column (any unit, the same for every row).
        time: String,
        /// The event column.
        event: String,
    },
}

impl OutcomeSpec {
    fn columns(&self) -> Vec<&str> {
        match self {
            Self::Binary { column } => vec![column],
            Self::Survival { time, event } => vec![time, event],
        }
    }
}

/// The outcome of every row.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Binary responses.
    Binary(Vec<bool>),
    /// Times and event indicators.
    Survival {
        /// Times (finite, at least 0).
        time: Vec<f64>,
        /// Whether the event happened.
        event: Vec<bool>,
    },
}

impl Outcome {
    /// The outcome of the rows `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        match self {
            Self::Binary(y) => Self::Binary(idx.iter().map(|&i| y[i]).collect()),
            Self::Survival { time, event } => Self::Survival {
                time: idx.iter().map(|&i| time[i]).collect(),
                event: idx.iter().map(|&i| event[i]).collect(),
            },
        }
    }

    /// The stratum of each row for cross-validation: the response, or the event indicator.
    pub fn strata(&self) -> Vec<bool> {
        match self {
            Self::Binary(y) => y.clone(),
            Self::Survival { event, .. } => event.clone(),
        }
    }
}

/// Rows of features, by subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    /// The subject of each row.
    pub ids: Vec<String>,
    /// The feature names, in column order.
    pub names: Vec<String>,
    /// One row per subject, as long as `names`.
    pub rows: Vec<Vec<f64>>,
}

impl Features {
    /// The rows `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            ids: idx.iter().map(|&i| self.ids[i].clone()).collect(),
            names: self.names.clone(),
            rows: idx.iter().map(|&i| self.rows[i].clone()).collect(),
        }
    }
}

/// A training table: features and the outcome, row for row.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The features.
    pub features: Features,
    /// The outcome.
    pub outcome: Outcome,
}

impl Dataset {
    /// Reads a training table: the identifier column `id` (or the row number when absent), the
    /// outcome's columns, and the feature columns `use_features` (every other column when
    /// `None`). Every cell used must be a finite number; the first that is not is named.
    pub fn from_csv(
        text: &str,
        source: &str,
        id: Option<&str>,
        outcome: &OutcomeSpec,
        use_features: Option<&[String]>,
    ) -> Result<Self, String> {
        let (header, rows) = csv::table(text, source)?;
        let col = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                format!(
                    "{source}: no column {name:?} (it has {})",
                    header.join(", ")
                )
            })
        };
        let mut skip: Vec<&str> = outcome.columns();
        if let Some(id) = id {
            skip.push(id);
        }
        let names: Vec<String> = match use_features {
            Some(list) => list.to_vec(),
            None => header
                .iter()
                .filter(|h| !skip.contains(&h.as_str()))
                .cloned()
                .collect(),
        };
        let features = read_features(&header, &rows, source, id, &names)?;
        let outcome = match outcome {
            OutcomeSpec::Binary { column } => {
                let c = col(column)?;
                let y = rows
                    .iter()
                    .enumerate()
                    .map(|(r, row)| binary(&row[c], source, r + 2, column))
                    .collect::<Result<Vec<_>, _>>()?;
                let positives = y.iter().filter(|&&v| v).count();
                if positives == 0 || positives == y.len() {
                    return Err(format!(
                        "{source}: column {column:?} has only one class ({positives} of {} positive): nothing to learn",
                        y.len()
                    ));
                }
                Outcome::Binary(y)
            }
            OutcomeSpec::Survival { time, event } => {
                let (ct, ce) = (col(time)?, col(event)?);
                let mut times = Vec::with_capacity(rows.len());
                let mut events = Vec::with_capacity(rows.len());
                for (r, row) in rows.iter().enumerate() {
                    let t = number(&row[ct], source, r + 2, time)?;
                    if t < 0.0 {
                        return Err(format!(
                            "{source}, line {}: column {time:?} is {t}, a time cannot be negative",
                            r + 2
                        ));
                    }
                    times.push(t);
                    events.push(binary(&row[ce], source, r + 2, event)?);
                }
                if !events.iter().any(|&e| e) {
                    return Err(format!(
                        "{source}: column {event:?} has no event: nothing to learn"
                    ));
                }
                Outcome::Survival {
                    time: times,
                    event: events,
                }
            }
        };
        Ok(Self { features, outcome })
    }
}

/// Reads the feature columns `names` (and the identifiers) of a table to score.
pub fn features_from_csv(
    text: &str,
    source: &str,
    id: Option<&str>,
    names: &[String],
) -> Result<Features, String> {
    let (header, rows) = csv::table(text, source)?;
    read_features(&header, &rows, source, id, names)
}

fn read_features(
    header: &[String],
    rows: &[Vec<String>],
    source: &str,
    id: Option<&str>,
    names: &[String],
) -> Result<Features, String> {
    if names.is_empty() {
        return Err(format!("{source}: no feature columns"));
    }
    if rows.is_empty() {
        return Err(format!("{source}: no rows"));
    }
    let mut cols = Vec::with_capacity(names.len());
    for n in names {
        cols.push(header.iter().position(|h| h == n).ok_or_else(|| {
            format!(
                "{source}: no feature column {n:?} (it has {})",
                header.join(", ")
            )
        })?);
    }
    let id_col = match id {
        Some(name) => Some(
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("{source}: no identifier column {name:?}"))?,
        ),
        None => None,
    };
    let mut out = Features {
        ids: Vec::with_capacity(rows.len()),
        names: names.to_vec(),
        rows: Vec::with_capacity(rows.len()),
    };
    for (r, row) in rows.iter().enumerate() {
        out.ids.push(match id_col {
            Some(c) => row[c].clone(),
            None => (r + 1).to_string(),
        });
        out.rows.push(
            cols.iter()
                .zip(names)
                .map(|(&c, n)| number(&row[c], source, r + 2, n))
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(out)
}

fn number(cell: &str, source: &str, line: usize, column: &str) -> Result<f64, String> {
    cell.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            format!("{source}, line {line}: column {column:?} is {cell:?}, not a finite number")
        })
}

fn binary(cell: &str, source: &str, line: usize, column: &str) -> Result<bool, String> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" => Ok(true),
        "0" | "0.0" | "false" | "no" => Ok(false),
        _ => Err(format!(
            "{source}, line {line}: column {column:?} is {cell:?}, not 1/0, true/false or yes/no"
        )),
    }
}

/// Feature-wise centring and scaling, fitted on training rows and applied to any row.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaler {
    /// Each feature's training mean.
    pub mean: Vec<f64>,
    /// Each feature's training standard deviation (population); 1 for a constant feature.
    pub sd: Vec<f64>,
}

impl Scaler {
    /// Fitted on `rows`.
    pub fn fit(rows: &[Vec<f64>]) -> Self {
        let p = rows.first().map_or(0, Vec::len);
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; p];
        for r in rows {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v / n;
            }
        }
        let mut sd = vec![0.0; p];
        for r in rows {
            for ((s, v), m) in sd.iter_mut().zip(r).zip(&mean) {
                *s += (v - m) * (v - m) / n;
            }
        }
        let sd = sd
            .into_iter()
            .map(|v| if v.sqrt() > 1e-12 { v.sqrt() } else { 1.0 })
            .collect();
        Self { mean, sd }
    }

    /// One row, standardised.
    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(self.mean.iter().zip(&self.sd))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }

    /// Rows, standardised.
    pub fn apply_all(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| self.apply(r)).collect()
    }
}
