"""SQLAlchemy 2 with the psycopg2 and psycopg 3 dialects: reflection through `inspect()`,
`Table(autoload_with=…)`, a Core select, and `pandas.read_sql_table` / `read_sql_query`."""

import sys

import pandas as pd
import sqlalchemy as sa

from common import HIDDEN, ORDERS_VISIBLE, Session, url

DRIVER = sys.argv[1] if len(sys.argv) > 1 else "psycopg2"
S = Session(f"sqlalchemy+{DRIVER}")


def reflection(engine):
    insp = sa.inspect(engine)
    schemas = insp.get_schema_names()
    S.check("schema names", {"sales", "web"} <= set(schemas) and "raw" not in schemas, schemas)
    tables = insp.get_table_names(schema="sales")
    S.check("table names", sorted(tables) == ["customers", "orders"], tables)
    S.check("view names", insp.get_view_names(schema="sales") == [], insp.get_view_names("sales"))
    columns = insp.get_columns("orders", schema="sales")
    names = [c["name"] for c in columns]
    S.check("columns follow policy", names == ORDERS_VISIBLE, names)
    types = {c["name"]: c["type"] for c in columns}
    S.check("numeric(12,2) reflects with precision and scale",
            isinstance(types["amount"], sa.Numeric) and
            (types["amount"].precision, types["amount"].scale) == (12, 2), repr(types["amount"]))
    S.check("bigint reflects", isinstance(types["order_id"], sa.BigInteger), repr(types["order_id"]))
    S.check("timestamptz reflects with time zone",
            isinstance(types["order_ts"], sa.DateTime) and types["order_ts"].timezone,
            repr(types["order_ts"]))
    comments = {c["name"]: c.get("comment") for c in columns}
    S.check("column comments", comments["order_id"] == "Order identifier, unique", comments)
    S.check("table comment", insp.get_table_comment("orders", schema="sales")["text"]
            == "Customer orders (curated zone)", insp.get_table_comment("orders", schema="sales"))
    pk = insp.get_pk_constraint("orders", schema="sales")
    S.check("no primary key", pk["constrained_columns"] == [], pk)
    S.check("no foreign keys", insp.get_foreign_keys("orders", schema="sales") == [])
    S.check("no indexes", insp.get_indexes("orders", schema="sales") == [])
    S.check("no unique constraints", insp.get_unique_constraints("orders", schema="sales") == [])
    S.check("has_table", insp.has_table("orders", schema="sales"))
    S.check("has_table is false for a table without a grant",
            not insp.has_table("orders_csv", schema="raw"))
    S.check("has_table is false for an unknown table", not insp.has_table("nope", schema="sales"))


def autoload_and_select(engine):
    meta = sa.MetaData()
    customers = sa.Table("customers", meta, schema="sales", autoload_with=engine)
    names = [c.name for c in customers.columns]
    S.check("autoload hides pii columns", not HIDDEN & set(names) and "country" in names, names)
    query = (sa.select(customers.c.country, sa.func.count().label("n"))
             .group_by(customers.c.country).order_by(sa.desc("n")).limit(3))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        (total,) = conn.execute(sa.select(sa.func.count()).select_from(customers)).one()
        bound = conn.execute(sa.select(customers.c.customer_id)
                             .where(customers.c.customer_id == sa.bindparam("id")),
                             {"id": 3}).scalar_one()
    S.check("select with group by", 0 < len(rows) <= 3 and
            [n for _, n in rows] == sorted((n for _, n in rows), reverse=True), rows)
    S.check("count", total > 0, total)
    S.check("bound parameter", bound == 3, bound)


def pandas_tables(engine):
    frame = pd.read_sql_table("orders", engine, schema="sales", columns=["order_id", "amount"])
    with engine.connect() as conn:
        (n,) = conn.execute(sa.text("SELECT count(*) FROM sales.orders")).one()
    S.check("read_sql_table reads every row", len(frame) == n, (len(frame), n))
    query = pd.read_sql_query(sa.text("SELECT order_id FROM sales.orders WHERE order_id < :n "
                                      "ORDER BY order_id"), engine, params={"n": 4})
    S.check("read_sql_query with parameters", list(query["order_id"]) == [1, 2, 3],
            list(query["order_id"]))


engine = sa.create_engine(url(DRIVER), connect_args={"application_name": f"sqlalchemy_{DRIVER}"})
for part in (reflection, autoload_and_select, pandas_tables):
    S.step(part.__name__, part, engine)
engine.dispose()
S.finish()
