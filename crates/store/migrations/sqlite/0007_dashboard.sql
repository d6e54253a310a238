-- eceprobe collector store, version 7: the dashboard's reads, a page at a time.

-- The overview lists servers by deployment then id, a page at a time (LIMIT/OFFSET), and
-- counts them per deployment: both walk this index instead of sorting the whole table.
CREATE INDEX agents_by_deployment ON agents (deployment, agent_id);

-- Open gaps counted per deployment and severity (overview) and listed newest first, within
-- a deployment or not (gaps page): a small partial index, like gaps_open, that never holds
-- closed history.
CREATE INDEX gaps_open_by_deployment ON gaps (deployment, severity, opened_unix_ms)
    WHERE closed_unix_ms IS NULL;
CREATE INDEX gaps_open_by_opened ON gaps (opened_unix_ms DESC, gap_id DESC)
    WHERE closed_unix_ms IS NULL;
