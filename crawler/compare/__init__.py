"""`crawler compare`: run a grid of crawls, measure each end to end, and say who wins and why.

`plan.py` turns a scenario (or a grid given on the command line) into runs, `measure.py` measures
one run in a subprocess, `metrics.py` turns it into a result row, `verdict.py` reads the numbers,
`drive.py` drives the whole and keeps each result as it comes, and `report.py`, `charts.py` and
`html.py` write them down (JSON, CSV, Markdown, PNG charts, one-file HTML, a terminal table).
"""
