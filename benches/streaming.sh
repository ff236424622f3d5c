#!/usr/bin/env bash
# Benchmarks, each against a comparator in the same run, interleaved, medians of several runs:
#   streaming  SELECT * FROM sales.orders to psql: lakegate vs the local PostgreSQL server
#              (same rows loaded with COPY), rows/s;
#   aggregate  SELECT region, count(*), sum(amount) … GROUP BY region: lakegate over the wire
#              vs in-process DataFusion on the same Parquet files.
# Also reports the gateway's peak RSS (VmHWM) after the streaming runs.
#
# Usage: benches/streaming.sh [--quick] [--scale N] [--runs N] (run by benches/run.sh, which
#   builds first); needs psql and PostgreSQL on 127.0.0.1:5432 (user postgres, database test;
#   override with PG_CONN).
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=1
RUNS=5
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) SCALE=0.1; RUNS=3 ;;
        --scale) SCALE="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
        *) echo "unknown option $1 (see the header of $0)"; exit 2 ;;
    esac
    shift
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakegate-target}"
PG_CONN="${PG_CONN:-host=127.0.0.1 port=5432 dbname=test user=postgres}"
PORT="${LAKEGATE_BENCH_PORT:-55434}"
LG_CONN="host=127.0.0.1 port=$PORT dbname=lake user=admin"
DATA="${LAKEGATE_BENCH_DATA:-$HOME/.cache/lakegate-bench}/scale-$SCALE"
OUT="benches/results/streaming-$(date -u +%Y%m%dT%H%M%SZ).md"
export PGPASSWORD=admin

echo "[1/5] release build (from benches/run.sh)"
BIN="$CARGO_TARGET_DIR/release/lakegate"

EXISTING=$(sed -n 's/.*"scale":\([0-9.e+-]*\).*/\1/p' "$DATA/lakegate-demo.json" 2>/dev/null || true)
if awk -v a="${EXISTING:-x}" -v b="$SCALE" 'BEGIN { exit !(a == b) }'; then
    echo "[2/5] reusing the demo lake in $DATA"
else
    echo "[2/5] generating the demo lake at scale $SCALE in $DATA"
    "$BIN" demo generate --scale "$SCALE" --lake-root "$DATA"
fi

LAKEGATE_AUDIT_DIR="$DATA.audit" "$BIN" serve --listen "127.0.0.1:$PORT" --lake-root "$DATA" \
    >"$DATA.server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q "listening on" "$DATA.server.log" && break; sleep 0.1; done

echo "[3/5] loading the same rows into PostgreSQL"
COLUMNS="order_id, customer_id, order_ts, amount, currency, status, card_number, region, order_date"
psql "$PG_CONN" -X -q -v ON_ERROR_STOP=1 -c "DROP TABLE IF EXISTS lakegate_orders" -c "CREATE TABLE lakegate_orders (
    order_id bigint, customer_id bigint, order_ts timestamptz, amount numeric(12,2), currency text,
    status text, card_number text, region text, order_date date)"
psql "$LG_CONN" -X -q -v ON_ERROR_STOP=1 -c "\\copy (SELECT $COLUMNS FROM sales.orders) to stdout" \
    | psql "$PG_CONN" -X -q -v ON_ERROR_STOP=1 -c "\\copy lakegate_orders from stdin"
ROWS=$(psql "$PG_CONN" -X -A -t -c "SELECT count(*) FROM lakegate_orders")
psql "$PG_CONN" -X -q -c "VACUUM ANALYZE lakegate_orders"
echo "      $ROWS rows"

# Wall time of one statement as psql reports it (\timing), in ms; rows go to /dev/null.
timed() {
    psql "$1" -X -q -c '\timing on' -c "$2" -o /dev/null | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "[4/5] streaming: $RUNS interleaved runs"
: >"$DATA.lg" ; : >"$DATA.pg"
for i in $(seq 1 "$RUNS"); do
    timed "$LG_CONN" "SELECT $COLUMNS FROM sales.orders" >>"$DATA.lg"
    timed "$PG_CONN" "SELECT $COLUMNS FROM lakegate_orders" >>"$DATA.pg"
    echo "      run $i: lakegate $(tail -1 "$DATA.lg") ms, postgres $(tail -1 "$DATA.pg") ms"
done
LG_STREAM=$(median <"$DATA.lg"); PG_STREAM=$(median <"$DATA.pg")
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")

echo "[5/5] aggregate: $RUNS interleaved runs"
AGG="SELECT region, count(*), sum(amount) FROM sales.orders GROUP BY region ORDER BY region"
INPROC=$(ls -t "$CARGO_TARGET_DIR"/release/deps/inprocess-* | grep -v '\.d$' | head -1)
: >"$DATA.lga" ; : >"$DATA.dfa"
for i in $(seq 1 "$RUNS"); do
    timed "$LG_CONN" "$AGG" >>"$DATA.lga"
    # Two runs in one process: the second is warm, as the gateway's process is.
    "$INPROC" "$DATA" 2 | tail -1 | cut -d' ' -f1 >>"$DATA.dfa"
    echo "      run $i: lakegate $(tail -1 "$DATA.lga") ms, in-process DataFusion $(tail -1 "$DATA.dfa") ms"
done
LG_AGG=$(median <"$DATA.lga"); DF_AGG=$(median <"$DATA.dfa")

mkdir -p benches/results
{
    echo "# lakegate benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), scale $SCALE ($ROWS orders), $RUNS runs, $(nproc) cores"
    echo
    echo "| benchmark | lakegate | comparator | ratio (lakegate / comparator) |"
    echo "|---|---|---|---|"
    awk -v l="$LG_STREAM" -v p="$PG_STREAM" -v r="$ROWS" 'BEGIN {
        printf "| SELECT * (%d rows) to psql, median ms | %.0f (%.0f rows/s) | PostgreSQL 15: %.0f (%.0f rows/s) | %.2f |\n", r, l, r/(l/1000), p, r/(p/1000), l/p }'
    awk -v l="$LG_AGG" -v d="$DF_AGG" 'BEGIN {
        printf "| GROUP BY region over all orders, median ms | %.1f | in-process DataFusion: %.1f | %.2f |\n", l, d, l/d }'
    echo
    echo "Gateway peak RSS after the streaming runs (VmHWM): $((RSS_KB / 1024)) MiB"
} | tee "$OUT"
echo "written to $OUT"
