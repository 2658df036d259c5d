"""psycopg 3 through a Clarus proxy whose policy puts k-anonymity (k=5) on the CLARUS eHealth set's
quasi-identifiers: COPY, a multi-row INSERT, executemany of single-row INSERTs in a transaction
(held by the proxy until COMMIT; psycopg pipelines them), and what is refused. Run by
sidecar/test/integration/anonymize-psycopg.test.ts, which checks what the backend stores; this
script prints one JSON object with what the client saw.

Env: CLARUS_URL (the proxy), CLARUS_DATA (the eHealth CSV file).
"""
import json
from datetime import date
import os
import time

import psycopg
from psycopg import sql

COLUMNS = ["ep_id", "ep_age", "ep_range", "dis_id", "dis_adm", "dis_dis", "dis_days", "ep_pat", "pat_gen", "pat_zip", "dia_id"]


def cols() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)


def insert_one(table: str) -> sql.Composable:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table), cols(), sql.SQL(", ").join(sql.Placeholder() for _ in COLUMNS))


def main() -> None:
    with open(os.environ["CLARUS_DATA"], encoding="utf-8") as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:] if line]
    out: dict = {"seconds": {}}
    notices: list = []
    t0 = time.monotonic()

    def lap(name: str) -> None:
        nonlocal t0
        out["seconds"][name] = round(time.monotonic() - t0, 3)
        t0 = time.monotonic()

    with psycopg.connect(os.environ["CLARUS_URL"]) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        with conn.cursor() as cur:
            # COPY FROM STDIN, text format, rows written by psycopg (one batch at CopyDone).
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier("episode_copy"), cols())) as copy:
                for r in rows[:300]:
                    copy.write_row(r)
            out["copy"] = cur.rowcount
            conn.commit()
            lap("copy")

            # A multi-row INSERT of constants (client-side literals): one batch.
            values = sql.SQL(", ").join(sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(v) for v in r)) for r in rows[300:360])
            cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES {}").format(sql.Identifier("episode_ins"), cols(), values))
            out["insert"] = cur.rowcount
            conn.commit()
            lap("insert")

            # A multi-row INSERT with server-side parameters: refused (values known one Bind at a time).
            two = sql.SQL("INSERT INTO {} ({}) VALUES ({}), ({})").format(
                sql.Identifier("episode_ins"), cols(), *[sql.SQL(", ").join(sql.Placeholder() for _ in COLUMNS)] * 2)
            try:
                cur.execute(two, rows[360] + rows[361])
                out["params"] = "stored"
            except psycopg.Error as e:
                out["params"] = e.sqlstate
            conn.rollback()
            lap("params")

            # executemany of single-row INSERTs in a transaction: held until COMMIT, one batch.
            cur.executemany(insert_one("episode_held"), rows[400:440])
            out["held_rowcount"] = cur.rowcount
            conn.commit()
            lap("held")

            # The same with binary parameters (%b): ints as int2/int4, dates as date, text as text.
            typed = [[int(v) if i in (1, 2, 6) else date.fromisoformat(v.replace("/", "-")) if i in (4, 5) else v
                      for i, v in enumerate(r)] for r in rows[450:460]]
            binary = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier("episode_held"), cols(), sql.SQL(", ").join(sql.Placeholder(format="b") for _ in COLUMNS))
            cur.executemany(binary, typed)
            conn.commit()
            out["held_binary"] = cur.rowcount
            lap("held_binary")

            # In pipeline mode psycopg sends the COMMIT itself through the extended protocol.
            with conn.pipeline():
                cur.executemany(insert_one("episode_held"), rows[470:476])
                conn.commit()
            out["held_pipeline"] = conn.info.transaction_status.name
            lap("held_pipeline")

            # Fewer rows than k, pipeline mode: the COMMIT fails and the transaction is over (idle), as in PostgreSQL.
            try:
                with conn.pipeline():
                    cur.executemany(insert_one("episode_held"), rows[480:483])
                    conn.commit()
                out["few_pipeline"] = "committed"
            except psycopg.Error as e:
                out["few_pipeline"] = e.sqlstate
            out["few_pipeline_status"] = conn.info.transaction_status.name
            lap("few_pipeline")

            # Fewer rows than k in a transaction: the COMMIT fails, nothing is stored.
            cur.executemany(insert_one("episode_held"), rows[500:503])
            try:
                conn.commit()
                out["few"] = "committed"
            except psycopg.Error as e:
                out["few"] = e.sqlstate
            out["few_status"] = conn.info.transaction_status.name
            conn.rollback()
            lap("few")

        # Outside a transaction block a single-row INSERT is refused.
        conn.autocommit = True
        try:
            conn.execute(insert_one("episode_held"), rows[600])
            out["autocommit"] = "stored"
        except psycopg.Error as e:
            out["autocommit"] = e.sqlstate
    lap("autocommit")
    out["notices"] = notices
    print(json.dumps(out))


if __name__ == "__main__":
    main()
