-- eceprobe collector store, version 20: enrollment with a join token (issue 19).
-- `eceprobe-collector token create` records a token here; an agent joining with it sends
-- the token and a certificate request, and the collector signs the request once the token
-- is used (one conditional UPDATE: not revoked, not expired by the database's clock, fewer
-- uses than allowed), so two agents racing for the last use cannot both have it.
--
-- The token's secret is never stored: `secret_sha256` is the SHA-256 of it (lowercase
-- hex); a stolen database gives no token. `revoked_unix_ms` is 0 while the token stands.
-- Times are the database's clock.
CREATE TABLE join_tokens (
    id              TEXT NOT NULL PRIMARY KEY,
    secret_sha256   TEXT NOT NULL,
    deployment      TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    expires_unix_ms INTEGER NOT NULL,
    max_uses        INTEGER NOT NULL,
    uses            INTEGER NOT NULL DEFAULT 0,
    revoked_unix_ms INTEGER NOT NULL DEFAULT 0,
    allow_reenroll  INTEGER NOT NULL DEFAULT 0
);

-- The agents enrolled by a join token, by id, with the SHA-256 of their public key: a join
-- naming an enrolled id with another key is refused unless its token allows re-enrollment
-- (then the row takes the new key). `token_id` is the token that enrolled it last.
CREATE TABLE enrolled_agents (
    agent_id         TEXT NOT NULL PRIMARY KEY,
    key_sha256       TEXT NOT NULL,
    token_id         TEXT NOT NULL,
    enrolled_unix_ms INTEGER NOT NULL
);
