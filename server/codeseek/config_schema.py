"""codeseek's settings as an editor shows them, generated from the one schema in config.py.

config.py owns the keys, their types and their defaults. This module adds only what a
settings page needs and a dataclass cannot say: a description for users, labels for
choices, ranges, and a scope. From both it builds VS Code's `contributes.configuration`
entries and the list of keys the extension forwards, so the editor cannot drift from the
server: a key added to config.py without a description here is an error, and
tests/unit/test_config_schema.py fails until the extension's files are regenerated with

    PYTHONPATH=server python -m codeseek.config_schema

(`--check` only reports whether they are current).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeseek.config import (
    DEFAULT_RERANKER_MODELS,
    PROVIDERS,
    RERANKER_PROVIDERS,
    VOYAGE_MODELS,
    Config,
    camel_case,
)

REGENERATE = "PYTHONPATH=server python -m codeseek.config_schema"
PACKAGE_JSON = Path("client-vscode/package.json")
SETTING_KEYS_TS = Path("client-vscode/src/serverSettingKeys.ts")
INTERFACES_MD = Path("docs/interfaces.md")
TABLE_BEGIN = "<!-- settings table: generated from server/codeseek/config.py; do not edit -->"
TABLE_END = "<!-- end of settings table -->"


class SchemaError(Exception):
    """config.py and the descriptions here disagree (a key without a description, ...)."""


@dataclass(frozen=True)
class SettingDoc:
    """What the editor shows for one setting, beyond its type and default."""

    description: str  # Markdown; `#codeseek.key#` links to another setting
    enum: tuple[str, ...] = ()
    enum_descriptions: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    # VS Code's scope; None is its default ("window"). Paths to programs and folders on
    # this machine are "machine-overridable": a synced user setting must not carry them
    # to another machine, but a workspace may still set them.
    scope: str | None = None


_RERANKER_DEFAULTS = ", ".join(f"`{model}` for {name}" for name, model in DEFAULT_RERANKER_MODELS.items())

DOCS: dict[str, SettingDoc] = {
    "embedder.provider": SettingDoc(
        "Which embedding provider turns code and queries into vectors.",
        enum=PROVIDERS,
        enum_descriptions=(
            "SGLang when configured, else Voyage when a key is set, else the bundled local model.",
            "A model run in the server process (the bundled MiniLM unless a model is set).",
            "An SGLang embedding server, already running or launched by codeseek.",
            'Voyage AI\'s code embeddings (needs an API key: run "codeseek: Set Voyage API Key").',
        ),
    ),
    "embedder.model": SettingDoc(
        "Model id or local path for the chosen provider. Empty: the provider's default."
    ),
    "embedder.dimensions": SettingDoc(
        "Output size of the vectors (Matryoshka truncation for Qwen3, `output_dimension` for Voyage). "
        "Empty: the model's full size.",
        minimum=1,
        maximum=65536,
    ),
    "embedder.queryInstruction": SettingDoc(
        "Task instruction put before each query for instruction-tuned models (Qwen3 embeddings); "
        "other models ignore it. An empty string sends the bare query, with no instruction."
    ),
    "embedder.device": SettingDoc(
        "Where the local model runs: `auto` (a CUDA GPU when PyTorch sees one, else the CPU), "
        "`cpu`, `cuda` or `cuda:N`."
    ),
    "embedder.batchSize": SettingDoc(
        "How many chunks the local model embeds at once. Empty: 8 on a CPU, 64 on a GPU.",
        minimum=1,
        maximum=4096,
    ),
    "sglang.url": SettingDoc(
        "URL of an SGLang server that is already running, e.g. `http://127.0.0.1:30000`. "
        "Empty: launch one when the provider is `sglang` (see `#codeseek.sglang.launch#`)."
    ),
    "sglang.urls": SettingDoc(
        "Several SGLang servers that are already running (or one router in front of them), "
        "to spread embedding requests over."
    ),
    "sglang.launch": SettingDoc(
        "Launch and supervise a local SGLang server when `#codeseek.sglang.url#` is empty."
    ),
    "sglang.modelPath": SettingDoc("Model the launched SGLang server loads."),
    "sglang.port": SettingDoc(
        "Port of the launched SGLang server. Empty: a free port.", minimum=1, maximum=65535
    ),
    "sglang.python": SettingDoc(
        "Python interpreter that has SGLang installed. Empty: the interpreter running codeseek.",
        scope="machine-overridable",
    ),
    "sglang.extraArgs": SettingDoc("Extra command-line arguments for the launched SGLang server."),
    "sglang.dtype": SettingDoc(
        "Data type of the launched server's weights (its `--dtype`), e.g. `bfloat16` or `float16`. "
        "Empty: SGLang's choice."
    ),
    "sglang.startupTimeout": SettingDoc(
        "Seconds a launched SGLang server may take to become ready (loading a large model takes minutes).",
        exclusive_minimum=0,
    ),
    "voyage.model": SettingDoc(
        "Voyage model. The API key is kept in VS Code's secret storage: run **codeseek: Set Voyage API Key**.",
        enum=VOYAGE_MODELS,
    ),
    "voyage.baseUrl": SettingDoc(
        "Another endpoint for the Voyage API (a company proxy, a regional endpoint). Empty: Voyage's own."
    ),
    "index.include": SettingDoc("Glob patterns of files to index. Empty: every file that is not ignored."),
    "index.exclude": SettingDoc(
        "Glob patterns of files not to index (`.gitignore` and `.codeseekignore` are honoured too)."
    ),
    "index.maxFileBytes": SettingDoc("Files larger than this many bytes are skipped.", minimum=1),
    "store.path": SettingDoc(
        "Where the index lives: a folder, or an object-store URI (`s3://`, `gs://`, `az://`). "
        "Empty: a per-workspace folder in the user's cache directory.",
        scope="machine-overridable",
    ),
    "store.allowHttp": SettingDoc(
        "Allow a plain-HTTP object-store endpoint (on-premises S3-compatible storage). "
        "Off: only HTTPS endpoints."
    ),
    "store.shared": SettingDoc(
        "URI of a team index to search at the same time, with a local overlay for the files whose "
        "content differs from it. Empty: only the local index."
    ),
    "hover.related": SettingDoc('Add a "Related code" section with links to hovers.'),
    "reranker.provider": SettingDoc(
        "A second stage that reorders the best first-stage results with a cross-encoder.",
        enum=RERANKER_PROVIDERS,
        enum_descriptions=(
            "No reranking: results in the first stage's order.",
            "A reranking model on an SGLang server, already running or launched by codeseek.",
            'Voyage AI\'s reranker (needs an API key: run "codeseek: Set Voyage API Key").',
        ),
    ),
    "reranker.model": SettingDoc(f"Reranking model. Empty: the provider's default ({_RERANKER_DEFAULTS})."),
    "reranker.url": SettingDoc(
        "URL of a reranking server (SGLang) that is already running. Empty: launch one."
    ),
    "reranker.candidates": SettingDoc(
        "How many first-stage results the reranker reorders.", minimum=1, maximum=1000
    ),
    "reranker.timeout": SettingDoc(
        "Seconds a rerank may take; past it, search keeps the first-stage order and says so.",
        exclusive_minimum=0,
    ),
}


def _sections() -> list[tuple[str, type]]:
    return [(f.name, typing.get_type_hints(Config)[f.name]) for f in dataclasses.fields(Config)]


def _settings() -> list[tuple[str, Any, Any]]:
    """(dotted camelCase key, annotation, default) for every setting, in config.py's order."""
    out = []
    for section_name, cls in _sections():
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            key = f"{camel_case(section_name)}.{camel_case(f.name)}"
            out.append((key, hints[f.name], getattr(defaults, f.name)))
    return out


def setting_keys() -> list[str]:
    """Every key the server reads, dotted camelCase (`embedder.queryInstruction`)."""
    return [key for key, _, _ in _settings()]


def server_sections() -> set[str]:
    return {camel_case(name) for name, _ in _sections()}


def _type_and_default(key: str, annotation: Any, default: Any) -> dict[str, Any]:
    """JSON-schema type and the default an editor shows. An unset text setting is `""`
    and an unset number `null`: the extension forwards neither, so the server's own
    default (or codeseek.toml) applies."""
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        return {"type": "array", "items": {"type": "string"}, "default": list(default)}
    names = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if annotation not in names:
        raise SchemaError(f"{key}: no editor type for {annotation!r}; teach config_schema.py about it")
    kind = names[annotation]
    if default is None:
        if kind == "string":
            return {"type": "string", "default": ""}
        return {"type": [kind, "null"], "default": None}
    if nullable and kind != "string":
        return {"type": [kind, "null"], "default": default}
    return {"type": kind, "default": default}


def vscode_properties() -> dict[str, dict[str, Any]]:
    """`contributes.configuration.properties` entries for every server setting."""
    keys = setting_keys()
    undocumented = [key for key in keys if key not in DOCS]
    stale = [key for key in DOCS if key not in keys]
    if undocumented or stale:
        parts = []
        if undocumented:
            parts.append(f"settings without a description in config_schema.DOCS: {', '.join(undocumented)}")
        if stale:
            parts.append(f"descriptions of settings config.py no longer has: {', '.join(stale)}")
        raise SchemaError("; ".join(parts))
    properties: dict[str, dict[str, Any]] = {}
    for key, annotation, default in _settings():
        doc = DOCS[key]
        entry = _type_and_default(key, annotation, default)
        if doc.enum:
            entry["enum"] = list(doc.enum)
            if doc.enum_descriptions:
                if len(doc.enum_descriptions) != len(doc.enum):
                    raise SchemaError(
                        f"{key}: {len(doc.enum)} choices but {len(doc.enum_descriptions)} labels"
                    )
                entry["enumDescriptions"] = list(doc.enum_descriptions)
        for name, value in (
            ("minimum", doc.minimum),
            ("maximum", doc.maximum),
            ("exclusiveMinimum", doc.exclusive_minimum),
        ):
            if value is not None:
                entry[name] = value
        if doc.scope:
            entry["scope"] = doc.scope
        entry["markdownDescription"] = doc.description
        properties[f"codeseek.{key}"] = entry
    return properties


def render_package_json(text: str) -> str:
    """The extension's package.json with its server settings regenerated. The editor's own
    settings (`pythonPath`, `search.*`, ...) stay as written, in place; the server's are
    replaced as one block where the first of them was."""
    manifest = json.loads(text)
    properties: dict[str, Any] = manifest["contributes"]["configuration"]["properties"]
    sections = server_sections()
    generated = vscode_properties()
    merged: dict[str, Any] = {}
    for key, value in properties.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[1] in sections:
            if not any(k in merged for k in generated):
                merged.update(generated)
            continue
        merged[key] = value
    if not any(k in merged for k in generated):
        merged.update(generated)
    manifest["contributes"]["configuration"]["properties"] = merged
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def render_setting_keys_ts() -> str:
    lines = [
        f"// Generated from server/codeseek/config.py by `{REGENERATE}`: do not edit.",
        "",
        "/** Settings the server reads, as dotted camelCase keys under `codeseek.`. */",
        "export const SERVER_SETTING_KEYS = [",
        *(f"  '{key}'," for key in setting_keys()),
        "] as const;",
        "",
    ]
    return "\n".join(lines)


def render_settings_table(text: str) -> str:
    """docs/interfaces.md with its settings table (between the markers) regenerated."""
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise SchemaError(f"{INTERFACES_MD} has no settings table markers")
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key, entry in vscode_properties().items():
        default = entry.get("default")
        shown = "" if default in ("", None, []) else f"`{json.dumps(default)}`"
        description = " ".join(entry["markdownDescription"].split()).replace("|", "\\|")
        description = re.sub(r"`?#codeseek\.([\w.]+)#`?", r"`\1`", description)
        if entry.get("enum"):
            description += " One of: " + ", ".join(f"`{v}`" for v in entry["enum"]) + "."
        rows.append(f"| `{key.removeprefix('codeseek.')}` | {shown} | {description} |")
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    return head + TABLE_BEGIN + "\n" + "\n".join(rows) + "\n" + TABLE_END + tail


def generated_files(root: Path) -> dict[Path, str]:
    """What the extension's generated files should hold, by path under `root`."""
    package_json = root / PACKAGE_JSON
    if not package_json.is_file():
        raise SchemaError(f"{package_json} not found: run this from a codeseek source checkout")
    interfaces = root / INTERFACES_MD
    return {
        package_json: render_package_json(package_json.read_text(encoding="utf-8")),
        root / SETTING_KEYS_TS: render_setting_keys_ts(),
        interfaces: render_settings_table(interfaces.read_text(encoding="utf-8")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codeseek.config_schema",
        description="Regenerate the VS Code extension's settings from server/codeseek/config.py.",
    )
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parents[2], help="the source checkout"
    )
    args = parser.parse_args(argv)
    try:
        files = generated_files(args.root)
    except SchemaError as exc:
        print(f"codeseek.config_schema: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text("utf-8") != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path} (regenerate: {REGENERATE})", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
