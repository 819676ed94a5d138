"""Allow `python -m mock_server`."""

from mock_server.command import main

main(prog_name="mock-server")
