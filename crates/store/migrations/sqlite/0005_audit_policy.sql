-- eceprobe collector store, version 5: the role policy each audit was evaluated with, as
-- TOML (the format `serve --policy` reads), so an audit read a year later shows the gaps
-- it found then, not what today's policy would make of its results. '' for audits
-- recorded before this version: they are read with the policy now in force.
ALTER TABLE audits ADD COLUMN policy TEXT NOT NULL DEFAULT '';
