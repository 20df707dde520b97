//! The protocol's checks: visits, roles, algorithm inputs and endpoints. Each problem found is
//! recorded with its field's path; none stops the others.

use super::{RoleSpec, is_role_name};
use crate::problem::{FieldPath, Findings};
use crate::trial::TrialFile;
use std::collections::{BTreeMap, BTreeSet};

/// Whether a code is a DICOM code string as Modality uses: 1–16 of A–Z, 0–9 and `_`.
fn is_code(code: &str) -> bool {
    (1..=16).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether a text is a DICOM UID: components of digits separated by dots, at most 64 characters.
fn is_uid(uid: &str) -> bool {
    uid.len() <= 64
        && uid
            .split('.')
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

/// The protocol's checks: visits, roles, algorithm inputs and endpoints.
pub(crate) fn check(file: &TrialFile, found: &mut Findings) {
    check_visits(file, found);
    for (name, role) in &file.roles {
        check_role(name, role, found);
    }
    for (i, a) in file.algorithms.iter().enumerate() {
        for (input, mapped) in &a.inputs {
            let at = FieldPath::keys("algorithms").at(i).key("inputs").key(input);
            let (role, visit) = crate::trial::input_source(mapped);
            if !file.roles.contains_key(role) {
                found.add(at.clone(), undefined_role(role));
            }
            if let Some(v) = visit
                && !file.visits.iter().any(|x| x.name == v)
            {
                found.add(
                    at,
                    format!(
                        "{mapped:?}: no visit {v:?} in [[visits]] (ROLE@VISIT takes the role's series at that visit)"
                    ),
                );
            }
        }
        for (input, path) in &a.files {
            let at = FieldPath::keys("algorithms").at(i).key("files").key(input);
            if a.inputs.contains_key(input) {
                found.add(
                    at.clone(),
                    "is also in inputs: an input is a series or a file, not both",
                );
            }
            if path.trim().is_empty() {
                found.add(at, "needs the file's path");
            }
        }
    }
    check_endpoints(file, found);
    check_deid_keeps_what_qc_needs(file, found);
}

/// QC reads the de-identified headers: a rule on what de-identification removes could never
/// hold. The Basic Profile removes Series Description and Protocol Name unless the Clean
/// Descriptors option keeps them, and removes dates unless a longitudinal-date option keeps
/// them (shifted), without which no day from baseline can be computed.
fn check_deid_keeps_what_qc_needs(file: &TrialFile, found: &mut Findings) {
    if file.deid.profile == crate::trial::DeidProfile::None {
        return;
    }
    let has = |o: &str| file.deid.options.iter().any(|x| x == o);
    if !has("clean-descriptors") {
        for (name, role) in &file.roles {
            for key in ["description", "exclude_description"] {
                let list = if key == "description" {
                    &role.matching.description
                } else {
                    &role.matching.exclude_description
                };
                if !list.is_empty() {
                    found.add(
                        FieldPath::keys("roles").key(name).key("match").key(key),
                        "de-identification removes Series Description and Protocol Name unless \
                         [deid] options has \"clean-descriptors\": this rule could never hold",
                    );
                }
            }
        }
    }
    if file.visits.len() > 1 && !has("retain-long-modified-dates") && !has("retain-long-full-dates")
    {
        found.add(
            FieldPath::keys("visits"),
            "days from baseline need study dates, which de-identification removes unless [deid] \
             options has \"retain-long-modified-dates\" (or \"retain-long-full-dates\")",
        );
    }
}

fn undefined_role(role: &str) -> String {
    format!("role {role:?} is not defined in [roles]")
}

fn check_visits(file: &TrialFile, found: &mut Findings) {
    let mut names = BTreeMap::new();
    let mut time_points = BTreeMap::new();
    for (i, v) in file.visits.iter().enumerate() {
        let at = FieldPath::keys("visits").at(i);
        if v.name.trim().is_empty() {
            found.add(at.key("name"), "must not be empty");
        } else if let Some(j) = names.insert(v.name.as_str(), i) {
            found.add(
                at.key("name"),
                format!("visit {:?} is already visits[{j}]", v.name),
            );
        }
        if i == 0 && v.day != 0 {
            found.add(
                at.key("day"),
                format!(
                    "the first visit is the baseline, day 0 (not {}); days count from it",
                    v.day
                ),
            );
        }
        if let Some(prev) = i.checked_sub(1).map(|j| &file.visits[j])
            && v.day <= prev.day
        {
            found.add(
                at.key("day"),
                format!(
                    "day {} is not after visits[{}] ({:?}, day {}): visits are listed in order",
                    v.day,
                    i - 1,
                    prev.name,
                    prev.day
                ),
            );
        }
        if v.window_days < 0 {
            found.add(at.key("window_days"), "must be 0 or more (± days)");
        }
        for (list, roles) in [("required", &v.required), ("optional", &v.optional)] {
            let mut seen = BTreeSet::new();
            for (k, role) in roles.iter().enumerate() {
                let at = at.key(list).at(k);
                if !file.roles.contains_key(role) {
                    found.add(at, undefined_role(role));
                } else if !seen.insert(role.as_str()) {
                    found.add(at, format!("role {role:?} is listed twice"));
                } else if list == "optional" && v.required.contains(role) {
                    found.add(at, format!("role {role:?} is also required in this visit"));
                }
            }
        }
        if let Some(tp) = &v.time_point {
            if tp.trim().is_empty() {
                found.add(at.key("time_point"), "must not be empty");
            } else if let Some(j) = time_points.insert(tp.as_str(), i) {
                found.add(
                    at.key("time_point"),
                    format!("time point {tp:?} already names visits[{j}]"),
                );
            }
        }
    }
}

fn check_role(name: &str, role: &RoleSpec, found: &mut Findings) {
    let at = FieldPath::keys("roles").key(name);
    if !is_role_name(name) {
        found.add(
            at.clone(),
            format!("{name:?} is not a role name (letters, digits, _ and -)"),
        );
    }
    let m = &role.matching;
    let mat = at.key("match");
    if m.is_empty() {
        found.add(
            mat.clone(),
            "needs at least one condition (it would match every series)",
        );
    }
    let each = |key: &str,
                list: &[String],
                found: &mut Findings,
                ok: &dyn Fn(&str) -> bool,
                what: &str| {
        for (k, v) in list.iter().enumerate() {
            if !ok(v) {
                found.add(mat.key(key).at(k), format!("{v:?} is not {what}"));
            }
        }
    };
    let pattern = |s: &str| !s.trim().is_empty();
    each(
        "modality",
        &m.modality,
        found,
        &is_code,
        "a DICOM modality code (1-16 of A-Z, 0-9, _; e.g. \"MR\")",
    );
    each("sop_class", &m.sop_class, found, &is_uid, "a UID");
    each(
        "description",
        &m.description,
        found,
        &pattern,
        "a pattern (empty)",
    );
    each(
        "exclude_description",
        &m.exclude_description,
        found,
        &pattern,
        "a pattern (empty)",
    );
    for (key, list) in [
        ("scanning_sequence", &m.scanning_sequence),
        ("sequence_variant", &m.sequence_variant),
    ] {
        each(
            key,
            list,
            found,
            &is_code,
            "a DICOM code (upper case, e.g. \"GR\")",
        );
    }
    each(
        "image_type",
        &m.image_type,
        found,
        &pattern,
        "an Image Type value (empty)",
    );
    if let Some(t) = &m.mr_acquisition_type
        && t != "2D"
        && t != "3D"
    {
        found.add(
            mat.key("mr_acquisition_type"),
            format!("{t:?} is not \"2D\" or \"3D\""),
        );
    }
    let req = at.key("require");
    for (k, v) in role.require.kernel.iter().enumerate() {
        if !pattern(v) {
            found.add(
                req.key("kernel").at(k),
                "a kernel pattern must not be empty",
            );
        }
    }
    for (k, v) in role.require.radiopharmaceutical.iter().enumerate() {
        if !pattern(v) {
            found.add(
                req.key("radiopharmaceutical").at(k),
                "a radiopharmaceutical name must not be empty",
            );
        }
    }
    for (table, ranges) in [
        (mat, m.ranges()),
        (req, role.require.ranges()),
        (at.key("quality"), role.quality.ranges()),
    ] {
        for (key, r) in ranges {
            if let Some(why) = r.problem() {
                found.add(table.key(key), why);
            }
        }
    }
}

fn check_endpoints(file: &TrialFile, found: &mut Findings) {
    let mut names = BTreeMap::new();
    for (i, e) in file.endpoints.iter().enumerate() {
        let at = FieldPath::keys("endpoints").at(i);
        if e.name.trim().is_empty() {
            found.add(at.key("name"), "must not be empty");
        } else if let Some(j) = names.insert(e.name.as_str(), i) {
            found.add(
                at.key("name"),
                format!("endpoint {:?} is already endpoints[{j}]", e.name),
            );
        }
        if !file.algorithms.iter().any(|a| a.id == e.algorithm) {
            found.add(
                at.key("algorithm"),
                format!("{:?} is not the id of an [[algorithms]] entry", e.algorithm),
            );
        }
        if e.measure.trim().is_empty() {
            found.add(at.key("measure"), "must name a measurement");
        }
        for (k, v) in e.visits.iter().enumerate() {
            if !file.visits.iter().any(|x| x.name == *v) {
                found.add(
                    at.key("visits").at(k),
                    format!("visit {v:?} is not in [[visits]]"),
                );
            }
        }
    }
}
