"""psqlODBC (the driver BI tools use) through pyodbc: the catalog calls SQLTables, SQLColumns,
SQLPrimaryKeys, SQLForeignKeys, SQLStatistics and SQLGetTypeInfo, a parameterised select, and
manual commit."""

import pyodbc

from common import DATABASE, HOST, ORDERS_VISIBLE, PORT, Session

S = Session("psqlodbc")


def connect(user="analyst"):
    return pyodbc.connect(f"DRIVER={{PostgreSQL Unicode}};SERVER={HOST};PORT={PORT};"
                          f"DATABASE={DATABASE};UID={user};PWD={user}", autocommit=False)


def catalog_calls(conn):
    cur = conn.cursor()
    tables = sorted(r.table_name for r in cur.tables(schema="sales", tableType="TABLE"))
    S.check("SQLTables", tables == ["customers", "orders"], tables)
    raw = [r.table_name for r in cur.tables(schema="raw")]
    S.check("SQLTables shows no table without a grant", raw == [], raw)
    columns = [(r.column_name, r.type_name) for r in cur.columns(table="orders", schema="sales")]
    S.check("SQLColumns follows policy", [c for c, _ in columns] == ORDERS_VISIBLE, columns)
    types = dict(columns)
    S.check("SQLColumns type names", (types["order_id"], types["amount"], types["status"])
            == ("int8", "numeric", "text"), types)
    amount = next(r for r in cur.columns(table="orders", schema="sales")
                  if r.column_name == "amount")
    S.check("SQLColumns numeric size", (amount.column_size, amount.decimal_digits) == (12, 2),
            (amount.column_size, amount.decimal_digits))
    S.check("SQLPrimaryKeys", list(cur.primaryKeys("orders", schema="sales")) == [])
    S.check("SQLForeignKeys", list(cur.foreignKeys(table="orders", schema="sales")) == [])
    stats = [r for r in cur.statistics("orders", schema="sales") if r.index_name]
    S.check("SQLStatistics", stats == [], stats)
    type_info = {r.type_name for r in cur.getTypeInfo()}
    S.check("SQLGetTypeInfo", {"int8", "numeric", "text", "timestamptz"} <= type_info, type_info)


def parameterised(conn):
    cur = conn.cursor()
    rows = cur.execute("SELECT order_id, status FROM sales.orders WHERE order_id BETWEEN ? AND ? "
                       "ORDER BY order_id", 2, 4).fetchall()
    S.check("parameterised select", [r.order_id for r in rows] == [2, 3, 4], rows)
    amount = cur.execute("SELECT amount FROM sales.orders WHERE order_id = ?", 1).fetchval()
    S.check("numeric result", amount is not None and amount.as_tuple().exponent == -2, amount)
    conn.commit()
    (count,) = cur.execute("SELECT count(*) FROM sales.customers").fetchone()
    S.check("a second transaction after commit", count > 0, count)
    conn.rollback()


conn = connect()
for part in (catalog_calls, parameterised):
    S.step(part.__name__, part, conn)
conn.close()
S.finish()
