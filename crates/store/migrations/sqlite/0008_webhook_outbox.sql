-- eceprobe collector store, version 8: the webhook outbox, so events survive a restart.

-- One row per (webhook, event) not yet delivered nor given up. `webhook` names the webhook
-- as `scheme://host:port sha256:<digest of the full URL>`: the URL's path may hold the
-- receiver's token, and no secret is stored here. `body` is the JSON exactly as it
-- is POSTed. A row is deleted once its event is delivered (2xx) or dead-lettered; a failed
-- attempt bumps `attempts` and moves `next_attempt_unix_ms`, so a restart continues the
-- retry schedule. Rows are delivered per webhook in `outbox_id` order (the order queued).
CREATE TABLE webhook_outbox (
    outbox_id            INTEGER PRIMARY KEY,
    webhook              TEXT    NOT NULL,
    event_id             TEXT    NOT NULL,
    event_kind           TEXT    NOT NULL,
    body                 TEXT    NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_unix_ms INTEGER NOT NULL,
    created_unix_ms      INTEGER NOT NULL,
    -- An event is queued at most once per receiver.
    UNIQUE (webhook, event_id)
);

-- A webhook's queue, oldest first: what its delivery task reads, caps and counts.
CREATE INDEX webhook_outbox_by_webhook ON webhook_outbox (webhook, outbox_id);
