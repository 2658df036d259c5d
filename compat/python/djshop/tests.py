"""What `manage.py test` runs in the Django suite (orm_django_test.py), in the test database the
runner created through the endpoint under test. With COMPAT_DJANGO_BACKEND_CHECK set (the proxy's
run), a test also checks through BACKEND_* that the test database stores ciphertext."""
import os

from django.db import connection
from django.test import TestCase

from djshop.models import Customer, Order
from orm_common import CANARY, backend_rows

EMAIL = f"{CANARY.lower()}.runner@example.org"


class ShopTests(TestCase):
    def test_a_runs_in_the_test_database(self):
        name = connection.settings_dict["NAME"]
        self.assertTrue(name.startswith("test_"), name)
        with connection.cursor() as cur:
            cur.execute("SELECT current_database()")
            self.assertEqual(cur.fetchone()[0], name)

    def test_b_crud_through_the_orm(self):
        ann = Customer.objects.create(name=f"{CANARY} Runner", email=EMAIL, ssn="955-00-0001", nickname="r")
        Order.objects.create(total=3, customer=ann)
        self.assertEqual(Customer.objects.get(email=EMAIL).name, f"{CANARY} Runner")
        self.assertEqual(Order.objects.select_related("customer").get().customer.ssn, "955-00-0001")
        if os.environ.get("COMPAT_DJANGO_BACKEND_CHECK"):
            os.environ["BACKEND_DATABASE"] = connection.settings_dict["NAME"]
            # The test's transaction is not committed: the backend sees the table, not the row.
            stored_check_columns()

    def test_c_each_test_is_rolled_back(self):
        self.assertEqual(Customer.objects.count(), 0)


def stored_check_columns() -> None:
    types = dict(backend_rows("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'shop_customer'"))
    for col in ("name", "email", "ssn"):
        assert types.get(col) == "bytea", f"shop_customer.{col} is stored as {types.get(col)} in the test database"
    assert "email__bidx" in types, "no blind index in the test database"

