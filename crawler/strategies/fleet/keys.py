"""The crawl's keys in Redis, and the scripts that make a worker's moves atomic.

Every key of a crawl starts `crawler:{ID}:` (the braces are a Redis Cluster hash tag: a crawl's
keys share one slot, so its scripts may touch several), so crawls can share a Redis.

- `crawler:crawls`: a set, the ids of the crawls workers may join.
- `crawler:{ID}:coordinator`: the running coordinator's token, with a short expiry it renews;
  absent while no coordinator runs (a crawl between a crash and its resume).
- `crawler:{ID}:options`: what a worker is told of the crawl (JSON), with the coordinator's token.
- `crawler:{ID}:jobs`: a stream of requests; consumer group `workers`. A worker's pending entries
  are its leases: renewed while it works, claimed by another worker once idle past `--lease`.
- `crawler:{ID}:results`: a stream of outcomes (and "sent" notices), read by the coordinator.
"""

from __future__ import annotations

from dataclasses import dataclass

REGISTRY = "crawler:crawls"
GROUP = "workers"


@dataclass(frozen=True, slots=True)
class CrawlKeys:
    """The names of one crawl's keys."""

    crawl_id: str

    def _key(self, name: str) -> str:
        return f"crawler:{{{self.crawl_id}}}:{name}"

    @property
    def coordinator(self) -> str:
        return self._key("coordinator")

    @property
    def options(self) -> str:
        return self._key("options")

    @property
    def jobs(self) -> str:
        return self._key("jobs")

    @property
    def results(self) -> str:
        return self._key("results")


# A worker's result is taken only while the worker still holds the request's lease: the entry is
# pending, and pending with it. A worker that was frozen past its lease (another worker claimed
# the entry, or finished it) or that served a coordinator since restarted (the stream is new) is
# refused, atomically with the acknowledgement, so no late result is ever seen.
# KEYS: jobs, results. ARGV: group, entry id, consumer, job key, outcome.
COMPLETE = """
local held = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if type(held) ~= 'table' or held.err or #held == 0 or held[1][2] ~= ARGV[3] then
    return 0
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'k', ARGV[4], 'o', ARGV[5])
return 1
"""

# Renew the leases a worker still holds (XCLAIM by their holder, JUSTID: idle time reset, the
# delivery count left alone) and name those it no longer holds, which it stops working on.
# KEYS: jobs. ARGV: group, consumer, entry ids...
RENEW = """
local lost = {}
for i = 3, #ARGV do
    local held = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
    if type(held) ~= 'table' or held.err or #held == 0 or held[1][2] ~= ARGV[2] then
        table.insert(lost, ARGV[i])
    else
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    end
end
return lost
"""

# Take over requests whose lease ran out, with how often each was handed out, so a request
# that keeps killing its workers is given up instead of killing them all.
# KEYS: jobs. ARGV: group, consumer, idle milliseconds, count.
CLAIM = """
local claimed = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0',
    'COUNT', ARGV[4])
if type(claimed) ~= 'table' or claimed.err then
    return {}
end
local taken = {}
for _, entry in ipairs(claimed[2]) do
    local held = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
    table.insert(taken, {entry[1], entry[2], held[1][4]})
end
return taken
"""

# Keep the coordinator's key while it is this coordinator's. KEYS: coordinator. ARGV: token, ms.
HEARTBEAT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

__all__ = ["CLAIM", "COMPLETE", "GROUP", "HEARTBEAT", "REGISTRY", "RENEW", "CrawlKeys"]
