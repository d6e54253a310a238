-- eceprobe collector store on PostgreSQL, version 4: collectors' liveness, agents'
-- connections and audit order delivery, as SQLite's 0018 (see there for what each column
-- means). Times are the database's clock.
CREATE TABLE collector_liveness (
    instance         TEXT COLLATE "C" PRIMARY KEY,
    collector        TEXT COLLATE "C" NOT NULL,
    started_unix_ms  BIGINT NOT NULL,
    seen_unix_ms     BIGINT NOT NULL
);

CREATE TABLE agent_connections (
    agent_id         TEXT COLLATE "C" PRIMARY KEY,
    instance         TEXT COLLATE "C" NOT NULL,
    stream           BIGINT NOT NULL,
    since_unix_ms    BIGINT NOT NULL
);

CREATE INDEX agent_connections_by_instance ON agent_connections (instance);

ALTER TABLE audit_servers ADD COLUMN delivered_unix_ms BIGINT;
