#!/usr/bin/env bash
# The dbt project against real PostgreSQL, as a reference for what the gateway must do: creates
# database `lakecopy` with small copies of raw.orders_csv, sales.orders and sales.customers (the
# demo lake's columns and data rules, a few hundred rows), a role `dbt`, then runs dbt debug,
# run, run (incremental), test and docs generate with the same project and profile, and the
# checks of check.py that are plain SQL (models, catalog). Not part of CI; the lakegate-specific
# checks (grants, Delta files, audit, policy reload, kill -9) run in tests/dbt/run.sh only.
# Needs a PostgreSQL server where $PGUSER (default postgres) may create databases and roles.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/dbt
VENV="${LAKEGATE_CLIENTS_CACHE:-$HOME/.cache/lakegate-clients}/venv"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
bash "$HERE/install.sh" "$VENV"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

psql -v ON_ERROR_STOP=1 -q -d postgres <<'SQL'
drop database if exists lakecopy;
create database lakecopy;
do $$ begin
    if not exists (select from pg_roles where rolname = 'dbt') then
        create role dbt login password 'dbt';
    end if;
end $$;
grant create on database lakecopy to dbt;
SQL

psql -v ON_ERROR_STOP=1 -q -d lakecopy <<'SQL'
create schema sales;
create schema raw;

create table sales.customers (customer_id bigint, name text, email text, phone text,
                              country text, segment text, signup_date date);
insert into sales.customers
select i, (array['Ada', 'Grace', 'Alan', 'Edsger'])[1 + i % 4] || ' ' || 'Lovelace',
       'customer' || i || '@example.com', '+1-555-0000-' || lpad(i::text, 4, '0'),
       (array['US', 'BR', 'DE', 'FR', 'GB', 'JP'])[1 + i % 6],
       (array['consumer', 'small_business', 'enterprise'])[1 + i % 3],
       date '2023-12-31' - (i * 13) % 1500
from generate_series(1, 100) i;

-- 600 orders over 30 days, every customer_id in customers (some customers have none).
create table sales.orders (order_id bigint, customer_id bigint, order_ts timestamptz,
                           amount numeric(12, 2), currency text, status text, card_number text,
                           region text, order_date date);
insert into sales.orders
select i, 1 + (i * 37) % 90,
       timestamptz '2025-12-01 00:00:00+00' + i * interval '71 minutes' + (i % 1000) * interval '1 ms',
       5 + ((i * 7919) % 199500) / 100.0,
       (array['USD', 'EUR', 'JPY', 'BRL'])[1 + i % 4],
       (array['placed', 'shipped', 'delivered', 'returned', 'cancelled'])[1 + (i * 3) % 5],
       '4' || lpad(((i * 982451653::bigint) % 1000000000000000)::text, 15, '0'),
       (array['AMER', 'EMEA', 'APAC', 'LATAM'])[1 + i % 4],
       null
from generate_series(1, 600) i;
update sales.orders set order_date = (order_ts at time zone 'UTC')::date;

-- The landing copy: every column as text, in the demo's CSV spelling, ingested a day later.
create table raw.orders_csv (order_id text, customer_id text, order_ts text, amount text,
                             currency text, status text, card_number text, region text,
                             order_date text, ingest_date date);
insert into raw.orders_csv
select order_id::text, customer_id::text,
       to_char(order_ts at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') || '+00', amount::text,
       currency, status, card_number, region, order_date::text, order_date + 1
from sales.orders;

grant usage on schema raw, sales to dbt;
grant select on all tables in schema raw, sales to dbt;
SQL

export LAKEGATE_HOST="$PGHOST" LAKEGATE_PORT="$PGPORT" LAKEGATE_DBNAME=lakecopy
export DBT_PROFILES_DIR="$HERE" DBT_SEND_ANONYMOUS_USAGE_STATS=false
export DBT_TARGET_PATH="$WORK/target" DBT_LOG_PATH="$WORK/logs"
DBT=("$VENV/bin/dbt" --no-use-colors)
FLAGS=(--project-dir "$HERE/project")
PY="$VENV/bin/python"
"${DBT[@]}" debug "${FLAGS[@]}"
"${DBT[@]}" run "${FLAGS[@]}"
"$PY" "$HERE/check.py" models 1 "$WORK/state.json"
"${DBT[@]}" run "${FLAGS[@]}"
"$PY" "$HERE/check.py" models 2 "$WORK/state.json"
"${DBT[@]}" test "${FLAGS[@]}"
"${DBT[@]}" docs generate "${FLAGS[@]}"
"$PY" "$HERE/check.py" catalog "$WORK/target"
# Every statement dbt sent, for comparison with what the gateway receives.
[ -z "${DBT_REFERENCE_SQL:-}" ] || cp "$WORK/logs/dbt.log" "$DBT_REFERENCE_SQL"
echo "the dbt project passes against PostgreSQL $(psql -tAc 'show server_version' -d postgres)"
