-- eceprobe collector store, version 13: the gap timeline's reads.

-- The timeline draws every gap that overlapped a window (the last 7 or 30 days) of one
-- deployment or one server: the open ones come from the partial indexes of open gaps
-- (0002, 0007); the closed ones are those closed after the window's start. These two
-- walk just that range within one deployment or one server, never older history
-- (gaps_by_closed alone would read the whole fleet's range and filter it).
CREATE INDEX gaps_closed_by_deployment ON gaps (deployment, closed_unix_ms)
    WHERE closed_unix_ms IS NOT NULL;
CREATE INDEX gaps_closed_by_agent ON gaps (agent_id, closed_unix_ms)
    WHERE closed_unix_ms IS NOT NULL;
