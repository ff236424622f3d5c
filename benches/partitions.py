"""Partition benchmark: catalog-driven pruning at 1, 100, 10,000 and 100,000 partitions.

Builds one Hive layout per size (`p<N>/k=<i>/part-0.parquet`, hard links of one small file),
registers it as `bench.p<N>` in a fixtures catalog and in moto's Glue API, plus
`bench.p<N>_projected` (Athena partition projection, no partition listing at all), and measures,
interleaved in one run:

  - lakegate, fixtures backend      one-partition query and full scan, planning and total
  - lakegate, Glue backend (moto)   the same
  - lakegate, partition projection  the same
  - lakegate, fixtures, caches on   the same, with catalog and listing caches (TTL 1 h)
  - DataFusion listing table        the same files, found by listing (cargo bench partitions)

Planning time is the wall time of `EXPLAIN <query>` (which plans the scans, so it includes the
catalog fetch and the file listing); total is the query itself. Catalog and listing caches are
off (TTL 0) so every run pays the catalog round trip, as DataFusion's fresh context pays its
listing. Usage: python3 benches/partitions.py LAKEGATE_BIN LISTING_BENCH_BIN [--quick] [--runs N]
"""

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import boto3
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "glue"))
from lake import env_for  # noqa: E402

WORK = Path(os.environ.get("LAKEGATE_BENCH_DATA", Path.home() / ".cache/lakegate-bench")) / "partitions"


def log(message):
    print(message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(600):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        time.sleep(0.1)
    sys.exit(f"{what} did not start")


LINKS_PER_TEMPLATE = 50_000  # ext4 allows 65,000 links to one file


def template(i):
    """The file that partition `i` links to (the same 100 rows in each template)."""
    path = WORK / f"template-{i // LINKS_PER_TEMPLATE}.parquet"
    if not path.exists():
        pq.write_table(pa.table({"v": pa.array(range(100), pa.int64())}), path)
    return path


def build_layout(sizes):
    """Hive directories with one 100-row file each (hard links: 100,000 files in seconds)."""
    WORK.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        table_dir = WORK / "data" / f"p{n}"
        marker = table_dir / ".complete"
        if marker.exists():
            continue
        log(f"  layout p{n}: {n} partitions")
        for i in range(n):
            part = table_dir / f"k={i}"
            part.mkdir(parents=True, exist_ok=True)
            target = part / "part-0.parquet"
            if not target.exists():
                os.link(template(i), target)
            if i and i % 20000 == 0:
                log(f"    {i}/{n}")
        marker.touch()


def table_input(n, projected):
    location = str(WORK / "data" / f"p{n}") + "/"
    params = {"classification": "parquet"}
    if projected:
        params.update({
            "projection.enabled": "true",
            "projection.k.type": "integer",
            "projection.k.range": f"0,{n - 1}",
            "storage.location.template": location + "k=${k}/",
        })
    return {
        "Name": f"p{n}_projected" if projected else f"p{n}",
        "Parameters": params,
        "PartitionKeys": [{"Name": "k", "Type": "int"}],
        "StorageDescriptor": {"Columns": [{"Name": "v", "Type": "bigint"}], "Location": location},
    }


def partition_inputs(n):
    return [{"Values": [str(i)], "StorageDescriptor": {"Location": str(WORK / "data" / f"p{n}" / f"k={i}") + "/"}}
            for i in range(n)]


def write_fixtures(sizes):
    root = WORK / "fixtures"
    (root / "tables").mkdir(parents=True, exist_ok=True)
    (root / "partitions" / "bench").mkdir(parents=True, exist_ok=True)
    (root / "databases.json").write_text(json.dumps({"DatabaseList": [{"Name": "bench"}]}))
    tables = [table_input(n, p) for n in sizes for p in (False, True)]
    (root / "tables" / "bench.json").write_text(json.dumps({"TableList": tables}))
    for n in sizes:
        (root / "partitions" / "bench" / f"p{n}.json").write_text(
            json.dumps({"Partitions": partition_inputs(n)}))
    return root


def register_in_moto(endpoint, sizes):
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    glue.create_database(DatabaseInput={"Name": "bench"})
    for n in sizes:
        for projected in (False, True):
            glue.create_table(DatabaseName="bench", TableInput=table_input(n, projected))
        inputs = partition_inputs(n)
        for start in range(0, n, 100):
            glue.batch_create_partition(DatabaseName="bench", TableName=f"p{n}",
                                        PartitionInputList=inputs[start:start + 100])
            if start and start % 20000 == 0:
                log(f"    moto p{n}: {start}/{n} partitions")
        log(f"  moto p{n}: {n} partitions registered")


def start_gateway(binary, name, args, env, cache_seconds=0):
    port = free_port()
    config = WORK / f"{name}.toml"
    # moto evaluates GetPartitions expressions in Python: 100,000 partitions take seconds.
    config.write_text(f"[catalog]\ncache_seconds = {cache_seconds}\n[catalog.glue]\n"
                      f"timeout_seconds = 600\n[engine]\nlisting_cache_seconds = {cache_seconds}\n")
    log_file = open(WORK / f"{name}.log", "w")
    proc = subprocess.Popen([binary, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                             "--lake-root", str(WORK / "data"), *args],
                            env=dict(env, LAKEGATE_AUDIT_DIR=str(WORK / f"audit-{name}")),
                            stdout=log_file, stderr=subprocess.STDOUT)
    wait_port(port, proc, f"lakegate ({name})")
    # admin: this suite measures the catalog, not policies (benches/policies.py does).
    conn = psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="admin",
                           password="admin", autocommit=True)
    return proc, conn


def time_query(conn, sql):
    """(planning ms, total ms, lake_scan report) for one statement."""
    start = time.perf_counter()
    report = [p for kind, p in conn.execute("EXPLAIN " + sql).fetchall() if kind == "lake_scan"]
    planned = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    conn.execute(sql).fetchall()
    total = (time.perf_counter() - start) * 1000
    return planned, total, report[0] if report else ""


def listing_runs(bench_bin, n, runs):
    out = subprocess.run([bench_bin, str(WORK / "data" / f"p{n}") + "/", str(n // 2), str(runs)],
                         check=True, capture_output=True, text=True).stdout
    results = {"one": [], "full": []}
    for line in out.splitlines():
        kind, plan, total = line.split()
        results[kind].append((float(plan), float(total)))
    return results


def main():
    args = sys.argv[1:]
    binary, bench_bin = args[0], args[1]
    quick = "--quick" in args
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else (3 if quick else 5)
    sizes = [1, 100, 10_000] if quick else [1, 100, 10_000, 100_000]

    log("[1/4] building the partition layouts")
    build_layout(sizes)
    fixtures = write_fixtures(sizes)

    log("[2/4] registering tables and partitions in moto's Glue API")
    moto_port = free_port()
    moto_log = open(WORK / "moto.log", "w")
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=moto_log, stderr=subprocess.STDOUT)
    procs = [moto]
    try:
        wait_port(moto_port, moto, "moto_server")
        endpoint = f"http://127.0.0.1:{moto_port}"
        register_in_moto(endpoint, sizes)

        log("[3/4] starting gateways")
        env = env_for(endpoint)
        fx_proc, fx = start_gateway(binary, "fixtures", ["--catalog-fixtures", str(fixtures)], os.environ)
        gl_proc, gl = start_gateway(binary, "glue", ["--catalog", "glue"], env)
        cached_proc, cached = start_gateway(binary, "cached", ["--catalog-fixtures", str(fixtures)],
                                            os.environ, cache_seconds=3600)
        procs += [fx_proc, gl_proc, cached_proc]

        log(f"[4/4] measuring, {runs} interleaved runs per size")
        rows = []
        for n in sizes:
            rows += measure(n, runs, fx, gl, cached, bench_bin)
        write_report(rows, runs)
    finally:
        for p in procs:
            p.terminate()


def measure(n, runs, fx, gl, cached, bench_bin):
    """Per query kind, a first (cold) statement per system, then `runs` interleaved runs."""
    one = f"SELECT count(*), sum(v) FROM bench.p{n} WHERE k = {n // 2}"
    full = f"SELECT count(*), sum(v) FROM bench.p{n}"
    systems = {
        "lakegate, fixtures catalog": (fx, ""),
        "lakegate, Glue API (moto)": (gl, ""),
        "lakegate, partition projection": (fx, "_projected"),
        "lakegate, fixtures catalog, caches on": (cached, ""),
    }
    listing = "DataFusion listing table"
    result = []
    for q, sql in (("one", one), ("full", full)):
        first, samples, reports = {}, {s: [] for s in [*systems, listing]}, {}
        for run in range(runs + 1):
            for system, (conn, suffix) in systems.items():
                plan, total, report = time_query(conn, sql.replace(f"p{n}", f"p{n}{suffix}", 1))
                if run == 0:
                    first[system] = plan
                else:
                    samples[system].append((plan, total))
                reports[system] = report
            values = listing_runs(bench_bin, n, 1)[q]
            if run == 0:
                first[listing] = values[0][0]
            else:
                samples[listing] += values
            log(f"  p{n} {q} run {run}/{runs}{' (first)' if run == 0 else ''}: " + ", ".join(
                f"{s.removeprefix('lakegate, ')} {(first[s] if run == 0 else samples[s][-1][0]):.1f}"
                for s in [*systems, listing]) + " ms planning")
        for system, values in samples.items():
            plan = statistics.median(v[0] for v in values)
            total = statistics.median(v[1] for v in values)
            result.append((n, q, system, first[system], plan, total, reports.get(system, "")))
    return result


def write_report(rows, runs):
    stamp = datetime.now(timezone.utc)
    out = Path(__file__).parent / "results" / f"partitions-{stamp:%Y%m%dT%H%M%SZ}.md"
    out.parent.mkdir(exist_ok=True)
    lines = [
        f"# Partition pruning benchmark, {stamp:%Y-%m-%dT%H:%MZ}, medians of {runs} runs "
        f"after one first (cold) statement per system, {os.cpu_count()} cores",
        "",
        "Catalog and listing caches off (TTL 0) except in the \"caches on\" gateway; DataFusion gets a",
        "fresh context per run. Planning = wall time of EXPLAIN (plans the scans: catalog fetch and",
        "listing included); total = the query. First = the first EXPLAIN (projection is computed then).",
        "Ratio = lakegate total / DataFusion listing table total, same size and query.",
        "",
        "| partitions | query | system | first plan ms | planning ms | total ms | ratio | scan report |",
        "|---:|---|---|---:|---:|---:|---:|---|",
    ]
    baseline = {(n, q): t for n, q, s, _, _, t, _ in rows if s == "DataFusion listing table"}
    for n, q, system, first, plan, total, report in rows:
        ratio = total / baseline[(n, q)]
        query = "k = one value" if q == "one" else "full scan"
        report = re.sub(r"^bench\.\S+: ", "", report)
        lines.append(f"| {n:,} | {query} | {system} | {first:.1f} | {plan:.1f} | {total:.1f} "
                     f"| {ratio:.2f} | {report} |")
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
