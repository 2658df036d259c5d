"""Django (5.2 LTS, psycopg 3) through the proxy (issue 11): `migrate` from zero (unique fields
with their `_like` indexes, a foreign key DEFERRABLE INITIALLY DEFERRED), bulk_create (UNNEST of
constant arrays) on the first schema, the later migration on a table with rows (AddField, AlterField
of a max_length), then CRUD, bulk_update (CASE), iterator() (a server-side cursor WITH HOLD), the
admin changelist's queries, and introspection (table description, constraints). Each step runs on
the `default` database (CLARUS_*: the proxy) and the `oracle` one (ORACLE_*: directly); the
application must see the same. Then what the backend stores.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

from orm_common import CANARY, Suite, check, endpoint, stored_check  # noqa: E402


def database(prefix: str) -> dict:
    e = endpoint(prefix)
    options = {"sslmode": e["sslmode"]}
    if e["sslrootcert"]:
        options["sslrootcert"] = e["sslrootcert"]
    return {"ENGINE": "django.db.backends.postgresql", "NAME": e["dbname"], "USER": e["user"], "PASSWORD": e["password"],
            "HOST": e["host"], "PORT": e["port"], "OPTIONS": options}


settings.configure(
    DATABASES={"default": database("CLARUS"), "oracle": database("ORACLE")},
    INSTALLED_APPS=["djshop.apps.ShopConfig"], USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from djshop.models import Customer, Order  # noqa: E402

ALIAS = {"CLARUS": "default", "ORACLE": "oracle"}


def migrate(alias: str, to: str) -> list:
    call_command("migrate", "shop", to, database=alias, verbosity=0)
    return sorted(n for (app, n) in MigrationExecutor(connections[alias]).loader.applied_migrations if app == "shop")


def first_schema(target: str) -> list:
    alias = ALIAS[target]
    applied = migrate(alias, "0001")
    # bulk_create on the first schema (the historical model: no nickname yet), then the later migration on a table with rows.
    old = MigrationExecutor(connections[alias]).loader.project_state(("shop", "0001_initial")).apps.get_model("shop", "Customer")
    made = old.objects.using(alias).bulk_create([old(name=f"{CANARY} bulk {i}", email=f"{CANARY.lower()}.bulk{i}@example.org", ssn=f"900-00-{i:04d}") for i in range(3)])
    return [applied, sorted(c.name for c in made)]


def later_migration(target: str) -> list:
    return migrate(ALIAS[target], "0002")


def crud(target: str) -> list:
    alias = ALIAS[target]
    db = Customer.objects.using(alias)
    seen = []
    ann = db.create(name=f"{CANARY} Ann", email=f"{CANARY.lower()}.ann@example.org", ssn="901-00-0001", nickname="ann")
    Order.objects.using(alias).create(total=42, customer=ann)
    seen.append(("by email", db.get(email=f"{CANARY.lower()}.ann@example.org").name))
    seen.append(("by ssn in", sorted(db.filter(ssn__in=["900-00-0001", "901-00-0001"]).values_list("name", flat=True))))
    db.filter(ssn="900-00-0002").update(nickname="two")
    people = list(db.filter(ssn__in=["900-00-0000", "900-00-0001"]).order_by("id"))
    for i, p in enumerate(people):
        p.name = f"{CANARY} bulk renamed {i}"
    db.bulk_update(people, ["name"])
    seen.append(("after bulk_update", sorted(db.values_list("name", flat=True))))
    seen.append(("join", list(Order.objects.using(alias).select_related("customer").values_list("customer__name", "total"))))
    seen.append(("iterator", sorted(c.name for c in db.order_by("id").iterator(chunk_size=2))))
    # The admin changelist: a count and the first page ordered by -pk.
    seen.append(("changelist", db.count(), [c.email for c in db.order_by("-pk")[:100]][-1]))
    db.filter(ssn="900-00-0002").delete()
    seen.append(("after delete", db.count()))
    return seen


def introspection(target: str) -> dict:
    conn = connections[ALIAS[target]]
    with conn.cursor() as cur:
        desc = [(c.name, c.type_code, c.internal_size, c.null_ok) for c in conn.introspection.get_table_description(cur, "shop_customer")]
        constraints = conn.introspection.get_constraints(cur, "shop_customer")
    shown = sorted((v["columns"], v["unique"], v["primary_key"], v["index"], v["check"], v["foreign_key"], v["type"] if v["index"] else None)
                   for v in constraints.values())
    return {"description": desc, "constraints": [repr(x) for x in shown]}


def main() -> None:
    suite = Suite("django")
    suite.same("migrate_0001_and_bulk_create", first_schema)
    suite.same("migrate_0002_on_rows", later_migration)
    suite.same("crud_bulk_update_iterator_changelist", crud)
    suite.same("introspection", introspection)
    suite.run("backend_stores_ciphertext", lambda: stored_check("shop_customer"))
    suite.run("no_unapplied_model_changes", lambda: check(call_command("makemigrations", "shop", check=True, dry_run=True, verbosity=0) is None, "makemigrations finds changes"))
    suite.finish()


if __name__ == "__main__":
    main()
