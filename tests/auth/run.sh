#!/usr/bin/env bash
# TLS, SCRAM and token login with real clients (psql, psycopg, pgjdbc) against the lakegate
# binary given as $1 (default: the debug build); a test CA is made with openssl.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/lakegate}"
python3 -c "import psycopg, cryptography" 2>/dev/null || {
    echo "installing psycopg, cryptography"
    python3 -m pip install --quiet 'psycopg[binary]' cryptography
}
if [ ! -f /usr/share/java/postgresql.jar ] || ! command -v java >/dev/null; then
    echo "installing pgjdbc (libpostgresql-jdbc-java) and Java"
    apt-get update -qq && apt-get install -y -qq libpostgresql-jdbc-java default-jre-headless >/dev/null
fi
command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }
python3 tests/auth/auth_clients.py "$BIN"
