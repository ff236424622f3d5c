#!/usr/bin/env python3
"""The README's revenue query through lakegate (psql) and through DuckDB over the same Parquet
files (hive_partitioning=true); prints both and exits 1 if they differ.

Usage: benches/duckdb_compare.py LAKE_ROOT [PORT]   (needs `pip install duckdb==1.5.5`, psql)
"""
import os
import subprocess
import sys
from decimal import Decimal

import duckdb

WHERE = "order_date BETWEEN '2024-03-01' AND '2024-03-31'"


def lakegate(port):
    sql = f"SELECT region, count(*), sum(amount) FROM sales.orders WHERE {WHERE} GROUP BY region ORDER BY region"
    env = dict(os.environ, PGPASSWORD="analyst")
    out = subprocess.run(["psql", f"host=127.0.0.1 port={port} dbname=lake user=analyst", "-X", "-A", "-t", "-c", sql],
                         env=env, check=True, capture_output=True, text=True).stdout
    rows = [line.split("|") for line in out.strip().splitlines()]
    return [(r, int(c), Decimal(s)) for r, c, s in rows]


def duck(root):
    files = os.path.join(root, "curated/sales/orders/*/*/*.parquet")
    sql = (f"SELECT region, count(*), sum(amount) FROM read_parquet('{files}', hive_partitioning=true) "
           f"WHERE {WHERE} GROUP BY region ORDER BY region")
    return [(r, int(c), Decimal(s)) for r, c, s in duckdb.sql(sql).fetchall()]


def main():
    root, port = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "5433")
    ours, theirs = lakegate(port), duck(root)
    print("region  count    sum(amount)   | DuckDB count  sum(amount)")
    for a, b in zip(ours, theirs):
        print(f"{a[0]:<6} {a[1]:>7} {a[2]:>15}   | {b[1]:>7} {b[2]:>15}")
    if ours != theirs:
        print("MISMATCH")
        sys.exit(1)
    print(f"equal: {len(ours)} regions")


if __name__ == "__main__":
    main()
