#!/usr/bin/env python3
"""Compare the PostgreSQL schema with the SQLite schema its migrations build.

Loads every SQLite migration, in order, into an in-memory SQLite database (python's
sqlite3), and the PostgreSQL schema into a throwaway schema of a live PostgreSQL (through
psql, so no driver is needed), then compares tables, columns (order, type, NOT NULL,
default), primary keys, UNIQUE constraints, foreign keys, CHECK constraints and named
indexes (columns, order, uniqueness, partial predicate). Prints every difference; exits 0
when there is none, 1 when there is one, 2 when it cannot run.

    compare_schemas.py POSTGRES_URL [SQLITE_MIGRATIONS_DIR] [POSTGRES_MIGRATIONS]

POSTGRES_MIGRATIONS is a directory (every *.sql in it, in name order, as sqlx applies
them; default postgres/ here) or one file.

POSTGRES_URL defaults to $ECEPROBE_TEST_POSTGRES. The throwaway schema is dropped at the end.
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Until the store crate takes them, the SQLite migrations live with the collector.
SQLITE_DIRS = [HERE / "sqlite", HERE.parent.parent / "collector" / "migrations"]
PG_DIR = HERE / "postgres"

# SQLite declared type -> the PostgreSQL type the schema must use (see 0001_schema.sql).
TYPE_MAP = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea"}


def norm_expr(sql):
    """An expression in a comparable form: PostgreSQL's deparsed casts, ANY(ARRAY[...]) and
    extra parentheses undone, case and spaces folded."""
    if sql is None:
        return None
    s = sql.strip()
    s = re.sub(r"::[a-z ]+(\[\])?", "", s)
    s = re.sub(r"=\s*ANY\s*\(\s*ARRAY\s*\[(.*?)\]\s*\)", r"IN (\1)", s, flags=re.I)
    s = re.sub(r'\s+COLLATE\s+"C"', "", s)
    s = s.replace("(", " ").replace(")", " ")
    s = re.sub(r"\s*,\s*", ", ", s)
    return " ".join(s.lower().split())


def check_bodies(create_sql):
    """The CHECK (...) expressions of a CREATE TABLE statement, parentheses balanced."""
    out = []
    for m in re.finditer(r"\bCHECK\s*\(", create_sql, re.I):
        depth, i = 1, m.end()
        while depth and i < len(create_sql):
            depth += {"(": 1, ")": -1}.get(create_sql[i], 0)
            i += 1
        out.append(create_sql[m.end() : i - 1])
    return out


def sqlite_schema(migrations):
    db = sqlite3.connect(":memory:")
    files = sorted(migrations.glob("*.sql"))
    if not files:
        raise SystemExit(f"no SQLite migrations in {migrations}")
    for f in files:
        db.executescript(f.read_text())
    tables = {}
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for t in names:
        cols = [
            {"name": name, "type": TYPE_MAP.get(decl.upper(), f"?{decl}"),
             # A PRIMARY KEY column is NOT NULL in PostgreSQL; SQLite's INTEGER PRIMARY KEY
             # (the rowid) cannot be NULL either, whatever notnull says.
             "notnull": bool(notnull or pk), "default": norm_expr(default)}
            for _, name, decl, notnull, default, pk in db.execute(f"PRAGMA table_info({t})")
        ]
        pk = [name for _, name, _, _, _, k in sorted(db.execute(f"PRAGMA table_info({t})"), key=lambda r: r[5]) if k]
        fks = sorted(
            (frm, ref, to, on_delete.upper())
            for _, _, ref, frm, to, _, on_delete, _ in db.execute(f"PRAGMA foreign_key_list({t})"))
        uniques, indexes = [], {}
        for _, iname, unique, origin, partial in db.execute(f"PRAGMA index_list({t})"):
            icols = [
                (col, "desc" if desc else "asc")
                for _, _, col, desc, _, _ in sorted(db.execute(f"PRAGMA index_xinfo({iname})"))
                if key_flag(db, iname, col)
            ]
            if origin == "u":
                uniques.append([c for c, _ in icols])
            elif origin == "c":
                sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (iname,)).fetchone()[0]
                where = re.search(r"\bWHERE\b(.*)$", sql, re.I | re.S)
                indexes[iname] = {"columns": icols, "unique": bool(unique),
                                  "where": norm_expr(where.group(1)) if where else None}
        create = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0]
        checks = sorted(norm_expr(c) for c in check_bodies(create))
        tables[t] = {"columns": cols, "pk": pk, "uniques": sorted(uniques), "fks": fks,
                     "indexes": indexes, "checks": checks}
    return tables


def key_flag(db, index, col):
    for _, _, name, _, _, key in db.execute(f"PRAGMA index_xinfo({index})"):
        if name == col:
            return key
    return 0


PG_INTROSPECT = """
SELECT json_build_object(
 'columns', (SELECT json_agg(json_build_object('table', c.relname, 'name', a.attname,
    'type', format_type(a.atttypid, a.atttypmod), 'notnull', a.attnotnull,
    'default', pg_get_expr(d.adbin, d.adrelid), 'identity', a.attidentity,
    'collation', co.collname) ORDER BY c.relname, a.attnum)
   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
   WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
   AND a.attnum > 0 AND NOT a.attisdropped),
 'constraints', (SELECT json_agg(json_build_object('table', c.relname, 'type', k.contype,
    'columns', (SELECT json_agg(a.attname ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n),
    'ref', f.relname,
    'refcolumns', (SELECT json_agg(a.attname ORDER BY u.i) FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                   JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n),
    'on_delete', k.confdeltype, 'def', pg_get_constraintdef(k.oid)))
   FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_class f ON f.oid = k.confrelid
   WHERE c.relnamespace = current_schema()::regnamespace),
 'indexes', (SELECT json_agg(json_build_object('table', t.relname, 'name', i.relname,
    'unique', x.indisunique, 'constraint', EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid),
    'where', pg_get_expr(x.indpred, x.indrelid),
    'columns', (SELECT json_agg(json_build_array(pg_get_indexdef(i.oid, n, true),
                 CASE WHEN x.indoption[n - 1] & 1 = 1 THEN 'desc' ELSE 'asc' END) ORDER BY n)
                FROM generate_series(1, x.indnkeyatts) n)))
   FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
   WHERE t.relnamespace = current_schema()::regnamespace));
"""

ON_DELETE = {"c": "CASCADE", "a": "NO ACTION", "r": "RESTRICT", "n": "SET NULL", "d": "SET DEFAULT"}


def psql(url, sql):
    done = subprocess.run(["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                          input=sql, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"psql failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def pg_migrations_text(path):
    """The PostgreSQL migrations as one script: a file, or a directory's *.sql in order."""
    if path.is_dir():
        return "\n".join(f.read_text() for f in sorted(path.glob("*.sql")))
    return path.read_text()


def pg_schema(url, schema_file):
    ns = "cmp_" + uuid.uuid4().hex[:12]
    setup = f"CREATE SCHEMA {ns}; SET search_path = {ns};\n"
    try:
        out = psql(url, setup + pg_migrations_text(schema_file) + "\n" + PG_INTROSPECT)
    finally:
        psql(url, f"DROP SCHEMA IF EXISTS {ns} CASCADE;")
    raw = json.loads(out.strip().splitlines()[-1])
    tables = {}
    for c in raw["columns"] or []:
        t = tables.setdefault(c["table"], {"columns": [], "pk": [], "uniques": [], "fks": [],
                                           "indexes": {}, "checks": [], "collations": {}})
        default = c["default"]
        t["columns"].append({"name": c["name"], "type": c["type"], "notnull": c["notnull"],
                             "default": norm_expr(default)})
        t["collations"][c["name"]] = (c["collation"], c["identity"])
    constraint_indexes = set()
    for k in raw["constraints"] or []:
        t = tables[k["table"]]
        if k["type"] == "p":
            t["pk"] = k["columns"]
        elif k["type"] == "u":
            t["uniques"].append(k["columns"])
        elif k["type"] == "f":
            t["fks"].extend((frm, k["ref"], to, ON_DELETE[k["on_delete"]])
                            for frm, to in zip(k["columns"], k["refcolumns"]))
        elif k["type"] == "c":
            body = re.match(r"CHECK \((.*)\)$", k["def"], re.S).group(1)
            t["checks"].append(norm_expr(body))
    for i in raw["indexes"] or []:
        if i["constraint"]:
            continue
        tables[i["table"]]["indexes"][i["name"]] = {
            "columns": [tuple(c) for c in i["columns"]], "unique": i["unique"],
            "where": norm_expr(i["where"])}
    for t in tables.values():
        t["uniques"].sort()
        t["fks"].sort()
        t["checks"].sort()
    return tables


def compare(lite, pg):
    diffs = []
    for name in sorted(set(lite) | set(pg)):
        if name not in pg:
            diffs.append(f"table {name}: in SQLite, not in PostgreSQL")
            continue
        if name not in lite:
            diffs.append(f"table {name}: in PostgreSQL, not in SQLite")
            continue
        a, b = lite[name], pg[name]
        la = [c["name"] for c in a["columns"]]
        lb = [c["name"] for c in b["columns"]]
        if la != lb:
            diffs.append(f"table {name}: columns SQLite {la} vs PostgreSQL {lb}")
        pgcols = {c["name"]: c for c in b["columns"]}
        for c in a["columns"]:
            p = pgcols.get(c["name"])
            if p is None:
                continue
            for field in ("type", "notnull", "default"):
                if c[field] != p[field]:
                    diffs.append(f"{name}.{c['name']}: {field} SQLite {c[field]!r} vs PostgreSQL {p[field]!r}")
            collation, identity = b["collations"][c["name"]]
            if p["type"] == "text" and collation != "C":
                diffs.append(f"{name}.{c['name']}: text column without COLLATE \"C\" ({collation})")
            is_rowid_alias = a["pk"] == [c["name"]] and c["type"] == "bigint"
            if is_rowid_alias != (identity == "d"):
                diffs.append(f"{name}.{c['name']}: INTEGER PRIMARY KEY and IDENTITY BY DEFAULT do not go together "
                             f"(SQLite rowid alias {is_rowid_alias}, PostgreSQL identity {identity!r})")
        for field in ("pk", "uniques", "fks", "checks"):
            if a[field] != b[field]:
                diffs.append(f"table {name}: {field} SQLite {a[field]} vs PostgreSQL {b[field]}")
        for iname in sorted(set(a["indexes"]) | set(b["indexes"])):
            ia, ib = a["indexes"].get(iname), b["indexes"].get(iname)
            if ia is None or ib is None:
                side = "SQLite" if ia else "PostgreSQL"
                diffs.append(f"index {iname} on {name}: only in {side}")
            elif ia != ib:
                diffs.append(f"index {iname} on {name}: SQLite {ia} vs PostgreSQL {ib}")
    return diffs


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ECEPROBE_TEST_POSTGRES")
    if not url:
        print("no PostgreSQL to compare with: give its URL as the first argument or set "
              "ECEPROBE_TEST_POSTGRES (.ci/postgres.sh start prints one)", file=sys.stderr)
        return 2
    migrations = Path(sys.argv[2]) if len(sys.argv) > 2 else next((d for d in SQLITE_DIRS if d.is_dir()), None)
    if migrations is None:
        print(f"no SQLite migrations found in {[str(d) for d in SQLITE_DIRS]}", file=sys.stderr)
        return 2
    schema_file = Path(sys.argv[3]) if len(sys.argv) > 3 else PG_DIR
    lite = sqlite_schema(migrations)
    pg = pg_schema(url, schema_file)
    diffs = compare(lite, pg)
    for d in diffs:
        print(d)
    indexes = sum(len(t["indexes"]) for t in lite.values())
    columns = sum(len(t["columns"]) for t in lite.values())
    print(f"{len(lite)} tables, {columns} columns, {indexes} named indexes compared "
          f"({migrations} vs {schema_file}): {len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
