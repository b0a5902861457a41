"""The exact SGLang command line built from settings, and the key that shares servers."""

from __future__ import annotations

import sys

import pytest

from codeseek.config import SglangConfig
from codeseek.embedding.sglang_server import build_launch_command, server_key
from codeseek.errors import ConfigError


def test_default_command_uses_this_interpreter_and_loopback() -> None:
    command = build_launch_command(SglangConfig(), "Qwen/Qwen3-Embedding-4B", 31234)
    assert command == [
        sys.executable,
        "-m",
        "sglang.launch_server",
        "--model-path",
        "Qwen/Qwen3-Embedding-4B",
        "--is-embedding",
        "--host",
        "127.0.0.1",
        "--port",
        "31234",
    ]


def test_python_dtype_and_extra_args_are_placed_in_order() -> None:
    settings = SglangConfig(
        python="/opt/sglang/bin/python",
        dtype="bfloat16",
        extra_args=["--mem-fraction-static", "0.5", "--context-length=8192"],
    )
    command = build_launch_command(settings, "/models/qwen3-embedding-0.6b", 40000)
    assert command == [
        "/opt/sglang/bin/python",
        "-m",
        "sglang.launch_server",
        "--model-path",
        "/models/qwen3-embedding-0.6b",
        "--is-embedding",
        "--host",
        "127.0.0.1",
        "--port",
        "40000",
        "--dtype",
        "bfloat16",
        "--mem-fraction-static",
        "0.5",
        "--context-length=8192",
    ]


@pytest.mark.parametrize(
    "arg", ["--port", "--host=0.0.0.0", "--model-path", "--is-embedding", "--dtype=half"]
)
def test_extra_args_cannot_override_what_codeseek_sets(arg: str) -> None:
    with pytest.raises(ConfigError, match=r"sglang\.extraArgs: --"):
        build_launch_command(SglangConfig(extra_args=[arg, "x"]), "m", 1)


def test_server_key_ignores_the_port_but_not_the_model_or_arguments() -> None:
    base = SglangConfig()
    assert server_key(base, "Qwen/Qwen3-Embedding-4B") == server_key(
        SglangConfig(port=4321), "Qwen/Qwen3-Embedding-4B"
    )
    assert server_key(base, "Qwen/Qwen3-Embedding-4B") != server_key(base, "Qwen/Qwen3-Embedding-8B")
    assert server_key(base, "m") != server_key(SglangConfig(extra_args=["--context-length", "4096"]), "m")
    assert server_key(base, "m") != server_key(SglangConfig(dtype="float16"), "m")
    assert server_key(base, "Qwen/Qwen3-Embedding-4B").startswith("qwen_qwen3_embedding_4b-")
