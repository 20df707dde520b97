-- Routing: a site may have a called AE title of its own, and two sites of a trial may share a
-- calling AE title (a gateway) when their called AE titles or the objects' Clinical Trial
-- attributes tell them apart (checked when the trial file is read). SQLite cannot drop a
-- constraint, so the table is rebuilt with the uniqueness per site.
ALTER TABLE sites ADD COLUMN called_ae_title TEXT CHECK (length(called_ae_title) BETWEEN 1 AND 16);
CREATE TABLE site_ae_titles_new (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id BIGINT NOT NULL,
    site_id  BIGINT NOT NULL,
    ae_title TEXT NOT NULL CHECK (length(ae_title) BETWEEN 1 AND 16),
    UNIQUE (site_id, ae_title),
    FOREIGN KEY (trial_id, site_id) REFERENCES sites (trial_id, id)
);
INSERT INTO site_ae_titles_new (id, trial_id, site_id, ae_title)
    SELECT id, trial_id, site_id, ae_title FROM site_ae_titles;
DROP TABLE site_ae_titles;
ALTER TABLE site_ae_titles_new RENAME TO site_ae_titles;
CREATE INDEX site_ae_titles_by_title ON site_ae_titles (ae_title);
