"""report.html in a real browser: headless Chromium at a phone's width renders its table and charts.

Chromium is a Debian package that `scripts/install-system-packages` installs; without it the test is
skipped and says how to get it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from crawler.compare.charts import COLOURS
from crawler.compare.html import write_html
from crawler.compare.metrics import RunResult

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,  # the report comes from a real comparison
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed: run scripts/install-system-packages (Debian package chromium)",
    ),
]
PHONE = "412,900"  # CSS pixels of a common phone


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a profile of its own, and return what it printed."""
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report.html of a small real comparison (two regimes, so two panels per chart)."""
    out = tmp_path_factory.mktemp("html")
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "compare", "--strategies", "sync,async",
         "--concurrency", "2,4", "--latency", "20ms", "--analysis-cost", "0,1", "--pages", "12",
         "--repeat", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / "report.html"


def test_report_html_is_one_file_made_for_small_screens(report: Path) -> None:
    """One file: charts inline as base64 PNG, no external resource, a viewport tag, images fit."""
    html = report.read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', html)) == 3
    # and each chart one panel to a row for a phone's width
    narrow = (
        r'<source media="\(max-width: 700px\)" srcset="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"'
    )
    assert len(re.findall(narrow, html)) == 3
    assert not re.search(r'(src|srcset|href)="(?!data:)', html), "a resource outside the file"
    assert "img { max-width: 100%" in html and 'class="scroll"' in html
    assert "<code>crawler compare --strategies sync,async" in html
    assert html.count('<li><span class="headline">') == 2 and html.count("Why: ") == 2


def test_chromium_renders_the_table_and_the_charts(report: Path, tmp_path: Path) -> None:
    """Chromium's DOM holds the table's rows and the three images; its screenshot at phone width
    is not blank and shows the strategies' colours, so the charts were drawn."""
    url = report.as_uri()
    dom = chromium(tmp_path / "dom", f"--window-size={PHONE}", "--dump-dom", url).stdout
    rows = re.findall(r"<tr>(.*?)</tr>", dom)
    assert len(rows) == 1 + 2 * 3  # header; sync (once per regime) and async at 2 and 4
    assert "<th>pages/s</th>" in rows[0] and "<td>async</td>" in dom and "<td>sync</td>" in dom
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) == 3

    top = tmp_path / "phone.png"
    chromium(tmp_path / "top", f"--window-size={PHONE}", f"--screenshot={top}", url)
    first_screen = imread(top)
    assert first_screen.shape[1] == 412 and _colours(first_screen) > 50  # text, not a blank page

    # The whole page at phone width: the charts lie further down.
    whole = tmp_path / "whole.png"
    chromium(tmp_path / "whole", "--window-size=412,6000", f"--screenshot={whole}", url)
    pixels = imread(whole)[..., :3]
    for strategy in ("sync", "async"):
        colour = np.array(to_rgb(COLOURS[strategy]))
        near = np.all(np.abs(pixels - colour) < 0.03, axis=-1)
        assert near.sum() > 200, f"no {strategy} colour on the page: charts not rendered"


def _colours(image: np.ndarray) -> int:
    """Return how many distinct colours an image has."""
    flat = (image[..., :3].reshape(-1, 3) * 255).astype(np.uint8)
    return len(np.unique(flat, axis=0))


def test_the_widest_table_fits_a_1200px_page(report: Path, tmp_path: Path) -> None:
    """The table of a lesson's sweep, with the longest names and numbers a report shows (a
    variant's name, a scaled page count, four-figure rates and latencies), needs no sideways
    scrolling at 1200 px: Chromium measures the table against its box."""
    document = json.loads((report.parent / "results.json").read_text())
    meta = {key: value for key, value in document.items() if key not in ("runs", "verdicts")}
    widest = RunResult(**document["runs"][0]) if document["runs"] else None
    assert widest is not None
    rows = [
        replace(
            widest,
            strategy=name,
            concurrency=1000,
            latency_ms=200,
            analysis_cost=16,
            pages=10,
            scaled_from=30000,
            pages_per_s=rate,
            wall_s=1234.5,
            latency_p50_ms=1277.4,
            latency_p95_ms=12345.6,
            errors=12345,
        )
        for name in ("async+autothrottle", "async-procs+16")
        for rate in (1351.3, 1359.9, 1350.1)
    ]
    out = tmp_path / "wide"
    out.mkdir()
    write_html(out, rows, [], meta, [])
    page = out / "report.html"
    measure = (
        "<script>addEventListener('load', () => { const box = document.querySelector('.scroll');"
        " document.title = 'fits:' + (box.scrollWidth <= box.clientWidth) + ':'"
        " + box.scrollWidth + '/' + box.clientWidth; });</script>"
    )
    page.write_text(page.read_text().replace("</body>", measure + "</body>"))
    dom = chromium(tmp_path / "wide-dom", "--window-size=1200,900", "--dump-dom", page.as_uri())
    [title] = re.findall(r"<title>(.*?)</title>", dom.stdout)
    assert title.startswith("fits:true"), title
