"""SQLAlchemy 2 (psycopg 3 and asyncpg) + Alembic through the proxy (issue 11): the first
migration (create_all), Alembic autogenerate that must find nothing to change, CRUD (add_all's
insertmanyvalues, lookups on the searchable and deterministic columns, update, delete, a join),
yield_per streaming (a server-side cursor), a later migration applied from autogenerate, the
inspector's view, and what the backend stores. Each step runs through the proxy and straight
against the oracle database; the application must see the same.
"""
import asyncio

from alembic.autogenerate import compare_metadata, produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from sqlalchemy import ForeignKey, String, create_engine, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from orm_common import CANARY, Suite, asyncpg_ssl, check, sqlalchemy_url, stored_check


def models(prefix: str, v2: bool = False):
    class Base(DeclarativeBase):
        pass

    class Customer(Base):
        __tablename__ = f"{prefix}_customer"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(100))
        email: Mapped[str] = mapped_column(String(254), unique=True)
        ssn: Mapped[str] = mapped_column(String(11), index=True)
        if v2:
            nickname: Mapped[str | None] = mapped_column(String(30))

    class Order(Base):
        __tablename__ = f"{prefix}_order"
        id: Mapped[int] = mapped_column(primary_key=True)
        total: Mapped[int]
        customer_id: Mapped[int] = mapped_column(ForeignKey(f"{prefix}_customer.id"), index=True)

    return Base.metadata, Customer, Order


def norm_diffs(diffs) -> list:
    out = []
    for d in diffs:
        if isinstance(d, list):
            out.extend((x[0], x[2], x[3]) for x in d)
        else:
            last = d[-1]
            out.append((d[0], getattr(getattr(last, "table", None), "name", None), getattr(last, "name", str(last))))
    return sorted(out, key=repr)


def context(conn, metadata) -> MigrationContext:
    """Alembic's view of this suite's tables only (the other suites share the database)."""
    prefixes = tuple(f"{t.name.split('_')[0]}_" for t in metadata.sorted_tables)
    keep = lambda name, type_, parent: type_ != "table" or str(name).startswith(prefixes)  # noqa: E731
    return MigrationContext.configure(conn, opts={"include_name": keep, "target_metadata": metadata})


def autogenerate(conn, metadata) -> list:
    return norm_diffs(compare_metadata(context(conn, metadata), metadata))


def upgrade(conn, metadata) -> None:
    """What `alembic revision --autogenerate` + `alembic upgrade` would run."""
    mc = context(conn, metadata)
    operations = Operations(mc)

    def run(o):
        if isinstance(o, (ops.UpgradeOps, ops.ModifyTableOps)):
            for x in o.ops:
                run(x)
        else:
            operations.invoke(o)
    run(produce_migrations(mc, metadata).upgrade_ops)


def introspect(conn, prefix: str) -> dict:
    i = inspect(conn)
    t = f"{prefix}_customer"
    return {
        "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in i.get_columns(t)],
        "pk": i.get_pk_constraint(t)["constrained_columns"],
        "unique": sorted((u["name"], tuple(u["column_names"])) for u in i.get_unique_constraints(t)),
        "indexes": sorted((x["name"], tuple(x["column_names"]), x["unique"]) for x in i.get_indexes(t)),
        "fks": [(f["constrained_columns"], f["referred_table"], f["referred_columns"]) for f in i.get_foreign_keys(f"{prefix}_order")],
        "checks": i.get_check_constraints(t),
    }


def crud(session: Session, Customer, Order, tag: str) -> list:
    people = [Customer(name=f"{CANARY} {tag} {i}", email=f"{CANARY.lower()}.{tag}{i}@example.org", ssn=f"{tag[:3]}-00-{i:04d}") for i in range(3)]
    session.add_all(people)
    session.flush()
    session.add_all([Order(total=10 * (i + 1), customer_id=p.id) for i, p in enumerate(people)])
    session.commit()
    seen = []
    by_email = session.scalars(select(Customer).where(Customer.email == f"{CANARY.lower()}.{tag}1@example.org")).one()
    seen.append(("by email", by_email.name, by_email.ssn))
    by_ssn = session.scalars(select(Customer).where(Customer.ssn.in_([f"{tag[:3]}-00-0002", "nobody"]))).all()
    seen.append(("by ssn", [c.name for c in by_ssn]))
    by_email.name = f"{CANARY} {tag} renamed"
    session.commit()
    first = session.scalars(select(Customer).where(Customer.ssn == f"{tag[:3]}-00-0000")).one()
    session.execute(Order.__table__.delete().where(Order.customer_id == first.id))
    session.delete(first)
    session.commit()
    rows = session.execute(select(Customer.name, Customer.email, Order.total).join(Order, Order.customer_id == Customer.id).order_by(Order.total)).all()
    seen.append(("join", [tuple(r) for r in rows]))
    streamed = [c.name for c in session.scalars(select(Customer).order_by(Customer.id).execution_options(yield_per=1))]
    seen.append(("yield_per", streamed))
    return seen


def life(target: str, prefix: str = "sa") -> dict:
    engine = create_engine(sqlalchemy_url(target))
    seen: dict = {}
    try:
        meta, Customer, Order = models(prefix)
        with engine.begin() as conn:
            meta.create_all(conn)
        with engine.connect() as conn:
            seen["autogenerate after create_all"] = autogenerate(conn, meta)
        with Session(engine) as s:
            seen["crud"] = crud(s, Customer, Order, prefix)
        meta2, _, _ = models(prefix, v2=True)
        with engine.connect() as conn:
            seen["autogenerate of v2"] = autogenerate(conn, meta2)
        with engine.begin() as conn:
            upgrade(conn, meta2)
        with engine.connect() as conn:
            seen["autogenerate after upgrade"] = autogenerate(conn, meta2)
            seen["inspector"] = introspect(conn, prefix)
    finally:
        engine.dispose()
    return seen


async def async_life(target: str, prefix: str = "saa") -> dict:
    engine = create_async_engine(sqlalchemy_url(target, "asyncpg"), connect_args={"ssl": asyncpg_ssl(target)})
    seen: dict = {}
    try:
        meta, Customer, Order = models(prefix)
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        async with engine.connect() as conn:
            seen["autogenerate"] = await conn.run_sync(autogenerate, meta)
        async with AsyncSession(engine) as s:
            seen["crud"] = await s.run_sync(lambda sync: crud(sync, Customer, Order, prefix))
        # asyncpg's bulk-insert idiom: arrays as (binary) parameters of UNNEST.
        async with engine.begin() as conn:
            await conn.execute(text(f"INSERT INTO {prefix}_customer (name, email, ssn) SELECT * FROM unnest(CAST(:n AS varchar[]), CAST(:e AS varchar[]), CAST(:s AS varchar[]))"),
                               {"n": [f"{CANARY} unnest {i}" for i in range(2)], "e": [f"{CANARY.lower()}.unnest{i}@example.org" for i in range(2)], "s": ["555-09-0001", "555-09-0002"]})
            rows = await conn.execute(select(Customer.name, Customer.ssn).where(Customer.email == f"{CANARY.lower()}.unnest1@example.org"))
            seen["unnest"] = [tuple(r) for r in rows]
        async with engine.connect() as conn:
            seen["inspector"] = await conn.run_sync(introspect, prefix)
    finally:
        await engine.dispose()
    return seen


def main() -> None:
    suite = Suite("sqlalchemy")
    results: dict = {}

    def each(step: str):
        def get(target: str):
            if target not in results:
                try:
                    results[target] = life(target)
                except Exception as e:  # noqa: BLE001 - reported by every step that needs it
                    results[target] = e
            if isinstance(results[target], Exception):
                raise results[target]
            return results[target][step]
        return get

    for step in ["autogenerate after create_all", "crud", "autogenerate of v2", "autogenerate after upgrade", "inspector"]:
        suite.same(f"psycopg_{step.replace(' ', '_')}", each(step))
    suite.run("psycopg_second_autogenerate_is_empty", lambda: check(results.get("CLARUS", {}).get("autogenerate after upgrade") == [], f"autogenerate proposes {results.get('CLARUS', {}).get('autogenerate after upgrade')}"))
    suite.run("psycopg_backend_stores_ciphertext", lambda: stored_check("sa_customer"))
    aresults: dict = {}

    def aget(step: str):
        def get(target: str):
            if target not in aresults:
                try:
                    aresults[target] = asyncio.run(async_life(target))
                except Exception as e:  # noqa: BLE001 - reported by every step that needs it
                    aresults[target] = e
            if isinstance(aresults[target], Exception):
                raise aresults[target]
            return aresults[target][step]
        return get

    for step in ["autogenerate", "crud", "unnest", "inspector"]:
        suite.same(f"asyncpg_{step}", aget(step))
    suite.run("asyncpg_backend_stores_ciphertext", lambda: stored_check("saa_customer"))
    suite.finish()


if __name__ == "__main__":
    main()
