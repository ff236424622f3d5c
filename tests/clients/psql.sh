#!/usr/bin/env bash
# psql against a running gateway: meta-commands, PREPARE/EXECUTE, FETCH_COUNT (cursors),
# transactions, \copy and tab completion (interactive, under tmux), checked by content.
set -euo pipefail
# $1: a connection string without a user; the checks run as the demo principals (password = name).
BASE="$1"
CONN="$BASE user=analyst"
PASSED=0
fail() { echo "FAIL psql: $1"; echo "$2"; echo "psql: $PASSED passed, 1 failed"; exit 1; }
pass() { PASSED=$((PASSED + 1)); echo "PASS psql: $1"; }
run() { PGPASSWORD=analyst psql "$CONN" -X -v ON_ERROR_STOP=1 "$@" 2>&1; }
run_as() { local user="$1"; shift; PGPASSWORD="$user" psql "$BASE user=$user" -X -v ON_ERROR_STOP=1 "$@" 2>&1; }

out=$(run -c '\l') || fail '\l' "$out"
grep -Eq '^ lake +\| lakegate +\| UTF8' <<<"$out" || fail '\l lists lake' "$out"; pass '\l'

out=$(run -c '\dn') || fail '\dn' "$out"
for s in sales web; do grep -qw "$s" <<<"$out" || fail "\\dn lists $s" "$out"; done
grep -qw raw <<<"$out" && fail '\dn as analyst must not list raw (no grant)' "$out"
out=$(run_as admin -c '\dn') || fail '\dn as admin' "$out"
grep -qw raw <<<"$out" || fail '\dn as admin lists raw' "$out"; pass '\dn follows policy'

out=$(run -c '\dt sales.*') || fail '\dt sales.*' "$out"
grep -q "orders" <<<"$out" && grep -q "customers" <<<"$out" || fail '\dt sales.* lists both tables' "$out"
pass '\dt'
out=$(run -c '\dv sales.*') || fail '\dv' "$out"
grep -q 'Did not find any relation' <<<"$out" || fail '\dv finds no views' "$out"; pass '\dv'

out=$(run -c '\d sales.orders') || fail '\d sales.orders' "$out"
for c in order_id "numeric(12,2)" order_date "timestamp with time zone"; do
    grep -q "$c" <<<"$out" || fail "\\d shows $c" "$out"
done
grep -q card_number <<<"$out" && fail '\d sales.orders as analyst must hide card_number' "$out"
out=$(run_as admin -c '\d sales.orders') || fail '\d sales.orders as admin' "$out"
grep -q card_number <<<"$out" || fail '\d sales.orders as admin shows card_number' "$out"
out=$(run -c '\d sales.customers') || fail '\d sales.customers' "$out"
for c in email phone; do grep -q "$c" <<<"$out" && fail "\\d sales.customers as analyst must hide $c" "$out"; done
pass '\d follows policy'
out=$(run -c '\d+ sales.orders') || fail '\d+ sales.orders' "$out"
grep -q 'Order total in the order currency' <<<"$out" || fail '\d+ shows column comments' "$out"
pass '\d+'
out=$(run -c '\dt+ sales.*') || fail '\dt+ sales.*' "$out"
grep -q "Customer orders" <<<"$out" || fail '\dt+ shows the table comment' "$out"; pass '\dt+'

out=$(run -c '\df lower') || fail '\df' "$out"
grep -q 'List of functions' <<<"$out" || fail '\df header' "$out"; pass '\df'
out=$(run -c '\du') || fail '\du' "$out"
grep -q 'analyst' <<<"$out" && grep -q 'admin' <<<"$out" || fail '\du lists roles' "$out"; pass '\du'
out=$(run -c '\conninfo') || fail '\conninfo' "$out"
grep -q 'database "lake" as user "analyst"' <<<"$out" || fail '\conninfo text' "$out"; pass '\conninfo'
out=$(run -c '\x' -c 'SELECT order_id, status FROM sales.orders ORDER BY order_id LIMIT 1') || fail '\x' "$out"
grep -Eq '^order_id +\| 1$' <<<"$out" || fail '\x shows one field per line' "$out"; pass '\x'

out=$(run_as emea_analyst -A -t -c "SELECT DISTINCT region FROM sales.orders") || fail 'emea_analyst regions' "$out"
[ "$out" = "EMEA" ] || fail 'emea_analyst sees EMEA rows only' "$out"; pass 'row filter'

out=$(run -A -t -c 'PREPARE q(bigint) AS SELECT status FROM sales.orders WHERE order_id = $1' -c 'EXECUTE q(1)' -c 'DEALLOCATE q') \
    || fail 'PREPARE/EXECUTE' "$out"
grep -Eq '^(placed|shipped|delivered|returned|cancelled)$' <<<"$out" || fail 'EXECUTE result' "$out"
pass 'PREPARE/EXECUTE'

QUERY="SELECT order_id, status FROM sales.orders ORDER BY order_id LIMIT 25"
expected=$(run -A -t -c "$QUERY") || fail 'query' "$expected"
out=$(run -A -t -v FETCH_COUNT=4 -c "$QUERY") || fail 'FETCH_COUNT' "$out"
[ "$out" = "$expected" ] || fail 'FETCH_COUNT (DECLARE/FETCH/CLOSE) gives the same rows' "$out"
pass 'FETCH_COUNT'
out=$(run -A -t -c 'BEGIN' -c 'SELECT count(*) FROM sales.customers' -c 'COMMIT') || fail 'BEGIN/COMMIT' "$out"
grep -Eq '^[1-9][0-9]*$' <<<"$out" || fail 'BEGIN/COMMIT result' "$out"; pass 'BEGIN/COMMIT'

out=$(run -A -t -c "SELECT region, count(*), sum(amount) FROM sales.orders WHERE order_date BETWEEN '2024-03-01' AND '2024-03-31' GROUP BY region ORDER BY region") \
    || fail 'revenue query' "$out"
[ "$(wc -l <<<"$out")" -eq 4 ] || fail 'four regions' "$out"
grep -q '^AMER|[0-9]*|[0-9]*\.[0-9][0-9]$' <<<"$out" || fail 'row format' "$out"; pass 'aggregate'

out=$(run -c '\copy (SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 2) to stdout csv') || fail '\copy' "$out"
[ "$out" = $'1\n2' ] || fail '\copy output' "$out"
out=$(run -c '\copy sales.customers to stdout csv header') || fail '\copy table' "$out"
head -1 <<<"$out" | grep -qx 'customer_id,name,country,segment,signup_date' || fail '\copy table header' "$out"
pass '\copy'

out=$(run -c 'SELECT * FROM sales.nope' ) && fail 'unknown table must fail' "$out"
grep -q 'relation "sales.nope" does not exist' <<<"$out" || fail 'error text' "$out"; pass 'errors'

# Tab completion: an interactive psql under tmux; each TAB runs psql's completion queries.
if command -v tmux >/dev/null; then
    SOCK="lakegate-psql-$$"
    tmux -L "$SOCK" new-session -d -x 200 -y 20 \
        "PGPASSWORD=analyst psql '$CONN application_name=psql_interactive' -X"
    trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true' EXIT
    pane() { tmux -L "$SOCK" capture-pane -p; }
    wait_for() {
        for _ in $(seq 1 50); do grep -q "$1" <<<"$(pane)" && return 0; sleep 0.2; done
        fail "tab completion: $2" "$(pane)"
    }
    wait_for 'lake=>' 'prompt'
    tmux -L "$SOCK" send-keys 'SELECT * FROM sal' Tab
    wait_for 'FROM sales\.' 'schema name'
    tmux -L "$SOCK" send-keys 'o' Tab
    wait_for 'FROM sales\.orders' 'table name'
    tmux -L "$SOCK" send-keys ' WHERE amo' Tab
    wait_for 'WHERE amount' 'column name'
    tmux -L "$SOCK" send-keys C-u 'SELECT * FROM sales.orders WHERE card' Tab
    sleep 1
    grep -q 'card_number' <<<"$(pane)" && fail 'tab completion must not offer a hidden column' "$(pane)"
    tmux -L "$SOCK" kill-server
    pass 'tab completion'
fi
echo "psql: $PASSED passed, 0 failed"
