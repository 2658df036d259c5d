"""Django's test runner through the proxy (issue 11): `python -m django test djshop` against the
proxy creates `test_orm` through it (CREATE DATABASE), connects to it, migrates it, runs
djshop/tests.py there and drops it, as it does directly against PostgreSQL (the oracle, whose
test database is `test_orm_oracle`). The runs must report the same; afterwards no test database
is left and the application database `orm` holds none of the test's rows.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from orm_common import DIRECT, Suite, backend_rows, check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run_tests(target: str) -> dict:
    env = {**os.environ, "COMPAT_DJANGO_TARGET": target, "DJANGO_SETTINGS_MODULE": "djtest_settings", "PYTHONPATH": HERE}
    if target == "CLARUS" and not DIRECT:
        env["COMPAT_DJANGO_BACKEND_CHECK"] = "1"
    p = subprocess.run([sys.executable, "-m", "django", "test", "djshop", "--noinput", "-v", "1"], cwd=HERE, env=env,
                       capture_output=True, text=True, timeout=240)
    out = p.stdout + p.stderr
    if os.environ.get("COMPAT_VERBOSE") or p.returncode != 0:
        print("\n".join(f"  [{target}] {line}" for line in out.splitlines()), flush=True)
    ran = re.search(r"^Ran (\d+) tests?", out, re.M)
    return {"exit": p.returncode, "ran": int(ran.group(1)) if ran else None, "ok": bool(re.search(r"^OK\b", out, re.M))}


def no_test_database_left() -> None:
    left = [r[0] for r in backend_rows("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'")]
    check(not left, f"test databases left behind: {left}")
    if DIRECT:
        return
    # The runner's rows went to its test database, never to the application's.
    if backend_rows("SELECT to_regclass('shop_customer') IS NOT NULL")[0][0]:
        check(backend_rows("SELECT count(*) FROM shop_customer WHERE nickname = 'r'")[0][0] == 0, "a test row reached the application database")


def main() -> None:
    suite = Suite("django-test")
    suite.same("manage_py_test", lambda target: run_tests(target))
    suite.run("no_test_database_left", no_test_database_left)
    suite.finish()


if __name__ == "__main__":
    main()
