#!/usr/bin/env bash
# Real clients against a running gateway (the binary given as $1, default: the debug build).
# Installs what it needs; today: psql.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/lakegate}"

if ! command -v psql >/dev/null; then
    echo "installing postgresql-client"
    apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null
fi

WORK="$(mktemp -d)"
PORT="${LAKEGATE_TEST_PORT:-55433}"
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
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

bash tests/clients/psql.sh "host=127.0.0.1 port=$PORT dbname=lake"
