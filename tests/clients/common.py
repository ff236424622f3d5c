"""Shared by the Python client sessions: where the gateway is, and PASS/FAIL bookkeeping.

Each session checks results, not only the absence of errors; a failed check prints what the
client saw. The gateway runs on the demo lake (tests/clients/run.sh starts it); the demo
principals' password equals their name.
"""

import os
import sys
import traceback

HOST = os.environ.get("LAKEGATE_HOST", "127.0.0.1")
PORT = int(os.environ.get("LAKEGATE_PORT", "55433"))
DATABASE = "lake"

# The columns of the demo tables that the demo policy shows `analyst` (card_number, email and
# phone carry the pii tag, which analysts are denied).
ORDERS_VISIBLE = ["order_id", "customer_id", "order_ts", "amount", "currency", "status",
                  "region", "order_date"]
HIDDEN = {"card_number", "email", "phone"}


class Session:
    """One client's checks: `check` records a result, `step` runs a block and records a crash."""

    def __init__(self, client):
        self.client = client
        self.passed = 0
        self.failed = []

    def check(self, name, ok, detail=""):
        print(f"{'PASS' if ok else 'FAIL'} {self.client}: {name}"
              + ("" if ok else f": {detail!r}"), flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)
        return ok

    def step(self, name, fn, *args):
        """Runs one part of the session; an exception fails it with the client's message."""
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - any client error is a failed check
            traceback.print_exc(limit=2)
            self.check(name, False, f"{type(e).__name__}: {e}")
            return None

    def finish(self):
        print(f"{self.client}: {self.passed} passed, {len(self.failed)} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def dsn(user="analyst", **extra):
    """A libpq connection string for a demo principal."""
    parts = {"host": HOST, "port": PORT, "dbname": DATABASE, "user": user, "password": user}
    parts.update(extra)
    return " ".join(f"{k}={v}" for k, v in parts.items())


def url(driver, user="analyst"):
    """An SQLAlchemy URL for a demo principal."""
    return f"postgresql+{driver}://{user}:{user}@{HOST}:{PORT}/{DATABASE}"
