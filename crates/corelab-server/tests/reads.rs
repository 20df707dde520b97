//! The central-read life cycle over HTTP on a RECIST 1.1 trial with two readers and an
//! adjudicator: worklists made once QC passed, blinding (every response of a reader's session is
//! scanned for dates and site values), reads saved with their response computed, e-signatures
//! with re-authentication and bound to the record's hash (a changed record invalidates its
//! signature), an adjudication the disagreement triggers, the accepted read, reader statistics.

mod common;

use common::{Lab, PASSWORD};
use corelab_core::{Grant, TrialFile};
use corelab_ingest::{Ingestor, Source};
use corelab_store::NewUser;
use reqwest::Method;
use serde_json::{Value, json};

const T3: &str = r#"
[trial]
id = "T3"
sponsor = "Example Pharma"
protocol = "EXP-3"
phase = "II"
indication = "solid tumours"

[[sites]]
id = "S01"
name = "University Hospital A"

[[sites]]
id = "S02"
name = "Cancer Centre B"

[deid]
options = ["retain-long-modified-dates"]

[[visits]]
name = "baseline"
day = 0
window_days = 7
required = ["CT"]

[[visits]]
name = "week12"
day = 89
window_days = 14
required = ["CT"]

[roles.CT]
match = { modality = ["CT"] }

[reads]
criteria = "recist11"
paradigm = "double"
roles = ["CT"]
randomise = true
sequential = true
readers = ["r1", "r2"]
adjudicators = ["adj"]
adjudicate = { response_differs = true, sld_differs_percent = 20 }
"#;

/// A session's answers, kept to be scanned.
struct Session<'a> {
    lab: &'a Lab,
    user: &'a str,
    seen: Vec<(String, String)>,
}

impl Session<'_> {
    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.lab.req(Some(self.user), method.clone(), path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        self.seen.push((format!("{method} {path}"), text.clone()));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body).await;
        assert_eq!(status, 200, "{method} {path} as {}: {v:#}", self.user);
        v
    }

    /// No answer of the session holds a date, the site's ids or names, or a subject pseudonym.
    fn assert_blind(&self, forbidden: &[String]) {
        let date = regex_lite_date();
        for (what, text) in &self.seen {
            assert!(!date(text), "{} saw a date in {what}: {text}", self.user);
            for f in forbidden {
                assert!(
                    !text.contains(f.as_str()),
                    "{} saw {f:?} in {what}: {text}",
                    self.user
                );
            }
        }
    }
}

/// Whether `text` holds a calendar date (YYYY-MM-DD or YYYYMMDD) that is not part of a longer
/// number or a UID.
fn regex_lite_date() -> impl Fn(&str) -> bool {
    |text: &str| {
        let b = text.as_bytes();
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let edge = |i: Option<usize>| i.is_none_or(|i| !(b[i].is_ascii_digit() || b[i] == b'.'));
        for start in 0..b.len() {
            if start > 0 && !edge(Some(start - 1)) {
                continue;
            }
            let year =
                (0..4).all(|k| digit(start + k)) && matches!(&text[start..start + 2], "19" | "20");
            if !year {
                continue;
            }
            for dashed in [true, false] {
                let (m, d, end) = if dashed {
                    (start + 5, start + 8, start + 10)
                } else {
                    (start + 4, start + 6, start + 8)
                };
                if dashed && (b.get(start + 4) != Some(&b'-') || b.get(start + 7) != Some(&b'-')) {
                    continue;
                }
                if (0..2).all(|k| digit(m + k) && digit(d + k))
                    && edge((end < b.len()).then_some(end))
                {
                    let month: u32 = text[m..m + 2].parse().unwrap_or(0);
                    let day: u32 = text[d..d + 2].parse().unwrap_or(0);
                    if (1..=12).contains(&month) && (1..=31).contains(&day) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

fn recist_read(follow_t1: Value) -> Value {
    json!({
        "lesions": [
            {"id": "T1", "role": "target", "organ": "liver"},
            {"id": "T2", "role": "target", "organ": "lung"},
            {"id": "NT1", "role": "non-target", "organ": "bone"}
        ],
        "timepoints": [
            {"label": "TP0", "measurements": [
                {"lesion": "T1", "long_line": [[10.0, 20.0, 30.0], [40.0, 60.0, 30.0]]},
                {"lesion": "T2", "long_axis_mm": 30.0},
                {"lesion": "NT1", "state": "present"}]},
            {"label": "TP1", "measurements": [
                {"lesion": "T1", "long_axis_mm": follow_t1},
                {"lesion": "T2", "long_axis_mm": 20.0},
                {"lesion": "NT1", "state": "present"}]}
        ],
        "locked": ["TP0"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_goes_from_worklist_to_signature_to_adjudication_blinded() {
    life_cycle(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_life_cycle_on_postgresql() {
    life_cycle(true).await;
}

async fn life_cycle(postgres: bool) {
    let mut lab = Lab::start(postgres).await;
    let store = lab.store.clone();
    store
        .create_trial("test", &TrialFile::parse(T3).unwrap(), T3)
        .await
        .unwrap();
    let hash = corelab_server::http::auth::hash_password(PASSWORD).unwrap();
    for (name, grant) in [
        ("r1", "reader@T3"),
        ("r2", "reader@T3"),
        ("adj", "adjudicator@T3"),
    ] {
        store
            .add_user(
                "test",
                &NewUser {
                    username: name,
                    display_name: &format!("Dr {name}"),
                    password_hash: &hash,
                    grants: &[Grant::parse(grant).unwrap()],
                },
            )
            .await
            .unwrap();
        let token = lab.login(name, PASSWORD).await;
        lab.tokens.insert(name.to_owned(), token);
    }
    // Two subjects, one per site, each with a baseline and a week-12 CT 89 days apart.
    let ingestor = Ingestor::new(store.clone(), "test:ingest");
    for (site, patient) in [("S01", "MRN-301"), ("S02", "MRN-302")] {
        let source = Source {
            trial: "T3".into(),
            site: site.into(),
            origin: format!("test:{site}"),
            subject: None,
        };
        for study in [1, 4] {
            for bytes in corelab_dicom::synthetic::ct_series(patient, "Doe^John", study, 4) {
                let out = ingestor.ingest(&source, bytes.into()).await.unwrap();
                assert!(out.is_stored(), "{out:?}");
            }
        }
    }
    let mut admin = Session {
        lab: &lab,
        user: "admin",
        seen: Vec::new(),
    };
    let (status, v) = admin
        .call(Method::POST, "/api/v1/trials/T3/reads/plan", None)
        .await;
    assert_eq!(status, 422, "no QC yet: {v}");
    assert!(
        v["detail"].as_str().unwrap().contains("no QC evaluation"),
        "{v}"
    );
    corelab_engine::evaluate::evaluate(&store, "T3", "test", &mut |_, _| {})
        .await
        .unwrap();
    // The synthetic CT is tiny; the core lab passes what its QC left for review.
    let report = corelab_engine::evaluate::current_report(&store, "T3", &[])
        .await
        .unwrap()
        .unwrap();
    for s in &report.subjects {
        for v in &s.visits {
            for x in &v.series {
                store
                    .record_qc_decision(
                        "test",
                        "T3",
                        &format!("series:{}", x.series_instance_uid),
                        "pass",
                        "reviewed",
                    )
                    .await
                    .unwrap();
            }
            store
                .record_qc_decision(
                    "test",
                    "T3",
                    &format!("visit:{}/{}", s.subject, v.visit),
                    "pass",
                    "reviewed",
                )
                .await
                .unwrap();
        }
    }
    let planned = admin
        .ok(Method::POST, "/api/v1/trials/T3/reads/plan", None)
        .await;
    assert_eq!(
        planned["created"].as_array().unwrap().len(),
        4,
        "{planned:#}"
    );
    let again = admin
        .ok(Method::POST, "/api/v1/trials/T3/reads/plan", None)
        .await;
    assert_eq!(again["created"].as_array().unwrap().len(), 0, "idempotent");
    let subjects: Vec<String> = report.subjects.iter().map(|s| s.subject.clone()).collect();
    let (status, _) = Session {
        lab: &lab,
        user: "r1",
        seen: Vec::new(),
    }
    .call(Method::POST, "/api/v1/trials/T3/reads/plan", None)
    .await;
    assert_eq!(status, 403, "a reader does not plan");

    // Each reader has both subjects; the worklist and the case are blinded.
    let mut r1 = Session {
        lab: &lab,
        user: "r1",
        seen: Vec::new(),
    };
    let mut r2 = Session {
        lab: &lab,
        user: "r2",
        seen: Vec::new(),
    };
    let w1 = r1.ok(Method::GET, "/api/v1/reads/worklist", None).await;
    let w2 = r2.ok(Method::GET, "/api/v1/reads/worklist", None).await;
    assert_eq!(w1["items"].as_array().unwrap().len(), 2, "{w1:#}");
    assert_eq!(w2["items"].as_array().unwrap().len(), 2);
    let first = &w1["items"][0];
    let case = first["case_label"].as_str().unwrap().to_owned();
    let t1 = first["id"].as_i64().unwrap();
    let t2 = w2["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["case_label"] == case.as_str())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    // Another reader's task is not found, nor is it signable.
    let (status, _) = r1
        .call(Method::GET, &format!("/api/v1/reads/tasks/{t2}"), None)
        .await;
    assert_eq!(status, 404);
    let view = r1
        .ok(Method::GET, &format!("/api/v1/reads/tasks/{t1}"), None)
        .await;
    assert_eq!(view["criteria"], "recist11");
    // Sequential locked reads: only the baseline is open until it is locked.
    assert_eq!(view["sequential"], true);
    assert_eq!(view["timepoints"].as_array().unwrap().len(), 1, "{view:#}");
    assert_eq!(view["timepoints"][0]["label"], "TP0");
    assert!(
        view.get("subject").is_none() && view.get("visits").is_none(),
        "{view:#}"
    );
    // A reader may load the time points' images (blinded DICOMweb and the viewer's NIfTI).
    let uid = view["timepoints"][0]["series"][0]["series_instance_uid"]
        .as_str()
        .unwrap();
    let r = lab
        .req(
            Some("r1"),
            Method::GET,
            &format!("/api/v1/trials/T3/series/{uid}/volume.nii.gz"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r1.ok(
        Method::GET,
        &format!("/dicomweb/T3/series?SeriesInstanceUID={uid}"),
        None,
    )
    .await;

    // The engine measures a clicked lesion (onco.lesion-seg); a click on air says why not.
    let (status, v) = r1
        .call(
            Method::POST,
            &format!("/api/v1/reads/tasks/{t1}/propose"),
            Some(json!({"label": "TP0", "point": [-150.0, -150.0, 5.0]})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("TP0: the seed reads"),
        "{v}"
    );
    let (status, _) = r1
        .call(
            Method::POST,
            &format!("/api/v1/reads/tasks/{t1}/propose"),
            Some(json!({"label": "TP9", "point": [0.0, 0.0, 5.0]})),
        )
        .await;
    assert_eq!(status, 422);

    // An incomplete read saves, says what is missing, and cannot be signed.
    let draft = r1
        .ok(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{t1}"),
            Some(json!({"timepoints": []})),
        )
        .await;
    assert_eq!(draft["outcome"]["complete"], false);
    let sign = |meaning: &str, password: &str| json!({"meaning": meaning, "password": password});
    let (status, v) = r1
        .call(
            Method::POST,
            &format!("/api/v1/reads/tasks/{t1}/sign"),
            Some(sign("authored", PASSWORD)),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = r1
        .call(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{t1}"),
            Some(json!({"timepoints": [{"label": "TP7"}]})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(v["detail"].as_str().unwrap().contains("TP7"), "{v}");

    // Reader 1 reads the baseline and locks it: week 12 opens; the baseline no longer changes.
    let mut baseline = recist_read(json!(25.0));
    baseline["timepoints"].as_array_mut().unwrap().truncate(1);
    let (status, v) = r1
        .call(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{t1}"),
            Some(json!({"lesions": baseline["lesions"], "timepoints": [baseline["timepoints"][0], {"label": "TP1", "measurements": [{"lesion": "T1", "long_axis_mm": 1.0}]}]})),
        )
        .await;
    assert_eq!(status, 422, "week 12 is not open yet: {v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("TP1 is not open yet: lock TP0 first"),
        "{v}"
    );
    let locked = r1
        .ok(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{t1}"),
            Some(baseline.clone()),
        )
        .await;
    assert_eq!(
        locked["timepoints"].as_array().unwrap().len(),
        2,
        "{locked:#}"
    );
    let mut changed = baseline.clone();
    changed["timepoints"][0]["measurements"][1]["long_axis_mm"] = json!(31.0);
    let (status, v) = r1
        .call(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{t1}"),
            Some(changed),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        v["detail"].as_str().unwrap().contains("TP0 is locked"),
        "{v}"
    );

    // Then week 12: T1 drawn 50 mm at baseline, 25 at week 12: sums 80 → 45, a partial response.
    let saved = r1
        .ok(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{t1}"),
            Some(recist_read(json!(25.0))),
        )
        .await;
    assert_eq!(saved["outcome"]["complete"], true, "{saved:#}");
    assert_eq!(saved["outcome"]["timepoints"][0]["sum_mm"], 80.0);
    assert_eq!(saved["outcome"]["timepoints"][1]["response"], "PR");
    let (status, _) = r1
        .call(
            Method::POST,
            &format!("/api/v1/reads/tasks/{t1}/sign"),
            Some(sign("authored", "wrong password")),
        )
        .await;
    assert_eq!(status, 401, "a signature needs the signer's password");
    let (status, _) = r1
        .call(
            Method::POST,
            &format!("/api/v1/reads/tasks/{t1}/sign"),
            Some(sign("liked", PASSWORD)),
        )
        .await;
    assert_eq!(status, 409, "a meaning of the three");
    let signed = r1
        .ok(
            Method::POST,
            &format!("/api/v1/reads/tasks/{t1}/sign"),
            Some(sign("authored", PASSWORD)),
        )
        .await;
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["signature"]["printed_name"], "Dr r1");
    assert!(
        signed.get("adjudication_task").is_none(),
        "not told to a reader"
    );
    let (status, _) = r1
        .call(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{t1}"),
            Some(recist_read(json!(20.0))),
        )
        .await;
    assert_eq!(status, 409, "a signed read does not change");

    // Reader 2 measures T1 at 45 mm: 65 mm, stable disease; they never see reader 1's read.
    let v2 = r2
        .ok(Method::GET, &format!("/api/v1/reads/tasks/{t2}"), None)
        .await;
    assert!(v2["data"].is_null(), "{v2:#}");
    r2.ok(
        Method::PUT,
        &format!("/api/v1/reads/tasks/{t2}"),
        Some(recist_read(json!(45.0))),
    )
    .await;
    r2.ok(
        Method::POST,
        &format!("/api/v1/reads/tasks/{t2}/sign"),
        Some(sign("authored", PASSWORD)),
    )
    .await;

    // PR vs SD: the adjudicator gets the case, both reads as A and B, nobody's name.
    let mut adj = Session {
        lab: &lab,
        user: "adj",
        seen: Vec::new(),
    };
    let wa = adj.ok(Method::GET, "/api/v1/reads/worklist", None).await;
    assert_eq!(wa["items"].as_array().unwrap().len(), 1, "{wa:#}");
    assert_eq!(wa["items"][0]["kind"], "adjudication");
    assert_eq!(wa["items"][0]["case_label"], case.as_str());
    let ta = wa["items"][0]["id"].as_i64().unwrap();
    let a = adj
        .ok(Method::GET, &format!("/api/v1/reads/tasks/{ta}"), None)
        .await;
    assert_eq!(a["reads"][0]["label"], "A");
    assert_eq!(a["reads"][0]["outcome"]["timepoints"][1]["response"], "PR");
    assert_eq!(a["reads"][1]["outcome"]["timepoints"][1]["response"], "SD");
    assert!(a["trigger"].as_str().unwrap().contains("PR vs SD"), "{a:#}");
    assert!(a["reads"][0].get("reader").is_none());
    let (status, _) = adj
        .call(
            Method::PUT,
            &format!("/api/v1/reads/tasks/{ta}"),
            Some(json!({"accepted": "B"})),
        )
        .await;
    assert_eq!(status, 422, "a choice needs its reason");
    adj.ok(
        Method::PUT,
        &format!("/api/v1/reads/tasks/{ta}"),
        Some(json!({"accepted": "B", "reason": "T1 at week 12 measured across its full extent in B"})),
    )
    .await;
    adj.ok(
        Method::POST,
        &format!("/api/v1/reads/tasks/{ta}/sign"),
        Some(sign("approved", PASSWORD)),
    )
    .await;

    // The core lab sees who read what, and the accepted read (reader 2's).
    let all = lab.get_json("admin", "/api/v1/trials/T3/reads").await;
    let (status, _) = r1.call(Method::GET, "/api/v1/trials/T3/reads", None).await;
    assert_eq!(status, 403, "readers see no other reads");
    let accepted: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["accepted"] == true)
        .collect();
    assert_eq!(accepted.len(), 1, "{all:#}");
    assert_eq!(accepted[0]["id"], t2);
    assert_eq!(accepted[0]["reader"], "r2");
    let stats = lab
        .get_json("auditor", "/api/v1/trials/T3/reads/stats")
        .await;
    assert_eq!(stats["adjudications"], 1);
    assert_eq!(stats["subjects_double_read"], 1);
    let r2_stats = stats["readers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reader"] == "r2")
        .unwrap();
    assert_eq!(r2_stats["accepted_in_adjudication"], 1);
    assert_eq!(stats["pairs"][0]["timepoints"], 1);

    // The endpoint dataset carries both signed reads, each row with its reader, the response
    // engine's version and the accepted flag the adjudication set.
    let rows = corelab_engine::results::endpoints(&store, "T3")
        .await
        .unwrap();
    let reads: Vec<_> = rows.iter().filter(|r| r.source.word() == "read").collect();
    let by = |reader: &str| {
        reads
            .iter()
            .filter(|r| r.reader.as_deref() == Some(reader))
            .count()
    };
    assert!(by("r1") > 0 && by("r2") > 0, "{reads:#?}");
    for r in &reads {
        assert_eq!(r.accepted, Some(r.read_id == Some(t2)), "{r:#?}");
        assert!(
            r.algorithm
                .as_deref()
                .unwrap()
                .starts_with("onco.recist11@")
        );
        assert!(["S01", "S02"].contains(&r.site.as_str()), "{r:#?}");
        assert!(r.visit == "baseline" || r.visit == "week12", "{r:#?}");
        assert!(r.provenance_id.starts_with("corelab:read/"), "{r:#?}");
    }
    // Over HTTP: the same dataset for those who may see results, audited under their name; a
    // reader may not download it.
    let get = |user: &'static str, query: &'static str| {
        lab.req(
            Some(user),
            Method::GET,
            &format!("/api/v1/trials/T3/results{query}"),
        )
        .send()
    };
    assert_eq!(get("r1", "").await.unwrap().status().as_u16(), 403);
    assert_eq!(
        get("auditor", "?format=xls")
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    let csv = get("auditor", "").await.unwrap();
    assert_eq!(csv.status().as_u16(), 200);
    assert!(
        csv.headers()[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("T3-endpoints.csv")
    );
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), rows.len() + 1, "{text}");
    assert!(
        text.lines().skip(1).any(|l| l.contains(",r2,true,")),
        "{text}"
    );
    let parquet = get("auditor", "?format=parquet").await.unwrap();
    assert_eq!(
        parquet.headers()[reqwest::header::CONTENT_TYPE],
        "application/vnd.apache.parquet"
    );
    assert!(parquet.bytes().await.unwrap().starts_with(b"PAR1"));
    let exports = store
        .search_audit(
            &corelab_store::AuditFilter {
                action: Some("results.export".into()),
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(exports.len(), 2);
    assert!(
        exports.iter().all(|e| e.actor == "http:auditor"),
        "{exports:#?}"
    );
    // SDTM: TU, TR and RS of both reads, each reader an evaluator, the chosen read accepted.
    let sdtm = corelab_engine::results::sdtm::datasets(&store, "T3")
        .await
        .unwrap();
    let names: Vec<&str> = sdtm.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["TU", "TR", "RS"]);
    for d in &sdtm {
        let col = |n: &str| d.columns.iter().position(|c| c.name == n).unwrap();
        let (evalid, accepted) = (
            col(&format!("{}EVALID", d.name)),
            col(&format!("{}ACPTFL", d.name)),
        );
        let text = |row: &Vec<corelab_export::dataset::Cell>, i: usize| match &row[i] {
            corelab_export::dataset::Cell::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        let mut seen: Vec<(String, String)> = d
            .rows
            .iter()
            .map(|r| (text(r, evalid), text(r, accepted)))
            .collect();
        seen.sort();
        seen.dedup();
        // r1 is the pool's first reader, r2 the second; the adjudicator chose r2's read.
        assert_eq!(
            seen,
            [
                ("RADIOLOGIST 1".to_owned(), String::new()),
                ("RADIOLOGIST 2".to_owned(), "Y".to_owned())
            ],
            "{}",
            d.name
        );
    }
    let sums: Vec<_> = reads.iter().filter(|r| r.measure == "sum_mm").collect();
    assert!(
        sums.iter().all(|r| r.unit == "mm" && r.value.is_some()),
        "{sums:#?}"
    );
    let responses: Vec<_> = reads.iter().filter(|r| r.measure == "response").collect();
    assert!(
        !responses.is_empty()
            && responses
                .iter()
                .all(|r| r.visit == "week12" && r.value_text.is_some()),
        "{responses:#?}"
    );

    // Signatures: valid, then a changed record invalidates its signature.
    let sigs = lab
        .get_json("auditor", "/api/v1/trials/T3/signatures")
        .await;
    let items = sigs["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{sigs:#}");
    assert!(items.iter().all(|c| c["valid"] == true), "{sigs:#}");
    let s1 = items
        .iter()
        .find(|c| c["signature"]["record_id"] == t1)
        .unwrap();
    assert_eq!(s1["signature"]["meaning"], "authored");
    assert_eq!(s1["signature"]["printed_name"], "Dr r1");
    sqlx::query("UPDATE read_tasks SET data_json = REPLACE(data_json, '25', '35') WHERE id = $1")
        .bind(t1)
        .execute(store.db.pool())
        .await
        .unwrap();
    let sid = s1["signature"]["id"].as_i64().unwrap();
    let check = lab
        .get_json("auditor", &format!("/api/v1/trials/T3/signatures/{sid}"))
        .await;
    assert_eq!(check["valid"], false, "{check:#}");
    assert!(
        check["problem"]
            .as_str()
            .unwrap()
            .contains("changed since it was signed")
    );
    // Nor can a signature be moved to another record: its binding names the record.
    sqlx::query("UPDATE signatures SET record_id = $1, record_sha256 = $2 WHERE id = $3")
        .bind(t2)
        .bind(
            lab.get_json("auditor", "/api/v1/trials/T3/signatures")
                .await["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["signature"]["record_id"] == t2)
                .unwrap()["record_sha256_now"]
                .as_str()
                .unwrap(),
        )
        .bind(sid)
        .execute(store.db.pool())
        .await
        .unwrap();
    let moved = lab
        .get_json("auditor", &format!("/api/v1/trials/T3/signatures/{sid}"))
        .await;
    assert_eq!(moved["valid"], false, "{moved:#}");
    assert!(
        moved["problem"].as_str().unwrap().contains("binding"),
        "{moved:#}"
    );

    // A QC decision is signed the same way.
    let d = store
        .record_qc_decision("http:qc", "T3", "visit:x/baseline", "pass", "checked")
        .await
        .unwrap();
    let mut qc = Session {
        lab: &lab,
        user: "qc",
        seen: Vec::new(),
    };
    let (status, _) = qc
        .call(Method::POST, "/api/v1/trials/T3/signatures", Some(json!({"record_type": "qc_decision", "record_id": d.id, "meaning": "reviewed", "password": PASSWORD})))
        .await;
    assert_eq!(status, 403, "qc holds no grant on T3");
    let s = admin
        .ok(Method::POST, "/api/v1/trials/T3/signatures", Some(json!({"record_type": "qc_decision", "record_id": d.id, "meaning": "reviewed", "password": PASSWORD})))
        .await;
    assert_eq!(s["meaning"], "reviewed");

    // Every answer a reader's or the adjudicator's session received was blind: no date, no
    // site id or name, no subject pseudonym.
    let mut forbidden: Vec<String> = vec![
        "S01".into(),
        "S02".into(),
        "University Hospital A".into(),
        "Cancer Centre B".into(),
    ];
    forbidden.extend(subjects);
    for s in [&r1, &r2, &adj] {
        assert!(s.seen.len() >= 4, "{} answers", s.seen.len());
        s.assert_blind(&forbidden);
    }
    // The scan does find a date where there is one.
    assert!(regex_lite_date()("{\"d\": \"2026-02-15\"}"));
    assert!(regex_lite_date()("x 20260215 y"));
    assert!(!regex_lite_date()("1.2.826.0.1.20260215.4"));
    let audit = store.verify_audit().await.unwrap();
    assert!(audit.ok);
    let events = store
        .search_audit(
            &corelab_store::AuditFilter {
                action: Some("signature.apply".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 4);
}
