#!/usr/bin/env python3
"""Run the store's doubtful statements, and their portable rewrites, on both engines.

Each case runs on SQLite (python's sqlite3, the 14 migrations) and on PostgreSQL (psql, the
schema of postgres/0001_schema.sql in a throwaway schema), with `$N` placeholders bound
the way sqlx binds them: PostgreSQL gets PREPARE with the parameters' declared types
(sqlx-postgres declares text / int8 / bool for &str / i64 / bool, and typed NULLs for
None), SQLite gets `$N` as sqlx-sqlite does. A case says what it expects of each engine:
rows, or an error. Prints one line per case and engine; exits 1 when an engine did not do
what its case expects. POSTGRES-NOTES.md quotes these results.

    portable_sql_check.py POSTGRES_URL     (default $ECEPROBE_TEST_POSTGRES)
"""

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQLITE_DIRS = [HERE / "sqlite", HERE.parent.parent / "collector" / "migrations"]
PG_FILE = HERE / "postgres" / "0001_schema.sql"
ERROR = "error"


def agent(agent_id, deployment="prod", seen=10):
    return ("INSERT INTO agents (agent_id, hostname, role, deployment, agent_version, os, "
            "ece_version, ece_es, probe_interval_s, first_seen_unix_ms, seen_unix_ms) VALUES "
            f"('{agent_id}', 'h', 'web', '{deployment}', '1', 'linux', '12', 'x', 60, 1, {seen})")


def result(agent_id, seq, check="imap", received=100, audit=""):
    return ("INSERT INTO results (agent_id, seq, check_id, started_unix_ms, received_unix_ms, "
            f"outcome, duration_us, detail, audit_id) VALUES ('{agent_id}', {seq}, '{check}', "
            f"{received - 1}, {received}, 'pass', 5, X'00', '{audit}')")


def gap(agent_id, kind, detail, opened, closed="NULL", deployment="prod"):
    return ("INSERT INTO gaps (deployment, agent_id, check_id, kind, severity, detail, "
            f"opened_unix_ms, closed_unix_ms) VALUES ('{deployment}', '{agent_id}', 'imap', "
            f"'{kind}', 'gap', '{detail}', {opened}, {closed})")


AUDITS = [
    "INSERT INTO audits (audit_id, deployment, started_unix_ms, deadline_unix_ms, state) "
    f"VALUES ('{a}', 'prod', 5, 9, 'closed')" for a in ("B", "a", "C", "b")
]

TIMELINE = (
    "WITH w AS (SELECT gap_id, agent_id, check_id, kind, opened_unix_ms FROM gaps "
    "WHERE closed_unix_ms IS NULL AND opened_unix_ms <= $1 UNION ALL SELECT gap_id, agent_id, "
    "check_id, kind, opened_unix_ms FROM gaps WHERE closed_unix_ms IS NOT NULL AND "
    "closed_unix_ms >= $2 AND opened_unix_ms <= $1), lanes AS (SELECT agent_id, check_id, kind, "
    "MIN(opened_unix_ms) AS first_opened, COUNT(*) AS in_window, COUNT(*) OVER () AS lanes_total "
    "FROM w GROUP BY agent_id, check_id, kind ORDER BY first_opened, agent_id, check_id, kind "
    "LIMIT $3) SELECT agent_id, kind, opened_unix_ms, in_window, lanes_total, nth FROM (SELECT "
    "w.*, lanes.first_opened, lanes.in_window, lanes.lanes_total, ROW_NUMBER() OVER (PARTITION BY "
    "w.agent_id, w.check_id, w.kind ORDER BY w.opened_unix_ms DESC, w.gap_id DESC) AS nth FROM w "
    "JOIN lanes USING (agent_id, check_id, kind)){alias} WHERE nth <= $4 "
    "ORDER BY first_opened, agent_id, check_id, kind, opened_unix_ms, gap_id")
TIMELINE_SETUP = [agent("a"), gap("a", "failing", "x", 1, 2), gap("a", "failing", "x", 3, 4),
                  gap("a", "failing", "x", 5), gap("b", "stale", "y", 2, 9)]
# Window [3, 10]: a's first gap closed at 2 is out; b's lane opened first (2), then a's (3).
TIMELINE_ROWS = [("b", "stale", "2", "1", "2", "1"), ("a", "failing", "3", "2", "2", "2"),
                 ("a", "failing", "5", "2", "2", "1")]

# name, setup, sql, params [(pg type, value)], expected on SQLite, expected on PostgreSQL.
CASES = [
    ("two-argument MAX (results.rs:73, fleet.rs:118) as written",
     [agent("a", seen=50)], "UPDATE agents SET seen_unix_ms = MAX(seen_unix_ms, $2) "
     "WHERE agent_id = $1 RETURNING seen_unix_ms", [("text", "a"), ("bigint", 40)],
     [("50",)], ERROR),
    ("two-argument MAX rewritten as CASE",
     [agent("a", seen=50)], "UPDATE agents SET seen_unix_ms = CASE WHEN seen_unix_ms >= $2 "
     "THEN seen_unix_ms ELSE $2 END WHERE agent_id = $1 RETURNING seen_unix_ms",
     [("text", "a"), ("bigint", 70)], [("70",)], [("70",)]),
    ("two-argument MIN rewritten as CASE (fleet.rs:98)",
     ["INSERT INTO collector_runs (started_unix_ms, alive_unix_ms) VALUES (100, 200)"],
     "UPDATE collector_runs SET started_unix_ms = CASE WHEN started_unix_ms <= $1 THEN "
     "started_unix_ms ELSE $1 END, alive_unix_ms = CASE WHEN alive_unix_ms <= $1 THEN "
     "alive_unix_ms ELSE $1 END WHERE alive_unix_ms > $1 RETURNING started_unix_ms, alive_unix_ms",
     [("bigint", 150)], [("100", "150")], [("100", "150")]),
    ("upsert with MAX over excluded rewritten as CASE (results.rs:39)",
     [agent("a", seen=50)], agent("a", seen=30).replace("$", "") +
     " ON CONFLICT (agent_id) DO UPDATE SET seen_unix_ms = CASE WHEN agents.seen_unix_ms >= "
     "excluded.seen_unix_ms THEN agents.seen_unix_ms ELSE excluded.seen_unix_ms END, "
     "retired_unix_ms = NULL RETURNING seen_unix_ms", [], [("50",)], [("50",)]),
    ("closing gaps at MAX(opened, $2) rewritten as CASE, RETURNING (fleet.rs:145)",
     [gap("a", "failing", "x", 500)], "UPDATE gaps SET closed_unix_ms = CASE WHEN "
     "opened_unix_ms >= $2 THEN opened_unix_ms ELSE $2 END, close_reason = 'retired' WHERE "
     "agent_id = $1 AND closed_unix_ms IS NULL RETURNING closed_unix_ms, close_reason",
     [("text", "a"), ("bigint", 400)], [("500", "retired")], [("500", "retired")]),
    ("prune by rowid (results.rs:232) as written",
     [agent("a"), result("a", 1)], "DELETE FROM results WHERE rowid IN (SELECT rowid FROM "
     "results WHERE audit_id = '' AND received_unix_ms < $1 ORDER BY received_unix_ms LIMIT $2)",
     [("bigint", 1000), ("bigint", 10)], [], ERROR),
    ("prune by primary key rewritten, oldest first, LIMIT in the subquery",
     [agent("a"), result("a", 1, received=300), result("a", 2, received=100),
      result("a", 3, received=200), result("a", 4, received=50, audit="au")],
     "DELETE FROM results WHERE (agent_id, seq) IN (SELECT agent_id, seq FROM results "
     "WHERE audit_id = '' AND received_unix_ms < $1 ORDER BY received_unix_ms LIMIT $2) "
     "RETURNING seq", [("bigint", 1000), ("bigint", 2)], [("2",), ("3",)], [("2",), ("3",)]),
    ("first word of detail by instr (gaps.rs:220) as written",
     [gap("a", "failing", "tcp_refused 1.2.3.4", 1)], "SELECT gap_id FROM gaps WHERE "
     "CASE instr(detail, ' ') WHEN 0 THEN detail ELSE substr(detail, 1, instr(detail, ' ') - 1) "
     "END IN ($1)", [("text", "tcp_refused")], [("1",)], ERROR),
    ("first word of detail rewritten with substr and length",
     [gap("a", "failing", "tcp_refused 1.2.3.4", 1), gap("b", "failing", "tcp_refused", 2),
      gap("c", "failing", "tcp_refusedX 1", 3), gap("d", "failing", "tls", 4),
      gap("e", "failing", "tcpXrefused", 5)],
     "SELECT agent_id FROM gaps WHERE substr(detail || ' ', 1, length($1) + 1) = $1 || ' ' "
     "OR substr(detail || ' ', 1, length($2) + 1) = $2 || ' ' ORDER BY agent_id",
     [("text", "tcp_refused"), ("text", "tls")], [("a",), ("b",), ("d",)],
     [("a",), ("b",), ("d",)]),
    ("INDEXED BY (metrics.rs:38) as written",
     [], "SELECT l.agent_id FROM latest AS l INDEXED BY latest_state JOIN agents AS a ON "
     "a.agent_id = l.agent_id WHERE a.retired_unix_ms IS NULL ORDER BY l.agent_id, l.check_id",
     [], [], ERROR),
    ("subquery in FROM without an alias (timeline.rs:81) as written",
     TIMELINE_SETUP, TIMELINE.replace("{alias}", ""),
     [("bigint", 10), ("bigint", 3), ("bigint", 60), ("bigint", 2)], TIMELINE_ROWS, ERROR),
    ("subquery in FROM given an alias: the whole timeline query",
     TIMELINE_SETUP, TIMELINE.replace("{alias}", " AS t"),
     [("bigint", 10), ("bigint", 3), ("bigint", 60), ("bigint", 2)], TIMELINE_ROWS, TIMELINE_ROWS),
    ("keyset on (started_unix_ms, audit_id) (audits.rs:311): byte order with COLLATE \"C\"",
     AUDITS, "SELECT audit_id FROM audits WHERE deployment = $1 AND state = 'closed' AND "
     "(started_unix_ms, audit_id) < ($2, $3) ORDER BY started_unix_ms DESC, audit_id DESC",
     [("text", "prod"), ("bigint", 5), ("text", "b")], [("a",), ("C",), ("B",)],
     [("a",), ("C",), ("B",)]),
    ("$1 IS NULL OR deployment = $1 (audits.rs:281) with a typed NULL",
     AUDITS, "SELECT COUNT(*) FROM audits WHERE $1 IS NULL OR deployment = $1 LIMIT $2",
     [("text", None), ("bigint", 10)], [("4",)], [("4",)]),
    ("$1 IS NULL alone, parameter type not declared (as psql or another client would send it)",
     [], "SELECT $1 IS NULL", [(None, None)], [("1",)], ERROR),
    ("CAST($1 AS BIGINT) IS NULL, the portable form when a type cannot be inferred",
     [], "SELECT CASE WHEN CAST($1 AS BIGINT) IS NULL THEN 1 ELSE 0 END", [(None, None)],
     [("1",)], [("1",)]),
    ("a boolean expression returned as a value",
     [], "SELECT 2 > 1", [], [("1",)], [("t",)]),
    ("the same as a number, portable: CASE WHEN ... THEN 1 ELSE 0 END",
     [], "SELECT CASE WHEN 2 > 1 THEN 1 ELSE 0 END", [], [("1",)], [("1",)]),
    ("a bool bound to a BIGINT flag (audits.rs:179, ordered)",
     ["INSERT INTO audits (audit_id, deployment, started_unix_ms, deadline_unix_ms, state) "
      "VALUES ('x', 'p', 1, 2, 'running')"],
     "INSERT INTO audit_servers (audit_id, agent_id, ordered) VALUES ($1, $2, $3)",
     [("text", "x"), ("text", "a"), ("boolean", True)], [], ERROR),
    ("(agent_id, check_id) IN (VALUES ...) (web.rs:332)",
     [agent("a"), agent("b"), result("a", 1), result("b", 2, check="pop3"),
      "INSERT INTO latest SELECT agent_id, check_id, seq, started_unix_ms, received_unix_ms, "
      "outcome, failure_kind, failure_stage, duration_us, detail, warning_kinds, "
      "stage_durations, system_dns FROM results"],
     "SELECT agent_id, check_id FROM latest WHERE (agent_id, check_id) IN (VALUES ($1, $2), "
     "($3, $4)) ORDER BY agent_id", [("text", "a"), ("text", "imap"), ("text", "b"),
                                     ("text", "imap")], [("a", "imap")], [("a", "imap")]),
    ("latest-state upsert from a SELECT, only a higher seq wins (results.rs:100)",
     [agent("a"), result("a", 5), result("a", 3),
      "INSERT INTO latest (agent_id, check_id, seq, started_unix_ms, received_unix_ms, outcome, "
      "duration_us, detail) VALUES ('a', 'imap', 4, 1, 1, 'warn', 1, X'00')"],
     "INSERT INTO latest (agent_id, seq, check_id, started_unix_ms, received_unix_ms, outcome, "
     "failure_kind, failure_stage, duration_us, warning_kinds, detail, stage_durations, "
     "system_dns) SELECT agent_id, seq, check_id, started_unix_ms, received_unix_ms, outcome, "
     "failure_kind, failure_stage, duration_us, warning_kinds, detail, stage_durations, "
     "system_dns FROM results WHERE agent_id = $1 AND seq = $2 ON CONFLICT (agent_id, check_id) "
     "DO UPDATE SET seq = excluded.seq, outcome = excluded.outcome WHERE excluded.seq > latest.seq "
     "RETURNING seq, outcome", [("text", "a"), ("bigint", 5)], [("5", "pass")], [("5", "pass")]),
    ("the same upsert with a lower seq: no row changed",
     [agent("a"), result("a", 3),
      "INSERT INTO latest (agent_id, check_id, seq, started_unix_ms, received_unix_ms, outcome, "
      "duration_us, detail) VALUES ('a', 'imap', 4, 1, 1, 'warn', 1, X'00')"],
     "INSERT INTO latest (agent_id, seq, check_id, started_unix_ms, received_unix_ms, outcome, "
     "duration_us, detail) SELECT agent_id, seq, check_id, started_unix_ms, received_unix_ms, "
     "outcome, duration_us, detail FROM results WHERE agent_id = $1 AND seq = $2 "
     "ON CONFLICT (agent_id, check_id) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > "
     "latest.seq RETURNING seq", [("text", "a"), ("bigint", 3)], [], []),
    ("outbox trim: DELETE ... IN (SELECT ... ORDER BY ... LIMIT) RETURNING (outbox.rs:223)",
     [f"INSERT INTO webhook_outbox (webhook, event_id, event_kind, body, next_attempt_unix_ms, "
      f"created_unix_ms) VALUES ('w', 'e{i}', 'k', 'b', 0, 0)" for i in range(4)],
     "DELETE FROM webhook_outbox WHERE outbox_id IN (SELECT outbox_id FROM webhook_outbox "
     "WHERE webhook = $1 ORDER BY outbox_id LIMIT $2) RETURNING outbox_id, event_id",
     [("text", "w"), ("bigint", 2)], [("1", "e0"), ("2", "e1")], [("1", "e0"), ("2", "e1")]),
    ("outbox due: COALESCE(MIN(...), i64::MAX), $1 used twice (outbox.rs:316)",
     [f"INSERT INTO webhook_outbox (webhook, event_id, event_kind, body, next_attempt_unix_ms, "
      f"created_unix_ms) VALUES ('w', 'e{i}', 'k', 'b', {t}, 0)" for i, t in enumerate([0, 0, 500, 0])],
     "SELECT event_id FROM webhook_outbox WHERE webhook = $1 AND outbox_id < COALESCE((SELECT "
     "MIN(outbox_id) FROM webhook_outbox WHERE webhook = $1 AND next_attempt_unix_ms > $2 AND "
     "next_attempt_unix_ms <= $4), 9223372036854775807) ORDER BY outbox_id LIMIT $3",
     [("text", "w"), ("bigint", 100), ("bigint", 10), ("bigint", 60100)],
     [("e0",), ("e1",)], [("e0",), ("e1",)]),
    ("quarantine ids after ON CONFLICT DO NOTHING (quarantine.rs:37): both engines skip an id "
     "per conflicting try (SQLite's AUTOINCREMENT too)",
     ["INSERT INTO quarantine (agent_id, seq, reason, summary, received_unix_ms) VALUES "
      f"('a', {s}, 'r', 's', 1) ON CONFLICT (agent_id, seq) DO NOTHING" for s in (1, 1, 1, 2, 2, 3)],
     "SELECT id FROM quarantine ORDER BY id", [], [("1",), ("4",), ("6",)],
     [("1",), ("4",), ("6",)]),
    ("quarantine trim by id arithmetic (quarantine.rs:61): keeps 1 of 3 rows, not 2, on both",
     ["INSERT INTO quarantine (agent_id, seq, reason, summary, received_unix_ms) VALUES "
      f"('a', {s}, 'r', 's', 1) ON CONFLICT (agent_id, seq) DO NOTHING" for s in (1, 1, 1, 2, 2, 3)],
     "DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - $1; "
     "SELECT COUNT(*) FROM quarantine", [("bigint", 2)], [("1",)], [("1",)]),
    ("quarantine trim rewritten: keep the $1 newest by OFFSET",
     ["INSERT INTO quarantine (agent_id, seq, reason, summary, received_unix_ms) VALUES "
      f"('a', {s}, 'r', 's', 1) ON CONFLICT (agent_id, seq) DO NOTHING" for s in (1, 1, 1, 2, 2, 3)],
     "DELETE FROM quarantine WHERE id <= (SELECT id FROM quarantine ORDER BY id DESC LIMIT 1 "
     "OFFSET $1); SELECT seq FROM quarantine ORDER BY seq", [("bigint", 2)],
     [("2",), ("3",)], [("2",), ("3",)]),
    ("the rewritten trim with fewer rows than kept deletes nothing",
     ["INSERT INTO quarantine (agent_id, seq, reason, summary, received_unix_ms) VALUES "
      "('a', 1, 'r', 's', 1)"],
     "DELETE FROM quarantine WHERE id <= (SELECT id FROM quarantine ORDER BY id DESC LIMIT 1 "
     "OFFSET $1); SELECT COUNT(*) FROM quarantine", [("bigint", 1000)], [("1",)], [("1",)]),
    ("stage_hourly upsert WHERE excluded... < table... (latency_ingest.rs:49)",
     [agent("a"), "INSERT INTO stage_hourly VALUES ('a', 'imap', 0, 50, 1, 'dns:1')"],
     "INSERT INTO stage_hourly (agent_id, check_id, hour_unix_ms, started_unix_ms, seq, "
     "stage_durations) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, check_id, "
     "hour_unix_ms) DO UPDATE SET started_unix_ms = excluded.started_unix_ms, seq = excluded.seq, "
     "stage_durations = excluded.stage_durations WHERE excluded.started_unix_ms < "
     "stage_hourly.started_unix_ms RETURNING seq",
     [("text", "a"), ("text", "imap"), ("bigint", 0), ("bigint", 40), ("bigint", 2),
      ("text", "dns:2")], [("2",)], [("2",)]),
    ("stage_hourly prune: row value IN (SELECT ... LIMIT) (results.rs:245)",
     [agent("a")] + [f"INSERT INTO stage_hourly VALUES ('a', 'imap', {h}, {h}, 1, 'd')"
                     for h in (3, 1, 2)],
     "DELETE FROM stage_hourly WHERE (agent_id, check_id, hour_unix_ms) IN (SELECT agent_id, "
     "check_id, hour_unix_ms FROM stage_hourly WHERE started_unix_ms < $1 ORDER BY "
     "started_unix_ms LIMIT $2) RETURNING hour_unix_ms", [("bigint", 10), ("bigint", 2)],
     [("1",), ("2",)], [("1",), ("2",)]),
    ("QueryBuilder<Any> placeholders: `?` (sqlx's default format_placeholder)",
     [], "SELECT COUNT(*) FROM gaps WHERE agent_id = ?", [("text", "a")], [("0",)], ERROR),
    ("BEGIN IMMEDIATE (writer.rs:186)", [], "BEGIN IMMEDIATE", [], None, ERROR),
    ("a NUL character in TEXT",
     [], "SELECT length(CAST(X'610062' AS TEXT))", [], [("1",)], None),
]

# PostgreSQL has no literal for text holding NUL; decoding the bytes is how a bound string
# with a NUL reaches it (and fails the same way).
PG_ONLY = [
    ("a NUL character in TEXT (a bound Rust String holding \\0)",
     "SELECT length(convert_from('\\x610062'::bytea, 'UTF8'))", ERROR),
    # These two run on (psql's ON_ERROR_STOP off): the rows, then the errors, in order.
    ("SAVEPOINT request / RELEASE request / ROLLBACK TO request (writer.rs:195-208)",
     "BEGIN; SAVEPOINT request; SELECT 1/0; ROLLBACK TO request; RELEASE request; "
     "SAVEPOINT request; SELECT 7; RELEASE request; COMMIT", [("7",), ("division by zero",)]),
    ("after an error, the transaction is aborted until ROLLBACK TO",
     "BEGIN; SAVEPOINT request; SELECT 1/0; SELECT 7; COMMIT",
     [("division by zero",), ("current transaction is aborted, commands ignored until end of "
                              "transaction block",)]),
]


def sqlite_db():
    migrations = next((d for d in SQLITE_DIRS if d.is_dir()), None)
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    for f in sorted(migrations.glob("*.sql")):
        db.executescript(f.read_text())
    return db


def run_sqlite(setup, sql, params):
    db = sqlite_db()
    try:
        for s in setup:
            db.execute(s)
        rows = []
        for stmt in [s for s in sql.split("; ") if s.strip()]:
            if "$" in stmt:
                bound = {str(i + 1): v for i, (_, v) in enumerate(params)}
            else:
                bound = [v for _, v in params] if "?" in stmt else []
            rows = db.execute(stmt, bound).fetchall()
        return [tuple("NULL" if v is None else str(v) for v in r) for r in rows]
    except sqlite3.Error as e:
        return f"{ERROR}: {e}"


def pg_literal(t, v):
    if v is None:
        return "NULL"
    if t == "boolean":
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def run_pg(url, ns, setup, sql, params):
    # X'..' is a blob in SQLite, a bit string in PostgreSQL.
    setup = [s.replace("X'00'", "'\\x00'::bytea") for s in setup]
    lines = [f"SET search_path = {ns};", "BEGIN;"] + [s + ";" for s in setup]
    stmts = [s for s in sql.split("; ") if s.strip()]
    for i, stmt in enumerate(stmts):
        if params and ("$" in stmt or "?" in stmt):
            types = ", ".join(t or "unknown" for t, _ in params)
            args = ", ".join(pg_literal(t, v) for t, v in params)
            lines.append(f"PREPARE q{i} ({types}) AS {stmt};")
            lines.append(f"EXECUTE q{i} ({args});")
        else:
            lines.append(stmt + ";")
    lines.append("ROLLBACK;")
    return psql(url, "\n".join(lines))


def psql(url, script, stop=True):
    done = subprocess.run(["psql", url, "-X", "-q", "-At", "-F", "|", "-v", f"ON_ERROR_STOP={int(stop)}",
                           "-P", "null=NULL"], input=script, capture_output=True, text=True)
    if done.returncode != 0 or not stop and done.stderr.strip():
        msg = done.stderr.strip().splitlines()
        if not stop:
            return [tuple(l.split("|")) for l in done.stdout.splitlines() if l] + [
                (m.split("ERROR:")[-1].strip(),) for m in msg if "ERROR:" in m]
        return f"{ERROR}: {msg[0] if msg else done.returncode}"
    out = [l for l in done.stdout.splitlines() if l not in ("", "SET", "BEGIN", "ROLLBACK")]
    # Only the last statement's rows count (earlier ones are setup or a first step).
    return [tuple(l.split("|")) for l in out[-(len(out)):]] if out else []


def verdict(expected, got, unordered=False):
    if unordered and isinstance(got, list):
        # DELETE ... RETURNING gives its rows in no promised order, on either engine.
        got, expected = sorted(got), sorted(expected)
    if expected is None:
        return "n/a"
    if expected == ERROR:
        return "ok" if isinstance(got, str) and got.startswith(ERROR) else "UNEXPECTED"
    return "ok" if got == expected else "UNEXPECTED"


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ECEPROBE_TEST_POSTGRES")
    if not url:
        print("no PostgreSQL: give its URL or set ECEPROBE_TEST_POSTGRES", file=sys.stderr)
        return 2
    ns = "chk_" + uuid.uuid4().hex[:12]
    made = psql(url, f"CREATE SCHEMA {ns}; SET search_path = {ns};\n" + PG_FILE.read_text())
    if isinstance(made, str):
        print(f"loading {PG_FILE} failed: {made}", file=sys.stderr)
        return 2
    bad = 0
    try:
        print(f"SQLite {sqlite3.sqlite_version} (python) and PostgreSQL at {url.split('@')[-1]}")
        for name, setup, sql, params, want_lite, want_pg in CASES:
            lite = run_sqlite(setup, sql, params) if want_lite is not None else None
            pg = run_pg(url, ns, setup, sql, params) if want_pg is not None else None
            unordered = sql.startswith("DELETE") and "RETURNING" in sql
            vl, vp = verdict(want_lite, lite, unordered), verdict(want_pg, pg, unordered)
            bad += (vl == "UNEXPECTED") + (vp == "UNEXPECTED")
            print(f"- {name}\n    sqlite [{vl}]: {lite}\n    postgres [{vp}]: {pg}")
        for name, script, want in PG_ONLY:
            got = psql(url, f"SET search_path = {ns};\n{script};", stop=want == ERROR)
            v = verdict(want, got)
            bad += v == "UNEXPECTED"
            print(f"- {name}\n    postgres [{v}]: {got}")
    finally:
        psql(url, f"DROP SCHEMA IF EXISTS {ns} CASCADE;")
    print(f"{len(CASES) + len(PG_ONLY)} cases, {bad} unexpected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
