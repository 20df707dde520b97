//! The store's error type: every variant names what failed and where.

/// An error from the metadata database, the blob store, the audit trail or the installation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is not a corelab installation.
    #[error(
        "{dir} is not a corelab installation ({why}); create one with `corelab init --data {dir}`"
    )]
    NotAnInstallation {
        /// The directory that was opened.
        dir: String,
        /// What is missing.
        why: String,
    },
    /// `init` on a directory that already holds an installation or other files.
    #[error("cannot initialise {dir}: {why}")]
    InitRefused {
        /// The directory.
        dir: String,
        /// Why it was refused.
        why: String,
    },
    /// A file of the installation could not be read or written.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// The database could not be reached.
    #[error("cannot connect to database {url}: {why}")]
    DbUnreachable {
        /// The database URL, password removed.
        url: String,
        /// The driver's message.
        why: String,
    },
    /// The database schema is newer than this binary.
    #[error(
        "database {url} has schema version {found}, newer than this corelab knows (up to {known}); use a newer corelab"
    )]
    SchemaTooNew {
        /// The database URL, password removed.
        url: String,
        /// The highest migration applied in the database.
        found: i64,
        /// The highest migration this binary has.
        known: i64,
    },
    /// The database belongs to another installation.
    #[error("database {url} belongs to installation {found}, but {dir} is installation {expected}")]
    WrongInstallation {
        /// The database URL, password removed.
        url: String,
        /// The data directory.
        dir: String,
        /// The id recorded in the database.
        found: String,
        /// The id recorded in the data directory.
        expected: String,
    },
    /// A database statement failed.
    #[error("database {context}: {source}")]
    Db {
        /// What was being done.
        context: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database {url}: migration failed: {why}")]
    Migration {
        /// The database URL, password removed.
        url: String,
        /// The migrator's message.
        why: String,
    },
    /// A uniqueness or reference rule of the catalogue was broken.
    #[error("{0}")]
    Conflict(String),
    /// A requested object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A value offered is not acceptable (a user name, a grant): the message says what is expected.
    #[error("{0}")]
    Invalid(String),
    /// The blob store URL is not one corelab understands.
    #[error("blob store URL {url:?}: {why}")]
    StoreUrl {
        /// The URL offered.
        url: String,
        /// What was expected.
        why: String,
    },
    /// The blob store could not be reached or refused an operation.
    #[error("blob store {url}: {op} {location}: {why}")]
    Blob {
        /// The store URL.
        url: String,
        /// The operation (`put`, `get`, `list`, …).
        op: &'static str,
        /// The object's location in the store.
        location: String,
        /// The store's message.
        why: String,
    },
    /// A blob's content does not hash to its name.
    #[error(
        "blob store {url}: {location} is corrupt: its content hashes to {actual}, not {expected}"
    )]
    BlobCorrupt {
        /// The store URL.
        url: String,
        /// The object's location.
        location: String,
        /// The digest it should have.
        expected: String,
        /// The digest of what was read.
        actual: String,
    },
    /// The installation's audit signing key is unusable.
    #[error("audit signing key {path}: {why}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

impl StoreError {
    /// Wraps a driver error with what was being done. Text the database cannot hold (PostgreSQL
    /// refuses a NUL character: SQLSTATE 22021, 22P05) is a value offered wrongly, not a failure
    /// of the database: [`StoreError::Invalid`].
    pub fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
        let context = context.into();
        move |source| {
            if let sqlx::Error::Database(d) = &source
                && matches!(d.code().as_deref(), Some("22021" | "22P05"))
            {
                return StoreError::Invalid(format!(
                    "{context}: a value holds a character the database cannot store (such as NUL): {d}"
                ));
            }
            StoreError::Db { context, source }
        }
    }
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
