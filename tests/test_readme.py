"""The README's claims that code can check: its profile example loads, and the reference
server's default limit it quotes is the reference server's default."""

from __future__ import annotations

import re

import yaml
from support import ROOT

from probes import profile
from refserver.config import Settings

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _profile_example() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    examples = [b for b in blocks if b.startswith("name: staging")]
    assert len(examples) == 1, "the README's profile example (name: staging) is gone"
    return examples[0]


def test_the_profile_example_loads_and_states_every_section() -> None:
    example = profile.from_str(_profile_example(), origin="README.md")
    data = yaml.safe_load(_profile_example())
    assert set(data) >= {"rate_limit", "auth", "sla", "scenes", "endpoints"}
    assert example.rate_limit.rate_per_second == 10 and example.rate_limit.burst == 20


def test_the_quoted_reference_server_default_limit_is_its_default() -> None:
    quoted = re.search(r"enforces \*\*(\d+)/s, burst (\d+)\*\*", README)
    assert quoted is not None, "the README no longer says what limit a hand-started server has"
    defaults = Settings()
    assert (float(quoted[1]), int(quoted[2])) == (defaults.rate_per_second, defaults.burst)
