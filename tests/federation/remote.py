"""The operational databases of the federation suite: the local PostgreSQL and MariaDB servers,
a test database in each with live tables made from the demo lake's customers, a copy of some of
the lake's orders in PostgreSQL (the reference answers), and what each server logged of the
statements lakegate sent it."""

import re
import secrets
import subprocess
from pathlib import Path

import psycopg
import pymysql

DB = "lakegate_ops"
ROLE = "lakegate_ops"
# Fresh every run: the suite checks that it never appears in a log, an error or the audit.
PASSWORD = "ops-" + secrets.token_hex(8)
PG_LOG = Path(
    subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True)
    .stdout.split()[6]
)


def pg(dbname="postgres"):
    return psycopg.connect(host="127.0.0.1", user="postgres", dbname=dbname, autocommit=True)


def maria():
    return pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)


def setup_postgres(customers, orders):
    """customers: (customer_id, segment, country, email) rows from the lake; orders: (order_id,
    customer_id, order_date, amount, region) rows."""
    with pg() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}")
        conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"CREATE DATABASE {DB}")
        # Every statement the role runs goes to the server log: the suite reads what it received.
        conn.execute(f"ALTER ROLE {ROLE} SET log_statement = 'all'")
    with pg(DB) as conn:
        conn.execute("""
            CREATE TABLE public.customers_live (
                customer_id bigint PRIMARY KEY, segment text NOT NULL, country text, email text,
                credit_limit numeric(12,2), active boolean, updated_at timestamptz,
                profile jsonb, tags text[])""")
        with conn.cursor().copy(
            "COPY public.customers_live (customer_id, segment, country, email) FROM STDIN"
        ) as copy:
            for row in customers:
                copy.write_row(row)
        conn.execute("""
            UPDATE public.customers_live SET
                credit_limit = (customer_id % 997) * 12.5,
                active = customer_id % 7 <> 0,
                updated_at = timestamptz '2024-03-15 12:00:00+00' + customer_id * interval '1 minute',
                profile = jsonb_build_object('tier', customer_id % 4, 'vip', customer_id % 50 = 0),
                tags = ARRAY['t' || (customer_id % 3), 'c' || country]""")
        conn.execute(f"GRANT SELECT ON public.customers_live TO {ROLE}")
        conn.execute("CREATE SCHEMA lakecopy")
        conn.execute("""CREATE TABLE lakecopy.orders (order_id bigint, customer_id bigint,
                        order_date date, amount numeric(12,2), region text)""")
        with conn.cursor().copy("COPY lakecopy.orders FROM STDIN") as copy:
            for row in orders:
                copy.write_row(row)
        conn.execute("ANALYZE")


def setup_mariadb(customers):
    with maria() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"DROP USER IF EXISTS '{ROLE}'@'127.0.0.1'")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(f"CREATE USER '{ROLE}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
        cur.execute(f"GRANT SELECT ON {DB}.* TO '{ROLE}'@'127.0.0.1'")
        cur.execute(f"""CREATE TABLE {DB}.customer_status (
                customer_id BIGINT PRIMARY KEY, status VARCHAR(16) NOT NULL,
                balance DECIMAL(12,2), opened DATE, updated DATETIME)""")
        rows = [
            (cid, ["open", "Open", "closed", "suspended"][cid % 4], (cid % 89) * 3.25,
             f"2023-{1 + cid % 12:02d}-{1 + cid % 28:02d}", f"2024-03-15 {cid % 24:02d}:30:00")
            for cid, *_ in customers
        ]
        cur.executemany(f"INSERT INTO {DB}.customer_status VALUES (%s,%s,%s,%s,%s)", rows)
        # The general log, as a table: what lakegate sent, read back by the suite.
        cur.execute("SET GLOBAL log_output = 'TABLE'")
        cur.execute("SET GLOBAL general_log = 'ON'")
        cur.execute("TRUNCATE mysql.general_log")


def postgres_statements():
    """The statements the lakegate role ran on PostgreSQL, oldest first."""
    text = PG_LOG.read_text(errors="replace")
    found = []
    for line in text.splitlines():
        if f"{ROLE}@{DB}" not in line:
            continue
        m = re.search(r"LOG:\s+(?:execute [^:]*|statement): (SELECT .*)$", line)
        if m:
            found.append(m.group(1))
    return found


def mariadb_statements():
    with maria() as conn, conn.cursor() as cur:
        cur.execute("""SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log
                       WHERE user_host LIKE %s AND command_type IN ('Query', 'Prepare', 'Execute')
                       ORDER BY event_time""", (f"{ROLE}%",))
        return [r[0] for r in cur.fetchall() if r[0].lstrip().upper().startswith("SELECT")]


def rows_of_postgres(sql):
    """How many rows a statement lakegate sent returns (the rows it transferred)."""
    with psycopg.connect(host="127.0.0.1", user=ROLE, password=PASSWORD, dbname=DB) as conn:
        return len(conn.execute(sql).fetchall())


def rows_of_mariadb(sql):
    with pymysql.connect(host="127.0.0.1", user=ROLE, password=PASSWORD, database=DB) as conn:
        with conn.cursor() as cur:
            cur.execute(sql)
            return len(cur.fetchall())


def reference(sql, params=()):
    """An answer computed by PostgreSQL over its copy of the lake and the live tables."""
    with pg(DB) as conn:
        return conn.execute(sql, params).fetchall()


def terminate_lakegate_connections():
    with pg() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,))
