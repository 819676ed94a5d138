"""Latency distributions: the time to first byte of each response, reproducible from the seed.

Every distribution is parameterised by its median, so `--latency 100ms` means "half the responses
take longer than 100 ms" whatever the shape. A draw is a pure function of (seed, URL, attempt): the
same request always waits the same time, however many clients race.
"""

from __future__ import annotations

import enum
import hashlib
import math
from statistics import NormalDist

_Z99 = NormalDist().inv_cdf(0.99)


class LatencyDistribution(enum.StrEnum):
    """The shapes a latency can take."""

    CONSTANT = "constant"
    UNIFORM = "uniform"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"


def uniform_draw(*parts: object) -> float:
    """Return a number in [0, 1) that depends only on `parts`."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def validate_latency(
    distribution: LatencyDistribution, median: float, p99: float | None
) -> str | None:
    """Return why these parameters cannot describe a distribution, or None when they can."""
    if median < 0:
        return f"latency must not be negative (got {median * 1000:g}ms)"
    if p99 is None:
        return None
    if distribution in (LatencyDistribution.CONSTANT, LatencyDistribution.EXPONENTIAL):
        return f"latency_p99 applies to uniform and lognormal latency, not {distribution}"
    if p99 < median:
        return f"latency_p99 ({p99 * 1000:g}ms) must not be below the median ({median * 1000:g}ms)"
    if distribution is LatencyDistribution.LOGNORMAL and median == 0:
        return "a lognormal latency needs a median above 0"
    if distribution is LatencyDistribution.UNIFORM and _uniform_bounds(median, p99)[0] < 0:
        return f"latency_p99 {p99 * 1000:g}ms is too far above the median for a uniform latency"
    return None


def _uniform_bounds(median: float, p99: float) -> tuple[float, float]:
    # Solve (low + high) / 2 = median and low + 0.99 (high - low) = p99.
    half_width = (p99 - median) / 0.98
    return median - half_width, median + half_width


def latency_quantile(
    distribution: LatencyDistribution, median: float, p99: float | None, u: float
) -> float:
    """Return the latency at quantile `u` (0 <= u < 1) of the distribution."""
    if median == 0 or distribution is LatencyDistribution.CONSTANT:
        return median
    if distribution is LatencyDistribution.UNIFORM:
        low, high = _uniform_bounds(median, p99) if p99 is not None else (0.0, 2 * median)
        return low + u * (high - low)
    if distribution is LatencyDistribution.EXPONENTIAL:
        return -median / math.log(2) * math.log1p(-u)
    sigma = math.log((p99 if p99 is not None else 4 * median) / median) / _Z99
    u = min(max(u, 1e-12), 1 - 1e-12)
    return median * math.exp(sigma * NormalDist().inv_cdf(u))
