#!/usr/bin/env bash
# psql against a running gateway: meta-commands and the README's query, checked by content.
set -euo pipefail
# $1: a connection string without a user; the checks run as the demo principals (password = name).
BASE="$1"
CONN="$BASE user=analyst"
fail() { echo "psql check failed: $1"; echo "$2"; exit 1; }
run() { PGPASSWORD=analyst psql "$CONN" -X -v ON_ERROR_STOP=1 "$@" 2>&1; }
run_as() { local user="$1"; shift; PGPASSWORD="$user" psql "$BASE user=$user" -X -v ON_ERROR_STOP=1 "$@" 2>&1; }

out=$(run -c '\dn') || fail '\dn' "$out"
for s in sales web; do grep -qw "$s" <<<"$out" || fail "\\dn lists $s" "$out"; done
grep -qw raw <<<"$out" && fail '\dn as analyst must not list raw (no grant)' "$out"
out=$(run_as admin -c '\dn') || fail '\dn as admin' "$out"
grep -qw raw <<<"$out" || fail '\dn as admin lists raw' "$out"

out=$(run -c '\dt sales.*') || fail '\dt sales.*' "$out"
grep -q "orders" <<<"$out" && grep -q "customers" <<<"$out" || fail '\dt sales.* lists both tables' "$out"

out=$(run -c '\d sales.orders') || fail '\d sales.orders' "$out"
for c in order_id "numeric(12,2)" order_date; do grep -q "$c" <<<"$out" || fail "\\d shows $c" "$out"; done
grep -q card_number <<<"$out" && fail '\d sales.orders as analyst must hide card_number' "$out"
out=$(run_as admin -c '\d sales.orders') || fail '\d sales.orders as admin' "$out"
grep -q card_number <<<"$out" || fail '\d sales.orders as admin shows card_number' "$out"

out=$(run -c '\d sales.customers') || fail '\d sales.customers' "$out"
for c in email phone; do grep -q "$c" <<<"$out" && fail "\\d sales.customers as analyst must hide $c" "$out"; done
out=$(run_as emea_analyst -A -t -c "SELECT DISTINCT region FROM sales.orders") || fail 'emea_analyst regions' "$out"
[ "$out" = "EMEA" ] || fail 'emea_analyst sees EMEA rows only' "$out"

out=$(run -c '\dt+ sales.*') || fail '\dt+ sales.*' "$out"
grep -q "Customer orders" <<<"$out" || fail '\dt+ shows the table comment' "$out"

out=$(run -A -t -c 'PREPARE q(bigint) AS SELECT status FROM sales.orders WHERE order_id = $1' -c 'EXECUTE q(1)' -c 'DEALLOCATE q') \
    || fail 'PREPARE/EXECUTE' "$out"
grep -Eq '^(placed|shipped|delivered|returned|cancelled)$' <<<"$out" || fail 'EXECUTE result' "$out"

out=$(run -A -t -c "SELECT region, count(*), sum(amount) FROM sales.orders WHERE order_date BETWEEN '2024-03-01' AND '2024-03-31' GROUP BY region ORDER BY region") \
    || fail 'revenue query' "$out"
[ "$(wc -l <<<"$out")" -eq 4 ] || fail 'four regions' "$out"
grep -q '^AMER|[0-9]*|[0-9]*\.[0-9][0-9]$' <<<"$out" || fail 'row format' "$out"

out=$(run -c '\copy (SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 2) to stdout csv') || fail '\copy' "$out"
[ "$out" = $'1\n2' ] || fail '\copy output' "$out"

out=$(run -c 'SELECT * FROM sales.nope' ) && fail 'unknown table must fail' "$out"
grep -q 'relation "sales.nope" does not exist' <<<"$out" || fail 'error text' "$out"
echo "psql: 10 passed, 0 failed"
