-- eceprobe collector store, version 11: ECE's Java runtime and trust store as each agent
-- reported them in its Hello (issue 14), replaced at every Hello as the other declared
-- facts are.
--
-- java_truststore NULL: not reported (an agent that predates the report, or a row from
-- before this version), which is not "no Java". A reporting agent always sends the line
-- it printed (found and read, none found, or why not), at most 1024 bytes.
-- java_runtime: the runtime's home; '' when the agent identified none (the trust store
-- line says why); NULL when not reported.
ALTER TABLE agents ADD COLUMN java_runtime TEXT;
ALTER TABLE agents ADD COLUMN java_truststore TEXT;
