"""Launching and supervising SGLang, with the stand-in server started through the real
command line (`python -m sglang.launch_server ...`, the stand-in found on PYTHONPATH).

These use the stand-in's hash vectors: what is tested is the process lifecycle, and a
hash-vector stand-in is ready in well under a second."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codeseek.config import Config, SglangConfig
from codeseek.embedding.sglang import SglangEmbedder
from codeseek.embedding.sglang_server import SglangSupervisor, process_alive
from codeseek.errors import EmbedderError, EmbedderUnavailable
from waiting import wait_until

STANDIN_PATH = Path(__file__).resolve().parents[1] / "standins" / "pythonpath"
MODEL = "Qwen/Qwen3-Embedding-4B"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SGLang and process groups are POSIX-only")


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """Environment for stand-in servers launched by this test; returns its files."""
    files = {
        "state": tmp_path / "state",
        "pidfile": tmp_path / "standin.json",
        "record": tmp_path / "requests.jsonl",
        "marker": tmp_path / "crashed",
    }
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(STANDIN_PATH), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("CODESEEK_STANDIN_VECTORS", "hash")
    monkeypatch.setenv("CODESEEK_STANDIN_PIDFILE", str(files["pidfile"]))
    monkeypatch.setenv("CODESEEK_STANDIN_RECORD", str(files["record"]))
    return files


@pytest.fixture
def make_supervisor(standin: dict[str, Path]) -> Iterator[Callable[..., SglangSupervisor]]:
    made: list[SglangSupervisor] = []

    def make(settings: SglangConfig | None = None, **options: object) -> SglangSupervisor:
        options = {"restart_backoff": (0.05, 0.2), "stop_grace": 2.0, "health_interval": 0.2, **options}
        supervisor = SglangSupervisor(
            settings or SglangConfig(startup_timeout=30), MODEL, state_dir=standin["state"], **options
        )
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.stop()


def standin_pids(standin: dict[str, Path]) -> dict[str, int]:
    return json.loads(standin["pidfile"].read_text())


def test_slow_start_is_waited_for_and_the_output_is_logged(
    make_supervisor: Callable[..., SglangSupervisor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODESEEK_STANDIN_START_DELAY", "1.5")
    supervisor = make_supervisor()
    started = time.monotonic()
    info = supervisor.start()
    assert time.monotonic() - started >= 1.5
    assert info.model == MODEL and info.dimensions == 64 and info.max_model_len == 32768
    assert supervisor.owner and info.url.startswith("http://127.0.0.1:")
    log_text = supervisor.log_path.read_text()
    assert f"-m sglang.launch_server --model-path {MODEL} --is-embedding --host 127.0.0.1" in log_text
    assert "fired up and ready" in log_text


def test_startup_timeout_names_the_setting_and_quotes_the_log(
    make_supervisor: Callable[..., SglangSupervisor],
    monkeypatch: pytest.MonkeyPatch,
    standin: dict[str, Path],
) -> None:
    monkeypatch.setenv("CODESEEK_STANDIN_START_DELAY", "60")
    supervisor = make_supervisor(SglangConfig(startup_timeout=1.5))
    with pytest.raises(
        EmbedderError, match=r"did not become ready within 1\.5 s \(sglang\.startupTimeout"
    ) as caught:
        supervisor.start()
    assert "server_args=ServerArgs(model_path='Qwen/Qwen3-Embedding-4B'" in str(caught.value)
    assert wait_until(lambda: not process_alive(standin_pids(standin)["pid"]), 5)
    assert not (standin["state"] / f"{supervisor.key}.json").exists()


def test_a_server_that_exits_while_starting_fails_fast_with_a_hint(
    make_supervisor: Callable[..., SglangSupervisor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODESEEK_STANDIN_EXIT_AT_START", "ModuleNotFoundError: No module named sglang")
    supervisor = make_supervisor(SglangConfig(startup_timeout=120))
    started = time.monotonic()
    with pytest.raises(EmbedderError) as caught:
        supervisor.start()
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "exited with code 1 while starting" in message
    assert "pip install 'codeseek-lsp[sglang]'" in message
    assert "No module named sglang" in message


def test_a_configured_port_already_taken_is_a_clear_error(
    make_supervisor: Callable[..., SglangSupervisor],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        supervisor = make_supervisor(SglangConfig(port=port, startup_timeout=30))
        with pytest.raises(EmbedderError, match=rf"sglang\.port {port} is already in use"):
            supervisor.start()
    assert supervisor.server_pid is None


def test_a_crashed_server_is_restarted_and_requests_resume(
    make_supervisor: Callable[..., SglangSupervisor],
    monkeypatch: pytest.MonkeyPatch,
    standin: dict[str, Path],
) -> None:
    # Request 1 is the readiness probe; request 2 kills the server, once.
    monkeypatch.setenv("CODESEEK_STANDIN_CRASH_AFTER", "2")
    monkeypatch.setenv("CODESEEK_STANDIN_CRASH_MARKER", str(standin["marker"]))
    supervisor = make_supervisor()
    config = Config()
    config.embedder.dimensions = 32
    embedder = SglangEmbedder(config, supervisor=supervisor, retries=0)
    first_pid = supervisor.server_pid
    assert first_pid is not None
    with pytest.raises(EmbedderUnavailable):
        embedder.embed_documents(["def crash(): pass"])
    assert standin["marker"].exists()

    def restarted() -> bool:
        try:
            supervisor.ensure_available()
        except EmbedderUnavailable:
            return False
        return supervisor.server_pid not in (None, first_pid)

    assert wait_until(restarted, 15)
    assert not process_alive(first_pid)
    vectors = embedder.embed_documents(["def crash(): pass", "x = 1"])
    assert vectors.shape == (2, 32)
    assert supervisor.log_path.read_text().count("--- codeseek") == 2
    embedder.close()


def test_restarts_give_up_after_repeated_failed_starts(
    make_supervisor: Callable[..., SglangSupervisor],
    monkeypatch: pytest.MonkeyPatch,
    standin: dict[str, Path],
) -> None:
    broken = standin["state"].parent / "broken"
    monkeypatch.setenv("CODESEEK_STANDIN_EXIT_IF_EXISTS", str(broken))
    supervisor = make_supervisor(max_failed_starts=2)
    supervisor.start()
    broken.touch()
    os.kill(standin_pids(standin)["pid"], signal.SIGKILL)

    def gave_up() -> bool:
        try:
            supervisor.ensure_available()
        except EmbedderUnavailable as exc:
            return "gave up after 2 failed starts" in str(exc)
        return False

    assert wait_until(gave_up, 15)
    with pytest.raises(EmbedderUnavailable, match="CUDA out of memory"):
        supervisor.ensure_available()
    assert supervisor.log_path.read_text().count("--- codeseek") == 3


def test_stop_leaves_no_process_behind(
    make_supervisor: Callable[..., SglangSupervisor],
    monkeypatch: pytest.MonkeyPatch,
    standin: dict[str, Path],
) -> None:
    monkeypatch.setenv("CODESEEK_STANDIN_SPAWN_CHILD", "1")
    supervisor = make_supervisor()
    supervisor.start()
    pids = standin_pids(standin)
    watchdog = supervisor.watchdog_pid
    assert watchdog is not None and pids["pid"] == supervisor.server_pid
    assert all(process_alive(pid) for pid in (pids["pid"], pids["child_pid"], watchdog))
    assert (standin["state"] / f"{supervisor.key}.json").exists()
    supervisor.stop()
    assert wait_until(
        lambda: not any(process_alive(p) for p in (pids["pid"], pids["child_pid"], watchdog)), 5
    )
    assert not (standin["state"] / f"{supervisor.key}.json").exists()


DRIVER = """
import json, sys, time
from pathlib import Path
from codeseek.config import SglangConfig
from codeseek.embedding.sglang_server import SglangSupervisor
supervisor = SglangSupervisor(SglangConfig(startup_timeout=30), sys.argv[2], state_dir=Path(sys.argv[1]), stop_grace=2.0)
supervisor.start()
print(json.dumps({"watchdog": supervisor.watchdog_pid}), flush=True)
if sys.argv[3] == "wait":
    time.sleep(600)
"""


@pytest.mark.parametrize("ending", ["killed", "exits"])
def test_codeseek_ending_without_stop_leaves_no_process_behind(
    monkeypatch: pytest.MonkeyPatch, standin: dict[str, Path], ending: str
) -> None:
    """SIGKILL (the watchdog acts) or a normal exit without calling stop (atexit acts)."""
    monkeypatch.setenv("CODESEEK_STANDIN_SPAWN_CHILD", "1")
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DRIVER,
            str(standin["state"]),
            MODEL,
            "wait" if ending == "killed" else "exit",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert driver.stdout is not None
        ready, _, _ = select.select([driver.stdout], [], [], 30)
        assert ready, "the driver did not start SGLang"
        watchdog = json.loads(driver.stdout.readline())["watchdog"]
        pids = standin_pids(standin)
        if ending == "killed":
            assert all(process_alive(p) for p in (pids["pid"], pids["child_pid"], watchdog))
            driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        assert wait_until(
            lambda: not any(process_alive(p) for p in (pids["pid"], pids["child_pid"], watchdog)), 10
        )
        if ending == "exits":
            assert not list(standin["state"].glob("*.json"))
    finally:
        if driver.poll() is None:
            driver.kill()


def test_a_second_process_reuses_the_server_and_takes_over_when_its_owner_stops(
    make_supervisor: Callable[..., SglangSupervisor], standin: dict[str, Path]
) -> None:
    first = make_supervisor()
    first_info = first.start()
    # File locks and the state file are per open file, so a second supervisor in this
    # process behaves exactly as one in another process would.
    second = make_supervisor()
    second_info = second.start()
    assert second_info == first_info
    assert not second.owner and second.server_pid is None
    assert first.log_path.read_text().count("--- codeseek") == 1

    first.stop()

    def taken_over() -> bool:
        try:
            return second.owner and second.ensure_available() is not None
        except EmbedderUnavailable:
            return False

    assert wait_until(taken_over, 15)
    assert second.owner
    assert second.log_path.read_text().count("--- codeseek") == 2
    state = json.loads((standin["state"] / f"{second.key}.json").read_text())
    assert state["pid"] == second.server_pid and state["owner_pid"] == os.getpid()
