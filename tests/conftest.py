"""Fixtures for every test: fixture workspaces copied to a temporary folder, so tests
can change them freely."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from s3 import S3Endpoint, S3Server  # tests/s3.py, found through the line above

DATA = Path(__file__).parent / "data"

# Never reach for a model hub from a test, whatever the environment says.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The sockets through which the CLI reaches a running server (warm.py): the session's
# own, so a test never talks to a developer's server, nor theirs to a test's. Short,
# under /tmp: a socket's path is limited to about 100 bytes.
os.environ["CODESEEK_SOCKET_DIR"] = tempfile.mkdtemp(
    prefix="codeseek-sockets-", dir="/tmp" if os.path.isdir("/tmp") else None
)


@pytest.fixture
def sample_workspace(tmp_path: Path) -> Path:
    """A small multi-language project (Python, TypeScript, JavaScript, Go, Rust, Java,
    Markdown) with a .gitignore that excludes build/ and *.log."""
    root = tmp_path / "workspace"
    shutil.copytree(DATA / "workspace", root)
    return root


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the session's S3-compatible server."""

    name: str
    server: S3Server

    @property
    def uri(self) -> str:
        return f"s3://{self.name}"

    @property
    def endpoint(self) -> S3Endpoint:
        return self.server.endpoint


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-compatible server (moto) on 127.0.0.1 for the whole session. Tests that make
    the storage go away use `own_s3_server` instead, so this one stays up."""
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> S3Bucket:
    """An empty bucket of its own for each test on the session server."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_server.create_bucket(name)
    return S3Bucket(name, s3_server)


@pytest.fixture
def own_s3_server() -> Iterator[S3Server]:
    """A server of this test's own, free to kill() or freeze(); stopped afterwards."""
    with S3Server() as server:
        yield server


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ["CODESEEK_SOCKET_DIR"], ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_client: drives a real editor client (Neovim, code-server); never skipped in CI"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI=true a real-client test that skips (its client is not installed) fails:
    CI installs every client, so a skip there means the set-up broke, not that the test
    does not apply."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and item.get_closest_marker("real_client"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"real-client test skipped under CI=true: {reason}"
