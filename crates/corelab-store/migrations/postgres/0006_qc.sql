-- QC (issue 6). Each evaluation of a trial against its protocol is kept whole (its report's
-- canonical JSON and hash, the trial file it was judged by); nothing is overwritten: a new
-- evaluation is a new row. A person's decision on a series or a visit (pass or fail, with a
-- reason) stands over what the evaluation computed, the latest decision on a target winning.
-- Queries to a site are raised on a target and move open -> answered -> closed.
CREATE TABLE qc_evaluations (
    id            BIGSERIAL PRIMARY KEY,
    trial_id      BIGINT NOT NULL REFERENCES trials (id),
    config_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    report_json   TEXT NOT NULL,
    report_sha256 TEXT NOT NULL CHECK (length(report_sha256) = 64),
    created_at    TEXT NOT NULL
);
CREATE INDEX qc_evaluations_by_trial ON qc_evaluations (trial_id, id);

CREATE TABLE qc_decisions (
    id         BIGSERIAL PRIMARY KEY,
    trial_id   BIGINT NOT NULL REFERENCES trials (id),
    target     TEXT NOT NULL CHECK (length(target) >= 1),
    status     TEXT NOT NULL CHECK (status IN ('pass', 'fail')),
    reason     TEXT NOT NULL CHECK (length(reason) >= 1),
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX qc_decisions_by_target ON qc_decisions (trial_id, target, id);

CREATE TABLE qc_queries (
    id          BIGSERIAL PRIMARY KEY,
    trial_id    BIGINT NOT NULL REFERENCES trials (id),
    target      TEXT NOT NULL CHECK (length(target) >= 1),
    question    TEXT NOT NULL CHECK (length(question) >= 1),
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'answered', 'closed')),
    raised_by   TEXT NOT NULL,
    raised_at   TEXT NOT NULL,
    answer      TEXT,
    answered_by TEXT,
    answered_at TEXT,
    closed_by   TEXT,
    closed_at   TEXT,
    resolution  TEXT
);
CREATE INDEX qc_queries_by_trial ON qc_queries (trial_id, state, id);
