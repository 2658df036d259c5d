"""Shared plumbing of the ORM suites (issue 11): endpoints, the proxy/oracle comparison and the
backend scan. Each suite runs the same application life against CLARUS_* (normally the Clarus
proxy, whose policy encrypts the suite's customer table) and ORACLE_* (a plain database on the
same server, reached directly), compares what the application saw, and checks through BACKEND_*
(the proxy's database, reached directly) that the encrypted columns hold bytea and that no
plaintext the application wrote is stored. Prints `PASS name` / `FAIL name: reason`.
"""
import os
import ssl
import sys
import traceback
import urllib.parse

import psycopg

DIRECT = os.environ.get("COMPAT_TARGET") == "direct"
CANARY = "OrmCanary"


def endpoint(prefix: str) -> dict:
    env = os.environ
    return {
        "host": env[f"{prefix}_HOST"], "port": env[f"{prefix}_PORT"], "user": env[f"{prefix}_USER"],
        "password": env[f"{prefix}_PASSWORD"], "dbname": env.get(f"{prefix}_DATABASE", "postgres"),
        "sslmode": env.get(f"{prefix}_SSLMODE", "disable"), "sslrootcert": env.get(f"{prefix}_SSLROOTCERT", ""),
    }


def sqlalchemy_url(prefix: str, driver: str = "psycopg") -> str:
    e = endpoint(prefix)
    base = f"postgresql+{driver}://{urllib.parse.quote(e['user'])}:{urllib.parse.quote(e['password'])}@{e['host']}:{e['port']}/{e['dbname']}"
    if driver == "psycopg" and e["sslmode"] != "disable":
        return base + "?" + urllib.parse.urlencode({"sslmode": e["sslmode"], "sslrootcert": e["sslrootcert"]})
    return base


def asyncpg_ssl(prefix: str):
    e = endpoint(prefix)
    if e["sslmode"] == "disable":
        return False
    ctx = ssl.create_default_context(cafile=e["sslrootcert"] or None)
    return ctx


def backend_rows(query: str, params=None) -> list:
    e = endpoint("BACKEND")
    with psycopg.connect(**{k: v for k, v in e.items() if v}, autocommit=True) as c:
        return c.execute(query, params).fetchall()


def stored_check(table: str, encrypted=("name", "email", "ssn")) -> None:
    """The encrypted columns are bytea in the backend and no canary is stored anywhere in the table."""
    if DIRECT:
        return
    types = dict(backend_rows("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s", (table,)))
    for col in encrypted:
        check(types.get(col) == "bytea", f"{table}.{col} is stored as {types.get(col)}, not bytea")
    check(f"{encrypted[1]}__bidx" in types, f"{table} has no blind index of {encrypted[1]}")
    texts = backend_rows(f'SELECT t::text FROM "{table}" t')
    leaked = [t[0] for t in texts if CANARY.lower() in t[0].lower() or CANARY.encode().hex() in t[0]]
    check(not leaked, f"plaintext stored in {table}: {leaked[:2]}")


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


class Suite:
    def __init__(self, name: str):
        self.name = name
        self.failed = 0
        self.passed = 0

    def run(self, test: str, fn) -> None:
        try:
            fn()
            self.passed += 1
            print(f"PASS {self.name}.{test}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the suite goes on
            self.failed += 1
            print(f"FAIL {self.name}.{test}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
            if os.environ.get("COMPAT_VERBOSE"):
                traceback.print_exc()

    def same(self, test: str, fn) -> None:
        """Runs fn('CLARUS') and fn('ORACLE'); what the application saw must be equal."""
        def both():
            got = fn("CLARUS")
            want = fn("ORACLE")
            check(got == want, f"through the proxy {got!r}\n  directly {want!r}")
        self.run(test, both)

    def finish(self) -> None:
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)
