use super::*;
use crate::trial::{TrialError, TrialFile};

const HEAD: &str = r#"[trial]
id = "MS-PHASE2-001"
sponsor = "Example Pharma"
protocol = "EXP-2026-01"
phase = "IIb"
"#;

/// A complete protocol: HEAD and then this.
const PROTOCOL: &str = r#"
[[visits]]
name = "baseline"
day = 0
required = ["T1w", "FLAIR"]
optional = ["T2w"]
time_point = "BL"

[[visits]]
name = "week-24"
day = 168
window_days = 14
required = ["T1w", "FLAIR"]

[roles.T1w]
description = "3D T1-weighted gradient echo"
match = { modality = ["MR"], description = ["*t1*mprage*", "*bravo*"], mr_acquisition_type = "3D" }
require = { slice_thickness_mm = [0.8, 1.2], field_strength_t = 3, orientation = "sagittal" }
quality = { snr = { min = 10 }, efc = { max = 0.6 } }

[roles.FLAIR]
match.modality = ["MR"]
match.description = ["*flair*"]
match.scanning_sequence = ["IR"]
match.tr_ms = { min = 4000 }

[roles.T2w]
match = { modality = ["MR"], description = ["*t2*"], exclude_description = ["*flair*"] }

[qc]
unmatched = "ignore"

[[algorithms]]
id = "image.mask-volume"
version = "^1.0"
inputs = { image = "FLAIR" }

[[endpoints]]
name = "flair-volume"
algorithm = "image.mask-volume"
measure = "volume"
visits = ["baseline", "week-24"]

[deid]
options = ["retain-long-modified-dates", "clean-descriptors"]
"#;

fn parse(extra: &str) -> Result<TrialFile, TrialError> {
    TrialFile::parse(&format!("{HEAD}{extra}"))
}

fn range(toml_value: &str) -> Result<Range, String> {
    #[derive(Deserialize)]
    struct R {
        r: Range,
    }
    toml::from_str::<R>(&format!("r = {toml_value}"))
        .map(|x| x.r)
        .map_err(|e| e.message().to_owned())
}

#[test]
fn reads_a_complete_protocol() {
    let t = parse(PROTOCOL).unwrap();
    assert_eq!(t.visits.len(), 2);
    assert_eq!(t.visits[1].window(), (154, 182));
    assert!(t.visits[1].in_window(154) && !t.visits[1].in_window(153));
    assert_eq!(t.visits[0].time_point.as_deref(), Some("BL"));
    assert_eq!(t.baseline().map(|v| v.name.as_str()), Some("baseline"));
    assert_eq!(t.role_names().collect::<Vec<_>>(), ["FLAIR", "T1w", "T2w"]);
    let t1 = t.role("T1w").unwrap();
    assert_eq!(t1.matching.modality, ["MR"]);
    assert_eq!(t1.matching.mr_acquisition_type.as_deref(), Some("3D"));
    assert_eq!(
        t1.require.slice_thickness_mm,
        Some(Range::between(0.8, 1.2))
    );
    assert_eq!(t1.require.field_strength_t, Some(Range::exactly(3.0)));
    assert_eq!(t1.require.orientation, Some(Orientation::Sagittal));
    assert_eq!(t1.quality.snr, Some(Range::at_least(10.0)));
    assert_eq!(t1.quality.efc, Some(Range::at_most(0.6)));
    let flair = t.role("FLAIR").unwrap();
    assert_eq!(flair.matching.scanning_sequence, ["IR"]);
    assert_eq!(flair.matching.tr_ms, Some(Range::at_least(4000.0)));
    assert!(flair.require.is_empty() && flair.quality.is_empty());
    assert_eq!(t.qc.unmatched, UnmatchedPolicy::Ignore);
    assert!(t.qc.scanner_consistency);
    assert_eq!(t.algorithms[0].inputs["image"], "FLAIR");
    assert_eq!(t.endpoints[0].measure, "volume");
    assert!(t.rest.is_empty());
}

#[test]
fn qc_defaults_to_scanner_consistency_and_review() {
    let t = parse("").unwrap();
    assert_eq!(t.qc, QcSection::default());
    assert!(t.qc.scanner_consistency);
    assert_eq!(t.qc.unmatched, UnmatchedPolicy::Review);
    let off = parse("[qc]\nscanner_consistency = false\n").unwrap();
    assert!(!off.qc.scanner_consistency);
    assert_eq!(off.qc.unmatched, UnmatchedPolicy::Review);
}

#[test]
fn a_range_is_read_from_each_of_its_forms() {
    assert_eq!(range("[0.8, 1.2]"), Ok(Range::between(0.8, 1.2)));
    assert_eq!(range("[1, 3]"), Ok(Range::between(1.0, 3.0)));
    assert_eq!(
        range("[-1010, -990.5]"),
        Ok(Range::between(-1010.0, -990.5))
    );
    assert_eq!(range("{ min = 1.0 }"), Ok(Range::at_least(1.0)));
    assert_eq!(range("{ max = 3 }"), Ok(Range::at_most(3.0)));
    assert_eq!(
        range("{ min = 1, max = 2.5 }"),
        Ok(Range::between(1.0, 2.5))
    );
    assert_eq!(range("3"), Ok(Range::exactly(3.0)));
    assert_eq!(range("1.5"), Ok(Range::exactly(1.5)));
}

#[test]
fn a_range_of_another_form_is_refused() {
    for (bad, expect) in [
        ("[1]", "two numbers"),
        ("[1, 2, 3]", "two numbers"),
        ("[]", "two numbers"),
        ("{ minimum = 1 }", "unknown field `minimum`"),
        ("\"1-2\"", "a range"),
        ("[1, \"2\"]", "a number"),
        ("{ min = true }", "a number"),
    ] {
        let e = range(bad).unwrap_err();
        assert!(e.contains(expect), "{bad}: {e}");
    }
}

#[test]
fn a_range_is_written_back_as_a_table_and_read_again() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct R {
        a: Range,
        b: Range,
        c: Range,
    }
    let r = R {
        a: Range::between(0.8, 1.2),
        b: Range::at_least(10.0),
        c: Range::at_most(3.0),
    };
    let text = toml::to_string(&r).unwrap();
    assert!(
        text.contains("min = 0.8") && text.contains("max = 1.2"),
        "{text}"
    );
    assert!(!text.contains("[0.8"), "{text}");
    assert_eq!(toml::from_str::<R>(&text).unwrap(), r);
    assert_eq!(
        serde_json::to_value(Range::at_least(10.0)).unwrap(),
        serde_json::json!({"min": 10.0})
    );
}

#[test]
fn a_range_contains_its_bounds_and_says_what_it_is() {
    let r = Range::between(0.8, 1.2);
    assert!(r.contains(0.8) && r.contains(1.2) && r.contains(1.0));
    assert!(!r.contains(0.79) && !r.contains(1.21) && !r.contains(f64::NAN));
    assert!(Range::at_least(10.0).contains(1e9) && !Range::at_least(10.0).contains(9.9));
    assert!(Range::at_most(3.0).contains(-1e9) && !Range::at_most(3.0).contains(3.1));
    assert_eq!(r.to_string(), "0.8–1.2");
    assert_eq!(Range::at_least(10.0).to_string(), "≥ 10");
    assert_eq!(Range::at_most(3.0).to_string(), "≤ 3");
    assert_eq!(Range::exactly(3.0).to_string(), "3");
}

#[test]
fn roles_summarise_on_one_line() {
    let t = parse(PROTOCOL).unwrap();
    let t1 = t.role("T1w").unwrap();
    assert_eq!(
        t1.matching.to_string(),
        "modality MR, description *t1*mprage*|*bravo*, 3D"
    );
    assert_eq!(
        t1.require.to_string(),
        "field_strength_t 3, slice_thickness_mm 0.8–1.2, orientation sagittal"
    );
    assert_eq!(t1.quality.to_string(), "snr ≥ 10, efc ≤ 0.6");
    assert_eq!(
        t.role("FLAIR").unwrap().matching.to_string(),
        "modality MR, description *flair*, scanning_sequence IR, tr_ms ≥ 4000"
    );
    assert_eq!(
        t.role("T2w").unwrap().matching.to_string(),
        "modality MR, description *t2*, not *flair*"
    );
}

#[test]
fn glob_patterns_match_ignoring_case() {
    assert!(glob_match("*t1*mprage*", "Sag T1 MPRAGE 1mm"));
    assert!(glob_match("*FLAIR*", "ax_flair"));
    assert!(glob_match("t?w", "T1W"));
    assert!(!glob_match("t?w", "T12W"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*", "a"));
    assert!(!glob_match("", "a"));
    assert!(glob_match("", ""));
    assert!(glob_match("B*f", "B30f"));
    assert!(!glob_match("B*f", "B30s"));
    assert!(glob_match("*ß*", "STRASSE ß"));
    assert!(glob_match("*a*b*c", "xxaxxbxxc"));
    assert!(!glob_match("*a*b*c", "xxaxxbxxcx"));
    // Backtracking only over the last star: this would take ages if it blew up.
    let text = "a".repeat(10_000);
    assert!(!glob_match(&format!("{}b", "*a".repeat(30)), &text));
    assert!(glob_match(&"*a".repeat(30), &text));
}

#[test]
fn misspelt_keys_in_the_protocol_are_errors() {
    for (bad, key) in [
        ("[[visits]]\nname = \"a\"\nday = 0\nwindow = 3\n", "window"),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"], modalities = [\"CT\"] }\n",
            "modalities",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"] }\nrequire = { slice_thickness = 1 }\n",
            "slice_thickness",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"] }\nquality = { snr_min = 1 }\n",
            "snr_min",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"] }\ndecription = \"x\"\n",
            "decription",
        ),
        ("[qc]\nunmatch = \"ignore\"\n", "unmatch"),
        (
            "[[endpoints]]\nname = \"e\"\nalgorithm = \"a.b\"\nmeasure = \"m\"\nvisit = [\"a\"]\n",
            "visit",
        ),
    ] {
        let e = parse(bad).unwrap_err();
        assert!(
            matches!(e, TrialError::Syntax(_)) && e.to_string().contains(key),
            "{bad}: {e}"
        );
    }
    let e = parse("[qc]\nunmatched = \"drop\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("review") && e.contains("line 7"), "{e}");
    let e = parse(
        "[roles.T1w]\nmatch = { modality = [\"MR\"] }\nrequire = { orientation = \"Axial\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("axial"), "{e}");
}

#[test]
fn reports_every_problem_with_its_line_and_column() {
    let text = format!(
        "{HEAD}{}",
        r#"
[[visits]]
name = "screening"
day = -14
required = ["T1w", "DWI"]

[[visits]]
name = "screening"
day = -20
window_days = -3
required = ["T1w"]
optional = ["T1w"]

[roles.T1w]
match = { modality = ["mr"], mr_acquisition_type = "4D" }
require = { slice_thickness_mm = [3, 1], pixel_spacing_mm = { min = nan } }

[roles.EMPTY]
match = {}

[[algorithms]]
id = "image.mask-volume"
version = "^1.0"
inputs = { image = "FLAIR" }

[[endpoints]]
name = "v"
algorithm = "image.nope"
measure = "volume"
visits = ["week-8"]
"#
    );
    let e = TrialFile::parse(&text).unwrap_err();
    let got: Vec<(usize, usize, &str)> = e
        .problems()
        .iter()
        .map(|p| (p.line, p.column, p.field.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (7, 1, "visits"),
            (9, 7, "visits[0].day"),
            (10, 20, "visits[0].required[1]"),
            (13, 8, "visits[1].name"),
            (14, 7, "visits[1].day"),
            (15, 15, "visits[1].window_days"),
            (17, 13, "visits[1].optional[0]"),
            (20, 23, "roles.T1w.match.modality[0]"),
            (20, 52, "roles.T1w.match.mr_acquisition_type"),
            (21, 34, "roles.T1w.require.slice_thickness_mm"),
            (21, 61, "roles.T1w.require.pixel_spacing_mm"),
            (24, 9, "roles.EMPTY.match"),
            (29, 20, "algorithms[0].inputs.image"),
            (33, 13, "endpoints[0].algorithm"),
            (35, 11, "endpoints[0].visits[0]"),
        ],
        "{e}"
    );
    let msg = e.to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines[0], "trial file: 15 problems");
    assert_eq!(
        lines[2],
        "line 9, column 7 (`day = -14`): visits[0].day: the first visit is the baseline, day 0 (not -14); days count from it"
    );
    assert!(
        lines[15]
            .starts_with("line 35, column 11 (`visits = [\"week-8\"]`): endpoints[0].visits[0]: "),
        "{msg}"
    );
    assert!(
        msg.contains("role \"DWI\" is not defined in [roles]"),
        "{msg}"
    );
    assert!(msg.contains("min 3 is above max 1"), "{msg}");
    assert!(msg.contains("NaN is not a finite number"), "{msg}");
}

#[test]
fn one_problem_is_one_line() {
    let e = parse("[[visits]]\nname = \"a\"\nday = 0\nwindow_days = -1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "trial file: line 9, column 15 (`window_days = -1`): visits[0].window_days: must be 0 or more (± days)"
    );
}

#[test]
fn refuses_each_inconsistency_naming_the_field() {
    let roles = "[roles.T1w]\nmatch = { modality = [\"MR\"] }\n";
    let visit = |body: &str| format!("{roles}[[visits]]\nname = \"bl\"\nday = 0\n{body}");
    for (extra, field, why) in [
        (
            format!("{roles}[[visits]]\nname = \" \"\nday = 0\n"),
            "visits[0].name",
            "empty",
        ),
        (
            visit("[[visits]]\nname = \"w1\"\nday = 0\n"),
            "visits[1].day",
            "not after",
        ),
        (
            visit("required = [\"T1w\", \"T1w\"]\n"),
            "visits[0].required[1]",
            "twice",
        ),
        (
            visit("required = [\"T1w\"]\noptional = [\"T1w\"]\n"),
            "visits[0].optional[0]",
            "also required",
        ),
        (
            visit("time_point = \"V1\"\n[[visits]]\nname = \"w1\"\nday = 7\ntime_point = \"V1\"\n"),
            "visits[1].time_point",
            "already names visits[0]",
        ),
        (
            "[roles.\"T1 w\"]\nmatch = { modality = [\"MR\"] }\n".into(),
            "roles.\"T1 w\"",
            "not a role name",
        ),
        (
            "[roles.T1w]\nmatch = { description = [\"\"] }\n".into(),
            "roles.T1w.match.description[0]",
            "empty",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"], exclude_description = [\" \"] }\n".into(),
            "roles.T1w.match.exclude_description[0]",
            "empty",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MAGNETICRESONANCEX\"] }\n".into(),
            "roles.T1w.match.modality[0]",
            "modality code",
        ),
        (
            "[roles.T1w]\nmatch = { sop_class = [\"1.2.840.10008.5.1.4.1.1.4.\"] }\n".into(),
            "roles.T1w.match.sop_class[0]",
            "UID",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"], scanning_sequence = [\"gr\"] }\n".into(),
            "roles.T1w.match.scanning_sequence[0]",
            "DICOM code",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"], te_ms = {} }\n".into(),
            "roles.T1w.match.te_ms",
            "needs a min or a max",
        ),
        (
            "[roles.T1w]\nmatch = { modality = [\"MR\"] }\nquality = { snr = [inf, 3] }\n".into(),
            "roles.T1w.quality.snr",
            "finite",
        ),
        (
            "[roles.CT]\nmatch = { modality = [\"CT\"] }\nrequire = { kernel = [\"\"] }\n".into(),
            "roles.CT.require.kernel[0]",
            "empty",
        ),
        (
            "[roles.PET]\nmatch = { modality = [\"PT\"] }\nrequire = { radiopharmaceutical = [\"\"] }\n"
                .into(),
            "roles.PET.require.radiopharmaceutical[0]",
            "empty",
        ),
        (
            "[[algorithms]]\nid = \"image.mask-volume\"\nversion = \"^1\"\n\
             [[endpoints]]\nname = \"e\"\nalgorithm = \"image.mask-volume\"\nmeasure = \"volume\"\n\
             [[endpoints]]\nname = \"e\"\nalgorithm = \"image.mask-volume\"\nmeasure = \" \"\n"
                .into(),
            "endpoints[1].name",
            "already endpoints[0]",
        ),
    ] {
        let e = parse(&extra).unwrap_err();
        assert!(
            e.problems()
                .iter()
                .any(|p| p.field == field && p.why.contains(why)),
            "{extra}\nwanted {field}: {why}\ngot {e}"
        );
    }
}

#[test]
fn algorithm_inputs_are_left_out_of_the_written_form_when_empty() {
    let t = parse("[[algorithms]]\nid = \"image.mask-volume\"\nversion = \"^1.0\"\n").unwrap();
    let json = serde_json::to_value(&t.algorithms[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"id": "image.mask-volume", "version": "^1.0"})
    );
    let written = toml::to_string(&t).unwrap();
    assert!(
        !written.contains("inputs") && !written.contains("visits") && !written.contains("[qc]"),
        "{written}"
    );
    let full = parse(PROTOCOL).unwrap();
    let again = TrialFile::parse(&toml::to_string(&full).unwrap()).unwrap();
    assert_eq!(again.visits, full.visits);
    assert_eq!(again.roles, full.roles);
    assert_eq!(again.qc, full.qc);
    assert_eq!(again.endpoints, full.endpoints);
    assert_eq!(again.algorithms, full.algorithms);
}

/// Every ```toml block of docs/trial-toml.md is valid TOML, and each that has a `[trial]` table is
/// a valid trial file: the reference cannot drift from the parser.
#[test]
fn the_examples_in_the_trial_toml_reference_parse() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/trial-toml.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in doc.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some((n + 1, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```toml block");
    let mut files = 0;
    for (line, text) in &blocks {
        let table: toml::Table = toml::from_str(text)
            .unwrap_or_else(|e| panic!("docs/trial-toml.md, the block at line {line}: {e}"));
        if table.contains_key("trial") {
            TrialFile::parse(text)
                .unwrap_or_else(|e| panic!("docs/trial-toml.md, the block at line {line}: {e}"));
            files += 1;
        }
    }
    // The minimal form and the three complete examples (MS, RECIST, amyloid PET) at least.
    assert!(
        files >= 4,
        "{files} complete trial files in docs/trial-toml.md"
    );
}

#[test]
fn longitudinal_and_file_inputs_are_checked_naming_the_field() {
    let with = |entry: &str| {
        PROTOCOL.replace(
            "inputs = { image = \"FLAIR\" }",
            &format!("inputs = {{ image = \"FLAIR\" }}\n{entry}"),
        )
    };
    // A role at another visit that exists: accepted.
    let ok = PROTOCOL.replace(
        "inputs = { image = \"FLAIR\" }",
        "inputs = { image = \"FLAIR\", earlier = \"FLAIR@baseline\" }",
    );
    parse(&ok).unwrap();
    for (text, field, why) in [
        (
            PROTOCOL.replace(
                "inputs = { image = \"FLAIR\" }",
                "inputs = { image = \"FLAIR@screening\" }",
            ),
            "algorithms[0].inputs.image",
            "no visit \"screening\"",
        ),
        (
            PROTOCOL.replace(
                "inputs = { image = \"FLAIR\" }",
                "inputs = { image = \"PD@baseline\" }",
            ),
            "algorithms[0].inputs.image",
            "PD",
        ),
        (
            with("files = { image = \"mask.nii.gz\" }"),
            "algorithms[0].files.image",
            "also in inputs",
        ),
        (
            with("files = { mask = \" \" }"),
            "algorithms[0].files.mask",
            "needs the file's path",
        ),
    ] {
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(field) && e.contains(why), "{field}: {e}");
    }
}
