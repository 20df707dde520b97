-- Central reads (issue 12). A task is one person's work on one subject of a trial: a read by a
-- reader, or an adjudication between two reads. The read itself (the reader's structured data)
-- and what the engine computed from it (the outcome) are kept on the task; once signed they
-- never change. An electronic signature (21 CFR Part 11) binds a person, a meaning and a time
-- to the SHA-256 of the signed record as it was signed: reads, adjudications, QC decisions.
CREATE TABLE read_tasks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id     BIGINT NOT NULL REFERENCES trials (id),
    subject      TEXT NOT NULL CHECK (length(subject) >= 1),
    kind         TEXT NOT NULL CHECK (kind IN ('read', 'adjudication')),
    reader       TEXT NOT NULL CHECK (length(reader) >= 1),
    case_label   TEXT NOT NULL,
    order_key    TEXT NOT NULL,
    reason       TEXT,
    state        TEXT NOT NULL DEFAULT 'assigned' CHECK (state IN ('assigned', 'in_progress', 'signed')),
    data_json    TEXT,
    outcome_json TEXT,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    saved_at     TEXT,
    signed_at    TEXT,
    UNIQUE (trial_id, subject, kind, reader)
);
CREATE INDEX read_tasks_by_reader ON read_tasks (reader, state, order_key);

CREATE TABLE signatures (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id       BIGINT NOT NULL REFERENCES trials (id),
    record_type    TEXT NOT NULL CHECK (record_type IN ('read', 'adjudication', 'qc_decision')),
    record_id      BIGINT NOT NULL,
    record_sha256  TEXT NOT NULL CHECK (length(record_sha256) = 64),
    username       TEXT NOT NULL,
    printed_name   TEXT NOT NULL,
    meaning        TEXT NOT NULL CHECK (meaning IN ('authored', 'reviewed', 'approved')),
    signed_at      TEXT NOT NULL,
    binding_sha256 TEXT NOT NULL CHECK (length(binding_sha256) = 64)
);
CREATE INDEX signatures_by_record ON signatures (trial_id, record_type, record_id);
