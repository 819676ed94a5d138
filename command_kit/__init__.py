"""The kit every command of this project is built from: settings declared once, and what reads
and checks them.

`declared` (a setting's kind, default, help and validators on one dataclass field, turned into
click options and config keys), `validators`, `units` (durations, sizes, numbers), `config` (a
TOML file's table), `errors` (one-line errors naming a setting), `cli_errors` (click commands that
fail in one line) and `open_file_limit` (the process's open-file limit).

A leaf: it imports neither `crawler` nor `mock_server`, so both commands use it without one
loading the other. Import the module you need: this package loads nothing by itself.
"""
