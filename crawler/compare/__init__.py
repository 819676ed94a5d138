"""`crawler compare`: run a grid of crawls, measure each end to end, and say who wins and why.

`plan.py` turns a scenario into runs, `runner.py` measures one run in a subprocess, `verdict.py`
reads the numbers, and `report.py` writes them down (JSON, CSV, Markdown, charts, a table).
"""
