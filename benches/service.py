"""Service benchmarks (issue 10): small statements (suite C), memory (suite E) and start-up
(suite F), each against the local PostgreSQL server in the same run.

  smallq   pgbench, simple and prepared protocol, 1, 16 and 64 clients, arms interleaved:
           lakegate `SELECT 1` and a one-row point lookup (sales.customers, demo lake scale 0.1)
           against PostgreSQL's select-only workload (`pgbench -S`, scale 10) and its `SELECT 1`;
           statements/s and latency p50/p99 from pgbench's per-statement log.
  memory   RSS and PSS added per idle connection (200 connections, psycopg) for lakegate and for
           PostgreSQL's backends; then a sort over all demo orders (scale 1) under a 16 MiB
           memory limit: it spills and finishes, or fails with 53200, and the server still answers.
  startup  time from exec to the first accepted connection and the first `SELECT 1` answer, with
           the demo lake present; comparator: `pg_ctl start -w` of a private PostgreSQL cluster.

`--baseline OTHER_BIN` adds smallq arms for another build (its `SELECT 1` and point lookup), run
interleaved with the others, for a before/after in one run.

Usage: python3 benches/service.py LAKEGATE_BIN [--quick] [--runs N] [--part smallq|memory|startup]
                                  [--baseline OTHER_BIN]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policies import DATA, free_port, log, option, start_gateway_process, write_report  # noqa: E402

PG = dict(host="127.0.0.1", port=5432, user="postgres", dbname="lakegate_bench")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLIENTS = (1, 16, 64)


def demo_lake(binary, scale):
    lake = DATA / f"scale-{scale}"
    if not (lake / "lakegate-demo.json").exists():
        log(f"  generating the demo lake (scale {scale}) in {lake}")
        subprocess.run([binary, "demo", "generate", "--scale", str(scale), "--lake-root", str(lake)],
                       check=True)
    return lake


def gateway(binary, lake, work, name, settings=""):
    config = work / f"{name}.toml"
    config.write_text(f'[limits]\nmax_connections = 400\n[audit]\ndir = "{work / ("audit-" + name)}"\n'
                      f"lake = false\n{settings}")
    return start_gateway_process(binary, lake, config, name, work)


# --- suite C: small statements -------------------------------------------------------------

def pgbench(target, script, clients, protocol, seconds, logdir):
    """(statements/s, p50 ms, p99 ms) of one pgbench run; `script` is a file or `-S`."""
    for old in logdir.glob("pgbench_log*"):
        old.unlink()
    host, port, user, db = target
    command = ["pgbench", "-n", "-h", host, "-p", str(port), "-U", user, "-d", db,
               "-c", str(clients), "-j", str(min(clients, 2)), "-M", protocol, "-T", str(seconds),
               "-l", "--log-prefix", str(logdir / "pgbench_log")]
    command += ["-S"] if script == "-S" else ["-f", str(script)]
    out = subprocess.run(command, env=dict(os.environ, PGPASSWORD=user), capture_output=True,
                         text=True, cwd=logdir)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    tps = next(float(line.split()[2]) for line in out.stdout.splitlines() if line.startswith("tps = "))
    latencies = sorted(int(line.split()[2]) for f in logdir.glob("pgbench_log*") for line in open(f))
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000  # noqa: E731
    return tps, pick(0.5), pick(0.99)


def prepare_pg():
    admin = dict(PG, dbname="postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'lakegate_bench'").fetchone():
            conn.execute("CREATE DATABASE lakegate_bench")
    with psycopg.connect(**PG) as conn:
        ready = conn.execute("SELECT to_regclass('pgbench_accounts') IS NOT NULL").fetchone()[0]
    if not ready:
        log("  pgbench -i -s 10 (PostgreSQL's select-only data)")
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", "-h", PG["host"], "-U", PG["user"],
                        PG["dbname"]], check=True, capture_output=True)


def smallq(binary, work, runs, seconds, baseline=""):
    prepare_pg()
    lake = demo_lake(binary, 0.1)
    gateways = [gateway(binary, lake, work, "smallq")]
    if baseline:
        gateways.append(gateway(baseline, lake, work, "smallq-baseline"))
    scripts = {"SELECT 1": "SELECT 1;\n",
               "point lookup": "\\set id random(1, 5000)\n"
                               "SELECT name, segment FROM sales.customers WHERE customer_id = :id;\n"}
    files = {}
    for i, (name, sql) in enumerate(scripts.items()):
        files[name] = work / f"smallq{i}.sql"
        files[name].write_text(sql)
    arms = {}
    for label, (_, port) in zip(("lakegate", "baseline"), gateways):
        for name in scripts:
            arms[f"{label} {name}"] = (("127.0.0.1", port, "analyst", "lake"), files[name])
    arms["PostgreSQL SELECT 1"] = ((PG["host"], PG["port"], PG["user"], PG["dbname"]), files["SELECT 1"])
    arms["PostgreSQL select-only"] = ((PG["host"], PG["port"], PG["user"], PG["dbname"]), "-S")
    results = {}
    try:
        cases = [(p, c) for p in ("simple", "prepared") for c in CLIENTS]
        for n, (protocol, clients) in enumerate(cases, 1):
            samples = {arm: [] for arm in arms}
            for _ in range(runs):
                for arm, (target, script) in arms.items():
                    samples[arm].append(pgbench(target, script, clients, protocol, seconds, work))
            for arm, runs_of_arm in samples.items():
                results[(protocol, clients, arm)] = tuple(
                    statistics.median(r[i] for r in runs_of_arm) for i in range(3))
            log(f"  [{n}/{len(cases)}] {protocol}, {clients} clients: " + ", ".join(
                f"{arm} {results[(protocol, clients, arm)][0]:.0f}/s" for arm in arms))
    finally:
        for proc, _ in gateways:
            proc.terminate()
            proc.wait()
    return results


def smallq_table(results, runs, seconds):
    lines = ["## C. Small statements", "",
             f"pgbench {seconds} s per run, median of {runs} interleaved runs; latency percentiles "
             "from pgbench's per-statement log. lakegate as `analyst` (policies apply), audit on "
             "(file sink, synced). PostgreSQL 15 on the same machine, `pgbench -S` at scale 10.", "",
             "| protocol | clients | arm | stmts/s | p50 ms | p99 ms | stmts/s vs PostgreSQL select-only |",
             "|---|---|---|---|---|---|---|"]
    for (protocol, clients, arm), (tps, p50, p99) in results.items():
        base = results[(protocol, clients, "PostgreSQL select-only")][0]
        lines.append(f"| {protocol} | {clients} | {arm} | {tps:.0f} | {p50:.3f} | {p99:.3f} | "
                     f"{tps / base:.3f} |")
    return lines


# --- suite E: memory -------------------------------------------------------------------------

def memory_of(pid):
    """(RSS KiB, PSS KiB) of a process."""
    fields = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if parts[0] in ("Rss:", "Pss:"):
            fields[parts[0]] = int(parts[1])
    return fields["Rss:"], fields["Pss:"]


def idle_connections(binary, work, count):
    lake = demo_lake(binary, 0.1)
    proc, port = gateway(binary, lake, work, "idle")
    try:
        first = psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="analyst",
                                password="analyst")
        first.execute("SELECT 1").fetchall()
        time.sleep(0.5)
        before = memory_of(proc.pid)
        conns = [psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="analyst",
                                 password="analyst") for _ in range(count)]
        time.sleep(1)
        after = memory_of(proc.pid)
        for conn in conns:
            conn.execute("SELECT 1").fetchall()
        time.sleep(1)
        used = memory_of(proc.pid)
        for conn in conns + [first]:
            conn.close()
    finally:
        proc.terminate()
        proc.wait()
    lakegate = tuple((a - b) / count for a, b in zip(after, before))
    lakegate_used = tuple((a - b) / count for a, b in zip(used, before))
    with psycopg.connect(**PG) as conn:
        room = int(conn.execute("SHOW max_connections").fetchone()[0]) - 10
    conns = [psycopg.connect(**PG, application_name="lakegate-bench-idle")
             for _ in range(min(count, room))]
    time.sleep(1)
    with psycopg.connect(**PG) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'lakegate-bench-idle'")]
    per_backend = [memory_of(pid) for pid in pids]
    for conn in conns:
        conn.close()
    postgres = tuple(sum(m[i] for m in per_backend) / len(per_backend) for i in range(2))
    return lakegate, lakegate_used, postgres


def spill(binary, work):
    """A full sort of the demo orders (scale 1) under a 16 MiB limit, then `SELECT 1`."""
    lake = demo_lake(binary, 1)
    sql = ("SELECT count(*), sum(n) FROM (SELECT row_number() OVER (ORDER BY card_number, order_id) "
           "AS n FROM sales.orders) t")
    outcome = {}
    for name, limit in (("unlimited", ""), ("16 MiB", "[engine]\nmemory_limit_mb = 16\n")):
        proc, port = gateway(binary, lake, work, f"spill-{name.split()[0]}", limit)
        try:
            conn = psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="admin",
                                   password="admin", autocommit=True)
            start = time.perf_counter()
            try:
                rows = conn.execute(sql).fetchall()
                result = f"ok ({rows[0][0]} rows sorted)"
            except psycopg.Error as e:
                result = f"{e.sqlstate}: {e.diag.message_primary}"
            elapsed = time.perf_counter() - start
            peak = int(next(line.split()[1] for line in open(f"/proc/{proc.pid}/status")
                            if line.startswith("VmHWM:")))
            alive = psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="admin",
                                    password="admin").execute("SELECT 1").fetchone() == (1,)
            outcome[name] = (result, elapsed, peak / 1024, alive)
        finally:
            proc.terminate()
            proc.wait()
    return outcome


def memory_table(idle, count, spilled):
    (lg_rss, lg_pss), (used_rss, used_pss), (pg_rss, pg_pss) = idle
    lines = ["## E. Memory", "",
             f"{count} idle connections (psycopg, signed in as analyst, one statement run on the "
             "first); lakegate: growth of the server's RSS and PSS divided by the count; "
             "PostgreSQL: the mean RSS and PSS of its backends (as many connections as its "
             "max_connections leaves room for).", "",
             "| server | KiB RSS per idle connection | KiB PSS per idle connection |", "|---|---|---|",
             f"| lakegate | {lg_rss:.0f} | {lg_pss:.0f} |",
             f"| lakegate, after one `SELECT 1` on each | {used_rss:.0f} | {used_pss:.0f} |",
             f"| PostgreSQL 15 (per backend) | {pg_rss:.0f} | {pg_pss:.0f} |", "",
             "A full sort of the demo orders (scale 1, window over 500k rows), then `SELECT 1` on "
             "a new connection:", "",
             "| memory limit | outcome | seconds | peak RSS MiB | server still answers |",
             "|---|---|---|---|---|"]
    for name, (result, elapsed, peak, alive) in spilled.items():
        lines.append(f"| {name} | {result} | {elapsed:.2f} | {peak:.0f} | {'yes' if alive else 'NO'} |")
    return lines


# --- suite F: start-up ------------------------------------------------------------------------

def lakegate_startup(binary, work):
    lake = demo_lake(binary, 0.1)
    config = work / "startup.toml"
    config.write_text(f'[audit]\ndir = "{work / "audit-startup"}"\nlake = false\n')
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "serve", "--config", str(config), "--listen",
                             f"127.0.0.1:{port}", "--lake-root", str(lake)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        accepted = wait_connect(port, start)
        conn = psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="analyst",
                               password="analyst")
        conn.execute("SELECT 1").fetchall()
        answered = time.perf_counter() - start
        conn.close()
    finally:
        proc.terminate()
        proc.wait()
    return accepted * 1000, answered * 1000


def wait_connect(port, start):
    import socket
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
            return time.perf_counter() - start
        except OSError:
            if time.perf_counter() - start > 30:
                raise RuntimeError("lakegate did not start within 30 s")
            time.sleep(0.002)


def as_postgres(command):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + command, check=True, capture_output=True, text=True)


def postgres_startup(cluster):
    """(ms to `pg_ctl start -w` returning, ms to the first `SELECT 1` answer)."""
    port = free_port()
    start = time.perf_counter()
    as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(cluster), "-w", "-l", str(cluster / "log"),
                 "-o", f"-p {port} -k {cluster} -c listen_addresses=127.0.0.1", "start"])
    ready = time.perf_counter() - start
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres") as conn:
        conn.execute("SELECT 1").fetchall()
    answered = time.perf_counter() - start
    as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(cluster), "-w", "-m", "fast", "stop"])
    return ready * 1000, answered * 1000


def startup(binary, work, runs):
    scratch = Path(tempfile.mkdtemp(prefix="lakegate-bench-pg-"))
    os.chmod(scratch, 0o777)
    cluster = scratch / "cluster"
    as_postgres([str(PG_BIN / "initdb"), "-D", str(cluster), "-A", "trust", "-U", "postgres"])
    samples = {"lakegate": [], "PostgreSQL": []}
    try:
        for _ in range(runs):
            samples["lakegate"].append(lakegate_startup(binary, work))
            samples["PostgreSQL"].append(postgres_startup(cluster))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {k: tuple(statistics.median(s[i] for s in v) for i in range(2)) for k, v in samples.items()}


def startup_table(results, runs):
    lines = ["## F. Start-up", "",
             f"Median of {runs} interleaved starts. lakegate: `lakegate serve` with the demo lake "
             "(scale 0.1) until a TCP connection is accepted, and until `SELECT 1` is answered on "
             "a new connection (SCRAM sign-in). PostgreSQL: `pg_ctl start -w` of a fresh private "
             "cluster until it returns, and until `SELECT 1` is answered.", "",
             "| server | ready ms | first SELECT 1 answered ms |", "|---|---|---|"]
    for name, (ready, answered) in results.items():
        lines.append(f"| {name} | {ready:.0f} | {answered:.0f} |")
    return lines


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    binary, quick = args[0], "--quick" in args
    baseline = option(args, "--baseline", "")
    runs = option(args, "--runs", 1 if quick else 3)
    parts = option(args, "--part", "smallq,memory,startup").split(",")
    seconds, idle_count = (2, 100) if quick else (5, 200)
    work = DATA / "service"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    stamp = datetime.now(timezone.utc)
    lines = [f"# Service benchmark {stamp:%Y-%m-%d %H:%M} UTC", "", "Release build.", ""]
    if "smallq" in parts:
        arms = 6 if baseline else 4
        log(f"[smallq] 2 protocols x {len(CLIENTS)} client counts x {arms} arms x {runs} runs, {seconds} s each")
        if baseline:
            lines += [f"Baseline: `{baseline}`.", ""]
        lines += smallq_table(smallq(binary, work, runs, seconds, baseline), runs, seconds) + [""]
    if "memory" in parts:
        log(f"[memory] {idle_count} idle connections; a sort under a 16 MiB limit")
        lines += memory_table(idle_connections(binary, work, idle_count), idle_count,
                              spill(binary, work)) + [""]
    if "startup" in parts:
        log(f"[startup] {max(runs, 3)} starts each")
        lines += startup_table(startup(binary, work, max(runs, 3)), max(runs, 3)) + [""]
    text = "\n".join(lines)
    write_report("service", text)


if __name__ == "__main__":
    main()
