#!/usr/bin/env bash
# All benchmarks, each against a comparator in the same run (see each script's header):
#   stream      rows/s and server CPU per row, text/binary SELECT and COPY, for lineitem and a
#               40-column table, vs PostgreSQL with the same C client (libpq)
#   streaming   result streaming to psql vs PostgreSQL; GROUP BY vs in-process DataFusion
#   partitions  catalog-driven pruning at 1 … 100,000 partitions (fixtures, Glue API on moto,
#               partition projection) vs DataFusion's listing table
#   policies    planning with 1 and 5,000 policy rules, and an aggregate with a row filter and
#               two masks, vs the same statements as a superuser (no policy)
#   connect     connection setup over TLS (SCRAM, JWT) vs PostgreSQL's SCRAM over TLS
#   audit       small-statement throughput (pgbench) with the audit log on (synced) vs off
#   federation  rows transferred and time from PostgreSQL/MariaDB with pushdown vs without
#   tpch        the 22 TPC-H queries (SF1; --quick: SF0.1) through lakegate, Parquet and Delta,
#               vs in-process DataFusion and DuckDB 1.5.5 on the same files, answers checked
#   service     small statements (pgbench, 1/16/64 clients) vs PostgreSQL's select-only; memory
#               per idle connection and a sort under a 16 MiB limit; start-up vs pg_ctl start
# Results are printed and written to benches/results/.
#
# Usage: benches/run.sh [--quick] [--suite NAME] [--runs N]   (NAME: one of the suites above)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lakegate-target}"

SUITES="tpch stream service streaming partitions policies connect audit federation"
PASS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --suite) SUITES="$2"; shift ;;
        --quick) PASS+=(--quick) ;;
        --runs) PASS+=(--runs "$2"); shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see benches/run.sh --help)"; exit 2 ;;
    esac
    shift
done

echo "== building (release)"
cargo build --release --quiet
cargo bench --no-run --quiet --bench inprocess --bench partitions --bench tpch 2>/dev/null
bench_bin() { ls -t "$CARGO_TARGET_DIR"/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
python3 -c "import boto3, psycopg, pyarrow, pymysql, duckdb_extension_tpch, deltalake" 2>/dev/null \
    || python3 -m pip install --quiet 'moto[server]==5.2.1' 'psycopg[binary]' pyarrow 'PyMySQL==1.1.2' \
        'duckdb==1.5.5' 'duckdb-extension-tpch==1.5.5' 'tpchgen-cli==4.0.0' 'deltalake==1.6.6'

for suite in $SUITES; do
    echo "== $suite"
    case "$suite" in
        stream) python3 benches/stream.py "$CARGO_TARGET_DIR/release/lakegate" "${PASS[@]}" ;;
        streaming) bash benches/streaming.sh "${PASS[@]}" ;;
        partitions) python3 benches/partitions.py "$CARGO_TARGET_DIR/release/lakegate" \
            "$(bench_bin partitions)" "${PASS[@]}" ;;
        policies) python3 benches/policies.py "$CARGO_TARGET_DIR/release/lakegate" "${PASS[@]}" ;;
        connect) python3 benches/connect.py "$CARGO_TARGET_DIR/release/lakegate" "${PASS[@]}" ;;
        audit) python3 benches/audit.py "$CARGO_TARGET_DIR/release/lakegate" "${PASS[@]}" ;;
        federation) python3 benches/federation.py "$CARGO_TARGET_DIR/release/lakegate" "${PASS[@]}" ;;
        tpch) python3 benches/tpch.py "$CARGO_TARGET_DIR/release/lakegate" "$(bench_bin tpch)" \
            "${PASS[@]}" ;;
        service) python3 benches/service.py "$CARGO_TARGET_DIR/release/lakegate" "${PASS[@]}" ;;
        *) echo "unknown suite $suite"; exit 2 ;;
    esac
done
