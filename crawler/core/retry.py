"""When to try a URL again: exponential backoff with jitter, honouring Retry-After."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class RetryPolicy:
    """Backoff before attempt n+1: base x 2^(n-1), capped, with full jitter in [50%, 100%]."""

    retries: int
    base: float = 0.25
    cap: float = 30.0
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def may_retry(self, attempts_so_far: int) -> bool:
        """Say whether a request that failed `attempts_so_far` times gets another try."""
        return attempts_so_far <= self.retries

    def backoff(self, attempts_so_far: int, retry_after: float | None = None) -> float:
        """Return the seconds to wait before the next attempt (at least what Retry-After asked)."""
        exponential = min(self.cap, self.base * 2.0 ** (attempts_so_far - 1))
        wait = exponential * (0.5 + 0.5 * self.rng.random())
        asked = retry_after
        if asked is not None:
            # The server said when; waiting longer than our ceiling is not worth it.
            wait = max(wait, min(asked, self.max_retry_after))
        return wait


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Return the seconds a Retry-After header asks for (delta-seconds, or an HTTP date
    compared with `now_epoch`, the caller's wall clock: the core keeps none)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_epoch)
