//! Test-only helpers for corelab's test suites: a real S3 server (s3s-fs, over HTTP on loopback)
//! and throw-away PostgreSQL databases on the local server. Never a dependency of shipped code.

use std::net::TcpListener as StdListener;
use std::time::Duration;

/// An S3-compatible server (s3s-fs, files in a temporary folder) listening on 127.0.0.1 in a
/// thread of its own; it stops when dropped.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// A bucket that exists.
    pub bucket: String,
    /// The folder holding the buckets (a bucket is a sub-folder).
    pub root: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The access key the test server accepts.
pub const ACCESS_KEY: &str = "corelab-test";
/// The secret key the test server accepts.
pub const SECRET_KEY: &str = "corelab-test-secret";

impl S3Server {
    /// Starts a server with one bucket, `corelab-test`.
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir for the S3 server");
        let bucket = "corelab-test".to_owned();
        std::fs::create_dir(root.path().join(&bucket)).expect("bucket folder");
        let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let fs_root = root.path().to_owned();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                use hyper_util::rt::{TokioExecutor, TokioIo};
                use hyper_util::server::conn::auto::Builder as ConnBuilder;
                let fs = s3s_fs::FileSystem::new(fs_root).expect("s3s-fs root");
                let service = {
                    let mut b = s3s::service::S3ServiceBuilder::new(fs);
                    b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
                    b.build()
                };
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let http = ConnBuilder::new(TokioExecutor::new());
                loop {
                    tokio::select! {
                        res = listener.accept() => {
                            let Ok((socket, _)) = res else { continue };
                            let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                            tokio::spawn(async move { let _ = conn.await; });
                        }
                        _ = &mut rx => break,
                    }
                }
            });
        });
        Self {
            endpoint,
            bucket,
            root,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The `s3://` URL of a prefix in the bucket.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix)
    }

    /// The `AWS_*` settings a client needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The PostgreSQL server tests use: `CORELAB_TEST_PG` or the local server with trust auth.
pub fn pg_admin_url() -> String {
    std::env::var("CORELAB_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty PostgreSQL database, dropped (with its connections) when this is dropped.
/// A test that needs PostgreSQL fails, never skips, when the server is not there: `.ci/run`
/// starts one.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    name: String,
}

impl PgDb {
    /// Creates the database.
    pub async fn create() -> Self {
        let admin = pg_admin_url();
        let name = format!("corelab_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = connect_admin(&admin).await;
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .expect("CREATE DATABASE");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin.clone());
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// Creates the database from synchronous code.
    pub fn create_blocking() -> Self {
        run_blocking(Self::create())
    }
}

async fn connect_admin(admin: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut last = None;
    for _ in 0..20 {
        match sqlx::PgConnection::connect(admin).await {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("PostgreSQL at {admin} is not reachable ({last:?}); .ci/run starts it")
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = pg_admin_url();
        run_blocking(async move {
            let mut conn = connect_admin(&admin).await;
            let _ = sqlx::Executor::execute(
                &mut conn,
                sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
            )
            .await;
        });
    }
}

/// Runs a future to completion on a runtime of its own, in a thread of its own, so that it works
/// from inside or outside another runtime.
pub fn run_blocking<F: std::future::Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f)
    })
    .join()
    .expect("helper thread")
}
