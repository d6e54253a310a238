-- eceprobe collector store, PostgreSQL version 2: equal to SQLite's
-- 0016_revoked_certificates.sql (revoked agent certificates shared by every collector of
-- the database; see there). Types as 0001_schema.sql says: BIGINT, TEXT COLLATE "C".
CREATE TABLE revoked_certificates (
    sha256          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    agent_id        TEXT COLLATE "C" NOT NULL,
    revoked_unix_ms BIGINT NOT NULL
);
