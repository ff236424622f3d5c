"""pgcli through its own classes (it needs a terminal to run interactively): the start-up
completion refresh (every refresher, on the executor pgcli opens), completions that come out of
it, and the special commands \\dt, \\d, \\dn and \\df as pgspecial runs them."""

from prompt_toolkit.document import Document
from pgcli.completion_refresher import CompletionRefresher
from pgcli.pgcompleter import PGCompleter
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial

from common import DATABASE, HIDDEN, HOST, ORDERS_VISIBLE, PORT, Session

S = Session("pgcli")


def refresh(executor, special):
    completer = PGCompleter(smart_completion=True, pgspecial=special)
    for name, refresher in CompletionRefresher.refreshers.items():
        S.step(f"refresh {name}", refresher, completer, executor)
    tables = completer.dbmetadata["tables"]
    S.check("refresh lists the granted schemas", {"sales", "web"} <= set(tables) and
            "raw" not in tables, sorted(tables))
    columns = [c for c in tables.get("sales", {}).get("orders", {})]
    S.check("refresh reads columns as the policy shows them",
            [c for c in columns if c != "*"] == ORDERS_VISIBLE, columns)
    S.check("refresh reads functions", len(completer.dbmetadata["functions"]) > 0)
    return completer


def completions(completer):
    def complete(text, position=None):
        document = Document(text, len(text) if position is None else position)
        return {c.text for c in completer.get_completions(document, None)}
    S.check("completes tables of a schema", {"orders", "customers"} <= complete("SELECT * FROM sales."),
            complete("SELECT * FROM sales."))
    cols = complete("SELECT  FROM sales.orders", len("SELECT "))
    S.check("completes column names", {"amount"} <= cols and not HIDDEN & cols, cols)


def special_commands(executor, special):
    def run(command):
        results = list(executor.run(command, pgspecial=special))
        title, rows, headers, status, _, success, _ = results[0]
        return list(rows or []), headers, success

    rows, headers, ok = run("\\dt sales.*")
    S.check("\\dt", ok and sorted(r[1] for r in rows) == ["customers", "orders"], rows)
    rows, _, ok = run("\\dn")
    names = {r[0] for r in rows}
    S.check("\\dn", ok and {"sales", "web"} <= names and "raw" not in names, names)
    rows, _, ok = run("\\d sales.orders")
    shown = [r[0] for r in rows]
    S.check("\\d follows policy", ok and shown == ORDERS_VISIBLE, shown)
    rows, headers, ok = run("\\df")
    S.check("\\df runs", ok and headers is not None and "Name" in headers, headers)
    rows, _, ok = run("SELECT count(*) FROM sales.orders WHERE region = 'EMEA'")
    S.check("a query", ok and rows[0][0] > 0, rows)


executor = PGExecute(database=DATABASE, user="analyst", password="analyst", host=HOST,
                     port=PORT, dsn=None, application_name="pgcli")
special = PGSpecial()
completer = S.step("refresh", refresh, executor, special)
if completer is not None:
    S.step("completions", completions, completer)
S.step("special commands", special_commands, executor, special)
S.finish()
