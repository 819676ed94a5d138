"""Write report.html: the whole comparison in one file that reads on a phone as well as a desktop.

One file, so it can be mailed or attached as it is: the CSS is inline and the charts are embedded
as base64 PNG. A viewport tag and a few CSS rules make a narrow screen wrap the prose, scroll the
wide table sideways, and show each chart one panel to a row, at its width.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from crawler.compare.charts import narrow_name
from crawler.compare.metrics import RunResult
from crawler.compare.report import COLUMNS, failures, median_table, method_notes, status_line
from crawler.compare.verdict import Verdict

STYLE = """
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
       max-width: 72rem; margin: 0 auto; padding: 0.75rem; }
h1 { font-size: 1.35rem; margin: 0.5rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin-top: 1.6rem; border-bottom: 1px solid #ddd; }
code { background: #f2f2f2; padding: 0 0.2em; border-radius: 3px; overflow-wrap: anywhere; }
.status { background: #fff3cd; border-left: 4px solid #c99400; padding: 0.5rem 0.75rem; }
.verdicts li { margin-bottom: 0.8rem; }
.headline { font-weight: 600; }
.why { color: #333; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3rem 0.4rem; border-bottom: 1px solid #e3e3e3; text-align: right;
         white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; background: #fff; }
thead th { background: #f6f6f6; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85rem; color: #555; }
ul { padding-left: 1.2rem; }
"""

NARROW_PX = 700  # below this width, two panels side by side are too small to read
CAPTIONS = {
    "pages_per_s.png": "Pages per second against concurrency; the dashed line is the ideal "
    "Little's law allows, concurrency / latency.",
    "best_per_strategy.png": "Each strategy's best median pages per second, with min-max bars.",
    "peak_memory.png": "Peak resident memory of the crawl's process tree.",
}


def write_html(
    out: Path,
    rows: Sequence[RunResult],
    verdicts: Sequence[Verdict],
    meta: dict[str, Any],
    charts: Sequence[str],
) -> None:
    """Write report.html beside report.md, with the charts of `charts` embedded."""
    status = status_line(meta)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Comparison: {escape(meta['title'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Comparison: {escape(meta['title'])}</h1>",
        f'<p class="status">{escape(status)}</p>' if status else "",
        f"<p>Command: <code>{escape(meta['command'])}</code></p>",
        "<h2>Verdicts</h2>",
        '<ul class="verdicts">',
        *[_verdict(verdict) for verdict in verdicts],
        "</ul>",
        "<h2>Runs (medians)</h2>",
        _table(median_table(rows)),
    ]
    failed = failures(rows)
    if failed:
        parts += [
            "<h2>Failed runs</h2>",
            "<ul>",
            *[f"<li>{escape(f)}</li>" for f in failed],
            "</ul>",
        ]
    if charts:
        parts.append("<h2>Charts</h2>")
        parts += [_figure(out / chart) for chart in charts]
    parts += ["<h2>How these were measured</h2>", "<ul>"]
    parts += [f"<li>{_inline(note)}</li>" for note in method_notes(meta)]
    parts += ["</ul>", "</body></html>", ""]
    (out / "report.html").write_text("\n".join(part for part in parts if part), encoding="utf-8")


def _verdict(verdict: Verdict) -> str:
    """Return one verdict as a list item: the regime and finding, then the numbers and why."""
    lead = f'<span class="headline">{escape(verdict.regime)}: {_inline(verdict.headline())}</span>'
    why = "" if verdict.outcome == "no verdict" else f"<br>Why: {_inline(verdict.why)}."
    return f'<li>{lead}<br><span class="why">{_inline(verdict.numbers())}.{why}</span></li>'


def _table(cells: list[list[str]]) -> str:
    """Return the median table, in a box that scrolls sideways on a narrow screen."""
    head = "".join(f"<th>{escape(column)}</th>" for column in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in cells
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _figure(path: Path) -> str:
    """Return a chart embedded as a base64 PNG, its one-column version for narrow screens (a
    phone), and its caption."""
    caption = CAPTIONS.get(path.name, path.name)
    narrow = path.with_name(narrow_name(path.name))
    source = (
        f'<source media="(max-width: {NARROW_PX}px)" srcset="{_data_url(narrow)}">'
        if narrow.exists()
        else ""
    )
    return (
        f'<figure><picture>{source}<img src="{_data_url(path)}" alt="{escape(caption)}">'
        f"</picture><figcaption>{escape(caption)}</figcaption></figure>"
    )


def _data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _inline(text: str) -> str:
    """Escape `text` and turn its `backquoted` words into code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))
