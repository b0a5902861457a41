"""The second-stage reranker: SGLang's `/v1/rerank` from a stand-in launched through the
real command line (by the same supervisor as the embedding server), and Voyage's
rerank API through the real `voyageai` client against a loopback stand-in. Each is
tried up, down and slow."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codeseek.config import DEFAULT_QUERY_INSTRUCTION, Config, RerankerConfig, SglangConfig
from codeseek.embedding.rerank import (
    SglangReranker,
    VoyageReranker,
    create_reranker,
    embedder_is_launched,
)
from codeseek.embedding.sglang import SglangEmbedder, reranker_is_launched
from codeseek.embedding.sglang_server import Role, SglangSupervisor, find_free_port, process_alive
from codeseek.errors import ConfigError, RerankerError, RerankerTimeout, RerankerUnavailable
from waiting import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))
from relevance import relevance
from voyage_server import VoyageStandIn

STANDINS = Path(__file__).resolve().parents[1] / "standins"
RERANKER = "Qwen/Qwen3-Reranker-4B"
EMBEDDER = "Qwen/Qwen3-Embedding-4B"
KEY = "test-key"
QUERY = "parse duration text"
DOCUMENTS = [
    "def add(a, b):\n    return a + b",
    "def parse_duration(text):\n    '''Parse a duration string like 1h30m.'''",
    "",
    "class DurationParser:\n    def parse(self, string): ...",
]

posix_only = pytest.mark.skipif(os.name != "posix", reason="SGLang and process groups are POSIX-only")


def standin_env(tmp: Path, **options: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(STANDINS / "pythonpath"), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "CODESEEK_STANDIN_VECTORS": "hash",
        "CODESEEK_STANDIN_RECORD": str(tmp / "requests.jsonl"),
        "CODESEEK_STANDIN_PIDFILE": str(tmp / "standin.json"),
        **options,
    }


def sglang_config(**reranker: Any) -> Config:
    config = Config()
    config.sglang.startup_timeout = 30
    config.reranker.provider = "sglang"
    for name, value in reranker.items():
        setattr(config.reranker, name, value)
    return config


def recorded(tmp: Path, path: str = "/v1/rerank") -> list[dict[str, Any]]:
    file = tmp / "requests.jsonl"
    lines = file.read_text().splitlines() if file.exists() else []
    return [record for record in map(json.loads, lines) if record["path"] == path]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., SglangReranker]]:
    """Build SglangRerankers whose server is a stand-in launched by the real supervisor."""
    made: list[SglangReranker] = []

    def make(config: Config | None = None, **options: str) -> SglangReranker:
        config = config or sglang_config()
        supervisor = SglangSupervisor(
            config.sglang,
            config.reranker.model or RERANKER,
            role=Role.RERANKER,
            state_dir=tmp_path / "state",
            env=standin_env(tmp_path, **options),
            restart_backoff=(0.05, 0.2),
            stop_grace=2.0,
        )
        reranker = SglangReranker(config, supervisor=supervisor)
        made.append(reranker)
        return reranker

    yield make
    for reranker in made:
        reranker.close()


# -- SGLang ------------------------------------------------------------------------------------


@posix_only
def test_sglang_reranker_is_launched_as_a_decoder_only_scorer_and_speaks_v1_rerank(
    launch: Callable[..., SglangReranker], tmp_path: Path
) -> None:
    reranker = launch()
    assert reranker.wait_ready(30)
    scores = reranker.rerank(QUERY, DOCUMENTS)
    # In the order given, whatever order SGLang answers in; the blank one is not sent.
    assert scores == [relevance(QUERY, d) if d.strip() else 0.0 for d in DOCUMENTS]
    assert scores[1] > scores[3] > scores[0] == scores[2] == 0.0
    probe, request = recorded(tmp_path)  # the readiness probe, then ours
    assert probe["body"]["documents"] == ["def codeseek_readiness_probe(): pass"]
    body = request["body"]
    assert body == {
        "model": RERANKER,
        "query": QUERY,
        "documents": [d for d in DOCUMENTS if d.strip()],
        "instruct": DEFAULT_QUERY_INSTRUCTION,
        "return_documents": False,
    }
    # The prompt SGLang renders from codeseek's template is Qwen3-Reranker's own format.
    assert request["prompts"][0] == (
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and "
        'the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
        f"<|im_start|>user\n<Instruct>: {DEFAULT_QUERY_INSTRUCTION}\n<Query>: {QUERY}\n"
        f"<Document>: {DOCUMENTS[0]}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    # Launched without --is-embedding, with the template, on its own port, state file and log.
    argv = json.loads((tmp_path / "standin.json").read_text())["argv"]
    assert "--is-embedding" not in argv
    assert argv[argv.index("--chat-template") + 1] == str(tmp_path / "state" / "qwen3_reranker.jinja")
    assert "--disable-radix-cache" in argv
    supervisor = reranker._supervisor
    assert supervisor is not None and supervisor.log_path.exists()
    state = json.loads(supervisor.state_path.read_text())
    assert state["role"] == "reranker" and state["url"] == supervisor.info.url  # type: ignore[union-attr]
    assert reranker.describe() == f"sglang:{RERANKER} at {state['url']}"


@posix_only
def test_a_starting_reranker_is_unavailable_until_it_is_ready(launch: Callable[..., SglangReranker]) -> None:
    reranker = launch(CODESEEK_STANDIN_START_DELAY="1.5")  # returns at once: the launch goes on
    with pytest.raises(RerankerUnavailable, match="not available: starting"):
        reranker.rerank(QUERY, DOCUMENTS)
    assert reranker.wait_ready(30)
    assert reranker.rerank(QUERY, DOCUMENTS)[1] == 1.0


@posix_only
def test_a_slow_reranker_is_cut_off_at_its_budget(launch: Callable[..., SglangReranker]) -> None:
    reranker = launch(sglang_config(timeout=0.5), CODESEEK_STANDIN_RERANK_DELAY="5")
    assert reranker.wait_ready(30)
    started = time.monotonic()
    with pytest.raises(RerankerTimeout, match=r"did not answer within 0\.5 s \(reranker\.timeout\)"):
        reranker.rerank(QUERY, DOCUMENTS)
    assert time.monotonic() - started < 5  # it did not wait for the answer
    # A budget per call too.
    with pytest.raises(RerankerTimeout, match=r"within 0\.2 s"):
        reranker.rerank(QUERY, DOCUMENTS, timeout=0.2)


@posix_only
def test_a_dead_reranker_is_unavailable_then_restarted(
    launch: Callable[..., SglangReranker], tmp_path: Path
) -> None:
    reranker = launch()
    assert reranker.wait_ready(30)
    pid = json.loads((tmp_path / "standin.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not process_alive(pid), 5)
    with pytest.raises(RerankerUnavailable):
        reranker.rerank(QUERY, DOCUMENTS)
    assert reranker.wait_ready(30)
    assert reranker.rerank(QUERY, DOCUMENTS)[1] == 1.0


@posix_only
def test_a_running_reranker_at_reranker_url(launch: Callable[..., SglangReranker]) -> None:
    served = launch()
    assert served.wait_ready(30)
    url = served._supervisor.info.url  # type: ignore[union-attr]
    reranker = create_reranker(sglang_config(url=url, model="anything"))
    try:
        assert isinstance(reranker, SglangReranker)
        assert reranker.rerank(QUERY, DOCUMENTS)[1] == 1.0
        assert reranker.model_id == RERANKER  # the name the server answers to
        assert reranker.describe() == f"sglang:{RERANKER} at {url}"
    finally:
        reranker.close()
    down = create_reranker(sglang_config(url=f"http://127.0.0.1:{find_free_port()}"))
    assert down is not None
    try:
        with pytest.raises(RerankerUnavailable, match=r"\(reranker\.url\) is not answering"):
            down.rerank(QUERY, DOCUMENTS)
        assert not down.wait_ready(0.5)
    finally:
        down.close()


@posix_only
def test_an_embedding_server_at_reranker_url_gives_sglangs_own_message(tmp_path: Path) -> None:
    supervisor = SglangSupervisor(
        SglangConfig(startup_timeout=30), EMBEDDER, state_dir=tmp_path / "state", env=standin_env(tmp_path)
    )
    try:
        url = supervisor.start().url
        reranker = create_reranker(sglang_config(url=url))
        assert reranker is not None
        with pytest.raises(
            RerankerError, match="answered HTTP 400: This model is not a cross-encoder"
        ) as caught:
            reranker.rerank(QUERY, DOCUMENTS)
        assert not isinstance(caught.value, (RerankerUnavailable, RerankerTimeout))
        reranker.close()
    finally:
        supervisor.stop()


def test_bad_sglang_reranker_settings_fail_at_once() -> None:
    config = sglang_config()
    config.sglang.extra_args = ["--chat-template", "mine.jinja"]
    with pytest.raises(ConfigError, match=r"sglang\.extraArgs: --chat-template is set by codeseek"):
        create_reranker(config)
    config = sglang_config()
    config.sglang.launch = False
    with pytest.raises(
        ConfigError, match=r"set reranker\.url to a running server, or turn sglang\.launch on"
    ):
        create_reranker(config)


@posix_only
def test_one_supervisor_runs_both_roles_side_by_side(tmp_path: Path) -> None:
    """The embedding server and the reranker from the same settings: two servers, each
    with its own port, state file and log; both told to share the GPU."""
    config = sglang_config()
    config.embedder.provider = "sglang"
    assert reranker_is_launched(config) and embedder_is_launched(config)
    env = standin_env(tmp_path)
    embedding = SglangSupervisor(
        config.sglang, EMBEDDER, state_dir=tmp_path, env=env, share_gpu=reranker_is_launched(config)
    )
    embedder = SglangEmbedder(config, supervisor=embedding)
    reranker = SglangReranker(
        config,
        supervisor=SglangSupervisor(
            config.sglang,
            RERANKER,
            role=Role.RERANKER,
            state_dir=tmp_path,
            env=env,
            share_gpu=embedder_is_launched(config),
        ),
    )
    try:
        assert reranker.wait_ready(30)
        assert embedder.embed_query(QUERY).shape == (64,)
        assert reranker.rerank(QUERY, DOCUMENTS)[1] == 1.0
        rerank_supervisor = reranker._supervisor
        assert rerank_supervisor is not None and rerank_supervisor.info is not None
        assert embedding.info is not None and embedding.info.url != rerank_supervisor.info.url
        assert embedding.state_path != rerank_supervisor.state_path
        assert embedding.log_path != rerank_supervisor.log_path
        for supervisor, role in ((embedding, "embedding"), (rerank_supervisor, "reranker")):
            state = json.loads(supervisor.state_path.read_text())
            assert state["role"] == role
            command = state["command"]
            assert command[command.index("--mem-fraction-static") + 1] == "0.4"
    finally:
        reranker.close()
        embedder.close()


# -- Voyage ------------------------------------------------------------------------------------


@pytest.fixture
def voyage() -> Iterator[VoyageStandIn]:
    with VoyageStandIn(api_key=KEY) as standin:
        yield standin


def voyage_reranker(base_url: str, key: str = KEY, **reranker: Any) -> VoyageReranker:
    config = Config()
    config.voyage.base_url = base_url
    config.reranker.provider = "voyage"
    for name, value in reranker.items():
        setattr(config.reranker, name, value)
    made = create_reranker(config, env={"VOYAGE_API_KEY": key})
    assert isinstance(made, VoyageReranker)
    return made


def test_voyage_reranks_through_the_official_client(voyage: VoyageStandIn) -> None:
    reranker = voyage_reranker(voyage.base_url)
    scores = reranker.rerank(QUERY, DOCUMENTS)
    assert scores == [relevance(QUERY, d) if d.strip() else 0.0 for d in DOCUMENTS]
    (request,) = voyage.requests
    assert request["path"] == "/v1/rerank" and request["authorized"]
    assert request["model"] == "rerank-2.5" and request["query"] == QUERY
    assert request["documents"] == [d for d in DOCUMENTS if d.strip()]
    assert request.get("top_k") is None  # every candidate's score comes back
    lite = voyage_reranker(voyage.base_url, model="rerank-2.5-lite")
    assert lite.rerank(QUERY, DOCUMENTS) == scores and voyage.requests[-1]["model"] == "rerank-2.5-lite"


def test_voyage_down_slow_and_failing(voyage: VoyageStandIn) -> None:
    down = voyage_reranker(f"http://127.0.0.1:{find_free_port()}/v1")
    with pytest.raises(RerankerUnavailable, match="Voyage AI is not answering"):
        down.rerank(QUERY, DOCUMENTS)
    reranker = voyage_reranker(voyage.base_url, timeout=0.5)
    voyage.fail_next(503)
    with pytest.raises(RerankerUnavailable, match="service unavailable"):
        reranker.rerank(QUERY, DOCUMENTS)
    voyage.fail_next(429)
    with pytest.raises(RerankerUnavailable, match="rate limited"):
        reranker.rerank(QUERY, DOCUMENTS)
    voyage.rerank_delay = 3.0
    started = time.monotonic()
    with pytest.raises(RerankerTimeout):
        reranker.rerank(QUERY, DOCUMENTS)
    assert time.monotonic() - started < 3
    voyage.rerank_delay = 0.0
    assert reranker.rerank(QUERY, DOCUMENTS)[1] == 1.0  # and back


def test_voyage_refusals_are_errors_that_never_show_the_key(voyage: VoyageStandIn) -> None:
    secret = "pa-this-is-a-secret-key-0123456789"
    with pytest.raises(RerankerError, match="rejected the API key in VOYAGE_API_KEY") as caught:
        voyage_reranker(voyage.base_url, key=secret).rerank(QUERY, DOCUMENTS)
    assert secret not in str(caught.value)
    with pytest.raises(RerankerError, match="Model rerank-9 is not supported"):
        voyage_reranker(voyage.base_url, model="rerank-9").rerank(QUERY, DOCUMENTS)
    with pytest.raises(ConfigError, match="VOYAGE_API_KEY"):
        create_reranker(Config(reranker=RerankerConfig(provider="voyage")), env={})


def test_a_missing_voyage_client_is_one_line_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, voyage: VoyageStandIn
) -> None:
    monkeypatch.setitem(sys.modules, "voyageai", None)  # what an install without the extra has
    with pytest.raises(ConfigError) as caught:
        voyage_reranker(voyage.base_url)
    assert (
        str(caught.value)
        == "Voyage AI needs its client, an optional extra: pip install 'codeseek-lsp[voyage]'"
    )


def test_no_reranker_by_default_and_unknown_providers_are_refused() -> None:
    assert create_reranker(Config()) is None
    config = Config()
    config.reranker.provider = "cohere"
    with pytest.raises(ConfigError, match=r"reranker\.provider: unknown provider 'cohere'"):
        create_reranker(config)


def test_nothing_to_rank_costs_no_request(voyage: VoyageStandIn) -> None:
    reranker = voyage_reranker(voyage.base_url)
    assert reranker.rerank(QUERY, []) == []
    assert reranker.rerank(QUERY, ["", "  \n"]) == [0.0, 0.0]
    assert reranker.rerank("   ", DOCUMENTS) == [0.0] * len(DOCUMENTS)
    assert voyage.requests == []
