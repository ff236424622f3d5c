"""TPC-H benchmark (issue 10, suite A): the 22 queries through lakegate over the wire (binary
results) against in-process DataFusion and DuckDB 1.5.5 on the same files, interleaved.

Data: `tpchgen-cli` Parquet at scale factor SF, rewritten once as
  - Hive-partitioned Parquet (lineitem by l_shipmode, orders by o_orderstatus; the other tables
    one file each), registered in a fixtures catalog as database `tpch`;
  - Delta Lake tables of the same rows and partitioning, registered as `tpch_delta`.
Arms, per query in rotating order after one warm-up each:
  lakegate (Parquet)   psycopg, binary results, as admin (no policy applies to a superuser)
  lakegate (Delta)     the same over the Delta tables
  DataFusion           the same DataFusion build in process (`cargo bench --bench tpch`: listing
                       tables over the Parquet directories, default SessionConfig)
  DuckDB 1.5.5         read_parquet(hive_partitioning = true), threads = 2
  baseline (Parquet), baseline (Delta)
                       with `--baseline OTHER_BIN`: another lakegate build on the same files and
                       catalog, for a before/after of a change in the same run
Answers: every lakegate answer is checked against DuckDB's on the same files (the tpch
extension's answer files do not fit tpchgen-cli data: ../shared/research/tpch_anchor.md).

Usage: python3 benches/tpch.py LAKEGATE_BIN DATAFUSION_BENCH_BIN [--quick] [--runs N] [--scale SF]
                               [--baseline OTHER_BIN]
"""

import json
import math
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policies import DATA, log, option, start_gateway_process, write_report  # noqa: E402

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
PARTITIONED = {"lineitem": "l_shipmode", "orders": "o_orderstatus"}
ROW_GROUP_ROWS = 262_144


def glue_type(arrow_type):
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_int32(arrow_type):
        return "int"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_date32(arrow_type):
        return "date"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    raise ValueError(f"no Glue type for {arrow_type}")


def plain_strings(table):
    """tpchgen writes string_view; the lake's files use plain strings (what Glue declares)."""
    fields = [pa.field(f.name, pa.string()) if f.type == pa.string_view() else f for f in table.schema]
    return table.cast(pa.schema(fields))


def generate(work, scale):
    raw = work / "raw"
    if not (raw / ".complete").exists():
        log(f"  tpchgen-cli parquet -s {scale} (ZSTD(1))")
        raw.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tpchgen-cli", "parquet", "-s", str(scale), "--compression=ZSTD(1)",
                        "--output-dir", str(raw), "--overwrite"], check=True)
        (raw / ".complete").touch()
    schemas = {}
    for n, table in enumerate(TABLES, 1):
        data = plain_strings(pq.read_table(raw / f"{table}.parquet"))
        schemas[table] = data.schema
        write_parquet(work / "parquet" / table, table, data)
        write_delta(work / "delta" / table, table, data)
        log(f"  [{n}/{len(TABLES)}] {table}: {data.num_rows} rows as Parquet and Delta")
    return schemas


def write_parquet(path, table, data):
    if (path / ".complete").exists():
        return
    key = PARTITIONED.get(table)
    ds.write_dataset(data, path, format="parquet", existing_data_behavior="delete_matching",
                     partitioning=[key] if key else None, partitioning_flavor="hive" if key else None,
                     max_rows_per_group=ROW_GROUP_ROWS, min_rows_per_group=ROW_GROUP_ROWS,
                     file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"))
    (path / ".complete").touch()


def write_delta(path, table, data):
    if (path / ".complete").exists():
        return
    import deltalake
    key = PARTITIONED.get(table)
    # The same row groups and compression as the Parquet copy, so the formats compare fairly.
    properties = deltalake.WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression="ZSTD",
                                            compression_level=1)
    deltalake.write_deltalake(str(path), data, mode="overwrite", partition_by=[key] if key else None,
                              writer_properties=properties)
    (path / ".complete").touch()


def partitions(path, key):
    """(value, directory name) of each partition; pyarrow percent-encodes values in names."""
    names = sorted(p.name for p in path.iterdir() if p.name.startswith(f"{key}="))
    return [(unquote(name.split("=", 1)[1]), name) for name in names]


def write_fixtures(work, schemas):
    root = work / "fixtures"
    (root / "partitions" / "tpch").mkdir(parents=True, exist_ok=True)
    (root / "tables").mkdir(parents=True, exist_ok=True)
    (root / "databases.json").write_text(json.dumps(
        {"DatabaseList": [{"Name": "tpch"}, {"Name": "tpch_delta"}]}))
    parquet, delta = [], []
    for table, schema in schemas.items():
        key = PARTITIONED.get(table)
        columns = [{"Name": f.name, "Type": glue_type(f.type)} for f in schema if f.name != key]
        keys = [{"Name": key, "Type": "string"}] if key else []
        location = str(work / "parquet" / table) + "/"
        parquet.append({"Name": table, "Parameters": {"classification": "parquet"},
                        "PartitionKeys": keys,
                        "StorageDescriptor": {"Columns": columns, "Location": location}})
        delta.append({"Name": table, "Parameters": {"table_type": "DELTA", "classification": "delta"},
                      "StorageDescriptor": {"Columns": columns + keys,
                                            "Location": str(work / "delta" / table) + "/"}})
        if key:
            parts = [{"Values": [value], "StorageDescriptor": {"Location": f"{location}{name}/"}}
                     for value, name in partitions(work / "parquet" / table, key)]
            (root / "partitions" / "tpch" / f"{table}.json").write_text(json.dumps({"Partitions": parts}))
    (root / "tables" / "tpch.json").write_text(json.dumps({"TableList": parquet}))
    (root / "tables" / "tpch_delta.json").write_text(json.dumps({"TableList": delta}))
    return root


def tpch_queries():
    con = duckdb.connect()
    load_tpch_extension(con)
    return [q for _, q in sorted(con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall())]


def load_tpch_extension(con):
    import duckdb_extension_tpch
    package = Path(duckdb_extension_tpch.__file__).parent
    con.execute(f"LOAD '{package / 'extensions' / ('v' + duckdb.__version__) / 'tpch.duckdb_extension'}'")


class DuckArm:
    def __init__(self, work):
        self.con = duckdb.connect()
        self.con.execute("SET threads = 2")
        for table in TABLES:
            glob = work / "parquet" / table / "**" / "*.parquet"
            self.con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{glob}', "
                             "hive_partitioning = true)")

    def run(self, sql):
        start = time.perf_counter()
        rows = self.con.execute(sql).fetchall()
        return (time.perf_counter() - start) * 1000, rows


class GatewayArm:
    def __init__(self, port, schema):
        self.conn = psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="admin",
                                    password="admin", autocommit=True)
        self.conn.execute(f"SET search_path TO {schema}")

    def run(self, sql):
        start = time.perf_counter()
        with self.conn.cursor(binary=True) as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        return (time.perf_counter() - start) * 1000, rows


class DataFusionArm:
    """The cargo bench worker: one query per line on stdin, `ms rows` per line on stdout."""

    def __init__(self, binary, work):
        self.proc = subprocess.Popen([binary, str(work / "parquet")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, sql):
        self.proc.stdin.write(" ".join(sql.split()) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        if len(answer) != 2:
            raise RuntimeError(f"the DataFusion worker failed: {answer}")
        return float(answer[0]), int(answer[1])

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def same_answer(got, expected):
    """Rows equal in order (all 22 queries sort), numbers within 1e-6 relative (floats)."""
    if len(got) != len(expected):
        return False
    for row, want in zip(got, expected):
        for a, b in zip(row, want):
            if isinstance(a, (float, Decimal)) or isinstance(b, (float, Decimal)):
                if not math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6):
                    return False
            elif str(a) != str(b):
                return False
    return True


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def matches(got, expected):
    if same_answer(got, expected):
        return True
    # Ties under ORDER BY … LIMIT may come in another order: compare as sorted rows.
    key = lambda row: [str(v) for v in row]  # noqa: E731
    return same_answer(sorted(got, key=key), sorted(expected, key=key))


def run_queries(arms, queries, runs):
    """{query number: {arm: [ms, …]}}, arms in rotating order; answers checked after warm-up."""
    times, wrong = {}, []
    for number, sql in enumerate(queries, 1):
        expected = arms["DuckDB 1.5.5"].run(sql)[1]
        for name, arm in arms.items():
            answer = arm.run(sql)[1]
            if isinstance(arm, GatewayArm) and not matches(answer, expected):
                wrong.append(f"Q{number} {name}")
            elif isinstance(arm, DataFusionArm) and answer != len(expected):
                wrong.append(f"Q{number} {name} ({answer} rows, DuckDB {len(expected)})")
        samples = {name: [] for name in arms}
        order = list(arms)
        for r in range(runs):
            for name in order[r % len(order):] + order[:r % len(order)]:
                samples[name].append(arms[name].run(sql)[0])
        times[number] = samples
        medians = "  ".join(f"{n} {statistics.median(s):.0f}" for n, s in samples.items())
        log(f"  Q{number:02d}: {medians} ms")
    return times, wrong


def report(times, wrong, scale, runs):
    names = list(next(iter(times.values())))
    medians = {q: {n: statistics.median(s) for n, s in arms.items()} for q, arms in times.items()}
    ratios = [("lakegate (Parquet)", "DataFusion"), ("lakegate (Parquet)", "DuckDB 1.5.5"),
              ("lakegate (Delta)", "lakegate (Parquet)")]
    if "baseline (Parquet)" in names:
        ratios += [("lakegate (Parquet)", "baseline (Parquet)"), ("lakegate (Delta)", "baseline (Delta)")]
    stamp = datetime.now(timezone.utc)
    lines = [f"# TPC-H benchmark {stamp:%Y-%m-%d %H:%M} UTC", "",
             f"Scale factor {scale}; release build; median of {runs} interleaved runs per arm after "
             "one warm-up; lakegate through psycopg with binary results as admin (no policy); "
             "DataFusion in process on the same Parquet files; DuckDB 1.5.5 with threads = 2.", "",
             "| query | " + " | ".join(f"{n} ms" for n in names) + " | "
             + " | ".join(f"{a} / {b}" for a, b in ratios) + " |",
             "|---" * (1 + len(names) + len(ratios)) + "|"]
    for q, m in medians.items():
        lines.append(f"| Q{q} | " + " | ".join(f"{m[n]:.1f}" for n in names) + " | "
                     + " | ".join(f"{m[a] / m[b]:.2f}" for a, b in ratios) + " |")
    gm = [geomean([m[a] / m[b] for m in medians.values()]) for a, b in ratios]
    worst = max(medians, key=lambda q: medians[q]["lakegate (Parquet)"] / medians[q]["DuckDB 1.5.5"])
    lines += ["| **geomean** | " + " | ".join("" for _ in names) + " | "
              + " | ".join(f"**{g:.3f}**" for g in gm) + " |", "",
              f"Worst against DuckDB: Q{worst} "
              f"({medians[worst]['lakegate (Parquet)'] / medians[worst]['DuckDB 1.5.5']:.2f}x).",
              "Answers checked against DuckDB on the same files: "
              + ("all match." if not wrong else "MISMATCH: " + ", ".join(wrong))]
    text = "\n".join(lines) + "\n"
    write_report("tpch", text)


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0].startswith("-"):
        sys.exit(__doc__)
    binary, worker = args[0], args[1]
    quick = "--quick" in args
    runs = option(args, "--runs", 3 if quick else 5)
    scale = option(args, "--scale", "0.1" if quick else "1")
    work = DATA / f"tpch-sf{scale}"
    log(f"[1/3] TPC-H data at scale {scale} in {work}")
    schemas = generate(work, scale)
    fixtures = write_fixtures(work, schemas)
    log("[2/3] starting lakegate, the DataFusion worker and DuckDB")
    config = work / "lakegate.toml"
    config.write_text(f'[catalog]\nfixtures = "{fixtures}"\ncache_seconds = 3600\n'
                      f'[audit]\ndir = "{work / "audit"}"\nlake = false\n')
    proc, port = start_gateway_process(binary, work, config, "tpch", work)
    processes = [proc]
    datafusion = DataFusionArm(worker, work)
    try:
        arms = {"lakegate (Parquet)": GatewayArm(port, "tpch"),
                "lakegate (Delta)": GatewayArm(port, "tpch_delta"),
                "DataFusion": datafusion, "DuckDB 1.5.5": DuckArm(work)}
        if "--baseline" in args:
            other = args[args.index("--baseline") + 1]
            config = work / "baseline.toml"
            config.write_text(f'[catalog]\nfixtures = "{fixtures}"\ncache_seconds = 3600\n'
                              f'[audit]\ndir = "{work / "audit-baseline"}"\nlake = false\n')
            base, base_port = start_gateway_process(other, work, config, "tpch-baseline", work)
            processes.append(base)
            arms["baseline (Parquet)"] = GatewayArm(base_port, "tpch")
            arms["baseline (Delta)"] = GatewayArm(base_port, "tpch_delta")
        log(f"[3/3] 22 queries x (1 warm-up + {runs} runs) x {len(arms)} arms")
        times, wrong = run_queries(arms, tpch_queries(), runs)
        report(times, wrong, scale, runs)
    finally:
        datafusion.close()
        for process in processes:
            process.terminate()
            process.wait()
    if wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
