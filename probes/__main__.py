"""`spacetime-probes` and `python -m probes`: the main job from any directory.

The same as `pytest --pyargs probes ...` with the installed package, so a wheel
installed into a fresh environment runs the probes without a checkout; every
option is pytest's or the probes' own (`--st-*`).
"""

from __future__ import annotations

import sys

import pytest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return int(pytest.main(["--pyargs", "probes", "-p", "no:cacheprovider", *args]))


if __name__ == "__main__":
    sys.exit(main())
