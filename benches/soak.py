"""Soak (issue 11): 64 connections run a mixed workload against one gateway for a bounded time
(default 10 minutes); reports statements by outcome, unexpected errors, and the server's memory
over time. Memory must not grow without bound: the floor of RSS (its lowest sample) in the last
third of the run may exceed the floor in the middle third (after warm-up: caches, pools,
allocator arenas) by at most 10 % + 32 MiB. Floors, because RSS swings by hundreds of MiB as
the joins and sorts of 64 sessions come and go (mimalloc hands memory back in large steps),
while memory that leaks stays and raises the floor.

The workload, per connection in turn: SELECT 1; a point lookup; a one-day aggregate (partition
pruning); a prepared statement executed with new parameters; a column the policy hides
(42703, as a typo would be: D2); a missing table (42P01 expected); a statement stopped by statement_timeout
(57014 expected); COPY … TO STDOUT; and, every 50th turn, a reconnect.

Beside them, one thread keeps opening misbehaving connections (security.md's protocol cases):
connect and close, garbage frames, an oversized startup packet, bytes pipelined after
SSLRequest, a login abandoned half-way through SCRAM, a startup packet trickled until the
server drops it. Their count is reported; the memory bound covers them too (no leak per bad
client), and the server must still be alive at the end.

Usage: python3 benches/soak.py LAKEGATE_BIN [--seconds N] [--connections N]
"""

import random
import socket
import statistics
import struct
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policies import DATA, log, option, start_gateway_process, write_report  # noqa: E402

EXPECTED = {"42703", "42P01", "57014"}


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def connect(port, counts=None, lock=None):
    """A session, retried as a pool would: the misbehaving clients share 127.0.0.1 with the
    workload, so the cap on logins pending per address may close a worker's attempt too."""
    for attempt in range(50):
        try:
            return psycopg.connect(host="127.0.0.1", port=port, dbname="lake", user="analyst",
                                   password="analyst", autocommit=True)
        except psycopg.OperationalError:
            if counts is None or attempt == 49:
                raise
            with lock:
                counts["login closed (pending logins per address at their cap), retried"] += 1
            time.sleep(0.1 * (attempt + 1))


def one_turn(conn, rng):
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    statements = [
        ("SELECT 1", None),
        ("SELECT name, segment FROM sales.customers WHERE customer_id = %s", (rng.randint(1, 5000),)),
        ("SELECT region, count(*), sum(amount) FROM sales.orders WHERE order_date = %s GROUP BY 1",
         (day,)),
        ("SELECT card_number FROM sales.orders LIMIT 1", None),
        ("SELECT * FROM sales.no_such_table", None),
    ]
    outcomes = []
    for sql, params in statements:
        outcomes.append(run(conn, sql, params))
    outcomes.append(timed_out(conn))
    with conn.cursor().copy("COPY (SELECT order_id, amount FROM sales.orders LIMIT 200) TO STDOUT") as copy:
        sum(len(chunk) for chunk in copy)
    outcomes.append("ok")
    return outcomes


def run(conn, sql, params):
    try:
        conn.execute(sql, params, prepare=params is not None).fetchall()
        return "ok"
    except psycopg.Error as e:
        return e.sqlstate or "no sqlstate"


def timed_out(conn):
    conn.execute("SET statement_timeout = '1ms'")
    try:
        return run(conn, "SELECT count(*) FROM sales.orders a JOIN sales.orders b ON a.amount < b.amount", None)
    finally:
        conn.execute("SET statement_timeout = 0")


def worker(port, deadline, seed, counts, errors, lock):
    rng = random.Random(seed)
    conn, turns = connect(port, counts, lock), 0
    while time.monotonic() < deadline:
        try:
            outcomes = one_turn(conn, rng)
        except Exception as e:  # a broken connection is an unexpected error too
            outcomes = [f"exception: {type(e).__name__}: {e}"]
            conn = connect(port, counts, lock)
        turns += 1
        if turns % 50 == 0:
            conn.close()
            conn = connect(port, counts, lock)
        with lock:
            counts.update(outcomes)
            errors.extend(o for o in outcomes if o != "ok" and o not in EXPECTED)
    conn.close()


def startup_packet(user):
    body = struct.pack("!i", 196608) + f"user\0{user}\0database\0lake\0\0".encode()
    return struct.pack("!i", len(body) + 4) + body


HOSTILE = {
    "connect and close": [],
    "garbage frame": [bytes([0, 0, 0, 8, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3])],
    "oversized startup packet": [struct.pack("!i", 1 << 30) + b"\0" * 64],
    "bytes after SSLRequest": [struct.pack("!ii", 8, 80877103) + startup_packet("analyst")],
    "login abandoned mid-SCRAM": [startup_packet("analyst")],
    "invalid UTF-8 in startup": [struct.pack("!ii", 25, 196608) + b"user\0\xff\xfe\0database\0\0"],
}


def hostile(port, deadline, counts, lock):
    """Misbehaving clients, one after another, until the deadline; the server must answer or
    close each one (an answer, or closing, within 2 s). Every 50th is a trickle: one byte every
350 ms, past the startup timeout."""
    kinds, n = list(HOSTILE), 0
    while time.monotonic() < deadline:
        kind = kinds[n % len(kinds)] if n % 50 else "trickled startup"
        n += 1
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if kind == "trickled startup":
                    sock.settimeout(15)
                    for byte in startup_packet("analyst"):
                        sock.sendall(bytes([byte]))
                        time.sleep(0.35)
                for chunk in HOSTILE[kind] if kind in HOSTILE else []:
                    sock.sendall(chunk)
                if kind != "connect and close":
                    sock.recv(4096)
        except OSError:
            pass  # the server closing on us is a fine answer
        with lock:
            counts[f"hostile: {kind}"] += 1


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    binary = args[0]
    seconds = option(args, "--seconds", 600)
    clients = option(args, "--connections", 64)
    lake = DATA / "scale-0.1"
    if not (lake / "lakegate-demo.json").exists():
        import subprocess
        subprocess.run([binary, "demo", "generate", "--scale", "0.1", "--lake-root", str(lake)], check=True)
    work = DATA / "soak"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "soak.toml"
    config.write_text(f'[audit]\ndir = "{work / "audit"}"\nlake = false\n')
    proc, port = start_gateway_process(binary, lake, config, "soak", work)
    counts, errors, lock = Counter(), [], threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=worker, args=(port, deadline, i, counts, errors, lock))
               for i in range(clients)]
    threads.append(threading.Thread(target=hostile, args=(port, deadline, counts, lock)))
    log(f"soak: {clients} connections, {seconds} s")
    for t in threads:
        t.start()
    samples, started = [], time.monotonic()
    while any(t.is_alive() for t in threads):
        time.sleep(min(10, max(1, seconds / 60)))
        elapsed = time.monotonic() - started
        samples.append((elapsed, rss_mib(proc.pid)))
        with lock:
            total = sum(v for k, v in counts.items() if not k.startswith("hostile"))
        log(f"  {elapsed:5.0f} s  {total} statements  RSS {samples[-1][1]:.0f} MiB  "
            f"unexpected errors {len(errors)}")
    alive = proc.poll() is None
    proc.terminate()
    proc.wait()
    report(samples, counts, errors, alive, clients, seconds)


def report(samples, counts, errors, alive, clients, seconds):
    middle = [rss for t, rss in samples if seconds / 3 <= t < 2 * seconds / 3] or [samples[-1][1]]
    last = [rss for t, rss in samples if t >= 2 * seconds / 3] or [samples[-1][1]]
    baseline, end = min(middle), min(last)
    peak = max(rss for _, rss in samples)
    flat = end <= baseline * 1.10 + 32
    stamp = datetime.now(timezone.utc)
    lines = [f"# Soak {stamp:%Y-%m-%d %H:%M} UTC", "",
             f"{clients} connections and one thread of misbehaving clients, {seconds} s, release "
             "build, demo lake scale 0.1, audit on.", "",
             "| outcome | statements |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in counts.most_common()]
    lines += ["", "| seconds | RSS MiB |", "|---|---|"]
    step = max(1, len(samples) // 12)
    lines += [f"| {t:.0f} | {rss:.0f} |" for t, rss in samples[::step]]
    lines += ["", f"RSS floor in the middle third {baseline:.0f} MiB, in the last third {end:.0f} MiB "
              f"(medians {statistics.median(middle):.0f} and {statistics.median(last):.0f}), "
              f"peak {peak:.0f} MiB: "
              + ("flat." if flat else "GROWING."),
              f"Unexpected errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else "") + ".",
              f"Server alive at the end: {'yes' if alive else 'NO'}."]
    text = "\n".join(lines) + "\n"
    write_report("soak", text)
    if errors or not flat or not alive:
        sys.exit(1)


if __name__ == "__main__":
    main()
