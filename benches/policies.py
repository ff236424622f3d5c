"""Policy benchmark: what enforcement costs, against the same gateway without it, in one run.

  planning   a one-partition query on sales.orders (one small file, so planning dominates; EXPLAIN
             is not used because admin's plan text, with files, is longer than a principal's),
             as a principal with one grant, on a gateway with 1 and one with 5,000 policy rules
             loaded; comparator: admin (a superuser: no policy) on each gateway.
  aggregate  SELECT status, currency, count(*), sum(amount), max(card_number) … GROUP BY over
             all orders, as a principal whose data filter keeps every row (amount >= 0, so the
             work is the same) and with two masks (card_number, status), and as principals with
             only the filter and only the masks; comparators: admin, and admin running the
             same filter and mask expressions written into the query (the policy's own work).

Runs are interleaved (A, B, A, B, …) on the demo lake; medians are reported with their ratio.
Usage: python3 benches/policies.py LAKEGATE_BIN [--quick] [--runs N]
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LAKEGATE_BENCH_DATA", Path.home() / ".cache/lakegate-bench"))
PLAN_SQL = ("SELECT count(*), sum(amount) FROM sales.orders "
            "WHERE order_date = DATE '2024-03-01' AND region = 'EMEA'")
AGG_SQL = ("SELECT status, currency, count(*), sum(amount), max(card_number) FROM sales.orders "
           "GROUP BY status, currency")
# The same work written out by hand: what the masked principal's query computes, run by admin.
AGG_INLINE_SQL = ("SELECT upper(status) AS status, currency, count(*), sum(amount), "
                  "max('XXXX-XXXX-XXXX-' || right(card_number, 4)) FROM sales.orders "
                  "WHERE amount >= 0 GROUP BY upper(status), currency")

PLANNER_RULE = "p, group:planners, sales.*, *, SELECT, allow\n"
# masked: a data filter that keeps every row (so the work compared is the same) and two masks;
# filtered and maskonly split the cost between the two.
BENCH_RULES = PLANNER_RULE + """
p, group:masked, filter:all_orders, *, SELECT, allow
p, group:filtered, filter:all_orders, *, SELECT, allow
p2, all_orders, sales.orders, "amount >= 0", *
p, group:maskonly, sales.orders, *, SELECT, allow
p3, group:masked, sales.orders.card_number, "'XXXX-XXXX-XXXX-' || right(card_number, 4)"
p3, group:masked, sales.orders.status, "upper(status)"
p3, group:maskonly, sales.orders.card_number, "'XXXX-XXXX-XXXX-' || right(card_number, 4)"
p3, group:maskonly, sales.orders.status, "upper(status)"
"""


def log(message):
    print(message, flush=True)


def option(args, name, default):
    """The value after `name` in `args`, of `default`'s type; `default` when absent."""
    return type(default)(args[args.index(name) + 1]) if name in args else default


def write_report(suite, text):
    """Prints a suite's report and keeps it as benches/results/SUITE-<UTC time>.md."""
    print(text)
    out = ROOT / "benches" / "results" / f"{suite}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.md"
    out.write_text(text)
    log(f"written to {out.relative_to(ROOT)}")


def filler_rules(count):
    """Rules for other subjects, as a large organisation's policy would have them."""
    rows = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            rows.append(f"p, group:team{i}, sales.*, * -card_number, SELECT, allow")
        elif kind == 1:
            rows.append(f"p, user:person{i}, web.events, *, SELECT, allow")
        elif kind == 2:
            rows.append(f"p3, group:team{i}, sales.customers.email, \"md5(email)\"")
        else:
            rows.append(f"p, group:team{i}, raw.*, *, ALL, deny")
    return rows


def write_policy(directory, rules, fillers):
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "policies/model.conf", directory / "model.conf")
    text = rules + "\n".join(filler_rules(fillers)) + "\n"
    (directory / "policy.csv").write_text(text)
    rules = sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return rules


def write_users(binary, path):
    """admin (superuser), planner and masked; passwords equal the names (`lakegate user add`)."""
    path.unlink(missing_ok=True)
    for name, groups, superuser in [("admin", [], True), ("planner", ["planners"], False),
                                    ("masked", ["masked"], False), ("filtered", ["filtered"], False),
                                    ("maskonly", ["maskonly"], False)]:
        command = [str(binary), "user", "add", name, "--password-stdin", "--users-file", str(path)]
        command += ["--groups", ",".join(groups)] if groups else []
        command += ["--superuser"] if superuser else []
        subprocess.run(command, input=name + "\n", text=True, check=True, capture_output=True)


HANDED_OUT = set()


def free_port():
    """A port nothing listens on, never the same twice in one run: a port handed out for a
    gateway's config is not bound until that gateway starts, so the kernel may offer it again."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in HANDED_OUT:
            HANDED_OUT.add(port)
            return port


def start(binary, lake, users, policies, name, work):
    config = work / f"{name}.toml"
    audit = work / f"audit-{name}"
    config.write_text(f'[auth]\nusers_file = "{users}"\n[policy]\ndir = "{policies}"\n'
                      f'[audit]\ndir = "{audit}"\nlake = false\n')
    return start_gateway_process(binary, lake, config, name, work)


def start_gateway_process(binary, lake, config, name, work):
    """Starts `lakegate serve --config CONFIG` on a free port; returns (process, port)."""
    port = free_port()
    log_file = open(work / f"{name}.log", "w")
    proc = subprocess.Popen([binary, "serve", "--config", str(config), "--listen",
                             f"127.0.0.1:{port}", "--lake-root", str(lake)],
                            stdout=log_file, stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((work / f"{name}.log").read_text())
            time.sleep(0.1)
    raise RuntimeError(f"lakegate ({name}) did not start")


def connect(port, user):
    return psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user=user, password=user,
                           autocommit=True)


def timed(conn, sql):
    start = time.perf_counter()
    conn.execute(sql).fetchall()
    return (time.perf_counter() - start) * 1000


def interleaved(arms, sql, runs):
    """Median ms per arm, the arms run alternately. An arm is a connection, or (connection, sql)
    to run its own statement."""
    arms = {name: arm if isinstance(arm, tuple) else (arm, sql) for name, arm in arms.items()}
    times = {name: [] for name in arms}
    for conn, statement in arms.values():
        timed(conn, statement)  # warm caches and connections
    for _ in range(runs):
        for name, (conn, statement) in arms.items():
            times[name].append(timed(conn, statement))
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    binary, quick = args[0], "--quick" in args
    runs = option(args, "--runs", 5 if quick else 21)
    plan_runs = 50 if quick else 300
    scale = "0.1" if quick else "1"
    work = DATA / "policies"
    work.mkdir(parents=True, exist_ok=True)
    lake = DATA / f"scale-{scale}"
    if not (lake / "lakegate-demo.json").exists():
        log(f"[1/4] generating the demo lake (scale {scale}) in {lake}")
        subprocess.run([binary, "demo", "generate", "--scale", scale, "--lake-root", str(lake)],
                       check=True)
    else:
        log(f"[1/4] reusing the demo lake in {lake}")
    users = work / "users.toml"
    write_users(binary, users)
    one = write_policy(work / "one", PLANNER_RULE, 0)
    many = write_policy(work / "many", BENCH_RULES, 5000 - BENCH_RULES.count("\np"))
    log(f"[2/4] policies: {one} and {many} rules; starting two gateways")
    gateways = [start(binary, lake, users, work / "one", "one", work),
                start(binary, lake, users, work / "many", "many", work)]
    try:
        (_, port_one), (_, port_many) = gateways
        log(f"[3/4] planning: {plan_runs} interleaved one-partition statements per arm")
        planning = interleaved({
            ("1 rule", "admin"): connect(port_one, "admin"),
            ("1 rule", "planner"): connect(port_one, "planner"),
            (f"{many} rules", "admin"): connect(port_many, "admin"),
            (f"{many} rules", "planner"): connect(port_many, "planner"),
        }, PLAN_SQL, plan_runs)
        log(f"[4/4] aggregate: {runs} interleaved runs per arm")
        aggregate = interleaved({
            "admin (no policy)": connect(port_many, "admin"),
            "row filter + 2 masks": connect(port_many, "masked"),
            "row filter only": connect(port_many, "filtered"),
            "2 masks only": connect(port_many, "maskonly"),
            "admin, the filter and masks written inline": (connect(port_many, "admin"),
                                                            AGG_INLINE_SQL),
        }, AGG_SQL, runs)
    finally:
        for proc, _ in gateways:
            proc.terminate()
    report(planning, aggregate, scale, runs, plan_runs)


def report(planning, aggregate, scale, runs, plan_runs):
    base_agg = aggregate["admin (no policy)"]
    lines = [f"# Policy benchmark {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"Demo lake scale {scale}; release build; medians; interleaved arms.", "",
             f"## Planning: a one-partition statement ({plan_runs} runs per arm)", "",
             "The statement reads one small file, so planning (catalog, policy, plan) dominates.",
             "Added: the principal with one grant vs admin (no policy) on the same gateway.", "",
             "| policy loaded | admin ms | principal ms | added ms |", "|---|---|---|---|"]
    for loaded in dict.fromkeys(key[0] for key in planning):
        admin, principal = planning[(loaded, "admin")], planning[(loaded, "planner")]
        lines.append(f"| {loaded} | {admin:.3f} | {principal:.3f} | {principal - admin:+.3f} |")
    lines += ["", f"## Aggregate over all orders ({runs} runs per arm)", "",
              "| arm | median ms | ratio to admin |", "|---|---|---|"]
    lines += [f"| {arm} | {ms:.1f} | {ms / base_agg:.3f} |" for arm, ms in aggregate.items()]
    text = "\n".join(lines) + "\n"
    write_report("policies", text)


if __name__ == "__main__":
    main()
