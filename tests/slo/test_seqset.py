"""The ledger's idempotency key: seq intervals per run."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from slo import seqset

seqs = st.lists(st.integers(min_value=0, max_value=500), max_size=80)


@given(seqs, seqs)
def test_add_is_set_union(a: list[int], b: list[int]) -> None:
    intervals = seqset.add(seqset.add((), a), b)
    for s in range(0, 502):
        assert seqset.contains(intervals, s) == (s in set(a) | set(b))
    assert seqset.size(intervals) == len(set(a) | set(b))


@given(seqs)
def test_encode_round_trip(a: list[int]) -> None:
    intervals = seqset.add((), a)
    assert seqset.decode(seqset.encode(intervals)) == intervals


def test_contiguous_runs_stay_small() -> None:
    assert seqset.encode(seqset.add((), range(100_000))) == "0-99999"
