//! Sessions, tokens and throttling: a wrong password five times locks the account for a while
//! (429 with Retry-After), a disabled account's session and token stop working at once, logout
//! ends the session, and every login and failure is in the audit trail.

mod common;

use common::{Lab, PASSWORD};
use corelab_server::http::auth;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failed_logins_lock_the_account_and_disabling_ends_its_access() {
    let lab = Lab::start(false).await;
    let login = |user: &'static str, pw: &'static str| {
        lab.client
            .post(format!("{}/api/v1/login", lab.base))
            .json(&json!({"username": user, "password": pw}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(login("qc", "wrong password!").await.unwrap().status(), 401);
    }
    // Locked: even the right password is refused for now.
    let r = login("qc", PASSWORD).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    assert!(
        problem["detail"].as_str().unwrap().contains("locked"),
        "{problem}"
    );
    // An unknown user is refused like a wrong password.
    assert_eq!(login("nobody", PASSWORD).await.unwrap().status(), 401);

    // A token, then disabling: the session and the token stop working.
    let secret = auth::new_secret().unwrap();
    lab.store
        .add_api_token(
            "test",
            "sponsor",
            "script",
            &auth::secret_digest(&secret),
            None,
        )
        .await
        .unwrap();
    let with_token = lab
        .client
        .get(format!("{}/api/v1/me", lab.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
    lab.store
        .set_disabled("test", "sponsor", true)
        .await
        .unwrap();
    for t in [secret.as_str(), lab.tokens["sponsor"].as_str()] {
        let r = lab
            .client
            .get(format!("{}/api/v1/me", lab.base))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(login("sponsor", PASSWORD).await.unwrap().status(), 401);

    // Logout ends the session; the cookie works the same as the bearer token.
    let s = lab.login("auditor", PASSWORD).await;
    let me = lab
        .client
        .get(format!("{}/api/v1/me", lab.base))
        .header("cookie", format!("corelab_session={s}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let out = lab
        .client
        .post(format!("{}/api/v1/logout", lab.base))
        .header("cookie", format!("corelab_session={s}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = lab
        .client
        .get(format!("{}/api/v1/me", lab.base))
        .header("cookie", format!("corelab_session={s}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    let events = lab.store.audit_events(None, None).await.unwrap();
    let count = |a: &str| events.iter().filter(|e| e.action == a).count();
    assert_eq!(count("user.login_failed"), 7);
    assert!(count("user.login") >= 10);
    assert_eq!(count("user.disable"), 1);
    assert_eq!(count("user.logout"), 1);
    assert!(lab.store.verify_audit().await.unwrap().ok);
    // Errors are problem+json.
    let r = lab
        .req(Some("qc2"), Method::GET, "/api/v1/trials/T1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_routes() {
    let lab = Lab::start(false).await;
    let r = lab
        .client
        .get(format!("{}/api/v1/openapi.json", lab.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/login",
        "/api/v1/trials/{trial}/series",
        "/api/v1/audit/events",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_a_trial_and_reads_status_algorithms_and_quarantine() {
    let lab = Lab::start(false).await;
    let toml = "[trial]\nid = \"T3\"\nsponsor = \"S\"\nprotocol = \"P3\"\nphase = \"II\"\n\n[[sites]]\nid = \"S09\"\nname = \"Nine\"\n";
    let r = lab
        .req(Some("admin"), Method::POST, "/api/v1/trials")
        .header("content-type", "application/toml")
        .body(toml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t = lab.get_json("admin", "/api/v1/trials/T3").await;
    assert_eq!(t["trial"]["sites"], 1);
    // Again: a conflict; a broken file: 400 naming the line.
    let again = lab
        .req(Some("admin"), Method::POST, "/api/v1/trials")
        .body(toml)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let bad = lab
        .req(Some("admin"), Method::POST, "/api/v1/trials")
        .body("[trial]\nid = \"T4\"\nsponsr = \"S\"\n")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let problem: serde_json::Value = bad.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("sponsr"),
        "{problem}"
    );
    let status = lab.get_json("auditor", "/api/v1/status").await;
    assert_eq!(status["instances"], 6);
    assert_eq!(status["trials"].as_array().unwrap().len(), 3);
    let algos = lab.get_json("reader", "/api/v1/algorithms").await;
    assert!(
        algos
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "neuro.tissue-seg")
    );
    let q = lab.get_json("admin", "/api/v1/quarantine?all=true").await;
    assert_eq!(q["total"], 0);
    // A job that does not exist has no provenance.
    let r = lab
        .req(
            Some("qc"),
            Method::GET,
            "/api/v1/trials/T1/jobs/1/provenance",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
