"""Connection setup: TLS handshake + authentication + session start, until the first query can
run, through lakegate (SCRAM-SHA-256 over TLS, and a JWT as the password over TLS) against the
local PostgreSQL server's SCRAM-SHA-256 over TLS. One client (psycopg/libpq), the same test CA,
connections interleaved in rounds so machine noise falls on every arm alike.

PostgreSQL is prepared for this once (idempotent): ssl = on with a certificate from the test
CA, a role lakegate_bench with a SCRAM password, and a `hostssl … scram-sha-256` line for that
role at the top of pg_hba.conf. Nothing else about the server changes.

Usage: python3 benches/connect.py path/to/lakegate [--quick] [--runs N]
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
DATA = Path(os.environ.get("LAKEGATE_BENCH_DATA", Path.home() / ".cache" / "lakegate-bench"))
WORK = DATA / "connect"


def log(message):
    print(message, flush=True)


def run(*args, **kw):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {result.stderr}")
    return result.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates():
    """A CA and a localhost certificate (ECDSA P-256, as `lakegate demo tls` makes)."""
    if (WORK / "server.pem").exists():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    o = lambda *a: run("openssl", *a, cwd=WORK)  # noqa: E731
    o("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
      "-out", "ca.pem", "-days", "30", "-subj", "/CN=lakegate bench CA")
    o("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key")
    o("req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr")
    (WORK / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    o("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30",
      "-out", "server.pem", "-extfile", "server.ext")


def prepare_postgres():
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        for name in ("server.pem", "server.key"):
            target = data_dir / f"lakegate-bench-{name}"
            shutil.copy(WORK / name, target)
            shutil.chown(target, "postgres", "postgres")
            os.chmod(target, 0o600)
        line = "hostssl all lakegate_bench 127.0.0.1/32 scram-sha-256\n"
        text = hba.read_text()
        if line not in text:
            hba.write_text(line + text)
        conn.execute(f"ALTER SYSTEM SET ssl_cert_file = '{data_dir / 'lakegate-bench-server.pem'}'")
        conn.execute(f"ALTER SYSTEM SET ssl_key_file = '{data_dir / 'lakegate-bench-server.key'}'")
        conn.execute("ALTER SYSTEM SET ssl = on")
        conn.execute("SELECT pg_reload_conf()")
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'lakegate_bench'").fetchone():
            conn.execute("CREATE ROLE lakegate_bench LOGIN")
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute("ALTER ROLE lakegate_bench PASSWORD 'bench-secret'")
    time.sleep(1)


def start_gateway(binary, lake):
    users = WORK / "users.toml"
    users.unlink(missing_ok=True)
    run(binary, "user", "add", "svc", "--groups", "analysts", "--password-stdin", "--users-file", users,
        input="svc-secret\n")
    jwks = ROOT / "policies" / "demo-jwt" / "jwks.json"
    config = WORK / "lakegate.toml"
    config.write_text(f"""
[tls]
cert = "{WORK / 'server.pem'}"
key = "{WORK / 'server.key'}"
[auth]
users_file = "{users}"
[auth.jwt]
issuer = "lakegate-demo"
audience = "lakegate"
jwks_file = "{jwks}"
[[auth.rules]]
users = ["svc"]
method = "scram"
[[auth.rules]]
tls = true
method = "jwt"
[limits]
max_connections = 1000
""")
    port = free_port()
    log_path = WORK / "gateway.log"
    proc = subprocess.Popen([str(binary), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                             "--lake-root", str(lake)], stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, LAKEGATE_AUDIT_DIR=str(WORK / "audit")))
    deadline = time.time() + 600
    while "listening on" not in log_path.read_text():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(log_path.read_text())
        time.sleep(0.2)
    return proc, port


def connect_ms(dsn, password):
    started = time.perf_counter()
    with psycopg.connect(dsn, password=password) as conn:
        conn.execute("SELECT 1").fetchone()
    return (time.perf_counter() - started) * 1000


def main():
    binary = Path(sys.argv[1]).resolve()
    args = sys.argv[2:]
    quick = "--quick" in args
    rounds = int(args[args.index("--runs") + 1]) if "--runs" in args else (5 if quick else 20)
    per_round = 20
    lake = DATA / "scale-0.1"
    if not (lake / "lakegate-demo.json").exists():
        log(f"[1/4] generating the demo lake (scale 0.1) in {lake}")
        run(binary, "demo", "generate", "--scale", "0.1", "--lake-root", lake)
    make_certificates()
    log("[2/4] preparing PostgreSQL (ssl = on, role lakegate_bench with SCRAM over hostssl)")
    prepare_postgres()
    proc, port = start_gateway(binary, lake)
    token = run(binary, "token", "issue", "--user", "analyst", "--groups", "analysts", "--ttl-seconds", "7200").strip()
    tls = f"sslmode=verify-full sslrootcert={WORK / 'ca.pem'} host=localhost"
    arms = {
        "PostgreSQL 15, SCRAM-SHA-256 over TLS": (f"{tls} port=5432 dbname=postgres user=lakegate_bench", "bench-secret"),
        "lakegate, SCRAM-SHA-256 over TLS": (f"{tls} port={port} dbname=lake user=svc", "svc-secret"),
        "lakegate, JWT (EdDSA) as password over TLS": (f"{tls} port={port} dbname=lake user=analyst", token),
    }
    times = {name: [] for name in arms}
    try:
        for name, (dsn, password) in arms.items():
            connect_ms(dsn, password)  # warm-up, and a check that each arm works
        log(f"[3/4] {rounds} rounds × {per_round} connections per arm, interleaved")
        for r in range(rounds):
            for name, (dsn, password) in arms.items():
                times[name] += [connect_ms(dsn, password) for _ in range(per_round)]
            log(f"  round {r + 1}/{rounds}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report(times, rounds * per_round)


def report(times, n):
    base = statistics.median(times["PostgreSQL 15, SCRAM-SHA-256 over TLS"])
    lines = [f"# Connection setup (connect + TLS + auth + `SELECT 1`), {n} connections per arm, psycopg/libpq",
             "", f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, release build, 2 cores", "",
             "| arm | median | p95 | vs PostgreSQL |", "|---|---|---|---|"]
    for name, values in times.items():
        values = sorted(values)
        median, p95 = statistics.median(values), values[int(len(values) * 0.95) - 1]
        lines.append(f"| {name} | {median:.2f} ms | {p95:.2f} ms | {median / base:.2f} |")
    text = "\n".join(lines) + "\n"
    log("[4/4] results\n" + text)
    out = ROOT / "benches" / "results" / f"connect-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.md"
    out.write_text(text)
    log(f"written to {out}")


if __name__ == "__main__":
    main()
