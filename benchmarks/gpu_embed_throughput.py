"""Embedding throughput of a Qwen3-Embedding-4B-shaped model on a GPU, against the card's peak.

The model is built from Qwen3-Embedding-4B's real configuration (hidden 2560, 36 layers,
32 query heads and 8 key/value heads of 128, MLP 9728, vocabulary 151,665) with random
weights, so nothing is downloaded: speed does not depend on the weights' values. It runs
the forward pass the way codeseek's local embedder does (bf16, SDPA attention, left
padding, last-token pooling, L2 normalisation) over

* fixed chunk lengths, each batch filled up to a token budget, and
* a "mixed" set whose lengths follow a log-normal around 180 tokens (what a tree-sitter
  chunker produces for typical code), batched by length with padding, as the local
  embedder does. SGLang packs sequences without padding, so it can do a little better.

Reported: real (unpadded) tokens per second, the model FLOPs that represents, and that
as a fraction of the card's dense bf16 peak (MFU). FLOPs per token = 2 x parameters
(without the embedding table) + causal attention 2 x layers x length x (heads x head_dim).

    python benchmarks/gpu_embed_throughput.py                # on a CUDA GPU
    python benchmarks/gpu_embed_throughput.py --tiny         # a tiny model on the CPU (a check)
    python benchmarks/gpu_embed_throughput.py --json

A self-check first compares a padded batch with the same texts embedded one by one, so
a pooling or padding mistake shows up before any number is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

# Qwen/Qwen3-Embedding-4B config.json
QWEN3_EMBEDDING_4B = {
    "vocab_size": 151665,
    "hidden_size": 2560,
    "intermediate_size": 9728,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
TINY = {
    "vocab_size": 1000,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
    "rope_theta": 1000000,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of the device name.
BF16_PEAK_TFLOPS = [
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("GH200", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.2),
]


@dataclass
class Result:
    label: str
    batch: int
    padded_length: int
    real_tokens: int
    seconds: float
    tokens_per_s: float
    tflops: float
    mfu: float | None


def build_model(tiny: bool, device: torch.device, dtype: torch.dtype) -> Any:
    from transformers import Qwen3Config, Qwen3Model

    config = Qwen3Config(**(TINY if tiny else QWEN3_EMBEDDING_4B), attn_implementation="sdpa")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the target dtype: 4B fp32 weights would be 16 GB
    try:
        with torch.device(device):
            model = Qwen3Model(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def flops_per_token(config: Any, non_embedding_params: int, context: float) -> float:
    attention = 2 * config.num_hidden_layers * context * config.num_attention_heads * config.head_dim
    return 2 * non_embedding_params + attention


def embed(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Left-padded batch -> L2-normalised last-token vectors (the local embedder's path)."""
    hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return torch.nn.functional.normalize(hidden[:, -1].float(), dim=-1)


def left_padded(
    lengths: list[int], vocab: int, device: torch.device, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(lengths)
    ids = torch.zeros((len(lengths), width), dtype=torch.long)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, width - length :] = torch.randint(1, vocab, (length,), generator=generator)
        mask[row, width - length :] = 1
    return ids.to(device), mask.to(device)


def self_check(model: Any, device: torch.device, vocab: int, tolerance: float) -> float:
    """Max difference between a padded batch and the same sequences one at a time."""
    generator = torch.Generator().manual_seed(1)
    ids, mask = left_padded([7, 19, 33], vocab, device, generator)
    with torch.inference_mode():
        batched = embed(model, ids, mask)
        singles = torch.cat(
            [embed(model, ids[i : i + 1, mask[i].bool()], mask[i : i + 1, mask[i].bool()]) for i in range(3)]
        )
    diff = float((batched - singles).abs().max())
    if diff > tolerance:
        raise SystemExit(f"self-check failed: padded batch differs from single sequences by {diff:.3g}")
    return diff


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_batches(
    model: Any,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    iters: int,
    warmup: int,
) -> float:
    with torch.inference_mode():
        for _ in range(warmup):
            for ids, mask in batches:
                embed(model, ids, mask)
        synchronize(device)
        started = time.perf_counter()
        for _ in range(iters):
            for ids, mask in batches:
                embed(model, ids, mask)
        synchronize(device)
    return (time.perf_counter() - started) / iters


def mixed_lengths(count: int, median: float, longest: int, generator: torch.Generator) -> list[int]:
    normal = torch.randn(count, generator=generator)
    return [int(min(longest, max(16, round(median * math.exp(0.7 * float(z)))))) for z in normal]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model on the CPU, to check the script")
    parser.add_argument("--lengths", default=None, help="comma-separated chunk lengths in tokens")
    parser.add_argument("--token-budget", type=int, default=None, help="padded tokens per batch")
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mixed-chunks", type=int, default=None, help="chunks in the mixed-length run")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the card's dense bf16 peak")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        lengths = [int(x) for x in (args.lengths or "32,128,512").split(",")]
        budget, iters, mixed_count = args.token_budget or 2048, args.iters or 2, args.mixed_chunks or 64
    else:
        if not torch.cuda.is_available():
            print("no CUDA GPU: run with --tiny to check the script on the CPU", file=sys.stderr)
            return 2
        device, dtype = torch.device("cuda"), torch.bfloat16
        lengths = [int(x) for x in (args.lengths or "64,128,256,512,1024,2048").split(",")]
        budget, iters, mixed_count = args.token_budget or 32768, args.iters or 5, args.mixed_chunks or 2048

    torch.manual_seed(0)
    started = time.perf_counter()
    model = build_model(args.tiny, device, dtype)
    build_seconds = time.perf_counter() - started
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    non_embedding = params - model.embed_tokens.weight.numel()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak = args.peak_tflops or next((tf for key, tf in BF16_PEAK_TFLOPS if key in name), None)
    check = self_check(model, device, config.vocab_size, 1e-4 if dtype == torch.float32 else 3e-2)

    results: list[Result] = []
    generator = torch.Generator().manual_seed(0)

    def record(label: str, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        seconds = time_batches(model, batches, device, iters, args.warmup)
        real = sum(int(mask.sum()) for _, mask in batches)
        # Attention cost per token grows with its sequence; average over the real tokens.
        context = sum(float((mask.sum(1) ** 2).sum()) for _, mask in batches) / real
        flops = real * flops_per_token(config, non_embedding, context)
        tflops = flops / seconds / 1e12
        results.append(
            Result(
                label,
                max(ids.shape[0] for ids, _ in batches),
                max(ids.shape[1] for ids, _ in batches),
                real,
                seconds,
                real / seconds,
                tflops,
                tflops / peak if peak else None,
            )
        )

    for length in lengths:
        batch = max(1, budget // length)
        record(f"{length} tokens", [left_padded([length] * batch, config.vocab_size, device, generator)])

    chunk_lengths = sorted(mixed_lengths(mixed_count, 180, max(lengths), generator))
    batches, current = [], []
    for length in chunk_lengths:  # sorted, so the last one is the widest
        if current and (len(current) + 1) * length > budget:
            batches.append(left_padded(current, config.vocab_size, device, generator))
            current = []
        current.append(length)
    if current:
        batches.append(left_padded(current, config.vocab_size, device, generator))
    record(f"mixed ({mixed_count} chunks, median 180)", batches)

    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    summary = {
        "device": name,
        "dtype": str(dtype).removeprefix("torch."),
        "model": "tiny Qwen3" if args.tiny else "Qwen3-Embedding-4B shape, random weights",
        "parameters": params,
        "non_embedding_parameters": non_embedding,
        "peak_bf16_tflops": peak,
        "build_seconds": round(build_seconds, 2),
        "self_check_max_diff": check,
        "max_memory_gib": round(memory, 2) if memory is not None else None,
        "results": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{summary['model']} on {name} ({summary['dtype']}), {params / 1e9:.2f} B parameters, "
        f"peak {peak or '?'} TFLOP/s; self-check max diff {check:.2g}"
    )
    print(f"{'run':<34}{'batch':>6}{'width':>7}{'tokens/s':>12}{'TFLOP/s':>10}{'MFU':>8}")
    for r in results:
        mfu = f"{r.mfu:.1%}" if r.mfu is not None else "-"
        print(
            f"{r.label:<34}{r.batch:>6}{r.padded_length:>7}{r.tokens_per_s:>12,.0f}{r.tflops:>10.1f}{mfu:>8}"
        )
    if memory is not None:
        print(f"peak GPU memory {memory:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
