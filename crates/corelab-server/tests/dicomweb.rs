//! DICOMweb on SQLite and PostgreSQL: STOW-RS through the ingest pipeline (stored, duplicate,
//! refused), QIDO-RS matching and paging from the index, WADO-RS metadata, frames and instances,
//! and a blinded reader's answers, every one of which is scanned for dates and sites.

mod common;

use common::{Lab, stow_body};
use reqwest::Method;
use serde_json::Value;

fn uid(v: &Value, tag: &str) -> String {
    v[tag]["Value"][0].as_str().unwrap_or_default().to_owned()
}

async fn stow_query_retrieve(postgres: bool) {
    let lab = Lab::start(postgres).await;
    // STOW-RS as site1: two new instances of a new patient, one not DICOM.
    let objects = corelab_dicom::synthetic::ct_series("MRN-303", "Roe^Richard", 3, 2);
    let mut parts = objects.clone();
    parts.push(b"not a DICOM object".to_vec());
    let (ct, body) = stow_body(&parts);
    let r = lab
        .req(Some("site1"), Method::POST, "/dicomweb/T1/studies")
        .header("content-type", &ct)
        .header("accept", "application/dicom+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "some stored, one failed");
    assert!(r.headers().get("warning").is_some());
    let v: Value = r.json().await.unwrap();
    let stored = v["00081199"]["Value"].as_array().unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(v["00081198"]["Value"].as_array().unwrap().len(), 1);
    let url = stored[0]["00081190"]["Value"][0].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/dicomweb/T1/studies/", lab.base)),
        "{url}"
    );
    // De-identified on the way in: the UIDs are not the ones sent.
    assert_ne!(uid(&stored[0], "00081155"), "");
    // Sending again is acknowledged (duplicates), nothing stored twice.
    let (ct, body) = stow_body(&objects);
    let again = lab
        .req(Some("site1"), Method::POST, "/dicomweb/T1/studies")
        .header("content-type", &ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let studies = lab.get_json("admin", "/dicomweb/T1/studies").await;
    assert_eq!(studies.as_array().unwrap().len(), 3);
    // The new patient is filed at site1's site as a trial subject.
    let mine = lab
        .get_json("admin", "/dicomweb/T1/studies?PatientID=S01-*")
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");
    let one = &mine[0];
    assert_eq!(one["00201208"]["Value"][0], 3);
    assert_eq!(one["00080061"]["Value"][0], "CT");
    // Paging.
    let page = lab
        .get_json("admin", "/dicomweb/T1/studies?limit=1&offset=1")
        .await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(
        uid(&page[0], "0020000D"),
        uid(&studies[1], "0020000D"),
        "offset 1 is the second study"
    );
    // Fuzzy person names, date ranges, modality, includefield from the index.
    let fuzzy = lab
        .get_json(
            "admin",
            "/dicomweb/T1/studies?PatientName=s01&fuzzymatching=true",
        )
        .await;
    assert_eq!(fuzzy.as_array().unwrap().len(), 2, "{fuzzy}");
    let date = uid(&studies[0], "00080020");
    assert_eq!(date.len(), 8, "{}", studies[0]);
    let by_date = lab
        .get_json(
            "admin",
            &format!("/dicomweb/T1/studies?StudyDate={date}-{date}"),
        )
        .await;
    assert!(
        by_date
            .as_array()
            .unwrap()
            .iter()
            .any(|s| uid(s, "00080020") == date)
    );
    let none = lab
        .get_json("admin", "/dicomweb/T1/studies?ModalitiesInStudy=MR")
        .await;
    assert!(none.as_array().unwrap().is_empty());
    let study = uid(&studies[0], "0020000D");
    let series = lab
        .get_json(
            "admin",
            &format!("/dicomweb/T1/studies/{study}/series?includefield=SliceThickness"),
        )
        .await;
    assert_eq!(series.as_array().unwrap().len(), 1);
    assert_eq!(series[0]["00180050"]["Value"][0], 5);
    let series_uid = uid(&series[0], "0020000E");
    let instances = lab
        .get_json(
            "admin",
            &format!("/dicomweb/T1/studies/{study}/series/{series_uid}/instances"),
        )
        .await;
    assert_eq!(instances.as_array().unwrap().len(), 3);
    assert_eq!(
        instances[0]["00280010"]["Value"][0], 64,
        "Rows from the index"
    );
    let sop = uid(&instances[0], "00080018");

    // WADO-RS metadata: bulk data by absolute URI; the frame it names is the pixels.
    let meta = lab
        .get_json(
            "admin",
            &format!("/dicomweb/T1/studies/{study}/series/{series_uid}/instances/{sop}/metadata"),
        )
        .await;
    let bulk = meta[0]["7FE00010"]["BulkDataURI"].as_str().unwrap();
    assert!(bulk.starts_with(&lab.base), "{bulk}");
    let frame = lab
        .req(
            Some("admin"),
            Method::GET,
            &format!("/dicomweb/T1/studies/{study}/series/{series_uid}/instances/{sop}/frames/1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(frame.status(), 200);
    let ct = frame.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("multipart/related"), "{ct}");
    let body = frame.bytes().await.unwrap();
    assert!(
        body.len() > 64 * 64 * 2,
        "one 64×64 16-bit frame and the part headers"
    );
    // The whole instance, as stored.
    let inst = lab
        .req(
            Some("admin"),
            Method::GET,
            &format!("/dicomweb/T1/studies/{study}/series/{series_uid}/instances/{sop}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(inst.status(), 200);
    let body = inst.bytes().await.unwrap();
    assert!(body.windows(4).any(|w| w == b"DICM"));
    // Rendered: PNG when asked for, 64×64; JPEG by default; a window of one's own; scaled down.
    let at = format!("/dicomweb/T1/studies/{study}/series/{series_uid}/instances/{sop}");
    let png = lab
        .req(
            Some("admin"),
            Method::GET,
            &format!("{at}/rendered?window=40,400"),
        )
        .header("accept", "image/png")
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    let b = png.bytes().await.unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
    let dims = |b: &[u8]| {
        (
            u32::from_be_bytes(b[16..20].try_into().unwrap()),
            u32::from_be_bytes(b[20..24].try_into().unwrap()),
        )
    };
    assert_eq!(dims(&b), (64, 64));
    let small = lab
        .req(
            Some("admin"),
            Method::GET,
            &format!("{at}/frames/1/rendered?viewport=32,32"),
        )
        .header("accept", "image/png")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(dims(&small), (32, 32));
    let jpeg = lab
        .req(Some("admin"), Method::GET, &format!("{at}/rendered"))
        .send()
        .await
        .unwrap();
    assert_eq!(jpeg.headers()["content-type"], "image/jpeg");
    assert_eq!(&jpeg.bytes().await.unwrap()[..2], b"\xff\xd8");
    let r = lab
        .req(
            Some("admin"),
            Method::GET,
            &format!("{at}/rendered?window=40,-1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A frame that is not there.
    let r = lab
        .req(
            Some("admin"),
            Method::GET,
            &format!("/dicomweb/T1/studies/{study}/series/{series_uid}/instances/{sop}/frames/2"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stow_qido_wado_on_sqlite() {
    stow_query_retrieve(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stow_qido_wado_on_postgres() {
    stow_query_retrieve(true).await;
}

/// Every key at any depth of a DICOM JSON answer whose VR is a date or time, or that names a site.
fn unblinding(v: &Value, found: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, e) in o {
                let vr = e.get("vr").and_then(Value::as_str).unwrap_or_default();
                if matches!(vr, "DA" | "DT" | "TM")
                    || ["00080080", "00120030", "00120031", "00080090"].contains(&k.as_str())
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
async fn a_readers_answers_carry_no_date_and_no_site() {
    let lab = Lab::start(false).await;
    // What the admin sees has dates and the site: the blinding below is not vacuous.
    let admin = lab.get_json("admin", "/dicomweb/T1/studies").await;
    let mut seen = Vec::new();
    unblinding(&admin, &mut seen);
    assert!(!seen.is_empty());

    let studies = lab.get_json("reader", "/dicomweb/T1/studies").await;
    assert_eq!(studies.as_array().unwrap().len(), 2);
    let mut answers = vec![studies.clone()];
    for s in studies.as_array().unwrap() {
        let study = uid(s, "0020000D");
        answers.push(
            lab.get_json("reader", &format!("/dicomweb/T1/studies/{study}/series"))
                .await,
        );
        answers.push(
            lab.get_json("reader", &format!("/dicomweb/T1/studies/{study}/instances"))
                .await,
        );
        let meta = lab
            .get_json("reader", &format!("/dicomweb/T1/studies/{study}/metadata"))
            .await;
        assert!(meta[0].get("00100020").is_some(), "the pseudonym stays");
        let admin_meta = lab
            .get_json("admin", &format!("/dicomweb/T1/studies/{study}/metadata"))
            .await;
        let mut in_admin = Vec::new();
        unblinding(&admin_meta, &mut in_admin);
        assert!(!in_admin.is_empty(), "the stored metadata has dates");
        answers.push(meta);
        // Whole instances carry dates: refused.
        let r = lab
            .req(
                Some("reader"),
                Method::GET,
                &format!("/dicomweb/T1/studies/{study}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    for a in &answers {
        let mut found = Vec::new();
        unblinding(a, &mut found);
        assert!(found.is_empty(), "a reader received {found:?}");
        let text = a.to_string();
        assert!(!text.contains("Hospital"), "{text}");
    }
    // Searching by date would tell the dates: refused.
    for q in ["StudyDate=20260101-", "00080030=0930"] {
        let r = lab
            .req(
                Some("reader"),
                Method::GET,
                &format!("/dicomweb/T1/studies?{q}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_queries_and_bodies_get_clean_refusals() {
    let lab = Lab::start(false).await;
    // SQL metacharacters are values, bound, never SQL: they match nothing.
    for q in [
        "PatientID=%27%20OR%201%3D1%20--",
        "PatientID=%25",
        "StudyDescription=%22%3B%20DROP%20TABLE%20studies%3B%20--",
        "PatientName=x%27)%20OR%20(%271%27%3D%271&fuzzymatching=true",
    ] {
        let v = lab
            .get_json("admin", &format!("/dicomweb/T1/studies?{q}"))
            .await;
        assert_eq!(v, serde_json::json!([]), "{q}");
    }
    // The catalogue is still whole.
    let all = lab.get_json("admin", "/dicomweb/T1/studies").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    // Not multipart, or parts that are not DICOM, or a bad limit: refused with a problem.
    let r = lab
        .req(Some("admin"), Method::POST, "/dicomweb/T1/studies")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = lab
        .req(Some("admin"), Method::POST, "/dicomweb/T1/studies")
        .header(
            "content-type",
            "multipart/related; type=\"application/dicom+json\"; boundary=x",
        )
        .body("--x--")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = lab
        .req(
            Some("admin"),
            Method::GET,
            "/dicomweb/T1/studies?limit=many",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("limit"),
        "{problem}"
    );
    // A truncated multipart body: refused, nothing stored.
    let (ct, body) = stow_body(&corelab_dicom::synthetic::ct_series("MRN-9", "X^Y", 9, 1));
    let r = lab
        .req(Some("site1"), Method::POST, "/dicomweb/T1/studies")
        .header("content-type", ct)
        .body(body[..body.len() / 2].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let after = lab.get_json("admin", "/dicomweb/T1/studies").await;
    assert_eq!(after.as_array().unwrap().len(), 2);
    // A trial that does not exist, for an admin: 404, named.
    let r = lab
        .req(Some("admin"), Method::GET, "/dicomweb/NOPE/studies")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
