"""The S3-compatible test server (tests/s3.py) with LanceDB's own object-store client: what
the store builds on. These talk to LanceDB directly; the store's own tests use the same
fixtures (`s3_bucket`, `own_s3_server`) once it takes URIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
import pytest
from lancedb.index import FTS

from s3 import S3Endpoint, S3Server

DIMENSIONS = 8
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("path", pa.string()),
        ("tokens", pa.string()),
        ("vector", pa.list_(pa.float32(), DIMENSIONS)),
    ]
)
# Client settings that turn a dead endpoint into an error within seconds instead of minutes
# (the defaults retry for up to 180 s, and Lance retries some requests again above that).
FAIL_FAST = {"connect_timeout": "1s", "timeout": "1s", "client_max_retries": "0", "download_retry_count": "0"}


def vector_for(i: int) -> list[float]:
    """Distinct unit vectors, so a row's own vector finds that row first."""
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[i % DIMENSIONS] = 1.0
    v[(i // DIMENSIONS) % DIMENSIONS] += 0.5
    return list(v / np.linalg.norm(v))


def rows(ids: range | list[int], path: str = "src/a.py", word: str = "alpha") -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": [f"c{i}" for i in ids],
            "path": [path] * len(ids),
            "tokens": [f"{word} chunk{i}" for i in ids],
            "vector": [vector_for(i) for i in ids],
        },
        schema=SCHEMA,
    )


def connect(uri: str, endpoint: S3Endpoint, **options: str) -> Any:
    return lancedb.connect(
        uri, storage_options=endpoint.storage_options(**options), read_consistency_interval=timedelta(0)
    )


def secrets_in(exc: BaseException, endpoint: S3Endpoint) -> list[str]:
    text = f"{exc}\n{exc!r}"
    return [s for s in (endpoint.access_key_id, endpoint.secret_access_key) if s in text]


def test_lancedb_writes_indexes_and_searches_a_table_on_the_server(s3_bucket: Any) -> None:
    db = connect(f"{s3_bucket.uri}/index", s3_bucket.endpoint)
    table = db.create_table("chunks", schema=SCHEMA)
    table.add(rows(range(20)))
    table.add(rows(range(20, 30), path="src/b.py", word="beta"))
    # The store's upsert of one file: replace its rows, drop those it no longer has.
    result = (
        table.merge_insert("id")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .when_not_matched_by_source_delete("path = 'src/b.py'")
        .execute(rows([20, 21, 99], path="src/b.py", word="gamma"))
    )
    assert (result.num_updated_rows, result.num_inserted_rows, result.num_deleted_rows) == (2, 1, 8)
    table.delete("id = 'c0'")
    table.create_index("tokens", config=FTS(with_position=False))

    hits = table.search("gamma", query_type="fts", fts_columns="tokens").limit(10).to_arrow()
    assert sorted(hits["id"].to_pylist()) == ["c20", "c21", "c99"]
    nearest = (
        table.search(np.array(vector_for(13), dtype=np.float32), vector_column_name="vector")
        .distance_type("dot")
        .limit(3)
        .to_arrow()
    )
    assert nearest["id"][0].as_py() == "c13"

    # Another connection (a teammate) sees the same table, and it lives in the bucket.
    other = connect(f"{s3_bucket.uri}/index", s3_bucket.endpoint)
    assert list(other.list_tables().tables) == ["chunks"]
    assert other.open_table("chunks").count_rows() == 22
    keys = s3_bucket.server.list_keys(s3_bucket.name, "index/chunks.lance/")
    assert any(key.endswith(".manifest") for key in keys)
    assert any("/_indices/" in key for key in keys)


def test_the_standard_aws_environment_reaches_the_server(s3_bucket: Any) -> None:
    """AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION are read
    by LanceDB itself; only plain HTTP must be allowed explicitly."""
    script = textwrap.dedent(
        """
        import sys, lancedb, pyarrow as pa
        db = lancedb.connect(sys.argv[1], storage_options={"allow_http": "true"})
        db.create_table("t", pa.table({"a": [1, 2, 3]}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(s3_bucket.endpoint.environment())
    uri = f"{s3_bucket.uri}/from-env"
    done = subprocess.run(
        [sys.executable, "-c", script, uri], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert connect(uri, s3_bucket.endpoint).open_table("t").count_rows() == 3


@pytest.mark.slow
def test_a_killed_server_fails_reads_and_writes_within_seconds(own_s3_server: S3Server) -> None:
    endpoint = own_s3_server.endpoint
    own_s3_server.create_bucket("going-away")
    table = connect("s3://going-away/index", endpoint, **FAIL_FAST).create_table("chunks", rows(range(50)))
    table.create_index("tokens", config=FTS(with_position=False))
    own_s3_server.kill()

    attempts = {
        "vector search": lambda: table.search(np.array(vector_for(1), dtype=np.float32)).limit(5).to_arrow(),
        "text search": lambda: table.search("alpha", query_type="fts", fts_columns="tokens").to_arrow(),
        "write": lambda: table.add(rows(range(50, 60))),
    }
    for name, attempt in attempts.items():
        started = time.monotonic()
        with pytest.raises((RuntimeError, ValueError, OSError)) as failure:
            attempt()
        # Refused connections fail at once; Lance's own retries above the HTTP client
        # add a few seconds (2.7 s measured) that no storage option turns off.
        assert time.monotonic() - started < 20, name
        assert secrets_in(failure.value, endpoint) == [], name


@pytest.mark.slow
def test_a_hung_server_times_out_and_a_failed_write_leaves_the_table_intact(own_s3_server: S3Server) -> None:
    endpoint = own_s3_server.endpoint
    own_s3_server.create_bucket("hanging")
    uri = "s3://hanging/index"
    table = connect(uri, endpoint, **FAIL_FAST).create_table("chunks", rows(range(40)))

    own_s3_server.freeze()
    started = time.monotonic()
    with pytest.raises((RuntimeError, ValueError, OSError)) as failure:
        table.add(rows(range(40, 80)))
    waited = time.monotonic() - started
    own_s3_server.thaw()
    # Waited for the request timeout (1 s), not for the default 30 s and retries.
    assert 0.9 < waited < 20
    assert secrets_in(failure.value, endpoint) == []

    # The write that failed left nothing half-done: readers see the old version, and the
    # next write goes through.
    fresh = connect(uri, endpoint).open_table("chunks")
    assert fresh.count_rows() == 40
    fresh.add(rows(range(40, 45)))
    assert connect(uri, endpoint).open_table("chunks").count_rows() == 45


WRITER = textwrap.dedent(
    """
    import json, sys, lancedb, pyarrow as pa
    uri, options, who, commits = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    table = lancedb.connect(uri, storage_options=options).open_table("chunks")
    sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
    for n in range(commits):
        ids = [f"w{who}-{n}-{i}" for i in range(10)]
        data = pa.table({"id": ids, "path": [f"w{who}"] * 10, "tokens": ["t"] * 10,
                         "vector": [[0.0] * 8] * 10}, schema=table.schema)
        table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)
    """
)


COMMITS = 4  # each writer's


@pytest.mark.slow
def test_two_writers_at_once_keep_every_commit() -> None:
    """Lance commits a version with a conditional PUT (If-None-Match); the loser of a race
    gets 412, rebases and retries. The server holds each such PUT until a second one comes
    (or a second passes), so the writers do race."""
    with S3Server(commit_rendezvous=1.0) as server:
        server.create_bucket("two-writers")
        uri = "s3://two-writers/index"
        connect(uri, server.endpoint).create_table("chunks", schema=SCHEMA)
        options = json.dumps(server.endpoint.storage_options())
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, uri, options, str(who), str(COMMITS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for who in (0, 1)
        ]
        try:
            for writer in writers:  # both connected before either starts
                assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
            for writer in writers:
                assert writer.stdin is not None
                writer.stdin.write("go\n")
                writer.stdin.flush()
            for writer in writers:
                _, stderr = writer.communicate(timeout=120)
                assert writer.returncode == 0, stderr
        finally:
            for writer in writers:
                if writer.poll() is None:
                    writer.kill()
        table = connect(uri, server.endpoint).open_table("chunks")
        ids = table.search().select(["id"]).limit(None).to_arrow()["id"].to_pylist()
        assert sorted(ids) == sorted(
            f"w{w}-{n}-{i}" for w in (0, 1) for n in range(COMMITS) for i in range(10)
        )
        assert server.precondition_failures > 0, "the writers never raced; the test proved nothing"
