"""Throughput and findings of secret masking (codeseek.chunking.secrets) on real source trees.

    python benchmarks/secret_masking.py PATH... [--chunk] [--reference MB] [--show N]

Files are found and read exactly as the indexer finds and reads them (discover +
read_source). Prints MB/s of `mask_secrets` over all of them, the findings by kind, the
files with the most findings, and with
  --chunk        the MB/s of chunk_file on the same files, the cost masking is compared with;
  --reference MB the MB/s of the unfiltered path (every detect-secrets plugin on every line)
                 on the first MB megabytes, and whether it finds exactly the same;
  --show N       up to N masked lines with their path and line (masked: no secret is printed).
Large trees to try: `pip download --no-deps --no-binary :all: transformers django`, unpacked.
Never fails on timing.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import time
from pathlib import Path

from codeseek.chunking.chunker import chunk_file
from codeseek.chunking.secrets import SecretMasker
from codeseek.embedding.base import estimate_tokens
from codeseek.workspace.discovery import SkipFile, discover, read_source


def load(roots: list[Path], max_bytes: int) -> list[tuple[str, str]]:
    files = []
    for root in roots:
        for f in discover(root, max_file_bytes=max_bytes).files:
            with contextlib.suppress(SkipFile):
                files.append((f"{root.name}/{f.path}", read_source(f.abs_path, max_bytes)))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--chunk", action="store_true", help="also time chunk_file on the same files")
    parser.add_argument("--reference", type=float, default=0.0, metavar="MB")
    parser.add_argument("--show", type=int, default=0, metavar="N")
    parser.add_argument("--max-file-bytes", type=int, default=1_000_000)
    args = parser.parse_args()

    files = load(args.paths, args.max_file_bytes)
    total = sum(len(text.encode("utf-8", "surrogatepass")) for _, text in files)
    started = time.perf_counter()
    masker = SecretMasker()
    print(
        f"{len(files)} files, {total / 1e6:.1f} MB; detectors built in {time.perf_counter() - started:.2f} s"
    )

    by_kind: collections.Counter[str] = collections.Counter()
    per_file: collections.Counter[str] = collections.Counter()
    shown: list[str] = []
    started, cpu = time.perf_counter(), time.process_time()
    results = []
    for path, text in files:
        masked, findings = masker.mask(path, text)
        results.append(findings)
        for finding in findings:
            by_kind[finding.kind] += 1
            per_file[path] += 1
            if len(shown) < args.show:
                line = masked.split("\n")[finding.line - 1].strip()
                shown.append(f"{path}:{finding.line} [{finding.kind}] {line[:150]}")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    # CPU time too: on a shared machine the wall clock measures the neighbours.
    print(
        f"mask_secrets: {seconds:.2f} s, {total / 1e6 / seconds:.1f} MB/s ({total / 1e6 / cpu:.1f} MB/s of CPU time)"
    )
    print(f"findings: {sum(by_kind.values())} in {len(per_file)} of {len(files)} files")
    for kind, count in by_kind.most_common():
        print(f"  {count:6} {kind}")
    if per_file:
        print("most findings:")
        for path, count in per_file.most_common(10):
            print(f"  {count:6} {path}")
    for line in shown:
        print(line)

    if args.chunk:
        started, cpu = time.perf_counter(), time.process_time()
        for path, text in files:
            chunk_file(path, text, max_tokens=1024, count_tokens=estimate_tokens)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"chunk_file: {seconds:.2f} s, {total / 1e6 / seconds:.1f} MB/s ({total / 1e6 / cpu:.1f} MB/s of CPU time)"
        )

    if args.reference:
        budget = int(args.reference * 1e6)
        done, same, differ = 0, 0, []
        started, cpu = time.perf_counter(), time.process_time()
        for (path, text), findings in zip(files, results, strict=True):
            if done >= budget:
                break
            done += len(text.encode("utf-8", "surrogatepass"))
            reference = masker.mask(path, text, prefilter=False)[1]
            if reference == findings:
                same += 1
            else:
                differ.append(path)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"unfiltered reference: {done / 1e6:.1f} MB in {seconds:.1f} s, {done / 1e6 / cpu:.2f} MB/s of CPU time; "
            f"same findings in {same} files, different in {len(differ)}"
        )
        for path in differ[:20]:
            print(f"  differs: {path}")


if __name__ == "__main__":
    main()
