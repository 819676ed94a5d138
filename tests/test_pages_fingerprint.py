"""Near-duplicate fingerprints: the numpy SimHash every crawl computes is the plain-Python one."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.pages.fingerprint import fingerprint, simhash, words_of

texts = st.lists(
    st.sampled_from(["the", "crawler", "Été", "東京", "naïve", "x_1", "42", "—", "a-b", "\u00a0"]),
    max_size=700,  # past 127 and 255 shingles, where the vote's counters change shape
).map(" ".join) | st.text(max_size=200)


@settings(max_examples=300)
@given(texts)
def test_the_vectorised_fingerprint_is_the_plain_python_simhash(text: str) -> None:
    """Same words, same shingles, same hashes, same vote: bit for bit equal, and the word counts
    agree, for any text (empty, one or two words, any script, lone surrogates aside)."""
    value, words = fingerprint(text)
    assert words == len(words_of(text))
    assert value == simhash(words_of(text), 1)
    assert (value is None) == (words == 0)


def test_vote_counts_are_exact_at_every_block_boundary() -> None:
    """The vote counts in bytes, 255 shingles to a block: around 127, 255 and 510 shingles (and
    with every shingle setting the same bits, the worst case for a counter) it is still exact."""
    rng = random.Random(11)
    for words in [*range(1, 8), *range(124, 132), *range(252, 262), *range(506, 516)]:
        varied = " ".join(rng.choice(["ab", "東京", "abcdefghijk", "x"]) for _ in range(words))
        same = " ".join(["same"] * words)
        for text in (varied, same):
            assert fingerprint(text) == (simhash(words_of(text), 1), words)


def _hamming(first: int | None, second: int | None) -> int:
    assert first is not None and second is not None
    return (first ^ second).bit_count()


def test_near_duplicates_are_near_and_different_texts_far() -> None:
    """One word changed in 300 moves a few of 64 bits; unrelated texts differ in about half."""
    rng = random.Random(7)
    vocabulary = [f"word{index}" for index in range(2000)]
    original = [rng.choice(vocabulary) for _ in range(300)]
    edited = list(original)
    edited[150] = "changed"
    other = [rng.choice(vocabulary) for _ in range(300)]
    assert _hamming(fingerprint(" ".join(original))[0], fingerprint(" ".join(edited))[0]) <= 8
    assert _hamming(fingerprint(" ".join(original))[0], fingerprint(" ".join(other))[0]) >= 16
    # Case and the spacing between words do not matter; the words and their order do.
    assert fingerprint(" ".join(original)) == fingerprint("  ".join(original).upper())


def test_the_analysis_cost_dial_adds_shingle_sizes() -> None:
    """Cost N votes over shingles of 3 .. N+2 words: more work, a different (still stable) value."""
    words = words_of("one two three four five six seven eight nine ten " * 5)
    assert simhash(words, 0) is None
    assert simhash(words, 3) == 0xF417918938CD26ED
    assert simhash(words, 3) != simhash(words, 1)


# A text of several scripts, and the values every process must compute for it: the fingerprint
# (value, words), and the SimHash at analysis cost 3.
STABLE_TEXT = "Été à 東京: the crawler reads one page, then the next page, then naïve x_1 42 " * 3
STABLE_VALUES = [0x44A5A58F16BCA281, 48, 0x40856D4F17FDDC01]
FINGERPRINT_IN_A_CHILD = f"""
import json
from crawler.pages.fingerprint import fingerprint, simhash, words_of
value, words = fingerprint({STABLE_TEXT!r})
print(json.dumps([[value, words, simhash(words_of({STABLE_TEXT!r}), 3)], hash(b"crawler")]))
"""


def test_fingerprints_are_the_same_in_every_process() -> None:
    """Python salts str and bytes hashes per process; the fingerprints do not depend on it: under
    different PYTHONHASHSEEDs (which do change `hash` in those processes) they are the same, and
    the values pinned here."""
    fingerprints, salted_hashes = [], set()
    for seed in ("0", "1", "4242"):
        child = subprocess.run(
            [sys.executable, "-c", FINGERPRINT_IN_A_CHILD],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        values, salted = json.loads(child.stdout)
        fingerprints.append(values)
        salted_hashes.add(salted)
    assert len(salted_hashes) == 3  # the seeds took effect: a salted hash would differ
    assert fingerprints == [STABLE_VALUES] * 3
    assert [*fingerprint(STABLE_TEXT), simhash(words_of(STABLE_TEXT), 3)] == STABLE_VALUES
