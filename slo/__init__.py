"""Error-budget burn reports and the pre-deploy gate, computed from probe and load results.

The package is split into a pure core (``model``, ``budget``, ``policy``, ``evaluate``,
``capacity``, ``rules``, ``render``, ``exposition``, ``records``, ``seqset``, ``durations``)
and a thin I/O shell (``spec`` loading, ``store`` for the SQLite ledger, ``sources`` for
results files, Prometheus and the Pushgateway, ``files`` and ``cli``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
