"""The probes' plugin is the `pytest11` entry point `spacetime_probes` (pyproject.toml),
so the installed package runs from any directory; nothing more is needed here."""
