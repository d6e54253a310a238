-- eceprobe collector store on PostgreSQL, version 6: join tokens and the agents they
-- enrolled, as SQLite's 0020 (see there for what each column means). Times are the
-- database's clock.
CREATE TABLE join_tokens (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    secret_sha256   TEXT COLLATE "C" NOT NULL,
    deployment      TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    expires_unix_ms BIGINT NOT NULL,
    max_uses        BIGINT NOT NULL,
    uses            BIGINT NOT NULL DEFAULT 0,
    revoked_unix_ms BIGINT NOT NULL DEFAULT 0,
    allow_reenroll  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE enrolled_agents (
    agent_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    key_sha256       TEXT COLLATE "C" NOT NULL,
    token_id         TEXT COLLATE "C" NOT NULL,
    enrolled_unix_ms BIGINT NOT NULL
);
