#!/usr/bin/env python3
"""Writes the wire target's seed inputs into a corpus directory (fuzz/run.sh calls it).

An input's first byte selects how the rest is sent (fuzz/src/lib.rs, `Plan`): 0 raw from the
first byte of the connection, 1/4 signed in as analyst/admin and then raw, 2/5 signed in and
then framed as (tag index, body length, body). Seeds are what psql, pgjdbc and asyncpg send
(research/clients.md), so mutations start from real traffic.
"""
import struct
import sys
from pathlib import Path

RAW, SIGNED_ANALYST, FRAMED_ANALYST, SIGNED_ADMIN, FRAMED_ADMIN = 0, 1, 2, 4, 5
TAGS = b"QPBEDCSHFdcfpX"  # fuzz/src/lib.rs FRONTEND_TAGS


def message(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!I", len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def startup(**params: str) -> bytes:
    body = struct.pack("!I", 196608) + b"".join(cstr(k) + cstr(v) for k, v in params.items())
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def query(sql: str) -> bytes:
    return message(b"Q", cstr(sql))


def extended(sql: str, params: list) -> bytes:
    parse = cstr("s1") + cstr(sql) + struct.pack("!H", 0)
    bind = cstr("") + cstr("s1") + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        bind += struct.pack("!i", len(p)) + p
    bind += struct.pack("!HH", 1, 1)  # binary results
    return (message(b"P", parse) + message(b"B", bind) + message(b"D", b"P\0")
            + message(b"E", b"\0" + struct.pack("!I", 0)) + message(b"S", b""))


def framed(raw_messages: bytes) -> bytes:
    """Re-encodes whole messages as the framed plan's (tag index, length byte, body)."""
    out, rest = b"", raw_messages
    while rest:
        tag, length = rest[0:1], struct.unpack("!I", rest[1:5])[0]
        body, rest = rest[5:1 + length], rest[1 + length:]
        out += bytes([TAGS.index(tag), min(len(body), 255)]) + body[:255]
    return out


QUERIES = [
    "SELECT 1",
    "SELECT region, count(*), sum(amount) FROM sales.orders WHERE order_date "
    "BETWEEN '2024-03-01' AND '2024-03-31' GROUP BY region ORDER BY region",
    "SELECT card_number FROM sales.orders LIMIT 2",
    "BEGIN; SET statement_timeout = '1s'; SHOW search_path; COMMIT",
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
    "ON n.oid = c.relnamespace WHERE c.relkind IN ('r','v') ORDER BY 1, 2",
    "COPY (SELECT * FROM sales.orders LIMIT 3) TO STDOUT",
    "DECLARE c CURSOR FOR SELECT 1; FETCH 1 FROM c",
    "SELECT * FROM audit.queries LIMIT 1",
]


def seeds() -> dict:
    analyst = startup(user="analyst", database="lake")
    out = {
        "startup": bytes([RAW]) + analyst,
        "ssl-then-startup": bytes([RAW]) + struct.pack("!II", 8, 80877103) + analyst,
        "gss-then-startup": bytes([RAW]) + struct.pack("!II", 8, 80877104) + analyst,
        "cancel": bytes([RAW]) + struct.pack("!IIII", 16, 80877102, 1234, 5678),
        "old-protocol": bytes([RAW]) + struct.pack("!II", 8, 131072),
        "scram-garbage": bytes([RAW]) + analyst + message(b"p", cstr("SCRAM-SHA-256")
                                                          + struct.pack("!i", 3) + b"n,,"),
    }
    for i, sql in enumerate(QUERIES):
        out[f"query-{i}"] = bytes([SIGNED_ANALYST]) + query(sql)
        out[f"framed-query-{i}"] = bytes([FRAMED_ADMIN]) + framed(query(sql))
    lookup = extended("SELECT order_id, amount FROM sales.orders WHERE order_id = $1",
                      [b"42"])
    out["extended"] = bytes([SIGNED_ANALYST]) + lookup + message(b"X", b"")
    out["framed-extended"] = bytes([FRAMED_ANALYST]) + framed(lookup)
    out["admin-extended"] = bytes([SIGNED_ADMIN]) + extended("SELECT $1::int + 1", [b"1"])
    # Execute's max_rows as pgwire once sized a buffer with it: negative and i32::MAX.
    for name, rows in (("negative", -1), ("huge", 2**31 - 1)):
        execute = message(b"E", b"\0" + struct.pack("!i", rows))
        suspended = lookup.replace(message(b"E", b"\0" + struct.pack("!I", 0)), execute)
        out[f"execute-max-rows-{name}"] = bytes([SIGNED_ANALYST]) + suspended
    copy_in = query("COPY t FROM STDIN") + message(b"d", b"1\n") + message(b"c", b"")
    out["copy-in"] = bytes([SIGNED_ADMIN]) + copy_in
    return out


def main() -> None:
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus/wire")
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in seeds().items():
        (corpus / f"seed-{name}").write_bytes(data)
    print(f"{len(seeds())} seeds in {corpus}")


if __name__ == "__main__":
    main()
