//! Hostile HTTP (issue 16, part 4), every route taken from the OpenAPI document: path traversal
//! in the UI's static files and in every id segment; SQL metacharacters, NUL, non-UTF-8 and very
//! long values in every path and query parameter of every GET route and every QIDO-RS key, on
//! SQLite and PostgreSQL; forged, expired and disabled users' credentials on the API and
//! DICOMweb; a blinded reader asking for what would unblind them on the routes the
//! authorisation matrix and `dicomweb.rs` leave out; depth bombs and lying lengths through
//! STOW-RS. Each is a 4xx with a problem body (or an answer without the blinded fields), never a
//! 5xx, never a file from outside, and the server serves on with its catalogue and audit trail
//! whole. Requests go over a raw socket, so that nothing normalises the hostile bytes first.

mod common;

use common::{Lab, stow_body};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// A client that sends the request target exactly as written.

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Why this answer is not a clean one: a 5xx, or a 4xx that is not a problem body carrying
    /// its own status.
    fn unclean(&self) -> Option<String> {
        if self.status >= 500 {
            return Some(format!("{} {}", self.status, self.text()));
        }
        if self.status >= 400 {
            let ct = self.header("content-type").unwrap_or_default();
            let problem: Option<Value> = serde_json::from_slice(&self.body).ok();
            let ok = ct == "application/problem+json"
                && problem
                    .as_ref()
                    .is_some_and(|p| p["status"] == self.status && p["detail"].is_string());
            if !ok {
                return Some(format!(
                    "{} without a problem body ({ct:?}): {}",
                    self.status,
                    self.text()
                ));
            }
        }
        None
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
}

/// `METHOD TARGET HTTP/1.1` with `headers` and `body`, to the server at `base`.
async fn send(
    base: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Answer {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(60), s.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{method} {target}: no answer in 60 s"))
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {target}: no HTTP answer: {buf:?}"));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    };
    if answer
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        answer.body = dechunk(&answer.body);
    }
    answer
}

/// `GET target` as `user` (a bearer session).
async fn get(lab: &Lab, user: &str, target: &str) -> Answer {
    let auth = format!("Bearer {}", lab.tokens[user]);
    send(
        &lab.base,
        "GET",
        target,
        &[("Authorization", auth.as_bytes())],
        b"",
    )
    .await
}

/// Each (method, path template, path parameters, query parameters) of the OpenAPI document.
struct Route {
    method: String,
    path: String,
    path_params: Vec<String>,
    query_params: Vec<String>,
}

async fn routes(lab: &Lab) -> Vec<Route> {
    let doc: Value = lab
        .client
        .get(format!("{}/api/v1/openapi.json", lab.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let of = |kind: &str| -> Vec<String> {
                params
                    .iter()
                    .filter(|p| p["in"] == kind)
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect()
            };
            out.push(Route {
                method: method.to_uppercase(),
                path: path.clone(),
                path_params: of("path"),
                query_params: of("query"),
            });
        }
    }
    assert!(
        out.len() >= 60,
        "{} routes in the OpenAPI document",
        out.len()
    );
    out
}

/// Real values for every path parameter: the first study, series and instance of site S01.
async fn defaults(lab: &Lab) -> Vec<(&'static str, String)> {
    let inst = lab
        .get_json("admin", "/dicomweb/T1/instances?limit=1")
        .await;
    let v = |tag: &str| inst[0][tag]["Value"][0].as_str().unwrap().to_owned();
    let series = v("0020000E");
    vec![
        ("trial", "T1".into()),
        ("study", v("0020000D")),
        ("series", series.clone()),
        ("uid", series),
        ("instance", v("00080018")),
        ("id", "1".into()),
        ("file", "mask.nii.gz".into()),
        ("frames", "1".into()),
        ("tag", "7FE00010".into()),
    ]
}

fn fill(path: &str, values: &[(&str, String)], hostile: Option<(&str, &str)>) -> String {
    let mut out = path.to_owned();
    for (name, v) in values {
        let v = match hostile {
            Some((h, hv)) if h == *name => hv,
            _ => v.as_str(),
        };
        out = out.replace(&format!("{{{name}}}"), v);
    }
    assert!(!out.contains('{'), "a parameter without a value in {path}");
    out
}

/// Runs `requests` (method, target) as `user`, eight at a time, with a JSON body for methods
/// that take one; the unclean answers, named.
async fn unclean(lab: &Lab, user: &str, requests: Vec<(String, String)>) -> Vec<String> {
    let auth = format!("Bearer {}", lab.tokens[user]);
    futures::stream::iter(requests)
        .map(|(method, target)| {
            let auth = auth.clone();
            async move {
                let body: &[u8] = if method == "GET" { b"" } else { b"{}" };
                let a = send(
                    &lab.base,
                    &method,
                    &target,
                    &[
                        ("Authorization", auth.as_bytes()),
                        ("Content-Type", &b"application/json"[..]),
                    ],
                    body,
                )
                .await;
                a.unclean().map(|why| format!("{method} {target}: {why}"))
            }
        })
        .buffer_unordered(8)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

// ---------------------------------------------------------------------------------------------
// 3. Path traversal.

const SENTINEL: &str = "SENTINEL-OUTSIDE-THE-UI-7c1e";

/// Request targets that try to leave the UI's folder for `secret.txt` beside it, or reach
/// `/etc/passwd`.
const TRAVERSALS: &[&str] = &[
    "/../secret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/%2e%2e/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/.%2e/secret.txt",
    "/assets/../../secret.txt",
    "/assets/..%2f..%2fsecret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/assets/app.js/../../../secret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/assets/%252e%252e%252f%252e%252e%252fsecret.txt",
    "/..%5csecret.txt",
    "/..%5Csecret.txt",
    "/assets/..%5c..%5csecret.txt",
    "/..\\secret.txt",
    "/assets\\..\\..\\secret.txt",
    "//etc/passwd",
    "///etc/passwd",
    "/%2fetc%2fpasswd",
    "/%2Fetc/passwd",
    "/etc/passwd",
    "/assets/%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/../../../../../../etc/passwd",
    "/index.html%00",
    "/index.html%00.js",
    "/%00/../secret.txt",
    "/assets/app.js%00/../../secret.txt",
    "/%00",
    "/%c0%ae%c0%ae/secret.txt",
    "/%c0%ae%c0%ae%c0%afsecret.txt",
    "/%e0%80%ae%e0%80%ae/secret.txt",
    "/....//secret.txt",
    "/..;/secret.txt",
    "/assets/./../../secret.txt",
    "/%2e/%2e%2e/secret.txt",
    "/%ff%fe/../secret.txt",
    "/C:%5cWindows%5cwin.ini",
    "/file:%2f%2f%2fetc%2fpasswd",
    "http://127.0.0.1/../secret.txt",
    "*",
];

fn leaked(a: &Answer) -> bool {
    let t = a.text();
    t.contains(SENTINEL) || t.contains("root:x:0:0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_reaches_a_file_outside_the_ui_or_answers_5xx() {
    let lab = Lab::start(false).await;
    // A built UI in root/ui, and the file it must never serve beside it.
    let root = tempfile::tempdir().unwrap();
    let ui = root.path().join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<!doctype html><title>ui</title>").unwrap();
    std::fs::write(ui.join("assets/app.js"), "console.log('ui')").unwrap();
    std::fs::write(root.path().join("secret.txt"), SENTINEL).unwrap();
    std::fs::write(
        ui.join("assets/..%2fsecret.txt"),
        "a file with an odd name, inside",
    )
    .unwrap();
    let mut servers = Vec::new();
    for dir in [Some(ui.clone()), None] {
        let mut state = corelab_server::http::AppState::new(lab.store.clone(), "test+ui").unwrap();
        state.ui_dir = dir;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        servers.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(corelab_server::http::serve(listener, state));
    }
    let (built, bare) = (&servers[0], &servers[1]);
    // The UI is served: the refusals below are not vacuous.
    for (target, want) in [("/", "<title>ui"), ("/assets/app.js", "console.log")] {
        let a = send(built, "GET", target, &[], b"").await;
        assert_eq!(a.status, 200, "{target}");
        assert!(a.text().contains(want), "{target}: {}", a.text());
    }
    let mut wrong = Vec::new();
    for base in [built, bare, &lab.base] {
        for target in TRAVERSALS {
            for method in ["GET", "HEAD"] {
                let a = send(base, method, target, &[], b"").await;
                if a.status >= 500 || leaked(&a) || (a.status == 200 && base != built) {
                    wrong.push(format!(
                        "{base} {method} {target}: {} {}",
                        a.status,
                        a.text()
                    ));
                }
            }
        }
    }

    // Every id segment of every route (API and DICOMweb, any method), as an admin: traversal
    // values are ids that do not exist, refused with a problem body.
    let segments = [
        "..",
        "..%2f..%2fsecret.txt",
        "%2e%2e",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%5c..%5csecret.txt",
        "..%255c..%255c",
        "%252e%252e%252f",
        "%2fetc%2fpasswd",
        "%00",
        "..%00",
        "%c0%ae%c0%ae",
    ];
    let values = defaults(&lab).await;
    let mut requests = Vec::new();
    for r in routes(&lab).await {
        for p in &r.path_params {
            for s in segments {
                requests.push((
                    r.method.clone(),
                    fill(&r.path, &values, Some((p.as_str(), s))),
                ));
            }
        }
        for q in &r.query_params {
            for s in segments {
                requests.push((
                    r.method.clone(),
                    format!("{}?{q}={s}", fill(&r.path, &values, None)),
                ));
            }
        }
    }
    let n = requests.len();
    wrong.extend(unclean(&lab, "admin", requests).await);
    assert!(
        wrong.is_empty(),
        "{} of {n}+ wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Unknown routes under the API are problems too, not the UI's pages.
    for target in [
        "/api/v1/nothing",
        "/api/v1/trials/T1/../../secret.txt",
        "/dicomweb/T1/nothing/here",
    ] {
        let a = get(&lab, "admin", target).await;
        assert_eq!(a.status, 404, "{target}");
        assert_eq!(a.unclean(), None, "{target}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. SQL metacharacters and other hostile values.

fn hostile_values() -> Vec<String> {
    [
        "%27%20OR%20%271%27%3D%271",
        "%27%20OR%201%3D1%20--",
        "%22%3B%20DROP%20TABLE%20instances%3B%20--",
        "x%27%29%3B%20DELETE%20FROM%20audit_events%3B%20--",
        "1%3B%20SELECT%20pg_sleep%2810%29",
        "%25",
        "_",
        "%5C",
        "a%5C%25%5C_%5C",
        "%00",
        "a%00b",
        "%FF%FE",
        "%C3%28",
        "%E2%80%AE%F0%9F%98%80",
        "*%25_%5C*%3F",
        "-",
        "99999999999999999999",
        "-9223372036854775808",
        "%0D%0AX-Injected%3A%201",
        "%7B%22%24gt%22%3A%22%22%7D",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(["A".repeat(4000), "%27".repeat(1000)])
    .collect()
}

/// The QIDO-RS keys (`docs/http-api.md`), by keyword and by tag, and the other parameters.
const QIDO_KEYS: &[&str] = &[
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "PatientID",
    "PatientName",
    "StudyID",
    "ReferringPhysicianName",
    "StudyDescription",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SOPInstanceUID",
    "SOPClassUID",
    "InstanceNumber",
    "00100020",
    "00080020",
    "0020000E",
    "includefield",
    "fuzzymatching",
    "limit",
    "offset",
];

/// What the catalogue holds, as every caller-visible list shows it.
async fn catalogue(lab: &Lab) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/trials",
        "/api/v1/trials/T1/series",
        "/api/v1/trials/T1/subjects",
        "/api/v1/users",
        "/dicomweb/T1/instances?limit=1000",
        "/dicomweb/T1/studies?includefield=all",
    ] {
        let mut v = lab.get_json("admin", path).await;
        // Users' last-login times move with every login; the rest must not.
        if path == "/api/v1/users" {
            for u in v["items"].as_array_mut().unwrap() {
                u.as_object_mut().unwrap().retain(|k, _| k == "username");
            }
        }
        out.push(v);
    }
    out
}

async fn sql_metacharacters(postgres: bool) {
    let lab = Lab::start(postgres).await;
    let before = catalogue(&lab).await;
    let values = defaults(&lab).await;
    let mut requests = Vec::new();
    for r in routes(&lab).await.into_iter().filter(|r| r.method == "GET") {
        let valid = fill(&r.path, &values, None);
        let mut query = r.query_params.clone();
        if r.path.ends_with("/rendered") {
            query.extend(["window".into(), "viewport".into()]);
        }
        if ["/studies", "/series", "/instances"]
            .iter()
            .any(|l| r.path.ends_with(l))
            && r.path_params.len() == 1
        {
            query.extend(QIDO_KEYS.iter().map(|k| (*k).to_owned()));
        }
        for v in hostile_values() {
            for p in &r.path_params {
                requests.push((
                    "GET".to_owned(),
                    fill(&r.path, &values, Some((p.as_str(), v.as_str()))),
                ));
            }
            for q in &query {
                requests.push(("GET".to_owned(), format!("{valid}?{q}={v}")));
            }
            // As a key too, and a key nobody knows.
            requests.push(("GET".to_owned(), format!("{valid}?{v}=1")));
        }
    }
    let n = requests.len();
    let wrong = unclean(&lab, "admin", requests).await;
    assert!(
        wrong.is_empty(),
        "{} of {n} unclean:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Nothing changed: the same rows, the tables all there, the audit trail whole.
    assert_eq!(catalogue(&lab).await, before);
    let status = lab.store.status().await.unwrap();
    assert_eq!(serde_json::to_value(&status).unwrap()["instances"], 6);
    let verify = lab.get_json("auditor", "/api/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(lab.store.verify_audit().await.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_in_every_get_parameter_on_sqlite() {
    sql_metacharacters(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_in_every_get_parameter_on_postgres() {
    sql_metacharacters(true).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Forged, expired and disabled users' credentials.

/// Request headers, owned.
type Headers = Vec<(&'static str, Vec<u8>)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_disabled_credentials_get_401_problems_everywhere() {
    use corelab_server::http::auth;
    let lab = Lab::start(false).await;
    let values = defaults(&lab).await;
    let study = &values[1].1;
    let targets = [
        ("GET", "/api/v1/me".to_owned()),
        ("GET", "/api/v1/trials/T1/series".to_owned()),
        ("GET", "/api/v1/trials/T1/results".to_owned()),
        ("GET", "/dicomweb/T1/studies".to_owned()),
        ("GET", format!("/dicomweb/T1/studies/{study}/metadata")),
        ("GET", format!("/dicomweb/T1/studies/{study}")),
        ("POST", "/dicomweb/T1/studies".to_owned()),
        ("POST", "/api/v1/logout".to_owned()),
    ];
    let (stow_type, stow) = stow_body(&corelab_dicom::synthetic::ct_series("MRN-77", "X^Y", 77, 1));
    let try_all = |headers: Headers, what: String| {
        let lab = &lab;
        let (targets, stow_type, stow) = (&targets, &stow_type, &stow);
        async move {
            let mut out = Vec::new();
            for (method, target) in targets {
                let mut h: Vec<(&str, &[u8])> =
                    headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                let body: &[u8] = if *method == "POST" && target.starts_with("/dicomweb") {
                    h.push(("Content-Type", stow_type.as_bytes()));
                    stow
                } else {
                    b""
                };
                let a = send(&lab.base, method, target, &h, body).await;
                if a.status != 401 || a.unclean().is_some() {
                    out.push(format!(
                        "{what}: {method} {target}: {} {}",
                        a.status,
                        a.text()
                    ));
                }
            }
            out
        }
    };
    let valid = lab.tokens["admin"].clone();
    let mut tampered = valid.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.";
    let digest = auth::secret_digest(&valid).to_hex();
    let stranger = auth::new_secret().unwrap();
    let bearer = |t: &str| vec![("Authorization", format!("Bearer {t}").into_bytes())];
    let cookie = |t: &str| vec![("Cookie", format!("corelab_session={t}").into_bytes())];
    let mut forged: Vec<(Headers, String)> = vec![
        (
            bearer(&tampered),
            "a session with one character changed".into(),
        ),
        (
            bearer(&valid[..valid.len() - 1]),
            "a session cut short".into(),
        ),
        (
            bearer(&format!("{valid}A")),
            "a session one character longer".into(),
        ),
        (
            bearer(&format!("corelab_{valid}")),
            "a session with a prefix".into(),
        ),
        (bearer(&format!("{valid} {valid}")), "two sessions".into()),
        (bearer(jwt), "an unsigned JWT".into()),
        (
            bearer(&digest),
            "the session's SHA-256, as the database keeps it".into(),
        ),
        (
            bearer(&stranger),
            "a well-formed secret of no installation here".into(),
        ),
        (bearer(""), "an empty bearer".into()),
        (bearer(&"A".repeat(8000)), "an 8 kB bearer".into()),
        (bearer("%27%20OR%20%271%27%3D%271"), "SQL as a token".into()),
        (bearer("' OR '1'='1"), "raw SQL as a token".into()),
        (
            vec![("Authorization", b"Bearer \xff\xfe\x80garbage".to_vec())],
            "a bearer that is not ASCII".into(),
        ),
        (
            vec![("Authorization", format!("Token {valid}").into_bytes())],
            "another scheme".into(),
        ),
        (
            vec![(
                "Authorization",
                b"Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5".to_vec(),
            )],
            "HTTP basic with the right password".into(),
        ),
        (cookie(&tampered), "a tampered session cookie".into()),
        (cookie(""), "an empty session cookie".into()),
        (cookie(&digest), "the digest as a cookie".into()),
        (
            vec![
                ("Authorization", format!("Bearer {tampered}").into_bytes()),
                ("Cookie", format!("corelab_session={valid}").into_bytes()),
            ],
            "a forged bearer beside a valid cookie".into(),
        ),
    ];

    // Expired: a session and an API token that ended an hour ago, made through the store's
    // own calls; a live token beside them works.
    let past = corelab_store::time::to_text(chrono::Utc::now() - chrono::Duration::hours(1));
    let qc = lab.store.credentials("qc").await.unwrap().unwrap();
    let old_session = auth::new_secret().unwrap();
    lab.store
        .start_session(
            "test",
            qc.user_id,
            &auth::secret_digest(&old_session),
            &past,
        )
        .await
        .unwrap();
    let old_token = auth::new_secret().unwrap();
    lab.store
        .add_api_token(
            "test",
            "qc",
            "old",
            &auth::secret_digest(&old_token),
            Some(past.as_str()),
        )
        .await
        .unwrap();
    let live_token = auth::new_secret().unwrap();
    lab.store
        .add_api_token(
            "test",
            "qc",
            "live",
            &auth::secret_digest(&live_token),
            None,
        )
        .await
        .unwrap();
    let a = send(
        &lab.base,
        "GET",
        "/dicomweb/T1/studies",
        &[("Authorization", format!("Bearer {live_token}").as_bytes())],
        b"",
    )
    .await;
    assert_eq!(a.status, 200, "a live token: {}", a.text());
    forged.push((bearer(&old_session), "an expired session".into()));
    forged.push((cookie(&old_session), "an expired session cookie".into()));
    forged.push((bearer(&old_token), "an expired API token".into()));

    // A disabled user's session and token: they work, then the user is disabled.
    let leaver = corelab_store::NewUser {
        username: "leaver",
        display_name: "Leaves the trial",
        password_hash: &auth::hash_password(common::PASSWORD).unwrap(),
        grants: &[corelab_core::Grant::parse("admin").unwrap()],
    };
    lab.store.add_user("test", &leaver).await.unwrap();
    let session = lab.login("leaver", common::PASSWORD).await;
    let token = auth::new_secret().unwrap();
    lab.store
        .add_api_token(
            "test",
            "leaver",
            "script",
            &auth::secret_digest(&token),
            None,
        )
        .await
        .unwrap();
    for t in [&session, &token] {
        let a = send(
            &lab.base,
            "GET",
            "/dicomweb/T1/studies",
            &[("Authorization", format!("Bearer {t}").as_bytes())],
            b"",
        )
        .await;
        assert_eq!(a.status, 200, "before disabling: {}", a.text());
    }
    lab.store
        .set_disabled("test", "leaver", true)
        .await
        .unwrap();
    forged.push((bearer(&session), "a disabled user's session".into()));
    forged.push((cookie(&session), "a disabled user's session cookie".into()));
    forged.push((bearer(&token), "a disabled user's API token".into()));

    let mut wrong = Vec::new();
    let n = forged.len();
    for (headers, what) in forged {
        wrong.extend(try_all(headers, what).await);
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(n >= 25);
    // Nothing was stored by the refused STOW-RS requests, no export was recorded, and the
    // admin's own session still works.
    let studies = lab.get_json("admin", "/dicomweb/T1/studies").await;
    assert_eq!(studies.as_array().unwrap().len(), 2);
    let events = lab.store.audit_events(None, None).await.unwrap();
    assert!(!events.iter().any(|e| e.action == "results.export"));
    assert!(lab.store.verify_audit().await.unwrap().ok);
}

// ---------------------------------------------------------------------------------------------
// 6. A blinded reader asking for what would unblind them.

/// Every key at any depth of a DICOM JSON answer whose VR is a date or time, or that names the
/// site, institution or its people.
fn unblinding(v: &Value, found: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, e) in o {
                let vr = e.get("vr").and_then(Value::as_str).unwrap_or_default();
                if matches!(vr, "DA" | "DT" | "TM")
                    || corelab_server::http::dicomweb::blind::SITE_TAGS.contains(&k.as_str())
                {
                    found.push(format!("{k} ({vr})"));
                }
                unblinding(e, found);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| unblinding(x, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_gets_nothing_that_unblinds_on_the_routes_the_matrix_leaves_out() {
    let lab = Lab::start(false).await;
    let values = defaults(&lab).await;
    let (study, series, instance) = (&values[1].1, &values[2].1, &values[4].1);
    let at = format!("/dicomweb/T1/studies/{study}/series/{series}/instances/{instance}");
    let mut wrong = Vec::new();

    // Bulk data of any element but pixel data and large binary values: the dates and the site
    // are elements too. The admin gets the study date (the test is not vacuous); the reader
    // gets 403 for every date, time and site attribute, and the pixels still.
    let admin = get(&lab, "admin", &format!("{at}/bulk/00080020")).await;
    assert_eq!(admin.status, 200, "{}", admin.text());
    for tag in [
        "00080020", "00080021", "00080022", "00080023", "00080030", "00080031", "00080012",
        "00080013", "0008002A", "00100030", "00080080", "00080081", "00080050", "00080090",
        "00081010", "00120030", "00120031", "00181000", "00321032", "00400244", "00400245",
    ] {
        let a = get(&lab, "reader", &format!("{at}/bulk/{tag}")).await;
        if a.status != 403 || a.unclean().is_some() {
            wrong.push(format!("bulk/{tag}: {} {}", a.status, a.text()));
        }
    }
    let pixels = get(&lab, "reader", &format!("{at}/bulk/7FE00010")).await;
    assert_eq!(pixels.status, 200, "{}", pixels.text());

    // QIDO-RS asking for dates and sites by includefield, at every level: the answers are
    // blinded all the same.
    let include = "includefield=all&includefield=StudyDate,00080021,SeriesTime,AcquisitionDateTime,\
                   InstitutionName,00080080,StationName,AccessionNumber,PatientBirthDate";
    let mut answers = Vec::new();
    for path in [
        format!("/dicomweb/T1/studies?{include}"),
        format!("/dicomweb/T1/series?{include}"),
        format!("/dicomweb/T1/instances?{include}"),
        format!("/dicomweb/T1/studies/{study}/series?{include}"),
        format!("/dicomweb/T1/studies/{study}/instances?{include}"),
        format!("/dicomweb/T1/studies/{study}/series/{series}/instances?{include}"),
        format!("/dicomweb/T1/studies/{study}/series/{series}/metadata"),
        format!("{at}/metadata"),
    ] {
        let admin = lab.get_json("admin", &path).await;
        let mut in_admin = Vec::new();
        unblinding(&admin, &mut in_admin);
        assert!(!in_admin.is_empty(), "{path}: the admin's answer has dates");
        let v = lab.get_json("reader", &path).await;
        let mut found = Vec::new();
        unblinding(&v, &mut found);
        if !found.is_empty() {
            wrong.push(format!("{path}: a reader received {found:?}"));
        }
        answers.push(v);
    }
    // Searching by an attribute that names the site would tell it: refused like dates.
    for q in [
        "AccessionNumber=*",
        "ReferringPhysicianName=*",
        "00080050=A*",
        "00080090=Dr*",
        "StudyDate=-",
        "StudyTime=0000-2359",
    ] {
        let a = get(&lab, "reader", &format!("/dicomweb/T1/studies?{q}")).await;
        if a.status != 403 || a.unclean().is_some() {
            wrong.push(format!("QIDO {q}: {} {}", a.status, a.text()));
        }
    }

    // Whole series (they carry dates), the endpoint dataset in every format, the audit trail
    // with filters, other readers' reads, the catalogue of subjects and sites: 403.
    for path in [
        format!("/dicomweb/T1/studies/{study}/series/{series}"),
        "/api/v1/trials/T1/results".to_owned(),
        "/api/v1/trials/T1/results?format=csv".to_owned(),
        "/api/v1/trials/T1/results?format=json".to_owned(),
        "/api/v1/trials/T1/results?format=parquet".to_owned(),
        "/api/v1/trials/T2/results".to_owned(),
        "/api/v1/audit/events?object_type=subject".to_owned(),
        "/api/v1/audit/events?text=S01&newest_first=true".to_owned(),
        "/api/v1/audit/events?action=subject.reveal".to_owned(),
        "/api/v1/trials/T1/reads".to_owned(),
        "/api/v1/trials/T1/reads/stats".to_owned(),
        "/api/v1/trials/T1/subjects?limit=1000".to_owned(),
        "/api/v1/trials/T1/sites".to_owned(),
        format!("/api/v1/trials/T1/series/{series}"),
        "/api/v1/trials/T1/dashboard".to_owned(),
        "/api/v1/trials/T1/qc".to_owned(),
        "/api/v1/trials/T1/measurements".to_owned(),
        "/api/v1/quarantine?all=true".to_owned(),
        "/api/v1/status".to_owned(),
    ] {
        let a = get(&lab, "reader", &path).await;
        if a.status != 403 || a.unclean().is_some() {
            wrong.push(format!("{path}: {} {}", a.status, a.text()));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Nothing the reader tried was recorded as an export.
    let events = lab.store.audit_events(None, None).await.unwrap();
    assert!(!events.iter().any(|e| e.action == "results.export"));
    for a in &answers {
        assert!(!a.to_string().contains("Hospital"), "{a}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Depth bombs and lying lengths through STOW-RS.

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// An element header with a 4-byte length, or an item (`vr` None), little or big endian.
fn head(out: &mut Vec<u8>, big: bool, tag: (u16, u16), vr: Option<&[u8; 2]>, len: u32) {
    let (g, e, l) = if big {
        (tag.0.to_be_bytes(), tag.1.to_be_bytes(), len.to_be_bytes())
    } else {
        (tag.0.to_le_bytes(), tag.1.to_le_bytes(), len.to_le_bytes())
    };
    out.extend(g);
    out.extend(e);
    if let Some(vr) = vr {
        out.extend(vr);
        out.extend([0, 0]);
    }
    out.extend(l);
}

fn depth_bomb(big: bool, depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..depth {
        head(&mut out, big, (0xFFFA, 0xFFFA), Some(b"SQ"), UNDEFINED);
        head(&mut out, big, (0xFFFE, 0xE000), None, UNDEFINED);
    }
    for _ in 0..depth {
        head(&mut out, big, (0xFFFE, 0xE00D), None, 0);
        head(&mut out, big, (0xFFFE, 0xE0DD), None, 0);
    }
    out
}

/// A synthetic CT instance as (Part 10 in `ts`, bare data set in `ts`), with `tail` appended to
/// the data set.
fn ct_with(ts: &str, n: u32, tail: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use dicom_transfer_syntax_registry::TransferSyntaxIndex;
    let bytes =
        corelab_dicom::synthetic::ct_series(&format!("MRN-B{n}"), "Bomb^B", 50 + n, 1).remove(0);
    let obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(&bytes[128..])
        .unwrap();
    let syntax = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(ts)
        .unwrap();
    let mut dataset = Vec::new();
    obj.write_dataset_with_ts(&mut dataset, syntax).unwrap();
    dataset.extend_from_slice(tail);
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(obj.meta().media_storage_sop_class_uid())
        .media_storage_sop_instance_uid(obj.meta().media_storage_sop_instance_uid())
        .transfer_syntax(ts)
        .build()
        .unwrap();
    let mut part10 = vec![0u8; 128];
    part10.extend_from_slice(b"DICM");
    meta.write(&mut part10).unwrap();
    part10.extend_from_slice(&dataset);
    (part10, dataset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stow_depth_bombs_and_lying_lengths_are_refused_by_name_and_nothing_is_stored() {
    let lab = Lab::start(false).await;
    let before = catalogue(&lab).await;
    let mut lying = Vec::new();
    head(
        &mut lying,
        false,
        (0x7FE1, 0x1010),
        Some(b"OB"),
        0xFFFF_FFF0,
    );
    lying.extend([0xAB; 64]);
    let mut lying_be = Vec::new();
    head(
        &mut lying_be,
        true,
        (0x7FE1, 0x1010),
        Some(b"OB"),
        0xFFFF_FFF0,
    );
    lying_be.extend([0xAB; 64]);
    let (le, be) = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2");
    let mut n = 0;
    let mut wrong = Vec::new();
    for (ts, tail, names, what) in [
        (le, depth_bomb(false, 20_000), "nested", "a depth bomb"),
        (
            be,
            depth_bomb(true, 20_000),
            "nested",
            "a big-endian depth bomb",
        ),
        (
            le,
            lying.clone(),
            "(7FE1,1010)",
            "an element declaring 4 GB",
        ),
        (
            be,
            lying_be.clone(),
            "(7FE1,1010)",
            "a big-endian element declaring 4 GB",
        ),
    ] {
        n += 1;
        let (part10, bare) = ct_with(ts, n, &tail);
        for (body, form) in [(part10, "Part 10"), (bare, "bare data set")] {
            let (ct, body) = stow_body(&[body]);
            let auth = format!("Bearer {}", lab.tokens["site1"]);
            let started = std::time::Instant::now();
            let a = send(
                &lab.base,
                "POST",
                "/dicomweb/T1/studies",
                &[
                    ("Authorization", auth.as_bytes()),
                    ("Content-Type", ct.as_bytes()),
                    ("Accept", &b"application/dicom+json"[..]),
                ],
                &body,
            )
            .await;
            let warning = a.header("warning").unwrap_or_default().to_owned();
            if a.status != 409 || !warning.contains(names) {
                wrong.push(format!(
                    "{what} ({form}, {ts}): {} {warning} {}",
                    a.status,
                    a.text()
                ));
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{what}"
            );
            // Still serving.
            lab.get_json("admin", "/api/v1/me").await;
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(catalogue(&lab).await, before, "nothing stored");
    assert!(lab.store.verify_audit().await.unwrap().ok);
}
