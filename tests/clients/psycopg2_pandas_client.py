"""psycopg2 with pandas: `pandas.read_sql` on a DBAPI connection with parameters, a named
(server-side) cursor, `copy_expert`, and a rolled-back transaction."""

import io
import warnings

import pandas as pd
import psycopg2
import psycopg2.errors

from common import ORDERS_VISIBLE, Session, dsn

# pandas warns that it tests only SQLAlchemy and sqlite3 connections; psycopg2 is what it is given.
warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
S = Session("psycopg2+pandas")
FIRST = "SELECT order_id, amount FROM sales.orders ORDER BY order_id LIMIT 7"


def read_sql(conn):
    frame = pd.read_sql("SELECT * FROM sales.orders WHERE amount > %(low)s ORDER BY order_id "
                        "LIMIT 50", conn, params={"low": 900})
    S.check("read_sql columns", list(frame.columns) == ORDERS_VISIBLE, list(frame.columns))
    S.check("read_sql rows", len(frame) == 50 and (frame["amount"] > 900).all(), len(frame))
    S.check("read_sql ordered", frame["order_id"].is_monotonic_increasing, frame["order_id"][:5])
    S.check("timestamptz reads as an aware datetime",
            str(frame["order_ts"].dtype).startswith("datetime64") and
            frame["order_ts"].dt.tz is not None, frame["order_ts"].dtype)
    regions = pd.read_sql("SELECT region, count(*) AS n FROM sales.orders GROUP BY region "
                          "ORDER BY region", conn)
    S.check("read_sql aggregate", list(regions["region"]) == ["AMER", "APAC", "EMEA", "LATAM"],
            regions)
    conn.rollback()


def named_cursor(conn):
    with conn.cursor() as plain:
        plain.execute(FIRST)
        expected = plain.fetchall()
    with conn.cursor(name="pg2_named") as cur:
        cur.itersize = 2
        cur.execute(FIRST)
        first = cur.fetchmany(2)
        rest = list(cur)
    S.check("named cursor fetchmany", first == expected[:2], first)
    S.check("named cursor iterates the rest", rest == expected[2:], rest)
    conn.commit()


def copy_expert(conn):
    out = io.StringIO()
    with conn.cursor() as cur:
        cur.copy_expert("COPY (SELECT order_id, region FROM sales.orders ORDER BY order_id "
                        "LIMIT 3) TO STDOUT WITH CSV HEADER", out)
        cur.execute("SELECT order_id, region FROM sales.orders ORDER BY order_id LIMIT 3")
        rows = cur.fetchall()
    expected = "order_id,region\n" + "".join(f"{a},{b}\n" for a, b in rows)
    S.check("copy_expert CSV with header", out.getvalue() == expected, out.getvalue())
    conn.rollback()


def rollback_after_error(conn):
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT email FROM sales.customers")
            S.check("a hidden column is refused", False, "no error")
        except psycopg2.errors.UndefinedColumn:
            S.check("a hidden column reads as missing", True)
        conn.rollback()
        cur.execute("SELECT count(*) FROM sales.customers")
        S.check("the connection goes on after ROLLBACK", cur.fetchone()[0] > 0)
    conn.rollback()


conn = psycopg2.connect(dsn(application_name="psycopg2_pandas"))
for part in (read_sql, named_cursor, copy_expert, rollback_after_error):
    S.step(part.__name__, part, conn)
conn.close()
S.finish()
