"""The sans-I/O crawl core: every decision of a crawl, none of its I/O.

`CrawlCore` owns the frontier, URL rules, scope, limits, politeness, robots, retries and records.
A strategy asks it what to fetch now (`next_request`), performs the request however it likes, and
reports back (`complete`). No sockets, event loops, threads or clocks live here: time is passed in.
"""
