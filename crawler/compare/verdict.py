"""Read a comparison's numbers: for each regime, who wins, by how much, and what binds it.

Pure functions over result rows, so they are tested on made-up numbers. The binding limit is read
from how much CPU the winner used: all the cores (CPU-bound, spread over processes), one core
(CPU-bound on one: the GIL or one event loop), or little (waiting on I/O).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crawler.compare.metrics import RunResult

BUSY = 0.8  # a share of a core (or of all cores) above which CPU is what binds


@dataclass(frozen=True, slots=True)
class Verdict:
    """The finding for one (latency, analysis cost) regime."""

    latency_ms: float
    analysis_cost: int
    winner: str
    pages_per_s: float
    runner_up: str | None
    ratio: float | None
    binding: str
    evidence: str
    threads_vs_sync: float | None = None  # the GIL's signature: near 1 when computing dominates

    def sentence(self) -> str:
        """Return the verdict as one sentence for the report."""
        regime = f"latency {self.latency_ms:g} ms, analysis cost {self.analysis_cost}"
        lead = f"{regime}: `{self.winner}` wins at {self.pages_per_s:,.0f} pages/s"
        if self.runner_up is not None and self.ratio is not None:
            lead += f", {self.ratio:.2f}x `{self.runner_up}`"
        sentence = f"{lead}; bound by {self.binding} ({self.evidence})."
        if self.threads_vs_sync is not None:
            sentence += f" `threads` ran at {self.threads_vs_sync:.2f}x `sync`."
        return sentence


def medians(results: Iterable[RunResult]) -> list[RunResult]:
    """Collapse repeats into their median row (by pages/s); failed repeats are left out."""
    groups: dict[tuple[str, int, float, int], list[RunResult]] = {}
    for row in results:
        if row.failed is None and row.pages_per_s is not None:
            groups.setdefault(
                (row.strategy, row.concurrency, row.latency_ms, row.analysis_cost), []
            ).append(row)
    chosen = []
    for rows in groups.values():
        rows.sort(key=lambda row: row.pages_per_s or 0.0)
        chosen.append(rows[(len(rows) - 1) // 2])
    return chosen


def binding_limit(row: RunResult, cores: int) -> tuple[str, str]:
    """Say what limited a run, and the evidence for it."""
    used = row.cores_used or 0.0
    rate = row.pages_per_s or 0.0
    if cores > 1 and used >= BUSY * cores:
        return "all cores", f"{row.strategy} used {used:.2f} of {cores} cores"
    if used >= BUSY:
        if row.latency_ms > 0 and rate > 0:
            allowed = row.concurrency / (row.latency_ms / 1000) / rate
            return (
                "one core",
                f"{row.strategy} used {used:.2f} cores while latency allowed {allowed:.1f}x more",
            )
        return "one core", f"{row.strategy} used {used:.2f} cores of {cores}"
    efficiency = row.efficiency or 0.0
    limit = f"{row.concurrency} in flight at {row.latency_ms:g} ms"
    return (
        "I/O wait",
        f"{row.strategy} used {used:.2f} cores; efficiency {efficiency:.2f} of what {limit} allow",
    )


def verdicts(results: Iterable[RunResult], cores: int) -> list[Verdict]:
    """Return one verdict per (latency, analysis cost) regime, from each strategy's best run."""
    by_regime: dict[tuple[float, int], dict[str, RunResult]] = {}
    for row in medians(results):
        best = by_regime.setdefault((row.latency_ms, row.analysis_cost), {})
        if row.strategy not in best or (row.pages_per_s or 0) > (
            best[row.strategy].pages_per_s or 0
        ):
            best[row.strategy] = row
    found = []
    for (latency, cost), best in sorted(by_regime.items()):
        ranked = sorted(best.values(), key=lambda row: row.pages_per_s or 0.0, reverse=True)
        winner = ranked[0]
        runner_up = ranked[1] if len(ranked) > 1 else None
        binding, evidence = binding_limit(winner, cores)
        threads, sync = best.get("threads"), best.get("sync")
        threads_vs_sync = (
            (threads.pages_per_s or 0) / sync.pages_per_s
            if threads and sync and sync.pages_per_s
            else None
        )
        found.append(
            Verdict(
                latency_ms=latency,
                analysis_cost=cost,
                winner=winner.strategy,
                pages_per_s=winner.pages_per_s or 0.0,
                runner_up=runner_up.strategy if runner_up else None,
                ratio=(winner.pages_per_s or 0) / runner_up.pages_per_s
                if runner_up and runner_up.pages_per_s
                else None,
                binding=binding,
                evidence=evidence,
                threads_vs_sync=threads_vs_sync,
            )
        )
    return found
