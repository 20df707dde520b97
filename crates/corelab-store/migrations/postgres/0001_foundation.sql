-- corelab foundation schema (PostgreSQL). Kept in step with ../sqlite/0001_foundation.sql by
-- the test `migrations_define_the_same_tables_and_columns_on_both_backends`.
-- Times are UTC RFC 3339 text with microseconds, so they hash and compare identically on both backends.

CREATE TABLE corelab_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    size       BIGINT NOT NULL CHECK (size >= 0),
    media_type TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE trials (
    id            BIGSERIAL PRIMARY KEY,
    trial_key     TEXT NOT NULL UNIQUE,
    sponsor       TEXT NOT NULL,
    protocol      TEXT NOT NULL,
    phase         TEXT NOT NULL,
    indication    TEXT,
    config_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    locked        BIGINT NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    created_at    TEXT NOT NULL
);

CREATE TABLE sites (
    id         BIGSERIAL PRIMARY KEY,
    trial_id   BIGINT NOT NULL REFERENCES trials (id),
    site_key   TEXT NOT NULL,
    name       TEXT NOT NULL,
    country    TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (trial_id, site_key),
    UNIQUE (trial_id, id)
);

CREATE TABLE site_ae_titles (
    id       BIGSERIAL PRIMARY KEY,
    trial_id BIGINT NOT NULL,
    site_id  BIGINT NOT NULL,
    ae_title TEXT NOT NULL CHECK (length(ae_title) BETWEEN 1 AND 16),
    -- one calling AE title routes to exactly one site of a trial
    UNIQUE (trial_id, ae_title),
    FOREIGN KEY (trial_id, site_id) REFERENCES sites (trial_id, id)
);

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'site', 'reader', 'adjudicator', 'sponsor', 'auditor')),
    site_id       BIGINT REFERENCES sites (id),
    password_hash TEXT,
    disabled      BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT NOT NULL
);

CREATE TABLE subjects (
    id          BIGSERIAL PRIMARY KEY,
    trial_id    BIGINT NOT NULL,
    site_id     BIGINT NOT NULL,
    subject_key TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (trial_id, subject_key),
    FOREIGN KEY (trial_id, site_id) REFERENCES sites (trial_id, id)
);

CREATE TABLE visits (
    id         BIGSERIAL PRIMARY KEY,
    subject_id BIGINT NOT NULL REFERENCES subjects (id),
    visit_name TEXT NOT NULL,
    visit_date TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (subject_id, visit_name)
);

CREATE TABLE studies (
    id                 BIGSERIAL PRIMARY KEY,
    trial_id           BIGINT NOT NULL REFERENCES trials (id),
    subject_id         BIGINT NOT NULL REFERENCES subjects (id),
    visit_id           BIGINT REFERENCES visits (id),
    study_instance_uid TEXT NOT NULL CHECK (length(study_instance_uid) BETWEEN 1 AND 64),
    study_date         TEXT,
    description        TEXT,
    created_at         TEXT NOT NULL,
    UNIQUE (trial_id, study_instance_uid)
);

CREATE TABLE series (
    id                  BIGSERIAL PRIMARY KEY,
    study_id            BIGINT NOT NULL REFERENCES studies (id),
    series_instance_uid TEXT NOT NULL CHECK (length(series_instance_uid) BETWEEN 1 AND 64),
    modality            TEXT NOT NULL,
    series_number       BIGINT,
    description         TEXT,
    created_at          TEXT NOT NULL,
    UNIQUE (study_id, series_instance_uid)
);

CREATE TABLE instances (
    id               BIGSERIAL PRIMARY KEY,
    trial_id         BIGINT NOT NULL REFERENCES trials (id),
    series_id        BIGINT NOT NULL REFERENCES series (id),
    sop_instance_uid TEXT NOT NULL CHECK (length(sop_instance_uid) BETWEEN 1 AND 64),
    sop_class_uid    TEXT NOT NULL,
    version          BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes_id    BIGINT REFERENCES instances (id),
    blob_sha256      TEXT NOT NULL REFERENCES blobs (sha256),
    transfer_syntax  TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    -- invariant 2: a correction is a new version, never an overwrite
    UNIQUE (trial_id, sop_instance_uid, version)
);

CREATE TABLE quarantine (
    id                BIGSERIAL PRIMARY KEY,
    trial_id          BIGINT REFERENCES trials (id),
    source            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    blob_sha256       TEXT NOT NULL REFERENCES blobs (sha256),
    state             TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'released', 'discarded')),
    received_at       TEXT NOT NULL,
    resolved_at       TEXT,
    resolved_by       TEXT,
    resolution_reason TEXT
);

CREATE TABLE jobs (
    id                BIGSERIAL PRIMARY KEY,
    trial_id          BIGINT REFERENCES trials (id),
    algorithm_id      TEXT NOT NULL,
    algorithm_version TEXT NOT NULL,
    params            TEXT NOT NULL,
    inputs            TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts          BIGINT NOT NULL DEFAULT 0,
    worker            TEXT,
    error             TEXT,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT
);

CREATE TABLE measurements (
    id         BIGSERIAL PRIMARY KEY,
    trial_id   BIGINT REFERENCES trials (id),
    job_id     BIGINT REFERENCES jobs (id),
    subject_id BIGINT REFERENCES subjects (id),
    visit_id   BIGINT REFERENCES visits (id),
    series_id  BIGINT REFERENCES series (id),
    algorithm  TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    -- invariant 6: every number has a unit (UCUM) and a provenance record
    unit       TEXT NOT NULL CHECK (length(unit) >= 1),
    provenance TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY CHECK (seq >= 1),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    reason      TEXT,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash        TEXT NOT NULL CHECK (length(hash) = 64)
);

-- The head of the chain: one row, locked by every appender, so that writers on many nodes
-- append in one order.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY REFERENCES audit_events (seq),
    at         TEXT NOT NULL,
    head_hash  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
