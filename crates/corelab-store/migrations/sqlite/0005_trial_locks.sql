-- Version locks: each lock version of a trial holds its algorithms resolved to exact versions,
-- parameters and fingerprints (the lock's canonical JSON, kept whole and hashed), the trial
-- file it was made from, and why an amendment was made. Versions of a trial count up from 1.
CREATE TABLE trial_locks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id      BIGINT NOT NULL REFERENCES trials (id),
    version       BIGINT NOT NULL CHECK (version >= 1),
    lock_json     TEXT NOT NULL,
    lock_sha256   TEXT NOT NULL CHECK (length(lock_sha256) = 64),
    config_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    reason        TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (trial_id, version)
);
