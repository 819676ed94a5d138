"""Allow `python -m mock_server`."""

from mock_server.cli import main

main(prog_name="mock-server")
