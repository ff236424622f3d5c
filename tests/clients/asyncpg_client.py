"""asyncpg: fetch/fetchrow/fetchval with parameters (binary, types from ParameterDescription),
`prepare()`, arrays, cursors with prefetch, type introspection, `copy_from_query`, a nested
transaction, and a pool whose release runs asyncpg's reset query."""

import asyncio
import datetime
import decimal
import io

import asyncpg

from common import DATABASE, HOST, PORT, Session

S = Session("asyncpg")


async def connect(**extra):
    return await asyncpg.connect(host=HOST, port=PORT, user="analyst", password="analyst",
                                 database=DATABASE, **extra)


async def fetches(conn):
    rows = await conn.fetch("SELECT order_id, amount, order_ts, region FROM sales.orders "
                            "WHERE region = $1 AND amount > $2 ORDER BY order_id LIMIT 20",
                            "EMEA", decimal.Decimal("900"))
    S.check("fetch with text and numeric parameters", len(rows) == 20 and
            all(r["region"] == "EMEA" and r["amount"] > 900 for r in rows), rows[:2])
    since = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    newer = await conn.fetchval("SELECT count(*) FROM sales.orders WHERE order_ts >= $1", since)
    total = await conn.fetchval("SELECT count(*) FROM sales.orders")
    S.check("fetchval with a timestamptz parameter", 0 < newer < total, (newer, total))
    row = await conn.fetchrow("SELECT * FROM sales.customers WHERE customer_id = $1", 2)
    S.check("fetchrow", row is not None and row["customer_id"] == 2 and "email" not in row,
            row)


async def arrays(conn):
    # asyncpg learns array types (int8[] here) with its recursive typeinfo query.
    S.check("bigint[] round trip", await conn.fetchval("SELECT $1::bigint[]", [1, 2, 3])
            == [1, 2, 3])
    ids = await conn.fetch("SELECT order_id FROM sales.orders WHERE order_id = ANY($1::bigint[]) "
                           "ORDER BY order_id", [3, 1, 2])
    S.check("= ANY(array parameter)", [r[0] for r in ids] == [1, 2, 3], ids)


async def prepared(conn):
    stmt = await conn.prepare("SELECT count(*) FROM sales.orders WHERE customer_id = $1")
    S.check("prepare() parameter types", [t.name for t in stmt.get_parameters()] == ["int8"],
            stmt.get_parameters())
    S.check("prepare() result attributes", [a.name for a in stmt.get_attributes()] == ["count"])
    counts = [await stmt.fetchval(c) for c in (1, 2, 3)]
    direct = [await conn.fetchval(f"SELECT count(*) FROM sales.orders WHERE customer_id = {c}")
              for c in (1, 2, 3)]
    S.check("prepared statement results", counts == direct, (counts, direct))


async def cursors(conn):
    expected = [r[0] for r in await conn.fetch("SELECT order_id FROM sales.orders "
                                               "ORDER BY order_id LIMIT 30")]
    async with conn.transaction():
        got = [r[0] async for r in conn.cursor("SELECT order_id FROM sales.orders "
                                               "ORDER BY order_id LIMIT 30", prefetch=7)]
        cur = await conn.cursor("SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 30")
        first = await cur.fetch(4)
        await cur.forward(6)
        eleventh = await cur.fetchrow()
    S.check("cursor with prefetch", got == expected, got)
    S.check("cursor fetch/forward/fetchrow", [r[0] for r in first] == expected[:4] and
            eleventh[0] == expected[10], (first, eleventh))


async def introspection(conn):
    stmt = await conn.prepare("SELECT event_type, properties FROM web.events LIMIT 1")
    S.check("result types of a Delta table",
            [a.type.name for a in stmt.get_attributes()] == ["text", "text"],
            stmt.get_attributes())


async def custom_codec(conn):
    row = await conn.fetchrow("SELECT ARRAY['a', 'b']::text[] AS tags, "
                              "ARRAY[1.5, 2.25]::numeric[] AS values")
    S.check("text[] and numeric[] decode", row["tags"] == ["a", "b"] and
            row["values"] == [decimal.Decimal("1.5"), decimal.Decimal("2.25")], row)
    # set_type_codec looks the type up by name in pg_type and introspects it (typeinfo_tree).
    await conn.set_type_codec("numeric", schema="pg_catalog", encoder=str, decoder=str,
                              format="text")
    amount = await conn.fetchval("SELECT amount FROM sales.orders ORDER BY order_id LIMIT 1")
    S.check("a custom codec from type introspection", isinstance(amount, str), repr(amount))
    await conn.reset_type_codec("numeric", schema="pg_catalog")


async def copy_and_transactions(conn):
    buf = io.BytesIO()
    await conn.copy_from_query("SELECT order_id, status FROM sales.orders ORDER BY order_id "
                               "LIMIT 3", output=buf, format="csv")
    rows = await conn.fetch("SELECT order_id, status FROM sales.orders ORDER BY order_id LIMIT 3")
    S.check("copy_from_query csv", buf.getvalue().decode() ==
            "".join(f"{a},{b}\n" for a, b in rows), buf.getvalue())
    async with conn.transaction():
        try:
            async with conn.transaction():
                await conn.fetch("SELECT * FROM sales.nope")
        except asyncpg.UndefinedTableError:
            pass
        S.check("nested transaction survives an inner error",
                await conn.fetchval("SELECT 1") == 1)


async def pool():
    pool = await asyncpg.create_pool(host=HOST, port=PORT, user="analyst", password="analyst",
                                     database=DATABASE, min_size=1, max_size=2,
                                     server_settings={"application_name": "asyncpg_pool"})
    for _ in range(3):
        async with pool.acquire() as conn:
            value = await conn.fetchval("SELECT current_setting('application_name')")
    S.check("pool acquire/release (reset query) and reuse", value == "asyncpg_pool", value)
    await pool.close()


async def main():
    conn = await connect(server_settings={"application_name": "asyncpg"})
    for part in (fetches, arrays, prepared, cursors, introspection, custom_codec,
                 copy_and_transactions):
        try:
            await part(conn)
        except Exception as e:  # noqa: BLE001 - the client's error fails the part
            S.check(part.__name__, False, f"{type(e).__name__}: {e}")
    await conn.close()
    try:
        await pool()
    except Exception as e:  # noqa: BLE001
        S.check("pool", False, f"{type(e).__name__}: {e}")


asyncio.run(main())
S.finish()
