-- eceprobe collector store, version 19: what collectors sharing a database must agree on
-- besides the lease (issue 18).
--
-- schedule_slots: one row per scheduled audit slot a collector fired. `slot_unix_ms` is
-- the slot's time as the cron expression gives it (the same on every collector, whatever
-- its clock). The leading collector inserts the row before it starts the audit, in one
-- transaction with the check that it still holds the leader lease at its term, with
-- ON CONFLICT DO NOTHING: only the collector whose insert made the row starts the audit,
-- so no slot runs twice across collectors or a takeover. `audit_id` is filled in once
-- the audit started ('' until then, and for good when the start failed). `collector` is the
-- name of the collector that fired it. Rows older than 30 days are pruned as new ones come.
CREATE TABLE schedule_slots (
    schedule        TEXT    NOT NULL,
    slot_unix_ms    INTEGER NOT NULL,
    audit_id        TEXT    NOT NULL DEFAULT '',
    collector       TEXT    NOT NULL,
    fired_unix_ms   INTEGER NOT NULL,
    PRIMARY KEY (schedule, slot_unix_ms)
);

-- webhook_outcomes: per webhook (the outbox's key), how many events were delivered and
-- how many dead-lettered, over every collector: the outbox is shared, so what /metrics
-- shows is the database's count, not one process's. Raised in the transaction that
-- deletes the event's outbox row.
CREATE TABLE webhook_outcomes (
    webhook         TEXT    NOT NULL PRIMARY KEY,
    delivered       INTEGER NOT NULL DEFAULT 0,
    dead_lettered   INTEGER NOT NULL DEFAULT 0
);

-- Revocations in the order they were made: every collector reads only those newer than
-- the last it read (collector/src/revocation_db.rs).
CREATE INDEX revoked_certificates_by_time ON revoked_certificates (revoked_unix_ms, sha256);
