"""Where does a vector index start to pay off? Exhaustive vs IVF search through the
store, at growing table sizes: query latency (p50, p95), index build time and recall@10
of the index against the exact answer.

    python benchmarks/vector_index_threshold.py [--sizes 4000,8000,16000,32000,100000] [--dims 384]

Vectors are clustered (like real embeddings, unlike uniform noise, which no IVF index
can partition well) and normalised. Prints a table; never fails on timing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from codeseek.model import Chunk
from codeseek.store.lance import IndexStore
from codeseek.store.schema import FileRecord


def clustered_vectors(n: int, dims: int, rng: np.random.Generator, clusters: int = 200) -> np.ndarray:
    centres = rng.standard_normal((clusters, dims)).astype(np.float32)
    labels = rng.integers(0, clusters, n)
    vectors = centres[labels] + 0.6 * rng.standard_normal((n, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def fill(store: IndexStore, vectors: np.ndarray, files: int = 500) -> None:
    per_file = max(1, len(vectors) // files)
    records, chunks = [], []
    for i in range(len(vectors)):
        path = f"src/file{i // per_file}.py"
        chunks.append(Chunk(path, "python", i + 1, i + 1, f"def f{i}(): return {i}", f"f{i}", "function"))
    for path in sorted({c.path for c in chunks}):
        records.append(FileRecord(path, "h", 1, 1, 0))
    with store.writer() as writer:
        writer.replace_files(records, chunks, vectors)


def search_times(store: IndexStore, queries: np.ndarray) -> list[float]:
    """Milliseconds per query, after a few warm-up queries."""
    for q in queries[:5]:
        store.vector_search(q, 50)
    out = []
    for q in queries:
        t = time.perf_counter()
        store.vector_search(q, 50)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4000,8000,16000,32000,100000")
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"{'chunks':>8} {'flat p50':>9} {'flat p95':>9} {'ivf build':>10} {'ivf p50':>8} {'ivf p95':>8} {'recall@10':>9}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        vectors = clustered_vectors(size, args.dims, rng)
        queries = clustered_vectors(args.queries, args.dims, rng)
        with tempfile.TemporaryDirectory() as tmp:
            store = IndexStore(Path(tmp), "bench", args.dims)
            fill(store, vectors)
            flat = search_times(store, queries)
            exact = [{c.id for c in store.vector_search(q, 10)} for q in queries]
            t = time.perf_counter()
            with store.writer() as writer:
                writer._create_vector_index(size)
            build = time.perf_counter() - t
            ivf = search_times(store, queries)
            approx = [{c.id for c in store.vector_search(q, 10)} for q in queries]
            recall = statistics.mean(len(a & e) / 10 for a, e in zip(approx, exact, strict=True))
        q = statistics.quantiles
        print(
            f"{size:>8} {statistics.median(flat):>8.1f}ms {q(flat, n=20)[18]:>8.1f}ms {build:>9.1f}s "
            f"{statistics.median(ivf):>7.1f}ms {q(ivf, n=20)[18]:>7.1f}ms {recall:>9.3f}"
        )


if __name__ == "__main__":
    main()
