"""Audit benchmark: small-statement throughput with the audit log on (every decision record
written and synced before the statement's first row, group commit) against the same gateway build
with it off (`audit.sink = "off"`), in one run.

Three gateways serve the same demo lake: audit off, audit on (the default settings: decisions
synced), and audit on with `audit.durability = "written"` (decisions written before the first row,
synced within 10 ms); with `--baseline OTHER_BIN` a fourth, another build with the audit on, for
a before/after in one run.
pgbench (custom scripts, simple and prepared protocol, 1, 16 and 64 clients) runs against each
in turn, arms interleaved; medians of statements/s are reported with the ratios to off, and for
the audited arms the records written per sync (from `/metrics`: how well group commit batches).
Targets: at least 0.90 synced (issue 6); 0.95 for the buffered sink (research/performance.md,
suite F), which is the "written" arm here.

Usage: python3 benches/audit.py LAKEGATE_BIN [--quick] [--runs N] [--seconds N] [--clients N,N…]
                                [--baseline OTHER_BIN]
"""

import os
import shutil
import statistics
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policies import DATA, free_port, log, option, start_gateway_process, write_report  # noqa: E402

WORKLOADS = {
    "SELECT 1": "SELECT 1;\n",
    "point lookup": "\\set id random(1, 1000)\n"
                    "SELECT name, segment FROM sales.customers WHERE customer_id = :id;\n",
}


def pgbench(port, script, clients, protocol, seconds):
    """Statements per second of one pgbench run."""
    env = dict(os.environ, PGPASSWORD="analyst")
    command = ["pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", "analyst", "-d", "lake",
               "-f", str(script), "-c", str(clients), "-j", str(min(clients, 2)),
               "-M", protocol, "-T", str(seconds)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    for line in out.stdout.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise RuntimeError(out.stdout)


def audit_counters(http_port):
    """(records written, syncs) from a gateway's /metrics; None from a build without them."""
    url = f"http://127.0.0.1:{http_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                   if line and not line.startswith("#"))
    try:
        return (float(samples["lakegate_audit_records_total"]),
                float(samples["lakegate_audit_syncs_total"]))
    except KeyError:
        return None


def per_sync(before, after):
    """Records per sync between two readings of `audit_counters`."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    binary, quick = args[0], "--quick" in args
    runs, seconds = option(args, "--runs", 3 if quick else 5), option(args, "--seconds", 2 if quick else 5)
    client_counts = [int(c) for c in option(args, "--clients", "1,16,64").split(",")]
    if shutil.which("pgbench") is None:
        sys.exit("pgbench is needed (Debian: postgresql-client)")
    work = DATA / "audit"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lake = DATA / "scale-0.1"
    if not (lake / "lakegate-demo.json").exists():
        log(f"[1/3] generating the demo lake (scale 0.1) in {lake}")
        subprocess.run([binary, "demo", "generate", "--scale", "0.1", "--lake-root", str(lake)],
                       check=True)
    baseline = option(args, "--baseline", "")
    gateways = [("off", binary, 'sink = "off"\n'),
                ("on", binary, f'dir = "{work / "segments"}"\nlake = false\n'),
                ("on, written", binary, f'dir = "{work / "segments-written"}"\nlake = false\n'
                                        'durability = "written"\n')]
    if baseline:
        gateways.append(("on, baseline", baseline, f'dir = "{work / "segments-baseline"}"\n'
                                                   "lake = false\n"))
    log(f"[2/3] starting {len(gateways)} gateways: " + ", ".join(name for name, _, _ in gateways))
    arms = {}
    http = {}
    try:
        for name, build, audit in gateways:
            config = work / f"{name.replace(', ', '-')}.toml"
            http[name] = free_port()
            config.write_text(f'[server]\nhttp_listen = "127.0.0.1:{http[name]}"\n'
                              f'[audit]\n{audit}')
            arms[name] = start_gateway_process(build, lake, config, config.stem, work)
        scripts = {}
        for i, (workload, sql) in enumerate(WORKLOADS.items()):
            scripts[workload] = work / f"script{i}.sql"
            scripts[workload].write_text(sql)
        cases = [(w, p, c) for w in WORKLOADS for p in ("simple", "prepared") for c in client_counts]
        log(f"[3/3] {len(cases)} cases x {runs} interleaved runs x {len(arms)} arms, {seconds} s each")
        results = {}
        for n, (workload, protocol, clients) in enumerate(cases, 1):
            rates = {arm: [] for arm in arms}
            counters = {arm: audit_counters(http[arm]) for arm in arms}
            for _ in range(runs):
                for arm, (_, port) in arms.items():
                    rates[arm].append(pgbench(port, scripts[workload], clients, protocol, seconds))
            arms_of = {a: statistics.median(r) for a, r in rates.items()}
            syncs = {a: per_sync(counters[a], audit_counters(http[a])) for a in arms if a != "off"}
            results[(workload, protocol, clients)] = (arms_of, syncs)
            log(f"  [{n}/{len(cases)}] {workload}, {protocol}, {clients} clients: " + ", ".join(
                f"{arm} {rate:.0f}/s" + ("" if arm == "off" else
                                         f" ({rate / arms_of['off']:.3f} of off, "
                                         f"{shown(syncs[arm])} records per sync)")
                for arm, rate in arms_of.items()))
        records = sum(f.read_bytes().count(b"\n") for f in (work / "segments").glob("*.jsonl"))
    finally:
        for proc, _ in arms.values():
            proc.terminate()
    report(results, runs, seconds, records, baseline)


def shown(ratio):
    return f"{ratio:.1f}" if ratio else "—"


def report(results, runs, seconds, records, baseline):
    audited = [arm for arm in next(iter(results.values()))[0] if arm != "off"]
    lines = [f"# Audit benchmark {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"Demo lake scale 0.1; release build; pgbench, {seconds} s per run, median of {runs} "
             "interleaved runs per arm. Audit on: file sink, every statement's decision record "
             "synced (fdatasync, group commit) before its first row is sent (the sync overlaps "
             "with computing that row), its terminal record after. On, written: "
             "`audit.durability = \"written\"`, the decision written (not synced) before the "
             "first row, every record synced within 10 ms. Off: `audit.sink = \"off\"`."
             + (f" Baseline: `{baseline}` with the audit on." if baseline else ""), "",
             "| statement | protocol | clients | audit off stmts/s | "
             + " | ".join(f"{arm} stmts/s | {arm} / off | {arm}: records per sync"
                          for arm in audited) + " |",
             "|---|---|---|---|" + "---|---|---|" * len(audited)]
    for (workload, protocol, clients), (arms, syncs) in results.items():
        off = arms["off"]
        lines.append(f"| {workload} | {protocol} | {clients} | {off:.0f} | " + " | ".join(
            f"{arms[arm]:.0f} | {arms[arm] / off:.3f} | {shown(syncs[arm])}" for arm in audited)
            + " |")
    lines += ["", f"Records written by the audited gateway (synced) during the run: {records}."]
    text = "\n".join(lines) + "\n"
    write_report("audit", text)


if __name__ == "__main__":
    main()
