"""Federation against the local PostgreSQL and MariaDB servers: live tables in a federated `ops`
database, joined with the lake through lakegate (psycopg and psql), checked against the same
queries computed by PostgreSQL over a copy of the lake's data; what reached each remote read
from its own log; policies on federated tables; remote faults; and a Glue catalog (moto) whose
connection gives the credentials by reference.

Usage: python3 tests/federation/federation_test.py path/to/lakegate
"""

import decimal
import os
import subprocess
import sys
import tempfile
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "clients"))
import remote  # noqa: E402
from common import Session  # noqa: E402
from gateway import (Gateway, SilentServer, free_port, last_new, load_remotes,  # noqa: E402
                     query)
import policies_faults  # noqa: E402
import glue_connection  # noqa: E402

DAY = "2024-03-15"
DONE_WHEN = (f"SELECT c.segment, sum(o.amount) FROM sales.orders o JOIN ops.customers_live c "
             f"USING (customer_id) WHERE o.order_date = '{DAY}' GROUP BY 1 ORDER BY 1")


def prepare(bin_path, work):
    lake = work / "lake"
    subprocess.run([bin_path, "demo", "generate", "--scale", "0.05", "--lake-root", str(lake)],
                   check=True, stdout=subprocess.DEVNULL)
    return lake


def check_done_when(s, gw):
    before = remote.postgres_statements()
    psql = subprocess.run(["psql", gw.dsn("admin").replace("password=admin", ""), "-c", DONE_WHEN],
                          capture_output=True, text=True, env={**os.environ, "PGPASSWORD": "admin"})
    print(f"$ psql -c \"{DONE_WHEN}\"\n{psql.stdout}{psql.stderr}", flush=True)
    got = query(gw, "admin", DONE_WHEN)
    want = remote.reference(
        "SELECT c.segment, sum(o.amount) FROM lakecopy.orders o JOIN customers_live c "
        "USING (customer_id) WHERE o.order_date = %s GROUP BY 1 ORDER BY 1", (DAY,))
    s.check("the done-when join matches PostgreSQL's answer", got == want and len(got) == 3,
            f"{got} vs {want}")
    s.check("psql prints the same rows", psql.returncode == 0 and all(
        str(total) in psql.stdout for _, total in want), psql.stdout + psql.stderr)
    sent = last_new(before, remote.postgres_statements())
    print(f"PostgreSQL received: {sent}", flush=True)
    columns = sent.split(" FROM ")[0]
    s.check("the remote received only the needed columns",
            "customer_id" in columns and "segment" in columns
            and not any(c in columns for c in ("email", "country", "credit_limit", "profile")), sent)
    transferred = remote.rows_of_postgres(sent) if sent else -1
    needed = remote.reference("SELECT count(DISTINCT customer_id) FROM lakecopy.orders "
                              "WHERE order_date = %s", (DAY,))[0][0]
    total = remote.reference("SELECT count(*) FROM customers_live")[0][0]
    print(f"rows transferred: {transferred} (customers with orders that day: {needed}, "
          f"all customers: {total})", flush=True)
    s.check("the remote received only the needed rows", 0 < needed <= transferred < total,
            f"{transferred} rows for {needed} needed of {total}")


def check_results(s, gw):
    """Joins and filters over both remotes, against PostgreSQL's answers."""
    got = query(gw, "admin", """
        SELECT s.status, count(*), sum(o.amount) FROM sales.orders o
        JOIN ops.customer_status s ON s.customer_id = o.customer_id
        JOIN ops.customers_live c ON c.customer_id = o.customer_id
        WHERE o.order_date BETWEEN '2024-03-01' AND '2024-03-31' AND c.segment = 'enterprise'
        GROUP BY 1 ORDER BY 1""")
    statuses = {cid: ["open", "Open", "closed", "suspended"][cid % 4]
                for (cid,) in remote.reference("SELECT customer_id FROM customers_live")}
    rows = remote.reference("""SELECT o.customer_id, o.amount FROM lakecopy.orders o
        JOIN customers_live c USING (customer_id) WHERE c.segment = 'enterprise'""")
    want = {}
    for cid, amount in rows:
        n, total = want.get(statuses[cid], (0, decimal.Decimal(0)))
        want[statuses[cid]] = (n + 1, total + amount)
    s.check("a join of the lake with PostgreSQL and MariaDB matches",
            got == sorted((k, n, t) for k, (n, t) in want.items()), f"{got} vs {want}")
    before = remote.mariadb_statements()
    got = query(gw, "admin", "SELECT customer_id, status, balance, opened, updated "
                "FROM ops.customer_status WHERE customer_id IN (4, 8, 9) AND status = 'open'")
    sent = last_new(before, remote.mariadb_statements())
    # MariaDB compares text without case: it returns 'Open' too, which lakegate filters out.
    s.check("MariaDB: text equality is exact after lakegate's own check",
            [r[0] for r in got] == [4, 8] and all(r[1] == "open" for r in got), got)
    # DataFusion writes a short IN list as ORs of equalities.
    s.check("MariaDB received the filters",
            all(f"= {cid})" in sent for cid in (4, 8, 9)) and "= 'open')" in sent, sent)
    print(f"MariaDB received: {sent}", flush=True)
    s.check("MariaDB types: decimal, date, datetime",
            got[0][2] == decimal.Decimal("13.00") and str(got[0][3]) == "2023-05-05"
            and got[0][4].isoformat().startswith("2024-03-15T04:30:00"), got)


def on_postgres(gw, sql):
    """The rows lakegate answers to `sql` as admin, and the last statement PostgreSQL received."""
    before = remote.postgres_statements()
    got = query(gw, "admin", sql)
    return got, last_new(before, remote.postgres_statements())


def check_pushdown(s, gw):
    got, sent = on_postgres(gw, "SELECT customer_id, credit_limit FROM ops.customers_live "
                            "WHERE segment = 'enterprise' AND customer_id < 200 "
                            "AND credit_limit > 100 ORDER BY customer_id")
    want = remote.reference("SELECT customer_id, credit_limit FROM customers_live WHERE "
                            "segment = 'enterprise' AND customer_id < 200 AND credit_limit > 100 "
                            "ORDER BY customer_id")
    s.check("filters on text, integers and decimals are sent and exact", got == want
            and "WHERE" in sent and remote.rows_of_postgres(sent) == len(want), sent)
    got, sent = on_postgres(gw, "SELECT customer_id FROM ops.customers_live LIMIT 5")
    s.check("LIMIT is sent", len(got) == 5 and sent.rstrip().endswith("LIMIT 5"), sent)
    got, sent = on_postgres(gw, "SELECT count(*) FROM ops.customers_live "
                            "WHERE lower(country) = 'de'")
    want = remote.reference("SELECT count(*) FROM customers_live WHERE lower(country) = 'de'")
    s.check("a function stays local and the answer is right", got == want and "lower" not in sent.lower(), sent)


def check_string_key_join(s, gw):
    """A join on a text key: the lake reads strings as views, so the remote's key is compared
    cast to that type; the build side's keys must still reach the remote as a filter."""
    got, sent = on_postgres(gw, "SELECT l.customer_id, c.customer_id, c.segment "
                            "FROM sales.customers l JOIN ops.customers_live c ON c.email = l.email "
                            "WHERE l.customer_id IN (1, 2, 3) ORDER BY 1, 2")
    want = remote.reference("SELECT a.customer_id, b.customer_id, b.segment FROM customers_live a "
                            "JOIN customers_live b ON a.email = b.email "
                            "WHERE a.customer_id IN (1, 2, 3) ORDER BY 1, 2")
    s.check("a join on a text key matches PostgreSQL's answer", got == want and len(got) >= 3,
            f"{got} vs {want}")
    swapped = query(gw, "admin", "SELECT l.customer_id, c.customer_id, c.segment "
                    "FROM ops.customers_live c JOIN sales.customers l ON l.email = c.email "
                    "WHERE l.customer_id IN (1, 2, 3) ORDER BY 1, 2")
    s.check("with the remote table first, the same answer", swapped == want, f"{swapped}")
    transferred = remote.rows_of_postgres(sent) if sent else -1
    total = remote.reference("SELECT count(*) FROM customers_live")[0][0]
    print(f"PostgreSQL received: {sent} ({transferred} of {total} rows)", flush=True)
    s.check("the text join's keys reached the remote", "email" in sent.split(" FROM ")[-1]
            and 0 < transferred < total, sent)


def check_types(s, gw):
    got = query(gw, "admin", "SELECT credit_limit, active, updated_at, profile, tags "
                "FROM ops.customers_live WHERE customer_id = 100")[0]
    want = remote.reference("SELECT credit_limit, active, updated_at, profile::text, tags "
                            "FROM customers_live WHERE customer_id = 100")[0]
    s.check("numeric, boolean, timestamptz, jsonb and text[] arrive faithfully",
            got[0] == want[0] and got[1] == want[1] and got[2] == want[2]
            and got[3].replace(" ", "") == want[3].replace(" ", "") and list(got[4]) == want[4],
            f"{got} vs {want}")
    described = query(gw, "analyst", """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_class c ON a.attrelid = c.oid
        JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
        WHERE n.nspname = 'ops' AND c.relname = 'customers_live' AND a.attnum > 0""")
    s.check("metadata comes from the catalog, with hidden columns absent",
            ("credit_limit", "numeric(12,2)") in described and ("tags", "text[]") in described
            and ("updated_at", "timestamp with time zone") in described
            and "email" not in {c for c, _ in described}, described)


def main():
    bin_path = os.path.abspath(sys.argv[1])
    s = Session("federation")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lake = prepare(bin_path, work)
        silent, closed = SilentServer(), free_port()
        gw = Gateway(bin_path, work, lake)
        gw.write_files(silent.port, closed)
        gw.start()
        try:
            load_remotes(gw)
            for name, fn in [("done-when", check_done_when), ("results", check_results),
                             ("pushdown", check_pushdown), ("text join", check_string_key_join),
                             ("types", check_types)]:
                s.step(name, fn, s, gw)
            s.step("policies", policies_faults.check_policies, s, gw)
            s.step("faults", policies_faults.check_faults, s, gw)
            s.step("secrets", policies_faults.check_secrets_stay_secret, s, gw)
            s.step("glue connection", glue_connection.check, s, bin_path, work)
            s.check("the gateway is still up", gw.alive())
        finally:
            gw.stop()
            if s.failed:
                print(gw.log.read_text()[-4000:])
    s.finish()


if __name__ == "__main__":
    main()
