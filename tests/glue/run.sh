#!/usr/bin/env bash
# The Glue-backend suite: moto's Glue and S3 server, psycopg, pyarrow and DuckDB (installed here
# if missing), against the lakegate binary given as $1 (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/lakegate}"
python3 -c "import moto, flask, boto3, psycopg, pyarrow, duckdb" 2>/dev/null || {
    echo "installing moto[server], psycopg, pyarrow, duckdb"
    python3 -m pip install --quiet 'moto[server]==5.2.1' 'psycopg[binary]' pyarrow 'duckdb==1.5.5'
}
python3 tests/glue/glue_test.py "$BIN"
