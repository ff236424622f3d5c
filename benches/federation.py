"""Federation benchmark: rows transferred from the remote and time per statement, with pushdown
(projection, filters, LIMIT and a join's keys sent to the remote) against without
(`federation.pushdown = false`: the whole remote table is fetched and everything is evaluated in
lakegate), in one run.

Two gateways serve the same demo lake and the same remote tables on the local PostgreSQL and
MariaDB servers (set up as the federation suite does). Statements run interleaved on the two;
the time is the median of the runs; the rows transferred are counted by running, on the remote,
the statement its own log shows it received.

Usage: python3 benches/federation.py LAKEGATE_BIN [--quick] [--runs N] [--scale S]
"""

import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "federation"))
import remote  # noqa: E402
from gateway import Gateway, SilentServer, free_port, load_remotes, query  # noqa: E402

DAY = "2024-03-15"
STATEMENTS = {
    "join: one day's orders with live customers (PostgreSQL)":
        ("pg", f"SELECT c.segment, sum(o.amount) FROM sales.orders o JOIN ops.customers_live c "
               f"USING (customer_id) WHERE o.order_date = '{DAY}' GROUP BY 1"),
    "filter: enterprise customers below an id (PostgreSQL)":
        ("pg", "SELECT customer_id, credit_limit FROM ops.customers_live "
               "WHERE segment = 'enterprise' AND customer_id < 2000"),
    "LIMIT 10 of a wide table (PostgreSQL)":
        ("pg", "SELECT * FROM ops.customers_live LIMIT 10"),
    "join: one day's orders with open accounts (MariaDB)":
        ("mysql", f"SELECT count(*), sum(o.amount) FROM sales.orders o JOIN ops.customer_status s "
                  f"USING (customer_id) WHERE o.order_date = '{DAY}' AND s.status = 'open'"),
}


def log(message):
    print(message, file=sys.stderr, flush=True)


def transferred(kind, before, run):
    """Runs a statement and counts the rows the remote sent for it."""
    run()
    if kind == "pg":
        sent = remote.postgres_statements()[len(before):]
        return sum(remote.rows_of_postgres(s) for s in sent), sent
    sent = [s for s in remote.mariadb_statements()[len(before):]]
    # The general log shows each statement twice (prepare, execute).
    unique = list(dict.fromkeys(sent))
    return sum(remote.rows_of_mariadb(s) for s in unique), unique


def measure(gw, kind, sql, runs):
    statements = remote.postgres_statements if kind == "pg" else remote.mariadb_statements
    rows, sent = transferred(kind, statements(), lambda: query(gw, "admin", sql))
    times = []
    with psycopg.connect(gw.dsn("admin"), autocommit=True) as conn:
        for _ in range(runs):
            t0 = time.perf_counter()
            conn.execute(sql).fetchall()
            times.append(time.perf_counter() - t0)
    return rows, times, sent


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    binary, quick = str(Path(args[0]).resolve()), "--quick" in args
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else (3 if quick else 7)
    scale = args[args.index("--scale") + 1] if "--scale" in args else ("0.1" if quick else "1")
    work = Path.home() / ".cache" / "lakegate-bench" / "federation"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    log(f"[1/4] generating the demo lake (scale {scale})")
    lake = work / "lake"
    subprocess.run([binary, "demo", "generate", "--scale", scale, "--lake-root", str(lake)], check=True)
    silent, closed = SilentServer(), free_port()
    gateways = {}
    for label, pushdown in [("pushdown", True), ("no pushdown", False)]:
        gw = Gateway(binary, work, lake, pushdown=pushdown, label=label.replace(" ", "-"))
        gw.write_files(silent.port, closed)
        gw.start()
        gateways[label] = gw
    try:
        log("[2/4] loading the remote tables from the lake")
        load_remotes(gateways["pushdown"])
        log(f"[3/4] {len(STATEMENTS)} statements x {runs} runs on each gateway, interleaved")
        results = {}
        for name, (kind, sql) in STATEMENTS.items():
            for label, gw in gateways.items():
                query(gw, "admin", sql)  # warm: pools, catalog, file footers
            for label, gw in gateways.items():
                rows, times, sent = measure(gw, kind, sql, runs)
                results[(name, label)] = (rows, statistics.median(times))
                log(f"  {name} [{label}]: {rows} rows, {statistics.median(times) * 1000:.1f} ms; sent: {(sent[-1] if sent else '-')[:160]}")
        log("[4/4] writing the table")
        report(results, binary, scale, runs)
    finally:
        for gw in gateways.values():
            gw.stop()


def report(results, binary, scale, runs):
    lines = [
        f"# Federation: pushdown against none ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Binary `{binary}`, demo lake scale {scale}, median of {runs} runs, "
        "local PostgreSQL 15 and MariaDB 10.11 on the same 2-core machine.",
        "",
        "| statement | rows transferred, pushdown | rows, none | time, pushdown | time, none | time ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name in STATEMENTS:
        (rows_on, t_on), (rows_off, t_off) = results[(name, "pushdown")], results[(name, "no pushdown")]
        lines.append(f"| {name} | {rows_on} | {rows_off} | {t_on * 1000:.1f} ms | "
                     f"{t_off * 1000:.1f} ms | {t_on / t_off:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benches" / "results" / f"federation-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.md"
    out.write_text(text)
    log(f"written to {out}")


if __name__ == "__main__":
    main()
