"""A deterministic generated website whose latency, size, capacity and faults are dials.

`Site` is the pure model (and, through `expected_crawl`, the oracle of a correct crawl);
`MockServer` serves it from the running event loop, `MockServerProcess` from its own process.
"""

from mock_server.faults import FaultKind
from mock_server.oracle import CrawlExpectation, ExpectedRecord, expected_crawl
from mock_server.server import MockServer, MockServerProcess
from mock_server.server_settings import ServerSettings, SiteSettings, load_settings
from mock_server.site import Site

__all__ = [
    "CrawlExpectation",
    "ExpectedRecord",
    "FaultKind",
    "MockServer",
    "MockServerProcess",
    "ServerSettings",
    "Site",
    "SiteSettings",
    "expected_crawl",
    "load_settings",
]
