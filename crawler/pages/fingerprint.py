"""Near-duplicate fingerprints: SimHash over 3-word shingles, computed two ways on purpose.

Charikar's SimHash, as Google used it for web crawling: the text is cut into overlapping shingles
of three words, each shingle hashed to 64 bits, and every bit position voted on. Pages whose
fingerprints differ in few bits have mostly the same text.

- `fingerprint` is what every crawl computes: the same arithmetic as whole-array numpy
  operations, a few dozen C loops per page whatever its length, so near-duplicate detection
  costs a few percent of a page's CPU and stays on by default.
- `simhash` is the same algorithm as plain Python loops, shingle by shingle and bit by bit: the
  teaching dial `--analysis-cost N` (N rounds over shingles of 3, 4, ... N+2 words), which makes a
  page cost what Python code costs, so that the strategies can be compared on CPU-bound work. Its
  first round computes exactly `fingerprint` (a test holds them equal).

The arithmetic is modulo 2**64 throughout (numpy's unsigned integers wrap; Python's are masked):
a word's hash is its first 8 UTF-8 bytes read as a little-endian integer plus its length times an
odd constant (words that share 8 first bytes and a length collide: rare, and a near-duplicate
test shrugs it off), a shingle's is a multiply-xorshift mix of its three word hashes weighed by
powers of an odd constant. Words are runs of ASCII letters, digits and `_`, and of any non-ASCII
characters, in the lowercased text.
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
    padded = encoded + _TAIL  # so that an 8-byte read from any word's start stays inside
    # One flag byte per byte, 1 inside a word; with a 0 before the first byte (and the tail's 0s
    # after the last), every word has an edge before and after it.
    inside = np.frombuffer(b"\0" + padded.translate(_WORD_FLAGS), dtype=np.uint8)
    edges = np.flatnonzero(inside[1:] != inside[:-1])
    starts, ends = edges[0::2], edges[1::2]  # word k is encoded[starts[k] : ends[k]]
    words = len(starts)
    if words == 0:
        return None, 0
    # A word's hash: its first 8 bytes (little-endian, zero-filled past its end) plus its length
    # times an odd constant. The bytes are read in place: a uint64 view at every byte offset.
    at_every_byte = np.ndarray((len(encoded),), dtype="<u8", buffer=padded, strides=(1,))
    lengths = (ends - starts).astype(np.uint64)
    word_hashes = at_every_byte[starts] & _PREFIX_MASKS[np.minimum(lengths, 8)]
    word_hashes += lengths * _LENGTH_WEIGHT
    if words < SHINGLE_WORDS:  # a short text is one shingle, padded with zero hashes
        word_hashes = np.concatenate([word_hashes, _ZERO_HASHES[: SHINGLE_WORDS - words]])
    shingles = np.correlate(word_hashes, _SHINGLE_WEIGHTS, mode="valid")  # h0*w0 + h1*w1 + h2
    _mix(shingles)
    count = len(shingles)
    # The vote: how many shingles set each bit. Unpacked, a hash is 64 bytes of 0 or 1, which read
    # as eight uint64 words hold 8 bits' counters each; up to 255 of them add up without a carry
    # crossing into the next byte, so a matrix product sums 255 hashes at a time (zero hashes pad
    # the last block and add nothing), 8 bit positions per addition.
    if count > _BLOCK:
        shingles = np.concatenate([shingles, _ZERO_BLOCK[: -count % _BLOCK]])
    bits = np.unpackbits(shingles.view(np.uint8), bitorder="little").view("<u8")
    counters = _ONES_PER_BLOCK[: min(count, _BLOCK)] @ bits.reshape(-1, min(count, _BLOCK), 8)
    ones = counters.view(np.uint8).reshape(-1, BITS)
    if len(ones) > 1:
        ones = ones.sum(axis=0, dtype=np.int64, keepdims=True)
    majority = np.packbits(ones[0] > count // 2, bitorder="little")  # more ones than zeros
    return int.from_bytes(majority.tobytes(), "little"), words


_TAIL = bytes(8)
_PREFIX_MASKS = np.array([(1 << 8 * size) - 1 for size in range(9)], dtype=np.uint64)
_LENGTH_WEIGHT = np.uint64(_FOLD)
_SHINGLE_WEIGHTS = np.array(_WEIGHTS, dtype=np.uint64)
_ZERO_HASHES = np.zeros(SHINGLE_WORDS, dtype=np.uint64)
_BLOCK = 255  # the most 0-or-1 bytes that add up without overflowing a byte
_ZERO_BLOCK = np.zeros(_BLOCK, dtype=np.uint64)
_ONES_PER_BLOCK = np.ones(_BLOCK, dtype=np.uint64)


def _mix(values: NDArray[np.uint64]) -> None:
    """Spread every bit of each value over all 64, in place: multiply by an odd constant (each
    bit reaches those above it), then fold the high half onto the low one."""
    values *= _MIX[0]
    values ^= values >> _MIX[1]


_MIX_MULTIPLIER = 0xD6E8FEB86659FD93
_MIX = (np.uint64(_MIX_MULTIPLIER), np.uint64(32))


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
    return (int.from_bytes(word[:8], "little") + len(word) * _FOLD) & _MASK


def _mix_int(value: int) -> int:
    value = value * _MIX_MULTIPLIER & _MASK
    return value ^ (value >> 32)
