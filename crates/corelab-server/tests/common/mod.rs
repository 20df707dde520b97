//! A lab for the HTTP tests: an installation with two trials (T1 with sites S01 and S02, T2 with
//! S01), a user per role, synthetic CT studies sent to both sites of T1, and `corelab serve`'s
//! HTTP application listening on a free loopback port.

#![allow(dead_code)]

use bytes::Bytes;
use corelab_core::{Grant, TrialFile};
use corelab_ingest::{Ingestor, Source};
use corelab_server::http::{AppState, auth};
use corelab_store::{NewUser, Overrides, Store};
use corelab_testkit::PgDb;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const T1: &str = r#"
[trial]
id = "T1"
sponsor = "Example Pharma"
protocol = "EXP-1"
phase = "II"

[[sites]]
id = "S01"
name = "University Hospital A"

[[sites]]
id = "S02"
name = "University Hospital B"

[deid]
options = ["retain-long-modified-dates"]
subject_id = "{site}-{seq:3}"
"#;

pub const T2: &str = r#"
[trial]
id = "T2"
sponsor = "Other Pharma"
protocol = "EXP-2"
phase = "III"

[[sites]]
id = "S01"
name = "University Hospital A"
"#;

/// The password every test user has.
pub const PASSWORD: &str = "correct horse battery";

/// Users and their grants.
pub const USERS: &[(&str, &[&str])] = &[
    ("admin", &["admin"]),
    ("site1", &["site@T1/S01"]),
    ("site2", &["site@T1/S02"]),
    ("qc", &["qc@T1"]),
    ("qc2", &["qc@T2"]),
    ("reader", &["reader@T1"]),
    ("adjudicator", &["adjudicator@T1"]),
    ("sponsor", &["sponsor@T1"]),
    ("auditor", &["auditor"]),
];

pub struct Lab {
    pub store: Arc<Store>,
    pub base: String,
    pub client: reqwest::Client,
    /// Each user's session secret (sent as a bearer token).
    pub tokens: BTreeMap<String, String>,
    pub _dir: tempfile::TempDir,
    pub _pg: Option<PgDb>,
}

impl Lab {
    pub async fn start(postgres: bool) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let pg = if postgres {
            Some(PgDb::create().await)
        } else {
            None
        };
        let over = Overrides {
            database: pg.as_ref().map(|p| p.url.clone()),
            ..Default::default()
        };
        let store = Store::init(&dir.path().join("lab"), &over, "test:init")
            .await
            .unwrap();
        for t in [T1, T2] {
            store
                .create_trial("test", &TrialFile::parse(t).unwrap(), t)
                .await
                .unwrap();
        }
        let hash = auth::hash_password(PASSWORD).unwrap();
        for (name, grants) in USERS {
            let grants: Vec<Grant> = grants.iter().map(|g| Grant::parse(g).unwrap()).collect();
            store
                .add_user(
                    "test",
                    &NewUser {
                        username: name,
                        display_name: &format!("{name} (test)"),
                        password_hash: &hash,
                        grants: &grants,
                    },
                )
                .await
                .unwrap();
        }
        let store = Arc::new(store);
        let ingestor = Ingestor::new(store.clone(), "test:ingest");
        for (site, patient, study) in [("S01", "MRN-101", 1), ("S02", "MRN-202", 2)] {
            let source = Source {
                trial: "T1".into(),
                site: site.into(),
                origin: format!("test:{site}"),
                subject: None,
            };
            for bytes in corelab_dicom::synthetic::ct_series(patient, "Doe^Jane", study, 3) {
                let out = ingestor.ingest(&source, Bytes::from(bytes)).await.unwrap();
                assert!(out.is_stored(), "{out:?}");
            }
        }
        let state = AppState::new(store.clone(), "test+http").unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(corelab_server::http::serve(listener, state));
        let client = reqwest::Client::new();
        let mut lab = Lab {
            store,
            base,
            client,
            tokens: BTreeMap::new(),
            _dir: dir,
            _pg: pg,
        };
        for (name, _) in USERS {
            let token = lab.login(name, PASSWORD).await;
            lab.tokens.insert((*name).to_owned(), token);
        }
        lab
    }

    /// Logs in; returns the session secret.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let r = self
            .client
            .post(format!("{}/api/v1/login", self.base))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login of {user}");
        let cookie = r
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite"),
            "{cookie}"
        );
        let v: serde_json::Value = r.json().await.unwrap();
        v["session"].as_str().unwrap().to_owned()
    }

    /// A request as `user` (None: anonymous).
    pub fn req(
        &self,
        user: Option<&str>,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let b = self.client.request(method, format!("{}{path}", self.base));
        match user {
            Some(u) => b.bearer_auth(&self.tokens[u]),
            None => b,
        }
    }

    pub async fn get_json(&self, user: &str, path: &str) -> serde_json::Value {
        let r = self
            .req(Some(user), reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "GET {path} as {user}: {}",
            r.status()
        );
        r.json().await.unwrap()
    }
}

/// A STOW-RS body of Part 10 objects.
pub fn stow_body(objects: &[Vec<u8>]) -> (String, Vec<u8>) {
    let boundary = "test-boundary-7d3f";
    let mut body = Vec::new();
    for o in objects {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(o);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        body,
    )
}
