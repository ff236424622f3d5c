"""psycopg 3 against the gateway: parameters, explicit and automatic prepare, binary results,
COPY TO STDOUT in text, CSV and binary, a server-side cursor, executemany, savepoints,
TypeInfo.fetch, and metadata as the policy shows it."""

import datetime
import decimal

import psycopg
from psycopg.types import TypeInfo

from common import ORDERS_VISIBLE, Session, dsn

S = Session("psycopg3")
FIRST_ROWS = "SELECT order_id, amount, order_ts, region FROM sales.orders ORDER BY order_id LIMIT %s"
COUNT_FOR = "SELECT count(*) FROM sales.orders WHERE customer_id = %s"


def parameters(conn):
    rows = conn.execute("SELECT order_id, amount, order_ts FROM sales.orders "
                        "WHERE region = %s AND amount > %s", ("EMEA", 900)).fetchall()
    S.check("parameters select rows", len(rows) > 0, rows[:3])
    S.check("parameters are applied", all(r[1] > 900 for r in rows), rows[:3])
    _, amount, ts = rows[0]
    S.check("numeric decodes as Decimal", isinstance(amount, decimal.Decimal), type(amount))
    S.check("timestamptz decodes with a zone", isinstance(ts, datetime.datetime) and ts.tzinfo,
            ts)
    (n,) = conn.execute("SELECT count(*) FROM sales.orders WHERE region = %s AND amount > %s",
                        ("EMEA", 900)).fetchone()
    S.check("count agrees with the rows", n == len(rows), (n, len(rows)))


def prepared(conn):
    expected = [conn.execute(COUNT_FOR, (c,), prepare=False).fetchone()[0] for c in range(1, 8)]
    explicit = [conn.execute(COUNT_FOR, (c,), prepare=True).fetchone()[0] for c in range(1, 8)]
    S.check("prepare=True gives the same counts", explicit == expected, (explicit, expected))
    conn.prepare_threshold = 2
    query = "SELECT status, count(*) FROM sales.orders WHERE customer_id <= %s GROUP BY status"
    automatic = [dict(conn.execute(query, (c,)).fetchall()) for c in (3, 5, 7, 9, 11, 13)]
    direct = [dict(conn.execute(query, (c,), prepare=False).fetchall()) for c in (3, 5, 7, 9, 11, 13)]
    S.check("automatic prepare gives the same results", automatic == direct, (automatic, direct))
    S.check("automatic prepare happened", len(conn._prepared._names) > 0, conn._prepared._names)


def binary(conn):
    text_rows = conn.execute(FIRST_ROWS, (5,)).fetchall()
    with conn.cursor(binary=True) as cur:
        binary_rows = cur.execute(FIRST_ROWS, (5,)).fetchall()
        formats = {c.name: c.type_code for c in cur.description}
    S.check("binary results equal text results", binary_rows == text_rows,
            (binary_rows, text_rows))
    S.check("binary result types", formats == {"order_id": 20, "amount": 1700,
                                                "order_ts": 1184, "region": 25}, formats)


def copy_out(conn):
    query = "SELECT order_id, status, amount FROM sales.orders ORDER BY order_id LIMIT 4"
    rows = conn.execute(query).fetchall()
    with conn.cursor() as cur:
        with cur.copy(f"COPY ({query}) TO STDOUT") as copy:
            text = [tuple(r) for r in copy.rows()]
        expected = [(str(a), b, str(c)) for a, b, c in rows]
        S.check("COPY TO STDOUT text", text == expected, (text, expected))
        with cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            csv = b"".join(bytes(b) for b in copy).decode().splitlines()
        S.check("COPY TO STDOUT csv with header",
                csv == ["order_id,status,amount"] + [",".join(r) for r in expected], csv)
        with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(["int8", "text", "numeric"])
            decoded = list(copy.rows())
        S.check("COPY TO STDOUT binary", decoded == rows, (decoded, rows))
        # PostgreSQL sends the signature with the trailer when there is no row; psycopg reads
        # them from one message.
        empty = "SELECT order_id FROM sales.orders WHERE order_id < 0"
        with cur.copy(f"COPY ({empty}) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(["int8"])
            none = list(copy.rows())
        S.check("COPY TO STDOUT binary, no rows", none == [], none)
        with cur.copy("COPY sales.customers TO STDOUT") as copy:
            customers = list(copy.rows())
        (n,) = conn.execute("SELECT count(*) FROM sales.customers").fetchone()
        S.check("COPY a table TO STDOUT", len(customers) == n, (len(customers), n))
        S.check("COPY a table leaves hidden columns out", len(customers[0]) == 5, customers[0])


def server_side_cursor(conn):
    expected = conn.execute("SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 25").fetchall()
    with conn.transaction():
        with conn.cursor(name="orders_cursor") as cur:
            cur.itersize = 10
            cur.execute("SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 25")
            first = cur.fetchmany(3)
            rest = list(cur)
    S.check("server-side cursor fetchmany", first == expected[:3], first)
    S.check("server-side cursor iterates the rest", rest == expected[3:], (len(rest), rest[:3]))


def executemany(conn):
    ids = [(c,) for c in range(1, 6)]
    expected = [conn.execute(COUNT_FOR, p).fetchone()[0] for p in ids]
    with conn.cursor() as cur:
        cur.executemany(COUNT_FOR, ids, returning=True)
        results = []
        while True:
            results.append(cur.fetchone()[0])
            if not cur.nextset():
                break
    S.check("executemany returning", results == expected, (results, expected))


def savepoints(conn):
    with conn.transaction():
        (before,) = conn.execute("SELECT count(*) FROM sales.customers").fetchone()
        try:
            with conn.transaction():
                conn.execute("SELECT no_such_column FROM sales.customers")
        except psycopg.errors.UndefinedColumn:
            pass
        (after,) = conn.execute("SELECT count(*) FROM sales.customers").fetchone()
    S.check("a failed savepoint rolls back and the transaction goes on", before == after,
            (before, after))


def type_info(conn):
    numeric = TypeInfo.fetch(conn, "numeric")
    S.check("TypeInfo.fetch numeric", numeric is not None and numeric.oid == 1700, numeric)
    bigint_array = TypeInfo.fetch(conn, "bigint")
    S.check("TypeInfo.fetch bigint array oid", bigint_array is not None
            and bigint_array.array_oid == 1016, bigint_array)
    S.check("TypeInfo.fetch unknown type", TypeInfo.fetch(conn, "no_such_type") is None)


def policy_metadata(conn):
    columns = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'sales' AND table_name = 'orders' ORDER BY ordinal_position")]
    S.check("information_schema shows the visible columns", columns == ORDERS_VISIBLE, columns)
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM sales.orders LIMIT 1")
        names = [c.name for c in cur.description]
    S.check("SELECT * has no hidden column", names == ORDERS_VISIBLE, names)
    try:
        conn.execute("SELECT card_number FROM sales.orders")
        S.check("a hidden column is refused", False, "no error")
    except psycopg.errors.UndefinedColumn as e:
        S.check("a hidden column reads as missing (42703)", e.sqlstate == "42703", e.sqlstate)


def errors(conn):
    try:
        conn.execute("SELECT * FROM sales.nope")
        S.check("an unknown table fails", False, "no error")
    except psycopg.errors.UndefinedTable as e:
        S.check("an unknown table fails with 42P01", "sales.nope" in str(e), str(e))
    (one,) = conn.execute("SELECT 1").fetchone()
    S.check("the session goes on after an error", one == 1, one)


with psycopg.connect(dsn(application_name="psycopg3"), autocommit=True) as conn:
    for part in (parameters, prepared, binary, copy_out, server_side_cursor, executemany,
                 savepoints, type_info, policy_metadata, errors):
        S.step(part.__name__, part, conn)
S.finish()
