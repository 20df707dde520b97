//! Who may do what: the roles of corelab's users, their grants (a role, for all trials or one
//! trial, and for the site role the sites it is scoped to), and the one rule that decides an
//! [`Action`] on a [`Scope`]. The HTTP API and DICOMweb check every request through
//! [`Principal::may`]; nothing else decides access, so the authorisation matrix test covers it all.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A user's role. A user may hold several grants, each of one role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the installation: users, trials, locks; sees everything.
    Admin,
    /// A site coordinator: sends images and answers queries for their own sites only.
    Site,
    /// A core-lab analyst: reviews QC, raises queries, runs jobs, sees results.
    Qc,
    /// A central reader: reads assigned time points, blinded (no dates, sites or results).
    Reader,
    /// Adjudicates between readers, blinded like a reader.
    Adjudicator,
    /// The sponsor's staff (statisticians): the catalogue, QC status and results, read-only.
    Sponsor,
    /// An auditor: everything read-only, the audit trail included.
    Auditor,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Site,
        Role::Qc,
        Role::Reader,
        Role::Adjudicator,
        Role::Sponsor,
        Role::Auditor,
    ];

    /// The role's name as stored and typed (`admin`, `site`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Site => "site",
            Role::Qc => "qc",
            Role::Reader => "reader",
            Role::Adjudicator => "adjudicator",
            Role::Sponsor => "sponsor",
            Role::Auditor => "auditor",
        }
    }

    /// Whether what this role receives must be blinded (no dates, sites, arms, other results).
    pub fn is_blinded(self) -> bool {
        matches!(self, Role::Reader | Role::Adjudicator)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all = Role::ALL.map(Role::as_str).join(", ");
                format!("unknown role {s:?} (roles: {all})")
            })
    }
}

/// One grant: a role, for every trial (`trial` None) or one trial, and for the site role the one
/// site it covers (a site user with several sites holds several grants).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Grant {
    /// The role granted.
    pub role: Role,
    /// The trial it covers; None for all trials.
    pub trial: Option<String>,
    /// The site it covers (site role only; required there).
    pub site: Option<String>,
}

impl Grant {
    /// Parses `ROLE`, `ROLE@TRIAL` or `site@TRIAL/SITE` (as `corelab user add --grant` takes it).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (role, rest) = match s.split_once('@') {
            Some((r, rest)) => (r, Some(rest)),
            None => (s, None),
        };
        let role: Role = role.trim().parse()?;
        let (trial, site) = match rest {
            None => (None, None),
            Some(rest) => match rest.split_once('/') {
                Some((t, s)) => (Some(t.trim().to_owned()), Some(s.trim().to_owned())),
                None => (Some(rest.trim().to_owned()), None),
            },
        };
        let g = Grant { role, trial, site };
        g.check()?;
        Ok(g)
    }

    /// Refuses grants that do not make sense: a site grant without its trial and site, a site
    /// named for another role, empty names.
    pub fn check(&self) -> Result<(), String> {
        let empty = |v: &Option<String>| v.as_deref().is_some_and(|x| x.trim().is_empty());
        if empty(&self.trial) || empty(&self.site) {
            return Err(format!("grant {self}: an empty trial or site name"));
        }
        match (self.role, &self.trial, &self.site) {
            (Role::Site, Some(_), Some(_)) => Ok(()),
            (Role::Site, _, _) => Err(format!(
                "grant {self}: the site role is scoped to one site of one trial: site@TRIAL/SITE"
            )),
            (_, _, Some(_)) => Err(format!(
                "grant {self}: only the site role is scoped to a site (write {}@TRIAL)",
                self.role
            )),
            _ => Ok(()),
        }
    }

    /// Whether this grant covers `trial` (and, for the site role, `site` when the scope has one).
    fn covers(&self, scope: &Scope) -> bool {
        let trial_ok = match (&self.trial, &scope.trial) {
            (None, _) => true,
            (Some(t), Some(s)) => t == s,
            // A grant for one trial does not cover an installation-wide action.
            (Some(_), None) => false,
        };
        let site_ok = match (&self.site, &scope.site) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine == theirs,
            // A site grant covers trial-level reads only where the caller filters to its sites
            // (`Scope::site` None means "the caller will restrict rows to the principal's sites").
            (Some(_), None) => true,
        };
        trial_ok && site_ok
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.trial, &self.site) {
            (None, None) => write!(f, "{}", self.role),
            (Some(t), None) => write!(f, "{}@{t}", self.role),
            (Some(t), Some(s)) => write!(f, "{}@{t}/{s}", self.role),
            (None, Some(s)) => write!(f, "{}@?/{s}", self.role),
        }
    }
}

/// What a request wants to do. Each handler names exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// List and see trials, sites, subjects, visits and series (rows filtered to the sites a
    /// site user holds).
    ReadCatalogue,
    /// See QC evaluations, decisions and queries.
    ReadQc,
    /// Approve or reject a series' QC, raise or close a query.
    DecideQc,
    /// Answer a query (the site's side).
    AnswerQuery,
    /// See jobs, measurements and provenance.
    ReadResults,
    /// Plan and run a trial's jobs.
    RunJobs,
    /// Send images (STOW-RS).
    StoreImages,
    /// Search and retrieve images (QIDO-RS, WADO-RS), blinded for blinded roles.
    ReadImages,
    /// See the audit trail and verify it.
    ReadAudit,
    /// Create, lock and amend trials.
    ManageTrials,
    /// Add, disable and change users.
    ManageUsers,
    /// Read and sign the central-read cases assigned to oneself (blinded for blinded roles).
    ReadCases,
    /// Plan a trial's central reads.
    ManageReads,
}

impl Action {
    /// Every action, in a fixed order (the authorisation matrix iterates over it).
    pub const ALL: [Action; 13] = [
        Action::ReadCatalogue,
        Action::ReadQc,
        Action::DecideQc,
        Action::AnswerQuery,
        Action::ReadResults,
        Action::RunJobs,
        Action::StoreImages,
        Action::ReadImages,
        Action::ReadAudit,
        Action::ManageTrials,
        Action::ManageUsers,
        Action::ReadCases,
        Action::ManageReads,
    ];

    /// The roles that may do this action (within their grants' trials and sites).
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Action::ReadCatalogue => &[Admin, Site, Qc, Sponsor, Auditor],
            Action::ReadQc => &[Admin, Site, Qc, Sponsor, Auditor],
            Action::DecideQc => &[Admin, Qc],
            Action::AnswerQuery => &[Admin, Site, Qc],
            Action::ReadResults => &[Admin, Qc, Sponsor, Auditor],
            Action::RunJobs => &[Admin, Qc],
            Action::StoreImages => &[Admin, Site],
            Action::ReadImages => &[Admin, Site, Qc, Reader, Adjudicator, Auditor],
            Action::ReadAudit => &[Admin, Auditor],
            Action::ManageTrials => &[Admin],
            Action::ManageUsers => &[Admin],
            Action::ReadCases => &[Admin, Reader, Adjudicator],
            Action::ManageReads => &[Admin, Qc],
        }
    }
}

/// Where an action applies: the installation (no trial), a trial, or one site of a trial.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// The trial, if the action is about one.
    pub trial: Option<String>,
    /// The site, if the action is about one site's data.
    pub site: Option<String>,
}

impl Scope {
    /// The whole installation.
    pub fn installation() -> Self {
        Self::default()
    }

    /// One trial.
    pub fn trial(trial: &str) -> Self {
        Self {
            trial: Some(trial.to_owned()),
            site: None,
        }
    }

    /// One site of a trial.
    pub fn site(trial: &str, site: &str) -> Self {
        Self {
            trial: Some(trial.to_owned()),
            site: Some(site.to_owned()),
        }
    }
}

/// An authenticated user with their grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The user's id (database row).
    pub user_id: i64,
    /// The user name.
    pub username: String,
    /// The printed name.
    pub display_name: String,
    /// What they hold.
    pub grants: Vec<Grant>,
}

impl Principal {
    /// The grants that allow `action` on `scope`.
    pub fn grants_for<'a>(&'a self, action: Action, scope: &Scope) -> Vec<&'a Grant> {
        self.grants
            .iter()
            .filter(|g| action.roles().contains(&g.role) && g.covers(scope))
            .collect()
    }

    /// Whether `action` on `scope` is allowed.
    pub fn may(&self, action: Action, scope: &Scope) -> bool {
        !self.grants_for(action, scope).is_empty()
    }

    /// The sites of `trial` this principal's rows are limited to for `action`: None when some
    /// grant covers the whole trial, else the sites of its site grants (possibly none).
    pub fn site_filter(&self, action: Action, trial: &str) -> Option<Vec<String>> {
        let grants = self.grants_for(action, &Scope::trial(trial));
        if grants.iter().any(|g| g.site.is_none()) {
            return None;
        }
        let mut sites: Vec<String> = grants.iter().filter_map(|g| g.site.clone()).collect();
        sites.sort();
        sites.dedup();
        Some(sites)
    }

    /// Whether every grant that allows `action` on `trial` is blinded: such a principal receives
    /// no dates, sites, arms or other readers' results.
    pub fn blinded(&self, action: Action, trial: &str) -> bool {
        let grants = self.grants_for(action, &Scope::trial(trial));
        !grants.is_empty() && grants.iter().all(|g| g.role.is_blinded())
    }

    /// The trials this principal may see anything of, or None for all of them.
    pub fn trials(&self) -> Option<Vec<String>> {
        if self.grants.iter().any(|g| g.trial.is_none()) {
            return None;
        }
        let mut t: Vec<String> = self.grants.iter().filter_map(|g| g.trial.clone()).collect();
        t.sort();
        t.dedup();
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(grants: &[&str]) -> Principal {
        Principal {
            user_id: 1,
            username: "u".into(),
            display_name: "U".into(),
            grants: grants.iter().map(|g| Grant::parse(g).unwrap()).collect(),
        }
    }

    #[test]
    fn grants_parse_and_refuse_what_makes_no_sense() {
        assert_eq!(Grant::parse("admin").unwrap().to_string(), "admin");
        assert_eq!(Grant::parse("qc@T1").unwrap().to_string(), "qc@T1");
        assert_eq!(
            Grant::parse("site@T1/S01").unwrap().to_string(),
            "site@T1/S01"
        );
        assert!(
            Grant::parse("site@T1")
                .unwrap_err()
                .contains("site@TRIAL/SITE")
        );
        assert!(Grant::parse("site").is_err());
        assert!(
            Grant::parse("qc@T1/S01")
                .unwrap_err()
                .contains("only the site role")
        );
        assert!(Grant::parse("boss").unwrap_err().contains("unknown role"));
        assert!(Grant::parse("qc@").is_err());
    }

    #[test]
    fn a_site_user_sees_only_their_sites_of_their_trial() {
        let p = who(&["site@T1/S01"]);
        assert!(p.may(Action::StoreImages, &Scope::site("T1", "S01")));
        assert!(!p.may(Action::StoreImages, &Scope::site("T1", "S02")));
        assert!(!p.may(Action::StoreImages, &Scope::site("T2", "S01")));
        assert!(!p.may(Action::ReadResults, &Scope::trial("T1")));
        assert_eq!(
            p.site_filter(Action::ReadCatalogue, "T1"),
            Some(vec!["S01".to_owned()])
        );
        assert_eq!(p.trials(), Some(vec!["T1".to_owned()]));
        assert!(!p.may(Action::ManageUsers, &Scope::installation()));
    }

    #[test]
    fn readers_are_blinded_and_see_no_results() {
        let p = who(&["reader@T1"]);
        assert!(p.may(Action::ReadImages, &Scope::trial("T1")));
        assert!(p.blinded(Action::ReadImages, "T1"));
        assert!(!p.may(Action::ReadResults, &Scope::trial("T1")));
        assert!(!p.may(Action::ReadCatalogue, &Scope::trial("T1")));
        // The same person also holding qc for the trial is not blinded there.
        let q = who(&["reader@T1", "qc@T1"]);
        assert!(!q.blinded(Action::ReadImages, "T1"));
    }

    #[test]
    fn an_admin_may_everything_and_a_trial_grant_stays_in_its_trial() {
        let a = who(&["admin"]);
        for action in Action::ALL {
            assert!(a.may(action, &Scope::site("T9", "S9")), "{action:?}");
        }
        let q = who(&["qc@T1"]);
        assert!(q.may(Action::DecideQc, &Scope::trial("T1")));
        assert!(!q.may(Action::DecideQc, &Scope::trial("T2")));
        assert!(!q.may(Action::ManageUsers, &Scope::installation()));
    }
}
