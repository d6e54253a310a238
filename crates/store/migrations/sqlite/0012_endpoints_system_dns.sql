-- eceprobe collector store, version 12: what each result's OS resolver gave for the check's
-- host, so the gap engine judges it against Microsoft's published ranges
-- (`address_not_microsoft`) without decoding detail blobs.
--
-- system_dns: "HOST ADDRESS,ADDRESS" when the agent's DNS stage asked the OS resolver
-- (`Dns.source` "system"); '' when it did not (a `resolve` override, a proxy), when it got
-- nothing, and for rows stored before this version.
ALTER TABLE results ADD COLUMN system_dns TEXT NOT NULL DEFAULT '';
ALTER TABLE latest ADD COLUMN system_dns TEXT NOT NULL DEFAULT '';

-- The gap engine's whole-fleet read stays one pass over the covering index (see 0006).
DROP INDEX latest_state;
CREATE INDEX latest_state ON latest (agent_id, check_id, seq, outcome, failure_kind,
    warning_kinds, duration_us, received_unix_ms, stage_durations, system_dns);
