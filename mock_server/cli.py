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

from crawl_basics.cli_errors import OneLineErrorCommand
from crawl_basics.errors import SetupError
from mock_server.faults import FaultKind
from mock_server.latency import LatencyDistribution
from mock_server.server import MockServerProcess, run, serve_until_stopped
from mock_server.settings import Overload, ServerSettings, load_settings

_FAULT_HELP = ", ".join(kind.value for kind in FaultKind)


@click.command(
    cls=OneLineErrorCommand,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file whose [mock_server] table sets defaults; flags override it.",
)
@click.option("--host", help="Address to bind.  [default: 127.0.0.1]")
@click.option(
    "--port",
    help="Port of the first host (later hosts take the next ports); 0 picks free ports."
    "  [default: 0]",
)
@click.option("--workers", help="Server processes sharing each port (SO_REUSEPORT).  [default: 1]")
@click.option("--seed", help="Seed of the generated site: same seed, same bytes.  [default: 0]")
@click.option("--pages", help="Number of pages.  [default: 1000]")
@click.option("--links", help="In-site links per page.  [default: 10]")
@click.option("--page-size", help="Approximate page size (e.g. 4KB).  [default: 4096]")
@click.option(
    "--hosts", help="Number of origins the site spans, each on its own port.  [default: 1]"
)
@click.option("--latency", help="Median time to first byte (e.g. 100ms).  [default: 0ms]")
@click.option(
    "--latency-dist",
    "latency_distribution",
    type=click.Choice([d.value for d in LatencyDistribution]),
    help="Shape of the latency.  [default: constant]",
)
@click.option(
    "--latency-p99",
    help="99th percentile of the latency (uniform and lognormal)."
    "  [default: 4x median for lognormal]",
)
@click.option(
    "--bandwidth",
    help="Per-response bandwidth in bytes/s (e.g. 100KB); 0 is unlimited.  [default: 0]",
)
@click.option("--capacity", help="Requests served at once; 0 is unlimited.  [default: 0]")
@click.option(
    "--overload",
    type=click.Choice([o.value for o in Overload]),
    help="Past capacity: queue the request, or reject it with 503.  [default: queue]",
)
@click.option(
    "--faults",
    help=f"Faults to inject: all, hostile, none, or a comma list of KIND or KIND=RATE (all: every"
    f" kind but the hostile ones). Kinds: {_FAULT_HELP}."
    "  [default: none]",
)
@click.option(
    "--transient-failures",
    help="Attempts a transient fault (503, 429, reset) fails before it succeeds.  [default: 1]",
)
@click.option("--retry-after", help="Retry-After of 429 answers.  [default: 1s]")
@click.option(
    "--robots-crawl-delay", help="Crawl-delay in robots.txt (robots fault).  [default: 10ms]"
)
@click.option("--oversize-bytes", help="Size of oversize pages.  [default: 4MiB]")
@click.option(
    "--hang-seconds",
    help="How long a hanging URL holds the connection before dropping it.  [default: 120s]",
)
@click.option(
    "--near-duplicates",
    help="Fraction of pages that copy another page's text with small changes.  [default: 0.05]",
)
def main(config: Path | None, **flags: Any) -> None:
    """Serve a deterministic generated website whose latency, size, capacity and faults are dials.

    The site is a pure function of its settings: the same settings give byte-identical responses.
    GET /_stats returns request counts, concurrency and statuses (per host too); DELETE /_stats
    resets them. Durations take units (100ms, 1.5s), sizes too (4KB, 1MiB).
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
