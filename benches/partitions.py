"""Partition benchmark: catalog-driven pruning at 1, 100, 10,000 and 100,000 partitions.

Builds one Hive layout per size (`p<N>/k=<i>/part-0.parquet`, hard links of one small file),
registers it as `bench.p<N>` in a fixtures catalog and in moto's Glue API, plus
`bench.p<N>_projected` (Athena partition projection, no partition listing at all), and measures,
interleaved in one run:

  - lakegate, fixtures backend      one-partition query and full scan, planning and total
  - lakegate, Glue backend (moto)   the same
  - lakegate, partition projection  the same
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


def build_layout(sizes):
    """Hive directories with one 100-row file each (hard links: 100,000 files in seconds)."""
    template = WORK / "template.parquet"
    WORK.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"v": pa.array(range(100), pa.int64())}), template)
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
                os.link(template, target)
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


def start_gateway(binary, name, args, env):
    port = free_port()
    config = WORK / f"{name}.toml"
    config.write_text("[catalog]\ncache_seconds = 0\n[engine]\nlisting_cache_seconds = 0\n")
    log_file = open(WORK / f"{name}.log", "w")
    proc = subprocess.Popen([binary, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                             "--lake-root", str(WORK / "data"), *args],
                            env=env, stdout=log_file, stderr=subprocess.STDOUT)
    wait_port(port, proc, f"lakegate ({name})")
    conn = psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="analyst",
                           password="analyst", autocommit=True)
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
        procs += [fx_proc, gl_proc]

        log(f"[4/4] measuring, {runs} interleaved runs per size")
        rows = []
        for n in sizes:
            rows += measure(n, runs if n < 100_000 else max(1, runs - 2), fx, gl, bench_bin)
        write_report(rows, runs)
    finally:
        for p in procs:
            p.terminate()


def measure(n, runs, fx, gl, bench_bin):
    one = f"SELECT count(*), sum(v) FROM bench.p{n} WHERE k = {n // 2}"
    full = f"SELECT count(*), sum(v) FROM bench.p{n}"
    systems = {
        "lakegate, fixtures catalog": (fx, ""),
        "lakegate, Glue API (moto)": (gl, ""),
        "lakegate, partition projection": (fx, "_projected"),
    }
    samples = {(s, q): [] for s in [*systems, "DataFusion listing table"] for q in ("one", "full")}
    reports = {}
    for run in range(runs):
        for system, (conn, suffix) in systems.items():
            for q, sql in (("one", one), ("full", full)):
                plan, total, report = time_query(conn, sql.replace(f"p{n}", f"p{n}{suffix}", 1))
                samples[(system, q)].append((plan, total))
                reports[(system, q)] = report
        for q, values in listing_runs(bench_bin, n, 1).items():
            samples[("DataFusion listing table", q)] += values
        log(f"  p{n} run {run + 1}/{runs}: " + ", ".join(
            f"{s.split(',')[-1].strip()} {samples[(s, 'one')][-1][0]:.1f} ms"
            for s in [*systems, "DataFusion listing table"]) + " (one-partition planning)")
    result = []
    for (system, q), values in samples.items():
        plan = statistics.median(v[0] for v in values)
        total = statistics.median(v[1] for v in values)
        result.append((n, q, system, plan, total, reports.get((system, q), "")))
    return result


def write_report(rows, runs):
    stamp = datetime.now(timezone.utc)
    out = Path(__file__).parent / "results" / f"partitions-{stamp:%Y%m%dT%H%M%SZ}.md"
    out.parent.mkdir(exist_ok=True)
    lines = [
        f"# Partition pruning benchmark, {stamp:%Y-%m-%dT%H:%MZ}, medians of {runs} runs "
        f"(100,000 partitions: {max(1, runs - 2)}), {os.cpu_count()} cores",
        "",
        "Caches off (catalog and listing TTL 0). Planning = wall time of EXPLAIN; total = the query.",
        "Ratio = lakegate total / DataFusion listing table total, same size and query.",
        "",
        "| partitions | query | system | planning ms | total ms | ratio | scan report |",
        "|---:|---|---|---:|---:|---:|---|",
    ]
    baseline = {(n, q): total for n, q, s, _, total, _ in rows if s == "DataFusion listing table"}
    for n, q, system, plan, total, report in rows:
        ratio = total / baseline[(n, q)]
        query = "k = one value" if q == "one" else "full scan"
        report = re.sub(r"^bench\.\S+: ", "", report)
        lines.append(f"| {n:,} | {query} | {system} | {plan:.1f} | {total:.1f} | {ratio:.2f} | {report} |")
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
