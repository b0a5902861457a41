"""store/lancedb_import.py: LanceDB without its REST namespace client, which still loads,
whole and once, for code that asks for it. Each test runs in a fresh interpreter: the
point is what a process imports."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, threading
from codeseek.store.lancedb_import import REST_CLIENT, import_lancedb

# Many threads at once, as several folders' stores open in the server.
found = []
threads = [threading.Thread(target=lambda: found.append(import_lancedb())) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert len({id(m) for m in found}) == 1 and found[0].connect
assert REST_CLIENT + ".api" not in sys.modules, "the REST client was built"

# The overrides package's own checking decorator is back for everyone else.
import overrides
from overrides.overrides import override as checked
assert overrides.override is checked

# A local database works without it.
import tempfile
with tempfile.TemporaryDirectory() as tmp:
    db = found[0].connect(tmp)
    db.create_table("t", data=[{"x": 1}])
    assert db.open_table("t").count_rows() == 1
assert REST_CLIENT + ".api" not in sys.modules

# The first lookup of a name the package's __init__ defines runs it, once, for every thread.
classes = []
def lookup():
    from lance_namespace_urllib3_client import ApiClient, TableApi
    classes.append((ApiClient, TableApi))
threads = [threading.Thread(target=lookup) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert len(set(classes)) == 1, classes
import lance_namespace_urllib3_client as client
assert client.__version__ and client.Configuration and REST_CLIENT + ".api" in sys.modules
print("ok")
"""

NAMESPACE_PROBE = """
import sys, tempfile
from codeseek.store.lancedb_import import REST_CLIENT, import_lancedb
lancedb = import_lancedb()
models = [m for m in sys.modules if m.startswith(REST_CLIENT + ".models.")]
assert len(models) < 40, f"{len(models)} namespace models loaded"

# A stand-in from the deferred namespace package acts as the real class once used.
from lancedb.db import ListTablesResponse as stand_in
with tempfile.TemporaryDirectory() as tmp:
    db = lancedb.connect(tmp)
    db.create_table("t", data=[{"x": 1}])
    listed = db.list_tables()
    assert listed.tables == ["t"]
    assert isinstance(listed, stand_in)
import lance_namespace
assert lance_namespace.ListTablesResponse is type(listed)
assert stand_in.model_fields and "ListTablesResponse" in repr(stand_in)
class Sub(lance_namespace.LanceNamespace): pass
assert issubclass(Sub, lance_namespace.LanceNamespace)
print("ok")
"""

BROKEN_PROBE = """
import sys, tempfile
import codeseek.store.lancedb_import as lancedb_import

class Broken(lancedb_import._DeferredPackage):
    def __getattr__(self, name):
        raise RuntimeError("a layout this module does not expect")

lancedb_import.DEFERRED = (("lance_namespace", Broken),)
lancedb = lancedb_import.import_lancedb()
assert type(sys.modules["lance_namespace"]) is type(sys), "not imported the plain way"
with tempfile.TemporaryDirectory() as tmp:
    db = lancedb.connect(tmp)
    db.create_table("t", data=[{"x": 1}])
    assert db.list_tables().tables == ["t"]
print("ok")
"""


def test_lancedb_without_the_rest_client_and_the_client_on_first_use() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_namespace_models_load_on_first_use_and_act_as_the_real_classes() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NAMESPACE_PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_an_import_that_fails_with_the_deferrals_is_done_the_plain_way() -> None:
    done = subprocess.run([sys.executable, "-c", BROKEN_PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
