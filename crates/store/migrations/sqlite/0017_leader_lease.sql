-- eceprobe collector store, version 17: one leader among the collectors sharing a database
-- (issue 18). The singleton work (gap evaluation, retention, scheduled audits, webhook
-- delivery) runs on the collector holding the lease named 'singleton'. A holder renews it
-- before `expires_unix_ms`; once that passes, another collector may take it, and `term`
-- grows by one each time the lease changes hands: the gap reconcile commits only while its
-- collector still holds the term it started with (a fencing token), so a leader that
-- stalled past its lease cannot overwrite the new leader's work.
--
-- `holder` is the collector's name as operators read it; `instance` tells its processes
-- apart: a collector restarted under the same name takes its lease back (a new term) instead
-- of waiting for it to expire: at once on SQLite, once the old process has missed its
-- renewals for half a lease on PostgreSQL, where of two running collectors given the same
-- name only one holds it.
--
-- Times are the database's clock (not the collectors'), so hosts whose clocks disagree
-- still agree on when a lease ends. `evaluated_unix_ms` is when the leader last recorded
-- the gaps (its clock, as the gaps' own times): every collector's dashboard says "as of"
-- that, not of an evaluation of its own.
CREATE TABLE leader_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    instance TEXT NOT NULL,
    term INTEGER NOT NULL,
    acquired_unix_ms INTEGER NOT NULL,
    renewed_unix_ms INTEGER NOT NULL,
    expires_unix_ms INTEGER NOT NULL,
    evaluated_unix_ms INTEGER NOT NULL DEFAULT 0
);
