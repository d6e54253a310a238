-- eceprobe collector store on PostgreSQL, version 5: equal to SQLite's 0019 (scheduled
-- slots fired, webhook outcomes counted across collectors, revocations by time; see there
-- for what each column means). Types as 0001_schema.sql says: BIGINT, TEXT COLLATE "C".
CREATE TABLE schedule_slots (
    schedule        TEXT COLLATE "C" NOT NULL,
    slot_unix_ms    BIGINT NOT NULL,
    audit_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
    collector       TEXT COLLATE "C" NOT NULL,
    fired_unix_ms   BIGINT NOT NULL,
    PRIMARY KEY (schedule, slot_unix_ms)
);

CREATE TABLE webhook_outcomes (
    webhook         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    delivered       BIGINT NOT NULL DEFAULT 0,
    dead_lettered   BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX revoked_certificates_by_time ON revoked_certificates (revoked_unix_ms, sha256);
