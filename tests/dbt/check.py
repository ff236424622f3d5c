"""Checks of the dbt suite (tests/dbt/run.sh runs them between dbt commands).

    check.py models RUN STATE         the models through the gateway, as `dbt`
    check.py catalog TARGET_DIR       `dbt docs generate`'s catalog.json
    check.py delta RUN STATE LAKE     the Delta tables read with the deltalake package, not lakegate
    check.py grants                   write grants: 42501 for writes outside the principal's grants
    check.py policy-reload POLICY_CSV analyst sees analytics.* once a grant is appended
    check.py audit STATE AUDIT_DIR    the audit records of dbt's writes and of a denied write
    check.py after-kill STATE AUDIT_DIR LAKE  after kill -9 during a CTAS and a restart

STATE is a JSON file the phases share (counts after a run, Delta versions). The gateway is at
LAKEGATE_HOST:LAKEGATE_PORT; LAKEGATE_DBNAME (default `lake`) lets `models` and `catalog` run
against a PostgreSQL copy of the demo lake (tests/dbt/postgres_reference.sh). Each check prints
PASS or FAIL; the last line is "N passed, M failed" and the exit status is 1 if any failed.
"""

import decimal
import glob
import json
import os
import re
import sys
import time

import psycopg

HOST = os.environ.get("LAKEGATE_HOST", "127.0.0.1")
PORT = int(os.environ.get("LAKEGATE_PORT", "5433"))
DATABASE = os.environ.get("LAKEGATE_DBNAME", "lake")

TABLES = ["customer_revenue", "orders_incremental"]
VIEWS = ["stg_orders", "stg_customers"]
MODELS = VIEWS + TABLES


# The client suite's PASS/FAIL bookkeeping (check, step, finish).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients"))
from common import Session  # noqa: E402

C = Session(sys.argv[1] if len(sys.argv) > 1 else "check")


# ---------------------------------------------------------------------------------------------
# Connections and small helpers


def connect(user="dbt"):
    """A connection as a demo principal (password = name), autocommit like psql."""
    return psycopg.connect(host=HOST, port=PORT, dbname=DATABASE, user=user, password=user,
                           sslmode="disable", autocommit=True, application_name="dbt-suite")


def scalar(conn, sql):
    return conn.execute(sql).fetchone()[0]


def sqlstate_of(user, sql):
    """Runs `sql` as `user` on a fresh connection; the SQLSTATE it failed with, or None."""
    with connect(user) as conn:
        try:
            conn.execute(sql)
            return None
        except psycopg.Error as e:
            print(f"  {user}: {sql!r} -> {e.sqlstate} {str(e).strip()!r}")
            return e.sqlstate


def load_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save_state(path, state):
    with open(path, "w") as f:
        json.dump(state, f, indent=1, default=str)


# ---------------------------------------------------------------------------------------------
# models: the built models through the gateway


def relations(conn):
    """The tables and views dbt sees in analytics (its own listing query reads these)."""
    tables = {r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = 'analytics'")}
    views = {r[0] for r in conn.execute(
        "select viewname from pg_views where schemaname = 'analytics'")}
    return tables, views


def check_relations(conn):
    tables, views = relations(conn)
    C.check("the table models are tables", set(TABLES) <= tables, sorted(tables))
    C.check("the view models are views", set(VIEWS) <= views, sorted(views))
    leftovers = sorted(n for n in tables | views if "__dbt_" in n)
    C.check("no __dbt_tmp/__dbt_backup relation is left", not leftovers, leftovers)


def model_counts(conn):
    """Row counts of the models and of what they are built from."""
    counts = {m: scalar(conn, f"select count(*) from analytics.{m}") for m in MODELS}
    counts["raw.orders_csv"] = scalar(conn, "select count(*) from raw.orders_csv")
    counts["sales.orders"] = scalar(conn, "select count(*) from sales.orders")
    counts["sales.customers"] = scalar(conn, "select count(*) from sales.customers")
    counts["orders_incremental.distinct"] = scalar(
        conn, "select count(distinct order_id) from analytics.orders_incremental")
    return counts


def check_counts(counts):
    C.check("stg_orders has every CSV row", counts["stg_orders"] == counts["raw.orders_csv"],
            counts)
    C.check("stg_customers has every customer",
            counts["stg_customers"] == counts["sales.customers"], counts)
    C.check("orders_incremental has every order once",
            counts["orders_incremental"] == counts["raw.orders_csv"] > 0, counts)
    C.check("orders_incremental has no duplicate order_id",
            counts["orders_incremental.distinct"] == counts["orders_incremental"], counts)
    C.check("customer_revenue has one row per customer",
            counts["customer_revenue"] == counts["sales.customers"] > 0, counts)


def check_revenue(conn):
    revenue = scalar(conn, "select sum(revenue) from analytics.customer_revenue")
    amount = scalar(conn, "select sum(amount) from sales.orders")
    C.check("sum(revenue) equals sum(sales.orders.amount)",
            decimal.Decimal(revenue) == decimal.Decimal(amount), (revenue, amount))
    orders = scalar(conn, "select sum(n_orders) from analytics.customer_revenue")
    C.check("sum(n_orders) equals the number of orders",
            orders == scalar(conn, "select count(*) from sales.orders"), orders)
    return str(revenue)


def check_no_pii(conn):
    cur = conn.execute("select * from analytics.stg_customers limit 0")
    columns = [d.name for d in cur.description]
    C.check("stg_customers has no email or phone",
            columns == ["customer_id", "name", "country", "segment", "signup_date"], columns)


def models(run, state_path):
    state = load_state(state_path)
    with connect() as conn:
        C.step("relations", check_relations, conn)
        counts = C.step("counts", model_counts, conn)
        if counts:
            check_counts(counts)
            previous = state.get("counts")
            if previous:
                same = {k: (previous[k], counts[k]) for k in counts if previous[k] != counts[k]}
                C.check(f"run {run} leaves the row counts of the previous run", not same, same)
            state["counts"] = counts
        state["revenue"] = C.step("revenue", check_revenue, conn)
        C.step("stg_customers columns", check_no_pii, conn)
    save_state(state_path, state)


# ---------------------------------------------------------------------------------------------
# catalog: dbt docs generate


def catalog(target_dir):
    with open(os.path.join(target_dir, "catalog.json")) as f:
        cat = json.load(f)
    C.check("catalog.json has no errors", not cat.get("errors"), cat.get("errors"))
    nodes = cat.get("nodes", {})
    for model in MODELS:
        node = nodes.get(f"model.lake_proj.{model}")
        C.check(f"catalog describes {model}", bool(node and node.get("columns")),
                sorted(nodes))
    types = column_types(nodes.get("model.lake_proj.orders_incremental"))
    expected = {"order_id": "bigint", "customer_id": "bigint",
                "order_ts": "timestamp with time zone", "amount": "numeric(12,2)",
                "currency": "text", "status": "text", "region": "text"}
    C.check("orders_incremental's column types are PostgreSQL's", types == expected, types)
    customers = column_types(nodes.get("model.lake_proj.stg_customers"))
    C.check("stg_customers' columns in the catalog", sorted(customers) == sorted(
        ["customer_id", "name", "country", "segment", "signup_date"]), customers)
    sources = cat.get("sources", {})
    for source in ["raw.orders_csv", "sales.orders", "sales.customers"]:
        node = sources.get(f"source.lake_proj.{source}")
        C.check(f"catalog describes source {source}", bool(node and node.get("columns")),
                sorted(sources))


def column_types(node):
    columns = (node or {}).get("columns", {})
    return {c["name"].lower(): c["type"] for c in columns.values()}


# ---------------------------------------------------------------------------------------------
# delta: the tables as files, without the gateway


def catalog_entries(lake):
    """analytics.* entries of the gateway's catalog store (Glue GetTables JSON shape)."""
    with open(os.path.join(lake, "_catalog", "tables.json")) as f:
        tables = json.load(f)["TableList"]
    return {t["Name"]: t for t in tables if t.get("DatabaseName") == "analytics"}


def table_path(lake, entry):
    """A catalog Location as a local path: relative to the lake root, absolute, or file://."""
    location = entry["StorageDescriptor"]["Location"]
    if location.startswith("file://"):
        location = location[len("file://"):]
    if "://" in location:
        raise ValueError(f"not a local location: {location}")
    return os.path.join(lake, location) if not os.path.isabs(location) else location


def check_catalog_store(entries):
    for name in TABLES:
        kind = entries.get(name, {}).get("TableType")
        C.check(f"catalog store: {name} is an EXTERNAL_TABLE", kind == "EXTERNAL_TABLE", kind)
    for name in VIEWS:
        kind = entries.get(name, {}).get("TableType")
        C.check(f"catalog store: {name} is a VIRTUAL_VIEW", kind == "VIRTUAL_VIEW", kind)
    leftovers = sorted(n for n in entries if "__dbt_" in n)
    C.check("catalog store: no __dbt_tmp/__dbt_backup entry", not leftovers, leftovers)


def read_delta(lake, entry):
    import deltalake  # only this phase needs it
    table = deltalake.DeltaTable(table_path(lake, entry))
    return table, table.to_pyarrow_table()


def check_delta_revenue(lake, entries, state):
    import pyarrow.compute as pc
    _, data = read_delta(lake, entries["customer_revenue"])
    C.check("Delta customer_revenue: row count as through lakegate",
            data.num_rows == state["counts"]["customer_revenue"],
            (data.num_rows, state["counts"]["customer_revenue"]))
    total = pc.sum(data.column("revenue")).as_py()
    C.check("Delta customer_revenue: sum(revenue) as through lakegate",
            decimal.Decimal(str(total)) == decimal.Decimal(state["revenue"]),
            (total, state["revenue"]))


def check_delta_orders(lake, entries, state, run):
    import pyarrow as pa
    import pyarrow.compute as pc
    table, data = read_delta(lake, entries["orders_incremental"])
    expected = state["counts"]["orders_incremental"]
    C.check("Delta orders_incremental: row count as through lakegate",
            data.num_rows == expected, (data.num_rows, expected))
    distinct = pc.count_distinct(data.column("order_id")).as_py()
    C.check("Delta orders_incremental: order_id unique", distinct == data.num_rows,
            (distinct, data.num_rows))
    schema = data.schema
    C.check("Delta orders_incremental: amount is decimal(12,2)",
            schema.field("amount").type == pa.decimal128(12, 2), str(schema.field("amount").type))
    ts = schema.field("order_ts").type
    C.check("Delta orders_incremental: order_ts is a timestamp with a time zone",
            pa.types.is_timestamp(ts) and ts.tz is not None, str(ts))
    version = table.version()
    operations = [h.get("operation") for h in table.history()]
    print(f"  orders_incremental: Delta version {version}, history (newest first) {operations}")
    if run == 1:
        state["orders_incremental_version"] = version
    else:
        before = state.get("orders_incremental_version")
        C.check(f"run {run} committed new Delta versions of orders_incremental",
                before is not None and version > before and version >= 1, (before, version))


def delta(run, state_path, lake):
    state = load_state(state_path)
    entries = C.step("catalog store", catalog_entries, lake)
    if entries is None:
        return
    check_catalog_store(entries)
    C.step("Delta customer_revenue", check_delta_revenue, lake, entries, state)
    C.step("Delta orders_incremental", check_delta_orders, lake, entries, state, run)
    save_state(state_path, state)


# ---------------------------------------------------------------------------------------------
# grants: writes outside the principal's grants


def grants():
    state = sqlstate_of("analyst", "create table analytics.x as select 1 as a")
    C.check("analyst: CTAS in analytics is 42501", state == "42501", state)
    state = sqlstate_of("dbt", "select * from analytics.x")
    C.check("analytics.x was not created (42P01 for dbt)", state == "42P01", state)
    with connect() as conn:
        orders = scalar(conn, "select count(*) from sales.orders")
        customers = scalar(conn, "select count(*) from sales.customers")
    denied = {
        "insert into sales.orders": "insert into sales.orders select * from sales.orders limit 1",
        "create schema": "create schema forbidden_schema",
        "drop table sales.customers": "drop table sales.customers",
    }
    for name, sql in denied.items():
        state = sqlstate_of("dbt", sql)
        C.check(f"dbt: {name} is 42501", state == "42501", state)
    with connect() as conn:
        C.check("sales.orders is unchanged",
                scalar(conn, "select count(*) from sales.orders") == orders, orders)
        C.check("sales.customers is still there",
                scalar(conn, "select count(*) from sales.customers") == customers, customers)
        schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
        C.check("forbidden_schema does not exist", "forbidden_schema" not in schemas,
                sorted(schemas))


# ---------------------------------------------------------------------------------------------
# policy-reload: a grant appended to policy.csv applies without a restart

GRANT = "p, group:analysts, analytics.*, *, SELECT, allow"
QUERY = "select count(*) from analytics.customer_revenue"


def analyst_count():
    with connect("analyst") as conn:
        return scalar(conn, QUERY)


def policy_reload(policy_csv):
    state = sqlstate_of("analyst", QUERY)
    C.check("analyst: customer_revenue does not exist before the grant (42P01)",
            state == "42P01", state)
    with connect() as conn:
        expected = scalar(conn, QUERY)
    with open(policy_csv, "a") as f:
        f.write(f"\n# added by tests/dbt/check.py\n{GRANT}\n")
    # The files are checked every second; poll instead of timing it (timings are benchmarks).
    start, seen, last_error = time.monotonic(), None, None
    time.sleep(2.5)
    while seen is None and time.monotonic() - start < 20:
        try:
            seen = analyst_count()
        except psycopg.Error as e:
            last_error = f"{e.sqlstate} {e}".strip()
            time.sleep(0.5)
    print(f"  the grant applied after {time.monotonic() - start:.1f} s")
    C.check("analyst: customer_revenue after the grant has dbt's count", seen == expected,
            (seen, expected, last_error))


# ---------------------------------------------------------------------------------------------
# audit: the records of dbt's writes


def read_audit(audit_dir):
    """Every record of the audit directory's JSONL segments, in file order."""
    records = []
    for path in sorted(glob.glob(os.path.join(audit_dir, "*.jsonl"))):
        with open(path) as f:
            # A segment still open ends in zero-filled space the next records overwrite.
            text = f.read().split("\0", 1)[0]
        records += [json.loads(line) for line in text.splitlines() if line.strip()]
    return records


def written(record):
    """(tables written, rows written) of a write statement's audit record: lakegate records
    `writes: [{table, operation, rows}]` and the statement's `rows` (rows written, or deleted
    for DELETE)."""
    names = [w.get("table", "") for w in record.get("writes", [])]
    return [normalize(n) for n in names], record.get("rows")


def normalize(name):
    """`"lake"."analytics"."x"` or `lake.analytics.x` -> `analytics.x`."""
    parts = [p.strip('"').lower() for p in name.split(".")]
    return ".".join(parts[-2:])


def statements(records, user, pattern, status=None, command=None):
    """Terminal statement records of `user` whose text matches `pattern` (case-insensitive),
    with the given outcome status and command tag when those are given."""
    regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    found = []
    for r in records:
        if r.get("event") != "statement" or (r.get("actor") or {}).get("user") != user:
            continue
        statement = r.get("statement") or {}
        if not regex.search(statement.get("text", "")):
            continue
        if command and statement.get("command", "").upper() != command:
            continue
        if status is None or (r.get("outcome") or {}).get("status") == status:
            found.append(r)
    return found


def check_write(records, label, pattern, table, rows, command=None):
    """Every matching ok record of dbt names `table` as written, with `rows` rows (or a
    positive count when rows is None); returns the rows of the first."""
    found = statements(records, "dbt", pattern, "ok", command)
    if not C.check(f"audit: {label} is recorded", bool(found), pattern):
        return None
    facts = [written(r) for r in found]
    C.check(f"audit: {label} names {table} as written",
            all(table in tables for tables, _ in facts), facts)
    ok_rows = all(n == rows if rows is not None else isinstance(n, int) and n > 0
                  for _, n in facts)
    C.check(f"audit: {label} records the rows written ({rows if rows is not None else '> 0'})",
            ok_rows, facts)
    return facts[0][1]


def reprocessed_rows():
    """The orders the incremental run re-processed: the last two days of orders."""
    with connect() as conn:
        return scalar(conn, "select count(*) from analytics.orders_incremental where order_ts >= "
                            "(select max(order_ts) - interval '2 days' "
                            "from analytics.orders_incremental)")


def audit(state_path, audit_dir):
    state = load_state(state_path)
    counts = state["counts"]
    records = read_audit(audit_dir)
    print(f"  {len(records)} audit records in {audit_dir}")
    table = r'(?:"?lake"?\.)?"?analytics"?\.'
    check_write(records, "CTAS customer_revenue__dbt_tmp",
                rf'create\s+table\s+{table}"?customer_revenue__dbt_tmp"?\s+as',
                "analytics.customer_revenue__dbt_tmp", counts["customer_revenue"])
    check_write(records, "CTAS orders_incremental",
                rf'create\s+table\s+{table}"?orders_incremental"?\s+as',
                "analytics.orders_incremental", counts["orders_incremental"])
    expected = reprocessed_rows()
    check_write(records, "DELETE from orders_incremental",
                rf'delete\s+from\s+{table}"?orders_incremental"?\s',
                "analytics.orders_incremental", expected, "DELETE")
    check_write(records, "INSERT into orders_incremental",
                rf'insert\s+into\s+{table}"?orders_incremental"?\s',
                "analytics.orders_incremental", expected, "INSERT")
    denied = statements(records, "analyst", r'create\s+table\s+analytics\.x\b')
    outcomes = [(r.get("outcome") or {}) for r in denied]
    C.check("audit: analyst's CTAS is recorded as denied with 42501",
            bool(outcomes) and all(o.get("status") == "denied" and o.get("sqlstate") == "42501"
                                   for o in outcomes), outcomes)


# ---------------------------------------------------------------------------------------------
# after-kill: the gateway was killed during a CTAS and restarted

KILLED = "customer_revenue__dbt_tmp"


def check_killed_ctas_audit(audit_dir):
    """The killed CTAS's decision record is closed by a statement.incomplete record."""
    records = read_audit(audit_dir)
    decisions = [r for r in records if r.get("event") == "statement.decision"
                 and KILLED in (r.get("statement") or {}).get("text", "")
                 and "generate_series" in (r.get("statement") or {}).get("text", "")]
    if not C.check("audit: the killed CTAS has a decision record", bool(decisions)):
        return
    ids = {r.get("query_id") for r in decisions}
    ends = [r for r in records if r.get("query_id") in ids and r.get("event") in
            ("statement", "statement.incomplete")]
    C.check("audit: the killed CTAS ends as statement.incomplete after the restart",
            [r["event"] for r in ends] == ["statement.incomplete"] * len(ids),
            [(r["event"], r.get("outcome")) for r in ends])


def after_kill(state_path, audit_dir, lake):
    state = load_state(state_path)
    with connect() as conn:
        count = scalar(conn, "select count(*) from analytics.customer_revenue")
    C.check("customer_revenue is readable with its row count", count ==
            state["counts"]["customer_revenue"], (count, state["counts"]["customer_revenue"]))
    code = sqlstate_of("dbt", f"select count(*) from analytics.{KILLED}")
    C.check(f"{KILLED} does not exist (42P01)", code == "42P01", code)
    entries = C.step("catalog store", catalog_entries, lake)
    if entries is not None:
        C.check(f"catalog store has no {KILLED}", KILLED not in entries, sorted(entries))
    C.step("audit of the killed CTAS", check_killed_ctas_audit, audit_dir)


# ---------------------------------------------------------------------------------------------


def main(argv):
    phase, args = argv[1], argv[2:]
    if phase == "models":
        models(int(args[0]), args[1])
    elif phase == "catalog":
        C.step("catalog.json", catalog, args[0])
    elif phase == "delta":
        delta(int(args[0]), args[1], args[2])
    elif phase == "grants":
        C.step("grants", grants)
    elif phase == "policy-reload":
        C.step("policy reload", policy_reload, args[0])
    elif phase == "audit":
        C.step("audit", audit, args[0], args[1])
    elif phase == "after-kill":
        after_kill(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown phase {phase!r}; see the docstring")
    C.finish()


if __name__ == "__main__":
    main(sys.argv)
