//! The blob suite, on a local directory and on a real S3 server (s3s-fs over HTTP on loopback).

use bytes::Bytes;
use corelab_core::Sha256Digest;
use corelab_store::{BlobStore, StoreError};
use corelab_testkit::S3Server;

/// A blob store under test, and the folder where its bytes physically are.
struct Target {
    store: BlobStore,
    files: std::path::PathBuf,
    _keep: Keep,
}

#[allow(dead_code)]
enum Keep {
    Dir(tempfile::TempDir),
    S3(S3Server),
}

fn local() -> Target {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();
    Target {
        store,
        files: dir.path().to_owned(),
        _keep: Keep::Dir(dir),
    }
}

fn s3() -> Target {
    let server = S3Server::start();
    let store = BlobStore::open_with(&server.url("lab/one"), &server.env()).unwrap();
    let files = server.root.path().join(&server.bucket).join("lab/one");
    Target {
        store,
        files,
        _keep: Keep::S3(server),
    }
}

macro_rules! both_stores {
    (async fn $name:ident($t:ident: Target) $body:block) => {
        mod $name {
            use super::*;
            async fn run($t: Target) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local_dir() { run(local()).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3_server() { run(s3()).await }
        }
    };
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p))
        } else {
            out.push(p)
        }
    }
    out
}

both_stores! {
    async fn put_then_get_round_trips_under_the_content_digest(t: Target) {
        t.store.check().await.unwrap();
        let data = Bytes::from_static(b"DICM and some pixels");
        let r = t.store.put(data.clone()).await.unwrap();
        assert_eq!(r.sha256, Sha256Digest::of(&data));
        assert_eq!((r.size, r.created), (data.len() as u64, true));
        assert_eq!(t.store.get(&r.sha256).await.unwrap(), data);
        assert!(t.store.exists(&r.sha256).await.unwrap());
        let hex = r.sha256.to_hex();
        assert!(t.store.location_of(&r.sha256).ends_with(&format!("sha256/{}/{}/{hex}", &hex[..2], &hex[2..4])));
    }
}

both_stores! {
    async fn a_second_put_of_the_same_bytes_is_a_no_op(t: Target) {
        let data = Bytes::from(vec![7u8; 1000]);
        let first = t.store.put(data.clone()).await.unwrap();
        let second = t.store.put(data).await.unwrap();
        assert!(first.created && !second.created);
        assert_eq!(first.sha256, second.sha256);
        let blobs: Vec<_> = files_under(&t.files).into_iter().filter(|p| p.to_string_lossy().contains("sha256")).collect();
        assert_eq!(blobs.len(), 1, "{blobs:?}");
    }
}

both_stores! {
    async fn a_corrupted_blob_fails_loudly_on_read(t: Target) {
        let r = t.store.put(Bytes::from_static(b"original content")).await.unwrap();
        let path = files_under(&t.files).into_iter().find(|p| p.ends_with(r.sha256.to_hex())).unwrap();
        std::fs::write(&path, b"original c0ntent").unwrap();
        let err = t.store.get(&r.sha256).await.unwrap_err();
        assert!(matches!(err, StoreError::BlobCorrupt { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("is corrupt") && msg.contains(&r.sha256.to_hex()) && msg.contains(&Sha256Digest::of(b"original c0ntent").to_hex()), "{msg}");
    }
}

both_stores! {
    async fn a_missing_blob_is_not_found_with_its_digest(t: Target) {
        let d = Sha256Digest::of(b"never stored");
        assert!(!t.store.exists(&d).await.unwrap());
        let err = t.store.get(&d).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)) && err.to_string().contains(&d.to_hex()), "{err}");
    }
}

both_stores! {
    async fn a_large_blob_round_trips_and_leaves_no_temporary_files(t: Target) {
        let data: Vec<u8> = (0..18 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        let data = Bytes::from(data);
        let r = t.store.put(data.clone()).await.unwrap();
        assert_eq!(t.store.get(&r.sha256).await.unwrap(), data);
        let all = files_under(&t.files);
        assert!(all.iter().all(|p| !p.to_string_lossy().contains('#')), "staging files left: {all:?}");
        assert_eq!(all.len(), 1, "{all:?}");
    }
}

both_stores! {
    async fn named_records_list_back_in_order(t: Target) {
        t.store.put_record("anchors/x/002.json", Bytes::from_static(b"2")).await.unwrap();
        t.store.put_record("anchors/x/001.json", Bytes::from_static(b"1")).await.unwrap();
        let got = t.store.list_records("anchors/x").await.unwrap();
        let names: Vec<_> = got.iter().map(|(n, b)| (n.as_str(), b.as_ref())).collect();
        assert_eq!(names, [("001.json", b"1".as_ref()), ("002.json", b"2".as_ref())]);
        assert!(t.store.list_records("anchors/none").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_unreachable_s3_endpoint_is_a_clear_error() {
    let env = vec![
        ("AWS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "k".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "s".to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ALLOW_HTTP".to_owned(), "true".to_owned()),
    ];
    let store = BlobStore::open_with("s3://nobucket/p", &env).unwrap();
    let err = store.check().await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("blob store s3://nobucket/p: list"),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_s3_credentials_are_refused() {
    let server = S3Server::start();
    let mut env = server.env();
    env.retain(|(k, _)| k != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY".into(), "wrong".into()));
    let store = BlobStore::open_with(&server.url("p"), &env).unwrap();
    let err = store.put(Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, StoreError::Blob { .. }), "{err}");
}

#[test]
fn store_urls_that_cannot_work_are_refused_up_front() {
    for (url, words) in [
        ("ftp://host/x", "unknown scheme"),
        ("file:///no/such/dir/anywhere", "does not exist"),
        ("not a url", "expected file:///DIR"),
        ("s3:///prefix", "no bucket"),
    ] {
        let err = BlobStore::open(url).unwrap_err();
        assert!(err.to_string().contains(words), "{url}: {err}");
    }
}
