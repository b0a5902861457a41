"""Search latency and bytes stored: an index on an S3-compatible server against one in a
local folder. Rows are shaped like codeseek's chunks table (about 600 bytes of code-like
text, its identifier words, metadata, a 384-dimension float32 vector) and indexed as the
store indexes them (compacted, BM25 over `tokens`, IVF_FLAT over `vector`).

    python benchmarks/object_store_latency.py [--sizes 10000,100000] [--queries 40]

The S3 side is moto on 127.0.0.1 (tests/s3.py), a single Python process: it measures
what LanceDB's object-store path costs (requests, caching, serialisation), not a cloud
round trip; add about one first-byte latency per request for real S3 (tens of ms).
Talks to LanceDB directly, so it prices the format alone (benchmarks/team_index.py measures
codeseek's own store on the same server). Prints tables;
never fails on timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from codeseek.store.lance import nprobes_for, partitions_for
from codeseek.store.schema import identifier_words
from s3 import S3Server  # tests/s3.py: moto in a process of its own

DIMENSIONS = 384
BATCH = 2000
WORDS = [
    "load", "save", "parse", "config", "json", "file", "path", "token", "user", "request",
    "response", "cache", "index", "search", "vector", "chunk", "session", "error", "retry",
    "client", "server", "handler", "stream", "buffer", "record", "schema", "table", "query",
    "result", "limit", "filter", "merge", "update", "delete", "insert", "commit", "lock",
]  # fmt: skip


def schema() -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("path", pa.string()),
            ("language", pa.string()),
            ("symbol", pa.string()),
            ("kind", pa.string()),
            ("start_line", pa.int32()),
            ("end_line", pa.int32()),
            ("text", pa.string()),
            ("tokens", pa.string()),
            ("content_key", pa.string()),
            ("vector", pa.list_(pa.float32(), DIMENSIONS)),
        ]
    )


def code_text(rng: np.random.Generator) -> tuple[str, str]:
    """About 600 bytes of Python-looking code, and its symbol."""
    name = "_".join(rng.choice(WORDS, 3))
    lines = [f"def {name}(self, {rng.choice(WORDS)}_{rng.choice(WORDS)}):"]
    while sum(len(line) + 1 for line in lines) < 600:
        a, b, c = rng.choice(WORDS, 3)
        lines.append(f"    {a}_{b} = self.{c}{b.title()}({a}, limit={int(rng.integers(100))})")
    return "\n".join(lines), name


def clustered_vectors(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    labels = rng.integers(0, len(centres), n)
    vectors = centres[labels] + 0.6 * rng.standard_normal((n, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def batches(size: int, rng: np.random.Generator, centres: np.ndarray) -> list[pa.Table]:
    out = []
    for start in range(0, size, BATCH):
        n = min(BATCH, size - start)
        texts = [code_text(rng) for _ in range(n)]
        vectors = clustered_vectors(n, rng, centres)
        ids = range(start, start + n)
        out.append(
            pa.table(
                {
                    "id": [f"{i:024x}" for i in ids],
                    "path": [f"src/pkg{i % 97}/module{i // 20}.py" for i in ids],
                    "language": ["python"] * n,
                    "symbol": [name for _, name in texts],
                    "kind": ["function"] * n,
                    "start_line": pa.array([1 + (i % 20) * 30 for i in ids], pa.int32()),
                    "end_line": pa.array([25 + (i % 20) * 30 for i in ids], pa.int32()),
                    "text": [text for text, _ in texts],
                    "tokens": [identifier_words(text) for text, _ in texts],
                    "content_key": [f"{i:040x}" for i in ids],
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMENSIONS),
                },
                schema=schema(),
            )
        )
    return out


def timings(run: Callable[[Any], object], queries: list[Any]) -> tuple[float, float]:
    """p50 and p95 in ms, after a few warm-up queries."""
    for q in queries[:3]:
        run(q)
    out = []
    for q in queries:
        t = time.perf_counter()
        run(q)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out), statistics.quantiles(out, n=20)[18]


class Backend:
    def __init__(self, name: str, uri: str, options: dict[str, str] | None, size_of: Callable[[], int]):
        self.name, self.uri, self.options, self.size_of = name, uri, options, size_of

    def connect(self, consistency: timedelta | None = None) -> Any:
        return lancedb.connect(self.uri, storage_options=self.options, read_consistency_interval=consistency)


def measure(
    backend: Backend, size: int, data: list[pa.Table], vectors: np.ndarray, words: list[str]
) -> list[list[str]]:
    """Prints one backend's numbers; returns the ids that exact (flat) and BM25 searches
    found, so the caller can check both stores answer the same."""
    db = backend.connect()
    t = time.perf_counter()
    table = db.create_table(f"chunks_{size}", schema=schema())
    for batch in data:
        table.add(batch)
    table.optimize(cleanup_older_than=timedelta(0))
    table.create_index("tokens", config=FTS(with_position=False))
    table.optimize(cleanup_older_than=timedelta(0))
    write_s = time.perf_counter() - t
    bytes_no_ivf = backend.size_of()
    t = time.perf_counter()
    table.create_index(
        metric="dot", index_type="IVF_FLAT", num_partitions=partitions_for(size), vector_column_name="vector"
    )
    # The first optimize after a build rewrites the vector index and removes old versions
    # before that, so the replaced index files go only with the second: measured here in
    # the steady state (in between, the index takes twice its size).
    table.optimize(cleanup_older_than=timedelta(0))
    table.optimize(cleanup_older_than=timedelta(0))
    ivf_s = time.perf_counter() - t
    bytes_all = backend.size_of()

    def vector(reader: Any, nprobes: int | None) -> Callable[[np.ndarray], Any]:
        def run(q: np.ndarray) -> Any:
            query = reader.search(q, vector_column_name="vector").distance_type("dot").limit(50)
            query = query.nprobes(nprobes) if nprobes else query.bypass_vector_index()
            return query.select(["id", "path", "text", "_distance"]).to_arrow()

        return run

    def text(reader: Any) -> Callable[[str], Any]:
        return lambda q: (
            reader.search(q, query_type="fts", fts_columns="tokens")
            .limit(50)
            .select(["id", "path", "text", "_score"])
            .to_arrow()
        )

    name = f"chunks_{size}"
    # A cold reader: a fresh connection's first open and first query of each kind.
    t = time.perf_counter()
    cold = backend.connect().open_table(name)
    vector(cold, nprobes_for(size))(vectors[0])
    text(cold)(words[0])
    cold_ms = (time.perf_counter() - t) * 1000
    queries = list(vectors)
    rows = [f"{backend.name:<6} {size:>7}"]
    for consistency in (None, timedelta(0)):
        reader = backend.connect(consistency).open_table(name)
        ivf = timings(vector(reader, nprobes_for(size)), queries)
        flat = timings(vector(reader, None), queries[:10]) if consistency is None else None
        fts = timings(text(reader), words)
        label = "cached" if consistency is None else "rci=0"
        flat_s = f"{flat[0]:>7.1f} {flat[1]:>7.1f}" if flat else f"{'':>7} {'':>7}"
        rows.append(f"{label:<6} {flat_s} {ivf[0]:>7.1f} {ivf[1]:>7.1f} {fts[0]:>7.1f} {fts[1]:>7.1f}")
    print(
        f"{rows[0]} {write_s:>7.1f}s {ivf_s:>6.1f}s {cold_ms:>7.0f} "
        f"{bytes_no_ivf / size * 1000 / 1e6:>7.2f} {bytes_all / size * 1000 / 1e6:>7.2f}\n"
        f"        {'':>7} {rows[1]}\n        {'':>7} {rows[2]}",
        flush=True,
    )
    reader = backend.connect().open_table(name)
    found = [vector(reader, None)(q)["id"].to_pylist() for q in queries[:5]]
    found += [text(reader)(w)["id"].to_pylist() for w in words[:5]]
    backend.connect().drop_table(name)
    return found


def folder_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # deprecations and cleanup_older_than=0, known and intended
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, DIMENSIONS)).astype(np.float32)
    vectors = clustered_vectors(args.queries, rng, centres)
    words = [" ".join(rng.choice(WORDS, 2)) for _ in range(args.queries)]
    print(
        "write: add in batches of 2,000 + compact + BM25 index; ivf: IVF_FLAT build; cold: a fresh\n"
        "connection's open + first vector + first text query; MB/1k: bytes per 1,000 chunks without\n"
        "and with the vector index. Latencies in ms (p50, p95) for 50 results; 'cached' reads reuse\n"
        "the table's version, 'rci=0' checks for a new version before each query (one LIST).\n"
    )
    print(
        f"{'store':<6} {'chunks':>7} {'write':>8} {'ivf':>7} {'cold':>7} {'MB/1k':>7} {'+ivf':>7}\n"
        f"        {'':>7} {'reader':<6} {'flat50':>7} {'flat95':>7} {'ivf50':>7} {'ivf95':>7} "
        f"{'bm25 50':>7} {'bm25 95':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp, S3Server() as server:
        server.create_bucket("bench")
        backends = [
            Backend("local", tmp, None, lambda: folder_size(Path(tmp))),
            Backend(
                "s3",
                "s3://bench/index",
                server.endpoint.storage_options(),
                lambda: sum(server.list_keys("bench", "index/").values()),
            ),
        ]
        for size in (int(s) for s in args.sizes.split(",")):
            data = batches(size, np.random.default_rng(size), centres)
            found = [measure(backend, size, data, vectors, words) for backend in backends]
            print(f"        {'':>7} same results from both stores: {found[0] == found[1]}")
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"\nIVF partitions/nprobes: {', '.join(f'{s}: {partitions_for(s)}/{nprobes_for(s)}' for s in sizes)}"
    )


if __name__ == "__main__":
    main()
