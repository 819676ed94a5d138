"""Near-duplicate fingerprints: SimHash over word shingles, in plain Python on purpose.

This is the crawl's real CPU work per page, besides link extraction: the text is cut into
overlapping word shingles, each shingle hashed to 64 bits, and every bit position voted on. Pages
whose fingerprints differ in few bits have mostly the same text (Charikar's SimHash, as Google used
it for web crawling). The loops stay in Python so that the CPU cost is what Python code costs:
`cost` rounds add shingles of 3, 4, 5, ... words, scaling the work about linearly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
BITS = 64
FIRST_SHINGLE = 3


def words_of(text: str) -> list[str]:
    """Return the lowercased words of a text."""
    return _WORD.findall(text.lower())


def simhash(words: Sequence[str], cost: int) -> int | None:
    """Return the 64-bit SimHash of `words` over shingles of 3 .. 2+cost words (None if cost 0)."""
    if cost <= 0:
        return None
    votes = [0] * BITS
    for size in range(FIRST_SHINGLE, FIRST_SHINGLE + cost):
        for shingle in _shingles(words, size):
            digest = int.from_bytes(
                hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big"
            )
            for bit in range(BITS):
                if digest >> bit & 1:
                    votes[bit] += 1
                else:
                    votes[bit] -= 1
    return sum(1 << bit for bit in range(BITS) if votes[bit] > 0)


def _shingles(words: Sequence[str], size: int) -> Iterable[str]:
    if len(words) < size:
        if words:
            yield " ".join(words)
        return
    for start in range(len(words) - size + 1):
        yield " ".join(words[start : start + size])
