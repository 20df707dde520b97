//! The content-addressed blob store: every object is named by the SHA-256 of its bytes, so a
//! write is idempotent and nothing is ever overwritten with different content (invariant 2).
//!
//! Backed by the `object_store` crate: a local directory (`file:///abs/dir`) by default, any
//! S3-compatible store (`s3://bucket/prefix`, endpoint and credentials from the usual `AWS_*`
//! environment variables) for scale. Locally a write is temp file + fsync + rename + fsync of
//! the directory (object_store's `with_fsync`); on S3 it is one PUT, which is atomic.

use crate::error::{Result, StoreError};
use bytes::Bytes;
use corelab_core::Sha256Digest;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Where a blob landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    /// The SHA-256 of its content: its name.
    pub sha256: Sha256Digest,
    /// Its size in bytes.
    pub size: u64,
    /// False when the store already held it (the write was a no-op).
    pub created: bool,
}

/// A content-addressed blob store.
#[derive(Clone, Debug)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    url: String,
}

impl BlobStore {
    /// Opens the store a URL names. A `file://` directory must exist. S3 settings come from the
    /// `AWS_*` environment variables.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &[])
    }

    /// Like [`BlobStore::open`], with S3 settings (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, …) given
    /// here taking precedence over the environment.
    pub fn open_with(url: &str, s3_settings: &[(String, String)]) -> Result<Self> {
        let bad = |why: &str| StoreError::StoreUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| bad(&format!("{e}; expected file:///DIR or s3://BUCKET/PREFIX")))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| bad("a file:// URL needs an absolute path"))?;
                if !dir.is_dir() {
                    return Err(bad(&format!("directory {} does not exist", dir.display())));
                }
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(&e.to_string()))?
                    .with_fsync(true);
                Ok(Self {
                    inner: Arc::new(fs),
                    prefix: ObjPath::default(),
                    url: url.to_owned(),
                })
            }
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket"))?;
                let prefix = parsed.path().trim_matches('/');
                let mut builder = AmazonS3Builder::from_env();
                for (k, v) in s3_settings {
                    let key = k
                        .to_ascii_lowercase()
                        .parse()
                        .map_err(|_| bad(&format!("unknown S3 setting {k}")))?;
                    builder = builder.with_config(key, v);
                }
                let s3 = builder
                    .with_bucket_name(bucket)
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(20),
                        ..RetryConfig::default()
                    })
                    .build()
                    .map_err(|e| bad(&e.to_string()))?;
                Ok(Self {
                    inner: Arc::new(s3),
                    prefix: ObjPath::from(prefix),
                    url: url.to_owned(),
                })
            }
            other => Err(bad(&format!(
                "unknown scheme {other:?}; expected file or s3"
            ))),
        }
    }

    /// The store's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The folder of a local (`file://`) store; `None` for S3.
    pub fn local_dir(&self) -> Option<std::path::PathBuf> {
        url::Url::parse(&self.url)
            .ok()
            .filter(|u| u.scheme() == "file")
            .and_then(|u| u.to_file_path().ok())
    }

    fn location(&self, digest: &Sha256Digest) -> ObjPath {
        let hex = digest.to_hex();
        self.child(&format!("sha256/{}/{}/{}", &hex[0..2], &hex[2..4], hex))
    }

    fn child(&self, rel: &str) -> ObjPath {
        let mut p = self.prefix.clone();
        for part in rel.split('/') {
            p = p.clone().join(part);
        }
        p
    }

    fn err(
        &self,
        op: &'static str,
        location: &ObjPath,
    ) -> impl FnOnce(object_store::Error) -> StoreError {
        let url = self.url.clone();
        let location = location.to_string();
        move |e| StoreError::Blob {
            url,
            op,
            location,
            why: e.to_string(),
        }
    }

    /// Checks that the store answers (one listing request).
    pub async fn check(&self) -> Result<()> {
        let p = self.child("sha256");
        self.inner
            .list_with_delimiter(Some(&p))
            .await
            .map(|_| ())
            .map_err(self.err("list", &p))
    }

    /// Stores `bytes` under their digest. Idempotent: a second put of the same bytes is a no-op.
    pub async fn put(&self, bytes: Bytes) -> Result<BlobRef> {
        let sha256 = Sha256Digest::of(&bytes);
        self.put_digested(sha256, bytes).await
    }

    /// [`BlobStore::put`] of bytes whose digest the caller has just computed (hashing is CPU
    /// work the caller may do off the async threads).
    pub(crate) async fn put_digested(&self, sha256: Sha256Digest, bytes: Bytes) -> Result<BlobRef> {
        let size = bytes.len() as u64;
        let loc = self.location(&sha256);
        if self.exists_at(&loc).await? {
            return Ok(BlobRef {
                sha256,
                size,
                created: false,
            });
        }
        self.inner
            .put(&loc, PutPayload::from_bytes(bytes))
            .await
            .map_err(self.err("put", &loc))?;
        Ok(BlobRef {
            sha256,
            size,
            created: true,
        })
    }

    /// Whether the store holds a blob with this digest.
    pub async fn exists(&self, digest: &Sha256Digest) -> Result<bool> {
        self.exists_at(&self.location(digest)).await
    }

    async fn exists_at(&self, loc: &ObjPath) -> Result<bool> {
        match self.inner.head(loc).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err("head", loc)(e)),
        }
    }

    /// Reads a blob and checks that its content hashes to its name; a mismatch is an error,
    /// never data.
    pub async fn get(&self, digest: &Sha256Digest) -> Result<Bytes> {
        let loc = self.location(digest);
        let bytes = match self.inner.get(&loc).await {
            Ok(r) => r.bytes().await.map_err(self.err("get", &loc))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound(format!(
                    "blob store {}: no blob {digest} (expected at {loc})",
                    self.url
                )));
            }
            Err(e) => return Err(self.err("get", &loc)(e)),
        };
        let actual = Sha256Digest::of(&bytes);
        if actual != *digest {
            return Err(StoreError::BlobCorrupt {
                url: self.url.clone(),
                location: loc.to_string(),
                expected: digest.to_hex(),
                actual: actual.to_hex(),
            });
        }
        Ok(bytes)
    }

    /// Writes a small named record outside the content-addressed space (used for audit
    /// anchors). Each name is written once; names carry a sequence number.
    pub async fn put_record(&self, name: &str, bytes: Bytes) -> Result<()> {
        let loc = self.child(name);
        self.inner
            .put(&loc, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(self.err("put", &loc))
    }

    /// Lists the records under a folder, with their content, in name order.
    pub async fn list_records(&self, folder: &str) -> Result<Vec<(String, Bytes)>> {
        let dir = self.child(folder);
        let mut metas: Vec<_> = self
            .inner
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(self.err("list", &dir))?;
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        let mut out = Vec::with_capacity(metas.len());
        for m in metas {
            let bytes = self
                .inner
                .get(&m.location)
                .await
                .map_err(self.err("get", &m.location))?
                .bytes()
                .await
                .map_err(self.err("get", &m.location))?;
            let name = m.location.filename().unwrap_or_default().to_owned();
            out.push((name, bytes));
        }
        Ok(out)
    }

    /// The store-relative location of a blob (for messages and tests).
    pub fn location_of(&self, digest: &Sha256Digest) -> String {
        self.location(digest).to_string()
    }
}
