-- Routing: a site may have a called AE title of its own, and two sites of a trial may share a
-- calling AE title (a gateway) when their called AE titles or the objects' Clinical Trial
-- attributes tell them apart (checked when the trial file is read).
ALTER TABLE sites ADD COLUMN called_ae_title TEXT CHECK (length(called_ae_title) BETWEEN 1 AND 16);
ALTER TABLE site_ae_titles DROP CONSTRAINT site_ae_titles_trial_id_ae_title_key;
ALTER TABLE site_ae_titles ADD CONSTRAINT site_ae_titles_site_id_ae_title_key UNIQUE (site_id, ae_title);
CREATE INDEX site_ae_titles_by_title ON site_ae_titles (ae_title);
