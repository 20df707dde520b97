-- A site gateway forwards what it catalogued to the hub (issue 10). Its outbox is its own
-- catalogue: an instance is pending until a row here says it was sent (the hub acknowledged
-- it) or failed for good (the hub refused it: the dead-letter list, with the reason).
CREATE TABLE forwarding (
    instance_id BIGINT PRIMARY KEY REFERENCES instances (id),
    state       TEXT NOT NULL CHECK (state IN ('sent', 'failed')),
    hub_status  BIGINT NOT NULL,
    reason      TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX forwarding_by_state ON forwarding (state);
