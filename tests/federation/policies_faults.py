"""Policies on a federated table (the bypass cases of the policy suite, on ops.customers_live),
remote faults, and credentials that must never show."""

import threading
import time

import psycopg

import remote
from gateway import error_of, last_new, query

EMEA = "country IN ('DE', 'FR', 'GB')"


def check_policies(s, gw):
    row = query(gw, "analyst", "SELECT * FROM ops.customers_live LIMIT 1")
    with psycopg.connect(gw.dsn("analyst")) as conn:
        cur = conn.execute("SELECT * FROM ops.customers_live LIMIT 1")
        names = [d.name for d in cur.description]
    s.check("analyst: SELECT * leaves the PII column out (D1)",
            row and "email" not in names and "segment" in names, names)
    misspelled = error_of(gw, "analyst", "SELECT emial FROM ops.customers_live")
    for sql in ["SELECT email FROM ops.customers_live",
                "SELECT count(*) FROM ops.customers_live WHERE email = 'x'",
                "SELECT customer_id FROM ops.customers_live ORDER BY email",
                "SELECT customer_id FROM ops.customers_live GROUP BY customer_id, email"]:
        state, message, _ = error_of(gw, "analyst", sql)
        s.check(f"analyst: hidden column is 42703 like a typo: {sql}",
                state == "42703" == misspelled[0]
                and message.replace("email", "emial") == misspelled[1], message)
    state, _, _ = error_of(gw, "marketing", "SELECT count(*) FROM ops.customers_live")
    s.check("marketing: the table does not exist (42P01)", state == "42P01", state)
    check_row_filter(s, gw)
    check_mask(s, gw)


def check_row_filter(s, gw):
    want = remote.reference(f"SELECT count(*) FROM customers_live WHERE {EMEA}")[0][0]
    got = query(gw, "emea_analyst", "SELECT count(*) FROM ops.customers_live")[0][0]
    s.check("emea_analyst: only the row filter's rows", got == want, f"{got} vs {want}")
    trap = ("SELECT count(*) FROM ops.customers_live "
            "WHERE 1 / (CASE WHEN country = 'US' THEN 0 ELSE 1 END) = 1")
    got = query(gw, "emea_analyst", trap)[0][0]
    s.check("emea_analyst: a failing predicate never sees filtered rows (D7)", got == want, got)
    before = remote.postgres_statements()
    got = query(gw, "emea_analyst", "SELECT customer_id FROM ops.customers_live "
                "WHERE customer_id < 300 ORDER BY 1")
    sent = last_new(before, remote.postgres_statements())
    want = remote.reference(f"SELECT customer_id FROM customers_live WHERE {EMEA} "
                            f"AND customer_id < 300 ORDER BY 1")
    s.check("emea_analyst: right rows", got == want, f"{len(got)} vs {len(want)}")
    s.check("the row filter travels with the user's filter to the remote",
            "IN ('DE', 'FR', 'GB')" in sent and "< 300" in sent
            and remote.rows_of_postgres(sent) == len(want), sent)
    got = query(gw, "emea_analyst", "SELECT customer_id FROM ops.customers_live "
                "WHERE country = 'US'")
    s.check("emea_analyst: asking for filtered rows returns none", got == [], got)


def check_mask(s, gw):
    email, cid = remote.reference(
        f"SELECT email, customer_id FROM customers_live WHERE {EMEA} ORDER BY 2 LIMIT 1")[0]
    shown = query(gw, "emea_analyst", "SELECT email FROM ops.customers_live WHERE customer_id = %s",
                  (cid,))
    s.check("emea_analyst: the email is masked", shown and shown[0][0].startswith("****@"), shown)
    before = remote.postgres_statements()
    got = query(gw, "emea_analyst", "SELECT count(*) FROM ops.customers_live WHERE email = %s",
                (email,))
    sent = "\n".join(remote.postgres_statements()[len(before):])
    s.check("a filter on a masked column sees the masked value and never reaches the remote",
            got[0][0] == 0 and email not in sent, sent)
    explained = query(gw, "emea_analyst",
                      "EXPLAIN SELECT * FROM ops.customers_live WHERE customer_id < 5")
    plan = "\n".join(str(r) for r in explained)
    s.check("EXPLAIN shows neither the row filter, the mask nor the remote SQL (D10)",
            "country IN" not in plan and "regexp_replace" not in plan and "SELECT" not in plan, plan)


def check_faults(s, gw):
    for table, state, words in [
        ("down_table", "08001", ["down_pg", "not reachable"]),
        ("refused_table", "08001", ["refused_pg", "refused the login"]),
        ("secretless_table", "HV000", ["no_secret_pg", "LAKEGATE_SECRET_MISSING_SECRET"]),
        ("undefined_table", "HV000", ["no_such_connection", "not defined"]),
        ("gone_table", "HV00R", ["ops.gone_table"]),
    ]:
        got, message, seconds = error_of(gw, "admin", f"SELECT * FROM ops.{table}")
        s.check(f"{table}: {state} naming the connection, no host, user or secret",
                got == state and all(w in message for w in words) and seconds < 5
                and "127.0.0.1" not in message and "no_such_role" not in message
                and remote.PASSWORD not in message, f"{got} {message} after {seconds:.1f} s")
    check_slow_remote(s, gw)
    remote.terminate_lakegate_connections()
    for _ in range(2):
        try:
            got = query(gw, "admin", "SELECT count(*) FROM ops.customers_live")
        except psycopg.Error as e:
            got = f"{e.sqlstate} {e}"
    s.check("after the remote dropped its connections, queries work again",
            isinstance(got, list) and got[0][0] > 0, got)


def check_slow_remote(s, gw):
    """A remote that accepts and never answers: the statement fails within the connect timeout
    while other statements go on."""
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        slow=error_of(gw, "admin", "SELECT * FROM ops.slow_table")))
    worker.start()
    time.sleep(0.3)
    t0 = time.time()
    other = query(gw, "analyst", "SELECT count(*) FROM sales.customers")
    other_seconds = time.time() - t0
    worker.join(30)
    state, message, seconds = result.get("slow", (None, "did not finish", 99))
    s.check("a hanging remote fails with 08001 within the timeout",
            state == "08001" and "slow_pg" in message and "3 s" in message and seconds < 6,
            f"{state} {message} after {seconds:.1f} s")
    s.check("other statements run meanwhile", other[0][0] > 0 and other_seconds < seconds,
            f"{other_seconds:.1f} s")


def check_secrets_stay_secret(s, gw):
    logs = gw.log.read_text()
    audit = "".join(p.read_text(errors="replace") for p in gw.audit.rglob("*") if p.is_file())
    s.check("the remote password is in no log and no audit record",
            remote.PASSWORD not in logs and remote.PASSWORD not in audit)
    s.check("the audit records the federated table read and its connection",
            '"table":"ops.customers_live"' in audit and '"connection":"ops_pg"' in audit)
