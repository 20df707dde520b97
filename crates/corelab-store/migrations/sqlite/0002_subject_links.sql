-- The link from a site's patient identity to the trial subject, kept apart from the catalogue's
-- tables and sealed (XChaCha20-Poly1305) under the trial's key, which lives outside the database:
-- reading this table without that key reveals nothing. `lookup` is a keyed hash (HMAC-SHA256
-- under the trial key) of the site and the original patient ID, so a returning patient is found
-- without decrypting anything.
CREATE TABLE subject_links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id   BIGINT NOT NULL REFERENCES trials (id),
    subject_id BIGINT NOT NULL REFERENCES subjects (id),
    lookup     TEXT NOT NULL CHECK (length(lookup) = 64),
    sealed     TEXT NOT NULL,
    origin     TEXT NOT NULL CHECK (origin IN ('rule', 'site')),
    created_at TEXT NOT NULL,
    UNIQUE (trial_id, lookup)
);
