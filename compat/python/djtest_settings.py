"""Settings of `manage.py test` in the Django suite (orm_django_test.py): the `default` database is
the endpoint named by COMPAT_DJANGO_TARGET (CLARUS: the proxy, ORACLE: PostgreSQL directly); the
test runner creates `test_<name>` beside it, runs djshop/tests.py there, and drops it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from orm_common import endpoint  # noqa: E402

_e = endpoint(os.environ["COMPAT_DJANGO_TARGET"])
_options = {"sslmode": _e["sslmode"], **({"sslrootcert": _e["sslrootcert"]} if _e["sslrootcert"] else {})}
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": _e["dbname"], "USER": _e["user"], "PASSWORD": _e["password"],
                         "HOST": _e["host"], "PORT": _e["port"], "OPTIONS": _options}}
INSTALLED_APPS = ["djshop.apps.ShopConfig"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SECRET_KEY = "clarus-compat"
