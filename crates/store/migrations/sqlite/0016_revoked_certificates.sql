-- eceprobe collector store, version 16: revoked agent certificates (issue 18), shared by
-- every collector of the database. `eceprobe-collector revoke --db` records here (besides
-- the CA directory's revoked.txt); each serving collector re-reads the set every few
-- seconds and refuses a certificate revoked in either place (collector/src/auth.rs).
-- sha256: the certificate's SHA-256 fingerprint, lowercase hex, as revoked.txt lists it.
CREATE TABLE revoked_certificates (
    sha256          TEXT NOT NULL PRIMARY KEY,
    agent_id        TEXT NOT NULL,
    revoked_unix_ms INTEGER NOT NULL
);
