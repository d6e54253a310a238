-- eceprobe collector store, version 4: retention keeps audit evidence.

-- Pruning history by age skips the results tagged with an audit (they are the audit's
-- evidence and go with the audit): this index holds the untagged rows only, so a prune step
-- never walks over the tagged ones it keeps.
DROP INDEX results_by_received;
CREATE INDEX results_untagged_by_received ON results (received_unix_ms) WHERE audit_id = '';

-- Pruning closed audits by age.
CREATE INDEX audits_closed ON audits (closed_unix_ms) WHERE state = 'closed';
