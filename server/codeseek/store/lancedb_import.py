"""Importing LanceDB without its REST client.

`import lancedb` pulls in `lance_namespace`, which imports the package
`lance_namespace_urllib3_client`; that package's `__init__` builds the REST API classes
of the remote namespace (hundreds of pydantic `validate_call` wrappers), about half of
LanceDB's import time (0.5-1 s on 2 cores), on every command-line call. A local index
never talks to a REST namespace: what LanceDB needs from that package is its `models`
subpackage (plain pydantic models).

So before LanceDB is imported, the package's module is created from its real spec but
its `__init__` is not run: its submodules (`models`, `api_client`, ...) import as usual
from the real folder, and the first access to a name the `__init__` defines runs that
`__init__` then, under a lock, so code that does use the REST client gets exactly what
it would have got. Any surprise (another layout, the package missing) falls back to a
plain `import lancedb`.

On Python before 3.12 LanceDB marks its 105 overriding methods with the `overrides`
package's `@override`, which checks each against its base classes by disassembling the
class body's bytecode: 0.1-0.2 s of CPU per import here, a development-time check of
LanceDB's own code. While LanceDB imports, that decorator is swapped for one that only
sets the `__override__` mark that `EnforceOverrides` looks for (what `typing.override`
does on 3.12+, where LanceDB uses it instead); it is restored right after.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from typing import Any

from codeseek.memory import limit_arenas

log = logging.getLogger(__name__)

REST_CLIENT = "lance_namespace_urllib3_client"

_import_lock = threading.Lock()
# Held while a deferred `__init__` runs. Re-entrant: the `__init__` itself may look up
# a name on its own package before defining it.
_init_lock = threading.RLock()


class _DeferredPackage(types.ModuleType):
    """A package whose `__init__` runs on the first lookup of a name it defines."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name not in ("__all__", "__version__"):
            # Probes for optional hooks (inspect's __wrapped__, ...) are not uses.
            raise AttributeError(name)
        spec: ModuleSpec = object.__getattribute__(self, "__spec__")
        with _init_lock:
            if self.__dict__.get("_codeseek_deferred", False):
                self.__dict__["_codeseek_deferred"] = False
                log.debug("running the deferred __init__ of %s for %r", spec.name, name)
                assert spec.loader is not None
                spec.loader.exec_module(self)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {spec.name!r} has no attribute {name!r}") from None


def _defer_rest_client() -> None:
    if REST_CLIENT in sys.modules:
        return
    spec = importlib.util.find_spec(REST_CLIENT)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredPackage
    module.__dict__["_codeseek_deferred"] = True
    sys.modules[REST_CLIENT] = module


def _mark_override(method: Any = None, **_checks: Any) -> Any:
    """`overrides.override` without its checks: `@override` and `@override(...)`."""
    if method is None:
        return _mark_override
    method.__override__ = True
    return method


@contextlib.contextmanager
def _unchecked_overrides() -> Iterator[None]:
    if sys.version_info >= (3, 12) or importlib.util.find_spec("overrides") is None:
        yield
        return
    import overrides

    checked = overrides.override
    overrides.override = _mark_override
    try:
        yield
    finally:
        overrides.override = checked


def import_lancedb() -> Any:
    """The `lancedb` module, imported once per process without building the REST client
    (see the module docstring). Thread-safe: the first caller imports, the others wait."""
    # Always under the lock: a module in sys.modules may still be half imported by
    # another thread.
    with _import_lock:
        if "lancedb" not in sys.modules:
            # Before LanceDB's runtime starts its worker threads, each of which would
            # otherwise get a malloc arena of its own (see codeseek.memory).
            limit_arenas()
            try:
                _defer_rest_client()
            except (ImportError, ValueError, AttributeError, TypeError) as exc:
                log.debug("importing lancedb the plain way: %s", exc)
            with _unchecked_overrides():
                importlib.import_module("lancedb")
        return sys.modules["lancedb"]
