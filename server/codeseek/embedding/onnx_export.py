"""Export a local sentence-transformers model to ONNX, quantise it to int8, and check it.

Run as a child process by `onnx_local` the first time a model is used on a CPU:

    python -m codeseek.embedding.onnx_export MODEL_DIR OUT.onnx --pooling mean --max-tokens 256

It is a separate process so that the process that searches and indexes never imports
torch (about 200 MB and seconds of import time), and so that the exporters' warnings and
any crash stay out of the CLI's output and the server's log. Everything comes from the
local model folder: nothing is downloaded.

The exported graph takes the tokenizer's `input_ids`, `attention_mask` (and, where the
model has them, `token_type_ids`) and returns the pooled, L2-normalised sentence vector,
so the runtime side needs only the `tokenizers` package, numpy and ONNX Runtime.

Before it exits successfully the child embeds a few probe texts of different lengths with
both torch (in one padded batch) and the ONNX model (one text a call), and fails if they disagree by more
than the quantisation is known to cost: a broken export is never cached.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The int8 model is accepted when every probe text's vector is at least this close (cosine)
# to torch's fp32 one. all-MiniLM-L6-v2 measures a mean of 0.994 and a minimum of 0.986
# on 800 real code chunks (benchmarks/cpu_embedding.py); a broken export is near 0.
MIN_PROBE_COSINE_INT8 = 0.98
MIN_PROBE_COSINE_FP32 = 0.9999
OPSET = 17

PROBE_TEXTS = [
    "def add(a, b):\n    return a + b",
    "x = 1",
    "class Stack:\n    def push(self, item):\n        self.items.append(item)\n\n"
    "    def pop(self):\n        return self.items.pop()",
    "func (c *Command) Execute() error {\n\t_, err := c.ExecuteC()\n\treturn err\n}\n" * 12,
    "read a json config file",
]


# Layers whose feed-forward output projection stays in fp32 (see _quantisation_exclusions).
FP32_FFN_LAYERS: tuple[int, ...] = (0, 1, 2)


def _quantisation_exclusions(model: Any, layers: Sequence[int] | None) -> list[str]:
    """MatMul nodes to keep in fp32: the feed-forward output projections of `layers`
    (None: every layer).

    Their input comes straight out of the GELU, whose long-tailed activations lose the
    most to uint8 dynamic quantisation, and an early layer's error travels through all
    the later ones. Measured on MiniLM (benchmarks/cpu_embedding.py, 800 code chunks;
    `codeseek eval` hybrid MRR@10 on four corpora): everything in int8 gives a mean
    cosine to fp32 of 0.9937 and lost up to 0.026 MRR; layers 0-2 in fp32 (1/6 of the
    weights) give 0.9966 and stayed within 0.007, about 15% slower than all int8; all six
    give 0.9970 at a third. Node names are BERT's: for other architectures nothing
    matches and everything is quantised (the probe check still guards the result).
    """
    numbers = r"\d+" if layers is None else "(?:" + "|".join(str(n) for n in layers) + ")"
    pattern = re.compile(rf"layer\.{numbers}/output/dense/MatMul$")
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and pattern.search(n.name)]


def export(
    model_dir: Path,
    out: Path,
    *,
    pooling: str,
    max_tokens: int,
    quantize: bool,
    fp32_ffn_layers: Sequence[int] | None = FP32_FFN_LAYERS,
) -> dict[str, float]:
    """Write the ONNX model to `out` and return the probe cosines (min and mean)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    # Eager attention traces into plain MatMul/Softmax nodes that ONNX Runtime fuses itself.
    model = AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager").eval()
    accepted = set(inspect.signature(model.forward).parameters)
    names: list[str] = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kwargs = dict(zip(names, inputs, strict=True))
            hidden = self.model(**kwargs).last_hidden_state
            mask = kwargs["attention_mask"]
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    wrapper = Pooled().eval()
    example = tokenizer(PROBE_TEXTS[:2], padding=True, return_tensors="pt")
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        with warnings.catch_warnings(), torch.inference_mode():
            # The tracer warns about Python control flow in the mask code; for an encoder
            # the traced branch holds for every shape, and the probe check below proves it.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                tuple(example[n] for n in names),
                str(fp32),
                dynamo=False,
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names},
                opset_version=OPSET,
            )
        if quantize:
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            graph = onnx.load(str(fp32), load_external_data=False)
            quantize_dynamic(
                str(fp32),
                str(out),
                weight_type=QuantType.QInt8,
                # One scale per output channel: per-tensor scales cost MiniLM a mean cosine
                # of 0.95 against fp32; per channel, 0.99+.
                per_channel=True,
                # The embedding table too (Gather): the file shrinks from 59 to 23 MB, at
                # a cosine cost below 0.001.
                op_types_to_quantize=["MatMul", "Gather"],
                nodes_to_exclude=_quantisation_exclusions(graph, fp32_ffn_layers),
            )
        else:
            os.replace(fp32, out)

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    batch = tokenizer(PROBE_TEXTS, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    with torch.inference_mode():
        expected = wrapper(*(batch[n] for n in names)).numpy()
    got = []
    for text in PROBE_TEXTS:  # one text a call, as `onnx_local` runs it
        single = tokenizer([text], truncation=True, max_length=max_tokens, return_tensors="np")
        got.append(session.run(None, {n: single[n].astype(np.int64) for n in names})[0][0])
    cosines = (np.asarray(got, dtype=np.float32) * expected).sum(axis=1)
    floor = MIN_PROBE_COSINE_INT8 if quantize else MIN_PROBE_COSINE_FP32
    if not np.isfinite(cosines).all() or float(cosines.min()) < floor:
        raise RuntimeError(
            f"the exported model disagrees with torch: probe cosines {np.round(cosines, 4).tolist()}, "
            f"need at least {floor}"
        )
    return {"min_cosine": float(cosines.min()), "mean_cosine": float(cosines.mean())}


def _layers(text: str) -> tuple[int, ...] | None:
    if text == "all":
        return None
    if text in ("", "none"):
        return ()
    return tuple(int(n) for n in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeseek.embedding.onnx_export")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--fp32", action="store_true", help="skip int8 quantisation")
    parser.add_argument(
        "--fp32-ffn-layers",
        default=",".join(map(str, FP32_FFN_LAYERS)),
        help="layers whose FFN output stays fp32: comma-separated numbers, 'all' or 'none'",
    )
    args = parser.parse_args(argv)
    try:
        probe = export(
            args.model_dir,
            args.out,
            pooling=args.pooling,
            max_tokens=args.max_tokens,
            quantize=not args.fp32,
            fp32_ffn_layers=_layers(args.fp32_ffn_layers),
        )
    except Exception as exc:
        # One line the parent can put in its log; the traceback only with CODESEEK_DEBUG.
        if os.environ.get("CODESEEK_DEBUG"):
            raise
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"probe min_cosine={probe['min_cosine']:.5f} mean_cosine={probe['mean_cosine']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
