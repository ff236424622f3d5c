"""lakegate against a real Glue API and S3 API (moto's server): tables created through the Glue
API with data in S3, queried through the gateway with psycopg, and checked against DuckDB over
the same files.

Usage: python3 tests/glue/glue_test.py path/to/lakegate
"""

import datetime as dt
import decimal
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import boto3
import duckdb
import psycopg
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from lake import BUCKET, Lake, env_for  # noqa: E402

CACHE_SECONDS = 2
GLUE_TIMEOUT_SECONDS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {seconds} s")


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Moto:
    def __init__(self, port, log):
        self.port, self.log = port, log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: port_open(self.port), "moto_server")

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None


class Suite:
    def __init__(self, binary):
        self.binary = binary
        self.work = Path(tempfile.mkdtemp(prefix="lakegate-glue-"))
        self.moto = Moto(free_port(), open(self.work / "moto.log", "w"))
        self.endpoint = f"http://127.0.0.1:{self.moto.port}"
        self.env = env_for(self.endpoint)
        self.gateway = None
        self.port = free_port()
        self.failures = []

    # --- setup -----------------------------------------------------------------------------

    def clients(self):
        kw = dict(endpoint_url=self.endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        return boto3.client("s3", **kw), boto3.client("glue", **kw)

    def build_lake(self):
        s3, glue = self.clients()
        self.lake = Lake(self.work / "files", s3, glue)
        self.lake.build()

    def start_gateway(self):
        config = self.work / "lakegate.toml"
        config.write_text(
            f"""
[catalog]
kind = "glue"
cache_seconds = {CACHE_SECONDS}
create_location = "s3://{BUCKET}/curated"

[catalog.glue]
timeout_seconds = {GLUE_TIMEOUT_SECONDS}

[storage.s3]
allow_http = true
"""
        )
        # Endpoints through the service-specific variables, as AWS tools document them.
        env = {k: v for k, v in self.env.items() if k != "AWS_ENDPOINT_URL"}
        env["AWS_ENDPOINT_URL_GLUE"] = self.endpoint
        env["AWS_ENDPOINT_URL_S3"] = self.endpoint
        env["LAKEGATE_AUDIT_DIR"] = str(self.work / "audit")
        self.gateway_log = open(self.work / "gateway.log", "w")
        self.gateway = subprocess.Popen(
            [self.binary, "serve", "--config", str(config), "--listen", f"127.0.0.1:{self.port}",
             "--lake-root", str(self.work / "unused-root")],
            env=env, stdout=self.gateway_log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: port_open(self.port) or self.gateway.poll() is not None, "lakegate")
        if self.gateway.poll() is not None:
            raise RuntimeError("lakegate exited:\n" + (self.work / "gateway.log").read_text())

    def connect(self):
        return psycopg.connect(host="127.0.0.1", port=self.port, dbname="lake", user="admin",
                               password="admin", autocommit=True)

    def query(self, sql, params=None):
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def error(self, sql):
        """(sqlstate, message) of a statement that must fail."""
        try:
            self.query(sql)
        except psycopg.Error as e:
            return e.sqlstate, str(e.diag.message_primary)
        raise AssertionError(f"expected an error from: {sql}")

    def scan_report(self, sql):
        rows = self.query("EXPLAIN " + sql)
        return "\n".join(plan for kind, plan in rows if kind == "lake_scan")

    # --- reference answers -----------------------------------------------------------------

    def duck(self):
        """DuckDB over the same files (local copies), partition values from the catalog."""
        con = duckdb.connect()
        tables = []
        for region, year, day, _ in self.lake.event_partitions:
            location = self.lake.event_location(region, year, day).removeprefix(f"s3://{BUCKET}/")
            path = self.work / "files" / location / "part-0.parquet"
            tables.append(
                f"SELECT *, '{region}' AS region, {year}::INT AS year, DATE '{day}' AS day "
                f"FROM read_parquet('{path}', hive_partitioning = false)"
            )
        con.execute("CREATE TABLE events AS " + " UNION ALL ".join(tables))
        con.execute(
            "CREATE TABLE partitions AS SELECT DISTINCT region, year, day FROM events"
        )
        return con

    # --- checks ----------------------------------------------------------------------------

    def check(self, name, fn):
        try:
            fn()
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 - report every failure, then fail the run
            print(f"FAIL {name}\n{traceback.format_exc()}")
            self.failures.append(name)

    def events_match_duckdb(self):
        sql = ("SELECT region, year, day, count(*), sum(amount) FROM {} "
               "GROUP BY region, year, day ORDER BY region, year, day")
        ours = self.query(sql.format("shop.events"))
        theirs = self.duck().execute(sql.format("events")).fetchall()
        assert len(ours) == 24, ours
        assert ours == theirs, (ours[:3], theirs[:3])

    PREDICATES = [
        # (predicate, the same restricted to partition keys, for the local evaluation)
        ("region = 'eu'", None),
        ("region IN ('eu', 'apac')", None),
        ("region <> 'us'", None),
        ("year = 2024", None),
        ("year < 2024", None),
        ("year >= 2024 AND region <> 'us'", None),
        ("day = DATE '2024-01-02'", None),
        ("day = '2024-01-03'", None),
        ("day BETWEEN DATE '2024-01-02' AND DATE '2024-01-03'", None),
        ("day > DATE '2024-01-02' AND year BETWEEN 2023 AND 2023", None),
        ("region = 'us' OR day = DATE '2024-01-04'", None),
        ("(region = 'eu' AND year = 2023) OR (region = 'us' AND year = 2024)", None),
        ("NOT (region = 'eu')", None),
        ("region LIKE 'a%'", None),
        ("amount > 10 AND region = 'eu'", "region = 'eu'"),
        ("amount > 10 OR region = 'eu'", "TRUE"),
    ]

    def partition_expressions(self):
        duck = self.duck()
        total = len(self.lake.event_partitions)
        for predicate, on_keys in self.PREDICATES:
            expected = duck.execute(
                f"SELECT count(*) FROM partitions WHERE {on_keys or predicate}"
            ).fetchone()[0]
            sql = f"SELECT count(*) FROM shop.events WHERE {predicate}"
            report = self.scan_report(sql)
            m = re.search(r"shop\.events: partitions=(\d+)/(\d+|\?)(?: \(catalog returned (\d+)\))?",
                          report)
            assert m, f"{predicate}: no scan report in {report!r}"
            matched = int(m.group(1))
            fetched = int(m.group(3)) if m.group(3) else matched
            assert matched == expected, f"{predicate}: read {matched}, expected {expected}"
            # Glue evaluated the expression: only matching partitions were fetched.
            if on_keys is None:
                assert fetched == expected, f"{predicate}: catalog returned {fetched}"
            assert m.group(2) in ("?", str(total)), report
            count = self.query(sql)[0][0]
            want = duck.execute(f"SELECT count(*) FROM events WHERE {predicate}").fetchone()[0]
            assert count == want, f"{predicate}: {count} rows, DuckDB {want}"

    def projection(self):
        sql = "SELECT count(*), sum(amount) FROM shop.{} WHERE region IN ('eu', 'us')"
        assert self.query(sql.format("events_projected")) == self.query(sql.format("events"))
        one_day = ("SELECT count(*) FROM shop.events_projected "
                   "WHERE region = 'eu' AND year = 2024 AND day = DATE '2024-01-03'")
        report = self.scan_report(one_day)
        assert "partitions=1/16" in report, report
        assert self.query(one_day) == [(5,)]
        injected = "SELECT count(*), sum(amount) FROM shop.{} WHERE region = 'us' AND year = 2024"
        assert self.query(injected.format("events_injected")) == self.query(injected.format("events"))
        state, message = self.error("SELECT count(*) FROM shop.events_injected WHERE year = 2024")
        assert state == "0A000" and "region" in message and "injected" in message, message

    def types_reach_clients(self):
        with self.connect() as conn:
            cur = conn.execute(
                "SELECT id, amount, ts, tags, day, attrs, props FROM shop.events "
                "WHERE region = 'eu' AND year = 2023 AND day = DATE '2024-01-01' ORDER BY id LIMIT 1"
            )
            row = cur.fetchone()
            oids = [d.type_code for d in cur.description]
        assert oids[:5] == [20, 1700, 1184, 1009, 1082], oids
        assert row[1] == decimal.Decimal("3.70"), row
        assert row[2] == dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.timezone.utc), row
        assert row[3] == ["t1", "t0"], row
        assert row[4] == dt.date(2024, 1, 1), row
        assert row[5] == ("ios", "3"), row  # structs arrive as records
        assert row[6] == '{"clicks":10}', row  # maps arrive as JSON text

    def comments_reach_pg_catalog(self):
        rows = self.query(
            "SELECT obj_description('shop.events'::regclass, 'pg_class'), "
            "col_description('shop.events'::regclass, 2), col_description('shop.events'::regclass, 7)"
        )
        assert rows == [("Client events, partitioned by region, year and day",
                         "Amount in EUR", "Free text from the client")], rows

    def csv_json_delta(self):
        returns = self.query("SELECT order_id, reason, amount FROM shop.returns ORDER BY order_id")
        assert returns == [tuple(r) for r in Lake.RETURNS[1:]], returns
        clicks = self.query("SELECT \"user\", n FROM shop.clicks ORDER BY \"user\"")
        assert clicks == [(c["user"], c["n"]) for c in Lake.CLICKS], clicks
        customers = self.query("SELECT id, name, balance, country FROM shop.customers ORDER BY id")
        want = [(i, n, b, c) for c, rows in Lake.CUSTOMERS.items() for i, n, b in rows]
        assert customers == sorted(want), customers
        report = self.scan_report("SELECT * FROM shop.customers WHERE country = 'FR'")
        assert "Delta version 0" in report and "files=1/2" in report, report

    def bad_input(self):
        state, message = self.error("SELECT * FROM shop.broken")
        assert state == "0A000" and "shop.broken" in message and "payload" in message, message
        state, message = self.error("SELECT * FROM shop.ghost")
        assert state == "58P01" and "shop.ghost" in message, (state, message)
        for sql in ("SELECT * FROM shop.nope", "SELECT * FROM nodb.events"):
            assert self.error(sql)[0] == "42P01", sql
        for message in (self.error("SELECT * FROM shop.broken")[1],
                        self.error("SELECT * FROM shop.ghost")[1]):
            assert "s3://" not in message and "127.0.0.1" not in message, message

    def new_tables_and_partitions_appear(self):
        before = self.query("SELECT count(*) FROM shop.events")[0][0]
        self.lake.add_event_partition("eu", 2023, dt.date(2024, 1, 5), 99)
        self.lake.table("late", [("x", "int", "The answer, in parts")], f"s3://{BUCKET}/late/",
                        params={"classification": "json"}, Description="Arrived late")
        self.lake.put("late/a.json", b'{"x": 41}\n{"x": 1}\n')
        time.sleep(CACHE_SECONDS + 0.5)
        assert self.query("SELECT count(*) FROM shop.events")[0][0] == before + 5
        assert self.query("SELECT sum(x) FROM shop.late") == [(42,)]
        # The new table is in pg_catalog too, with its comments (as psql's \d+ reads them).
        comments = self.query("SELECT obj_description('shop.late'::regclass, 'pg_class'), "
                              "col_description('shop.late'::regclass, 1)")
        assert comments == [("Arrived late", "The answer, in parts")], comments

    def writes_reach_glue(self):
        """CTAS, rename, view, INSERT, DELETE and DROP through lakegate land in Glue and S3."""
        s3, glue = self.clients()
        with self.connect() as conn:
            conn.execute("CREATE SCHEMA models")
            conn.execute("CREATE TABLE models.m AS SELECT region, count(*) AS n FROM shop.events GROUP BY 1")
            expected = conn.execute("SELECT count(DISTINCT region) FROM shop.events").fetchone()[0]
            assert conn.execute("SELECT count(*) FROM models.m").fetchone()[0] == expected
            table = glue.get_table(DatabaseName="models", Name="m")["Table"]
            assert table["Parameters"]["table_type"] == "DELTA", table
            location = table["StorageDescriptor"]["Location"]
            assert location.startswith(f"s3://{BUCKET}/curated/models/m_"), location
            prefix = location.removeprefix(f"s3://{BUCKET}/")
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
            assert any(k.endswith("_delta_log/00000000000000000000.json") for k in keys), keys
            conn.execute("ALTER TABLE models.m RENAME TO m2")
            names = {t["Name"] for t in glue.get_tables(DatabaseName="models")["TableList"]}
            assert names == {"m2"}, names
            conn.execute("CREATE VIEW models.v AS SELECT region FROM models.m2 WHERE n > 0")
            view = glue.get_table(DatabaseName="models", Name="v")["Table"]
            assert view["TableType"] == "VIRTUAL_VIEW" and "models.m2" in view["ViewOriginalText"], view
            assert conn.execute("SELECT count(*) FROM models.v").fetchone()[0] == expected
            inserted = conn.execute("INSERT INTO models.m2 SELECT 'zz', 0")
            assert inserted.rowcount == 1
            deleted = conn.execute("DELETE FROM models.m2 WHERE n = 0")
            assert deleted.rowcount == 1
            assert conn.execute("SELECT count(*) FROM models.m2").fetchone()[0] == expected
            conn.execute("DROP VIEW models.v")
            conn.execute("DROP TABLE models.m2")
            assert glue.get_tables(DatabaseName="models")["TableList"] == []
            left = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
            assert left == [], left

    def catalog_outage(self):
        self.moto.stop()
        time.sleep(CACHE_SECONDS + 0.5)
        started = time.time()
        state, message = self.error("SELECT count(*) FROM shop.events")
        elapsed = time.time() - started
        assert state == "58000" and "Glue" in message and "unavailable" in message, message
        assert "127.0.0.1" not in message, message
        assert elapsed < GLUE_TIMEOUT_SECONDS * 2 + 2, f"took {elapsed:.1f} s"
        assert self.query("SELECT 1") == [(1,)], "the gateway keeps serving"
        # The catalog comes back (empty, as moto keeps nothing): lakegate recovers by itself.
        self.moto.start()
        self.build_lake()
        time.sleep(2.5)
        assert self.query("SELECT count(*) FROM shop.events") == [(120,)]

    def run(self):
        self.moto.start()
        try:
            self.build_lake()
            self.start_gateway()
            for name in ["events_match_duckdb", "partition_expressions", "projection",
                         "types_reach_clients", "comments_reach_pg_catalog", "csv_json_delta",
                         "bad_input", "new_tables_and_partitions_appear", "writes_reach_glue",
                         "catalog_outage"]:
                self.check(name, getattr(self, name))
            assert self.gateway.poll() is None, "lakegate is still running"
        finally:
            if self.gateway:
                self.gateway.terminate()
            self.moto.stop()
        if self.failures:
            print("gateway log:\n" + (self.work / "gateway.log").read_text()[-5000:])
            sys.exit(f"{len(self.failures)} Glue check(s) failed: {', '.join(self.failures)}")
        print("all Glue checks passed")


if __name__ == "__main__":
    Suite(os.path.abspath(sys.argv[1])).run()
