"""Hypothesis strategies for bad input: a valid document with a few things broken."""

from __future__ import annotations

import copy
import string
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Derandomized: CI runs the same examples every time, so a red build means a change.
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))  # fmt: skip

SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)  # fmt: skip


def keys(names: Iterable[str]) -> st.SearchStrategy[str]:
    """Names the document could have, plus identifier-like noise."""
    return st.sampled_from(sorted(set(names))) | st.text(
        alphabet=string.ascii_letters + "_", min_size=1, max_size=12
    )


def values(names: Iterable[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys(names), children, max_size=4)
        ),
        max_leaves=12,
    )


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """`valid` with one to four keys dropped, values replaced or keys added, at any depth."""
    names = list(names)
    data = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        parent, key = _locate(data, path)
        if action == "drop" and isinstance(parent, dict):
            parent.pop(key, None)
        elif action == "replace":
            parent[key] = draw(values(names))
        elif isinstance(parent, dict):
            parent[draw(keys(names))] = draw(values(names))
    return data


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    paths = []
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        paths.append((*prefix, key))
        if isinstance(value, dict | list) and value:
            paths += _paths(value, (*prefix, key))
    return paths


def _locate(data: Any, path: tuple) -> tuple[Any, Any]:
    for key in path[:-1]:
        data = data[key]
    return data, path[-1]
