-- Ingest: where a quarantined object came from (site, details), and instances flagged for review
-- (the same SOP Instance UID arrived again with different content: a new version, not an
-- overwrite).
ALTER TABLE quarantine ADD COLUMN site_id BIGINT REFERENCES sites (id);
ALTER TABLE quarantine ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
ALTER TABLE instances ADD COLUMN review TEXT CHECK (review IN ('conflict'));
ALTER TABLE instances ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
CREATE INDEX instances_by_uid ON instances (trial_id, sop_instance_uid);
CREATE INDEX quarantine_by_state ON quarantine (state, id);
