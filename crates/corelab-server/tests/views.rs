//! What the web UI's pages read: a trial's dashboard, one series with its QC, a series as NIfTI,
//! each filtered by site and refused by role as the rest of the API is; and the UI's files served
//! under `/` with their security headers, or a page saying how to build them.

mod common;

use common::Lab;
use corelab_server::http::AppState;
use reqwest::Method;
use serde_json::Value;

async fn status(lab: &Lab, user: &str, path: &str) -> u16 {
    lab.req(Some(user), Method::GET, path)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_series_and_volumes_follow_role_and_site() {
    let lab = Lab::start(false).await;
    let d = lab.get_json("admin", "/api/v1/trials/T1/dashboard").await;
    assert_eq!(d["subjects"].as_array().unwrap().len(), 2, "{d:#}");
    assert_eq!(d["sites"].as_array().unwrap().len(), 2);
    assert_eq!(d["evaluated"], false);
    assert!(d["jobs"].is_object(), "admin sees jobs: {d:#}");
    let s = lab.get_json("site1", "/api/v1/trials/T1/dashboard").await;
    let sites: Vec<&str> = s["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["site"].as_str().unwrap())
        .collect();
    assert_eq!(sites, ["S01"]);
    assert_eq!(s["sites"].as_array().unwrap().len(), 1);
    assert!(s["jobs"].is_null(), "a site sees no jobs: {s:#}");

    let series = lab.get_json("admin", "/api/v1/trials/T1/series").await;
    let of = |site: &str| -> String {
        series["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["site"] == site)
            .unwrap()["series_instance_uid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (s01, s02) = (of("S01"), of("S02"));
    let detail = lab
        .get_json("qc", &format!("/api/v1/trials/T1/series/{s01}"))
        .await;
    assert_eq!(detail["series"]["site"], "S01");
    assert_eq!(detail["may_decide"], true);
    assert!(detail["jobs"].is_array());
    let sponsor: Value = lab
        .get_json("sponsor", &format!("/api/v1/trials/T1/series/{s01}"))
        .await;
    assert_eq!(sponsor["may_decide"], false);
    assert_eq!(
        status(&lab, "site1", &format!("/api/v1/trials/T1/series/{s02}")).await,
        404,
        "another site's series is as absent as a missing one"
    );

    let volume = format!("/api/v1/trials/T1/series/{s01}/volume.nii.gz");
    let r = lab
        .req(Some("reader"), Method::GET, &volume)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/gzip");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
    assert!(bytes.len() > 348);
    assert_eq!(status(&lab, "sponsor", &volume).await, 403);
    assert_eq!(status(&lab, "site2", &volume).await, 404);
    assert_eq!(status(&lab, "site1", &volume).await, 200);
    assert_eq!(
        status(
            &lab,
            "admin",
            "/api/v1/trials/T1/jobs/99/images/mask.nii.gz"
        )
        .await,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_served_with_its_headers_or_says_how_to_build_it() {
    let lab = Lab::start(false).await;
    let ui = tempfile::tempdir().unwrap();
    std::fs::write(ui.path().join("index.html"), "<!doctype html><p>corelab ui").unwrap();
    std::fs::write(ui.path().join("app.js"), "console.log(1)").unwrap();
    for (dir, code) in [(Some(ui.path().to_owned()), 200), (None, 503)] {
        let mut state = AppState::new(lab.store.clone(), "test+http").unwrap();
        state.ui_dir = dir;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(corelab_server::http::serve(listener, state));
        let r = reqwest::get(format!("{base}/")).await.unwrap();
        assert_eq!(r.status(), code);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body = r.text().await.unwrap();
        if code == 200 {
            assert!(body.contains("corelab ui"));
            let js = reqwest::get(format!("{base}/app.js")).await.unwrap();
            assert_eq!(js.status(), 200);
            assert!(
                js.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .contains("javascript")
            );
            for bad in [
                "/nope.js",
                "/..%2f..%2fetc%2fpasswd",
                "/%2e%2e/%2e%2e/etc/passwd",
            ] {
                let r = reqwest::get(format!("{base}{bad}")).await.unwrap();
                assert!(
                    matches!(r.status().as_u16(), 400 | 404),
                    "{bad}: {}",
                    r.status()
                );
            }
        } else {
            assert!(body.contains("npm ci"), "{body}");
        }
        // The API is not shadowed by the UI's files.
        let r = reqwest::get(format!("{base}/api/v1/me")).await.unwrap();
        assert_eq!(r.status(), 401);
    }
}
