"""Which files of a workspace are indexed, and why the others are not.

Three layers decide whether a path is ignored, each able to override the one before:
codeseek's defaults (dependency and build folders, lock files), git's ignore files
(`.git/info/exclude` and a `.gitignore` at any level, with git's own semantics), and
`.codeseekignore` files (same syntax, any level), so a user can re-include with `!`
what git ignores. The `index.exclude` globs then exclude, and `index.include` (when
given) keeps only matching files. Version-control folders are never walked and secrets
are never indexed, whatever any of those say.

Discovery looks only at names and sizes, so re-discovering an unchanged tree stays
cheap; content checks (binary, minified, generated, encoding) happen in `read_source`
when a file is actually read for chunking.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pathspec

from codeseek.errors import CodeseekError, ConfigError, WorkspaceError
from codeseek.model import SkippedFile, SkipReason

logger = logging.getLogger(__name__)

GITIGNORE = ".gitignore"
CODESEEKIGNORE = ".codeseekignore"
GIT_INFO_EXCLUDE = ".git/info/exclude"

# Reasons a user sees for a skipped file (see `SkipReason`).
REASON_SECRET = SkipReason.SECRET
REASON_BINARY = SkipReason.BINARY
REASON_MINIFIED = SkipReason.MINIFIED
REASON_SOURCE_MAP = SkipReason.SOURCE_MAP
REASON_GENERATED = SkipReason.GENERATED
REASON_NOT_TEXT = SkipReason.NOT_TEXT
REASON_OUTSIDE = SkipReason.OUTSIDE
REASON_VANISHED = SkipReason.VANISHED
REASON_NOT_REGULAR = SkipReason.NOT_REGULAR

# Never walked and never re-included: version-control internals and codeseek's own index.
ALWAYS_EXCLUDED_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", ".jj", ".pijul", ".codeseek"})

# Dependencies, build output and tool caches: noise in search results and often huge.
# A `.codeseekignore` line such as `!vendor/` brings one back.
DEFAULT_EXCLUDED_DIRS = frozenset(
    {
        # JavaScript / TypeScript
        "node_modules",
        "bower_components",
        "jspm_packages",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".angular",
        ".parcel-cache",
        ".turbo",
        ".yarn",
        ".pnpm-store",
        # Python
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".ipynb_checkpoints",
        ".eggs",
        "htmlcov",
        # Build output of many toolchains (Rust and Maven `target`, Gradle, SwiftPM, Elixir, ...)
        "dist",
        "build",
        "target",
        ".gradle",
        ".build",
        "_build",
        ".dart_tool",
        ".stack-work",
        "elm-stuff",
        ".terraform",
        ".serverless",
        # Vendored dependencies (Go modules, Composer, Bundler) and Apple dependency managers
        "vendor",
        "Pods",
        "Carthage",
        "DerivedData",
        # Generic caches and editor state
        ".cache",
        ".idea",
    }
)
DEFAULT_EXCLUDED_DIR_SUFFIXES = (".egg-info",)

# Files that mark a directory as a Python or conda environment, whatever it is called.
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")

# Machine-written dependency pins: large, never what a code search is looking for.
LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lock",
        "bun.lockb",
        "deno.lock",
        "Cargo.lock",
        "poetry.lock",
        "uv.lock",
        "Pipfile.lock",
        "pdm.lock",
        "pixi.lock",
        "conda-lock.yml",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "go.work.sum",
        "mix.lock",
        "pubspec.lock",
        "Podfile.lock",
        "Package.resolved",
        "packages.lock.json",
        "paket.lock",
        "flake.lock",
        "gradle.lockfile",
        "MODULE.bazel.lock",
    }
)

# Secrets are skipped with a reason even when an ignore file says otherwise: an
# embedding or a preview of a private key must never land in an index on disk.
SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".azure", ".kube"})
SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    ".envrc",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "*.kdbx",
    "*.tfstate",
    "*.tfstate.backup",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".npmrc",
    ".yarnrc.yml",
    ".pypirc",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    ".dockercfg",
    "credentials",
    "credentials.json",
    "client_secret*.json",
    "service-account*.json",
    "secrets.json",
    "secrets.yml",
    "secrets.yaml",
    "secrets.toml",
    "master.key",
)
_SECRET_NAME = re.compile("|".join(fnmatch.translate(p) for p in SECRET_FILE_PATTERNS), re.IGNORECASE)

BINARY_EXTENSIONS = frozenset(
    {
        # images
        *(".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".icns", ".webp", ".tif", ".tiff"),
        *(".psd", ".avif", ".heic", ".xcf", ".raw"),
        # audio and video
        *(".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".flac", ".aac", ".avi", ".mov", ".mkv", ".webm"),
        # archives and packages
        *(".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".lz4"),
        *(".jar", ".war", ".ear", ".aar", ".whl", ".egg", ".nupkg", ".deb", ".rpm", ".dmg", ".iso", ".apk"),
        # compiled code and objects
        *(".o", ".obj", ".a", ".lib", ".so", ".dylib", ".dll", ".exe", ".bin", ".class", ".pyc", ".pyo"),
        *(".pyd", ".wasm", ".elc", ".beam", ".dex", ".pdb", ".idb", ".ilk", ".out"),
        # fonts
        *(".ttf", ".otf", ".woff", ".woff2", ".eot"),
        # documents
        *(".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp"),
        # data, databases and model weights
        *(".sqlite", ".sqlite3", ".db", ".parquet", ".arrow", ".feather", ".lance", ".npy", ".npz"),
        *(".pkl", ".pickle", ".h5", ".hdf5", ".onnx", ".pt", ".pth", ".safetensors", ".ckpt", ".tflite"),
        *(".gguf", ".mdb", ".dat"),
    }
)
BINARY_FILE_NAMES = frozenset({".DS_Store", "Thumbs.db"})
_VERSIONED_LIBRARY = re.compile(r"\.so(?:\.\d+)+$")  # libfoo.so.6, libbar.so.5.0.0
MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".min.cjs", ".min.css")


class SkipFile(CodeseekError):
    """A file is not indexed, for a reason worth showing to the user."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        super().__init__(f"{reason.value} ({detail})" if detail else reason.value)
        self.reason = reason
        self.detail = detail

    def skipped(self, path: str) -> SkippedFile:
        return SkippedFile(path, self.reason, self.detail)

    def __reduce__(self) -> tuple[type[SkipFile], tuple[SkipReason, str]]:
        return SkipFile, (self.reason, self.detail)


def _unreadable(exc: OSError) -> SkipFile:
    if isinstance(exc, PermissionError):
        return SkipFile(SkipReason.UNREADABLE, "permission denied")
    return SkipFile(SkipReason.UNREADABLE, str(exc.strerror or exc))


@dataclass(frozen=True, slots=True)
class DiscoveredFile:
    path: str  # relative to the workspace root, forward slashes
    abs_path: Path
    size: int
    mtime_ns: int


@dataclass
class Discovery:
    files: list[DiscoveredFile] = field(default_factory=list)  # sorted by path
    skipped: list[SkippedFile] = field(default_factory=list)  # sorted by path


def is_ignore_file(rel_path: str) -> bool:
    """Whether a change to this path can change which files are ignored (so a rescan is due)."""
    return rel_path == GIT_INFO_EXCLUDE or rel_path.rpartition("/")[2] in (GITIGNORE, CODESEEKIGNORE)


# --------------------------------------------------------------------------- ignore rules


@dataclass(frozen=True, slots=True)
class _Layer:
    """One ignore file's patterns and where they apply.

    Patterns of a nested `.gitignore` are relative to its directory, so that prefix is
    stripped from a path before matching; an ignore file above the workspace root (the
    root is inside a larger repository) sees the root's path prepended instead.
    """

    spec: pathspec.GitIgnoreSpec
    strip: str = ""
    prepend: str = ""

    def verdict(self, probe: str) -> bool | None:
        """True: ignored, False: re-included by a `!` pattern, None: no pattern matches."""
        return self.spec.check_file(self.prepend + probe[len(self.strip) :]).include


@dataclass(frozen=True, slots=True)
class _DirLayers:
    signature: tuple[tuple[int, int, int] | None, ...]
    git: _Layer | None
    seek: _Layer | None


_NO_LAYERS: tuple[_Layer, ...] = ()


class IgnoreRules:
    """Decides whether a workspace path is ignored; safe to share between threads.

    Ignore files are read lazily and re-read when their size or mtime changes, so a
    long-lived instance (the watcher's, the language server's) follows edits to them.
    """

    def __init__(
        self,
        root: Path,
        outer: Sequence[_Layer],
        include: pathspec.GitIgnoreSpec | None,
        exclude: pathspec.GitIgnoreSpec | None,
    ) -> None:
        self.root = root
        self._root_str = os.fspath(root)
        self._outer = tuple(outer)
        self._include = include
        self._exclude = exclude
        self._dirs: dict[str, _DirLayers] = {}

    @classmethod
    def load(cls, root: Path, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> IgnoreRules:
        """Rules for the workspace at `root`; a bad `include`/`exclude` glob raises ConfigError."""
        root = Path(os.path.abspath(root))
        if not root.is_dir():
            raise WorkspaceError(f"workspace {root} does not exist or is not a directory")
        return cls(
            root,
            _outer_layers(root),
            _config_spec("index.include", include),
            _config_spec("index.exclude", exclude),
        )

    def refresh(self) -> None:
        """Forget every ignore file read so far (they are re-read on next use)."""
        self._dirs = {}

    def is_ignored(self, rel_path: str, is_dir: bool = False) -> bool:
        """Whether `rel_path` (relative to the root, `/`-separated) or any folder above it is ignored.

        As in git, a path inside an ignored folder stays ignored even if a pattern would
        re-include it. Secrets are not "ignored" here: `check_file` reports them.
        """
        rel = _normalise(rel_path)
        if rel is None:
            return True
        if not rel:
            return False
        parts = rel.split("/")
        git: list[_Layer] = list(self._outer)
        seek: list[_Layer] = []
        self._push_dir_layers("", git, seek)
        current = ""
        for part in parts[:-1]:
            current = f"{current}/{part}" if current else part
            if self._decide(current, True, git, seek) or self._is_environment(current):
                return True
            self._push_dir_layers(current, git, seek)
        return self._decide(rel, is_dir, git, seek)

    def _decide(self, rel: str, is_dir: bool, git: Sequence[_Layer], seek: Sequence[_Layer]) -> bool:
        """Whether one entry is ignored, given the layers of the folders above it.

        The caller has already established that no folder above `rel` is ignored.
        """
        name = rel.rpartition("/")[2]
        if is_dir and name in ALWAYS_EXCLUDED_DIRS:
            return True
        if is_dir:
            ignored = name in DEFAULT_EXCLUDED_DIRS or name.endswith(DEFAULT_EXCLUDED_DIR_SUFFIXES)
        else:
            ignored = name in LOCK_FILES
        probe = rel + "/" if is_dir else rel
        # Later layers override earlier ones, so the deepest matching ignore file wins as in
        # git, and `.codeseekignore` overrides all of git's.
        for layer in (*git, *seek):
            verdict = layer.verdict(probe)
            if verdict is not None:
                ignored = verdict
        if ignored:
            return True
        if self._exclude is not None and self._exclude.match_file(probe):
            return True
        return not is_dir and self._include is not None and not self._include.match_file(rel)

    def _dir_layers(self, rel_dir: str) -> tuple[_Layer | None, _Layer | None]:
        """The `.gitignore` and `.codeseekignore` layers of one folder (None where it has none)."""
        base = os.path.join(self._root_str, rel_dir) if rel_dir else self._root_str
        exclude_file = os.path.join(base, GIT_INFO_EXCLUDE)
        signature = (
            _signature(os.path.join(base, GITIGNORE)),
            _signature(os.path.join(base, CODESEEKIGNORE)),
            None if rel_dir else _signature(exclude_file),
        )
        cached = self._dirs.get(rel_dir)
        if cached is not None and cached.signature == signature:
            return cached.git, cached.seek
        strip = rel_dir + "/" if rel_dir else ""
        git_lines: list[str] = []
        if signature[2] is not None:
            # info/exclude has lower precedence than the root .gitignore, so it comes first.
            git_lines += _read_lines(exclude_file)
        if signature[0] is not None:
            git_lines += _read_lines(os.path.join(base, GITIGNORE))
        git = _Layer(_compile(git_lines, base), strip) if git_lines else None
        seek_lines = _read_lines(os.path.join(base, CODESEEKIGNORE)) if signature[1] is not None else []
        seek = _Layer(_compile(seek_lines, base), strip) if seek_lines else None
        self._dirs[rel_dir] = _DirLayers(signature, git, seek)
        return git, seek

    def _push_dir_layers(self, rel_dir: str, git: list[_Layer], seek: list[_Layer]) -> None:
        git_layer, seek_layer = self._dir_layers(rel_dir)
        if git_layer is not None:
            git.append(git_layer)
        if seek_layer is not None:
            seek.append(seek_layer)

    def _is_environment(self, rel_dir: str) -> bool:
        base = os.path.join(self._root_str, rel_dir)
        return any(os.path.lexists(os.path.join(base, marker)) for marker in ENVIRONMENT_MARKERS)


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError as exc:
        logger.warning("cannot read ignore file %s: %s", path, exc.strerror or exc)
        return []


def _compile(lines: Sequence[str], source: str) -> pathspec.GitIgnoreSpec:
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:
        pass
    # Git skips a line it cannot parse and keeps the rest; do the same.
    kept = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except ValueError:
            logger.warning("ignoring invalid pattern %r in %s", line, source)
        else:
            kept.append(line)
    return pathspec.GitIgnoreSpec.from_lines(kept)


def _config_spec(key: str, patterns: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    if isinstance(patterns, str):
        raise ConfigError(f"{key} must be a list of glob patterns, not a string")
    lines = [p.strip() for p in patterns if isinstance(p, str) and p.strip()]
    if len(lines) != len(patterns):
        raise ConfigError(f"{key} must contain only non-empty glob patterns")
    if not lines:
        return None
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except ValueError:
            raise ConfigError(f"{key}: invalid glob pattern {line!r}") from None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _outer_layers(root: Path) -> list[_Layer]:
    """Ignore files of a git repository that contains `root` in a sub-folder.

    A workspace opened on a sub-folder of a repository should ignore what git ignores
    there. If those rules ignore the workspace folder itself, the user opened it on
    purpose, so they are dropped.
    """
    real = Path(os.path.realpath(root))
    if (real / ".git").exists():
        return []
    top = next((p for p in real.parents if (p / ".git").exists()), None)
    if top is None:
        return []
    steps = real.relative_to(top).parts
    found: list[tuple[int, pathspec.GitIgnoreSpec]] = []  # (depth below the top, patterns)
    for depth in range(len(steps)):
        folder = top.joinpath(*steps[:depth])
        lines = []
        if depth == 0 and (top / GIT_INFO_EXCLUDE).is_file():
            lines += _read_lines(str(top / GIT_INFO_EXCLUDE))
        if (folder / GITIGNORE).is_file():
            lines += _read_lines(str(folder / GITIGNORE))
        if lines:
            found.append((depth, _compile(lines, str(folder))))
    for end in range(1, len(steps) + 1):
        ignored = False
        for depth, spec in found:
            if depth < end:
                verdict = spec.check_file("/".join(steps[depth:end]) + "/").include
                ignored = ignored if verdict is None else verdict
        if ignored:
            return []
    return [_Layer(spec, prepend="/".join(steps[depth:]) + "/") for depth, spec in found]


def _normalise(rel_path: str) -> str | None:
    """`rel_path` in forward-slash form without `./`; None if it leaves the workspace."""
    rel = rel_path.replace(os.sep, "/")
    if os.altsep:
        rel = rel.replace(os.altsep, "/")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or os.path.isabs(rel_path):
        return None
    return "/".join(parts)


# --------------------------------------------------------------------------- classification


def _too_large(size: int, max_bytes: int) -> SkipFile:
    return SkipFile(SkipReason.TOO_LARGE, f"{_format_bytes(size)} > {_format_bytes(max_bytes)} limit")


def _format_bytes(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.1f} kB"
    return f"{n} B"


def _name_reason(name: str) -> SkipReason | None:
    """Why a file is skipped judging by its name alone, or None."""
    if _SECRET_NAME.match(name):
        return REASON_SECRET
    lower = name.lower()
    if lower.endswith(MINIFIED_SUFFIXES):
        return REASON_MINIFIED
    ext = os.path.splitext(lower)[1]
    if ext == ".map":
        return REASON_SOURCE_MAP
    if ext in BINARY_EXTENSIONS or name in BINARY_FILE_NAMES or _VERSIONED_LIBRARY.search(lower):
        return REASON_BINARY
    return None


def _contained(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _rel_of(real: str, root_real: str) -> str:
    return os.path.relpath(real, root_real).replace(os.sep, "/")


# --------------------------------------------------------------------------- the walk


@dataclass(slots=True)
class _Folder:
    rel: str
    abs: str
    real: str
    git: list[_Layer]
    seek: list[_Layer]


class _Walker:
    def __init__(self, rules: IgnoreRules, max_file_bytes: int) -> None:
        self.rules = rules
        self.max_file_bytes = max_file_bytes
        self.root_real = os.path.realpath(rules.root)
        self.files: list[DiscoveredFile] = []
        self.skipped: list[SkippedFile] = []
        # Real paths of walked folders: a folder reached again through a symlink (or a
        # symlink loop) is not walked twice.
        self.visited: set[str] = {self.root_real}
        self.pending: list[_Folder] = []
        self.links: list[_Folder] = []

    def run(self) -> Discovery:
        root = os.fspath(self.rules.root)
        self.pending.append(_Folder("", root, self.root_real, [*self.rules._outer], []))
        # Symlinked folders wait until every real folder has been walked, so a file is
        # listed under its real path rather than under a link that happens to sort first.
        while self.pending or self.links:
            if self.pending:
                self._walk(self.pending.pop())
                continue
            # Shortest, then alphabetically first, link path wins: the same on every run.
            self.links.sort(key=lambda f: (f.rel.count("/"), f.rel))
            link = self.links.pop(0)
            if link.real not in self.visited:
                self.visited.add(link.real)
                self._walk(link)
        self.files.sort(key=lambda f: f.path)
        self.skipped.sort(key=lambda s: s.path)
        return Discovery(self.files, self.skipped)

    def _walk(self, folder: _Folder) -> None:
        try:
            with os.scandir(folder.abs) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            if not folder.rel:
                raise WorkspaceError(f"workspace {folder.abs} does not exist or is not a directory") from None
            return  # deleted during the walk
        except PermissionError:
            if not folder.rel:
                raise WorkspaceError(f"workspace {folder.abs} is not readable (permission denied)") from None
            self.skipped.append(SkippedFile(folder.rel, SkipReason.UNREADABLE_DIR, "permission denied"))
            return
        except OSError as exc:
            if not folder.rel:
                raise WorkspaceError(f"cannot read workspace {folder.abs}: {exc.strerror or exc}") from None
            self.skipped.append(SkippedFile(folder.rel, SkipReason.UNREADABLE_DIR, str(exc.strerror or exc)))
            return
        if folder.rel and any(e.name in ENVIRONMENT_MARKERS for e in entries):
            return  # a virtualenv or conda environment, whatever its name

        git_layer, seek_layer = self.rules._dir_layers(folder.rel)
        git = [*folder.git, git_layer] if git_layer is not None else folder.git
        seek = [*folder.seek, seek_layer] if seek_layer is not None else folder.seek
        decide = self.rules._decide
        prefix = folder.rel + "/" if folder.rel else ""

        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_symlink():
                    self._link(entry, rel, git, seek)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name in SECRET_DIRS:
                        self.skipped.append(SkippedFile(rel, REASON_SECRET))
                    elif not decide(rel, True, git, seek):
                        real = os.path.join(folder.real, entry.name)
                        self.visited.add(real)
                        self.pending.append(_Folder(rel, entry.path, real, git, seek))
                elif entry.is_file(follow_symlinks=False) and not decide(rel, False, git, seek):
                    self._file(rel, entry.name, entry.path, entry.stat(follow_symlinks=False))
            except FileNotFoundError:
                continue  # deleted during the walk
            except OSError as exc:
                self.skipped.append(_unreadable(exc).skipped(rel))

    def _file(self, rel: str, name: str, abs_path: str, st: os.stat_result) -> None:
        reason = _name_reason(name)
        if reason is not None:
            self.skipped.append(SkippedFile(rel, reason))
        elif st.st_size > self.max_file_bytes:
            self.skipped.append(_too_large(st.st_size, self.max_file_bytes).skipped(rel))
        else:
            self.files.append(DiscoveredFile(rel, Path(abs_path), st.st_size, st.st_mtime_ns))

    def _link(self, entry: os.DirEntry[str], rel: str, git: list[_Layer], seek: list[_Layer]) -> None:
        try:
            real = os.path.realpath(entry.path, strict=True)
            st = os.stat(real)
        except (OSError, RuntimeError):
            return  # broken or looping symlink: nothing to index
        if not _contained(real, self.root_real):
            self.skipped.append(SkippedFile(rel, REASON_OUTSIDE))
            return
        if stat.S_ISDIR(st.st_mode):
            if entry.name in SECRET_DIRS or os.path.basename(real) in SECRET_DIRS:
                self.skipped.append(SkippedFile(rel, REASON_SECRET))
            elif not self.rules._decide(rel, True, git, seek):
                self.links.append(_Folder(rel, entry.path, real, git, seek))
            return
        if not stat.S_ISREG(st.st_mode) or self.rules._decide(rel, False, git, seek):
            return
        verdict = _linked_file(rel, real, self.root_real, self.rules)
        if verdict is None:
            return
        if verdict:
            self.skipped.append(SkippedFile(rel, verdict))
        else:
            self._file(rel, entry.name, entry.path, st)


def _linked_file(rel: str, real: str, root_real: str, rules: IgnoreRules) -> SkipReason | Literal[""] | None:
    """For a file reached through a symlink inside the workspace: a skip reason, "" to
    index it under `rel`, or None when its target is indexed under its own path."""
    target_rel = _rel_of(real, root_real)
    if target_rel == rel:
        return ""
    # A link must not smuggle a secret in under an innocent name.
    if _SECRET_NAME.match(os.path.basename(real)) or any(
        part in SECRET_DIRS for part in target_rel.split("/")[:-1]
    ):
        return REASON_SECRET
    if not rules.is_ignored(target_rel):
        return None
    return ""


def discover(
    root: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_bytes: int = 1_000_000,
    rules: IgnoreRules | None = None,
) -> Discovery:
    """Every file of the workspace that should be indexed, and those skipped with a reason.

    Pass `rules` to reuse a long-lived IgnoreRules (then `include`/`exclude` are unused).
    Raises WorkspaceError if `root` is not a readable directory and ConfigError for a bad glob.
    """
    if rules is None:
        rules = IgnoreRules.load(root, include, exclude)
    return _Walker(rules, max_file_bytes).run()


def check_file(
    root: Path, rel_path: str, rules: IgnoreRules, max_file_bytes: int
) -> DiscoveredFile | SkippedFile | None:
    """What discovery would say about one file, after a save or a watcher event.

    None means "not indexed, nothing to report": ignored, gone, a folder, or a link whose
    target is indexed under its own path. The indexer drops None paths from the index.
    """
    rel = _normalise(rel_path)
    if not rel or rules.is_ignored(rel):
        return None
    if any(part in SECRET_DIRS for part in rel.split("/")[:-1]):
        return SkippedFile(rel, REASON_SECRET)
    root_real = os.path.realpath(root)
    abs_path = os.path.join(os.path.abspath(root), *rel.split("/"))
    try:
        lst = os.lstat(abs_path)
        real = os.path.realpath(abs_path, strict=True)
        st = os.stat(real)
    except (FileNotFoundError, NotADirectoryError, RuntimeError):
        return None
    except OSError as exc:
        return _unreadable(exc).skipped(rel)
    if not stat.S_ISREG(st.st_mode):
        return None
    if real != os.path.join(root_real, *rel.split("/")):
        # Reached through a symlink (the file itself or a folder above it).
        if not _contained(real, root_real):
            return SkippedFile(rel, REASON_OUTSIDE)
        verdict: SkipReason | Literal[""] | None
        if stat.S_ISLNK(lst.st_mode):
            verdict = _linked_file(rel, real, root_real, rules)
        else:
            # Discovery walks a symlinked folder only if its target is not walked already.
            target_rel = _rel_of(real, root_real)
            verdict = "" if rules.is_ignored(target_rel) else None
        if verdict is None:
            return None
        if verdict:
            return SkippedFile(rel, verdict)
    reason = _name_reason(rel.rpartition("/")[2])
    if reason is not None:
        return SkippedFile(rel, reason)
    if st.st_size > max_file_bytes:
        return _too_large(st.st_size, max_file_bytes).skipped(rel)
    return DiscoveredFile(rel, Path(abs_path), st.st_size, st.st_mtime_ns)


# --------------------------------------------------------------------------- reading content

_SNIFF_BYTES = 8192
# Bytes that appear in text: printable ASCII, all of 0x80-0xFF (UTF-8 sequences), and the
# whitespace/escape controls real source files contain (tab, newlines, form feed, ESC).
_TEXT_BYTES = bytes([*range(0x20, 0x7F), *range(0x80, 0x100), 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B])
_MINIFIED_MIN_BYTES = 4096
_MINIFIED_AVG_LINE = 1000  # hand-written code averages well under 100 characters a line
_INVALID_UTF8_MAX_RATIO = 0.05
_GENERATED_HEAD_LINES = 10
# Markers generators write at the top of a file: Go's "Code generated ... DO NOT EDIT.",
# protoc's "DO NOT EDIT!", the "@generated" tag Meta's tools and many others use, and the
# common English phrasings. Upper-case "DO NOT EDIT" only, to spare prose that says it softly.
_GENERATED_MARKER = re.compile(
    rb"@generated\b|\bDO NOT EDIT\b|"
    rb"(?i:\b(?:this|the) (?:file|code) (?:is|was|has been) (?:auto-?generated|(?:automatically )?generated)\b)"
)


def read_source(abs_path: Path, max_bytes: int) -> str:
    """The text of a file to chunk, or SkipFile with the reason it is not indexed.

    Line endings and everything else are kept as they are, so line numbers map exactly;
    only a UTF-8 byte-order mark is dropped (editors hide it too) and rare invalid bytes
    (a Latin-1 comment) are replaced with U+FFFD.
    """
    data = _read_bytes(abs_path, max_bytes)
    if not data:
        return ""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 with a byte-order mark (Windows tools still write it): NUL bytes are expected.
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise SkipFile(REASON_NOT_TEXT) from None
        _check_text_shape(text.encode("utf-8"))
        return text
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head or len(head.translate(None, _TEXT_BYTES)) * 100 > len(head):
        raise SkipFile(REASON_BINARY)
    _check_text_shape(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - data.count("\ufffd".encode())
    if invalid > len(text) * _INVALID_UTF8_MAX_RATIO:
        raise SkipFile(REASON_NOT_TEXT)
    return text


def _check_text_shape(data: bytes) -> None:
    if len(data) >= _MINIFIED_MIN_BYTES and len(data) / (data.count(b"\n") + 1) > _MINIFIED_AVG_LINE:
        raise SkipFile(REASON_MINIFIED)
    head_lines = data[:_SNIFF_BYTES].split(b"\n", _GENERATED_HEAD_LINES)[:_GENERATED_HEAD_LINES]
    if any(_GENERATED_MARKER.search(line) for line in head_lines):
        raise SkipFile(REASON_GENERATED)


def _read_bytes(abs_path: Path, max_bytes: int) -> bytes:
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    )
    try:
        # O_NONBLOCK so that a FIFO someone left in the tree cannot hang the indexer.
        fd = os.open(abs_path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise SkipFile(REASON_VANISHED) from None
    except IsADirectoryError:
        raise SkipFile(REASON_NOT_REGULAR) from None
    except OSError as exc:
        raise _unreadable(exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SkipFile(REASON_NOT_REGULAR)
        if st.st_size > max_bytes:
            raise _too_large(st.st_size, max_bytes)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise _unreadable(exc) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew since the stat
        raise _too_large(len(data), max_bytes)
    return data
