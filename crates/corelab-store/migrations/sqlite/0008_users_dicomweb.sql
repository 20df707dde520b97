-- Users, roles and sessions (issue 10), and what DICOMweb answers from the index.
--
-- The foundation's users table (one role, one site) was never written to; it is replaced by
-- users with argon2id password hashes and grants: a role for all trials or one trial, and for
-- the site role one site. Sessions and API tokens are stored by the SHA-256 of their secret, so
-- the database never holds a usable credential, and any API node can check them (stateless
-- nodes). Failed logins are counted on the user for throttling across nodes.
DROP TABLE users;
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    display_name   TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    disabled       BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins  BIGINT NOT NULL DEFAULT 0,
    last_failed_at TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE user_grants (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  BIGINT NOT NULL REFERENCES users (id),
    role     TEXT NOT NULL CHECK (role IN ('admin', 'site', 'qc', 'reader', 'adjudicator', 'sponsor', 'auditor')),
    trial_id BIGINT REFERENCES trials (id),
    site_id  BIGINT REFERENCES sites (id),
    CHECK ((role = 'site') = (site_id IS NOT NULL)),
    CHECK (site_id IS NULL OR trial_id IS NOT NULL)
);
CREATE INDEX user_grants_by_user ON user_grants (user_id);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY CHECK (length(token_sha256) = 64),
    user_id      BIGINT NOT NULL REFERENCES users (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ended_at     TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    UNIQUE (user_id, name)
);

-- QIDO-RS answers from these columns, never from files: the study attributes of the
-- de-identified objects, each instance's number and its short top-level attributes as DICOM
-- JSON (for includefield), and the blob of its whole metadata (WADO-RS metadata, bulk data
-- left out), written at ingest.
ALTER TABLE studies ADD COLUMN study_time TEXT;
ALTER TABLE studies ADD COLUMN accession_number TEXT;
ALTER TABLE studies ADD COLUMN patient_id TEXT;
ALTER TABLE studies ADD COLUMN patient_name TEXT;
ALTER TABLE studies ADD COLUMN study_id TEXT;
ALTER TABLE studies ADD COLUMN referring_physician TEXT;
ALTER TABLE instances ADD COLUMN instance_number BIGINT;
ALTER TABLE instances ADD COLUMN attributes TEXT;
ALTER TABLE instances ADD COLUMN metadata_sha256 TEXT REFERENCES blobs (sha256);
CREATE INDEX studies_by_date ON studies (trial_id, study_date);
CREATE INDEX studies_by_patient ON studies (trial_id, patient_id);
CREATE INDEX studies_by_subject ON studies (subject_id);
CREATE INDEX instances_by_series ON instances (series_id, instance_number);
-- Only the latest version of an instance is answered: "no row supersedes it".
CREATE INDEX instances_by_supersedes ON instances (supersedes_id);
