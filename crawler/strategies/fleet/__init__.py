"""The crawl fleet: one coordinating process, any number of workers, on any machines, via Redis.

The coordinator (`coordinator.py`, the `broker` strategy) runs the crawl's one core, as every
strategy does, and hands its requests to a Redis stream; workers (`worker.py`, `crawler worker`)
take them through a consumer group, fetch and parse them, and hand back what came of them. The
crawl policy stays in one place, the core; Redis holds only requests in flight, with leases.
"""
