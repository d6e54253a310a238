-- eceprobe collector store on PostgreSQL, version 3: the leader lease, as SQLite's 0017
-- (see there for what each column means). Times are the database's clock.
CREATE TABLE leader_lease (
    name             TEXT COLLATE "C" PRIMARY KEY,
    holder           TEXT COLLATE "C" NOT NULL,
    instance         TEXT COLLATE "C" NOT NULL,
    term             BIGINT NOT NULL,
    acquired_unix_ms BIGINT NOT NULL,
    renewed_unix_ms  BIGINT NOT NULL,
    expires_unix_ms  BIGINT NOT NULL,
    evaluated_unix_ms BIGINT NOT NULL DEFAULT 0
);
