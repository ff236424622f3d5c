"""Result streaming (issue 10, suite B): rows/s and server CPU per row for a wide table and
TPC-H `lineitem`, lakegate against the local PostgreSQL server holding the same rows, with the
same client, in text and binary, as SELECT and as COPY TO STDOUT.

Client: benches/stream_client.c (libpq, single-row mode, values counted not decoded), so both
servers are read by the same C code and the figure is the server's and the wire's.
Data: TPC-H lineitem from benches/tpch.py's files (SF1; --quick: SF0.1) and a 40-column table
(`tpch.wide`: bigint, decimal, date and text columns) written next to them; PostgreSQL gets the
same rows through `\\copy` from lakegate. Server CPU: utime+stime of the lakegate process, and of
all PostgreSQL processes, over each run. Memory: lakegate's RSS after each run and its peak.

Usage: python3 benches/stream.py LAKEGATE_BIN [--quick] [--runs N]
"""

import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policies import DATA, ROOT, log, option, start_gateway_process, write_report  # noqa: E402
from tpch import generate, glue_type, write_fixtures  # noqa: E402

PG_CONN = "host=127.0.0.1 port=5432 user=postgres dbname=lakegate_bench"
WIDE_COLUMNS = 40
MODES = [("text", "SELECT text", ""), ("binary", "SELECT binary", ""),
         ("copy", "COPY text", ""), ("copy", "COPY binary", " WITH (FORMAT binary)")]


def build_client(work):
    binary = work / "stream_client"
    source = ROOT / "benches" / "stream_client.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        include = subprocess.run(["pg_config", "--includedir"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        subprocess.run(["cc", "-O2", "-o", str(binary), str(source), f"-I{include}", "-lpq"],
                       check=True)
    return binary


def write_wide(work, rows):
    """A wide table: ids, amounts, dates and short texts, repeating across 40 columns."""
    path = work / "parquet" / "wide"
    if (path / ".complete").exists() and pq.read_metadata(path / "part-0.parquet").num_rows == rows:
        return pq.read_schema(path / "part-0.parquet")
    path.mkdir(parents=True, exist_ok=True)
    ids = pa.array(range(rows), pa.int64())
    columns = {}
    for i in range(WIDE_COLUMNS):
        kind = i % 4
        if kind == 0:
            columns[f"c{i:02}_id"] = pc.add(ids, i)
        elif kind == 1:
            cents = pc.multiply(pc.add(ids, i), 7)
            columns[f"c{i:02}_amount"] = cents.cast(pa.decimal128(21, 2)).cast(pa.decimal128(12, 2))
        elif kind == 2:
            days = pc.add(pc.bit_wise_and(ids, 4095), 18000 + i)
            columns[f"c{i:02}_day"] = days.cast(pa.int32()).cast(pa.date32())
        else:
            text = pc.binary_join_element_wise("item-", ids.cast(pa.string()), "")
            columns[f"c{i:02}_label"] = text
    table = pa.table(columns)
    pq.write_table(table, path / "part-0.parquet", compression="zstd", row_group_size=131072)
    (path / ".complete").touch()
    return table.schema


def pg_type(glue):
    return {"bigint": "bigint", "int": "integer", "date": "date", "string": "text"}.get(glue, glue)


def load_postgres(port, table, schema, rows):
    """The same rows in PostgreSQL (`bench_<table>`), copied from lakegate with psql."""
    name = f"bench_{table}"
    psql = ["psql", PG_CONN, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    count = subprocess.run(psql + ["-A", "-t", "-c", f"SELECT count(*) FROM {name}"],
                           capture_output=True, text=True)
    if count.returncode == 0 and count.stdout.strip() == str(rows):
        return name
    columns = ", ".join(f"{f.name} {pg_type(glue_type(f.type))}" for f in schema)
    subprocess.run(psql + ["-c", f"DROP TABLE IF EXISTS {name}", "-c", f"CREATE TABLE {name} ({columns})"],
                   check=True)
    lakegate = (f"host=127.0.0.1 port={port} dbname=lake user=admin password=admin")
    names = ", ".join(f.name for f in schema)
    source = subprocess.Popen(["psql", lakegate, "-X", "-q", "-c",
                               f"\\copy (SELECT {names} FROM tpch.{table}) to stdout"],
                              stdout=subprocess.PIPE)
    subprocess.run(psql + ["-c", f"\\copy {name} from stdin"], stdin=source.stdout, check=True)
    if source.wait() != 0:
        raise RuntimeError(f"copying tpch.{table} out of lakegate failed")
    subprocess.run(psql + ["-c", f"VACUUM ANALYZE {name}"], check=True)
    return name


def cpu_seconds(pids):
    """User and system time of `pids` and of their children that have ended: a PostgreSQL
    backend ends with its connection, and its time is then counted in the postmaster's."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_pids():
    return [p for p in os.listdir("/proc") if p.isdigit() and _comm(p) == "postgres"]


def _comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_run(client, conninfo, mode, sql, pids):
    running = set(pids())
    before = cpu_seconds(running)
    out = subprocess.run([str(client), conninfo, mode, sql], capture_output=True, text=True,
                         check=True).stdout.split()
    # A PostgreSQL backend's time reaches the postmaster once it has ended and been reaped.
    for _ in range(200):
        if set(pids()) <= running:
            break
        time.sleep(0.01)
    cpu = cpu_seconds(running) - before
    rows, seconds = int(out[0]), float(out[2])
    if mode == "copy" and "binary" in sql:
        rows -= 1  # libpq hands binary COPY's trailer over as one more message

    return rows, seconds, cpu


def measure(client, port, gateway_pid, tables, runs):
    lakegate = f"host=127.0.0.1 port={port} dbname=lake user=admin password=admin"
    results, rss = {}, []
    for table, pg_table in tables:
        for mode, label, copy_option in MODES:
            arms = {"lakegate": (lakegate, f"tpch.{table}", lambda: [gateway_pid]),
                    "PostgreSQL": (PG_CONN, pg_table, postgres_pids)}
            for run in range(runs):
                for arm, (conninfo, name, pids) in arms.items():
                    sql = (f"COPY (SELECT * FROM {name}) TO STDOUT{copy_option}" if mode == "copy"
                           else f"SELECT * FROM {name}")
                    rows, seconds, cpu = one_run(client, conninfo, mode, sql, pids)
                    results.setdefault((table, label, arm), []).append((rows, seconds, cpu))
                    if arm == "lakegate":
                        rss.append(rss_mib(gateway_pid))
                log(f"  {table} {label} run {run + 1}: " + ", ".join(
                    f"{arm} {results[(table, label, arm)][-1][0] / results[(table, label, arm)][-1][1]:,.0f} rows/s"
                    for arm in arms))
    return results, rss


def report(results, rss, peak, runs, scale):
    stamp = datetime.now(timezone.utc)
    lines = [f"# Streaming benchmark {stamp:%Y-%m-%d %H:%M} UTC", "",
             f"Release build; TPC-H SF{scale} lineitem and a {WIDE_COLUMNS}-column table; client "
             "benches/stream_client.c (libpq, single-row mode for SELECT); median of "
             f"{runs} interleaved runs. CPU: server process time per million rows.", "",
             "| table | how | lakegate rows/s | PostgreSQL rows/s | lakegate / PostgreSQL | "
             "lakegate CPU s/Mrow | PostgreSQL CPU s/Mrow |", "|---|---|---|---|---|---|---|"]
    for table in dict.fromkeys(k[0] for k in results):
        for _, label, _ in MODES:
            figures = {}
            for arm in ("lakegate", "PostgreSQL"):
                runs_ = results[(table, label, arm)]
                rate = statistics.median(r / s for r, s, _ in runs_)
                cpu = statistics.median(c / r * 1e6 for r, _, c in runs_)
                figures[arm] = (rate, cpu, runs_[0][0])
            lg, pg = figures["lakegate"], figures["PostgreSQL"]
            lines.append(f"| {table} ({lg[2]:,} rows) | {label} | {lg[0]:,.0f} | {pg[0]:,.0f} | "
                         f"{lg[0] / pg[0]:.2f} | {lg[1]:.2f} | {pg[1]:.2f} |")
    lines += ["", f"lakegate RSS after each run (MiB): first {rss[0]:.0f}, last {rss[-1]:.0f}, "
                  f"max {max(rss):.0f}; peak (VmHWM) {peak:.0f} MiB."]
    text = "\n".join(lines) + "\n"
    write_report("stream", text)


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    binary, quick = args[0], "--quick" in args
    runs, scale = option(args, "--runs", 3 if quick else 5), "0.1" if quick else "1"
    work = DATA / f"tpch-sf{scale}"
    log(f"[1/4] data: TPC-H SF{scale} and the wide table in {work}")
    schemas = generate(work, scale)
    lineitem_rows = pq.read_metadata(work / "raw" / "lineitem.parquet").num_rows
    wide_rows = lineitem_rows // 6
    schemas["wide"] = write_wide(work, wide_rows)
    fixtures = write_fixtures(work, schemas)
    client = build_client(work)
    config = work / "stream.toml"
    config.write_text(f'[catalog]\nfixtures = "{fixtures}"\ncache_seconds = 3600\n'
                      f'[audit]\ndir = "{work / "audit-stream"}"\nlake = false\n')
    proc, port = start_gateway_process(binary, work, config, "stream", work)
    try:
        log("[2/4] the same rows in PostgreSQL")
        subprocess.run(["psql", PG_CONN.replace("lakegate_bench", "postgres"), "-X", "-q", "-c",
                        "CREATE DATABASE lakegate_bench"], capture_output=True)
        tables = [("wide", load_postgres(port, "wide", schemas["wide"], wide_rows)),
                  ("lineitem", load_postgres(port, "lineitem", schemas["lineitem"], lineitem_rows))]
        log(f"[3/4] {len(tables)} tables x {len(MODES)} ways x {runs} runs x 2 servers")
        results, rss = measure(client, port, proc.pid, tables, runs)
        peak = next(int(l.split()[1]) for l in Path(f"/proc/{proc.pid}/status").read_text()
                    .splitlines() if l.startswith("VmHWM:")) / 1024
    finally:
        proc.terminate()
        proc.wait()
    log("[4/4] report")
    report(results, rss, peak, runs, scale)


if __name__ == "__main__":
    main()
