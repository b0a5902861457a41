"""Credentials inside indexed files, masked before chunking.

Secret *files* (`.env`, keys) never reach the indexer (see workspace/discovery.py); this
module handles the credentials that sit inside ordinary sources: an AWS key pair in
`settings.py`, a Stripe live key in `keys.js`. `mask_secrets` replaces each secret's value
with a placeholder that names its kind (`<redacted:aws-access-key-id>`) and keeps the rest
of the line, so the variable name stays searchable and every line keeps its number: chunks
map 1:1 to file lines, and only the text *inside* a line changes.

Detection is Yelp's detect-secrets: its plugins (the regexes and entropy limits of its
pre-commit hook) and its heuristic filters (UUIDs, templates, `${VAR}`, sequential strings,
`user_id`-like names, `pragma: allowlist secret`), plus a few plugins in its own format for
key formats it does not know yet (OpenAI project keys, Anthropic, GitHub fine-grained
tokens, Google API keys, Hugging Face, Azure SAS keys, encrypted PKCS#8 keys), and one for
random values assigned to names like `token` or `auth`, which its keyword plugin does not
list. Its network verification is never called and its global settings are never touched.
Left out: its public-IP plugin (an address is no credential), its bare high-entropy plugins
(they flag every checksum and test vector in a code base), and its IBM Cloud, IBM COS,
SoftLayer and Cloudant plugins, whose assignment regexes backtrack cubically on a run of
spaces (2,000 spaces after a "key": 35 s on one line) and whose `name = value` cases the
keyword and credential-name detectors cover.

Speed: run line by line, detect-secrets manages about 0.07 MB/s, far too slow for a step
that every indexed byte passes through. Each plugin here comes with *triggers*, byte patterns
with a literal start that `re` finds at hundreds of MB/s, of which every line the plugin can
flag holds at least one, and an optional per-line *gate* (the shape its value must have).
Only the lines that pass both are given to the plugin: the same findings as the plugin on
every line, which a test checks against the unfiltered path (`prefilter=False`). On
transformers + django (70 MB) that is about 20-25 MB/s of one core, against 9 MB/s for
chunk_file on the same files (benchmarks/secret_masking.py). Whatever a line holds, its cost
stays bounded: long lines are scanned in overlapping segments, and the keyword regexes are
tried at a bounded number of places in a bounded window.

Nothing here logs, and a `SecretFinding` holds a line and a kind, never the value.
"""

from __future__ import annotations

import bisect
import collections
import functools
import itertools
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

MASK = "<redacted:{kind}>"

# Characters a token runs on: a detector that knows a token by its prefix (`sk_live_`,
# `ghp_`, `eyJ`) may match only its first part (detect-secrets' Stripe regex stops after 24
# characters, its JWT regex before the signature); the mask covers the token to its end.
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-+/=.~]*")

# Values that stand for a secret without being one: "your-key-here", "<token>", "xxxx",
# and the documented example keys of cloud vendors (AWS's AKIAIOSFODNN7EXAMPLE), which are
# published, never valid, and copied into many packages' docs and tests.
_PLACEHOLDER = re.compile(
    r"your|example|placeholder|change[-_]?me|dummy|fake|sample|redacted|xxxx|\*\*\*|\.\.\.|"
    r"insert[-_ ]|replace[-_ ]|put[-_ ]|todo|fixme|(?:secret|key|token)[-_ ]?here",
    re.IGNORECASE,
)
# Words that fill a secret's place in docs and examples (`user:password@host`) or are no
# secret at all (`"usable_password": "false"`).
_PLACEHOLDER_WORDS = frozenset(
    {"password", "passwd", "pass", "pwd", "secret", "token", "apikey", "api_key", "key", "changeme"}
    | {"true", "false", "yes", "no", "on", "off", "none", "null", "nil", "undefined", "empty"}
)
# A free-form value (a password next to its keyword, in a URL) this short is a test's "foo",
# not a credential anyone could use.
_FREE_FORM_MIN = 4
# A value that holds the name of a secret is a name ("password1" as a form field, an
# "old_password" key, "django...PBKDF2PasswordHasher"), not a secret.
_SECRET_NAME_IN_VALUE = re.compile(r"passw|secret|token|api_?key|credential", re.IGNORECASE)
# Letter runs (split at case changes) and digit runs: "Qwen2_5OmniToken" -> Qwen 2 5 Omni Token.
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

# A key block's body: base64 with the quoting and escapes of whatever source holds it.
_KEY_RUN = re.compile(r"(?<!\\)[A-Za-z0-9+/=]{4,}")  # not the "n" of a "\n" escape
_MASKED = re.compile(r"<redacted:[a-z0-9-]+>")
_KEY_JUNK = re.compile(r"""\\[nr]|[\s"'`+,;()\\]|^[bru]{1,2}(?=["'])""")
_KEY_HEADER = re.compile(r"^\s*[\"'`]?[A-Za-z][A-Za-z-]*: ")
_KEY_END = re.compile(r"-{4,} ?END ")
_KEY_MARKER_TAIL = re.compile(r"[A-Z0-9 ]*-{4,}|[A-Za-z0-9-]*:[^\\\"'`]*")
_MAX_KEY_LINES = 400  # an 8192-bit RSA key in PEM is about 100 lines
_KEY_LINE_MIN = 40  # PEM lines are 64 characters, PuTTY's 64, OpenSSH's 70
_REPEAT_MIN = 8  # shorter values ("test", "admin") are not hunted through the whole file
# Bounds on the work a line can cost, whatever is in it (see _detect_line and the keyword finder).
_SEGMENT = 4096
_OVERLAP = 512
_MAX_STARTS = 64  # keyword positions tried a segment; ordinary lines have a handful
_MATCH_WINDOW = 1024  # a keyword, its value and the quotes around them fit in this


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """One masked secret: where it was and what kind. Never the value itself."""

    line: int  # 1-based
    kind: str  # e.g. "aws-access-key-id", "private-key", "secret-keyword"


@dataclass(frozen=True, slots=True)
class Trigger:
    """A byte pattern searched over a whole file: over its ASCII-lowercased bytes when
    `lowered` (a case-insensitive plugin), else over its bytes as they are."""

    pattern: bytes
    lowered: bool = False


@dataclass(frozen=True, slots=True)
class _Detector:
    """One detect-secrets plugin, with what finds its candidate lines."""

    kind: str
    find: Callable[[str, str], Iterable[tuple[int, int]]]  # (line, path) -> where its secrets are
    triggers: tuple[Trigger, ...]  # every line the plugin can flag holds a match of one
    gate: re.Pattern[str] | None = None  # ... and a match of this (its value's shape)
    token: bool = True  # a prefix-known token: mask to its end (see _TOKEN_TAIL)
    named: bool = False  # the value is whatever is assigned to a name: name filters apply
    free_form: bool = False  # any text can be the value (a password): repeated only if random
    kind_of: Callable[[str], str] | None = None  # a kind that depends on the value
    skip_prefix: str = ""  # what the plugin yields starts with this, which is no secret (AccountKey=)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    kind: str
    counted: bool = True  # False for a key block's continuation lines: one key, one finding
    repeat: bool = False  # a value certain enough to be masked wherever else it occurs
    rank: int = 0  # of its detector in the table: where spans overlap, the lowest names the kind


class SecretMasker:
    """The detectors, compiled once; `mask` is thread-safe (plugins only run regexes)."""

    def __init__(self) -> None:
        self._detectors = _build_detectors()
        # One compiled pattern per distinct trigger, with the detectors that share it.
        shared: dict[Trigger, list[int]] = {}
        for i, d in enumerate(self._detectors):
            for t in d.triggers:
                shared.setdefault(t, []).append(i)
        self._triggers = [(re.compile(t.pattern), t.lowered, ds) for t, ds in shared.items()]

    def mask(self, path: str, text: str, *, prefilter: bool = True) -> tuple[str, list[SecretFinding]]:
        """`text` with every secret's value replaced by `<redacted:KIND>`, and what was masked.

        Lines are split on "\\n" as the chunker splits them, and no "\\n" is added or removed.
        `prefilter=False` runs every plugin on every line: the reference that the triggers
        and gates are tested against (and hundreds of times slower)."""
        if not text:
            return text, []
        lines = text.split("\n")
        if prefilter:
            candidates = self._candidates(text)
        else:
            everything = list(range(len(self._detectors)))
            candidates = dict.fromkeys(range(len(lines)), everything)
        spans: dict[int, list[_Span]] = {}
        for row in sorted(candidates):
            found = self._detect_line(path, lines, row, candidates[row], gated=prefilter)
            if found:
                spans[row] = found
        if not spans:
            return text, []
        _mask_key_blocks(lines, spans)
        _mask_repeats(lines, spans)
        findings: list[SecretFinding] = []
        for row in sorted(spans):
            merged = _merge(spans[row])
            line = lines[row]
            for span in reversed(merged):
                line = line[: span.start] + MASK.format(kind=span.kind) + line[span.end :]
            lines[row] = line
            findings.extend(SecretFinding(row + 1, s.kind) for s in merged if s.counted)
        return "\n".join(lines), findings

    def _candidates(self, text: str) -> dict[int, list[int]]:
        """Line index -> the detectors whose triggers hit that line."""
        data = text.encode("utf-8", "surrogatepass")
        lowered = data.lower()  # ASCII only, at memory speed (str.lower is not, on non-ASCII text)
        hits: list[tuple[int, list[int]]] = []
        for pattern, on_lowered, detectors in self._triggers:
            hits.extend((m.start(), detectors) for m in pattern.finditer(lowered if on_lowered else data))
        if not hits:
            return {}
        hits.sort(key=lambda h: h[0])
        out: dict[int, set[int]] = {}
        row, counted = 0, 0
        for pos, detectors in hits:
            # UTF-8 never holds 0x0A inside a character: counting bytes counts lines.
            row += data.count(b"\n", counted, pos)
            counted = pos
            out.setdefault(row, set()).update(detectors)
        return {r: sorted(ds) for r, ds in out.items()}

    def _detect_line(
        self, path: str, lines: list[str], row: int, detectors: Sequence[int], gated: bool
    ) -> list[_Span]:
        line = lines[row]
        # detect-secrets scans lines without their trailing whitespace (a CRLF's "\r").
        stripped = line.rstrip()
        if len(stripped) <= _SEGMENT:
            found = self._detect_segment(path, line, stripped, detectors, gated)
        else:
            # A very long line (a one-line JSON config, a data blob) is scanned in overlapping
            # segments: regexes that backtrack stay bounded, and a secret with its name fits
            # in the overlap.
            found = []
            for start in range(0, len(stripped), _SEGMENT - _OVERLAP):
                segment = stripped[start : start + _SEGMENT]
                found += [
                    _Span(s.start + start, s.end + start, s.kind, s.counted, s.repeat, s.rank)
                    for s in self._detect_segment(path, line, segment, detectors, gated)
                ]
                if start + _SEGMENT >= len(stripped):
                    break
        if found and _allowlisted(path, lines, row):
            return []
        return found

    def _detect_segment(
        self, path: str, line: str, stripped: str, detectors: Sequence[int], gated: bool
    ) -> list[_Span]:
        found: list[_Span] = []
        gates: dict[re.Pattern[str], bool] = {}  # shared gates are searched once a line
        for i in detectors:
            d = self._detectors[i]
            if gated and d.gate is not None:
                if d.gate not in gates:
                    gates[d.gate] = d.gate.search(stripped) is not None
                if not gates[d.gate]:
                    continue
            for start, end in d.find(stripped, path):
                if d.skip_prefix and stripped.startswith(d.skip_prefix, start):
                    start += len(d.skip_prefix)
                value = stripped[start:end]
                if not value or _filtered(value, line, d):
                    continue
                if d.token:
                    tail = _TOKEN_TAIL.match(stripped, end)
                    end = tail.end() if tail else end
                kind = d.kind_of(value) if d.kind_of else d.kind
                repeat = not (d.named or d.free_form) or _is_random(value)
                found.append(_Span(start, end, kind, repeat=repeat, rank=i))
        return found


# -- masking ---------------------------------------------------------------------------------


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one, named by the most specific detector among them (the
    table lists specific formats before the generic keyword and entropy plugins): a Stripe
    key assigned to STRIPE_SECRET_KEY is a "stripe-key", not a "secret-keyword"."""
    out: list[_Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and s.start < out[-1].end:
            last = out[-1]
            named = last if last.rank <= s.rank else s
            out[-1] = _Span(
                last.start, max(last.end, s.end), named.kind, last.counted or s.counted, rank=named.rank
            )
        else:
            out.append(s)
    return out


def _mask_key_blocks(lines: list[str], spans: dict[int, list[_Span]]) -> None:
    """A private-key finding is its BEGIN marker; the key is the body after it, on the same
    line (a JSON string with \\n escapes) or on the lines below (PEM, PuTTY). A marker with
    no body (code that looks for one) masks nothing and is no finding."""
    for row in sorted(spans):
        markers = [s for s in spans[row] if s.kind == "private-key"]
        if not markers:
            continue
        spans[row] = [s for s in spans[row] if s.kind != "private-key"]
        line = lines[row]
        start = max(s.end for s in markers)
        tail = _KEY_MARKER_TAIL.match(line, start)
        start = tail.end() if tail else start
        end = _KEY_END.search(line, start)
        runs = _key_runs(line, start, end.start() if end else len(line))
        if end is not None:
            if runs:
                spans[row].append(_Span(runs[0].start(), runs[-1].end(), "private-key", rank=-1))
            continue
        # The body below: lines of key material up to the END marker. Without an END marker
        # only long runs count, so that code after a lone marker stays as it is.
        body: list[tuple[int, list[re.Match[str]]]] = [(row, runs)] if runs else []
        closed = False
        for below in range(row + 1, min(len(lines), row + 1 + _MAX_KEY_LINES)):
            text = lines[below]
            end = _KEY_END.search(text)
            if end is None and not _is_key_material(text):
                break
            found = _key_runs(text, 0, end.start() if end else len(text))
            if found:
                body.append((below, found))
            if end is not None:
                closed = True
                break
        first = True
        for r, found in body:
            for m in found:
                if closed or m.end() - m.start() >= _KEY_LINE_MIN:
                    spans.setdefault(r, []).append(_Span(m.start(), m.end(), "private-key", first, rank=-1))
                    first = False


def _key_runs(line: str, start: int, end: int) -> list[re.Match[str]]:
    """Base64 runs of a key's body, less any placeholder an earlier masking left there."""
    masked = [m.span() for m in _MASKED.finditer(line, start, end)]
    return [
        m
        for m in _KEY_RUN.finditer(line, start, end)
        if not any(a < m.end() and m.start() < b for a, b in masked)
    ]


def _is_key_material(line: str) -> bool:
    if not line.strip():
        return True  # a PGP block has a blank line after its headers
    if _KEY_HEADER.match(line):
        return True  # Proc-Type:, DEK-Info:, Comment:, PuTTY's Private-Lines: ...
    rest = _KEY_JUNK.sub("", line.strip())
    return bool(rest) and _KEY_RUN.fullmatch(rest) is not None


def _mask_repeats(lines: list[str], spans: dict[int, list[_Span]]) -> None:
    """A secret found once (a token next to `api_token =`) is masked wherever else it occurs
    in the file as a whole token, where no detector would know it for one. Only values that
    are surely secrets: a known format, or random enough; never a word that happened to be
    a password ("test" stays "test" in `username="test"`)."""
    values: dict[str, str] = {}
    for row, row_spans in spans.items():
        for s in row_spans:
            value = lines[row][s.start : s.end]
            if s.repeat and len(value) >= _REPEAT_MIN:
                values.setdefault(value, s.kind)
    if not values:
        return
    text = "\n".join(lines)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    for value, kind in values.items():
        pos = text.find(value)
        while pos >= 0:
            end = pos + len(value)
            if not (_is_word_char(text, pos - 1) or _is_word_char(text, end)):
                row = bisect.bisect_right(starts, pos) - 1
                col = pos - starts[row]
                spans.setdefault(row, []).append(_Span(col, col + len(value), kind))
            pos = text.find(value, end)


def _is_word_char(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


# -- filters ---------------------------------------------------------------------------------


def _filtered(value: str, line: str, d: _Detector) -> bool:
    h = _heuristics()
    if (
        h.is_sequential_string(value)
        or h.is_potential_uuid(value)
        or h.is_templated_secret(value)
        or h.is_prefixed_with_dollar_sign(value)
        or h.is_not_alphanumeric_string(value)
        or _PLACEHOLDER.search(value)
        or value.lower() in _PLACEHOLDER_WORDS
    ):
        return True
    if (d.named or d.free_form) and len(value) < _FREE_FORM_MIN:
        return True
    if not d.named:
        return False
    # "user_id = ...", "secret = get_secret()": ids and references, not values; and values
    # that are themselves secrets' names ("password1", the name of a form field).
    return bool(
        h.is_likely_id_string(value, line)
        or h.is_indirect_reference(line)
        or _SECRET_NAME_IN_VALUE.search(value)
    )


def _reads_as_words(value: str) -> bool:
    """An identifier or a path of words ("Qwen2_5OmniToken2WavModel", "hf-internal-testing/
    tiny-bert") rather than random characters: its letter runs, split where the case
    changes, are word-long. Random base64 changes case every character or two."""
    runs = [len(w) for w in _WORDS.findall(value) if not w.isdigit()]
    return bool(runs) and sum(runs) / len(runs) >= 3.0


def _is_random(value: str) -> bool:
    """Random enough to be a key, by detect-secrets' entropy limits (base64: 4.5 bits per
    character, hex: 3), and not made of words."""
    base64, hexa = _entropy_plugins()
    if all(c in "0123456789abcdefABCDEF" for c in value):
        return bool(hexa.calculate_shannon_entropy(value) > hexa.entropy_limit)
    return bool(base64.calculate_shannon_entropy(value) > base64.entropy_limit) and not _reads_as_words(value)


def _allowlisted(path: str, lines: list[str], row: int) -> bool:
    """detect-secrets' `# pragma: allowlist secret` (on the line, or `allowlist nextline` above)."""
    if "allowlist" not in lines[row] and (row == 0 or "allowlist" not in lines[row - 1]):
        return False
    from detect_secrets.filters.allowlist import is_line_allowlisted
    from detect_secrets.util.code_snippet import get_code_snippet

    return bool(is_line_allowlisted(path, lines[row], get_code_snippet(lines, row + 1)))


@functools.cache
def _heuristics() -> Any:
    from detect_secrets.filters import heuristic

    return heuristic


@functools.cache
def _entropy_plugins() -> tuple[Any, Any]:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

    return Base64HighEntropyString(), HexHighEntropyString()


# -- values assigned to credential names --------------------------------------------------------

# Names whose value is a credential although detect-secrets' keyword plugin does not list
# them ("token" above all). Their values count only when random (see _is_random), so
# `token_type = "bearer"` and `pad_token = "<pad>"` stay as they are.
_CREDENTIAL_WORDS = frozenset(
    {"token", "tokens", "auth", "authorization", "credential", "credentials", "passphrase"}
)
_KEY_QUALIFIERS = frozenset(
    {
        "access",
        "app",
        "consumer",
        "encryption",
        "license",
        "master",
        "session",
        "signing",
        "subscription",
        "webhook",
    }
)
_CREDENTIAL_HINT = re.compile(r"token|auth|credential|passphrase|key", re.IGNORECASE)
_NAME_CHARS = re.compile(r"[\w.$@-]*")
_ASSIGNED_VALUE = re.compile(
    r"""["'`]?\]?"""
    r"""(?:\s*:\s*[A-Za-z_][\w\[\], .|]*?)?"""  # a type annotation: `token: str = "..."`
    r"""\s*(?:(?:=>|:=|==?|:)\s*["'`]?|["'`]?\s*,\s*["'`])"""  # `= "v"`, `: v`, `("NAME", "v")`
    r"""(?:(?:Bearer|Basic|Token|bearer|token)\s+)?"""  # `"Authorization": "Bearer v"`
    r"""(?P<value>[A-Za-z0-9+/=_\-.~]{9,})"""
)


def _is_credential_name(name: str) -> bool:
    words = [w.lower() for w in _WORDS.findall(name)]
    if any(w in _CREDENTIAL_WORDS for w in words):
        return True
    return any(a in _KEY_QUALIFIERS and b == "key" for a, b in itertools.pairwise(words))


def _named_values(line: str, path: str) -> Iterator[tuple[int, int]]:
    """Random values assigned to a credential name: `API_TOKEN = "..."`, `token: ...`,
    `"Authorization": "Bearer ..."`, `setenv("AUTH_TOKEN", "...")`."""
    done = -1
    for tried, hint in enumerate(_CREDENTIAL_HINT.finditer(line)):
        if hint.start() < done:
            continue  # another hint inside the same name
        if tried >= _MAX_STARTS:
            break
        end = _NAME_CHARS.match(line, hint.end())
        name_end = end.end() if end else hint.end()
        done = name_end
        assigned = _ASSIGNED_VALUE.match(line, name_end, name_end + _MATCH_WINDOW)
        if assigned is None:
            continue  # most hints: `self.tokenizer(`, `def get_key(self):`
        start = hint.start()
        while start > 0 and (line[start - 1].isalnum() or line[start - 1] in "_.$@-"):
            start -= 1
        if _is_credential_name(line[start:name_end]) and _is_random(assigned.group("value")):
            yield assigned.span("value")


# -- the detectors ----------------------------------------------------------------------------


_KEYWORD_HINT = re.compile(r"key|pass|pwd|secret|contrase", re.IGNORECASE)
_DENYLIST_INITIALS = frozenset("asdpckASDPCK")  # api_key, secret, db_pass, pwd, client_key, key_pass ...
_COMPARISON = re.compile(r"[!=]{2}")


def _plugin_finder(plugin: Any) -> Callable[[str, str], Iterable[tuple[int, int]]]:
    """Where a regex plugin's secrets are in a line. The plugin says what they are
    (`analyze_string`, which JWT's plugin also checks for a well-formed token); its
    `denylist`, matched again with finditer as analyze_string matches it with findall,
    says where: the masking must hit that occurrence, not the same text inside a name
    ("pass" in `"password": "pass"`). Not analyze_line: it may verify a secret over the
    network when detect-secrets' settings ask for it."""

    def find(line: str, path: str) -> Iterator[tuple[int, int]]:
        wanted = collections.Counter(plugin.analyze_string(line))
        if not wanted:
            return
        for rx in plugin.denylist:
            for m in rx.finditer(line):
                groups = [g for g in range(1, (m.re.groups or 0) + 1) if m.group(g)] or [0]
                for g in groups:
                    if wanted[m.group(g)] > 0:
                        wanted[m.group(g)] -= 1
                        yield m.start(g), m.end(g)

    return find


def _keyword_finder() -> Callable[[str, str], Iterable[tuple[int, int]]]:
    """detect-secrets' KeywordDetector, with its regexes, made fast and thorough.

    Fast: each of its regexes but one starts with a DENYLIST word, so instead of `search`
    (an 18-way case-insensitive alternation tried at every position, 20-80 us a line) it is
    anchored at the few positions where such a word can start: up to 9 characters before a
    "key", "pass", "pwd", "secret" or "contrase" ("database_key"). The first position that
    matches is where `search` would have matched.
    Thorough: the plugin reports the first match of each regex (one finding flags a line for
    its pre-commit hook); masking needs them all (`{"password": "a1", "api_key": "b2"}`), so
    the search goes on after each match. A test checks both against the plugin."""
    from detect_secrets.plugins import keyword
    from detect_secrets.util.filetype import determine_file_type

    denylist_first = keyword.DENYLIST_REGEX
    comparison = keyword.PRECEDED_BY_EQUAL_COMPARISON_SIGNS_QUOTES_REQUIRED_REGEX
    longest_prefix = max(w.find(h) for w in ("database_key", "database_pass") for h in ("key", "pass"))

    @functools.lru_cache(maxsize=64)
    def regexes_for(extension: str) -> list[tuple[re.Pattern[str], int, bool]]:
        # The plugin picks its regexes by file type: quotes required in code, optional in config.
        chosen = keyword.REGEX_BY_FILETYPE.get(
            determine_file_type("file" + extension), keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
        )
        return [(rx, group, rx.pattern.startswith(denylist_first)) for rx, group in chosen.items()]

    def find(line: str, path: str) -> Iterator[tuple[int, int]]:
        starts: list[int] | None = None
        for rx, group, anchored in regexes_for(os.path.splitext(path)[1]):
            if not anchored:
                # '"v" == password' needs "==" or "!=" (any other regex: no shortcut).
                if rx is not comparison or _COMPARISON.search(line):
                    for m in rx.finditer(line):
                        yield m.start(group), m.end(group)
                continue
            if starts is None:
                starts = sorted(
                    {
                        s
                        for hint in _KEYWORD_HINT.finditer(line)
                        for s in range(max(0, hint.start() - longest_prefix), hint.start() + 1)
                        if line[s] in _DENYLIST_INITIALS
                    }
                )[:_MAX_STARTS]
            after = 0
            for s in starts:
                if s >= after and (match := rx.match(line, s, s + _MATCH_WINDOW)):
                    yield match.start(group), match.end(group)
                    after = match.end()

    return find


def _aws_kind(value: str) -> str:
    return "aws-access-key-id" if len(value) == 20 else "aws-secret-access-key"


def _exact(*patterns: bytes) -> tuple[Trigger, ...]:
    return tuple(Trigger(p) for p in patterns)


def _lowered(*patterns: bytes) -> tuple[Trigger, ...]:
    return tuple(Trigger(p, lowered=True) for p in patterns)


def _load_detect_secrets() -> None:
    # detect-secrets' package __init__ switches logging.captureWarnings on for the whole
    # process; where warnings go is not a library's to decide, so it is switched back.
    before = warnings.showwarning
    import detect_secrets  # noqa: F401

    if warnings.showwarning is not before:
        logging.captureWarnings(False)


def _build_detectors() -> list[_Detector]:
    _load_detect_secrets()
    from detect_secrets.plugins import (
        artifactory,
        aws,
        azure_storage_key,
        basic_auth,
        discord,
        github_token,
        gitlab_token,
        jwt,
        mailchimp,
        npm,
        openai,
        private_key,
        pypi_token,
        sendgrid,
        slack,
        square_oauth,
        stripe,
        telegram_token,
        twilio,
    )
    from detect_secrets.plugins.base import RegexBasedDetector

    def extra(secret_type: str, *patterns: str) -> Any:
        """A plugin in detect-secrets' own format, for a key format it does not know yet."""
        cls = type(
            secret_type.title().replace(" ", "") + "Detector",
            (RegexBasedDetector,),
            {"secret_type": secret_type, "denylist": tuple(re.compile(p) for p in patterns)},
        )
        return cls()

    def plugin(p: Any, kind: str, triggers: tuple[Trigger, ...], **kwargs: Any) -> _Detector:
        return _Detector(kind=kind, find=_plugin_finder(p), triggers=triggers, **kwargs)

    # Triggers. A pass over a file costs about as much whatever it looks for, so patterns
    # that share a first byte share a pass: 19 passes for the 33 plugins. The lowered ones
    # also stand for case-sensitive formats ("t3blbkfj" for OpenAI's "T3BlbkFJ"): a superset.
    key = _lowered(rb"key")
    p_words = _lowered(rb"p(?:ass|w|ypi-age)")  # password, passwd, db_pass, pwd, pw; PyPI tokens
    s_words = _lowered(rb"s(?:ecret|q0csp-)")  # secret; Square OAuth secrets
    t_words = _lowered(rb"t(?:oken|3blbkfj)")  # token; OpenAI's legacy keys
    a_words = _lowered(rb"a(?:ws|uth)")  # aws, auth, npm's _authToken
    c_words = _lowered(rb"c(?:ontrase|redential)")  # contraseña; credential
    xox = _lowered(rb"xox")
    private_key_markers = _exact(rb"P(?:RIVATE KEY|uTTY-User-Key-File)")
    big_a = _exact(
        rb"A(?:3T[A-Z0-9]|BIA|CCA|KIA|SIA|Iza|KC[a-zA-Z0-9]{10}|P[0-9A-F][a-zA-Z0-9]{8}|C[a-z0-9]{32})"
    )
    big_s = _exact(rb"S(?:G\.|K[a-z0-9]{32})")
    small_g = _exact(
        rb"g(?:h[pousr]_|ithub_pat_|l(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-)", rb"GR1348941"
    )
    small_k = _exact(rb"k(?:_live_|-(?:proj|svcacct|admin|ant)-)")  # sk_live_, rk_live_; sk-proj-, sk-ant-
    urls = _exact(rb"://")

    # Order matters only for naming overlapping spans: specific formats first.
    return [
        plugin(private_key.PrivateKeyDetector(), "private-key", private_key_markers, token=False),
        plugin(
            extra("Private Key", r"BEGIN ENCRYPTED PRIVATE KEY", r"PuTTY-User-Key-File-3"),
            "private-key",
            private_key_markers,
            token=False,
        ),
        plugin(aws.AWSKeyDetector(), "aws-access-key", big_a + a_words, kind_of=_aws_kind),
        plugin(
            azure_storage_key.AzureStorageKeyDetector(),
            "azure-storage-key",
            key,
            gate=re.compile(r"Key="),
            skip_prefix="AccountKey=",
        ),
        plugin(
            extra("Azure Shared Access Key", r"SharedAccessKey=([A-Za-z0-9+/=]{40,})"),
            "azure-shared-access-key",
            key,
            gate=re.compile(r"Key="),
        ),
        plugin(stripe.StripeDetector(), "stripe-key", small_k),
        plugin(github_token.GitHubTokenDetector(), "github-token", small_g),
        plugin(extra("GitHub Token", r"github_pat_[A-Za-z0-9_]{40,}"), "github-token", small_g),
        plugin(gitlab_token.GitLabTokenDetector(), "gitlab-token", small_g),
        plugin(slack.SlackDetector(), "slack-token", xox + urls),
        plugin(openai.OpenAIDetector(), "openai-key", t_words),
        plugin(extra("OpenAI Token", r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}"), "openai-key", small_k),
        plugin(extra("Anthropic Key", r"sk-ant-[a-z]+\d\d-[A-Za-z0-9_-]{40,}"), "anthropic-key", small_k),
        plugin(extra("Google API Key", r"AIza[0-9A-Za-z_-]{35}"), "google-api-key", big_a),
        plugin(extra("Hugging Face Token", r"\bhf_[A-Za-z]{34,}\b"), "huggingface-token", _exact(rb"hf_")),
        plugin(jwt.JwtTokenDetector(), "jwt", _exact(rb"eyJ")),
        plugin(sendgrid.SendGridDetector(), "sendgrid-key", big_s),
        plugin(twilio.TwilioKeyDetector(), "twilio-key", big_a + big_s),
        plugin(mailchimp.MailchimpDetector(), "mailchimp-key", _exact(rb"-us[0-9]")),
        plugin(npm.NpmDetector(), "npm-token", a_words),
        plugin(pypi_token.PypiTokenDetector(), "pypi-token", p_words),
        plugin(square_oauth.SquareOAuthDetector(), "square-oauth-secret", s_words),
        plugin(
            discord.DiscordBotTokenDetector(),
            "discord-bot-token",
            _exact(rb"\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27}"),
        ),
        plugin(
            telegram_token.TelegramBotTokenDetector(), "telegram-bot-token", _exact(rb":[A-Za-z0-9_-]{35}")
        ),
        plugin(artifactory.ArtifactoryDetector(), "artifactory-token", big_a),
        plugin(basic_auth.BasicAuthDetector(), "url-password", urls, token=False, free_form=True),
        _Detector(
            kind="secret-keyword",
            find=_keyword_finder(),
            # Every word of the plugin's DENYLIST holds key, pass, pw(d), secret or contrase.
            triggers=key + p_words + s_words + c_words,
            token=False,
            named=True,
        ),
        _Detector(
            kind="high-entropy-secret",
            find=_named_values,
            triggers=t_words + a_words + c_words + key + p_words,
            # detect-secrets' limits need 23 characters of base64 (4.5 bits each) or 9 of hex.
            gate=re.compile(r"[A-Za-z0-9+/=_\-.~]{23}|[0-9a-fA-F]{9}"),
            token=False,
            named=True,
        ),
    ]


@functools.cache
def default_masker() -> SecretMasker:
    """Built on first use: importing detect-secrets costs about 0.1 s that a CLI command
    which never indexes should not pay."""
    return SecretMasker()


def mask_secrets(path: str, text: str) -> tuple[str, list[SecretFinding]]:
    """`text` (the file at `path`, relative) with each secret's value masked, and one
    finding per masked value. Line numbers and everything outside the values are kept."""
    return default_masker().mask(path, text)


__all__ = ["MASK", "SecretFinding", "SecretMasker", "mask_secrets"]
