#!/usr/bin/env bash
# Installs what the dbt suite needs, where it is missing: psql (Debian) for the kill -9 test, and
# requirements.txt (dbt-core, dbt-postgres, deltalake, pyarrow, psycopg) into the venv $1, the
# real-client suite's venv (created if missing). Idempotent: a second run only compares files.
set -euo pipefail
VENV="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
if ! command -v psql >/dev/null; then
    echo "installing postgresql-client (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
fi
# Its own marker: the client suite's install.sh keeps $VENV/requirements.txt for its packages.
if ! cmp -s "$HERE/requirements.txt" "$VENV/dbt-requirements.txt" 2>/dev/null; then
    echo "installing dbt and deltalake into $VENV (pip)"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/dbt-requirements.txt"
fi
