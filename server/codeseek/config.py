"""One settings schema for every way of configuring codeseek.

Layers, last wins: defaults, `codeseek.toml` at the workspace root, LSP
`initializationOptions` / `workspace/didChangeConfiguration`, command-line flags.
Keys are written camelCase in TOML and LSP settings (`embedder.queryInstruction`)
and snake_case in Python; both spellings are accepted everywhere. A bad key or value
is reported as a `ConfigProblem` naming the key, and the rest still applies.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILENAME = "codeseek.toml"

DEFAULT_QUERY_INSTRUCTION = (
    "Given a question or description of what code does, retrieve the source code that implements it"
)
PROVIDERS = ("auto", "local", "sglang", "voyage")
RERANKER_PROVIDERS = ("none", "sglang", "voyage")
DEFAULT_RERANKER_MODELS = {"sglang": "Qwen/Qwen3-Reranker-4B", "voyage": "rerank-2.5"}
VOYAGE_MODELS = ("voyage-code-3", "voyage-code-2")
OBJECT_STORE_SCHEMES = ("s3", "gs", "az")


@dataclass
class EmbedderConfig:
    provider: str = "auto"
    model: str | None = None  # None: the provider's default
    dimensions: int | None = None  # None: the model's full size
    query_instruction: str = DEFAULT_QUERY_INSTRUCTION
    device: str = "auto"  # local provider: auto | cpu | cuda | cuda:N
    batch_size: int | None = None  # None: 8 on a CPU (cache-friendly), 64 on a GPU


@dataclass
class SglangConfig:
    url: str | None = None  # an SGLang server that is already running
    urls: list[str] = field(default_factory=list)  # several running servers (or one router)
    launch: bool = True  # launch and supervise one when none is given by url
    model_path: str = "Qwen/Qwen3-Embedding-4B"
    port: int | None = None  # None: a free port
    python: str | None = None  # None: the interpreter running codeseek
    extra_args: list[str] = field(default_factory=list)
    dtype: str | None = None
    startup_timeout: float = 600.0


@dataclass
class VoyageConfig:
    model: str = "voyage-code-3"
    base_url: str | None = None


@dataclass
class IndexConfig:
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    max_file_bytes: int = 1_000_000


@dataclass
class StoreConfig:
    path: str | None = None  # a folder, or an object-store URI (s3://, gs://, az://)
    allow_http: bool = False  # a plain-HTTP object-store endpoint (on-premises S3-compatible storage)
    shared: str | None = None  # URI of a team index searched at once, with a local overlay


@dataclass
class RerankerConfig:
    provider: str = "none"  # none | sglang | voyage
    model: str | None = None  # None: the provider's default (DEFAULT_RERANKER_MODELS)
    url: str | None = None  # a running reranking server (SGLang); None: launch one
    candidates: int = 50  # first-stage hits the reranker reorders
    timeout: float = 2.0  # seconds; past it, search keeps the first-stage order and says so


@dataclass
class HoverConfig:
    related: bool = True


@dataclass
class Config:
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    sglang: SglangConfig = field(default_factory=SglangConfig)
    voyage: VoyageConfig = field(default_factory=VoyageConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    hover: HoverConfig = field(default_factory=HoverConfig)
    reranker: RerankerConfig = field(default_factory=RerankerConfig)

    def copy(self) -> Config:
        return copy.deepcopy(self)


@dataclass(frozen=True)
class ConfigProblem:
    key: str  # dotted camelCase, as the user wrote it
    message: str
    source: str  # "codeseek.toml", "initializationOptions", "--dims", ...

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}"


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, annotation: Any) -> Any:
    """Convert a settings value to the annotated type, or raise ValueError saying why."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0])
    if origin is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        return list(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ValueError("expected true or false")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ValueError("expected an integer")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    raise ValueError(f"unsupported setting type {annotation}")  # pragma: no cover


def _validate(section: str, name: str, value: Any) -> str | None:
    """Range and choice checks; returns a message or None."""
    if value is None:
        return None
    key = f"{section}.{name}"
    if key == "embedder.provider" and value not in PROVIDERS:
        return f"must be one of {', '.join(PROVIDERS)}, not {value!r}"
    if key == "embedder.dimensions" and not (1 <= value <= 65536):
        return "must be a positive number of dimensions"
    if key == "embedder.batch_size" and not (1 <= value <= 4096):
        return "must be between 1 and 4096"
    if key == "voyage.model" and value not in VOYAGE_MODELS:
        return f"must be one of {', '.join(VOYAGE_MODELS)}, not {value!r}"
    if key == "index.max_file_bytes" and value < 1:
        return "must be a positive number of bytes"
    if key == "sglang.port" and not (1 <= value <= 65535):
        return "must be a TCP port (1-65535)"
    if key == "sglang.startup_timeout" and value <= 0:
        return "must be a positive number of seconds"
    if key == "reranker.provider" and value not in RERANKER_PROVIDERS:
        return f"must be one of {', '.join(RERANKER_PROVIDERS)}, not {value!r}"
    if key == "reranker.candidates" and not (1 <= value <= 1000):
        return "must be between 1 and 1000"
    if key == "reranker.timeout" and value <= 0:
        return "must be a positive number of seconds"
    if key in ("store.path", "store.shared") and "://" in value:
        scheme = value.split("://", 1)[0].lower()
        if scheme not in OBJECT_STORE_SCHEMES:
            return f"object-store URIs start with {', '.join(s + '://' for s in OBJECT_STORE_SCHEMES)}, not {scheme}://"
    return None


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"embedder": {"provider": "x"}}` and `{"embedder.provider": "x"}` both become
    `{"embedder.provider": "x"}`."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def apply_settings(config: Config, settings: Mapping[str, Any], source: str) -> list[ConfigProblem]:
    """Apply a (nested or dotted) mapping of settings in place; return the problems.

    Every valid key applies even when others are wrong."""
    problems: list[ConfigProblem] = []
    sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for dotted, value in flatten(settings).items():
        parts = dotted.split(".")
        if len(parts) != 2:
            problems.append(ConfigProblem(dotted, "unknown setting", source))
            continue
        section_name, name = snake_case(parts[0]), snake_case(parts[1])
        section = sections.get(section_name)
        if section is None:
            problems.append(ConfigProblem(dotted, "unknown setting", source))
            continue
        types_ = _field_types(type(section))
        if name not in types_:
            problems.append(ConfigProblem(dotted, "unknown setting", source))
            continue
        try:
            coerced = _coerce(value, types_[name])
        except ValueError as exc:
            problems.append(ConfigProblem(dotted, f"{exc} (got {value!r})", source))
            continue
        message = _validate(section_name, name, coerced)
        if message:
            problems.append(ConfigProblem(dotted, message, source))
            continue
        setattr(section, name, coerced)
    return problems


def read_toml(root: Path) -> tuple[dict[str, Any], list[ConfigProblem]]:
    path = root / CONFIG_FILENAME
    if not path.is_file():
        return {}, []
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return {}, [ConfigProblem(CONFIG_FILENAME, f"cannot be read: {exc}", str(path))]


def load_config(
    root: Path | None,
    *layers: tuple[Mapping[str, Any], str],
) -> tuple[Config, list[ConfigProblem]]:
    """Defaults, then `codeseek.toml` under `root`, then each `(settings, source)` layer."""
    config = Config()
    problems: list[ConfigProblem] = []
    if root is not None:
        data, read_problems = read_toml(root)
        problems += read_problems
        problems += apply_settings(config, data, CONFIG_FILENAME)
    for settings, source in layers:
        problems += apply_settings(config, settings, source)
    return config, problems


def to_settings(config: Config) -> dict[str, Any]:
    """The config as nested camelCase settings (what `initializationOptions` carries)."""
    out: dict[str, Any] = {}
    for section in dataclasses.fields(config):
        values = dataclasses.asdict(getattr(config, section.name))
        out[camel_case(section.name)] = {camel_case(k): v for k, v in values.items()}
    return out
