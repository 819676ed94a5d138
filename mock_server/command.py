"""`mock-server`: serve the generated site from the command line.

Every setting is a flag and a key of the `[mock_server]` table of a `--config` TOML file; flags
win. The first lines on stdout are the origins served, one per host, so a parent process can start
`mock-server --port 0` and read where it lives; everything for humans goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from command_kit.cli_errors import OneLineErrorCommand
from command_kit.declared import options_from
from command_kit.errors import SetupError
from mock_server.server import MockServerProcess, run, serve_until_stopped
from mock_server.server_settings import ServerSettings, SiteSettings, load_settings


@click.command(
    cls=OneLineErrorCommand,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file whose [mock_server] table sets defaults; flags override it.",
)
@options_from(SiteSettings, ServerSettings)
@click.version_option(package_name="crawler-lab", prog_name="mock-server")
def main(config: Path | None, **flags: Any) -> None:
    """Serve a deterministic generated website whose latency, size, capacity and faults are dials.

    The site is a pure function of its settings: the same settings give byte-identical responses.
    GET /_stats returns request counts, concurrency and statuses (per host too); DELETE /_stats
    resets them. Durations need a unit (100ms, 1.5s), sizes may have one (4KB, 1MiB).
    """
    overrides = {name: value for name, value in flags.items() if value is not None}
    try:
        settings = load_settings(config, overrides)
        if settings.workers > 1:
            _serve_with_workers(settings)
        else:
            run(serve_until_stopped(settings, lambda origins: _announce(settings, origins)))
    except SetupError as error:
        raise click.UsageError(str(error)) from None


def _announce(settings: ServerSettings, origins: list[str]) -> None:
    for origin in origins:
        click.echo(f"{origin}/")
    sys.stdout.flush()
    site = settings.site
    enabled = sorted(kind.value for kind, rate in site.faults.items() if rate > 0)
    click.echo(
        f"mock-server: {site.pages} pages, {site.links} links/page, seed {site.seed}, "
        f"{settings.workers} worker(s), faults: {', '.join(enabled) or 'none'}. "
        f"Stats at {origins[0]}/_stats. Ctrl-C stops.",
        err=True,
    )


def _serve_with_workers(settings: ServerSettings) -> None:
    import signal
    import threading

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with MockServerProcess(settings) as server:
        _announce(settings, server.origins)
        stopped.wait()
