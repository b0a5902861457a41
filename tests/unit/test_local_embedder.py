"""The in-process embedder: Qwen3-Embedding conventions on a tiny random Qwen3 model
built here (nothing is downloaded), and the bundled MiniLM default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from codeseek.config import DEFAULT_QUERY_INSTRUCTION, EmbedderConfig
from codeseek.embedding.base import format_instructed_query, normalize
from codeseek.embedding.local import DEFAULT_MODEL_ID, LocalEmbedder
from codeseek.errors import ConfigError

EOS = "<|endoftext|>"
TEXTS = [
    "def add(a, b): return a + b",
    "class Stack: def push(self, item): self.items.append(item)",
    "x = 1",
    "def read_config(path): with open(path) as fh: return json.load(fh)",
]
QUERY = "read a json config file"


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-wide Qwen3 model with random weights and a word-level tokenizer that,
    like Qwen3-Embedding's, appends the end-of-text token that last-token pooling reads."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    folder = tmp_path_factory.mktemp("tiny-qwen3-embedding")
    words: dict[str, int] = {"[UNK]": 0, EOS: 1}
    splitter = pre_tokenizers.Whitespace()
    for text in [*TEXTS, format_instructed_query(DEFAULT_QUERY_INSTRUCTION, QUERY)]:
        for word, _ in splitter.pre_tokenize_str(text):
            words.setdefault(word, len(words))
    tokenizer = Tokenizer(models.WordLevel(words, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = splitter
    tokenizer.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS, unk_token="[UNK]"
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=len(words),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
    )
    Qwen3Model(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def qwen3(tiny_qwen3: Path) -> LocalEmbedder:
    return LocalEmbedder(EmbedderConfig(model=str(tiny_qwen3), dimensions=32, device="cpu"))


def manual_embedding(folder: Path, text: str, dimensions: int) -> np.ndarray:
    """Qwen3-Embedding by hand: one unpadded sequence, the last token's hidden state."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    ids = tokenizer(text, return_tensors="pt")
    assert ids["input_ids"][0, -1].item() == tokenizer.eos_token_id
    with torch.inference_mode():
        hidden = model(**ids).last_hidden_state[0, -1].numpy()
    return normalize(hidden[:dimensions])


def test_qwen3_is_recognised_and_truncated(qwen3: LocalEmbedder, tiny_qwen3: Path) -> None:
    assert qwen3.model_id == f"local:{tiny_qwen3.resolve()}"
    assert qwen3.dimensions == 32
    vectors = qwen3.embed_documents(TEXTS)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_last_token_pooling_matches_a_manual_forward_pass(qwen3: LocalEmbedder, tiny_qwen3: Path) -> None:
    vector = qwen3.embed_documents([TEXTS[1]])[0]
    np.testing.assert_allclose(vector, manual_embedding(tiny_qwen3, TEXTS[1], 32), atol=1e-5)


def test_batches_are_left_padded_and_equal_single_texts(qwen3: LocalEmbedder) -> None:
    # Left padding puts every sequence's end-of-text token in the last position.
    encoded = qwen3._tokenizer(TEXTS[:3], padding=True)
    assert encoded["attention_mask"][2][0] == 0 and all(mask[-1] == 1 for mask in encoded["attention_mask"])
    batched = qwen3.embed_documents(TEXTS)
    singles = np.stack([qwen3.embed_documents([text])[0] for text in TEXTS])
    np.testing.assert_allclose(batched, singles, atol=1e-4)


def test_the_instruction_goes_on_queries_only(qwen3: LocalEmbedder, tiny_qwen3: Path) -> None:
    query = qwen3.embed_query(QUERY)
    instructed = format_instructed_query(DEFAULT_QUERY_INSTRUCTION, QUERY)
    np.testing.assert_allclose(query, manual_embedding(tiny_qwen3, instructed, 32), atol=1e-5)
    document = qwen3.embed_documents([QUERY])[0]
    np.testing.assert_allclose(document, manual_embedding(tiny_qwen3, QUERY, 32), atol=1e-5)
    assert not np.allclose(query, document, atol=1e-3)


def test_matryoshka_truncation_renormalises_the_prefix(tiny_qwen3: Path) -> None:
    full = LocalEmbedder(EmbedderConfig(model=str(tiny_qwen3), device="cpu"))
    assert full.dimensions == 64
    truncated = LocalEmbedder(EmbedderConfig(model=str(tiny_qwen3), dimensions=48, device="cpu"))
    np.testing.assert_allclose(
        truncated.embed_documents(TEXTS), normalize(full.embed_documents(TEXTS)[:, :48]), atol=1e-5
    )


@pytest.mark.parametrize("dimensions", [16, 65])
def test_dimensions_outside_the_matryoshka_range_are_refused(tiny_qwen3: Path, dimensions: int) -> None:
    with pytest.raises(ConfigError, match="between 32 and 64"):
        LocalEmbedder(EmbedderConfig(model=str(tiny_qwen3), dimensions=dimensions, device="cpu"))


def test_the_bundled_minilm_default(torch_minilm: LocalEmbedder) -> None:
    assert (torch_minilm.provider, torch_minilm.model_id, torch_minilm.dimensions) == (
        "local",
        DEFAULT_MODEL_ID,
        384,
    )
    vectors = torch_minilm.embed_documents(
        [
            "def read_json(path):\n    with open(path) as fh:\n        return json.load(fh)",
            "def load_config(filename):\n    return json.loads(Path(filename).read_text())",
            "class Button(Widget):\n    def on_click(self, event): self.emit('pressed')",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    query = torch_minilm.embed_query("parse a JSON file")
    assert query.shape == (384,) and query @ vectors[0] > query @ vectors[2]
    # MiniLM is symmetric: a query is embedded like a document, with no instruction.
    np.testing.assert_allclose(query, torch_minilm.embed_documents(["parse a JSON file"])[0], atol=1e-5)


def test_minilm_cannot_be_truncated() -> None:
    with pytest.raises(ConfigError, match="fixed size of 384"):
        LocalEmbedder(EmbedderConfig(dimensions=128))
