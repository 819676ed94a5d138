"""Near-duplicate fingerprints: SimHash over 3-word shingles, computed two ways on purpose.

Charikar's SimHash, as Google used it for web crawling: the text is cut into overlapping shingles
of three words, each shingle hashed to 64 bits, and every bit position voted on. Pages whose
fingerprints differ in few bits have mostly the same text.

- `fingerprint` is what every crawl computes: the same arithmetic as whole-array numpy
  operations, a few dozen C loops per page whatever its length, so near-duplicate detection
  costs a few percent of a page's CPU and stays on by default.
- `simhash` is the same algorithm as plain Python loops, byte by byte and bit by bit: the
  teaching dial `--analysis-cost N` (N rounds over shingles of 3, 4, ... N+2 words), which makes a
  page cost what Python code costs, so that the strategies can be compared on CPU-bound work. Its
  first round computes exactly `fingerprint` (a test holds them equal).

The arithmetic is modulo 2**64 throughout (numpy's unsigned integers wrap; Python's are masked):
a word's hash is the polynomial sum of byte * BASE**i over its UTF-8 bytes, a shingle's is an
multiply-xorshift mix of its three word hashes weighed by powers of an odd constant. Words are runs
of ASCII letters, digits and `_`, and of any non-ASCII characters, in the lowercased text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

BITS = 64
SHINGLE_WORDS = 3
_MASK = (1 << 64) - 1
_BASE = 0x100000001B3  # the FNV-1 64-bit prime: odd, so invertible modulo 2**64
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)
# A shingle's words are folded as h = h * _FOLD + word, so three words weigh _FOLD**2, _FOLD, 1.
_FOLD = 0x9E3779B97F4A7C15
_WEIGHTS = (_FOLD * _FOLD & _MASK, _FOLD, 1)

# Which bytes are inside words: [0-9A-Za-z_] and every byte of a multi-byte UTF-8 character.
_WORD_BYTES = b"0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + bytes(
    range(0x80, 256)
)
_WORD_FLAGS = bytes(1 if byte in _WORD_BYTES else 0 for byte in range(256))


def utf8_of(text: str) -> bytes:
    """Return the bytes both implementations read: the lowercased text as UTF-8."""
    return text.lower().encode("utf-8", "surrogatepass")


def fingerprint(text: str) -> tuple[int | None, int]:
    """Return the 64-bit SimHash of `text`'s 3-word shingles (None without words), and its words."""
    encoded = utf8_of(text)
    # One flag byte per byte, 1 inside a word; padded with a 0 at each end, every word has an edge
    # before and after it.
    inside = np.frombuffer(b"\0" + encoded.translate(_WORD_FLAGS) + b"\0", dtype=np.uint8)
    edges = np.flatnonzero(inside[1:] != inside[:-1])
    starts, ends = edges[0::2], edges[1::2]  # word k is encoded[starts[k] : ends[k]]
    words = len(starts)
    if words == 0:
        return None, 0
    powers, inverse_powers = _powers(len(encoded) + 1)
    # prefix[i]: the polynomial sum of the first i bytes; a word's hash is its slice of the sum,
    # shifted back to start at power 0. (No byte inside a word is 0, so no word hashes to 0.)
    prefix = np.zeros(len(encoded) + 1, dtype=np.uint64)
    np.cumsum(np.frombuffer(encoded, dtype=np.uint8) * powers[: len(encoded)], out=prefix[1:])
    word_hashes = (prefix[ends] - prefix[starts]) * inverse_powers[starts]
    if words < SHINGLE_WORDS:  # a short text is one shingle, padded with zero hashes
        word_hashes = np.concatenate([word_hashes, _ZERO_HASHES[: SHINGLE_WORDS - words]])
    shingles = np.correlate(word_hashes, _SHINGLE_WEIGHTS, mode="valid")  # h0*w0 + h1*w1 + h2
    count = len(shingles)
    # The vote: how many shingles set each bit. Unpacked, a hash is 64 bytes of 0 or 1, which read
    # as eight uint64 words hold 8 bits' counters each; 255 of them add up without a carry crossing
    # into the next byte, so one matrix product sums blocks of 255 hashes (zero hashes pad the
    # last block and add nothing), 8 bit positions per addition.
    padded = np.zeros(-count // _BLOCK * -_BLOCK, dtype="<u8")
    padded[:count] = shingles
    _mix(padded[:count])
    bits = np.unpackbits(padded.view(np.uint8), bitorder="little").view("<u8")
    counters = _ONES_PER_BLOCK @ bits.reshape(-1, _BLOCK, 8)
    ones = counters.view(np.uint8).reshape(-1, BITS).sum(axis=0, dtype=np.int64)
    majority = np.packbits(2 * ones > count, bitorder="little")
    return int.from_bytes(majority.tobytes(), "little"), words


_SHINGLE_WEIGHTS = np.array(_WEIGHTS, dtype=np.uint64)
_ZERO_HASHES = np.zeros(SHINGLE_WORDS, dtype=np.uint64)
_BLOCK = 255  # the most 0-or-1 bytes that add up without overflowing a byte
_ONES_PER_BLOCK = np.ones(_BLOCK, dtype=np.uint64)


def _mix(values: NDArray[np.uint64]) -> None:
    """Spread every bit of each value over all 64, in place: multiply by an odd constant (each
    bit reaches those above it), then fold the high half onto the low one."""
    values *= _MIX[0]
    values ^= values >> _MIX[1]


_MIX = (np.uint64(0xD6E8FEB86659FD93), np.uint64(32))


_power_tables: tuple[NDArray[np.uint64], NDArray[np.uint64]] = (
    np.ones(0, dtype=np.uint64),
    np.ones(0, dtype=np.uint64),
)


def _powers(count: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """Return BASE**i and BASE**-i for i below at least `count`, grown by doubling and kept."""
    global _power_tables
    if len(_power_tables[0]) < count:
        size = max(count, 2 * len(_power_tables[0]), 4096)
        tables = []
        for factor in (_BASE, _BASE_INVERSE):
            table = np.full(size, factor, dtype=np.uint64)
            table[0] = 1
            tables.append(np.cumprod(table, dtype=np.uint64))
        _power_tables = (tables[0], tables[1])
    return _power_tables


# The plain-Python SimHash: the `--analysis-cost` dial, one shingle and one bit at a time.

_WORD = re.compile(rb"[0-9A-Za-z_\x80-\xff]+")


def words_of(text: str) -> list[bytes]:
    """Return the words of a text as `fingerprint` reads them: runs of word bytes in its UTF-8."""
    return _WORD.findall(utf8_of(text))


def simhash(words: Sequence[bytes], cost: int) -> int | None:
    """Return the SimHash of `words` over shingles of 3 .. 2+cost words (None if cost is 0 or
    there are no words); with cost 1 it is `fingerprint`'s."""
    if cost <= 0 or not words:
        return None
    hashes = [_word_hash(word) for word in words]
    votes = [0] * BITS
    for size in range(SHINGLE_WORDS, SHINGLE_WORDS + cost):
        padded = hashes + [0] * (size - len(hashes))  # a short text is one shingle
        for start in range(len(padded) - size + 1):
            shingle = 0
            for word_hash in padded[start : start + size]:
                shingle = (shingle * _FOLD + word_hash) & _MASK
            digest = _mix_int(shingle)
            for bit in range(BITS):
                if digest >> bit & 1:
                    votes[bit] += 1
                else:
                    votes[bit] -= 1
    return sum(1 << bit for bit in range(BITS) if votes[bit] > 0)


def _word_hash(word: bytes) -> int:
    total, power = 0, 1
    for byte in word:
        total = (total + byte * power) & _MASK
        power = power * _BASE & _MASK
    return total


def _mix_int(value: int) -> int:
    value = value * 0xD6E8FEB86659FD93 & _MASK
    return value ^ (value >> 32)
