"""The bundled mock site, served from a thread of this process while `crawler crawl` runs on it.

A thread with its own event loop serves the site, so every strategy — the blocking ones too — can
crawl it without stalling the loop that serves it.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from command_kit.config import read_config_table
from mock_server import MockServer, ServerSettings, load_settings
from mock_server.server import run

SCENARIOS_IN_PACKAGE = Path(__file__).parents[1] / "scenarios"
SCENARIOS_IN_SOURCE = Path(__file__).parents[2] / "config"


def find_config(name: str) -> Path:
    """Return the path of a scenario file: a path as given, or a name in `config/`."""
    given = Path(name)
    if given.suffix == ".toml" and given.exists():
        return given
    for folder in (SCENARIOS_IN_SOURCE, SCENARIOS_IN_PACKAGE):
        candidate = folder / f"{given.stem}.toml"
        if candidate.exists():
            return candidate
    return given


def default_site() -> ServerSettings:
    """Return the settings of the site a crawl with no seeds serves: config/default.toml."""
    return load_settings(find_config("default"))


def site_for(config: Path | None) -> ServerSettings:
    """Return the settings of the site to serve: the `[mock_server]` table of `config` if it has
    one, else the default site."""
    if config is not None and read_config_table(config, "mock_server"):
        return load_settings(config)
    return default_site()


class EmbeddedSite:
    """The mock site in a background thread: `with EmbeddedSite(settings) as site: ...`."""

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or default_site()
        self.origins: list[str] = []
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="embedded-site", daemon=True)

    @property
    def base_url(self) -> str:
        """Return the home page of the first host."""
        return self.origins[0] + "/"

    @property
    def port(self) -> int:
        """Return the port of the first host (the others follow it when a port was asked for)."""
        return int(self.origins[0].rsplit(":", 1)[1])

    def _serve(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                async with MockServer(self.settings) as server:
                    self.origins = server.origins
                    self._ready.set()
                    await self._stop.wait()
            except BaseException as error:
                self._error = error
                self._ready.set()

        run(main())

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
