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
it would have got.

The same goes one level further, for the other half. The `models` package's `__init__`
imports all 146 request and response models, and `lance_namespace` (the namespace
interface) imports 108 of them by name, for LanceDB modules that use them only when a
namespace or a remote database is used. So the `models` package is deferred the same
way (LanceDB's own modules import the few models they need from their submodules), and
`lance_namespace` too, with one difference: a name imported from it while it is deferred
is a stand-in (`_LazyName`) that runs the real `__init__` on its first use (a call, an
attribute, `isinstance`, a subclass) and from then on acts as the real object. Measured
on 2 cores: LanceDB's import 0.47-0.67 s before, 0.35-0.49 s after; 16 models loaded
instead of 146. A local index lists its tables from its folder (`IndexStore`), so a
command on a local index never resolves a stand-in.

Any surprise (another layout, a package missing, an import that fails with the
deferrals in place) falls back to a plain `import lancedb`.

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


class _LazyNamesPackage(_DeferredPackage):
    """A deferred package whose names, looked up before its `__init__` ran, are stand-ins."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or not self.__dict__.get("_codeseek_deferred", False):
            return _DeferredPackage.__getattr__(self, name)
        return _LazyName(self, name)


class _LazyName:
    """A name of a deferred package: the real object, from its first use on."""

    __slots__ = ("_codeseek_module", "_codeseek_name", "_codeseek_target")

    def __init__(self, module: _LazyNamesPackage, name: str) -> None:
        object.__setattr__(self, "_codeseek_module", module)
        object.__setattr__(self, "_codeseek_name", name)
        object.__setattr__(self, "_codeseek_target", None)

    def _codeseek_resolve(self) -> Any:
        target = object.__getattribute__(self, "_codeseek_target")
        if target is None:
            module = object.__getattribute__(self, "_codeseek_module")
            target = _DeferredPackage.__getattr__(module, object.__getattribute__(self, "_codeseek_name"))
            object.__setattr__(self, "_codeseek_target", target)
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._codeseek_resolve()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._codeseek_resolve(), name)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self._codeseek_resolve())

    def __subclasscheck__(self, subclass: type) -> bool:
        return issubclass(subclass, self._codeseek_resolve())

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[Any, ...]:
        return (self._codeseek_resolve(),)

    def __repr__(self) -> str:
        return repr(self._codeseek_resolve())


# What is deferred, in this order (a package before its subpackage), and how.
DEFERRED: tuple[tuple[str, type[_DeferredPackage]], ...] = (
    (REST_CLIENT, _DeferredPackage),
    (f"{REST_CLIENT}.models", _DeferredPackage),
    ("lance_namespace", _LazyNamesPackage),
)


def _defer(name: str, kind: type[_DeferredPackage]) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = kind
    module.__dict__["_codeseek_deferred"] = True
    sys.modules[name] = module


def _forget_lancedb() -> None:
    """Drop what a failed import with the deferrals left behind, for a plain import. The
    native extension stays: it cannot be initialised twice in one process."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("lancedb", "lance_namespace", REST_CLIENT) and name != "lancedb._lancedb":
            del sys.modules[name]


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
                for name, kind in DEFERRED:
                    _defer(name, kind)
                with _unchecked_overrides():
                    importlib.import_module("lancedb")
            except Exception as exc:  # any surprise at all: the plain way
                log.debug("importing lancedb the plain way: %s", exc)
                _forget_lancedb()
                with _unchecked_overrides():
                    importlib.import_module("lancedb")
        return sys.modules["lancedb"]
