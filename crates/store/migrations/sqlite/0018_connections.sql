-- eceprobe collector store, version 18: which agents are connected, to which collector, as
-- every collector sharing the database sees it (issue 18). An agent streams to one
-- collector at a time; before this, "connected" (the overview, a server's page, /metrics,
-- retire's refusal) and an audit's orders counted only the streams of the collector asked.
--
-- `collector_liveness`: one row per collector process (`instance`), its name as operators
-- read it (`collector`, as in leader_lease.holder), renewed every few seconds:
-- `seen_unix_ms` is the database's clock, so hosts whose clocks disagree still agree on
-- who is alive. A collector that starts clears the rows of earlier processes of its name.
--
-- `agent_connections`: the stream an agent has open now, one row per agent (a newer stream,
-- on any collector, replaces it): its collector process, the stream's number in that
-- process (a late end of an older stream deletes nothing) and since when (database clock).
-- A row counts as connected only while its collector's instance was seen recently: a
-- collector killed without a word leaves rows that stop counting within that bound.
--
-- `audit_servers.delivered_unix_ms`: when a collector queued the audit's order on the
-- server's stream (NULL: not yet). Each collector delivers the running audits' orders to
-- the agents connected to it, once: a reconnecting agent, or one that moved to another
-- collector, is not ordered twice.
CREATE TABLE collector_liveness (
    instance TEXT PRIMARY KEY,
    collector TEXT NOT NULL,
    started_unix_ms INTEGER NOT NULL,
    seen_unix_ms INTEGER NOT NULL
);

CREATE TABLE agent_connections (
    agent_id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    stream INTEGER NOT NULL,
    since_unix_ms INTEGER NOT NULL
);

CREATE INDEX agent_connections_by_instance ON agent_connections (instance);

ALTER TABLE audit_servers ADD COLUMN delivered_unix_ms INTEGER;
