-- The job queue (issue 7). A job runs one locked algorithm version (its fingerprint and the
-- trial's lock version) on one subject's visit. Enqueueing is idempotent per trial by the
-- caller's key. Workers claim the oldest runnable job under a lease they renew; a job whose
-- lease ran out (its worker died) is claimed again, up to max_attempts. Times are UTC RFC 3339
-- text with microseconds, so they compare as text on both backends. A job's result is kept as
-- canonical JSON; its measurements name the visit and series they were taken on.
ALTER TABLE jobs ADD COLUMN fingerprint TEXT;
ALTER TABLE jobs ADD COLUMN lock_version BIGINT;
ALTER TABLE jobs ADD COLUMN subject_key TEXT;
ALTER TABLE jobs ADD COLUMN visit_name TEXT;
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE jobs ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 3 CHECK (max_attempts >= 1);
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
ALTER TABLE jobs ADD COLUMN run_after TEXT;
ALTER TABLE jobs ADD COLUMN result TEXT;
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (trial_id, idempotency_key);
CREATE INDEX jobs_by_state ON jobs (state, id);

ALTER TABLE measurements ADD COLUMN visit_name TEXT;
ALTER TABLE measurements ADD COLUMN series_instance_uid TEXT;
CREATE INDEX measurements_by_trial ON measurements (trial_id, id);
