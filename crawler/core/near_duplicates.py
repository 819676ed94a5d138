"""Group pages whose fingerprints differ in at most 3 bits, as the crawl goes.

Comparing every pair is quadratic; instead each 64-bit fingerprint is cut into four 16-bit bands,
and two fingerprints within 3 bits of each other must agree on at least one band (pigeonhole). So a
new page is compared only with the pages sharing one of its bands, and groups grow by union-find.
"""

from __future__ import annotations

from array import array
from typing import Any

THRESHOLD_BITS = 3
BANDS = 4
BAND_BITS = 64 // BANDS
MIN_WORDS = 20  # shorter texts give fingerprints that say little


class NearDuplicates:
    """An incremental index of page fingerprints and the near-duplicate groups among them.

    It holds every page of a crawl, so it is packed: fingerprints and band buckets in typed
    arrays, URLs as UTF-8 in one bytearray. About 40 bytes plus the URL's length per page, where
    lists of Python objects would take three times that.
    """

    def __init__(self) -> None:
        self._fingerprints = array("Q")
        self._url_bytes = bytearray()
        self._url_ends = array("Q")
        self._bands: list[dict[int, array[int]]] = [{} for _ in range(BANDS)]
        self._parent: dict[int, int] = {}

    def _url(self, index: int) -> str:
        start = self._url_ends[index - 1] if index else 0
        return self._url_bytes[start : self._url_ends[index]].decode()

    def add(self, url: str, fingerprint: int | None, words: int) -> None:
        """Index one page's fingerprint and join it to any group it is near."""
        if fingerprint is None or words < MIN_WORDS:
            return
        index = len(self._fingerprints)
        self._fingerprints.append(fingerprint)
        self._url_bytes += url.encode()
        self._url_ends.append(len(self._url_bytes))
        for band, buckets in enumerate(self._bands):
            key = fingerprint >> (band * BAND_BITS) & 0xFFFF
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = array("L")
            for other in bucket:
                if (fingerprint ^ self._fingerprints[other]).bit_count() <= THRESHOLD_BITS:
                    self._union(index, other)
            bucket.append(index)

    def _find(self, index: int) -> int:
        root = index
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        while index != root:  # path compression
            self._parent[index], index = root, self._parent.get(index, index)
        return root

    def _union(self, first: int, second: int) -> None:
        root_first, root_second = self._find(first), self._find(second)
        if root_first != root_second:
            self._parent[max(root_first, root_second)] = min(root_first, root_second)

    def groups(self) -> list[list[str]]:
        """Return every group of two or more near-duplicate pages, largest first."""
        members: dict[int, list[str]] = {}
        for index in self._parent:
            members.setdefault(self._find(index), []).append(self._url(index))
        for root, urls in members.items():
            if self._url(root) not in urls:
                urls.append(self._url(root))
        return sorted(
            (sorted(urls) for urls in members.values()), key=lambda urls: (-len(urls), urls[0])
        )

    def summary(self, examples: int = 5) -> dict[str, Any]:
        """Return the counts and a few example groups, for the crawl summary."""
        groups = self.groups()
        return {
            "threshold_bits": THRESHOLD_BITS,
            "groups": len(groups),
            "pages": sum(len(group) for group in groups),
            "examples": groups[:examples],
        }
