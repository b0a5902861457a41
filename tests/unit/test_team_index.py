"""The team index against a real S3-compatible server on loopback (tests/s3.py: moto in a
process of its own), with the real store, chunker and bundled model: publishing, a
teammate searching the shared index at once under a local overlay, two publishers at once,
and the storage going away mid-search and mid-publish.

Model calls are counted through the embedder (`Counting`): "no model call" below means no
document was embedded; a query is still embedded to search by meaning."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codeseek import cli, indexer
from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.errors import StoreUnreachable
from codeseek.indexer import content_hash
from codeseek.lsp.protocol import status_json
from codeseek.model import IndexProgress, Phase
from codeseek.search import SearchRequest
from codeseek.service import FolderService
from codeseek.store import location
from codeseek.team import TEAM_FILE, publish
from s3 import S3Server

DATA = Path(__file__).parent.parent / "data" / "workspace"
EDITED = "src/storage/json_store.py"
DELETED = "native/matrix.rs"
NEW = "src/teammate_only.py"


class Counting:
    """The real embedder, counting the documents it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.documents = 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            self.documents += len(texts)
        return self.inner.embed_documents(texts)


@dataclass
class Shared:
    server: S3Server
    uri: str
    ci: Path  # the published workspace
    chunks: int


def _environment(server: S3Server) -> dict[str, str]:
    # Plain HTTP on loopback; the credentials only through the standard variables.
    return {**server.endpoint.environment(), "AWS_ALLOW_HTTP": "true"}


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    """One server for the module; the tests that make storage go away start their own."""
    with S3Server() as s3:
        saved = {k: os.environ.get(k) for k in _environment(s3)}
        os.environ.update(_environment(s3))
        try:
            yield s3
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _workspace(base: Path, name: str) -> Path:
    root = base / name
    shutil.copytree(DATA, root)
    return root


def _publisher(root: Path, uri: str, embedder: Any) -> FolderService:
    config = Config()
    config.store.path = uri
    return FolderService(root, config, embedder=embedder)


def _teammate(root: Path, uri: str, embedder: Any, store: Path) -> FolderService:
    config = Config()
    config.store.path = str(store)
    config.store.shared = uri
    return FolderService(root, config, embedder=embedder)


def _publish(service: FolderService, **kwargs: Any) -> indexer.IndexReport:
    return publish(lambda: service.index(**kwargs), service.status().store_path or "")


@pytest.fixture(scope="module")
def shared(server: S3Server, minilm: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """The sample workspace published once, as CI would."""
    uri = server.create_bucket("team-shared") + "/index"
    ci = _workspace(tmp_path_factory.mktemp("ci"), "repo")
    report = _publish(_publisher(ci, uri, minilm))
    return Shared(server, uri, ci, report.chunks)


def _paths(hits: Sequence[Any]) -> list[str]:
    return [h.path for h in hits]


def _edit(root: Path) -> None:
    """A local edit (a function renamed and a new one), a new file, a deleted file."""
    text = (root / EDITED).read_text()
    assert "def merge_settings" in text
    text = text.replace("def merge_settings", "def combine_preferences")
    text += "\n\ndef frobnicate_widgets(count):\n    '''Frobnicate the given number of widgets.'''\n    return count * 42\n"
    (root / EDITED).write_text(text)
    (root / NEW).write_text("def teammate_only_helper():\n    return 'only on this branch'\n")
    (root / DELETED).unlink()


def test_publish_costs_only_chunks_nobody_embedded(
    server: S3Server, minilm: Embedder, tmp_path: Path
) -> None:
    uri = server.create_bucket("team-publish") + "/index"
    counting = Counting(minilm)
    ci = _workspace(tmp_path, "repo")
    first = _publish(_publisher(ci, uri, counting))
    assert first.files >= 8 and first.chunks > 0
    assert first.chunks_pending == 0 and counting.documents == first.chunks_embedded > 0
    # Tables and the index's own record are objects in the bucket; no lock file anywhere.
    keys = server.list_keys("team-publish", "index/")
    assert any(k.startswith("index/chunks_") for k in keys)
    assert any(k.startswith("index/codeseek_meta") for k in keys)
    assert not any("lock" in k for k in keys)

    # The same commit again: nothing to do. A commit changing one file: only its new chunks.
    counting.documents = 0
    again = _publish(_publisher(ci, uri, counting))
    assert (again.indexed, again.chunks_embedded, counting.documents) == (0, 0, 0)
    (ci / EDITED).write_text((ci / EDITED).read_text() + "\n\ndef brand_new(x):\n    return x + 1\n")
    commit = _publish(_publisher(ci, uri, counting))
    assert commit.indexed == 1
    assert 0 < counting.documents <= 2  # the new function (and the module part that holds it)

    # Another branch elsewhere with that same content costs nothing: keyed by content.
    other = _workspace(tmp_path, "other-checkout")
    shutil.copy(ci / EDITED, other / EDITED)
    counting.documents = 0
    branch = _publish(_publisher(other, uri, counting))
    assert counting.documents == 0 and branch.chunks_pending == 0


def test_a_teammate_searches_the_shared_index_at_once_without_model_calls(
    shared: Shared, minilm: Embedder, tmp_path: Path
) -> None:
    counting = Counting(minilm)
    root = _workspace(tmp_path, "checkout")
    mate = _teammate(root, shared.uri, counting, tmp_path / "store")
    # No local index at all: the first search answers from the shared index.
    result = mate.search(SearchRequest("merge two settings dictionaries", limit=3))
    assert result.hits and result.hits[0].path == EDITED and result.degraded is None
    only_web = mate.search(SearchRequest("merge two settings dictionaries", include=["web/**"]))
    assert only_web.hits and all(h.path.startswith("web/") for h in only_web.hits)
    # The overlay: every file has the shared content, so nothing is chunked or embedded.
    report = mate.index()
    assert counting.documents == 0 and report.chunks == 0 and report.files >= 8
    result = mate.search(SearchRequest("merge two settings dictionaries", limit=3))
    assert result.hits[0].path == EDITED and counting.documents == 0
    # Related code comes from the shared index too: the chunk's vector is stored there.
    related = mate.related(EDITED, 31)
    assert related and all(not (h.path == EDITED and h.start_line <= 31 <= h.end_line) for h in related)
    status = mate.status()
    assert status.team is not None
    assert (status.team.shared, status.team.overlay_files, status.team.hidden) == (shared.uri, 0, 0)
    assert status.team.shared_chunks == shared.chunks and status.team.reachable
    wire = status_json(status)["team"]
    assert wire["sharedFiles"] == status.team.shared_files and wire["fetchedAt"]
    # The last fetched state is kept for a day without the network, without credentials.
    kept = (tmp_path / "store" / TEAM_FILE).read_text()
    secret = shared.server.endpoint.secret_access_key
    assert EDITED in kept and secret not in kept and secret not in json.dumps(status.to_json())


def test_a_teammates_edit_new_file_and_deleted_file_win_over_the_shared_index(
    shared: Shared, minilm: Embedder, tmp_path: Path
) -> None:
    counting = Counting(minilm)
    root = _workspace(tmp_path, "branch")
    _edit(root)
    mate = _teammate(root, shared.uri, counting, tmp_path / "store")
    report = mate.index()
    # Unchanged chunks of the edited file come from the shared vector cache by content:
    # the model sees only the renamed function, the new one and the new file.
    assert report.chunks_cached > 0
    assert 0 < counting.documents <= 4
    status = mate.status()
    assert status.team is not None and (status.team.overlay_files, status.team.hidden) == (2, 1)

    hits = mate.search(SearchRequest("frobnicate widgets", limit=3)).hits
    assert hits[0].path == EDITED and hits[0].symbol == "frobnicate_widgets"
    hits = mate.search(SearchRequest("teammate only helper", limit=3, mode="lexical")).hits
    assert hits[0].path == NEW
    # The shared version of the edited file is shadowed: its old function name is gone.
    hits = mate.search(SearchRequest("merge_settings", limit=10, mode="lexical")).hits
    assert all(h.symbol != "merge_settings" for h in hits)
    assert any(
        h.symbol == "combine_preferences" for h in mate.search(SearchRequest("combine_preferences")).hits
    )
    # The deleted file is hidden, though the shared index still has it.
    hits = mate.search(SearchRequest("matrix multiplication", limit=10)).hits
    assert DELETED not in _paths(hits)
    # Reverting the edit hands the file back to the shared index.
    shutil.copy(shared.ci / EDITED, root / EDITED)
    mate.update([EDITED])
    status = mate.status()
    assert status.team is not None and status.team.overlay_files == 1


def test_two_publishers_at_once_leave_one_consistent_index(
    minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that holds each commit until a second one arrives (or 0.3 s
    # passes), so the two publishers race for the same versions for certain.
    with S3Server(commit_rendezvous=0.3) as racing:
        for key, value in _environment(racing).items():
            monkeypatch.setenv(key, value)
        _two_publishers(racing, minilm, tmp_path)


def _two_publishers(server: S3Server, minilm: Embedder, tmp_path: Path) -> None:
    uri = server.create_bucket("team-race") + "/index"
    main = _workspace(tmp_path, "main")
    feature = _workspace(tmp_path, "feature")
    _edit(feature)
    counting = Counting(minilm)
    publishers = [_publisher(main, uri, counting), _publisher(feature, uri, counting)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(service: FolderService) -> None:
        start.wait()
        try:
            _publish(service)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in publishers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert server.precondition_failures > 0  # the race was real: commits were refused and redone

    # Whatever the interleaving: no chunk or record twice, every chunk embedded, and every
    # row of one of the two published versions. (A file both sides changed may have its
    # record from one and its chunks from the other for a moment; a teammate never sees
    # those chunks, since a chunk counts only under its own file_hash.)
    versions: dict[str, set[str]] = {}
    for root in (main, feature):
        for path in root.rglob("*"):
            if path.is_file():
                text = path.read_bytes().decode("utf-8")
                versions.setdefault(path.relative_to(root).as_posix(), set()).add(content_hash(text))
    check = _publisher(main, uri, counting).store()
    assert check is not None

    def rows() -> tuple[dict[str, str], list[dict[str, Any]]]:
        check.forget_tables()
        records = {p: r.hash for p, r in check.file_records().items()}
        table = check._table(check.chunks_name)
        chunks = table.search().select(["id", "path", "file_hash"]).limit(None).to_arrow().to_pylist()
        assert len({r["id"] for r in chunks}) == len(chunks)
        assert check.count_files() == len(records)
        assert check.count_embedded()[0] == check.count_embedded()[1]
        return records, chunks

    records, chunks = rows()
    assert all(h in versions[p] for p, h in records.items())
    assert all(c["file_hash"] in versions[c["path"]] for c in chunks)

    # The next publish of one side makes the index that side's content exactly.
    _publish(_publisher(feature, uri, counting))
    records, chunks = rows()
    assert all(c["file_hash"] == records[c["path"]] for c in chunks)
    assert NEW in records and DELETED not in records


def test_storage_gone_mid_search_answers_from_the_overlay_and_says_so(
    minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with S3Server() as own:
        for key, value in _environment(own).items():
            monkeypatch.setenv(key, value)
        uri = own.create_bucket("team-gone") + "/index"
        _publish(_publisher(_workspace(tmp_path, "ci"), uri, minilm))
        root = _workspace(tmp_path, "mate")
        _edit(root)
        mate = _teammate(root, uri, minilm, tmp_path / "store")
        mate.index()
        assert mate.search(SearchRequest("matrix multiplication")).degraded is None
        own.kill()  # the storage goes away: every connection refused from now on

        started = time.monotonic()
        result = mate.search(SearchRequest("frobnicate widgets", limit=5))
        first = time.monotonic() - started
        assert result.hits and result.hits[0].symbol == "frobnicate_widgets"
        assert set(_paths(result.hits)) <= {EDITED, NEW}  # the overlay, nothing shared
        assert result.degraded and "unreachable" in result.degraded and uri in result.degraded
        assert first < 12  # the search deadline, not the client's minutes of retries
        # Right after a failure the storage is left alone: the editor does not wait again.
        started = time.monotonic()
        again = mate.search(SearchRequest("frobnicate widgets", limit=5))
        assert time.monotonic() - started < 2 and again.degraded
        status = mate.status()
        assert status.team is not None and not status.team.reachable and status.team.shared_files > 0
        for text in (result.degraded, json.dumps(status.to_json())):
            assert own.endpoint.secret_access_key not in text and own.endpoint.access_key_id not in text


def test_storage_gone_mid_publish_fails_clearly_and_the_next_publish_completes(
    minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small embedding batches, so the publish is mid-way when the storage stops; client
    # limits of a second, so the test does not wait for production timeouts.
    monkeypatch.setattr(indexer, "CHUNKS_PER_BATCH", 8)
    monkeypatch.setattr(
        location, "WRITE_TIMEOUTS", {"connect_timeout": "1s", "timeout": "1s", "client_max_retries": "0"}
    )
    with S3Server() as own:
        for key, value in _environment(own).items():
            monkeypatch.setenv(key, value)
        uri = own.create_bucket("team-halfway") + "/index"
        ci = _workspace(tmp_path, "ci")
        counting = Counting(minilm)
        frozen = threading.Event()

        def freeze_once(update: IndexProgress) -> None:
            if update.phase is Phase.EMBED and not frozen.is_set():
                frozen.set()
                own.freeze()  # accepted connections, never answered: a hung network

        service = _publisher(ci, uri, counting)
        started = time.monotonic()
        with pytest.raises(StoreUnreachable) as failure:
            _publish(service, progress=freeze_once)
        assert frozen.is_set() and time.monotonic() - started < 60
        message = str(failure.value)
        assert "run the same command again" in message and uri in message
        assert own.endpoint.secret_access_key not in message
        embedded_before = counting.documents
        own.thaw()

        again = _publisher(ci, uri, counting)
        report = _publish(again)
        assert report.chunks_pending == 0 and report.files >= 8
        # Nothing embedded before the storage stopped is embedded again: every chunk
        # that gets a vector (import blocks get none) was sent to the model once.
        store = again.store()
        assert store is not None
        dense = store.count_chunks("dense = true")
        assert counting.documents == dense
        assert 0 < embedded_before < dense


def test_the_command_line_publishes_and_a_teammate_searches_with_shared(
    shared: Shared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODESEEK_STORE", str(tmp_path / "store"))
    root = _workspace(tmp_path, "mate")

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    code, out, err = run("index", str(shared.ci), "--publish", shared.uri, "--json")
    assert code == 0, err
    assert json.loads(out)["chunks_embedded"] == 0  # already published by the fixture
    code, out, err = run(
        "search", "merge two settings dictionaries", "-w", str(root), "--shared", shared.uri, "--json"
    )
    assert code == 0, err
    assert json.loads(out)[0]["path"] == EDITED
    code, out, err = run("status", "-w", str(root), "--shared", shared.uri, "--json")
    assert code == 0, err
    team = json.loads(out)["team"]
    assert team["shared"] == shared.uri and team["overlay_files"] == 0
    code, out, err = run("status", "-w", str(root), "--shared", shared.uri)
    assert code == 0 and f"shared     {shared.uri}:" in out and "0 files differ here" in out
    code, _, err = run("index", str(root), "--publish", str(tmp_path / "folder"))
    assert code == 2 and "--publish" in err


def test_publish_retries_a_lost_commit_race_with_backoff_and_gives_up_clearly() -> None:
    from codeseek.errors import StoreConflict

    attempts: list[int] = []
    waits: list[float] = []

    def run() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise StoreConflict("cannot write the chunks table: another writer committed at the same time")
        return "published"

    assert publish(run, "s3://b/x", sleep=waits.append) == "published"
    assert len(attempts) == 3 and len(waits) == 2 and waits[1] > waits[0] * 0.3

    def always() -> str:
        raise StoreConflict("lost")

    with pytest.raises(StoreConflict, match="lost 8 commit races"):
        publish(always, "s3://b/x", sleep=waits.append)


def test_credentials_are_scrubbed_from_messages_and_uris(monkeypatch: pytest.MonkeyPatch) -> None:
    from codeseek.store.errors import scrub
    from codeseek.store.location import mask_uri

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    message = (
        "403: <AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId><StringToSign>AWS4 x</StringToSign> "
        "signed with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY at https://user:pw@host/b?X-Amz-Signature=abc&sig=def"
    )
    clean = scrub(message)
    for secret in ("AKIAIOSFODNN7EXAMPLE", "AWS4 x", "wJalrXUtnFEMI", "user:pw", "abc", "def"):
        assert secret not in clean, (secret, clean)
    assert mask_uri("az://acct:key@container/index/?sv=1&sig=secret") == "az://container/index"


def test_a_remote_index_is_checked_never_dropped_and_needs_no_lock(
    server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codeseek.errors import StoreError
    from codeseek.model import Chunk
    from codeseek.store.lance import IndexStore
    from codeseek.store.schema import FileRecord

    # store.allowHttp, not the environment, allows the plain-HTTP endpoint here.
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    config = Config()
    config.store.allow_http = True
    uri = server.create_bucket("team-heal") + "/index"
    store = IndexStore(uri, "k", 4, storage_options=location.storage_options(config, writing=True))
    chunk = Chunk("a.py", "python", 1, 1, "x = 1")
    with store.writer() as writer:
        writer.replace_files([FileRecord("a.py", "h1", 5, 0, 1)], [chunk], np.full((1, 4), 0.5, np.float32))
    assert store.count_chunks() == 1 and store.file_records()["a.py"].hash == "h1"
    assert not any("lock" in key for key in server.list_keys("team-heal"))

    # An index of another layout is reported, never rebuilt: other machines use it.
    meta = store.read_meta()
    store.meta_file.write({**meta, "schema_version": 1})
    with pytest.raises(StoreError, match="publish to a new location"), store.writer():
        pass
    store.forget_tables()
    assert store.count_chunks() == 1
