"""The VS Code extension's wire types (client-vscode/src/protocol.ts), read as field lists,
so tests can hold the real server's JSON against them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PROTOCOL_TS = Path(__file__).resolve().parents[2] / "client-vscode" / "src" / "protocol.ts"

_INTERFACE = re.compile(
    r"^export interface (\w+)(?:\s+extends\s+([\w\s,]+?))?\s*\{\n(.*?)^\}", re.MULTILINE | re.DOTALL
)
_FIELD = re.compile(r"^  (\w+)(\?)?:", re.MULTILINE)


def interfaces(path: Path = PROTOCOL_TS) -> dict[str, dict[str, bool]]:
    """Each interface's fields, `name -> optional`, with those of the interfaces it extends."""
    text = path.read_text(encoding="utf-8")
    own: dict[str, dict[str, bool]] = {}
    parents: dict[str, list[str]] = {}
    for match in _INTERFACE.finditer(text):
        name, extends, body = match.groups()
        own[name] = {field: bool(optional) for field, optional in _FIELD.findall(body)}
        parents[name] = [p.strip() for p in (extends or "").split(",") if p.strip()]

    def resolved(name: str) -> dict[str, bool]:
        fields: dict[str, bool] = {}
        for parent in parents[name]:
            fields.update(resolved(parent))
        fields.update(own[name])
        return fields

    return {name: resolved(name) for name in own}


def shape_problems(value: Any, interface: str, declared: dict[str, dict[str, bool]]) -> list[str]:
    """How the JSON object `value` differs from `interface`: fields the server sends that
    protocol.ts does not declare, and required fields it declares that the server left out."""
    if not isinstance(value, dict):
        return [f"{interface}: expected an object, got {value!r}"]
    fields = declared[interface]
    problems = [
        f"{interface}.{key}: the server sends it but client-vscode/src/protocol.ts does not declare it"
        for key in value
        if key not in fields
    ]
    problems += [
        f"{interface}.{key}: protocol.ts requires it but the server did not send it"
        for key, optional in fields.items()
        if not optional and key not in value
    ]
    return problems
