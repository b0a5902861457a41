"""Credentials inside indexed files: detected with detect-secrets, masked before chunking,
and absent from everything the index keeps or shows (chunk text, tokens, previews,
`search --json`, `status`, the log), with the names around them still searchable.

The secrets are made up at run time from a seeded generator, never written into this
repository: a real-looking key in a source file is what this feature is about, and what
secret scanners rightly refuse to see committed."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codeseek import cli
from codeseek.chunking.secrets import SecretMasker, mask_secrets
from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.indexer import content_hash
from codeseek.search import SearchRequest
from codeseek.service import FolderService
from codeseek.store.lance import IndexStore
from codeseek.store.schema import identifier_words

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


# -- made-up secrets -----------------------------------------------------------------------


class Maker:
    """Random strings of a given shape, the same on every run."""

    def __init__(self, seed: int = 9) -> None:
        self.rng = random.Random(seed)

    def pick(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def alnum(self, n: int) -> str:
        return self.pick(string.ascii_letters + string.digits, n)

    def lower_alnum(self, n: int) -> str:
        return self.pick(string.ascii_lowercase + string.digits, n)

    def upper_alnum(self, n: int) -> str:
        return self.pick(string.ascii_uppercase + string.digits, n)

    def b64(self, n_bytes: int) -> str:
        return base64.b64encode(self.rng.randbytes(n_bytes)).decode()

    def b64url(self, n_bytes: int) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(n_bytes)).decode().rstrip("=")

    def hex(self, n: int) -> str:
        return self.pick("0123456789abcdef", n)

    def pem_body(self, n_bytes: int) -> list[str]:
        body = self.b64(n_bytes)
        return [body[i : i + 64] for i in range(0, len(body), 64)]

    def jwt(self) -> str:
        def part(obj: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        claims = {"sub": self.lower_alnum(12), "role": "admin", "iat": 1733011200}
        return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{self.b64url(32)}"


@dataclass(frozen=True)
class Planted:
    path: str
    line: int  # 1-based, where the finding is reported
    kind: str
    value: str  # the secret, which must never come back
    name: str  # what stays searchable on that line


# Split so that no marker or vendor prefix appears whole in this file.
BEGIN, END = "-----BEGIN ", "-----END "


def plant(root: Path) -> list[Planted]:
    """A workspace with credentials of 17 kinds in ordinary source files (and none in
    files that discovery already skips). Returns where each one is."""
    m = Maker()
    planted: list[Planted] = []
    files: dict[str, list[str]] = {}

    def add(path: str, line: str, kind: str = "", value: str = "", name: str = "") -> None:
        lines = files.setdefault(path, [])
        lines.append(line)
        if kind:
            planted.append(Planted(path, len(lines), kind, value, name))

    # Python settings: an AWS key pair, a database URL, a password, Slack, OpenAI, GitHub.
    s = "config/settings.py"
    add(s, '"""Deployment settings."""')
    add(s, "import os")
    add(s, "")
    key_id = "AK" + "IA" + m.upper_alnum(16)
    add(s, f'AWS_ACCESS_KEY_ID = "{key_id}"', "aws-access-key-id", key_id, "AWS_ACCESS_KEY_ID")
    aws_secret = m.b64(30)
    add(
        s,
        f'AWS_SECRET_ACCESS_KEY = "{aws_secret}"',
        "aws-secret-access-key",
        aws_secret,
        "AWS_SECRET_ACCESS_KEY",
    )
    db_password = m.alnum(10) + "-" + m.alnum(8)
    db_url = f"postgresql://app_user:{db_password}@db.internal:5432/orders"
    add(s, f'DATABASE_URL = "{db_url}"', "url-password", db_password, "DATABASE_URL")
    admin_password = "Tr0ub4dor-" + m.alnum(6)
    add(s, f'ADMIN_PASSWORD = "{admin_password}"', "secret-keyword", admin_password, "ADMIN_PASSWORD")
    slack = "xo" + "xb-" + m.pick(string.digits, 12) + "-" + m.pick(string.digits, 13) + "-" + m.alnum(24)
    add(s, f'SLACK_BOT_TOKEN = "{slack}"', "slack-token", slack, "SLACK_BOT_TOKEN")
    openai_key = "sk-" + "proj-" + m.alnum(40) + "_" + m.alnum(40)
    add(s, f'OPENAI_API_KEY = "{openai_key}"', "openai-key", openai_key, "OPENAI_API_KEY")
    github = "gh" + "p_" + m.alnum(36)
    add(s, f'GITHUB_TOKEN = "{github}"', "github-token", github, "GITHUB_TOKEN")
    api_token = m.alnum(40)
    add(s, f'INTERNAL_API_TOKEN = "{api_token}"', "high-entropy-secret", api_token, "INTERNAL_API_TOKEN")
    add(s, "")
    add(s, "def database_url() -> str:")
    add(s, '    return os.environ.get("DATABASE_URL", DATABASE_URL)')

    # JavaScript: a Stripe live key (twice: the second use is masked as well), Google, Anthropic.
    k = "web/keys.js"
    stripe = "sk" + "_live_" + m.alnum(99)
    add(k, "// Payment and AI clients.")
    add(k, f'export const STRIPE_SECRET_KEY = "{stripe}";', "stripe-key", stripe, "STRIPE_SECRET_KEY")
    add(k, f'const stripe = require("stripe")("{stripe}");', "stripe-key", stripe, "stripe")
    google = "AI" + "za" + m.pick(string.ascii_letters + string.digits + "_-", 35)
    add(k, f"const mapsKey = '{google}';", "google-api-key", google, "mapsKey")
    anthropic = "sk-" + "ant-api03-" + m.pick(string.ascii_letters + string.digits + "_-", 93) + "AA"
    add(
        k,
        f"const anthropic = new Anthropic({{ apiKey: '{anthropic}' }});",
        "anthropic-key",
        anthropic,
        "Anthropic",
    )
    add(k, "export function charge(amount) {")
    add(k, "  return stripe.charges.create({ amount, currency: 'eur' });")
    add(k, "}")

    # A JWT in a test's request headers, a Hugging Face token, SendGrid, Twilio.
    t = "tests/test_api.py"
    jwt = m.jwt()
    add(t, "def test_orders_need_a_token(client):")
    add(t, f'    headers = {{"Authorization": "Bearer {jwt}"}}', "jwt", jwt, "Authorization")
    add(t, '    assert client.get("/orders", headers=headers).status_code == 200')
    add(t, "")
    hf = "hf" + "_" + m.pick(string.ascii_letters, 34)
    add(t, f'HF_HUB_TOKEN = "{hf}"', "huggingface-token", hf, "HF_HUB_TOKEN")
    sendgrid = (
        "S"
        + "G."
        + m.pick(string.ascii_letters + string.digits + "_-", 22)
        + "."
        + m.pick(string.ascii_letters + string.digits + "_-", 43)
    )
    add(t, f'MAIL = {{"provider": "sendgrid", "key": "{sendgrid}"}}', "sendgrid-key", sendgrid, "MAIL")
    twilio = "S" + "K" + m.hex(32)
    add(t, f'TWILIO_API_KEY_SID = "{twilio}"', "twilio-key", twilio, "TWILIO_API_KEY_SID")

    # A GCP service-account key file (under a name discovery does not skip): the private
    # key on one JSON line with \n escapes.
    g = "deploy/gcp.json"
    body = "\\n".join(m.pem_body(1200))
    gcp_key = f"{BEGIN}PRIVATE KEY-----\\n{body}\\n{END}PRIVATE KEY-----\\n"
    add(g, "{")
    add(g, '  "type": "service_account",')
    add(g, '  "project_id": "orders-prod",')
    add(g, f'  "private_key": "{gcp_key}",', "private-key", body.split("\\n")[3], "private_key")
    add(g, '  "client_email": "indexer@orders-prod.iam.gserviceaccount.com",')
    add(g, '  "token_uri": "https://oauth2.googleapis.com/token"')
    add(g, "}")

    # Azure storage connection string in C#.
    c = "src/Storage.cs"
    azure_key = m.b64(64)
    conn = f"DefaultEndpointsProtocol=https;AccountName=ordersprod;AccountKey={azure_key};EndpointSuffix=core.windows.net"
    add(c, "public static class Storage")
    add(c, "{")
    add(
        c,
        f'    public const string ConnectionString = "{conn}";',
        "azure-storage-key",
        azure_key,
        "ConnectionString",
    )
    add(c, "}")

    # A multi-line RSA key in a Python test, an OpenSSH key in the docs.
    r = "tests/keys.py"
    rsa = m.pem_body(1190)
    add(r, '"""A key for the signing tests."""')
    add(r, "")
    add(r, f'SIGNING_KEY = """{BEGIN}RSA PRIVATE KEY-----')
    # A key block is one finding, reported on its first line of key material.
    add(r, rsa[0], "private-key", rsa[0], "")
    for line in rsa[1:]:
        add(r, line)
        planted.append(Planted(r, 0, "private-key", line, ""))
    add(r, f'{END}RSA PRIVATE KEY-----"""')
    add(r, "")
    add(r, "def signer():")
    add(r, "    return load_pem(SIGNING_KEY)")

    d = "docs/deploy.md"
    ssh = m.pem_body(400)
    add(d, "# Deploying")
    add(d, "")
    add(d, "The deploy key (rotate it every quarter):")
    add(d, "")
    add(d, "```")
    add(d, f"{BEGIN}OPENSSH PRIVATE KEY-----")
    for i, line in enumerate(ssh):
        add(d, line, "private-key" if i == 0 else "", line if i == 0 else "", "")
    add(d, f"{END}OPENSSH PRIVATE KEY-----")
    add(d, "```")
    for line in ssh[1:]:
        planted.append(Planted(d, 0, "private-key", line, ""))

    # Config files: YAML without quotes, Java properties, Go.
    y = "deploy/values.yaml"
    yaml_password = m.alnum(20)
    yaml_token = m.alnum(40)
    add(y, "database:")
    add(y, "  host: db.internal")
    add(y, f"  password: {yaml_password}", "secret-keyword", yaml_password, "password")
    add(y, "ci:")
    add(y, f"  auth_token: {yaml_token}", "high-entropy-secret", yaml_token, "auth_token")

    j = "src/main/resources/application.properties"
    props_password = m.alnum(16)
    add(j, "spring.datasource.url=jdbc:postgresql://db.internal:5432/orders")
    add(j, f"spring.datasource.password={props_password}", "secret-keyword", props_password, "datasource")

    go = "cmd/server/config.go"
    go_secret = m.alnum(32)
    add(go, "package main")
    add(go, "")
    add(go, "func webhookSecret() string {")
    add(go, f'\twebhookSecret := "{go_secret}"', "secret-keyword", go_secret, "webhookSecret")
    add(go, "\treturn webhookSecret")
    add(go, "}")

    for path, lines in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return planted


def not_secrets(root: Path) -> dict[str, str]:
    """Files full of things that look like secrets and are not."""
    m = Maker(seed=11)
    files = {
        # Lock files: integrity hashes, checksums.
        "package-lock.json": json.dumps(
            {
                "name": "shop",
                "lockfileVersion": 3,
                "packages": {
                    f"node_modules/pkg{i}": {
                        "version": "1.0.0",
                        "resolved": f"https://registry.npmjs.org/pkg{i}/-/pkg{i}-1.0.0.tgz",
                        "integrity": "sha512-" + m.b64(64),
                    }
                    for i in range(5)
                },
            },
            indent=2,
        ),
        "poetry.lock": "".join(
            f'[[package]]\nname = "pkg{i}"\nfiles = [\n    {{file = "pkg{i}.whl", hash = "sha256:{m.hex(64)}"}},\n]\n\n'
            for i in range(5)
        ),
        "Cargo.lock": "".join(
            f'[[package]]\nname = "crate{i}"\nversion = "0.1.0"\nchecksum = "{m.hex(64)}"\n\n'
            for i in range(5)
        ),
        # Test data: UUIDs, digests, commit ids, base64 test vectors.
        "tests/test_ids.py": "\n".join(
            [
                f'USER_ID = "{m.hex(8)}-{m.hex(4)}-4{m.hex(3)}-a{m.hex(3)}-{m.hex(12)}"',
                f'token = "{m.hex(8)}-{m.hex(4)}-4{m.hex(3)}-8{m.hex(3)}-{m.hex(12)}"',
                f'REVISION = "{m.hex(40)}"',
                f'EXPECTED_SHA256 = "{m.hex(64)}"',
                f'VECTOR = "{m.b64(48)}"',
                'session_key_id = "' + m.alnum(32) + '"',
                "",
            ]
        ),
        # Placeholders and references.
        "examples/client.py": "\n".join(
            [
                'api_key = "your-api-key-here"',
                'STRIPE_KEY = "<YOUR_STRIPE_KEY>"',
                'password = "${DB_PASSWORD}"',
                'AUTH_TOKEN = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
                'SECRET_KEY = "changeme"',
                'password = os.environ["DB_PASSWORD"]',
                'secret = get_secret("db")',
                'PASSWORD_FIELD = "password"',
                'password_reset_url = "/accounts/password/reset/"',
                'redis_url = "redis://user:password@localhost:6379/0"',
                "",
            ]
        ),
        # AWS's documented example keys: published by the vendor, never valid.
        "docs/aws.md": "\n".join(
            [
                "Configure the CLI:",
                "",
                "    aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
                "    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "",
            ]
        ),
        # Ordinary code around tokens and keys.
        "src/tokens.py": "\n".join(
            [
                "from transformers import AutoTokenizer",
                "",
                'tokenizer = AutoTokenizer.from_pretrained("hf-internal-testing/tiny-random-bert")',
                'pad_token = "<pad>"',
                'token_type = "bearer"',
                'model_id = "Qwen/Qwen2.5-Coder-7B-Instruct-GPTQ-Int4"',
                'cache_key = f"{user}:{token_count}"',
                "",
                "def is_pem(data: bytes) -> bool:",
                f'    return data.startswith(b"{BEGIN}RSA PRIVATE KEY-----")',
                "",
                "def parse(data):",
                "    return data",
                "",
            ]
        ),
        # A public key and an allowlisted test key.
        "tests/test_public.py": "\n".join(
            [
                f'PUBLIC = """{BEGIN}PUBLIC KEY-----',
                *m.pem_body(270),
                f'{END}PUBLIC KEY-----"""',
                f'SSH_PUBLIC = "ssh-rsa {m.b64(270)} deploy@ci"',
                f'TEST_API_KEY = "{m.alnum(32)}"  # pragma: allowlist secret',
                "",
            ]
        ),
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return files


@pytest.fixture
def secret_workspace(tmp_path: Path) -> tuple[Path, list[Planted]]:
    root = tmp_path / "workspace"
    root.mkdir()
    return root, plant(root)


@pytest.fixture(scope="module")
def masker() -> SecretMasker:
    return SecretMasker()


def read(root: Path, path: str) -> str:
    return (root / path).read_text(encoding="utf-8")


# -- detection and masking --------------------------------------------------------------------


def test_every_planted_secret_is_masked_and_its_name_kept(
    secret_workspace: tuple[Path, list[Planted]], masker: SecretMasker
) -> None:
    root, planted = secret_workspace
    kinds = {p.kind for p in planted}
    assert len(kinds) >= 10, kinds
    for path in sorted({p.path for p in planted}):
        text = read(root, path)
        masked, findings = masker.mask(path, text)
        here = [p for p in planted if p.path == path]
        for p in here:
            assert p.value not in masked, f"{path}: {p.kind} not masked"
        # Every line keeps its number; only the inside of a line changes.
        assert masked.count("\n") == text.count("\n")
        masked_lines = masked.split("\n")
        reported = {(f.line, f.kind) for f in findings}
        for p in here:
            if p.line:
                assert (p.line, p.kind) in reported, f"{path}:{p.line} {p.kind} not reported: {findings}"
                assert f"<redacted:{p.kind}>" in masked_lines[p.line - 1]
                assert p.name in masked_lines[p.line - 1]
        # One finding a secret: a PEM key over 20 lines counts once.
        assert len(findings) == len({(p.line, p.kind) for p in here if p.line}), findings


def test_things_that_look_like_secrets_are_left_alone(tmp_path: Path, masker: SecretMasker) -> None:
    files = not_secrets(tmp_path)
    for path, text in files.items():
        masked, findings = masker.mask(path, text)
        assert findings == [], f"{path}: {findings}"
        assert masked == text


def test_the_fixture_workspace_and_codeseeks_own_sources_have_no_findings(masker: SecretMasker) -> None:
    paths = [p for p in (DATA / "workspace").rglob("*") if p.is_file()]
    paths += sorted((REPO / "server" / "codeseek").rglob("*.py"))
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert masker.mask(path.name, text)[1] == [], path


def test_triggers_and_gates_find_what_every_plugin_on_every_line_finds(
    secret_workspace: tuple[Path, list[Planted]], tmp_path: Path, masker: SecretMasker
) -> None:
    """The prefilter is an optimisation only: the unfiltered path (each plugin on each
    line) masks exactly the same, on secrets, near-misses and ordinary code."""
    root, planted = secret_workspace
    samples = {p: read(root, p) for p in {p.path for p in planted}}
    samples |= not_secrets(tmp_path / "near-misses")
    for path in ["chunking/secrets.py", "indexer.py", "store/lance.py", "cli.py"]:
        samples[path] = (REPO / "server" / "codeseek" / path).read_text()
    samples |= {
        str(p.relative_to(DATA)): p.read_text() for p in (DATA / "workspace").rglob("*.*") if p.is_file()
    }
    # Every line of every sample under each set of regexes the keyword plugin picks by file
    # type: quotes required (code), config (quotes optional), Go, C, C++.
    lines = "\n".join(samples.values())
    for ext in (".py", ".yaml", ".go", ".c", ".cpp"):
        samples[f"all{ext}"] = lines
    for path, text in samples.items():
        assert masker.mask(path, text) == masker.mask(path, text, prefilter=False), path


def test_fast_keyword_search_agrees_with_detect_secrets(
    secret_workspace: tuple[Path, list[Planted]], tmp_path: Path
) -> None:
    """The keyword plugin's regexes, anchored where a keyword starts instead of searched:
    whatever detect-secrets' own KeywordDetector finds, and the further matches on the same
    line that it does not look for."""
    from detect_secrets.plugins.keyword import (
        QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
        REGEX_BY_FILETYPE,
        KeywordDetector,
    )
    from detect_secrets.util.filetype import determine_file_type

    from codeseek.chunking.secrets import _keyword_finder

    root, planted = secret_workspace
    text = "\n".join(read(root, p) for p in {p.path for p in planted})
    text += "\n" + "\n".join(not_secrets(tmp_path).values())
    text += "\n" + (REPO / "server" / "codeseek" / "chunking" / "secrets.py").read_text()
    text += "\n".join(
        [
            'if "hunter2" == password:',
            "password = 'a' ; secret = \"b\";",
            'db_pass := "x1"',
            'apikey: "y2"',
            'DATABASE_KEY = "zz9" # api_key = "k"',
            "contraseña = 'abc123'",
            'auth.assign("zz")',
            'apiKey("z")',
        ]
    )
    find = _keyword_finder()
    detector = KeywordDetector()
    for ext in (".py", ".go", ".c", ".cpp", ".yaml", ".properties", ".txt"):
        regexes = REGEX_BY_FILETYPE.get(
            determine_file_type(f"f{ext}"), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
        )
        for line in text.split("\n"):
            line = line.rstrip()
            ours = [line[s:e] for s, e in find(line, f"f{ext}")]
            theirs = list(detector.analyze_string(line, denylist_regex_to_group=regexes))
            assert set(theirs) <= set(ours), (ext, line)
            assert len(ours) <= 2 * len(theirs), (ext, line)  # a line holds one or two here
    both = 'creds = {"password": "a1b2c3", "api_key": "d4e5f6"}'
    assert [both[s:e] for s, e in find(both, "f.py")] == ["a1b2c3", "d4e5f6"]


def test_masking_is_idempotent_and_keeps_line_endings(
    secret_workspace: tuple[Path, list[Planted]], masker: SecretMasker
) -> None:
    root, planted = secret_workspace
    for path in {p.path for p in planted}:
        crlf = read(root, path).replace("\n", "\r\n")
        masked, findings = masker.mask(path, crlf)
        assert findings
        assert masked.count("\r\n") == crlf.count("\r\n")
        assert masker.mask(path, masked) == (masked, [])


def test_findings_never_hold_a_secret_and_nothing_is_logged(
    secret_workspace: tuple[Path, list[Planted]], caplog: pytest.LogCaptureFixture
) -> None:
    root, planted = secret_workspace
    with caplog.at_level(logging.DEBUG):
        for path in {p.path for p in planted}:
            _, findings = mask_secrets(path, read(root, path))
            shown = repr(findings)
            assert not any(p.value in shown for p in planted)
    assert caplog.records == []


def test_repeats_are_masked_only_as_whole_random_tokens(masker: SecretMasker) -> None:
    m = Maker(3)
    token = m.alnum(40)
    text = "\n".join(
        [
            f'API_TOKEN = "{token}"',
            f"client = Client({token!r})",  # no detector knows this one: masked as a repeat
            'password = "test"',
            'username = "test"',  # a weak password is not hunted through the file
            "def test_login(): ...",
        ]
    )
    masked, findings = masker.mask("app.py", text)
    assert token not in masked
    assert [f.line for f in findings] == [1, 2, 3]
    assert 'username = "test"' in masked and "def test_login()" in masked


def test_secrets_on_very_long_lines_are_found_across_segment_borders(masker: SecretMasker) -> None:
    """A one-line JSON config is scanned in overlapping segments: a secret that straddles
    a border is whole in the next segment, and several on one line are all masked."""
    m = Maker(5)
    tokens = ["gh" + "p_" + m.alnum(36) for _ in range(3)]
    line = '{"github_token": "' + tokens[0] + '"'
    while len(line) < 4060:  # the second token straddles the first segment's end (4096)
        line += f', "field{len(line)}": "{m.lower_alnum(6)}"'
    line += ', "github_token": "' + tokens[1] + '"'
    while len(line) < 3 * 4096:
        line += f', "field{len(line)}": "{m.lower_alnum(6)}"'
    line += ', "github_token": "' + tokens[2] + '"}'
    assert line.find(tokens[1]) < 4096 < line.find(tokens[1]) + len(tokens[1])
    masked, findings = masker.mask("config.json", line + "\n")
    assert not any(t in masked for t in tokens)
    assert [f.kind for f in findings] == ["github-token"] * 3
    assert masked.count('"field') == line.count('"field')


# -- through the indexer, the store, the CLI and the log ------------------------------------------


def all_rows(store: IndexStore) -> Iterator[dict[str, str]]:
    table = store._table(store.chunks_name)  # the stored rows themselves, as LanceDB holds them
    assert table is not None
    yield from table.to_arrow().select(["path", "text", "tokens", "names"]).to_pylist()


def test_indexing_keeps_no_secret_and_finds_the_names(
    secret_workspace: tuple[Path, list[Planted]],
    minilm: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, planted = secret_workspace
    not_secrets(root)
    values = {p.value for p in planted}
    # The pieces of each secret that the lexical index would hold as tokens.
    fragments = {w for v in values for w in identifier_words(v).split() if len(w) >= 8}

    import codeseek.embedding.registry as registry

    monkeypatch.setattr(registry, "create_embedder", lambda config, choice=None: minilm)
    monkeypatch.setenv("CODESEEK_STORE", str(tmp_path / "store"))

    def run(*argv: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        assert cli.main(list(argv), out=out, err=err) == 0, err.getvalue()
        for value in values:
            assert value not in out.getvalue() and value not in err.getvalue()
        return out.getvalue()

    with caplog.at_level(logging.DEBUG):
        run("index", str(root))
        hits = json.loads(run("search", "AWS_SECRET_ACCESS_KEY", "-w", str(root), "--json", "-k", "5"))
        settings = [h for h in hits if h["path"] == "config/settings.py"]
        assert settings and settings[0]["start_line"] <= 5 <= settings[0]["end_line"]
        for query in ["stripe secret key", "signing key", "database password", "slack bot token"]:
            run("search", query, "-w", str(root), "--json", "-k", "10")
        status = json.loads(run("status", "-w", str(root), "--json"))
        human = run("status", "-w", str(root))
    for record in caplog.records:
        message = record.getMessage()
        assert not any(v in message for v in values), message

    # Status counts the masked secrets per file.
    counts = status["secrets"]
    expected: dict[str, int] = {}
    for p in planted:
        if p.line:
            expected[p.path] = expected.get(p.path, 0) + 1
    assert counts == expected
    assert f"config/settings.py: {expected['config/settings.py']} masked" in human

    config = Config()
    config.store.path = str(tmp_path / "store")
    service = FolderService(root, config, embedder=minilm)
    store = service.store()
    assert store is not None
    rows = list(all_rows(store))
    assert {r["path"] for r in rows} >= {p.path for p in planted}
    for row in rows:
        for value in values:
            assert value not in row["text"], (row["path"], "text")
        tokens = set(row["tokens"].split()) | set(row["names"].split())
        assert not tokens & fragments, (row["path"], tokens & fragments)
    # The names around them are still found, by words too.
    lexical = service.search(SearchRequest("AWS_SECRET_ACCESS_KEY", 3, mode="lexical")).hits
    assert "config/settings.py" in [h.path for h in lexical]
    assert service.search(SearchRequest("STRIPE_SECRET_KEY", 3, mode="lexical")).hits[0].path == "web/keys.js"
    # The file's hash is that of the file as read: unchanged files stay unchanged.
    records = store.file_records()
    assert records["config/settings.py"].hash == content_hash(read(root, "config/settings.py"))
    report = service.index()
    assert report.indexed == 0
    assert service.status().secrets == expected

    # A file that loses its secrets loses its count; a deleted one disappears.
    (root / "web" / "keys.js").write_text("export const STRIPE_SECRET_KEY = process.env.STRIPE_KEY;\n")
    (root / "deploy" / "values.yaml").unlink()
    service.update(["web/keys.js", "deploy/values.yaml"])
    counts = service.status().secrets
    assert "web/keys.js" not in counts and "deploy/values.yaml" not in counts
    assert counts["config/settings.py"] == expected["config/settings.py"]
    service.close()


def test_lsp_status_carries_the_counts(tmp_path: Path) -> None:
    from codeseek.lsp.protocol import combined_status, status_json
    from codeseek.model import IndexStatus

    one = IndexStatus(files=3, secrets={"config/settings.py": 2})
    two = IndexStatus(files=1, secrets={"web/keys.js": 1})
    assert status_json(one)["secrets"] == {"config/settings.py": 2}
    both = combined_status([(tmp_path / "a", one), (tmp_path / "b", two)])
    json.dumps(both)  # what goes over the wire
    assert both["secrets"] == {
        (tmp_path / "a" / "config/settings.py").as_uri(): 2,
        (tmp_path / "b" / "web/keys.js").as_uri(): 1,
    }
