"""The results writer: shared sequence across processes, complete lines, a full disk remembered."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from probes.results import SCHEMA, ResultsWriter


def _write(path: str, n: int) -> None:
    writer = ResultsWriter(Path(path), run_id="r" * 32, target="http://t", environment="local")
    for i in range(n):
        writer.write("sample", {"i": i})


def test_concurrent_writers_share_one_sequence(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    ResultsWriter(path, run_id="r" * 32, target="http://t", environment="local").prepare()
    procs = [multiprocessing.Process(target=_write, args=(str(path), 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 200
    assert sorted(r["seq"] for r in records) == list(range(200))
    assert all(r["schema"] == SCHEMA and r["kind"] == "sample" for r in records)
    assert all(r["environment"] == "local" and r["source"] == "probe" for r in records)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_is_remembered_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.symlink_to("/dev/full")
    writer = ResultsWriter(path, run_id="r" * 32, target="http://t", environment="local")
    writer.write("sample", {"i": 1})
    assert writer.error is not None and "No space left" in writer.error
