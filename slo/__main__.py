"""``python -m slo``: the same entry point as the ``slo`` console script."""

from slo.cli import main

raise SystemExit(main())
