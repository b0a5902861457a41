"""Workspace discovery on real trees in temporary folders: ignore rules, default skips,
secrets, symlinks, and reading sources for chunking."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from codeseek.errors import ConfigError, WorkspaceError
from codeseek.model import SkippedFile, SkipReason
from codeseek.workspace import discovery
from codeseek.workspace.discovery import (
    REASON_BINARY,
    REASON_GENERATED,
    REASON_MINIFIED,
    REASON_NOT_REGULAR,
    REASON_NOT_TEXT,
    REASON_OUTSIDE,
    REASON_SECRET,
    REASON_SOURCE_MAP,
    REASON_VANISHED,
    DiscoveredFile,
    IgnoreRules,
    SkipFile,
    check_file,
    discover,
    is_ignore_file,
    read_source,
)

T = TypeVar("T")
running_as_root = hasattr(os, "geteuid") and os.geteuid() == 0


def make_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def paths(root: Path, **kwargs) -> list[str]:
    return [f.path for f in discover(root, **kwargs).files]


def skipped(root: Path, **kwargs) -> dict[str, str]:
    return {s.path: s.why for s in discover(root, **kwargs).skipped}


# ---------------------------------------------------------------------------- .gitignore


def test_nested_gitignore_follows_git_semantics(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".gitignore": "*.log\n!keep.log\n/top_only.txt\nout/\ndocs/**/*.tmp\nsealed/\n!sealed/inner.py\n",
            "app.log": "x",
            "keep.log": "x",
            "top_only.txt": "x",
            "lib/top_only.txt": "x",
            "out/bundle.py": "x",
            "lib/out/bundle.py": "x",
            "lib/out_file/out": "a file named like the directory pattern",
            "docs/a/b/notes.tmp": "x",
            "docs/notes.txt": "x",
            "sealed/inner.py": "x",
            "sub/.gitignore": "local.txt\n/anchored.txt\n!important.log\nnested_dir/\n",
            "sub/local.txt": "x",
            "sub/deeper/local.txt": "x",
            "sub/anchored.txt": "x",
            "sub/deeper/anchored.txt": "x",
            "anchored.txt": "x",
            "sub/important.log": "x",
            "sub/other.log": "x",
            "sub/deeper/nested_dir/x.py": "x",
            "nested_dir/x.py": "x",
            "main.py": "x",
        },
    )
    assert paths(tmp_path) == [
        ".gitignore",
        "anchored.txt",  # `/anchored.txt` in sub/.gitignore is relative to sub/
        "docs/notes.txt",
        "keep.log",  # negation
        "lib/out_file/out",  # `out/` matches directories only
        "lib/top_only.txt",  # `/top_only.txt` is anchored at the root
        "main.py",
        "nested_dir/x.py",  # sub/.gitignore's patterns apply only under sub/
        "sub/.gitignore",
        "sub/deeper/anchored.txt",
        "sub/important.log",  # a deeper .gitignore overrides the root's `*.log`
    ]
    # As in git, a file cannot be re-included when its folder is excluded.
    assert "sealed/inner.py" not in paths(tmp_path)


def test_git_info_exclude_is_honoured(tmp_path: Path) -> None:
    make_tree(tmp_path, {".git/info/exclude": "scratch/\n", "scratch/a.py": "x", "b.py": "x"})
    make_tree(tmp_path, {".git/HEAD": "ref: refs/heads/main\n", ".git/objects/ab/cdef": b"\x00"})
    assert paths(tmp_path) == ["b.py"]


def test_gitignore_of_an_enclosing_repository_applies_to_a_subfolder_workspace(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".git/HEAD": "ref: refs/heads/main\n",
            ".gitignore": "*.gen.py\npkg/local/\n",
            "pkg/a.py": "x",
            "pkg/a.gen.py": "x",
            "pkg/local/b.py": "x",
        },
    )
    assert paths(tmp_path / "pkg") == ["a.py"]
    # Opening a folder the repository ignores means the user wants it: its rules don't apply.
    assert paths(tmp_path / "pkg" / "local") == ["b.py"]


def test_invalid_gitignore_lines_are_skipped_like_git_does(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": "!\n*.log\n", "a.log": "x", "a.py": "x"})
    assert paths(tmp_path) == [".gitignore", "a.py"]


# ---------------------------------------------------------------------------- .codeseekignore


def test_codeseekignore_overrides_gitignore_both_ways(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".gitignore": "generated/\n",
            ".codeseekignore": "!generated/\n*.snap\n",
            "generated/api.py": "x",
            "tests/__snapshots__/a.snap": "x",
            "src/.codeseekignore": "fixtures/\n",
            "src/fixtures/big.py": "x",
            "fixtures/kept.py": "x",
        },
    )
    assert paths(tmp_path) == [
        ".codeseekignore",
        ".gitignore",
        "fixtures/kept.py",
        "generated/api.py",
        "src/.codeseekignore",
    ]


def test_codeseekignore_can_bring_back_a_default_excluded_folder(tmp_path: Path) -> None:
    make_tree(tmp_path, {"vendor/lib/lib.go": "x", "main.go": "x"})
    assert paths(tmp_path) == ["main.go"]
    (tmp_path / ".codeseekignore").write_text("!vendor/\n")
    assert paths(tmp_path) == [".codeseekignore", "main.go", "vendor/lib/lib.go"]


# ---------------------------------------------------------------------------- default skips


def test_default_skips_are_silent(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "node_modules/react/index.js": "x",
            ".venv/lib/site.py": "x",
            "src/__pycache__/m.cpython-311.pyc": b"\x00",
            "dist/app.js": "x",
            "target/debug/main.rs": "x",
            "vendor/github.com/x/y.go": "x",
            "pkg.egg-info/PKG-INFO": "x",
            "myenv/pyvenv.cfg": "home = /usr",
            "myenv/lib/python3.11/site-packages/six.py": "x",
            ".hg/store/data": "x",
            "package-lock.json": "{}",
            "web/yarn.lock": "x",
            "Cargo.lock": "x",
            "go.sum": "x",
            "uv.lock": "x",
            "build": "#!/bin/sh\n# a script named like a build folder is still code\n",
            "src/main.py": "x",
        },
    )
    result = discover(tmp_path)
    assert [f.path for f in result.files] == ["build", "src/main.py"]
    assert result.skipped == []


def test_vcs_folders_are_never_re_included(tmp_path: Path) -> None:
    make_tree(tmp_path, {".codeseekignore": "!.git/\n!.git/**\n", ".git/config": "x", "a.py": "x"})
    assert paths(tmp_path) == [".codeseekignore", "a.py"]


def test_files_skipped_with_a_reason(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "logo.png": b"\x89PNG",
            "font.woff2": b"x",
            "lib/libfoo.so.6": b"x",
            "app.min.js": "x",
            "app.js.map": "{}",
            "big.py": "x" * 2_001,
            "ok.py": "x" * 2_000,
        },
    )
    assert skipped(tmp_path, max_file_bytes=2_000) == {
        "app.js.map": REASON_SOURCE_MAP,
        "app.min.js": REASON_MINIFIED,
        "big.py": "too large (2.0 kB > 2.0 kB limit)",
        "font.woff2": REASON_BINARY,
        "lib/libfoo.so.6": REASON_BINARY,
        "logo.png": REASON_BINARY,
    }
    assert paths(tmp_path, max_file_bytes=2_000) == ["ok.py"]


# ---------------------------------------------------------------------------- secrets


def test_secrets_are_listed_and_never_re_included(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".env": "API_KEY=x",
            ".env.local": "API_KEY=x",
            "deploy/prod.env": "API_KEY=x",
            "certs/server.pem": "-----BEGIN PRIVATE KEY-----",
            "certs/server.key": "x",
            "keys/id_rsa": "x",
            "keys/id_ed25519.pub": "x",
            "store.p12": b"x",
            ".npmrc": "//registry.npmjs.org/:_authToken=x",
            "home/.ssh/config": "Host x",
            ".codeseekignore": "!.env\n!*.pem\n",
            "app.py": "x",
        },
    )
    result = discover(tmp_path)
    assert [f.path for f in result.files] == [".codeseekignore", "app.py"]
    assert {s.path for s in result.skipped} == {
        ".env",
        ".env.local",
        ".npmrc",
        "certs/server.key",
        "certs/server.pem",
        "deploy/prod.env",
        "home/.ssh",
        "keys/id_ed25519.pub",
        "keys/id_rsa",
        "store.p12",
    }
    assert {s.reason for s in result.skipped} == {REASON_SECRET}
    rules = IgnoreRules.load(tmp_path)
    assert check_file(tmp_path, ".env", rules, 1_000_000) == SkippedFile(".env", REASON_SECRET)
    assert check_file(tmp_path, "home/.ssh/config", rules, 1_000_000) == SkippedFile(
        "home/.ssh/config", REASON_SECRET
    )


def test_gitignored_secret_is_not_listed(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": ".env\n", ".env": "API_KEY=x", "a.py": "x"})
    assert discover(tmp_path).skipped == []


def test_symlink_cannot_smuggle_in_an_ignored_secret(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": ".env\n", ".env": "API_KEY=x"})
    (tmp_path / "settings.txt").symlink_to(".env")
    assert skipped(tmp_path) == {"settings.txt": REASON_SECRET}
    rules = IgnoreRules.load(tmp_path)
    assert check_file(tmp_path, "settings.txt", rules, 1_000_000) == SkippedFile(
        "settings.txt", REASON_SECRET
    )


# ---------------------------------------------------------------------------- include / exclude


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {"src/a.py": "x", "src/b.ts": "x", "tests/t.py": "x", "README.md": "x", "src/gen/c.py": "x"},
    )
    assert paths(tmp_path, include=["*.py"]) == ["src/a.py", "src/gen/c.py", "tests/t.py"]
    assert paths(tmp_path, exclude=["tests/", "*.md"]) == ["src/a.py", "src/b.ts", "src/gen/c.py"]
    assert paths(tmp_path, include=["src/**"], exclude=["src/gen"]) == ["src/a.py", "src/b.ts"]
    rules = IgnoreRules.load(tmp_path, include=["*.py"], exclude=["tests/"])
    assert rules.is_ignored("src/b.ts")
    assert rules.is_ignored("tests/t.py")
    assert not rules.is_ignored("src/a.py")
    assert not rules.is_ignored("src", is_dir=True)  # include restricts files, never prunes folders


@pytest.mark.parametrize(
    ("include", "exclude", "key"),
    [(["!"], [], "index.include"), ([], ["ok", ""], "index.exclude"), ("*.py", [], "index.include")],
)
def test_bad_globs_raise_a_config_error_naming_the_key(
    tmp_path: Path, include: list[str], exclude: list[str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key):
        discover(tmp_path, include=include, exclude=exclude)


def test_missing_workspace_raises_workspace_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        discover(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError):
        discover(tmp_path / "file")


# ---------------------------------------------------------------------------- symlinks


@pytest.mark.timeout(10)  # a loop that is not detected would walk forever
def test_symlink_loop_terminates_and_lists_each_file_once(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a/x.py": "x", "a/b/y.py": "y"})
    (tmp_path / "a" / "b" / "up").symlink_to("../..", target_is_directory=True)
    (tmp_path / "a" / "self").symlink_to(".", target_is_directory=True)
    (tmp_path / "alias").symlink_to("a", target_is_directory=True)
    assert paths(tmp_path) == ["a/b/y.py", "a/x.py"]


def test_symlink_into_an_ignored_folder_is_followed_once(tmp_path: Path) -> None:
    make_tree(tmp_path, {"node_modules/mylib/index.js": "x"})
    (tmp_path / "lib").symlink_to("node_modules/mylib", target_is_directory=True)
    (tmp_path / "lib2").symlink_to("node_modules/mylib", target_is_directory=True)
    assert paths(tmp_path) == ["lib/index.js"]


def test_symlinks_out_of_the_workspace_are_not_followed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "ws", {"a.py": "x"})
    outside = make_tree(tmp_path / "outside", {"secret_project/b.py": "x", "c.py": "x"})
    (root / "linked_dir").symlink_to(outside / "secret_project", target_is_directory=True)
    (root / "linked_file.py").symlink_to(outside / "c.py")
    result = discover(root)
    assert [f.path for f in result.files] == ["a.py"]
    assert {s.path: s.reason for s in result.skipped} == {
        "linked_dir": REASON_OUTSIDE,
        "linked_file.py": REASON_OUTSIDE,
    }
    rules = IgnoreRules.load(root)
    assert check_file(root, "linked_dir/b.py", rules, 1_000_000) == SkippedFile(
        "linked_dir/b.py", REASON_OUTSIDE
    )


def test_broken_symlink_is_skipped_silently(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a.py": "x"})
    (tmp_path / "dangling.py").symlink_to("missing.py")
    (tmp_path / "dangling_dir").symlink_to("missing_dir", target_is_directory=True)
    result = discover(tmp_path)
    assert [f.path for f in result.files] == ["a.py"]
    assert result.skipped == []


def test_file_symlink_inside_workspace_is_not_indexed_twice(tmp_path: Path) -> None:
    make_tree(tmp_path, {"docs/README.md": "x"})
    (tmp_path / "README.md").symlink_to("docs/README.md")
    assert paths(tmp_path) == ["docs/README.md"]
    assert check_file(tmp_path, "README.md", IgnoreRules.load(tmp_path), 1_000_000) is None


# ---------------------------------------------------------------------------- robustness


def call_without_privileges(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` with file permissions in force: root ignores them, so as root it runs
    in a forked child that has switched to the unprivileged `nobody` user."""
    if not running_as_root:
        return fn(*args)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            try:
                payload = pickle.dumps((True, fn(*args)))
            except Exception as exc:
                payload = pickle.dumps((False, exc))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and payload, "the unprivileged child failed"
    ok, value = pickle.loads(payload)
    if not ok:
        raise value
    return value


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder the `nobody` user can enter (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="codeseek-test-"))
    path.chmod(0o755)
    yield path
    for folder, dirs, _ in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    shutil.rmtree(path)


def test_unreadable_directory_is_listed(shared_tmp: Path) -> None:
    make_tree(shared_tmp, {"locked/a.py": "x", "b.py": "x"})
    (shared_tmp / "b.py").chmod(0o644)
    (shared_tmp / "locked").chmod(0)
    result = call_without_privileges(discover, shared_tmp)
    assert [f.path for f in result.files] == ["b.py"]
    assert result.skipped == [SkippedFile("locked", SkipReason.UNREADABLE_DIR, "permission denied")]


def test_files_and_folders_deleted_during_the_walk_never_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, {"keep.py": "x", "gone.py": "x", "gone_dir/a.py": "x"})
    real_scandir = os.scandir

    class ListingThenDeleting:
        """Lists the root, then deletes entries before the walker looks at them,
        as a concurrent `git checkout` would."""

        def __init__(self, path: str) -> None:
            self._it = real_scandir(path)
            self._entries = list(self._it)
            if os.path.samefile(path, tmp_path):
                (tmp_path / "gone.py").unlink()
                (tmp_path / "gone_dir" / "a.py").unlink()
                (tmp_path / "gone_dir").rmdir()

        def __enter__(self) -> list[os.DirEntry[str]]:
            return self._entries

        def __exit__(self, *exc: object) -> None:
            self._it.close()

    monkeypatch.setattr(discovery.os, "scandir", ListingThenDeleting)
    result = discover(tmp_path)
    assert [f.path for f in result.files] == ["keep.py"]
    assert result.skipped == []


def test_rediscovering_2000_files_is_fast(tmp_path: Path) -> None:
    files = {f"pkg{i % 40}/sub{i % 7}/mod_{i}.py": "x = 1\n" for i in range(2_000)}
    make_tree(tmp_path, {**files, ".gitignore": "*.log\n__generated__/\n!keep.log\n"})
    discover(tmp_path)  # warm the OS caches as a re-discovery would find them
    started = time.perf_counter()
    result = discover(tmp_path)
    elapsed = time.perf_counter() - started
    assert len(result.files) == 2_001
    # Typically ~40 ms; the bound is loose so a busy CI machine does not flake.
    assert elapsed < 1.0


# ---------------------------------------------------------------------------- one file at a time


def test_check_file_agrees_with_discovery(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".gitignore": "*.log\nout/\n",
            "a.py": "print('a')\n",
            "x.log": "x",
            "out/b.py": "x",
            "node_modules/c.js": "x",
            "big.py": "x" * 50,
            "sub/d.py": "x",
        },
    )
    rules = IgnoreRules.load(tmp_path)
    found = check_file(tmp_path, "a.py", rules, 40)
    assert isinstance(found, DiscoveredFile)
    assert (found.path, found.abs_path, found.size) == ("a.py", tmp_path / "a.py", 11)
    assert check_file(tmp_path, "./sub/d.py", rules, 40) == discover(tmp_path).files[-1]
    assert check_file(tmp_path, "x.log", rules, 40) is None
    assert check_file(tmp_path, "out/b.py", rules, 40) is None
    assert check_file(tmp_path, "node_modules/c.js", rules, 40) is None
    assert check_file(tmp_path, "missing.py", rules, 40) is None
    assert check_file(tmp_path, "sub", rules, 40) is None
    assert check_file(tmp_path, "../etc/passwd", rules, 40) is None
    big = check_file(tmp_path, "big.py", rules, 40)
    assert isinstance(big, SkippedFile) and big.why.startswith("too large")


def test_rules_follow_edits_to_ignore_files(tmp_path: Path) -> None:
    make_tree(tmp_path, {"sub/a.tmp": "x"})
    rules = IgnoreRules.load(tmp_path)
    assert not rules.is_ignored("sub/a.tmp")
    (tmp_path / "sub" / ".gitignore").write_text("*.tmp\n")
    assert rules.is_ignored("sub/a.tmp")
    (tmp_path / ".codeseekignore").write_text("!a.tmp\n")
    assert not rules.is_ignored("sub/a.tmp")


def test_is_ignored_checks_every_folder_above(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": "out/\n!out/keep.py\n", "env/pyvenv.cfg": "x"})
    rules = IgnoreRules.load(tmp_path)
    assert rules.is_ignored("out/keep.py")
    assert rules.is_ignored("a/node_modules/b/c.js")
    assert rules.is_ignored(".git/index")
    assert rules.is_ignored("env/lib/six.py")
    assert not rules.is_ignored("a/b/c.js")
    assert is_ignore_file("a/.gitignore")
    assert is_ignore_file(".codeseekignore")
    assert is_ignore_file(".git/info/exclude")
    assert not is_ignore_file("a/gitignore.py")


# ---------------------------------------------------------------------------- read_source


def test_read_source_keeps_text_exactly(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"def f():\r\n    return 'caf\xc3\xa9'\r\n\tpass\x0c\n")
    assert read_source(path, 1_000) == "def f():\r\n    return 'café'\r\n\tpass\x0c\n"
    path.write_bytes(b"\xef\xbb\xbfx = 1\n")
    assert read_source(path, 1_000) == "x = 1\n"
    path.write_bytes("x = 'é'\n".encode("utf-16"))
    assert read_source(path, 1_000) == "x = 'é'\n"


def test_read_source_of_an_empty_file_is_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_bytes(b"")
    assert read_source(tmp_path / "empty.py", 1_000) == ""


def test_read_source_decodes_rare_invalid_bytes_and_skips_mostly_invalid(tmp_path: Path) -> None:
    latin1 = b"# Auteur: Ren\xe9\n" + b"def f():\n    return 1\n" * 20
    (tmp_path / "latin1.py").write_bytes(latin1)
    text = read_source(tmp_path / "latin1.py", 100_000)
    assert text.startswith("# Auteur: Ren\ufffd\n")
    assert text.count("\n") == latin1.count(b"\n")  # lines still map
    (tmp_path / "gbk.txt").write_bytes(bytes(range(0x80, 0x100)) * 20 + b"\n")
    with pytest.raises(SkipFile) as caught:
        read_source(tmp_path / "gbk.txt", 100_000)
    assert caught.value.reason == REASON_NOT_TEXT


@pytest.mark.parametrize(
    "content",
    [b"\x7fELF\x02\x01\x01\x00\x00\x00", b"text\x00with a NUL", bytes(range(1, 9)) * 100 + b"abc"],
)
def test_read_source_skips_binary_content(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "blob.txt").write_bytes(content)
    with pytest.raises(SkipFile) as caught:
        read_source(tmp_path / "blob.txt", 100_000)
    assert caught.value.reason == REASON_BINARY


def test_read_source_skips_a_10_mb_minified_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.js"
    bundle.write_bytes(b"/*! lib v1 */\n" + b"var a=function(b){return b+1};" * 350_000)
    assert bundle.stat().st_size > 10_000_000
    with pytest.raises(SkipFile) as caught:
        read_source(bundle, 20_000_000)
    assert caught.value.reason == REASON_MINIFIED
    with pytest.raises(SkipFile) as caught:
        read_source(bundle, 1_000_000)
    assert str(caught.value) == "too large (10.5 MB > 1.0 MB limit)"


def test_long_prose_lines_are_not_minified(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(("A paragraph written on a single line, as Markdown allows. " * 8 + "\n\n") * 40)
    assert read_source(doc, 1_000_000).startswith("A paragraph")


@pytest.mark.parametrize(
    "header",
    [
        "// Code generated by protoc-gen-go. DO NOT EDIT.\n",
        "# This file is automatically @generated by a tool.\n",
        "/* eslint-disable */\n// This file was automatically generated by openapi-generator\n",
        "# -*- coding: utf-8 -*-\n# Generated by the protocol buffer compiler.  DO NOT EDIT!\n",
    ],
)
def test_read_source_skips_generated_files(tmp_path: Path, header: str) -> None:
    (tmp_path / "gen.py").write_text(header + "x = 1\n" * 20)
    with pytest.raises(SkipFile) as caught:
        read_source(tmp_path / "gen.py", 100_000)
    assert caught.value.reason == REASON_GENERATED


def test_generated_marker_far_from_the_top_is_ordinary_text(tmp_path: Path) -> None:
    source = "x = 1\n" * 30 + "MARKER = 'DO NOT EDIT'  # a string a generator detector looks for\n"
    (tmp_path / "detector.py").write_text("# do not edit by hand, please\n" + source)
    assert "DO NOT EDIT" in read_source(tmp_path / "detector.py", 100_000)


def test_read_source_reports_vanished_and_odd_files(tmp_path: Path) -> None:
    with pytest.raises(SkipFile) as caught:
        read_source(tmp_path / "deleted.py", 1_000)
    assert caught.value.reason == REASON_VANISHED
    with pytest.raises(SkipFile) as caught:
        read_source(tmp_path, 1_000)
    assert caught.value.reason == REASON_NOT_REGULAR
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(SkipFile) as caught:  # must not block waiting for a writer
            read_source(tmp_path / "pipe", 1_000)
        assert caught.value.reason == REASON_NOT_REGULAR


def test_read_source_reports_unreadable_files(shared_tmp: Path) -> None:
    path = shared_tmp / "private.py"
    path.write_text("x = 1\n")
    path.chmod(0)
    with pytest.raises(SkipFile) as caught:
        call_without_privileges(read_source, path, 1_000)
    assert str(caught.value) == "unreadable (permission denied)"
