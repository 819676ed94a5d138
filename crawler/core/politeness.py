"""Politeness toward one origin: how many requests it has in flight, and when it may get the next.

A `Slot` per origin, after Scrapy's downloader `Slot`: a per-origin cap on requests in flight, a
minimum gap between two requests (`--delay`, or the robots.txt Crawl-delay if larger), counted
from the moment a request actually left. The core asks a slot whether it may send now, or from
when; the slot knows nothing of URLs, depth or robots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Slot:
    """One origin's requests in flight and the spacing between them."""

    delay: float
    # The least delay, whatever an adaptive rule moves: --delay, or robots.txt's Crawl-delay.
    floor_delay: float = 0.0
    in_flight: int = 0
    # Handed out but not yet reported sent; counted only while a delay applies, since only
    # then does the next request wait for this one to leave.
    unsent: int = 0
    last_sent: float = -math.inf
    next_allowed: float = 0.0

    def __repr__(self) -> str:
        return (
            f"<Slot [{self.in_flight} in flight | {self.unsent} unsent"
            f" | delay {self.delay:g}s | next at {self.next_allowed:g}]>"
        )

    def is_full(self, per_host: int) -> bool:
        """Say whether the slot must wait for a request to finish or leave before another."""
        return self.in_flight >= per_host or self.unsent > 0

    def may_send_at(self) -> float:
        """Return when the next request may go, as far as spacing goes."""
        return self.next_allowed

    def send(self, now: float) -> bool:
        """Count a request handed out at `now`; return True if it must report when it leaves
        (a delay applies, so the next one is spaced from then)."""
        self.in_flight += 1
        self.last_sent = now
        self.next_allowed = now + self.delay
        if self.delay > 0:
            self.unsent += 1
            return True
        return False

    def left(self, now: float) -> None:
        """Note that a request handed out earlier actually left at `now`."""
        self.unsent -= 1
        self.last_sent = now
        self.next_allowed = now + self.delay

    def finished(self, never_left: bool) -> None:
        """Count a request as done (`never_left`: its strategy never reported it sent)."""
        if never_left:
            self.unsent -= 1
        self.in_flight -= 1

    def hold_off(self, until: float) -> None:
        """Send nothing more before `until`: the origin answered 429 or 503 with a Retry-After,
        which asks this client (every request of it, not the one that was refused) to wait."""
        self.next_allowed = max(self.next_allowed, until)

    def set_delay(self, delay: float) -> None:
        """Space requests by `delay` from now on, counting from the last one sent (robots.txt's
        Crawl-delay arrives after its own request, which counts)."""
        self.delay = delay
        self.next_allowed = max(self.next_allowed, self.last_sent + delay)
