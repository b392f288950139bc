"""The SLO HTML report as a person sees it: opened from disk in Debian's Chromium.

The page must show every chart (decoded from its ``data:`` URL, nothing fetched) and
read without a legend over a line. The screenshot is kept in reports/self-test/ for a
person to look at; the assertions check what a broken page would lose: the chart
images (a broken image shows no chart colours) and the red objective lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import SELF_TEST_REPORTS, chromium, chromium_binary

from slo.charts import COLOURS, RED

pytestmark = pytest.mark.integration
NOW = 1_767_225_600.0


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _count_near(image, colour: str, tolerance: int = 24) -> int:
    target = _hex(colour)
    return sum(
        n
        for n, pixel in image.getcolors(maxcolors=1 << 24)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], target, strict=True))
    )


def test_the_html_report_shows_every_chart_in_chromium(
    cli, write_results, burning, tmp_path: Path
) -> None:
    from PIL import Image

    browser = chromium_binary()
    if browser is None:
        pytest.fail("Debian chromium is missing: scripts/bootstrap --dev installs it")
    ledger = tmp_path / "ledger.sqlite"
    results = write_results(burning(NOW - 8 * 3600))
    assert cli("ingest", results, "--ledger", ledger).code == 0
    out = tmp_path / "out"
    report = cli("report", "--ledger", ledger, "--now", NOW, "--out-dir", out, "--quiet")
    assert report.code == 0, report.err
    page = out / "slo-report.html"
    charts = sorted(out.glob("*.png"))
    dom = chromium(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    images = re.findall(r'<img alt="([^"]+)"\s+src="data:image/png;base64,', dom)
    assert len(images) == len(charts) == 8, images  # 2 overall, 3 per SLO
    SELF_TEST_REPORTS.mkdir(parents=True, exist_ok=True)
    shot = SELF_TEST_REPORTS / "slo-report-chromium.png"
    chromium(browser, tmp_path / "profile", f"--screenshot={shot}", page.as_uri(),
             size="1200,9000")  # fmt: skip
    with Image.open(shot) as picture:
        rgb = picture.convert("RGB")
    # Lines of the first two series and the objective/threshold red: each chart draws
    # them, so a page whose images did not decode has (almost) none of these pixels.
    drawn = {c: _count_near(rgb, c) for c in (COLOURS[0], COLOURS[1], RED)}
    assert all(n > 2000 for n in drawn.values()), drawn
