#!/usr/bin/env bash
# The federation suite: the local PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306)
# servers, started here if they are down, get a test database each; a gateway on a small demo
# lake federates them. psycopg, psql, PyMySQL and moto (for a Glue catalog) are installed if
# missing. Runs against the lakegate binary given as $1 (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/lakegate}"

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! mysqladmin ping -h 127.0.0.1 --silent 2>/dev/null; then
    echo "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && mysqladmin ping -h 127.0.0.1 --silent 2>/dev/null && break
    sleep 0.5
done
python3 -c "import psycopg, pymysql, boto3, moto, flask" 2>/dev/null || {
    echo "installing psycopg, PyMySQL, moto[server]"
    python3 -m pip install --quiet 'psycopg[binary]' 'PyMySQL==1.1.2' 'moto[server]==5.2.1'
}
python3 tests/federation/federation_test.py "$BIN"
