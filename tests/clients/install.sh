#!/usr/bin/env bash
# Installs the real clients the suite drives, where they are missing: psql, pgjdbc with Java,
# psqlODBC with unixODBC and tmux from Debian; the Python clients into a venv under $1; npm's pg
# under $1/node. Idempotent: a second run only checks.
set -euo pipefail
CACHE="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
PACKAGES=()
command -v psql >/dev/null || PACKAGES+=(postgresql-client)
command -v tmux >/dev/null || PACKAGES+=(tmux)
command -v java >/dev/null || PACKAGES+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || PACKAGES+=(libpostgresql-jdbc-java)
odbcinst -q -d 2>/dev/null | grep -q 'PostgreSQL Unicode' || PACKAGES+=(odbc-postgresql unixodbc)
command -v node >/dev/null || PACKAGES+=(nodejs npm)
if [ "${#PACKAGES[@]}" -gt 0 ]; then
    echo "installing ${PACKAGES[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
fi

VENV="$CACHE/venv"
if ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt" 2>/dev/null; then
    echo "installing the Python clients into $VENV (pip)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi

PG_VERSION=8.23.1
if [ "$(cat "$CACHE/node/node_modules/pg/package.json" 2>/dev/null | grep -o "\"version\": \"$PG_VERSION\"")" = "" ]; then
    echo "installing pg@$PG_VERSION (npm)"
    mkdir -p "$CACHE/node"
    (cd "$CACHE/node" && npm install --silent --no-audit --no-fund --prefix . "pg@$PG_VERSION" >/dev/null)
fi
