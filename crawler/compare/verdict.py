"""Read a comparison's numbers: for each regime, who wins (if anyone wins beyond noise), and why.

Pure functions over result rows, so they are tested on made-up numbers.

Who wins. Each strategy is judged by its best configuration: the concurrency whose median pages/s
is highest, among those whose every repeat finished. The fastest wins only when its slowest repeat
beats the runner-up's fastest by `MARGIN`. With 3 repeats each, two sets of runs fall entirely
apart by chance once in 20 (a one-sided Mann-Whitney test at U = 0, p = 0.05); the margin on top
keeps a second run on the same machine from reading the same noise the other way. Otherwise there
is no clear winner. A regime in which any run failed, or a planned one was not run (a comparison
stopped part-way), has no winner at all: a failed run never wins, and nothing is declared over a
configuration that did not finish, since it might have been the fastest.

Why. What binds a run is read from three shares of a limit, each from its own numbers (`shares`).
The label is the largest share if it reaches `BINDS`, else no single limit binds
(`binding_limit`), and the sentence quotes those shares, so a label cannot contradict its evidence:

- latency: pages/s against what Little's law allows, concurrency / latency;
- one core: the cores a strategy that computes in one interpreter used (the GIL, or one event loop,
  lets it use one);
- all cores: how busy all the machine's cores were meanwhile (the crawl, the mock server, and on a
  shared machine whatever else ran: a core another program holds is one the crawl could not use).

A busy machine is said first. When other programs held a quarter of the cores or more, the reason
starts with how much they held; and when the cores were busy but mostly not with the crawl and its
server (they used less than `BINDS` of them), the label is not "all cores" but "other programs":
the run cannot say what would have bound the strategy itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from crawler.compare.metrics import RunResult
from crawler.compare.plan import split_strategy

MARGIN = 0.10  # the winner's slowest repeat must beat the runner-up's fastest by this much
BINDS = 0.7  # a share of a limit below which that limit does not bind
NEAR = 0.05  # shares closer than this are a tie, settled by `_PRECEDENCE`
NO_LIMIT = "no single limit"
OTHER_PROGRAMS = "other programs"  # the cores were busy, but not with the crawl
BUSY = 0.25  # the share of all cores other programs held from which the reason says so first
# Strategies whose page analysis runs in the one interpreter of the crawl process.
ONE_INTERPRETER = {"sync", "threads", "async", "loop"}
# Of two limits (nearly) equally close, the one a strategy's own design sets is named.
_PRECEDENCE = ("one core", "I/O wait", "all cores")

Regime = tuple[float, int]  # (latency ms, analysis cost)
Config = tuple[str, int, float, int]  # (strategy, concurrency, latency ms, analysis cost)


@dataclass(frozen=True, slots=True)
class Contender:
    """A strategy's best configuration in one regime, with the pages/s of each of its repeats."""

    median: RunResult
    rates: tuple[float, ...]

    @property
    def strategy(self) -> str:
        """Return the strategy's name."""
        return self.median.strategy


@dataclass(frozen=True, slots=True)
class Verdict:
    """The finding for one (latency, analysis cost) regime."""

    latency_ms: float
    analysis_cost: int
    outcome: str  # "wins", "no clear winner" or "no verdict"
    winner: str | None = None
    leader: str | None = None  # the fastest median, winner or not
    concurrency: int | None = None
    pages_per_s: float | None = None
    runner_up: str | None = None
    ratio: float | None = None  # leader's median over the runner-up's
    slowest: float | None = None  # the leader's slowest repeat
    runner_up_fastest: float | None = None
    repeats: int | None = None
    tied: tuple[str, ...] = ()  # with no clear winner, those the leader does not clearly beat
    binding: str | None = None
    shares: dict[str, float] = field(default_factory=dict)
    why: str = ""
    missing: dict[str, str] = field(default_factory=dict)  # strategy -> "failed (...)", "not run"
    threads_vs_sync: float | None = None  # the GIL's signature: near 1 when computing dominates

    @property
    def regime(self) -> str:
        """Return the regime in words."""
        return f"latency {self.latency_ms:g} ms, analysis cost {self.analysis_cost}"

    def headline(self) -> str:
        """Return the finding without its measured numbers: what two runs must agree on."""
        if self.outcome == "no verdict":
            groups: dict[str, list[str]] = {}
            for name, why in sorted(self.missing.items()):
                groups.setdefault(why.split(" (")[0], []).append(f"`{name}`")
            return (
                "no verdict (" + "; ".join(f"{', '.join(v)} {k}" for k, v in groups.items()) + ")"
            )
        if self.outcome == "no clear winner":
            names = ", ".join(f"`{name}`" for name in self.tied[:-1]) + f" and `{self.tied[-1]}`"
            return f"no clear winner (within noise) between {names}"
        if self.binding == NO_LIMIT:
            return f"`{self.winner}` wins; neither latency nor CPU binds"
        if self.binding == OTHER_PROGRAMS:
            return f"`{self.winner}` wins, on a machine busy with other programs"
        return f"`{self.winner}` wins, bound by {self.binding}"

    def test(self) -> str:
        """Return the winner test as applied to this regime's numbers."""
        if self.slowest is None or self.runner_up_fastest is None:
            return ""
        beats = "beats" if self.outcome == "wins" else "does not beat"
        return (
            f"the slowest of {self.repeats} repeat{'s' if self.repeats != 1 else ''} of "
            f"`{self.leader}`, {self.slowest:,.0f} "
            f"pages/s, {beats} the fastest of `{self.runner_up}`, {self.runner_up_fastest:,.0f}, "
            f"by {MARGIN:.0%}"
        )

    def numbers(self) -> str:
        """Return the measured rate of the leader and the winner test, or what is missing."""
        if self.outcome == "no verdict":
            return self.why
        rate = f"`{self.leader}` at {self.pages_per_s:,.0f} pages/s"
        if self.runner_up is not None and self.ratio is not None:
            rate += f", {self.ratio:.2f}x `{self.runner_up}` ({self.test()})"
        return rate

    def sentence(self) -> str:
        """Return the verdict with its numbers and its reason, for the report."""
        lead = f"{self.regime}: {self.headline()}"
        if self.outcome == "no verdict":
            return f"{lead}: {self.why}."
        return f"{lead}; {self.numbers()}. Why: {self.why}."


def medians(results: Iterable[RunResult]) -> list[RunResult]:
    """Collapse repeats into their median row (by pages/s); failed repeats are left out."""
    return [contender.median for contender in _configurations(results, complete=False).values()]


def _config(row: RunResult) -> Config:
    return (row.strategy, row.concurrency, row.latency_ms, row.analysis_cost)


def _configurations(results: Iterable[RunResult], complete: bool) -> dict[Config, Contender]:
    """Group repeats by configuration; with `complete`, drop any that has a failed repeat."""
    groups: dict[Config, list[RunResult]] = {}
    broken: set[Config] = set()
    for row in results:
        if row.failed is None and row.pages_per_s is not None:
            groups.setdefault(_config(row), []).append(row)
        else:
            broken.add(_config(row))
    chosen = {}
    for key, rows in groups.items():
        if complete and key in broken:
            continue
        rows.sort(key=lambda row: row.pages_per_s or 0.0)
        rates = tuple(row.pages_per_s or 0.0 for row in rows)
        chosen[key] = Contender(rows[(len(rows) - 1) // 2], rates)
    return chosen


def shares(row: RunResult, cores: int) -> dict[str, float]:
    """Return how close a run came to each limit, 1.0 being the limit itself."""
    rate = row.pages_per_s or 0.0
    wall = row.wall_s or 0.0
    found = {}
    if row.latency_ms > 0:
        found["I/O wait"] = rate * (row.latency_ms / 1000) / row.concurrency
    if split_strategy(row.strategy)[0] in ONE_INTERPRETER:
        found["one core"] = row.cores_used or 0.0
    if row.machine_busy is not None:
        found["all cores"] = row.machine_busy
    elif wall > 0:
        found["all cores"] = ((row.cpu_s or 0.0) + (row.server_cpu_s or 0.0)) / (wall * cores)
    return {name: round(share, 3) for name, share in found.items()}


def binding_limit(measured: Mapping[str, float]) -> str | None:
    """Return the limit a run was closest to, or None when it came near none of them."""
    if not measured or max(measured.values()) < BINDS:
        return None
    top = max(measured.values())
    return next(name for name in _PRECEDENCE if measured.get(name, -1.0) >= top - NEAR)


def explain(row: RunResult, cores: int) -> tuple[str | None, dict[str, float], str]:
    """Return what bound a run, its shares, and one sentence saying why, from its numbers; a
    machine busy with other programs is said first."""
    binding, measured, why = _explain(row, cores)
    if row.machine_busy is None or binding == OTHER_PROGRAMS:
        return binding, measured, why
    others = _others(row, cores)
    if others >= BUSY * cores:
        why = f"other programs held {others:.2f} of the {cores} cores meanwhile; {why}"
    return binding, measured, why


def _others(row: RunResult, cores: int) -> float:
    """Return the cores other programs held during a run (what the crawl and server did not)."""
    used, server = row.cores_used or 0.0, (row.server_cpu_s or 0.0) / (row.wall_s or 1.0)
    return max((row.machine_busy or 0.0) * cores - used - server, 0.0)


def _explain(row: RunResult, cores: int) -> tuple[str | None, dict[str, float], str]:
    measured = shares(row, cores)
    binding = binding_limit(measured)
    name, used, rate = f"`{row.strategy}`", row.cores_used or 0.0, row.pages_per_s or 0.0
    cores_text = f"{used:.2f} of {cores} cores"
    allowed = row.concurrency / (row.latency_ms / 1000) if row.latency_ms > 0 else None
    observed = f"requests took {row.latency_p50_ms:g} ms at p50" if row.latency_p50_ms else ""
    headroom = (
        f", while latency allowed {allowed / rate:.1f}x its pages/s" if allowed and rate else ""
    )
    if binding == "I/O wait" and allowed is not None:
        return (
            binding,
            measured,
            (
                f"{name} at concurrency {row.concurrency} reached {measured[binding]:.0%} of the "
                f"{allowed:,.0f} pages/s Little's law allows ({row.concurrency} in flight / "
                f"{row.latency_ms:g} ms; {observed or 'no latency measured'}), using {cores_text}"
            ),
        )
    if binding == "one core":
        return (
            binding,
            measured,
            (
                f"{name} kept its one interpreter busy {min(used, 1.0):.0%} of the time "
                f"(GIL share; {cores_text}){headroom}"
            ),
        )
    if binding == "all cores":
        server = (row.server_cpu_s or 0.0) / (row.wall_s or 1.0)
        others = _others(row, cores)
        if (used + server) / cores < BINDS and others < BUSY * cores:
            # Busy, but neither the crawl nor anyone else enough to name: no single limit.
            return None, measured, (
                f"the machine's {cores} cores were {measured[binding]:.0%} busy, but {name} used"
                f" only {used:.2f} of them, the mock server {server:.2f} and other programs"
                f" {others:.2f}: neither latency nor CPU binds{headroom}"
            )  # fmt: skip
        if (used + server) / cores < BINDS:
            return OTHER_PROGRAMS, measured, (
                f"the machine's {cores} cores were {measured[binding]:.0%} busy, mostly with "
                f"other programs ({others:.2f} cores): {name} itself used {used:.2f} and the mock "
                f"server {server:.2f}, so this run cannot say what would bind {name}{headroom}"
            )  # fmt: skip
        return binding, measured, (
            f"the machine's {cores} cores were {measured[binding]:.0%} busy: {name} used "
            f"{used:.2f}, the mock server {server:.2f}, other programs {others:.2f}{headroom}"
        )  # fmt: skip
    if allowed is None:
        return (
            None,
            measured,
            f"{name} used {cores_text}: CPU does not bind, and there is no latency",
        )
    in_flight = rate * (row.latency_p50_ms or row.latency_ms) / 1000
    return (
        None,
        measured,
        (
            f"{name} reached {measured['I/O wait']:.0%} of the {allowed:,.0f} pages/s Little's law "
            f"allows and used {cores_text}: neither latency nor CPU binds ({in_flight:.0f} of "
            f"{row.concurrency} requests in flight on average, pages/s x p50 latency)"
        ),
    )


def verdicts(
    results: Iterable[RunResult], cores: int, planned: Sequence[Config] = ()
) -> list[Verdict]:
    """Return one verdict per regime; `planned` configurations with no row count as not run."""
    rows = list(results)
    missing: dict[Regime, dict[str, str]] = {}
    for row in rows:
        if row.failed is not None:
            reason = f"failed (concurrency {row.concurrency}: {row.failed})"
            missing.setdefault((row.latency_ms, row.analysis_cost), {}).setdefault(
                row.strategy, reason
            )
    ran = {_config(row) for row in rows}
    for strategy, concurrency, latency, cost in planned:
        if (strategy, concurrency, latency, cost) not in ran:
            missing.setdefault((latency, cost), {}).setdefault(strategy, "not run")
    best: dict[Regime, dict[str, Contender]] = {}
    for (strategy, _, latency, cost), contender in _configurations(rows, complete=True).items():
        regime = best.setdefault((latency, cost), {})
        if strategy not in regime or _rate(contender) > _rate(regime[strategy]):
            regime[strategy] = contender
    return [
        _judge(regime, best.get(regime, {}), missing.get(regime, {}), cores)
        for regime in sorted(set(best) | set(missing))
    ]


def _rate(contender: Contender) -> float:
    return contender.median.pages_per_s or 0.0


def _judge(
    regime: Regime, best: dict[str, Contender], missing: dict[str, str], cores: int
) -> Verdict:
    """Judge one regime from each strategy's best configuration."""
    ranked = sorted(best.values(), key=_rate, reverse=True)
    if missing or not ranked:
        reasons = [f"`{name}` {why}" for name, why in sorted(missing.items())]
        rest = [f"`{c.strategy}` ran at {_rate(c):,.0f} pages/s" for c in ranked]
        why = "; ".join(reasons) + ("; of the rest, " + ", ".join(rest) if rest else "")
        return Verdict(*regime, outcome="no verdict", missing=dict(missing), why=why)
    leader = ranked[0]
    binding, measured, why = explain(leader.median, cores)
    found = Verdict(
        *regime,
        outcome="wins",
        winner=leader.strategy,
        leader=leader.strategy,
        concurrency=leader.median.concurrency,
        pages_per_s=_rate(leader),
        repeats=len(leader.rates),
        binding=binding or NO_LIMIT,
        shares=measured,
        why=why,
        threads_vs_sync=_threads_vs_sync(best),
    )
    if len(ranked) == 1:
        return found
    runner_up = ranked[1]
    slowest = min(leader.rates)

    def _beaten(contender: Contender) -> bool:
        return slowest > max(contender.rates) * (1 + MARGIN)

    clear = _beaten(runner_up)
    return replace(
        found,
        outcome="wins" if clear else "no clear winner",
        winner=leader.strategy if clear else None,
        runner_up=runner_up.strategy,
        ratio=round(_rate(leader) / _rate(runner_up), 3) if _rate(runner_up) else None,
        slowest=slowest,
        runner_up_fastest=max(runner_up.rates),
        tied=() if clear else tuple(sorted(c.strategy for c in ranked if not _beaten(c))),
    )


def _threads_vs_sync(best: Mapping[str, Contender]) -> float | None:
    threads, sync = best.get("threads"), best.get("sync")
    if threads is None or sync is None or not _rate(sync):
        return None
    return round(_rate(threads) / _rate(sync), 3)
