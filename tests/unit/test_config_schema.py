"""The VS Code extension's settings are generated from config.py's schema and agree with
the server's own validation, so the editor and the server cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codeseek import config_schema
from codeseek.config import Config, apply_settings, to_settings

REPO = Path(__file__).resolve().parents[2]
PROPERTIES = config_schema.vscode_properties()


def test_the_extension_files_are_generated_from_config_py() -> None:
    for path, expected in config_schema.generated_files(REPO).items():
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        assert current == expected, (
            f"{path.relative_to(REPO)} is out of date with server/codeseek/config.py; "
            f"regenerate it with: {config_schema.REGENERATE}"
        )


def test_every_setting_of_config_py_is_contributed_with_a_description() -> None:
    manifest = json.loads((REPO / config_schema.PACKAGE_JSON).read_text(encoding="utf-8"))
    contributed = manifest["contributes"]["configuration"]["properties"]
    nested = to_settings(Config())
    keys = [f"{section}.{name}" for section, values in nested.items() for name in values]
    assert keys == config_schema.setting_keys()
    for key in keys:
        entry = contributed[f"codeseek.{key}"]
        assert len(entry["markdownDescription"]) > 20, key


def test_an_undocumented_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = dict(config_schema.DOCS)
    del docs["store.shared"]
    docs["store.gone"] = config_schema.SettingDoc("A setting config.py no longer has.")
    monkeypatch.setattr(config_schema, "DOCS", docs)
    with pytest.raises(config_schema.SchemaError, match=r"without a description.*store\.shared.*store\.gone"):
        config_schema.vscode_properties()


def test_the_editor_keeps_its_own_settings_in_place() -> None:
    manifest = {
        "contributes": {
            "configuration": {
                "properties": {
                    "codeseek.pythonPath": {"type": "string"},
                    "codeseek.embedder.retired": {"type": "string"},
                    "codeseek.search.limit": {"type": "integer"},
                }
            }
        }
    }
    rendered = json.loads(config_schema.render_package_json(json.dumps(manifest)))
    keys = list(rendered["contributes"]["configuration"]["properties"])
    assert keys[0] == "codeseek.pythonPath" and keys[-1] == "codeseek.search.limit"
    assert "codeseek.embedder.retired" not in keys
    assert keys[1:-1] == [f"codeseek.{key}" for key in config_schema.setting_keys()]


def _accepted(key: str, value: Any) -> bool:
    config = Config()
    return not apply_settings(config, {key: value}, "test")


def _step(entry: dict[str, Any]) -> float:
    return 1 if "integer" in entry["type"] else 0.001


@pytest.mark.parametrize("key", sorted(PROPERTIES))
def test_each_default_is_what_the_server_uses(key: str) -> None:
    entry = PROPERTIES[key]
    dotted = key.removeprefix("codeseek.")
    section, name = dotted.split(".")
    server_default = to_settings(Config())[section][name]
    if entry["default"] in ("", None):
        # An empty text or number is never forwarded: the server's default applies, and
        # the description must say what that is.
        assert server_default is None
        assert "Empty:" in entry["markdownDescription"], key
    else:
        assert entry["default"] == server_default
        assert _accepted(dotted, entry["default"])


@pytest.mark.parametrize("key", sorted(PROPERTIES))
def test_ranges_and_choices_agree_with_the_server(key: str) -> None:
    """What the settings page allows, the server accepts, and the other way round at the
    edges: a bound the server checks but the schema lacks (or the reverse) fails here."""
    entry = PROPERTIES[key]
    dotted = key.removeprefix("codeseek.")
    if "enum" in entry:
        for choice in entry["enum"]:
            assert _accepted(dotted, choice), f"{key}: the server refuses {choice!r}"
        assert not _accepted(dotted, "no-such-choice"), f"{key}: the server accepts values outside the enum"
    elif entry["type"] == "string":
        assert _accepted(dotted, "some-value"), f"{key}: the server refuses text the schema allows"
    kinds = entry["type"] if isinstance(entry["type"], list) else [entry["type"]]
    if "integer" not in kinds and "number" not in kinds:
        return
    step = _step(entry)
    low = entry.get("minimum", entry.get("exclusiveMinimum"))
    if low is None:
        assert _accepted(dotted, -1), f"{key}: the server refuses -1; the schema needs a minimum"
    else:
        inside = low if "minimum" in entry else low + step
        assert _accepted(dotted, inside), f"{key}: the server refuses {inside}, which the schema allows"
        assert not _accepted(dotted, inside - step), f"{key}: the server accepts {inside - step}"
    high = entry.get("maximum")
    if high is None:
        assert _accepted(dotted, 10**9), f"{key}: the server refuses 10**9; the schema needs a maximum"
    else:
        assert _accepted(dotted, high) and not _accepted(dotted, high + step), key


def test_check_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "client-vscode" / "src").mkdir(parents=True)
    package_json = tmp_path / config_schema.PACKAGE_JSON
    package_json.write_text((REPO / config_schema.PACKAGE_JSON).read_text(encoding="utf-8"))
    (tmp_path / "docs").mkdir()
    docs = tmp_path / config_schema.INTERFACES_MD
    docs.write_text(f"# settings\n{config_schema.TABLE_BEGIN}\n{config_schema.TABLE_END}\n", encoding="utf-8")
    assert config_schema.main(["--check", "--root", str(tmp_path)]) == 1
    assert "serverSettingKeys.ts" in capsys.readouterr().err
    assert config_schema.main(["--root", str(tmp_path)]) == 0
    assert config_schema.main(["--check", "--root", str(tmp_path)]) == 0
    assert "| `reranker.candidates` | `50` |" in docs.read_text(encoding="utf-8")
