"""stderr that outlives its terminal: once a hangup has taken the terminal away, writes go nowhere.

A terminal that closes (its window shut, an ssh session dropped) sends SIGHUP, which stops the
crawl like Ctrl-C; but every later write to the terminal fails with EIO. The status line, the
stop notice and the summary are all written to stderr, so a crawl that honoured the hangup would
then die of a write on its way out, before its --stats-json was written and with exit status 1.
Writes through `SurvivingStderr` that meet a terminal gone point the descriptor at /dev/null and
carry on, so the crawl finishes as any stopped crawl does and exits 129.
"""

from __future__ import annotations

import errno
import os
from typing import Any, TextIO

# What a write fails with once its terminal has gone (EIO; ENXIO for a device that went away), or
# its reader (EPIPE).
_GONE = frozenset({errno.EIO, errno.EPIPE, errno.ENXIO})


class SurvivingStderr:
    """A text stream (stderr) whose writes never fail because its terminal has gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text`; if the terminal has gone, drop it (and all later output)."""
        try:
            return self._stream.write(text)
        except OSError as error:
            self._give_up(error)
            return len(text)

    def flush(self) -> None:
        """Flush; if the terminal has gone, drop what was waiting."""
        try:
            self._stream.flush()
        except OSError as error:
            self._give_up(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _give_up(self, error: OSError) -> None:
        if error.errno not in _GONE:
            raise error
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)


__all__ = ["SurvivingStderr"]
