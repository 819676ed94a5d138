"""`crawler`: crawl a site (the bundled mock site by default), or compare strategies.

Every `crawl` option is also a key of the `[crawl]` table of a `--config` TOML file; flags win.
Bad input is one line on stderr and exit status 2; a crawl stopped by Ctrl-C exits 130 (143 for
SIGTERM) after writing its records and summary.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from command_kit.cli_errors import OneLineErrorGroup
from command_kit.declared import options_from
from command_kit.errors import SetupError
from crawler.settings import (
    CrawlSettings,
    EventLoop,
    crawl_settings_source,
    load_crawl_settings,
)
from crawler.stopping.signals import StopSignalsNoted, stopped_at_once


@click.group(
    cls=OneLineErrorGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="crawler-lab", prog_name="crawler")
def main() -> None:
    """A reference web crawler: sync, threads, async and processes, measured end to end."""


@main.command()
@click.argument("urls", nargs=-1, metavar="[URL]...")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file: [crawl] sets these options, [mock_server] the embedded site.",
)
@options_from(CrawlSettings)
def crawl(urls: tuple[str, ...], config: Path | None, **flags: Any) -> None:
    """Crawl from each URL, or with none, the bundled mock site (config/default.toml) served
    in-process.

    Writes one JSON record per URL attempted and prints a summary. Durations need a unit
    (500ms, 10s), sizes may have one (512KB, 2MiB). Ctrl-C once finishes the requests in flight
    (--grace); twice stops at once. Every record written is whole either way.
    """
    overrides = {name: value for name, value in flags.items() if value not in (None, ())}
    if urls:
        overrides["seeds"] = list(urls)
    try:
        settings = load_crawl_settings(config, overrides)
        # Where each setting came from, read with the settings (not after the crawl, when the
        # config file may have changed): an error found later names a setting as it was written.
        source = crawl_settings_source(config, overrides)
        # Imported now, not above, so `--help` is quick; a Ctrl-C meanwhile ends it quietly.
        with StopSignalsNoted():
            from crawler.run.crawl import run_crawl

            site = None
            if not settings.seeds:
                # Only a crawl of the embedded site loads the mock server (aiohttp's server side).
                from crawler.run.embedded import site_for

                site = site_for(config)
        try:
            outcome = run_crawl(settings, site)
        except SetupError as error:  # a file, or a resume: named as the user wrote its setting
            raise source.renamed_if_declared(error) from None
    except SetupError as error:
        raise click.UsageError(str(error)) from None
    if outcome.problem:
        click.echo(f"crawler: error: {outcome.problem}", err=True)
    sys.exit(outcome.exit_code)


@main.command()
@click.argument("broker", metavar="[URL]", required=False)
@click.option(
    "--processes",
    default=0,
    show_default=True,
    type=click.IntRange(0, 256),
    help="Workers on this machine, each a process with its own event loop; 0 is one per core.",
)
@click.option(
    "--wait",
    default="10m",
    show_default=True,
    help="How long to wait for a crawl to serve (none yet, or one whose coordinator crashed"
    " and may be resumed) before leaving.",
)
@click.option(
    "--loop",
    type=click.Choice([loop.value for loop in EventLoop]),
    default=EventLoop.UVLOOP.value,
    show_default=True,
    help="Event loop of each worker.",
)
def worker(broker: str, processes: int, wait: str, loop: str) -> None:
    """Serve the crawls that go through the Redis at URL (redis://[:PASSWORD@]HOST:PORT/DB;
    without URL, $CRAWLER_BROKER, which keeps a password out of the process list).

    A worker fetches and parses what a crawl started with `crawler crawl --broker URL` hands
    out, on this machine; it may be started before the crawl, and leaves once every crawl it
    served has ended. Killed or frozen, it loses nothing: its requests go to other workers once
    their lease (the crawl's --lease) runs out. Ctrl-C lets the requests in hand finish.
    """
    from command_kit.units import parse_duration
    from crawler.settings import BROKER_ENVIRONMENT, broker_problem

    broker = broker or os.environ.get(BROKER_ENVIRONMENT, "")
    if not broker:
        raise click.UsageError(f"URL: give the broker's URL, or set ${BROKER_ENVIRONMENT}")
    problem = broker_problem(broker)
    if problem is not None:
        raise click.UsageError(f"URL: {problem}")
    try:
        seconds = parse_duration(wait)
    except ValueError as error:
        raise click.UsageError(f"--wait: {error}") from None
    with StopSignalsNoted():
        from crawler.strategies.fleet.machine import run_workers
    sys.exit(run_workers(broker, processes, EventLoop(loop), seconds))


@main.command()
@click.argument("state", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="JSON Lines file to write ('-' for stdout).",
)
def export(state: Path, output: str) -> None:
    """Write every record kept in a crawl's STATE file, one JSON line each, in crawl order.

    The state file has each finished URL's record exactly once, whatever crashes and resumes the
    crawl went through; this rebuilds the output from it.
    """
    from crawler.output.aborts import OutputClosed
    from crawler.output.jsonl import EXIT_OUTPUT_CLOSED, silence_stdout
    from crawler.state.export import export_records

    try:
        with stopped_at_once():  # nothing to finish cleanly: Ctrl-C ends an export at once
            count = export_records(state, output)
    except SetupError as error:
        raise click.UsageError(str(error)) from None
    except OutputClosed:
        silence_stdout()  # the reader went away (`| head`): stop quietly, as `cat` would
        sys.exit(EXIT_OUTPUT_CLOSED)
    if output != "-":
        click.echo(f"{count} records written to {output}", err=True)


@main.command()
@click.option(
    "--scenario",
    help="A scenario in config/: quick, io-bound, cpu-bound, mixed, memory.  [default: quick;"
    " with --strategies, --concurrency, --latency or --analysis-cost and no scenario: a custom"
    " grid of just those]",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A scenario file of your own ([compare] and [mock_server] tables).",
)
@click.option("--strategies", help="Comma list of strategies to run.")
@click.option("--concurrency", help="Comma list of concurrency limits, e.g. 1,10,100.")
@click.option("--latency", help="Comma list of latencies, e.g. 0ms,50ms,200ms.")
@click.option("--analysis-cost", help="Comma list of analysis costs, e.g. 0,4.")
@click.option("--pages", help="Pages per run.")
@click.option(
    "--repeat",
    help="Runs of each configuration; a winner must be faster on every repeat."
    "  [default: 3, or the scenario's]",
)
@click.option(
    "--out",
    default="compare-out",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where results, charts and the report go.",
)
def compare(scenario: str | None, config: Path | None, out: Path, **grid: Any) -> None:
    """Measure the strategies against each other on the mock site, and say who wins and why.

    Each run is a fresh `crawler crawl` process against a mock server in its own process. Writes
    results.json and results.csv as runs finish, then PNG charts, report.md and report.html to
    --out, and prints a table. Ctrl-C keeps the finished runs and reports them.
    """
    from rich.console import Console

    from crawler.compare.drive import run_compare
    from crawler.compare.plan import load_plan

    try:
        plan = load_plan(scenario, config, grid)
        console = Console(stderr=True)
        if not console.is_terminal:
            console = Console(stderr=True, width=110)  # a log file has no width to respect
        run_compare(plan, out, console, ["crawler", "compare", *sys.argv[2:]])
    except SetupError as error:
        raise click.UsageError(str(error)) from None
