"""Which provider `auto` picks, and the reason `status` shows.

There is no GPU here, so CUDA detection is the one thing replaced; SGLang's presence is
real (it is not installed in the test environment) or comes from `sglang.python`."""

from __future__ import annotations

import pytest

from codeseek.config import Config
from codeseek.embedding import registry
from codeseek.embedding.registry import ProviderChoice, choose_provider, create_embedder
from codeseek.errors import ConfigError


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_cuda_available", lambda: True)


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_cuda_available", lambda: False)


@pytest.mark.parametrize("provider", ["local", "sglang", "voyage"])
def test_an_explicit_provider_wins(provider: str, gpu: None) -> None:
    config = Config()
    config.embedder.provider = provider
    config.sglang.url = "http://127.0.0.1:1"
    assert choose_provider(config, env={"VOYAGE_API_KEY": "k"}) == ProviderChoice(
        provider, f"embedder.provider is {provider!r}"
    )


def test_auto_prefers_a_configured_sglang_server(no_gpu: None) -> None:
    config = Config()
    config.sglang.url = "http://gpu-box:30000"
    choice = choose_provider(config, env={"VOYAGE_API_KEY": "k"})
    assert choice == ProviderChoice("sglang", "sglang.url is set")


def test_auto_launches_sglang_with_a_gpu_and_sglang(gpu: None) -> None:
    config = Config()
    config.sglang.python = "/opt/sglang/bin/python"  # SGLang lives in that environment
    assert choose_provider(config, env={}) == ProviderChoice("sglang", "a CUDA GPU and SGLang are available")


def test_a_gpu_without_sglang_installed_is_not_enough(gpu: None) -> None:
    # The base install does not include SGLang (it is the `codeseek-lsp[sglang]` extra).
    assert choose_provider(Config(), env={}).provider == "local"


def test_no_launching_means_no_sglang_without_a_url(gpu: None) -> None:
    config = Config()
    config.sglang.python = "/opt/sglang/bin/python"
    config.sglang.launch = False
    assert choose_provider(config, env={"VOYAGE_API_KEY": "k"}).provider == "voyage"


def test_auto_uses_voyage_when_a_key_is_set(no_gpu: None) -> None:
    choice = choose_provider(Config(), env={"VOYAGE_API_KEY": "pa-secret"})
    assert choice == ProviderChoice("voyage", "VOYAGE_API_KEY is set")
    assert "pa-secret" not in choice.reason


def test_auto_falls_back_to_the_local_model(no_gpu: None) -> None:
    choice = choose_provider(Config(), env={"VOYAGE_API_KEY": ""})
    assert choice.provider == "local"
    assert "default" in choice.reason


def test_an_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown provider 'openai'"):
        create_embedder(Config(), ProviderChoice("openai", "test"))


def test_sglang_without_url_or_launch_is_a_config_error() -> None:
    config = Config()
    config.sglang.launch = False
    with pytest.raises(ConfigError, match=r"needs sglang\.url, or sglang\.launch"):
        create_embedder(config, ProviderChoice("sglang", "test"))
