"""A gateway for the federation suite: the demo lake, the demo catalog plus a database `ops` of
federated tables, the demo policy plus rules on them, and `[federation]` connections whose
credentials are in a secrets file. Some connections are broken on purpose (nothing listening, a
server that never answers, a login the remote refuses, a secret that does not exist)."""

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import psycopg

import remote

ROOT = Path(__file__).resolve().parents[2]

# Column parameters as Glue keeps LF-Tags: email is PII, which analysts are denied.
PII = {"lf_tag.sensitivity": "pii"}


def column(name, glue_type, **parameters):
    return {"Name": name, "Type": glue_type, **({"Parameters": parameters} if parameters else {})}


def federated(name, connection, location, columns, classification="postgresql"):
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"connectionName": connection, "classification": classification,
                       "typeOfData": "table"},
        "StorageDescriptor": {"Columns": columns, "Location": location},
    }


CUSTOMERS_LIVE = [
    column("customer_id", "bigint"), column("segment", "string"), column("country", "string"),
    column("email", "string", **PII), column("credit_limit", "decimal(12,2)"),
    column("active", "boolean"), column("updated_at", "timestamp"), column("profile", "string"),
    column("tags", "array<string>"),
]
CUSTOMER_STATUS = [
    column("customer_id", "bigint"), column("status", "string"), column("balance", "decimal(12,2)"),
    column("opened", "date"), column("updated", "timestamp"),
]


def ops_tables():
    pg_table = f"{remote.DB}.public.customers_live"
    return [
        federated("customers_live", "ops_pg", pg_table, CUSTOMERS_LIVE),
        federated("customer_status", "ops_mysql", f"{remote.DB}.customer_status",
                  CUSTOMER_STATUS, "mysql"),
        federated("down_table", "down_pg", pg_table, CUSTOMERS_LIVE[:2]),
        federated("slow_table", "slow_pg", pg_table, CUSTOMERS_LIVE[:2]),
        federated("refused_table", "refused_pg", pg_table, CUSTOMERS_LIVE[:2]),
        federated("secretless_table", "no_secret_pg", pg_table, CUSTOMERS_LIVE[:2]),
        federated("undefined_table", "no_such_connection", pg_table, CUSTOMERS_LIVE[:2]),
        federated("gone_table", "ops_pg", f"{remote.DB}.public.no_such_table", CUSTOMERS_LIVE[:2]),
    ]


POLICY = """
# The federation suite: the operational database `ops` under the same kinds of rules.
p, group:analysts, ops.*, *, SELECT, allow
p, group:emea, filter:emea_live, *, SELECT, allow
p2, emea_live, ops.customers_live, "country IN ('DE', 'FR', 'GB')", *
p3, group:emea, ops.customers_live.email, "regexp_replace(email, '^[^@]+', '****')"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """Accepts connections and never answers: a remote that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            conn, _ = self.sock.accept()
            self.held.append(conn)


class Gateway:
    def __init__(self, bin_path, work: Path, lake: Path, pushdown=True, label="gateway"):
        self.bin, self.work, self.lake, self.label = bin_path, work, lake, label
        self.port = free_port()
        self.dir = work / label
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "server.log"
        self.audit = self.dir / "audit"
        self.pushdown = pushdown
        self.proc = None

    def write_files(self, silent_port, closed_port):
        fixtures = self.dir / "catalog"
        shutil.copytree(ROOT / "catalog-fixtures", fixtures, dirs_exist_ok=True)
        databases = json.loads((fixtures / "databases.json").read_text())
        databases["DatabaseList"].append({"Name": "ops", "Description": "Operational databases"})
        (fixtures / "databases.json").write_text(json.dumps(databases))
        (fixtures / "tables" / "ops.json").write_text(json.dumps({"TableList": ops_tables()}))
        policies = self.dir / "policies"
        shutil.copytree(ROOT / "policies", policies, dirs_exist_ok=True)
        with open(policies / "policy.csv", "a") as f:
            f.write(POLICY)
        secrets = self.dir / "secrets.json"
        login = {"username": remote.ROLE, "password": remote.PASSWORD}
        secrets.write_text(json.dumps({
            "ops-pg": login, "ops-mysql": login,
            "refused": {"username": "no_such_role_here", "password": "whatever"},
        }))
        url = f"jdbc:postgresql://127.0.0.1:5432/{remote.DB}"
        connections = {
            "ops_pg": (url, "ops-pg"),
            "ops_mysql": (f"jdbc:mysql://127.0.0.1:3306/{remote.DB}", "ops-mysql"),
            "down_pg": (f"jdbc:postgresql://127.0.0.1:{closed_port}/{remote.DB}", "ops-pg"),
            "slow_pg": (f"jdbc:postgresql://127.0.0.1:{silent_port}/{remote.DB}", "ops-pg"),
            "refused_pg": (url, "refused"),
            "no_secret_pg": (url, "missing-secret"),
        }
        config = f"""
[server]
listen = "127.0.0.1:{self.port}"
[lake]
root = "{self.lake}"
[catalog]
fixtures = "{fixtures}"
[policy]
dir = "{policies}"
reload_check_ms = 200
[audit]
dir = "{self.audit}"
[federation]
secrets_file = "{secrets}"
connect_timeout_seconds = 3
pushdown = {str(self.pushdown).lower()}
"""
        for name, (jdbc, secret) in connections.items():
            config += f'[federation.connections.{name}]\njdbc_connection_url = "{jdbc}"\nsecret_id = "{secret}"\n'
        (self.dir / "lakegate.toml").write_text(config)

    def start(self):
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--config", str(self.dir / "lakegate.toml")],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if "listening on" in self.log.read_text():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited:\n{self.log.read_text()}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.label} did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def alive(self):
        return self.proc.poll() is None

    def dsn(self, user):
        return f"host=127.0.0.1 port={self.port} dbname=lake user={user} password={user}"


def query(gw, user, sql, params=None):
    with psycopg.connect(gw.dsn(user), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def error_of(gw, user, sql):
    """(sqlstate, message, seconds) of a statement that must fail."""
    t0 = time.time()
    try:
        query(gw, user, sql)
    except psycopg.Error as e:
        return e.sqlstate, str(e).strip(), time.time() - t0
    return None, "no error", time.time() - t0


def last_new(before, statements):
    """The last statement a remote logged after `before` was read."""
    new = statements[len(before):]
    return new[-1] if new else ""


def load_remotes(gw):
    """The remote tables are made from the lake's customers, read through lakegate."""
    customers = query(gw, "admin", "SELECT customer_id, segment, country, email FROM sales.customers")
    orders = query(gw, "admin", "SELECT order_id, customer_id, order_date, amount, region "
                   "FROM sales.orders WHERE order_date BETWEEN '2024-03-01' AND '2024-03-31'")
    remote.setup_postgres(customers, orders)
    remote.setup_mariadb(customers)
    print(f"remote data: {len(customers)} customers in PostgreSQL and MariaDB, "
          f"{len(orders)} March 2024 orders copied into PostgreSQL", flush=True)
