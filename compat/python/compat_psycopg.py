"""psycopg 3 compatibility suite: what Python applications do, run against the endpoint in
CLARUS_* (normally the Clarus proxy) and checked on the backend through BACKEND_* directly.

Prints one `PASS name` / `FAIL name: reason` line per test and a closing count; exits 1 on any
failure. Tables are prefixed compat_py_ so the three client suites never collide.
"""
import decimal
import hashlib
import os
import sys
import threading
import traceback
import uuid
from datetime import datetime, timezone

import psycopg
from psycopg import errors, sql


def conninfo(prefix: str, **over: str) -> str:
    env = os.environ
    parts = {
        "host": env[f"{prefix}_HOST"],
        "port": env[f"{prefix}_PORT"],
        "user": env[f"{prefix}_USER"],
        "password": env[f"{prefix}_PASSWORD"],
        "dbname": env.get(f"{prefix}_DATABASE", "postgres"),
        "sslmode": env.get(f"{prefix}_SSLMODE", "disable"),
        "connect_timeout": "10",
        "application_name": "clarus-compat-psycopg",
    }
    if env.get(f"{prefix}_SSLROOTCERT"):
        parts["sslrootcert"] = env[f"{prefix}_SSLROOTCERT"]
    parts.update(over)
    return psycopg.conninfo.make_conninfo(**parts)


def app(**kw) -> psycopg.Connection:
    return psycopg.connect(conninfo("CLARUS"), **kw)


def backend() -> psycopg.Connection:
    return psycopg.connect(conninfo("BACKEND"), autocommit=True)


def backend_one(query: str, params=None):
    with backend() as b:
        row = b.execute(query, params).fetchone()
        return row[0] if row and len(row) == 1 else row


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def reset_table(name: str, columns: str) -> None:
    with backend() as b:
        b.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        b.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), sql.SQL(columns)))


# --- tests -------------------------------------------------------------------------------------


def test_connect_scram_tls():
    with app() as conn:
        check(conn.execute("SELECT 1 + 1").fetchone()[0] == 2, "query after connect")
        want_tls = os.environ.get("CLARUS_SSLMODE", "disable") not in ("disable", "allow", "prefer")
        check(bool(conn.pgconn.ssl_in_use) == want_tls, f"ssl_in_use={conn.pgconn.ssl_in_use}, wanted {want_tls}")
        check(conn.info.server_version >= 150000, f"server_version {conn.info.server_version}")
        check(conn.info.parameter_status("client_encoding") == "UTF8", "client_encoding ParameterStatus")


def test_wrong_password_rejected():
    try:
        psycopg.connect(conninfo("CLARUS", password="definitely-wrong")).close()
    except psycopg.OperationalError as e:
        msg = str(e)
        check(e.sqlstate == "28P01" or "password authentication failed" in msg, f"unexpected error: {msg}")
        return
    raise AssertionError("a wrong password was accepted")


def test_prepared_statements():
    reset_table("compat_py_prep", "id int PRIMARY KEY, label text")
    with app(autocommit=True) as conn:
        conn.prepare_threshold = 0  # server-side prepare from the first execution
        for i in range(20):
            conn.execute("INSERT INTO compat_py_prep (id, label) VALUES (%s, %s)", (i, f"row {i}"), prepare=True)
        got = [conn.execute("SELECT label FROM compat_py_prep WHERE id = %s", (i,), prepare=True).fetchone()[0]
               for i in range(20)]
        check(got == [f"row {i}" for i in range(20)], f"prepared selects returned {got[:3]}...")
        names = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%compat_py_prep%'").fetchone()[0]
        check(names >= 2, f"expected server-side prepared statements, saw {names}")
    check(backend_one("SELECT count(*), sum(id) FROM compat_py_prep") == (20, 190), "backend rows")


def test_executemany_batch():
    reset_table("compat_py_batch", "id int PRIMARY KEY, v text, n numeric")
    rows = [(i, f"v{i}", decimal.Decimal(i) / 7) for i in range(500)]
    with app() as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO compat_py_batch (id, v, n) VALUES (%s, %s, %s)", rows)
            check(cur.rowcount == 500, f"rowcount {cur.rowcount}")
        conn.commit()
    check(backend_one("SELECT count(*), sum(id), max(v) FROM compat_py_batch") == (500, 124750, "v99"), "backend rows")


def test_pipeline_with_error():
    reset_table("compat_py_pipe", "id int PRIMARY KEY")
    with app(autocommit=True) as conn:
        with conn.pipeline() as p:
            c1 = conn.execute("INSERT INTO compat_py_pipe VALUES (1) RETURNING id")
            c2 = conn.execute("INSERT INTO compat_py_pipe VALUES (2) RETURNING id")
            p.sync()
            check((c1.fetchone()[0], c2.fetchone()[0]) == (1, 2), "pipelined results")
        try:
            with conn.pipeline():
                conn.execute("INSERT INTO compat_py_pipe VALUES (3)")
                conn.execute("INSERT INTO compat_py_pipe VALUES (1)")  # duplicate
                conn.execute("INSERT INTO compat_py_pipe VALUES (4)")
            raise AssertionError("the duplicate in the pipeline did not fail")
        except errors.UniqueViolation:
            pass
        check(conn.execute("SELECT 42").fetchone()[0] == 42, "connection usable after pipeline error")
    got = [r[0] for r in backend().execute("SELECT id FROM compat_py_pipe ORDER BY id").fetchall()]
    # The three statements of the failing pipeline share one implicit transaction up to the Sync:
    # the duplicate aborts it, so row 3 is rolled back and row 4 is never executed.
    check(got == [1, 2], f"backend rows {got}")


def test_binary_cursor():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    ts = datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=timezone.utc)
    with app() as conn:
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT %b::int8, %b::bytea, %b::numeric, %b::timestamptz, %b::uuid, %b::int4[], %b::jsonb, %b::text",
                        (2**40, b"\x00\x01\xfe\xff", decimal.Decimal("12345.6789"), ts, u, [1, None, 3],
                         psycopg.types.json.Jsonb({"k": [1, "é"]}), "binär"))
            row = cur.fetchone()
            check(cur.pgresult.fformat(0) == 1, "result column 0 is not in binary format")
            check(row == (2**40, b"\x00\x01\xfe\xff", decimal.Decimal("12345.6789"), ts, u, [1, None, 3],
                          {"k": [1, "é"]}, "binär"), f"binary round trip {row}")


def test_server_side_cursor():
    with app() as conn:
        with conn.cursor(name="compat_py_named", binary=True) as cur:
            cur.itersize = 100
            cur.execute("SELECT g, repeat('x', g % 17) FROM generate_series(1, 2500) g")
            total = 0
            count = 0
            while batch := cur.fetchmany(333):
                count += len(batch)
                total += sum(r[0] for r in batch)
            check((count, total) == (2500, 2500 * 2501 // 2), f"named cursor saw {count} rows")


def test_copy_in_text_and_binary():
    reset_table("compat_py_copy", "id int, name text, data bytea")
    rows = [(i, None if i % 10 == 0 else f"näme-{i}\t\\", bytes([i % 256]) * (i % 5)) for i in range(1000)]
    with app() as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY compat_py_copy (id, name, data) FROM STDIN") as copy:
                for r in rows[:500]:
                    copy.write_row(r)
            with cur.copy("COPY compat_py_copy (id, name, data) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "text", "bytea"])
                for r in rows[500:]:
                    copy.write_row(r)
        conn.commit()
    with backend() as b:
        got = b.execute("SELECT id, name, data FROM compat_py_copy ORDER BY id").fetchall()
    check(len(got) == 1000, f"backend has {len(got)} rows")
    check(got == rows, "backend rows differ from what was copied in")


def test_copy_out():
    with app() as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'ü' || g END FROM generate_series(1, 3000) g) TO STDOUT") as copy:
                copy.set_types(["int4", "text"])
                rows = list(copy.rows())
    check(len(rows) == 3000, f"{len(rows)} rows copied out")
    check(rows[0] == (1, "ü1") and rows[2] == (3, None), f"first rows {rows[:3]}")


def test_copy_fail_rolls_back():
    reset_table("compat_py_copyfail", "id int")
    with app() as conn:
        try:
            with conn.cursor() as cur:
                with cur.copy("COPY compat_py_copyfail FROM STDIN") as copy:
                    copy.write_row((1,))
                    raise RuntimeError("client aborts the copy")
        except RuntimeError:
            pass
        except errors.QueryCanceled:
            pass
        conn.rollback()
        check(conn.execute("SELECT 7").fetchone()[0] == 7, "connection usable after CopyFail")
    check(backend_one("SELECT count(*) FROM compat_py_copyfail") == 0, "backend kept rows from a failed COPY")


def test_transaction_rollback_and_savepoint():
    reset_table("compat_py_tx", "id int PRIMARY KEY")
    with app() as conn:
        try:
            with conn.transaction():
                conn.execute("INSERT INTO compat_py_tx VALUES (1)")
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        with conn.transaction():
            conn.execute("INSERT INTO compat_py_tx VALUES (2)")
            try:
                with conn.transaction():  # savepoint
                    conn.execute("INSERT INTO compat_py_tx VALUES (3)")
                    conn.execute("INSERT INTO compat_py_tx VALUES (2)")
            except errors.UniqueViolation:
                pass
            conn.execute("INSERT INTO compat_py_tx VALUES (4)")
        conn.commit()
    got = [r[0] for r in backend().execute("SELECT id FROM compat_py_tx ORDER BY id").fetchall()]
    check(got == [2, 4], f"backend rows {got}")


def test_error_sqlstates():
    reset_table("compat_py_err", "id int PRIMARY KEY")
    with app() as conn:
        conn.execute("INSERT INTO compat_py_err VALUES (1)")
        conn.commit()
        for stmt, want in [("INSERT INTO compat_py_err VALUES (1)", "23505"),
                           ("SELEC 1", "42601"), ("SELECT 1/0", "22012"),
                           ("SELECT * FROM compat_py_no_such_table", "42P01")]:
            try:
                conn.execute(stmt)
                raise AssertionError(f"{stmt} did not fail")
            except psycopg.Error as e:
                check(e.sqlstate == want, f"{stmt}: sqlstate {e.sqlstate}, wanted {want}")
                check(e.diag.message_primary is not None, "error without a primary message")
            conn.rollback()
        check(conn.execute("SELECT 1").fetchone()[0] == 1, "usable after errors")
    check(backend_one("SELECT count(*) FROM compat_py_err") == 1, "backend rows")


def test_nulls_and_unicode():
    reset_table("compat_py_text", "id int, t text, j jsonb, n int")
    values = ["", "plain", "Ünïcødé", "日本語テキスト", "emoji 🐘🔐", "e\u0301 combining", "quote ' and \" and \\", None]
    with app() as conn:
        for i, v in enumerate(values):
            conn.execute("INSERT INTO compat_py_text VALUES (%s, %s, %s, NULL)",
                         (i, v, None if v is None else psycopg.types.json.Jsonb({"v": v})))
        back = [r for r in conn.execute("SELECT t, n, j FROM compat_py_text ORDER BY id")]
        conn.commit()
    check([r[0] for r in back] == values, f"app read back {back}")
    check(all(r[1] is None for r in back), "NULL int came back non-NULL")
    with backend() as b:
        hexes = [r[0] for r in b.execute("SELECT encode(convert_to(t, 'UTF8'), 'hex') FROM compat_py_text ORDER BY id")]
    check(hexes == [None if v is None else v.encode().hex() for v in values], "backend bytes differ")


def test_large_values():
    reset_table("compat_py_large", "id int, t text, b bytea")
    text = ("large value ✓ " * 400_000)[:5_000_000]
    blob = os.urandom(4 << 20)
    with app() as conn:
        conn.execute("INSERT INTO compat_py_large VALUES (1, %s, %b)", (text, blob))
        t, b = conn.execute("SELECT t, b FROM compat_py_large WHERE id = 1").fetchone()
        conn.commit()
    check(t == text and b == blob, "large values differ when read back")
    got = backend_one("SELECT md5(convert_to(t, 'UTF8')), md5(b) FROM compat_py_large")
    check(got == (hashlib.md5(text.encode()).hexdigest(), hashlib.md5(blob).hexdigest()), "backend md5 differs")


def test_notify():
    with app(autocommit=True) as listener, app(autocommit=True) as sender:
        listener.execute("LISTEN compat_py_chan")
        sender.execute("SELECT pg_notify('compat_py_chan', 'hello ✓')")
        got = None
        for n in listener.notifies(timeout=10, stop_after=1):
            got = n
        check(got is not None and got.channel == "compat_py_chan" and got.payload == "hello ✓", f"notify {got}")


def test_cancel():
    # psycopg cancels through libpq's cancel connection (a CancelRequest with the key the proxy
    # handed out, over TLS when the session used it); the statement fails with 57014.
    with app() as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        try:
            conn.execute("SELECT pg_sleep(30) -- compat_py_cancel")
            raise AssertionError("pg_sleep(30) was not cancelled")
        except errors.QueryCanceled as e:
            check(e.sqlstate == "57014", f"sqlstate {e.sqlstate}")
        finally:
            timer.cancel()
        conn.rollback()
        check(conn.execute("SELECT 5").fetchone()[0] == 5, "connection usable after cancel")
    check(backend_one("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%compat_py_cancel' AND pid <> pg_backend_pid()") == 0,
          "the cancelled query still runs on the backend")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]


def main() -> int:
    only = os.environ.get("COMPAT_ONLY")
    passed = failed = 0
    for t in TESTS:
        name = t.__name__[5:]
        if only and only not in name:
            continue
        try:
            t()
            passed += 1
            print(f"PASS {name}", flush=True)
        except Exception as e:  # report every failure, keep going
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}".replace("\n", " "), flush=True)
            if os.environ.get("COMPAT_VERBOSE"):
                traceback.print_exc()
    print(f"psycopg: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
