#!/usr/bin/env bash
# The real-client suite: installs the clients (a Python venv, Debian packages, npm's pg), starts
# a gateway on a small demo lake (the binary given as $1, default: the debug build) and runs one
# realistic session per client. Prints a table of client, version and result; fails if any fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/lakegate}"
HERE=tests/clients
CACHE="${LAKEGATE_CLIENTS_CACHE:-$HOME/.cache/lakegate-clients}"
START=$(date +%s)

bash "$HERE/install.sh" "$CACHE"
VENV="$CACHE/venv"

WORK="$(mktemp -d)"
# A free port unless one is given: a gateway someone runs on the demo port must not collide.
PORT="${LAKEGATE_TEST_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
# SIGTERM drains: the gateway closes and ships its audit segment into the lake before it exits,
# so the work dir is removed only once it has.
cleanup() {
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" demo generate --scale 0.01 --lake-root "$WORK/lake"
LAKEGATE_AUDIT_DIR="$WORK/audit" "$BIN" serve --listen "127.0.0.1:$PORT" --lake-root "$WORK/lake" \
    >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/server.log" && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.2
done

export LAKEGATE_HOST=127.0.0.1 LAKEGATE_PORT="$PORT" NODE_PATH="$CACHE/node/node_modules"
PY="$VENV/bin/python"
pyversion() { "$PY" -c "import importlib.metadata as m; print(' + '.join(m.version(p) for p in '$1'.split()))"; }
declare -a ROWS
FAILED=0
# client label, version, command...
session() {
    local label="$1" version="$2"; shift 2
    local log="$WORK/$label.log" t0=$SECONDS status=pass
    echo "== $label $version"
    "$@" >"$log" 2>&1 || status=FAIL
    cat "$log"
    [ "$status" = pass ] || FAILED=$((FAILED + 1))
    local summary
    summary=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || true)
    ROWS+=("| $label | $version | ${summary:-did not finish} | $status | $((SECONDS - t0)) s |")
}

session psql "$(psql --version | awk '{print $3}')" bash "$HERE/psql.sh" "host=127.0.0.1 port=$PORT dbname=lake"
session pgcli "$(pyversion pgcli)" "$PY" "$HERE/pgcli_client.py"
session psycopg3 "$(pyversion psycopg)" "$PY" "$HERE/psycopg3_client.py"
session psycopg2+pandas "$(pyversion 'psycopg2-binary pandas')" "$PY" "$HERE/psycopg2_pandas_client.py"
for driver in psycopg2 psycopg; do
    session "sqlalchemy+$driver" "$(pyversion SQLAlchemy)" "$PY" "$HERE/sqlalchemy_client.py" "$driver"
done
session asyncpg "$(pyversion asyncpg)" "$PY" "$HERE/asyncpg_client.py"
JDBC_VERSION=$(unzip -p /usr/share/java/postgresql.jar META-INF/MANIFEST.MF | awk -F': ' '/Implementation-Version/{print $2}' | tr -d '\r')
session pgjdbc "$JDBC_VERSION (Java $(java -version 2>&1 | awk -F'"' '/version/{print $2}'))" \
    java -cp /usr/share/java/postgresql.jar "$HERE/JdbcClient.java" 127.0.0.1 "$PORT"
session node-postgres "$(node -p "require('$CACHE/node/node_modules/pg/package.json').version")" \
    node "$HERE/node_client.js" 127.0.0.1 "$PORT"
session psqlodbc "$(dpkg-query -W -f '${Version}' odbc-postgresql) (pyodbc $(pyversion pyodbc))" \
    "$PY" "$HERE/odbc_client.py"

kill -0 "$SERVER" 2>/dev/null || { echo "the gateway died:"; tail -50 "$WORK/server.log"; exit 1; }
echo
echo "| client | version | checks | result | time |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo "real-client suite: $((${#ROWS[@]} - FAILED)) of ${#ROWS[@]} clients passed in $(( $(date +%s) - START )) s"
[ "$FAILED" -eq 0 ]
