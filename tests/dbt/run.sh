#!/usr/bin/env bash
# The dbt suite: dbt-core + dbt-postgres 1.11 build tests/dbt/project (staging views, a table
# joining Delta and Parquet, an incremental delete+insert model) through the gateway given as $1
# (default: the debug build), as the demo principal `dbt`, on a small demo lake. It runs dbt
# debug, seed, run, run again (the incremental path), seed again, test and docs generate, and
# checks (check.py):
#   - the models' row counts and sums through lakegate, before and after the incremental run;
#   - the Delta tables lakegate wrote, read with the deltalake package from the catalog store
#     (<lake>/_catalog/tables.json), and a new Delta version after the incremental run;
#   - docs generate's catalog.json (PostgreSQL type names);
#   - write grants (42501 for writes outside them, nothing changed) and a policy grant appended
#     to policy.csv taking effect without a restart;
#   - the audit records of dbt's CTAS, DELETE and INSERT (tables and rows written);
#   - kill -9 of the gateway during a CTAS: after a restart the old table is intact, the half-
#     written one does not exist, the audit chain verifies, and dbt run + test succeed again.
# Prints dbt's output, then a table of steps; exits non-zero if any step failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/lakegate}"
HERE=tests/dbt
VENV="${LAKEGATE_CLIENTS_CACHE:-$HOME/.cache/lakegate-clients}/venv"
START=$(date +%s)

[ -x "$BIN" ] || { echo "no lakegate binary at $BIN; build it first (cargo build)"; exit 1; }
bash "$HERE/install.sh" "$VENV"
PY="$VENV/bin/python"

WORK="$(mktemp -d)"
LAKE="$WORK/lake"
STATE="$WORK/state.json"
# A free port unless one is given: a gateway someone runs on the demo port must not collide.
PORT="${LAKEGATE_TEST_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
cleanup() {
    [ -n "${CTAS:-}" ] && kill "$CTAS" 2>/dev/null || true
    # SIGTERM drains (the audit segment is closed and shipped into the lake): wait for it.
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the gateway on $PORT over $LAKE with the copied policies; $1 is its log file.
start_server() {
    LAKEGATE_AUDIT_DIR="$WORK/audit" "$BIN" serve --listen "127.0.0.1:$PORT" --lake-root "$LAKE" \
        --policies "$WORK/policies" >"$1" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 150); do
        grep -q "listening on" "$1" && return 0
        kill -0 "$SERVER" 2>/dev/null || { echo "the gateway exited:"; cat "$1"; return 1; }
        sleep 0.2
    done
    echo "the gateway did not listen within 30 s:"
    cat "$1"
    return 1
}

"$BIN" demo generate --scale 0.01 --lake-root "$LAKE"
cp -r policies "$WORK/policies"
start_server "$WORK/server.log"

export LAKEGATE_HOST=127.0.0.1 LAKEGATE_PORT="$PORT" LAKEGATE_DBNAME=lake
export DBT_PROFILES_DIR="$HERE" DBT_TARGET_PATH="$WORK/target" DBT_LOG_PATH="$WORK/logs"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
dbt() { "$VENV/bin/dbt" --no-use-colors "$@" --project-dir "$HERE/project"; }
check() { "$PY" "$HERE/check.py" "$@"; }

ROWS=()
FAILED=0
# What a step's row shows: dbt's result line, check.py's counts, the kill test's outcome.
SUMMARY='Done\. PASS=[0-9]+ WARN=[0-9]+ ERROR=[0-9]+|[0-9]+ passed, [0-9]+ failed|All checks passed'
SUMMARY+='|Catalog written|ok: [0-9]+ records in [0-9]+ segments|BROKEN'
SUMMARY+='|the CTAS (ended within 2 s|completed before the kill)'
# step LABEL COMMAND...: runs one step in this shell (a restarted gateway's pid must stay
# visible), shows its output, records a row of the summary.
step() {
    local label="$1"; shift
    local log="$WORK/step-${#ROWS[@]}.log" t0=$SECONDS status=pass
    echo
    echo "== $label"
    "$@" >"$log" 2>&1 || status=FAIL
    cat "$log"
    [ "$status" = pass ] || FAILED=$((FAILED + 1))
    local summary
    summary=$(grep -Eo "$SUMMARY" "$log" | tail -1 || true)
    ROWS+=("| $label | ${summary:--} | $status | $((SECONDS - t0)) s |")
}

# psql as the dbt principal against the gateway under test.
dbt_psql() { PGPASSWORD=dbt psql "host=127.0.0.1 port=$PORT dbname=lake user=dbt sslmode=disable" "$@"; }

# The seed through lakegate after two `dbt seed`s: its three rows once, with dbt's types.
check_seed() {
    local got type
    got=$(dbt_psql -Atc "select count(*), count(distinct segment), sum(priority) from analytics.segment_labels")
    type=$(dbt_psql -Atc "select distinct pg_typeof(priority) from analytics.segment_labels")
    echo "segment_labels: $got (rows, distinct segments, sum of priority); priority is $type"
    [ "$got" = "3|3|6" ] && [ "$type" = "integer" ] && echo "All checks passed"
}

# kill -9 of the gateway during a slow CTAS (30 million rows), then a restart on the same lake
# and audit directory. The CTAS must still be running when the gateway is killed. (Run by
# `step` as part of an || list, so set -e does not apply here: every failure returns.)
kill_during_ctas() {
    local sql="create table analytics.customer_revenue__dbt_tmp as
               select o.* from sales.orders o cross join generate_series(1, 3000) g"
    dbt_psql -v ON_ERROR_STOP=1 -c "$sql" >"$WORK/ctas.log" 2>&1 &
    CTAS=$!
    sleep 2
    if ! kill -0 "$CTAS" 2>/dev/null; then
        local code=0
        wait "$CTAS" || code=$?
        CTAS=
        echo "FAIL: the CTAS ended within 2 s (psql exit $code), before the gateway could be"
        echo "killed during it; this test needs a statement that runs longer:"
        cat "$WORK/ctas.log"
        return 1
    fi
    echo "killing the gateway (pid $SERVER) with SIGKILL while the CTAS runs"
    kill -9 "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    local code=0
    wait "$CTAS" || code=$?
    CTAS=
    echo "psql exited with $code:"
    cat "$WORK/ctas.log"
    if [ "$code" -eq 0 ] || grep -q '^SELECT' "$WORK/ctas.log"; then
        echo "FAIL: the CTAS completed before the kill; the crash was not tested"
        return 1
    fi
    start_server "$WORK/server-restarted.log" || return 1
    echo "restarted the gateway (pid $SERVER); lakegate audit verify:"
    "$BIN" audit verify --dir "$WORK/audit"
}

step "dbt debug" dbt debug
step "dbt seed" dbt seed
step "dbt run (first)" dbt run
step "checks: models after run 1" check models 1 "$STATE"
step "checks: Delta files after run 1" check delta 1 "$STATE" "$LAKE"
step "dbt run (incremental)" dbt run
step "checks: models after run 2" check models 2 "$STATE"
step "checks: Delta files after run 2" check delta 2 "$STATE" "$LAKE"
step "dbt seed (again: TRUNCATE, INSERT)" dbt seed
step "checks: the seed" check_seed
step "dbt test" dbt test
step "dbt docs generate" dbt docs generate
step "checks: docs catalog.json" check catalog "$WORK/target"
step "checks: write grants" check grants
step "checks: policy reload" check policy-reload "$WORK/policies/policy.csv"
step "checks: audit of the writes" check audit "$STATE" "$WORK/audit"
step "kill -9 during a CTAS, restart" kill_during_ctas
step "checks: after the restart" check after-kill "$STATE" "$WORK/audit" "$LAKE"
step "dbt run (after the restart)" dbt run
step "checks: models after run 3" check models 3 "$STATE"
step "checks: Delta files after run 3" check delta 3 "$STATE" "$LAKE"
step "dbt test (after the restart)" dbt test

if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "the gateway died:"
    tail -n 50 "$WORK"/server*.log
    FAILED=$((FAILED + 1))
elif [ "$FAILED" -gt 0 ]; then
    echo
    echo "== the gateway's log (last 50 lines)"
    tail -n 50 "$WORK"/server*.log
fi
echo
echo "dbt-core $("$PY" -c 'import importlib.metadata as m; print(m.version("dbt-core"))') +" \
    "dbt-postgres $("$PY" -c 'import importlib.metadata as m; print(m.version("dbt-postgres"))')"
echo "| step | result | status | time |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo "dbt suite: $((${#ROWS[@]} - FAILED)) of ${#ROWS[@]} steps passed in $(( $(date +%s) - START )) s"
[ "$FAILED" -eq 0 ]
