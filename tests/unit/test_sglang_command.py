"""The exact SGLang command line built from settings, and the key that shares servers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codeseek.config import SglangConfig
from codeseek.embedding.sglang_server import Role, build_launch_command, server_key
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


def test_a_reranker_runs_as_a_decoder_only_scorer_with_its_chat_template() -> None:
    template = Path("/state/qwen3_reranker.jinja")
    command = build_launch_command(
        SglangConfig(), "Qwen/Qwen3-Reranker-4B", 31235, role=Role.RERANKER, chat_template=template
    )
    assert command == [
        sys.executable,
        "-m",
        "sglang.launch_server",
        "--model-path",
        "Qwen/Qwen3-Reranker-4B",
        "--chat-template",
        str(template),
        "--disable-radix-cache",
        "--host",
        "127.0.0.1",
        "--port",
        "31235",
    ]
    with pytest.raises(ConfigError, match=r"sglang\.extraArgs: --chat-template is set by codeseek"):
        build_launch_command(
            SglangConfig(extra_args=["--chat-template=x"]), "m", 1, role=Role.RERANKER, chat_template=template
        )
    # The embedding server takes a chat template from the user, as before.
    assert "--chat-template" in build_launch_command(
        SglangConfig(extra_args=["--chat-template", "x"]), "m", 1
    )


def test_two_launched_servers_share_the_gpu_unless_told_otherwise() -> None:
    shared = build_launch_command(SglangConfig(dtype="bfloat16"), "m", 1, share_gpu=True)
    assert shared[-4:] == ["--dtype", "bfloat16", "--mem-fraction-static", "0.4"]
    mine = SglangConfig(extra_args=["--mem-fraction-static=0.3"])
    assert build_launch_command(mine, "m", 1, share_gpu=True)[-1:] == ["--mem-fraction-static=0.3"]
    assert "--mem-fraction-static" not in build_launch_command(SglangConfig(), "m", 1)


def test_data_parallelism_passes_through_to_both_roles() -> None:
    settings = SglangConfig(extra_args=["--dp-size", "4"])
    for role in Role:
        command = build_launch_command(settings, "m", 1, role=role, chat_template=Path("t.jinja"))
        assert command[-2:] == ["--dp-size", "4"]


def test_the_roles_are_different_servers() -> None:
    template = Path("/state/qwen3_reranker.jinja")
    assert server_key(SglangConfig(), "m") != server_key(
        SglangConfig(), "m", role=Role.RERANKER, chat_template=template
    )
