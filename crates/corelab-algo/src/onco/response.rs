//! Response categories, their numeric codes (what the engines' tables and measurements hold),
//! and the best overall response over a subject's time points, with or without confirmation
//! (RECIST 1.1 §4.4 and Table 3; RANO's "sustained for at least 4 weeks").

/// A response category of a time point (target, non-target or overall) or of a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Complete response.
    Cr,
    /// Partial response.
    Pr,
    /// Stable disease.
    Sd,
    /// Non-CR/non-PD (non-target lesions; overall for non-measurable disease only).
    NonCrNonPd,
    /// Progressive disease.
    Pd,
    /// Not evaluable.
    Ne,
    /// Not applicable: no lesions of that kind (or the baseline row).
    NotApplicable,
}

impl Response {
    /// The numeric code written in tables and measurements.
    pub fn code(self) -> f64 {
        match self {
            Self::NotApplicable => 0.0,
            Self::Cr => 1.0,
            Self::Pr => 2.0,
            Self::Sd => 3.0,
            Self::NonCrNonPd => 4.0,
            Self::Pd => 5.0,
            Self::Ne => 6.0,
        }
    }
    /// The SDTM RS word (RSSTRESC).
    pub fn word(self) -> &'static str {
        match self {
            Self::Cr => "CR",
            Self::Pr => "PR",
            Self::Sd => "SD",
            Self::NonCrNonPd => "NON-CR/NON-PD",
            Self::Pd => "PD",
            Self::Ne => "NE",
            Self::NotApplicable => "NA",
        }
    }
    /// Whether the category shows disease controlled (CR, PR, SD, non-CR/non-PD), the ones that
    /// count towards stable disease when they are not confirmed.
    fn controlled(self) -> bool {
        matches!(self, Self::Cr | Self::Pr | Self::Sd | Self::NonCrNonPd)
    }
}

/// How the best overall response is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BestRules {
    /// Whether CR and PR need confirming by a later assessment.
    pub confirm: bool,
    /// The least days between a response and the assessment confirming it.
    pub confirmation_days: i64,
    /// The least days from the reference date for stable disease (or non-CR/non-PD) to count.
    pub min_sd_days: i64,
}

/// One follow-up time point: its day (from the reference date) and its overall response.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimePoint {
    /// Days since the reference date.
    pub day: i64,
    /// The overall response.
    pub response: Response,
}

/// Whether the time points hold a `what` (CR, or PR) confirmed: a later time point at least
/// `confirmation_days` on that is as good (for PR: PR or CR; for CR: CR), with every time
/// point between as good or NE.
pub fn confirmed(points: &[TimePoint], what: Response, confirmation_days: i64) -> bool {
    let good = |r: Response| match what {
        Response::Cr => r == Response::Cr,
        _ => matches!(r, Response::Cr | Response::Pr),
    };
    points.iter().enumerate().any(|(i, first)| {
        first.response == what
            && points[i + 1..]
                .iter()
                .take_while(|p| good(p.response) || p.response == Response::Ne)
                .any(|p| good(p.response) && p.day - first.day >= confirmation_days)
    })
}

/// The best overall response of follow-up time points (baseline excluded, in date order), from
/// the start up to the first progression. `measurable` says whether the subject had target
/// lesions: without them the stable category is non-CR/non-PD (RECIST 1.1 Table 2).
///
/// Unconfirmed (or unconfirmable) CR and PR count as stable disease; stable disease counts only
/// at or after `min_sd_days`; failing both, the best is PD when progression was seen, else NE
/// (Table 3's "SD provided minimum criteria for SD duration met, otherwise PD / NE").
pub fn best_overall(points: &[TimePoint], rules: &BestRules, measurable: bool) -> Response {
    // After a CR, anything but CR or NE means disease came back: PD (Table 3, footnote a).
    let mut seen_cr = false;
    let points: Vec<TimePoint> = points
        .iter()
        .map(|p| {
            let response = if seen_cr && p.response.controlled() && p.response != Response::Cr {
                Response::Pd
            } else {
                p.response
            };
            seen_cr |= p.response == Response::Cr;
            TimePoint { response, ..*p }
        })
        .collect();
    let end = points
        .iter()
        .position(|p| p.response == Response::Pd)
        .map_or(points.len(), |i| i + 1);
    let points = &points[..end];
    let has = |r: Response| points.iter().any(|p| p.response == r);
    if rules.confirm {
        if confirmed(points, Response::Cr, rules.confirmation_days) {
            return Response::Cr;
        }
        // PR then CR confirms the PR (Table 3: PR, CR → PR); a CR confirmed too soon is no PR.
        if confirmed(points, Response::Pr, rules.confirmation_days) {
            return Response::Pr;
        }
    } else if has(Response::Cr) {
        return Response::Cr;
    } else if has(Response::Pr) {
        return Response::Pr;
    }
    if points
        .iter()
        .any(|p| p.response.controlled() && p.day >= rules.min_sd_days)
    {
        return if measurable {
            Response::Sd
        } else {
            Response::NonCrNonPd
        };
    }
    if has(Response::Pd) {
        Response::Pd
    } else {
        Response::Ne
    }
}
