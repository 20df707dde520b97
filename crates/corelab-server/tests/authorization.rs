//! The authorisation matrix: every role × every route, on the caller's own trial and site and on
//! another's, against a table written out by hand (not derived from the code under test). An
//! allowed call may still fail for other reasons (404, 409), but never with 401 or 403; a denied
//! one gets 403; an anonymous one 401.

mod common;

use common::{Lab, USERS};
use reqwest::Method;
use serde_json::{Value, json};

/// (method, path, body, the users allowed). `*` stands for every user.
fn routes() -> Vec<(Method, &'static str, Option<Value>, &'static str)> {
    let cat = "admin site1 site2 qc sponsor auditor";
    let results = "admin qc sponsor auditor";
    let images = "admin site1 site2 qc reader adjudicator auditor";
    vec![
        (Method::GET, "/api/v1/me", None, "*"),
        (Method::GET, "/api/v1/trials/T1", None, cat),
        (Method::GET, "/api/v1/trials/T1/sites", None, cat),
        (Method::GET, "/api/v1/trials/T1/subjects", None, cat),
        (Method::GET, "/api/v1/trials/T1/series", None, cat),
        (Method::GET, "/api/v1/trials/T1/qc", None, cat),
        (Method::GET, "/api/v1/trials/T1/qc/decisions", None, cat),
        (Method::GET, "/api/v1/trials/T1/queries", None, cat),
        (
            Method::POST,
            "/api/v1/trials/T1/qc/decisions",
            Some(json!({"target": "series:1.2.3", "status": "fail", "reason": "matrix"})),
            "admin qc",
        ),
        (
            Method::POST,
            "/api/v1/trials/T1/queries",
            Some(json!({"target": "series:1.2.3", "question": "matrix?"})),
            "admin qc",
        ),
        (
            Method::POST,
            "/api/v1/trials/T1/queries/999/close",
            Some(json!({"text": "x"})),
            "admin qc",
        ),
        (Method::GET, "/api/v1/trials/T1/jobs", None, results),
        (Method::GET, "/api/v1/trials/T1/jobs/1", None, results),
        (
            Method::GET,
            "/api/v1/trials/T1/jobs/1/provenance",
            None,
            results,
        ),
        (Method::GET, "/api/v1/trials/T1/dashboard", None, cat),
        (Method::GET, "/api/v1/trials/T1/series/1.2.3", None, cat),
        (
            Method::GET,
            "/api/v1/trials/T1/series/1.2.3/volume.nii.gz",
            None,
            images,
        ),
        (
            Method::GET,
            "/api/v1/trials/T1/jobs/1/images/mask.nii.gz",
            None,
            results,
        ),
        (Method::GET, "/api/v1/status", None, "admin auditor"),
        (Method::GET, "/api/v1/algorithms", None, "*"),
        (Method::GET, "/api/v1/quarantine", None, "admin"),
        (Method::POST, "/api/v1/trials", None, "admin"),
        (Method::GET, "/api/v1/trials/T1/measurements", None, results),
        (Method::POST, "/api/v1/trials/T1/run", None, "admin qc"),
        (Method::GET, "/api/v1/trials/T2", None, "admin auditor qc2"),
        (
            Method::GET,
            "/api/v1/trials/T2/series",
            None,
            "admin auditor qc2",
        ),
        (
            Method::GET,
            "/api/v1/trials/T2/measurements",
            None,
            "admin auditor qc2",
        ),
        (Method::GET, "/api/v1/audit/events", None, "admin auditor"),
        (Method::GET, "/api/v1/audit/verify", None, "admin auditor"),
        // Central reads: one's own worklist and tasks (another's task is 404, not 403).
        (Method::GET, "/api/v1/reads/worklist", None, "*"),
        (Method::GET, "/api/v1/reads/tasks/1", None, "*"),
        (
            Method::POST,
            "/api/v1/reads/tasks/1/propose",
            Some(json!({"label": "TP0", "point": [0.0, 0.0, 0.0]})),
            "*",
        ),
        (
            Method::POST,
            "/api/v1/reads/tasks/1/sign",
            Some(json!({"meaning": "authored", "password": "x"})),
            "*",
        ),
        (Method::GET, "/api/v1/trials/T1/reads", None, results),
        (
            Method::POST,
            "/api/v1/trials/T1/reads/plan",
            None,
            "admin qc",
        ),
        (Method::GET, "/api/v1/trials/T1/reads/stats", None, results),
        (Method::GET, "/api/v1/trials/T1/signatures", None, results),
        (Method::GET, "/api/v1/trials/T1/signatures/1", None, results),
        (
            Method::POST,
            "/api/v1/trials/T1/signatures",
            Some(
                json!({"record_type": "qc_decision", "record_id": 999, "meaning": "reviewed", "password": common::PASSWORD}),
            ),
            "admin qc",
        ),
        (Method::GET, "/api/v1/users", None, "admin"),
        (
            Method::POST,
            "/api/v1/users",
            Some(
                json!({"username": "x", "display_name": "X", "password": "short", "grants": ["qc@T1"]}),
            ),
            "admin",
        ),
        (Method::GET, "/dicomweb/T1/studies", None, images),
        (Method::GET, "/dicomweb/T1/series", None, images),
        (Method::GET, "/dicomweb/T1/instances", None, images),
        (
            Method::GET,
            "/dicomweb/T1/studies/1.2.3/metadata",
            None,
            images,
        ),
        // Whole instances carry dates: not for blinded readers.
        (
            Method::GET,
            "/dicomweb/T1/studies/1.2.3",
            None,
            "admin site1 site2 qc auditor",
        ),
        (
            Method::GET,
            "/dicomweb/T1/studies/1.2.3/series/4.5/instances/6.7/frames/1",
            None,
            images,
        ),
        (
            Method::GET,
            "/dicomweb/T1/studies/1.2.3/series/4.5/instances/6.7/rendered",
            None,
            images,
        ),
        (
            Method::GET,
            "/dicomweb/T1/studies/1.2.3/series/4.5/instances/6.7/bulk/7FE00010",
            None,
            images,
        ),
        (
            Method::GET,
            "/dicomweb/T1/studies/1.2.3/series/4.5/instances/6.7",
            None,
            "admin site1 site2 qc auditor",
        ),
        (
            Method::GET,
            "/dicomweb/T2/studies",
            None,
            "admin auditor qc2",
        ),
        (
            Method::POST,
            "/dicomweb/T1/studies",
            None,
            "admin site1 site2",
        ),
        (
            Method::POST,
            "/dicomweb/T1/studies?site=S01",
            None,
            "admin site1",
        ),
        (
            Method::POST,
            "/dicomweb/T1/studies?site=S02",
            None,
            "admin site2",
        ),
        (Method::POST, "/dicomweb/T2/studies", None, "admin"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_on_every_route_is_allowed_or_denied_as_the_table_says() {
    let lab = Lab::start(false).await;
    let mut wrong = Vec::new();
    let mut checked = 0;
    let table = routes();
    let n = table.len();
    for (method, path, body, allowed) in table {
        // Anonymous: always 401.
        let r = lab.req(None, method.clone(), path).send().await.unwrap();
        if r.status() != 401 {
            wrong.push(format!("anonymous {method} {path}: {}", r.status()));
        }
        for (user, _) in USERS {
            let mut b = lab.req(Some(user), method.clone(), path);
            if let Some(body) = &body {
                b = b.json(body);
            } else if method == Method::POST && path.starts_with("/dicomweb") {
                // An empty STOW-RS body: refused for its content only after access is checked.
                let (ct, body) = common::stow_body(&[]);
                b = b.header("content-type", ct).body(body);
            }
            let status = b.send().await.unwrap().status();
            let expect = allowed == "*" || allowed.split(' ').any(|a| a == *user);
            let denied = status == 403 || status == 401;
            if expect == denied {
                wrong.push(format!(
                    "{user} {method} {path}: {status}, expected {}",
                    if expect { "allowed" } else { "403" }
                ));
            }
            if !expect && status != 403 {
                wrong.push(format!(
                    "{user} {method} {path}: {status}, expected exactly 403"
                ));
            }
            checked += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(checked, USERS.len() * n);
    assert!(n >= 55, "{n} routes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_user_sees_only_their_own_sites_rows() {
    let lab = Lab::start(false).await;
    for (user, mine, other) in [("site1", "S01", "S02"), ("site2", "S02", "S01")] {
        let series = lab.get_json(user, "/api/v1/trials/T1/series").await;
        let items = series["items"].as_array().unwrap();
        assert!(!items.is_empty());
        assert!(items.iter().all(|s| s["site"] == mine), "{user}: {series}");
        let sites = lab.get_json(user, "/api/v1/trials/T1/sites").await;
        let ids: Vec<&str> = sites["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![mine]);
        // DICOMweb too: the other site's study is not found, not just hidden from lists.
        let studies = lab.get_json(user, "/dicomweb/T1/studies").await;
        assert_eq!(studies.as_array().unwrap().len(), 1, "{user}: {studies}");
        let everyone = lab.get_json("admin", "/dicomweb/T1/studies").await;
        assert_eq!(everyone.as_array().unwrap().len(), 2);
        let theirs = everyone
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["00100020"]["Value"][0]
                    .as_str()
                    .unwrap()
                    .starts_with(other)
            })
            .unwrap();
        let uid = theirs["0020000D"]["Value"][0].as_str().unwrap();
        let r = lab
            .req(
                Some(user),
                Method::GET,
                &format!("/dicomweb/T1/studies/{uid}/metadata"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{user} reading {other}'s study");
    }
    // The whole-trial grant sees both sites.
    let series = lab.get_json("qc", "/api/v1/trials/T1/series").await;
    assert_eq!(series["total"], 2);
}
