"""Strategies: one module per concurrency model, each a small driver of the same `CrawlCore`.

This package holds only the models and this registry. Adding a strategy is adding a module with a
class that has `run(core, settings, context)`, its name in `crawler.settings.StrategyName` (where
the settings declare which names `--strategy` takes) and one line in `STRATEGIES` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from crawler.settings import CrawlSettings, StrategyName

if TYPE_CHECKING:  # only annotations: `crawler --help` need not load the core
    from crawler.core.engine import CrawlCore
    from crawler.strategies.context import RunContext


class Strategy(Protocol):
    """**Protocol**: a concurrency model that drives a crawl core to the end."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        """Perform every request the core asks for and write every record it finishes."""
        ...


# Each entry imports its module only when chosen: a sync crawl never loads aiohttp.
def _sync() -> Strategy:
    from crawler.strategies.sync import SyncStrategy

    return SyncStrategy()


def _threads() -> Strategy:
    from crawler.strategies.threads import ThreadsStrategy

    return ThreadsStrategy()


def _async() -> Strategy:
    from crawler.strategies.async_ import AsyncStrategy

    return AsyncStrategy()


def _async_procs() -> Strategy:
    from crawler.strategies.async_procs import AsyncProcsStrategy

    return AsyncProcsStrategy()


def _processes() -> Strategy:
    from crawler.strategies.processes import ProcessesStrategy

    return ProcessesStrategy()


def _loop() -> Strategy:
    from crawler.strategies.loop import LoopStrategy

    return LoopStrategy()


def _broker() -> Strategy:
    from crawler.strategies.fleet.coordinator import BrokerStrategy

    return BrokerStrategy()


STRATEGIES: dict[StrategyName, Callable[[], Strategy]] = {
    StrategyName.SYNC: _sync,
    StrategyName.THREADS: _threads,
    StrategyName.ASYNC: _async,
    StrategyName.ASYNC_PROCS: _async_procs,
    StrategyName.PROCESSES: _processes,
    StrategyName.BROKER: _broker,
    StrategyName.LOOP: _loop,
}


def strategy_for(settings: CrawlSettings) -> Strategy:
    """Return the strategy a crawl's settings name."""
    return STRATEGIES[settings.strategy]()
