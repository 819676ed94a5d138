"""What the crawler and the mock server share, and nothing either is made of.

A leaf: it imports neither `crawler` nor `mock_server`, so both can use it without one loading the
other. `errors` (one-line errors naming a setting), `units` (durations, sizes, numbers), `config`
(a TOML file's table), `cli_errors` (click commands that fail in one line) and `limits` (the
process's open-file limit). Import the module you need: this package loads nothing by itself.
"""
